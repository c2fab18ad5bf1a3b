"""Distillation: `curate label` against a real local server (PROXY labels, see
plugins/curate_plugins/_quality/proxy.py), `curate train scorer`, then the `quality_scorer` annotator on held-out
files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _quality_helpers import proxy_server, server_stats

from curate.testing import apply_step, make_doc, run_cli
from curate_plugins._quality.proxy import proxy_rating
from curate_plugins._quality.scorer import split_held_out
from curate_plugins.lib.llm.cache import LabelCache
from curate_plugins.quality_scorer import QualityScorer

REPOS = ["pallets__itsdangerous", "spf13__pflag", "tj__commander.js", "DaveGamble__cJSON"]


@pytest.fixture(scope="module")
def trained(repo_root, tmp_path_factory):
    """Label four repositories' files through `curate label` + the proxy server, then `curate train scorer`."""
    root = tmp_path_factory.mktemp("distil")
    inputs = [str(repo_root / "examples" / "data" / "github" / f"{r}.jsonl.zst") for r in REPOS]
    cache, model = root / "labels.sqlite", root / "scorer"
    with proxy_server() as url:
        first = run_cli("label", *inputs, "--cache", cache, "--backend", "openai", "--model", "proxy",
                        "--base-url", url, "--backend-set", "concurrency=8")
        again = run_cli("label", *inputs, "--cache", cache, "--backend", "openai", "--model", "proxy",
                        "--base-url", url)
        requests = server_stats(url)["requests"]
    meta = json.loads(run_cli("train", "scorer", "--cache", cache, "--out", model).stdout)
    return {"cache": cache, "model": model, "meta": meta, "first": json.loads(first.stdout),
            "again": json.loads(again.stdout), "requests": requests, "inputs": inputs}


def test_label_command_fills_the_cache_once(trained):
    first, again = trained["first"], trained["again"]
    assert first["errors"] == 0 and first["files"] > 300
    assert again["cache_hits"] == again["files"] == first["files"] and again["requests"] == 0
    assert trained["requests"] == first["requests"]  # the second pass sent nothing to the server


def test_both_approaches_measured_and_the_better_kept(trained):
    metrics = trained["meta"]["metrics"]
    assert {"fasttext_mae", "ridge_mae", "constant_mae"} <= set(metrics)
    best = min(("fasttext", "ridge"), key=lambda a: metrics[f"{a}_mae"])
    assert trained["meta"]["approach"] == best
    assert (trained["model"] / ("fasttext.bin" if best == "fasttext" else "ridge.json")).is_file()
    assert metrics[f"{best}_mae"] < 0.7 * metrics["constant_mae"]  # it learned the labels, not their mean


def test_scorer_plugin_reproduces_held_out_mae(trained):
    files = list(LabelCache(trained["cache"]).labelled())
    _, held_out = split_held_out(files, 0.2)
    docs = [make_doc(f.text, f.content_sha, **{**f.metadata, "lang": f.lang}) for f in held_out]
    out = apply_step(QualityScorer(model=str(trained["model"])), docs)
    scores = np.array([d.metadata["quality.score"] for d in out.kept])
    labels = np.array([f.label for f in held_out])
    assert len(out.kept) == len(held_out) and ((scores >= 0) & (scores <= 10)).all()
    best = trained["meta"]["approach"]
    assert np.abs(scores - labels).mean() == pytest.approx(trained["meta"]["metrics"][f"{best}_mae"], abs=0.01)
    zero = labels == 0
    assert zero.any() and scores[zero].mean() < scores[~zero].mean()


def test_proxy_labels_follow_the_zero_score_policy(fixture_data):
    generated = (fixture_data / "tricky" / "generated" / "protobuf_timestamp_pb2.py").read_text()
    assert proxy_rating(generated, "timestamp_pb2.py", "Python") == 0
    assert proxy_rating('{"name": "x", "version": "1.0"}\n', "package.json", "JSON") == 0


def test_training_refuses_a_tiny_cache(tmp_path):
    cache = LabelCache(tmp_path / "c.sqlite")
    from curate_plugins.lib.llm.cache import Label

    cache.put_many([(f"{i:064x}", Label(rating=5.0), make_doc(f"x = {i}", str(i))) for i in range(5)], "v", "m")
    cache.close()
    proc = run_cli("train", "scorer", "--cache", tmp_path / "c.sqlite", "--out", tmp_path / "m", check=False)
    assert proc.returncode == 2 and "only 5 usable labels" in proc.stderr


def test_pipeline_training_step_keeps_an_existing_scorer_unless_told(trained, tmp_path):
    from curate_plugins.train_quality_scorer import TrainFromCache, TrainQualityScorer

    out = tmp_path / "scorer"
    params = TrainQualityScorer.Params(cache=str(trained["cache"]), out=str(out))
    list(TrainFromCache(params, str(tmp_path / "work")).run())
    first = json.loads((out / "meta.json").read_text())
    assert first["metrics"] == trained["meta"]["metrics"]  # same cache, same split, same models
    (out / "meta.json").write_text(json.dumps({**first, "marker": 1}))
    list(TrainFromCache(params, str(tmp_path / "work")).run())
    assert json.loads((out / "meta.json").read_text())["marker"] == 1  # kept for incremental runs
    list(TrainFromCache(params.model_copy(update={"retrain": True}), str(tmp_path / "work")).run())
    assert "marker" not in json.loads((out / "meta.json").read_text())


def test_score_and_drop_bottom_decile_per_language_on_the_labelled_sample(trained, tmp_path):
    from collections import defaultdict

    from curate.testing import read_corpus, read_excluded, run_pipeline_dict

    out = tmp_path / "out"
    run_pipeline_dict({
        "name": "q", "inputs": [{"source": "jsonl", "with": {"paths": trained["inputs"]}}],
        "output": {"dir": str(out), "format": "jsonl.zst", "keep_excluded": True},
        "executor": {"kind": "local", "workers": 2},
        "steps": [{"uses": "language_from_extension"},
                  {"uses": "quality_scorer", "with": {"model": str(trained["model"])}},
                  {"uses": "drop_bottom_fraction", "with": {"fraction": 0.1, "group_by": "lang"}}]})
    meta = lambda r: r.get("metadata", r)  # noqa: E731
    kept, dropped = read_corpus(out), read_excluded(out)
    assert dropped and {meta(r)["drop.reason"] for r in dropped} == {"bottom_fraction"}
    scores = defaultdict(lambda: {"kept": [], "dropped": []})
    for name, records in (("kept", kept), ("dropped", dropped)):
        for r in records:
            scores[meta(r)["lang"]][name].append(meta(r)["quality.score"])
    for _lang, s in scores.items():
        n = len(s["kept"]) + len(s["dropped"])
        if s["dropped"]:
            assert max(s["dropped"]) < min(s["kept"])  # the bottom of its own language, not of the corpus
            assert len(s["dropped"]) <= 0.1 * n or n < 20  # small groups use the all-files cut
