"""CodeDPO mutual ranking: sampled solutions and sampled tests score each other over their pass matrix."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from curate import Document, Drop
from curate_plugins._synth import prompts
from curate_plugins._synth.extract import assert_tests, has_assertion, render_code, solution_code
from curate_plugins._synth.ranking import correctness_pair, efficiency_pair, mutual_scores, trusted_tests
from curate_plugins._synth.records import RecordMetadata, child, pair_text, seconds_per_test, sft_text, verdicts
from curate_plugins._synth.step import SynthParams, SynthStep
from curate_plugins.lib.sandbox import ExecJob, SandboxLimits


class Codedpo(SynthStep):
    """For each problem, samples ``solutions`` (default 15) programs and ``tests`` (default 15) test cases, runs
    every program on every test in the sandbox (one verdict and one time per cell: the pass matrix), and scores
    code and tests mutually, PageRank style: all scores start at 1, then ``iterations`` (10) times
    ``code_i = (1-d)·code_i + d·Σ_j test_j·pass_ij`` and symmetrically for tests, with damping ``d`` = 0.85
    (CodeDPO, Zhang et al. 2024). Emits a correctness pair (the top-scored code chosen over the bottom-scored)
    and an efficiency pair: the tests the top-scored code passes are trusted; among the solutions passing all of
    them, the fastest is chosen over the slowest, timed on those tests (``timing_runs`` runs, best time), when
    the slow one takes ``efficiency_min_ratio`` times as long and ``efficiency_min_seconds`` more. Identical
    programs never form a pair. A sampled test answer is one test case (its asserts together); one without an
    assert is discarded. Drops ``empty_question``, ``no_programs`` (no sampled answer held code), ``no_tests``,
    and ``no_pairs`` (the matrix did not separate any two programs: all pass, or all fail, as a small model's
    programs mostly do). With ``solutions_field`` / ``tests_field`` the programs / tests come from the document.
    """

    namespace = "codedpo"

    class Metadata(RecordMetadata):
        """SFT: the top-scored solution and the trusted tests (those it passes)."""

        pair_kind: str = Field(description="`correctness` or `efficiency`.")
        chosen_score: float = Field(description="Mutual score (correctness) or seconds (efficiency) of chosen.")
        rejected_score: float = Field(description="The same for rejected.")
        solutions: int = Field(description="Programs in the pass matrix.")
        test_cases: int = Field(description="Tests in the pass matrix.")
        matrix: list[list[int]] = Field(description="The pass matrix (rows: programs, columns: tests).")
        code_scores: list[float] = Field(description="Mutual score of each program.")
        test_scores: list[float] = Field(description="Mutual score of each test.")

    class Params(SynthParams):
        solutions: int = Field(15, ge=2, le=128, description="Programs sampled per problem (CodeDPO: 15).")
        tests: int = Field(15, ge=1, le=128, description="Test cases sampled per problem (CodeDPO: 15).")
        damping: float = Field(0.85, ge=0, le=1, description="Damping factor d of the mutual scores.")
        iterations: int = Field(10, ge=1, le=1000, description="Score update iterations.")
        initial_score: float = Field(1.0, gt=0, description="Starting score of every program and test.")
        normalize: bool = Field(True, description="Divide each sum by the number of tests (programs), keeping "
                                                  "scores in [0, initial_score].")
        efficiency_pairs: bool = Field(True, description="Emit efficiency pairs.")
        timing_runs: int = Field(3, ge=1, le=20, description="Timed runs of each correct program on the trusted "
                                                             "tests; its time is the best run.")
        efficiency_min_ratio: float = Field(1.5, ge=1, description="The slow program must take this many times as "
                                                                   "long as the fast one.")
        efficiency_min_seconds: float = Field(0.005, ge=0, description="... and this many seconds more (below it, "
                                                                       "timing noise).")
        emit: Literal["pairs", "sft", "both"] = Field("pairs", description="Preference pairs, the top-scored "
                                                                           "solution as an SFT record, or both.")
        solutions_field: str | None = Field(None, description="Metadata key with ready programs (list of code).")
        tests_field: str | None = Field(None, description="Metadata key with ready test cases (list of code).")
        sandbox: SandboxLimits = Field(default_factory=lambda: SandboxLimits(timeout=30.0, test_timeout=5.0),
                                       description="Limits of each program run; `test_timeout` gives a verdict "
                                                   "per test even when one test loops.")

    def process(self, docs: list[Document]) -> list:
        p = self.params
        questions = [self.question_of(d).strip() for d in docs]
        codes = self.sampled(docs, questions, p.solutions_field, prompts.CODEDPO_SOLUTION_VERSION, p.solutions,
                             lambda q: prompts.CODEDPO_SOLUTION.format(question=q), _codes_of)
        tests = self.sampled(docs, questions, p.tests_field, prompts.CODEDPO_TEST_VERSION, p.tests,
                             lambda q: prompts.CODEDPO_TEST.format(question=q, per_answer=3), _tests_of)
        jobs, index = [], {}
        for d, doc in enumerate(docs):
            for i, code in enumerate(codes[d] if tests[d] else []):
                index[(d, i)] = len(jobs)
                jobs.append(ExecJob(id=f"{doc.id}#solution{i}", code=code, tests=tests[d]))
        results = self.execute(jobs)
        out = []
        for d, doc in enumerate(docs):
            rows = [results[index[(d, i)]] for i in range(len(codes[d])) if (d, i) in index]
            out.append(self._decide(doc, questions[d], codes[d], tests[d], rows))
        return out

    def _decide(self, doc, question, codes, tests, results) -> list[Document] | Drop:
        p = self.params
        if not question:
            return Drop("empty_question")
        if not codes:
            return Drop("no_programs")
        if not tests:
            return Drop("no_tests")
        matrix = [[int(v) for v in verdicts(r, len(tests))] for r in results]
        code_scores, test_scores = mutual_scores(matrix, p.damping, p.iterations, p.initial_score, p.normalize)
        meta = {"codedpo.solutions": len(codes), "codedpo.test_cases": len(tests), "codedpo.matrix": matrix,
                "codedpo.code_scores": [round(s, 6) for s in code_scores],
                "codedpo.test_scores": [round(s, 6) for s in test_scores], "codedpo.model": self.model_name()}
        out = []
        top = max(range(len(codes)), key=lambda i: (code_scores[i], -i))
        pair = correctness_pair(code_scores, codes)
        if pair and p.emit != "sft":
            out.append(self._pair(doc, question, codes, pair, "correctness", code_scores, meta))
        trusted = trusted_tests(matrix, top)
        if p.efficiency_pairs and p.emit != "sft" and trusted:
            seconds = self._timed(doc, codes, tests, matrix, trusted)
            fast_slow = efficiency_pair(matrix, seconds, trusted, codes, p.efficiency_min_ratio,
                                        p.efficiency_min_seconds)
            if fast_slow:
                scores = [seconds.get(i, 0.0) for i in range(len(codes))]
                out.append(self._pair(doc, question, codes, fast_slow, "efficiency", scores, meta))
        if p.emit != "pairs" and trusted:
            kept = [tests[j] for j in trusted]
            out.append(child(doc, "", sft_text(question, codes[top], kept),
                             {**meta, "codedpo.record": "sft", "codedpo.question": question,
                              "codedpo.solution": codes[top], "codedpo.tests": kept}))
        if not out:
            doc.metadata.update(meta)
            return Drop("no_pairs")
        return out

    def _timed(self, doc, codes, tests, matrix, trusted) -> dict[int, float]:
        """Best-of-``timing_runs`` seconds of each program passing every trusted test, on those tests only."""
        correct = [i for i in range(len(matrix)) if all(matrix[i][j] for j in trusted)]
        if len(correct) < 2:
            return {}
        kept = [tests[j] for j in trusted]
        jobs = [ExecJob(id=f"{doc.id}#timing{i}.{r}", code=codes[i], tests=kept)
                for i in correct for r in range(self.params.timing_runs)]
        results = self.execute(jobs)
        best: dict[int, float] = {}
        for k, result in enumerate(results):
            i = correct[k // self.params.timing_runs]
            if result.passed:
                best[i] = min(best.get(i, float("inf")), sum(seconds_per_test(result, len(kept))))
        return best

    def _pair(self, doc, question, codes, pair, kind, scores, meta) -> Document:
        chosen, rejected = render_code(codes[pair[0]]), render_code(codes[pair[1]])
        return child(doc, f"/{kind}", pair_text(question, chosen, rejected), {
            **meta, "codedpo.record": "pair", "codedpo.prompt": question, "codedpo.chosen": chosen,
            "codedpo.rejected": rejected, "codedpo.pair_kind": kind,
            "codedpo.chosen_score": round(scores[pair[0]], 6), "codedpo.rejected_score": round(scores[pair[1]], 6)})


def _codes_of(answer: str) -> list[str]:
    code = solution_code(answer)
    return [code] if code else []


def _tests_of(answer: str) -> list[str]:
    """One test case per answer: its asserts together (a sampled answer is one test case of the matrix)."""
    items = [t for t in assert_tests(answer) if has_assertion(t)]
    return ["\n".join(items)] if items else []
