"""exact_dedup's index on IndexStore (issue 17): one part per run, merged size-tiered, so the number of parts
grows with log(runs); a corpus built in many runs keeps exactly what one run keeps; rollback removes a run's
entries."""

from __future__ import annotations

import math

import numpy as np
from integrity_scenarios import read_jsonl_zst, write_jsonl_zst

from curate import IndexStore
from curate.testing import read_corpus, read_excluded, run_pipeline_dict
from curate_plugins.lib.dedup_index import KeyIndex

REPOS = ["spf13__pflag", "pallets__itsdangerous", "dtolnay__anyhow", "tj__commander.js"]


def _pipeline(paths, out, fanout=2) -> dict:
    return {"name": "dedup", "inputs": [{"source": "jsonl", "with": {"paths": paths}}], "output": {"dir": str(out)},
            "steps": [{"uses": "exact_dedup", "with": {"compaction_fanout": fanout}}]}


def test_many_runs_keep_what_one_run_keeps_with_logarithmic_parts(default_input, tmp_path):
    records = [r for name in REPOS for r in read_jsonl_zst(default_input / f"{name}.jsonl.zst")]
    records += [{**r, "id": r["id"] + "#again"} for r in records[::7]]  # exact copies, arriving in later runs
    shards = [write_jsonl_zst(tmp_path / "in" / f"{i:02d}.jsonl.zst", records[i::9]) for i in range(9)]
    out, one = tmp_path / "runs", tmp_path / "one"
    store = IndexStore(str(out / "state" / "index" / "exact_dedup"))
    parts = []
    for run in range(1, len(shards) + 1):
        run_pipeline_dict(_pipeline([str(p) for p in shards[:run]], out))
        parts.append(len(store.current().parts))
        assert parts[-1] <= math.ceil(math.log2(run)) + 1  # fanout 2: at most one part per level, + this run's
    assert parts == [1, 1, 2, 1, 2, 2, 3, 1, 2]
    assert {p.level for p in store.current().parts} == {3, 0}
    assert sum(p.entries for p in store.current().parts) == len(read_corpus(out))
    run_pipeline_dict(_pipeline([str(p) for p in shards], one))
    assert sorted(r["id"] for r in read_corpus(out)) == sorted(r["id"] for r in read_corpus(one))
    dropped = {r["id"]: r["metadata"]["dedup.kept_id"] for r in read_excluded(out)}
    assert dropped == {r["id"]: r["metadata"]["dedup.kept_id"] for r in read_excluded(one)}


def test_key_index_lookup_and_compaction_on_arrays(tmp_path):
    store = IndexStore(str(tmp_path / "idx"))
    index = KeyIndex(store, [])
    rng = np.random.default_rng(0)
    kept = {}
    for run in range(1, 9):
        keys = np.unique(rng.integers(0, 2**63, 500, dtype=np.int64).astype(">i8").view("S8")).astype("S16")
        ids = [f"r{run}-{i}" for i in range(len(keys))]
        index.add(f"run-{run:04d}", keys, ids)
        index.compact(f"run-{run:04d}", fanout=4)
        kept.update({bytes(k).ljust(16, b"\0"): i for k, i in zip(keys.tolist(), ids)})
    assert [p.level for p in index.parts] == [1, 1] and sum(p.entries for p in index.parts) == len(kept)
    probe = np.asarray(list(kept)[::37] + [b"\xff" * 16], dtype="S16")
    found = index.lookup(probe)
    assert found == {k: kept[k] for k in list(kept)[::37]}
