"""IndexStore: staged snapshots are invisible until committed, rollback restores the previous index, gc keeps
what retained snapshots name, and compaction plans bound the number of parts."""

from __future__ import annotations

import pytest

from curate import IndexPart, IndexStore


def _write_part(store: IndexStore, name: str, run: str, level: int = 0) -> IndexPart:
    path = store.part_path(name)
    import os

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(name.encode())
    return IndexPart(name, (run,), level=level, entries=1)


def test_stage_commit_rollback_gc(tmp_path):
    store = IndexStore(str(tmp_path / "idx"))
    assert store.current() is None and store.parts() == []
    a = _write_part(store, "run-0001-a", "run-0001")
    store.stage("run-0001", [a], {"bands": 32})
    assert store.parts() == [] and store.parts("run-0001") == [a]  # staged: only the run itself sees it
    assert store.commit("run-0001") and store.current_run() == "run-0001"
    assert store.current().settings == {"bands": 32}
    b = _write_part(store, "run-0002-b", "run-0002")
    store.stage("run-0002", [a, b])
    store.stage("run-0002", [a, b])  # a resumed run stages again: idempotent
    assert store.commit("run-0002") and [p.name for p in store.parts()] == ["run-0001-a", "run-0002-b"]
    assert store.rollback("run-0002") and store.current_run() == "run-0001"
    assert store.gc(keep=3) == ["run-0002-b"]  # no retained snapshot names it any more
    assert store.rollback("run-0001") and store.current_run() is None and store.parts() == []


def test_commit_refuses_a_snapshot_staged_on_another_base(tmp_path):
    store = IndexStore(str(tmp_path / "idx"))
    store.stage("run-0001", [_write_part(store, "p1", "run-0001")])
    store.stage("run-0002", [_write_part(store, "p2", "run-0002")])  # also based on the empty index
    store.commit("run-0001")
    with pytest.raises(RuntimeError, match="staged on None"):
        store.commit("run-0002")


def test_stage_needs_parts_on_disk(tmp_path):
    store = IndexStore(str(tmp_path / "idx"))
    with pytest.raises(FileNotFoundError, match="must be written"):
        store.stage("run-0001", [IndexPart("ghost", ("run-0001",))])


def test_compaction_plan_keeps_parts_logarithmic():
    parts, merged_runs = [], 0
    for run in range(1, 101):
        parts.append(IndexPart(f"p{run}", (f"run-{run:04d}",)))
        for group in IndexStore.plan_compaction(parts, fanout=4):
            merged_runs += 1
            parts = [p for p in parts if p not in group]
            parts.append(IndexPart(f"m{merged_runs}", tuple(r for p in group for r in p.runs),
                                   level=group[0].level + 1))
    assert sorted(r for p in parts for r in p.runs) == [f"run-{i:04d}" for i in range(1, 101)]
    assert len(parts) <= 3 * 4  # (fanout - 1) per level, log4(100) < 4 levels
