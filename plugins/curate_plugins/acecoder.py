"""AceCoder test synthesis: seed code -> question + tests, tests checked by a reference solution, programs ranked
by pass rate into preference pairs."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from curate import Document, Drop
from curate_plugins._synth import prompts
from curate_plugins._synth.extract import assert_tests, has_assertion, render_code, solution_code
from curate_plugins._synth.ranking import acecoder_pairs
from curate_plugins._synth.records import RecordMetadata, child, pair_text, sft_text, verdicts
from curate_plugins._synth.step import SynthParams, SynthStep
from curate_plugins.lib.sandbox import ExecJob, SandboxLimits

_QUESTION = re.compile(r"question\s*:\s*(.*?)(?:\n\s*\**tests?\**\s*:|```|\Z)", re.I | re.S)


class Acecoder(SynthStep):
    """Turns seed code (the document's text) into a coding question with about ``tests`` (20) assert tests, asked
    of the LLM; runs the reference solution (the seed code, or ``reference_field``) on those tests and drops the
    tests it fails; a question left with fewer than ``min_tests`` (5) tests is dropped as ``too_few_tests``.
    Then samples ``programs`` (16) solutions of the question, runs each on the kept tests, and emits a
    preference pair (i, j) for every two programs with pass rates s_i > 0.8, s_i − s_j ≥ 0.4 and s_j > 0
    (AceCoder, Zeng et al. 2025); identical programs never pair. The question with its kept tests and reference
    is also emitted as an SFT record (``emit``). Drops ``empty_seed``, ``no_question`` (no question or no tests
    could be read from the answer), ``too_few_tests``, ``no_programs`` and ``no_pairs`` (no two programs meet the
    rule: with a small model most programs fail every test, and s_j > 0 excludes those). With
    ``question_field``/``tests_field``/``programs_field`` those parts come from the document instead.
    """

    namespace = "acecoder"

    class Metadata(RecordMetadata):
        """SFT: the synthesised question, the reference solution and the tests it passes."""

        chosen_pass_rate: float = Field(description="Pair: s_i.")
        rejected_pass_rate: float = Field(description="Pair: s_j.")
        tests_generated: int = Field(description="Tests read from the LLM's answer.")
        tests_kept: int = Field(description="Tests the reference solution passes.")
        pass_rates: list[float] = Field(description="Pass rate of each sampled program on the kept tests.")

    class Params(SynthParams):
        tests: int = Field(20, ge=1, le=100, description="Tests asked for per question (AceCoder: about 20).")
        min_tests: int = Field(5, ge=1, description="Questions left with fewer verified tests are dropped.")
        programs: int = Field(16, ge=2, le=128, description="Programs sampled per question (AceCoder: 16).")
        chosen_above: float = Field(0.8, ge=0, le=1, description="A chosen program's pass rate must exceed this.")
        min_gap: float = Field(0.4, ge=0, le=1, description="... and exceed the rejected one's by at least this.")
        rejected_above: float = Field(0.0, ge=0, le=1, description="A rejected program's pass rate must exceed this.")
        max_pairs: int | None = Field(None, ge=1, description="Pairs kept per question, best chosen first (None: "
                                                              "all).")
        emit: Literal["pairs", "sft", "both"] = Field("both", description="Preference pairs, the verified "
                                                                          "question as an SFT record, or both.")
        reference_field: str | None = Field(None, description="Metadata key with the reference solution; None: the "
                                                              "seed code (the document's text).")
        tests_field: str | None = Field(None, description="Metadata key with ready tests (list of code).")
        programs_field: str | None = Field(None, description="Metadata key with ready programs (list of code).")
        sandbox: SandboxLimits = Field(default_factory=lambda: SandboxLimits(timeout=30.0, test_timeout=5.0),
                                       description="Limits of each program run; `test_timeout` gives a verdict "
                                                   "per test even when one test loops.")

    def process(self, docs: list[Document]) -> list:
        drafts = self._drafts(docs)
        checks = [ExecJob(id=f"{d.id}#reference", code=self._reference(d), tests=t) for d, (_, t) in zip(docs, drafts)
                  if t]
        verified = iter(self.execute(checks))
        kept = [[t for t, ok in zip(tests, verdicts(next(verified), len(tests))) if ok] if tests else []
                for _, tests in drafts]
        ready = [d for d, (draft, tests) in enumerate(zip(drafts, kept))
                 if draft[0] and len(tests) >= self.params.min_tests]
        programs = self._programs(docs, [drafts[d][0] for d in ready], ready)
        jobs = [ExecJob(id=f"{docs[d].id}#program{i}", code=code, tests=kept[d])
                for d in ready for i, code in enumerate(programs[d])]
        runs = iter(self.execute(jobs))
        rates = {d: [sum(verdicts(next(runs), len(kept[d]))) / len(kept[d]) for _ in programs[d]] for d in ready}
        return [self._decide(doc, drafts[d], kept[d], programs.get(d, []), rates.get(d, []))
                for d, doc in enumerate(docs)]

    def _reference(self, doc: Document) -> str:
        field = self.params.reference_field
        return str(doc.metadata.get(field) or "") if field else doc.text

    def _drafts(self, docs: list[Document]) -> list[tuple[str, list[str]]]:
        """(question, tests) per seed: from the document's fields when it has them, else from the LLM."""
        p = self.params
        out: dict[int, tuple[str, list[str]]] = {}
        ask = []
        for d, doc in enumerate(docs):
            if p.question_field and p.tests_field and doc.metadata.get(p.tests_field) is not None:
                out[d] = (self.question_of(doc).strip(), [str(t) for t in doc.metadata[p.tests_field]])
            elif doc.text.strip():
                ask.append(d)
        if ask:
            chats = [prompts.chat(prompts.ACECODER_QUESTION.format(seed=docs[d].text.strip(), tests=p.tests))
                     for d in ask]
            for d, [answer] in zip(ask, self.generate(prompts.ACECODER_QUESTION_VERSION, chats, 1, temperature=0.0)):
                out[d] = read_question(answer.text)
        return [out.get(d, ("", [])) for d in range(len(docs))]

    def _programs(self, docs, questions, ready) -> dict[int, list[str]]:
        found = self.sampled([docs[d] for d in ready], questions, self.params.programs_field,
                             prompts.ACECODER_SOLUTION_VERSION, self.params.programs,
                             lambda q: prompts.ACECODER_SOLUTION.format(question=q), _solution_codes)
        return dict(zip(ready, found))

    def _decide(self, doc, draft, kept, programs, rates) -> list[Document] | Drop:
        p = self.params
        question, generated = draft
        meta = {"acecoder.question": question, "acecoder.tests_generated": len(generated),
                "acecoder.tests_kept": len(kept), "acecoder.model": self.model_name()}
        reason = ("empty_seed" if not doc.text.strip() else "no_question" if not question or not generated
                  else "too_few_tests" if len(kept) < p.min_tests else "no_programs" if not programs else None)
        if reason:
            doc.metadata.update(meta)
            return Drop(reason)
        meta["acecoder.pass_rates"] = [round(r, 4) for r in rates]
        out = []
        if p.emit != "sft":
            pairs = acecoder_pairs(rates, programs, p.chosen_above, p.min_gap, p.rejected_above)[:p.max_pairs]
            for k, (i, j) in enumerate(pairs):
                chosen, rejected = render_code(programs[i]), render_code(programs[j])
                out.append(child(doc, f"/pair{k}", pair_text(question, chosen, rejected), {
                    **meta, "acecoder.record": "pair", "acecoder.prompt": question, "acecoder.chosen": chosen,
                    "acecoder.rejected": rejected, "acecoder.chosen_pass_rate": round(rates[i], 4),
                    "acecoder.rejected_pass_rate": round(rates[j], 4)}))
        if p.emit != "pairs":
            reference = self._reference(doc)
            out.append(child(doc, "/sft", sft_text(question, reference, kept), {
                **meta, "acecoder.record": "sft", "acecoder.solution": reference, "acecoder.tests": kept}))
        if not any(o.metadata.get("acecoder.record") == "pair" for o in out) and p.emit == "pairs":
            doc.metadata.update(meta)
            return Drop("no_pairs")
        return out


def read_question(answer: str) -> tuple[str, list[str]]:
    """The question and the assert tests of an AceCoder rewrite answer (``Question: ... Tests: ```...````)."""
    match = _QUESTION.search(answer or "")
    question = match.group(1).strip() if match else ""
    if not question:  # no "Question:" label: the prose before the first code block
        question = (answer or "").split("```", 1)[0].strip()
    tests = [t for t in assert_tests(answer) if has_assertion(t)]
    return question, tests


def _solution_codes(answer: str) -> list[str]:
    """The solution of one sampled answer, as a list of zero or one program."""
    code = solution_code(answer)
    return [code] if code else []
