"""KodCode self-verification: an LLM writes a solution and its tests; only an executed, passing pair is kept."""

from __future__ import annotations

from pydantic import BaseModel, Field

from curate import Document, Drop
from curate_plugins._synth import prompts
from curate_plugins._synth.extract import has_assertion, split_solution_and_tests
from curate_plugins._synth.ranking import difficulty
from curate_plugins._synth.records import RecordMetadata, child, run_summary, sft_text
from curate_plugins._synth.step import SynthParams, SynthStep
from curate_plugins.lib.sandbox import ExecJob, SandboxLimits


class AttemptLog(BaseModel):
    """One attempt of the verification log: what ran and how it ended."""

    attempt: int = Field(description="Index of the attempt.")
    status: str = Field(description="pass, fail, timeout, memory, error, unparsable or no_tests.")
    tests_passed: int | None = Field(None, description="Tests that passed (executed attempts only).")
    tests: int | None = Field(None, description="Tests run (executed attempts only).")
    message: str | None = Field(None, description="Why it did not pass, shortened.")


class Kodcode(SynthStep):
    """For each question, ``attempts`` (default 10) answers in which the LLM writes a solution and its pytest
    tests; every answer is executed in the sandbox (30 s per run, as KodCode) and the first one whose tests all
    pass is kept as the SFT triplet (question, solution, tests). Difficulty comes from the pass rate over the
    attempts: ``easy`` above 2/3, ``medium`` from 1/3 to 2/3, ``hard`` below 1/3 (KodCode, Xu et al. 2025).
    An answer without Python code is ``unparsable``; one without a test that asserts anything is ``no_tests``
    (a test that cannot fail verifies nothing); both count as failed attempts. A question with no passing attempt
    is dropped with reason ``no_passing_attempt`` and its verification log (``kodcode.log``), so the excluded
    record says what every attempt did. With ``candidates_field`` the answers come from the document (answers of
    another model or run) instead of the LLM.
    """

    namespace = "kodcode"

    class Metadata(RecordMetadata):
        """SFT records only (no pairs): the first passing solution and its tests."""

        difficulty: str = Field(description="`easy` (pass rate > 2/3), `medium` (1/3..2/3), `hard` (< 1/3), "
                                            "`unsolved` (dropped records only).")
        pass_rate: float = Field(description="Passing attempts / attempts.")
        attempts: int = Field(description="Attempts made.")
        passes: int = Field(description="Attempts whose tests all passed.")
        kept_attempt: int = Field(description="Index of the kept attempt.")
        log: list[AttemptLog] = Field(description="Per attempt: attempt, status (pass, fail, timeout, memory, "
                                                  "error, unparsable, no_tests), tests_passed, tests, message.")

    class Params(SynthParams):
        attempts: int = Field(10, ge=1, le=64, description="Answers (solution + tests) per question (KodCode: 10).")
        min_tests: int = Field(1, ge=1, description="An answer needs at least this many tests that assert "
                                                    "something, else it is `no_tests`.")
        candidates_field: str | None = Field(None, description="Metadata key holding a list of ready answers "
                                                               "(text with a solution and tests) to verify instead "
                                                               "of generating them.")
        sandbox: SandboxLimits = Field(default_factory=lambda: SandboxLimits(timeout=30.0),
                                       description="Limits of each program run (KodCode: 30 s).")

    def process(self, docs: list[Document]) -> list:
        answers = self._answers(docs)
        splits = [[split_solution_and_tests(a) for a in group] for group in answers]
        jobs, where = [], {}
        for d, (doc, group) in enumerate(zip(docs, splits)):
            for k, split in enumerate(group):
                if split.ok and self._testable(split.tests):
                    where[(d, k)] = len(jobs)
                    jobs.append(ExecJob(id=f"{doc.id}#attempt{k}", code=split.solution, tests=split.tests))
        results = self.execute(jobs)
        return [self._decide(doc, group, [results[where[(d, k)]] if (d, k) in where else None
                                          for k in range(len(group))])
                for d, (doc, group) in enumerate(zip(docs, splits))]

    def _answers(self, docs: list[Document]) -> list[list[str]]:
        questions = [self.question_of(d).strip() for d in docs]
        return self.sampled(docs, questions, self.params.candidates_field, prompts.KODCODE_VERSION,
                            self.params.attempts, lambda q: prompts.KODCODE.format(question=q), lambda text: [text])

    def _testable(self, tests: list[str]) -> bool:
        return sum(1 for t in tests if has_assertion(t)) >= self.params.min_tests

    def _decide(self, doc: Document, splits, results) -> list[Document] | Drop:
        question = self.question_of(doc).strip()
        if not question:
            return Drop("empty_question")
        log, kept = [], None
        for k, (split, result) in enumerate(zip(splits, results)):
            if not split.ok:
                entry = {"status": "unparsable", "message": split.problem}
            elif result is None:
                entry = {"status": "no_tests", "message": f"fewer than {self.params.min_tests} test(s) that assert"}
            else:
                entry = run_summary(result, len(split.tests))
                if result.passed and kept is None:
                    kept = k
            log.append({"attempt": k, **entry})
        passes = sum(1 for e in log if e["status"] == "pass")
        meta = {"kodcode.question": question, "kodcode.difficulty": difficulty(passes, len(log)),
                "kodcode.pass_rate": round(passes / len(log), 4) if log else 0.0, "kodcode.attempts": len(log),
                "kodcode.passes": passes, "kodcode.log": log, "kodcode.model": self.model_name()}
        if kept is None:
            doc.metadata.update(meta)
            return Drop("no_passing_attempt")
        split = splits[kept]
        meta.update({"kodcode.record": "sft", "kodcode.solution": split.solution, "kodcode.tests": split.tests,
                     "kodcode.kept_attempt": kept})
        return [child(doc, "", sft_text(question, split.solution, split.tests), meta)]
