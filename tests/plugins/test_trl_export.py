"""Synthetic preference pairs and SFT records through a whole pipeline: CodeDPO on known verdicts, then
``ngram_decontaminate`` (a pair made from an MBPP problem is dropped like any contaminated document), then
``trl_export``; the export is read back the way a trainer reads it, with ``datasets``."""

from __future__ import annotations

import json

from _synth_helpers import SMOLLM2_BACKEND, mbpp, mutant

from curate.testing import read_corpus, read_excluded, run_pipeline_dict

CLAMP = ("def clamp(value, low, high):\n    if value < low:\n        return low\n    if value > high:\n"
         "        return high\n    return value\n")
CLAMP_TESTS = ["assert clamp(5, 0, 10) == 5", "assert clamp(-3, 0, 10) == 0", "assert clamp(12, 0, 10) == 10"]


def test_pairs_pass_decontamination_and_load_with_datasets_in_trl_layout(tmp_path):
    import datasets

    p = mbpp(17)
    records = [
        {"id": "own-clamp", "text": "Write a function clamp(value, low, high) that limits value to [low, high].",
         "solutions": [CLAMP, "def clamp(value, low, high):\n    return value\n"], "tests": CLAMP_TESTS},
        {"id": "mbpp-17", "text": p["text"], "solutions": [p["code"], mutant(p["code"], "return_none")],
         "tests": p["test_list"]},
    ]
    source = tmp_path / "problems.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "out"
    run_pipeline_dict({
        "name": "dpo-export", "inputs": [{"source": "jsonl", "with": {"paths": [str(source)]}}],
        "output": {"dir": str(out), "keep_excluded": True}, "executor": {"kind": "local", "workers": 1},
        "steps": [
            {"uses": "codedpo", "with": {"backend": SMOLLM2_BACKEND, "solutions_field": "solutions",
                                         "tests_field": "tests", "emit": "both", "efficiency_pairs": False}},
            {"uses": "ngram_decontaminate", "with": {"benchmarks": ["mbpp", "humaneval"], "action": "drop"}},
            {"uses": "trl_export", "with": {"namespace": "codedpo", "layout": "dpo"}},
            {"uses": "trl_export", "id": "sft_export", "with": {"namespace": "codedpo", "layout": "sft"}},
        ]})
    kept = read_corpus(out)
    assert sorted(r["id"] for r in kept) == ["own-clamp", "own-clamp/correctness"]
    excluded = {r["id"]: r["metadata"]["drop.reason"] for r in read_excluded(out)}
    assert excluded == {"mbpp-17": "contaminated:mbpp", "mbpp-17/correctness": "contaminated:mbpp"}
    dpo = datasets.load_dataset("json", data_files=str(out / "trl" / "dpo-*.jsonl"), split="train")
    assert set(dpo.column_names) == {"id", "prompt", "chosen", "rejected"} and dpo.num_rows == 1
    row = dpo[0]
    assert row["prompt"].startswith("Write a function clamp") and "if value > high" in row["chosen"]
    assert row["rejected"] == "```python\ndef clamp(value, low, high):\n    return value\n```"
    sft = datasets.load_dataset("json", data_files=str(out / "trl" / "sft-*.jsonl"), split="train")
    assert sft.column_names == ["id", "prompt", "completion"]
    assert sft[0]["completion"].startswith("```python\ndef clamp")
