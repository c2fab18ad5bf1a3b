"""drop_bottom_fraction: per-group cuts over a whole run from merged per-shard sketches, saved and reused by
incremental runs; ties never split; the reason is recorded."""

from __future__ import annotations

import random

import numpy as np
import orjson
import pytest

from curate.testing import read_corpus, read_excluded, run_pipeline_dict
from curate_plugins._quality.sketch import HistogramSketch


def test_sketch_merge_is_exact_and_cut_is_within_one_bin():
    rng = random.Random(0)
    values = [rng.uniform(0, 10) for _ in range(5000)]
    whole, parts = HistogramSketch(0, 10, 10000), [HistogramSketch(0, 10, 10000) for _ in range(3)]
    for i, v in enumerate(values):
        whole.add(v)
        parts[i % 3].add(v)
    merged = HistogramSketch.from_json(parts[0].to_json())
    merged.merge(parts[1])
    merged.merge(parts[2])
    assert (merged.counts == whole.counts).all()
    cut = merged.cut_for_fraction(0.1)
    dropped = sum(v < cut for v in values)
    assert 499 <= dropped <= 500 and abs(cut - np.quantile(values, 0.1)) < 0.01


def test_ties_are_never_split():
    sketch = HistogramSketch(0, 10, 1000)
    values = [0.0] * 30 + list(np.linspace(1, 10, 70))
    for v in values:
        sketch.add(v)
    assert sketch.cut_for_fraction(0.1) == 0.0  # 30% share the lowest score: dropping any would be arbitrary
    assert sum(v < sketch.cut_for_fraction(0.35) for v in values) == 35  # all the zeros and 5 more fit in 35%


def write_shard(path, rows):
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))


def pipeline(paths, out, **step):
    return {"name": "t", "inputs": [{"source": "jsonl", "with": {"paths": [str(p) for p in paths]}}],
            "output": {"dir": str(out), "format": "jsonl.zst", "keep_excluded": True},
            "executor": {"kind": "local", "workers": 1},
            "steps": [{"uses": "drop_bottom_fraction", "with": {"key": "score", "fraction": 0.1, **step}}]}


@pytest.fixture
def shards(tmp_path):
    rng = random.Random(1)
    rows = [{"id": f"py{i}", "text": f"p{i}", "lang": "Python", "score": s}
            for i, s in enumerate(rng.sample(range(1000), 100))]
    rows += [{"id": f"go{i}", "text": f"g{i}", "lang": "Go", "score": s}
             for i, s in enumerate(rng.sample(range(500, 1000), 60))]
    rows += [{"id": f"rs{i}", "text": f"r{i}", "lang": "Rust", "score": 100 + i} for i in range(5)]
    rows += [{"id": f"js{i}", "text": f"j{i}", "lang": "JSON", "score": 0} for i in range(30)]
    rows += [{"id": "unscored", "text": "u", "lang": "Python"}]
    for r in rows:
        if "score" in r:
            r["score"] = r["score"] / 100
    rng.shuffle(rows)
    paths = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    write_shard(paths[0], rows[::2])
    write_shard(paths[1], rows[1::2])
    return rows, paths


def expected_drops(rows, lang, fraction=0.1):
    scores = sorted(r["score"] for r in rows if r["lang"] == lang and "score" in r)
    cut = scores[int(fraction * len(scores))]  # distinct scores: the first kept one
    return {r["id"] for r in rows if r["lang"] == lang and r.get("score", 99) < cut}


def test_bottom_fraction_per_group_over_the_whole_run(shards, tmp_path):
    rows, paths = shards
    run_pipeline_dict(pipeline(paths, tmp_path / "out", min_group_size=20))
    excluded = read_excluded(tmp_path / "out")
    dropped = {r["id"] for r in excluded}
    assert {r["metadata"]["drop.reason"] if "metadata" in r else r["drop.reason"] for r in excluded} == \
        {"bottom_fraction"}
    want = expected_drops(rows, "Python") | expected_drops(rows, "Go")
    assert dropped == want and len(want) == 10 + 6
    kept = {r["id"] for r in read_corpus(tmp_path / "out")}
    assert kept | dropped == {r["id"] for r in rows} and "unscored" in kept
    assert {f"js{i}" for i in range(30)} <= kept  # a group of ties: nothing dropped
    # Rust has 5 documents (< min_group_size): it uses the all-documents cut, which is below all its scores
    assert {f"rs{i}" for i in range(5)} <= kept


def test_incremental_run_reuses_the_saved_cut_unless_recomputed(shards, tmp_path):
    rows, paths = shards
    out = tmp_path / "out"
    run_pipeline_dict(pipeline(paths, out))
    py_cut = sorted(r["score"] for r in rows if r["lang"] == "Python" and "score" in r)[10]
    late = [{"id": f"late{i}", "text": f"late{i}", "lang": "Python", "score": py_cut - 0.5 + i / 10} for i in range(10)]
    new = tmp_path / "c.jsonl"
    write_shard(new, late)
    result = run_pipeline_dict(pipeline([*paths, new], out))
    dropped = {r["id"] for r in read_excluded(out, result.run_id)}
    assert dropped == {f"late{i}" for i in range(10) if late[i]["score"] < py_cut}  # the first run's cut: 5 of 10
    newer = tmp_path / "d.jsonl"
    write_shard(newer, [{**r, "id": r["id"] + "b", "text": r["text"] + "b"} for r in late])
    result = run_pipeline_dict(pipeline([*paths, new, newer], out, calibration="recompute", min_group_size=5),
                               accept_changes=True)  # the step's parameters changed: an explicit choice
    assert {r["id"] for r in read_excluded(out, result.run_id)} == {"late0b"}  # 10% of this batch alone


def test_missing_scores_can_be_dropped_with_a_reason(shards, tmp_path):
    _, paths = shards
    run_pipeline_dict(pipeline(paths, tmp_path / "out", missing="drop"))
    reasons = {r["id"]: r.get("drop.reason") or r.get("metadata", {}).get("drop.reason")
               for r in read_excluded(tmp_path / "out")}
    assert reasons["unscored"] == "missing_score"
