"""CodeDPO mutual ranking on known verdicts: MBPP reference solutions, mutated wrong ones and a slow correct one,
against MBPP's tests plus a wrong test, all executed in the real sandbox."""

from __future__ import annotations

from _synth_helpers import SMOLLM2_BACKEND, mbpp, mutant, wrong_test

from curate.testing import apply_step, make_doc
from curate_plugins.codedpo import Codedpo


def step(**params) -> Codedpo:
    return Codedpo(backend=SMOLLM2_BACKEND, solutions_field="solutions", tests_field="tests", **params)


def problem(task: int, doc_id: str):
    p = mbpp(task)
    solutions = [p["code"], mutant(p["code"], "return_none"), mutant(p["code"], "slow")]
    tests = [*p["test_list"], wrong_test(p["test_list"][0])]
    return p, make_doc(p["text"], doc_id, solutions=solutions, tests=tests)


def test_pass_matrix_scores_and_both_kinds_of_pairs():
    p, doc = problem(17, "p17")
    result = apply_step(step(emit="both"), [doc])
    kinds = {d.metadata.get("codedpo.pair_kind") or d.metadata["codedpo.record"]: d for d in result.kept}
    assert set(kinds) == {"correctness", "efficiency", "sft"}
    meta = kinds["correctness"].metadata
    assert meta["codedpo.matrix"] == [[1, 1, 1, 0], [0, 0, 0, 0], [1, 1, 1, 0]]
    code, test = meta["codedpo.code_scores"], meta["codedpo.test_scores"]
    assert code[0] == code[2] > code[1] and test[0] == test[1] == test[2] > test[3]
    assert meta["codedpo.chosen"] == f"```python\n{p['code'].strip()}\n```"  # top score, first on ties
    assert "return None" in meta["codedpo.rejected"] and meta["codedpo.prompt"] == p["text"]
    assert meta["codedpo.chosen_score"] > meta["codedpo.rejected_score"]
    eff = kinds["efficiency"].metadata  # trusted = the 3 MBPP tests; the sleeping copy is slow
    assert "sleep" in eff["codedpo.rejected"] and "sleep" not in eff["codedpo.chosen"]
    assert eff["codedpo.rejected_score"] >= 0.06 > eff["codedpo.chosen_score"]
    sft = kinds["sft"].metadata
    assert sft["codedpo.tests"] == p["test_list"] and sft["codedpo.solution"] == p["code"]
    assert kinds["correctness"].id == "p17/correctness" and kinds["efficiency"].id == "p17/efficiency"
    assert p["text"] in kinds["correctness"].text and "return None" in kinds["correctness"].text


def test_problems_without_a_ranking_are_dropped_with_their_reason():
    p = mbpp(18)
    all_fail = make_doc(p["text"], "all-fail", solutions=[mutant(p["code"], "return_none"),
                                                          mutant(p["code"], "flip_compare")], tests=p["test_list"])
    all_pass = make_doc(p["text"], "all-pass", solutions=[p["code"], p["code"] + "\n# same\n"], tests=p["test_list"])
    no_tests = make_doc(p["text"], "no-tests", solutions=[p["code"]], tests=[])
    no_code = make_doc(p["text"], "no-code", solutions=[], tests=p["test_list"])
    result = apply_step(step(efficiency_pairs=False), [all_fail, all_pass, no_tests, no_code])
    assert result.kept == []
    assert result.reasons == {"all-fail": "no_pairs", "all-pass": "no_pairs", "no-tests": "no_tests",
                              "no-code": "no_programs"}
    failed = next(d for d in result.dropped if d.id == "all-fail").metadata
    assert failed["codedpo.matrix"] == [[0, 0, 0], [0, 0, 0]]


def test_a_looping_program_gets_a_verdict_per_test():
    p = mbpp(17)
    loop = "def square_perimeter(a):\n    while a == 10:\n        pass\n    return 4 * a\n"
    doc = make_doc(p["text"], "loop", solutions=[p["code"], loop], tests=p["test_list"])
    [pair] = apply_step(step(sandbox={"timeout": 10, "test_timeout": 1}, efficiency_pairs=False), [doc]).kept
    assert pair.metadata["codedpo.matrix"] == [[1, 1, 1], [0, 1, 1]]  # only square_perimeter(10) loops


def test_with_the_real_model_the_matrix_is_built_from_sampled_programs_and_tests(tmp_path):
    plugin = Codedpo(backend=SMOLLM2_BACKEND, solutions=2, tests=2, max_tokens=96, cache=str(tmp_path / "c.sqlite"),
                     emit="both")
    doc = make_doc("Write a Python function `is_even(n)` that returns True when the integer n is even.", "even")
    result = apply_step(plugin, [doc])
    assert result.reasons in ({}, {"even": "no_pairs"}, {"even": "no_tests"}, {"even": "no_programs"})
    meta = (result.kept or result.dropped)[0].metadata
    if "codedpo.matrix" in meta:  # programs and tests were read from the answers: the matrix is complete
        rows, cols = meta["codedpo.solutions"], meta["codedpo.test_cases"]
        assert 1 <= rows <= 2 and 1 <= cols <= 2 and len(meta["codedpo.matrix"]) == rows
        assert all(len(r) == cols for r in meta["codedpo.matrix"])
