"""pipelines/quality.yaml end to end with the tiny random Llama as the oracle (transformers backend, CPU):
label a sample -> train the scorer -> score every file -> drop the bottom 10% per language.

The tiny model's ratings are meaningless as quality (random weights); this test checks the plumbing, the
bookkeeping and the drop rule, not the quality of the labels."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter

import pytest

from curate.testing import read_corpus, read_excluded, run_cli

INPUTS = ["pallets__itsdangerous", "spf13__pflag"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from curate_plugins._quality.prompt import load_prompt
    from curate_plugins._quality.tiny import build_tiny_llama

    return str(build_tiny_llama(tmp_path_factory.mktemp("tiny") / "llama", corpus=[load_prompt().text]))


def test_quality_pipeline_end_to_end(copy_pipeline, repo_root, tiny_model, tmp_path):
    yaml_path, out = copy_pipeline("quality.yaml")
    cache, scorer = tmp_path / "labels.sqlite", tmp_path / "scorer"
    paths = json.dumps([str(repo_root / "examples" / "data" / "github" / f"{name}.jsonl.zst") for name in INPUTS])
    run_cli("run", yaml_path, "-o", out, "--no-progress", "--set", f"inputs[0].with.paths={paths}",
            "--set", "executor.workers=2",
            "--set", "steps[1].with.backend.kind=transformers", "--set", f"steps[1].with.backend.model={tiny_model}",
            "--set", "steps[1].with.backend.torch_threads=1", "--set", "steps[1].with.mode=expected",
            "--set", "steps[1].with.sample_fraction=0.35", "--set", "steps[1].with.max_code_chars=500",
            "--set", f"steps[1].with.cache={cache}", "--set", f"steps[2].with.cache={cache}",
            "--set", f"steps[2].with.out={scorer}", "--set", f"steps[3].with.model={scorer}")
    kept, excluded = read_corpus(out), read_excluded(out)
    assert len(kept) + len(excluded) == 50 + 89  # every input file is in the output or excluded with a reason
    meta = lambda r: r.get("metadata", r)  # noqa: E731
    assert {meta(r)["drop.reason"] for r in excluded} == {"bottom_fraction"}
    assert all(0 <= meta(r)["quality.score"] <= 10 for r in kept + excluded)
    labelled = [r for r in kept + excluded if "quality.oracle" in meta(r)]
    with sqlite3.connect(cache) as db:
        (n_labels,) = db.execute("SELECT COUNT(*) FROM labels WHERE error IS NULL").fetchone()
    assert 20 <= len(labelled) <= 0.6 * 139 and n_labels >= 20  # a ~35% sample, labelled (cached) once
    assert not any("quality.error" in meta(r) for r in labelled)
    report = json.loads((scorer / "meta.json").read_text())
    assert report["approach"] in ("fasttext", "ridge") and report["metrics"]["n_test"] > 0
    by_lang = Counter(meta(r)["lang"] for r in kept + excluded)
    dropped = Counter(meta(r)["lang"] for r in excluded)
    for lang, n in dropped.items():
        assert n <= 0.1 * by_lang[lang] or n <= 0.1 * len(kept + excluded)  # per group, or the `*` fallback
    assert 0 < len(excluded) <= 0.1 * (len(kept) + len(excluded))
