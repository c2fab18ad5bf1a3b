"""The three shipped synthetic-data pipelines run end to end, offline, with the real model (SmolLM2-135M-Instruct
from its wheel) and the real sandbox, on the first few embedded questions and seeds (CPU generation is the suite's
slowest part), with small sample counts (the YAML keeps the papers' counts). A 135M model writes mostly wrong code:
the tests check that every input is accounted for, as a kept record or an excluded one with its reason, not that
anything passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curate.testing import read_corpus, read_excluded, run_cli

QUESTIONS = 3  # of the 9 embedded questions
SEEDS = 2  # of the 6 embedded seeds


def run(repo_root, tmp_path, name: str, *overrides: str):
    """Run the shipped pipeline on the first inputs of its embedded file, with the overrides."""
    out = tmp_path / "out"
    proc = run_cli("run", f"pipelines/{name}.yaml", "-o", out, "--set", f"steps[0].with.cache={tmp_path}/c.sqlite",
                   "--set", f"inputs[0].with.paths=[{first_inputs(repo_root, tmp_path, name)}]",
                   *[arg for o in overrides for arg in ("--set", o)], cwd=repo_root, timeout=1800)
    return out, proc


def first_inputs(repo_root: Path, tmp_path: Path, name: str) -> Path:
    """The first QUESTIONS questions (or SEEDS seeds) of the pipeline's embedded input, as a file in tmp_path."""
    source, count = ("seeds", SEEDS) if name == "synth_acecoder" else ("questions", QUESTIONS)
    lines = (repo_root / "examples" / "data" / "synth" / f"{source}.jsonl").read_text().splitlines()
    subset = tmp_path / f"{source}.jsonl"
    subset.write_text("\n".join(lines[:count]) + "\n")
    return subset


def inputs_accounted_for(out: Path, step: str, expected_inputs: int) -> dict[str, str]:
    """Input id -> outcome: `kept` (some record derives from it) or the drop reason of its excluded record."""
    outcome = {}
    for rec in read_corpus(out):
        outcome[rec["id"].split("/")[0]] = "kept"
    for rec in read_excluded(out):
        outcome.setdefault(rec["id"].split("/")[0], rec["metadata"]["drop.reason"])
    assert len(outcome) == expected_inputs, outcome
    return outcome


def test_synth_kodcode_pipeline(repo_root, tmp_path):
    out, proc = run(repo_root, tmp_path, "synth_kodcode", "steps[0].with.attempts=2", "steps[0].with.max_tokens=200")
    outcome = inputs_accounted_for(out, "kodcode", QUESTIONS)
    assert set(outcome.values()) <= {"kept", "no_passing_attempt", "contaminated:mbpp"}
    for rec in read_corpus(out):
        meta = rec["metadata"]
        assert meta["kodcode.difficulty"] in ("easy", "medium", "hard") and meta["kodcode.passes"] >= 1
        assert len(meta["kodcode.log"]) == 2 and meta["kodcode.log"][meta["kodcode.kept_attempt"]]["status"] == "pass"
    for rec in read_excluded(out):
        if rec["metadata"]["drop.reason"] == "no_passing_attempt":
            assert len(rec["metadata"]["kodcode.log"]) == 2 and rec["metadata"]["kodcode.passes"] == 0
    sft = sorted((out / "trl").glob("sft-*.jsonl"))
    rows = [json.loads(line) for f in sft for line in f.read_text().splitlines()]
    assert len(rows) == sum(1 for v in outcome.values() if v == "kept")
    assert all(set(r) == {"id", "prompt", "completion"} for r in rows)


def test_synth_codedpo_pipeline(repo_root, tmp_path):
    out, proc = run(repo_root, tmp_path, "synth_codedpo", "steps[0].with.solutions=2", "steps[0].with.tests=2",
                    "steps[0].with.max_tokens=128")
    outcome = inputs_accounted_for(out, "codedpo", QUESTIONS)
    assert set(outcome.values()) <= {"kept", "no_pairs", "no_tests", "no_programs", "contaminated:mbpp"}
    for rec in read_corpus(out) + read_excluded(out):
        meta = rec["metadata"]
        if "codedpo.matrix" in meta:
            assert len(meta["codedpo.matrix"]) == meta["codedpo.solutions"] <= 2
            assert len(meta["codedpo.code_scores"]) == meta["codedpo.solutions"]
            assert len(meta["codedpo.test_scores"]) == meta["codedpo.test_cases"] <= 2
    pairs = [r for r in read_corpus(out) if r["metadata"].get("codedpo.record") == "pair"]
    exported = [json.loads(line) for f in (out / "trl").glob("dpo-*.jsonl") for line in f.read_text().splitlines()]
    assert len(exported) == len(pairs)


def test_synth_acecoder_pipeline(repo_root, tmp_path):
    out, proc = run(repo_root, tmp_path, "synth_acecoder", "steps[0].with.tests=8", "steps[0].with.programs=3",
                    "steps[0].with.max_tokens=200")
    outcome = inputs_accounted_for(out, "acecoder", SEEDS)
    assert set(outcome.values()) <= {"kept", "no_question", "too_few_tests", "no_programs", "contaminated:mbpp"}
    for rec in read_excluded(out):
        meta = rec["metadata"]
        if rec["metadata"]["drop.reason"] == "too_few_tests":
            assert meta["acecoder.tests_kept"] < 5 and meta["acecoder.tests_kept"] <= meta["acecoder.tests_generated"]
    for rec in read_corpus(out):
        assert rec["metadata"]["acecoder.tests_kept"] >= 5


@pytest.fixture(autouse=True)
def _cpu_friendly(monkeypatch):
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
