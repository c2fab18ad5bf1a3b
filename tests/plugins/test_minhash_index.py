"""minhash_dedup's internals at scale: the external-memory clustering equals a sequential union-find, the
index stays a bounded number of compacted parts over many runs with results identical to one run, many shards
and tasks give what one shard gives, a damaged part is refused, and changed hashing settings are refused."""

from __future__ import annotations

import random
import tempfile

import numpy as np
import pytest
from bench.minhash_reference import sequential_clusters
from test_minhash_dedup import run_stage

from curate import IndexStore
from curate.testing import make_doc
from curate_plugins._minhash import components as components_module
from curate_plugins._minhash import index as index_module
from curate_plugins._minhash.components import Components
from curate_plugins._minhash.index import IndexSettingsError, MinHashIndex
from curate_plugins._minhash.partfile import PartFile, PartWriter
from curate_plugins.minhash_dedup import MinhashDedup


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_external_components_equal_a_sequential_union_find(monkeypatch, seed):
    monkeypatch.setattr(components_module, "CHUNK", 7)  # many chunks, buckets and rounds
    rng = random.Random(seed)
    base, count = 100, 60
    old_roots = sorted(rng.sample(range(base), 12))
    edges = set()
    for later in range(base, base + count):
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            earlier = rng.choice(old_roots) if rng.random() < 0.3 else rng.randrange(base, later) if later > base else 0
            if earlier < later and (earlier >= base or earlier in old_roots):
                edges.add((earlier, later))
    edges = sorted(edges, key=lambda e: (e[1], e[0]))
    expected_keepers, _, expected_roots = sequential_clusters(edges, old_roots)
    with tempfile.TemporaryDirectory() as folder:
        comps = Components(folder, base, count, np.asarray(old_roots))
        pairs = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        nodes = np.stack([comps.node(pairs[:, 0], pairs[:, 0]), comps.node(pairs[:, 1], pairs[:, 1])], axis=1)

        def chunks():
            return (nodes[i:i + 7] for i in range(0, len(nodes), 7))

        comps.solve(chunks)
        keepers = np.asarray(comps.insertion_keepers(chunks, folder))
        final = np.concatenate(list(comps.keeper_of_items())) if count else np.empty(0)
        merges = {int(a): int(b) for a, b in comps.merges()}
    assert {base + i: int(k) for i, k in enumerate(keepers) if k >= 0} == expected_keepers
    for position in range(base, base + count):
        assert final[position - base] == expected_roots.get(position, position)
    assert merges == {r: expected_roots[r] for r in old_roots if expected_roots[r] != r}


def _blocks(rng: random.Random, count: int) -> list[str]:
    words = [f"name{i}" for i in range(5000)]
    return [" ".join(rng.choices(words, k=40)) for _ in range(count)]


def _outcome(dropped) -> dict:
    return {d.id: (d.metadata["dedup.kept_id"], d.metadata["dedup.cluster"], d.metadata["dedup.match_id"])
            for d in dropped}


def test_a_bridge_after_a_drop_keeps_the_keeper_recorded_at_insertion(tmp_path):
    """b ~ x, then y ~ x and y ~ a: y merges a's cluster with b's. x, inserted before y, keeps keeper b, as
    when x's run came before y's; y gets a."""
    blocks = _blocks(random.Random(5), 15)
    a, b = "\n".join(blocks[0:10]), "\n".join(blocks[5:15])  # J(a, b) 0.33
    x = "\n".join(blocks[4:14])  # J(x, b) 0.82, J(x, a) 0.43
    y = "\n".join(blocks[2:12])  # J(y, a) 0.67, J(y, x) 0.67, J(y, b) 0.54: the bridge
    docs = [make_doc(a, "a"), make_doc(b, "b"), make_doc(x, "x"), make_doc(y, "y")]
    stage = MinhashDedup({"keep": "first", "threshold": 0.6})
    _, one = run_stage(stage, [docs], tmp_path / "one")
    _, first = run_stage(stage, [docs[:3]], tmp_path / "inc", "run-0001")
    _, second = run_stage(stage, [docs[3:]], tmp_path / "inc", "run-0002", ("run-0001",))
    assert _outcome(one) == {**_outcome(first), **_outcome(second)}
    assert {k: v[0] for k, v in _outcome(one).items()} == {"x": "b", "y": "a"}


def _corpus(seed: int, groups: int, copies: int) -> list:
    rng = random.Random(seed)
    docs = []
    for g in range(groups):
        base = _blocks(rng, 12)
        for c in range(copies):
            text = list(base)
            text[rng.randrange(12)] = _blocks(rng, 1)[0]  # one block of twelve replaced: J 0.71-0.85
            docs.append(make_doc("\n".join(text), f"g{g:02d}-c{c}"))
    rng.shuffle(docs)
    return docs


def test_many_runs_keep_the_index_compacted_and_equal_to_one_run(tmp_path, monkeypatch):
    monkeypatch.setattr(index_module, "FANOUT", 2)  # 9 runs: merges up to level 3
    docs = _corpus(7, groups=12, copies=3)
    stage = MinhashDedup({"keep": "first", "threshold": 0.6})
    batches = [docs[i::9] for i in range(9)]
    previous, outcome = [], {}
    for i, batch in enumerate(batches):
        run_id = f"run-{i + 1:04d}"
        _, dropped = run_stage(stage, [batch], tmp_path / "inc", run_id, tuple(previous))
        outcome.update(_outcome(dropped))
        previous.append(run_id)
    store = IndexStore(str(tmp_path / "inc" / "index"))
    parts = store.current().parts
    assert [p.level for p in parts] == [3, 0]  # 9 = 8 + 1 runs
    assert sorted(r for p in parts for r in p.runs) == sorted(previous)
    assert store.current().settings["bands"] == stage.band_layout()[0]
    _, one = run_stage(stage, [[d for batch in batches for d in batch]], tmp_path / "one")
    assert outcome == _outcome(one) and len(outcome) >= 12


def test_many_shards_and_tasks_give_what_one_shard_gives(tmp_path):
    docs = _corpus(11, groups=10, copies=3)
    one = run_stage(MinhashDedup({"keep": "first", "threshold": 0.6}), [docs], tmp_path / "one")
    shards = [docs[i * 3:(i + 1) * 3] for i in range(10)]  # contiguous: the same input order
    many = run_stage(MinhashDedup({"keep": "first", "threshold": 0.6, "bucket_tasks": 3}), shards, tmp_path / "many")
    assert _outcome(one[1]) == _outcome(many[1]) and len(one[1]) >= 10
    assert [d.id for d in one[0]] == [d.id for d in many[0]]


def test_keep_order_across_shards_follows_stars(tmp_path):
    docs = _corpus(13, groups=4, copies=3)
    for i, doc in enumerate(docs):
        doc.metadata["stars"] = (i * 7) % 11
    one = run_stage(MinhashDedup({"threshold": 0.6}), [docs], tmp_path / "one")
    many = run_stage(MinhashDedup({"threshold": 0.6}), [docs[:5], docs[5:9], docs[9:]], tmp_path / "many")
    assert _outcome(one[1]) == _outcome(many[1])
    stars = {d.id: d.metadata["stars"] for d in docs}
    for doc in one[1]:
        assert stars[doc.metadata["dedup.kept_id"]] >= stars[doc.id]


def test_changed_hashing_settings_are_refused(tmp_path):
    docs = _corpus(3, groups=2, copies=2)
    run_stage(MinhashDedup({"keep": "first"}), [docs[:2]], tmp_path, "run-0001")
    with pytest.raises(IndexSettingsError, match="ngram: 5 -> 4"):
        run_stage(MinhashDedup({"keep": "first", "ngram": 4}), [docs[2:]], tmp_path, "run-0002", ("run-0001",))


def test_a_damaged_part_is_refused(tmp_path):
    writer = PartWriter(str(tmp_path / "p.mhp"))
    writer.array("keys", np.arange(10, dtype=np.uint64))
    writer.close({"base": 0})
    assert list(PartFile(str(tmp_path / "p.mhp"))["keys"]) == list(range(10))
    raw = (tmp_path / "p.mhp").read_bytes()
    (tmp_path / "p.mhp").write_bytes(raw[:-5])
    with pytest.raises(ValueError, match="damaged"):
        PartFile(str(tmp_path / "p.mhp"))


def test_a_crash_before_the_snapshot_leaves_a_readable_index_and_the_rerun_completes(tmp_path, monkeypatch):
    """Killed after writing this run's part and its compaction, before staging the snapshot: the committed
    index still reads as before, and running the same run again gives what an uninterrupted run gives."""
    monkeypatch.setattr(index_module, "FANOUT", 2)
    docs = _corpus(17, groups=6, copies=3)
    batches = [docs[i::4] for i in range(4)]
    stage = MinhashDedup({"keep": "first", "threshold": 0.6})
    previous, outcome = [], {}
    for i, batch in enumerate(batches[:3]):
        _, dropped = run_stage(stage, [batch], tmp_path / "inc", f"run-{i + 1:04d}", tuple(previous))
        outcome.update(_outcome(dropped))
        previous.append(f"run-{i + 1:04d}")

    def killed(self, run_id, parts, settings=None):
        raise KeyboardInterrupt("killed")

    with monkeypatch.context() as patch:
        patch.setattr(IndexStore, "stage", killed)
        with pytest.raises(KeyboardInterrupt):
            run_stage(stage, [batches[3]], tmp_path / "inc", "run-0004", tuple(previous))
    store = IndexStore(str(tmp_path / "inc" / "index"))
    assert store.current_run() == "run-0003"  # run-0004 staged nothing
    index = MinHashIndex(store, store.current().parts)
    assert index.size == sum(map(len, batches[:3])) and index.doc_id(0) == batches[0][0].id
    _, dropped = run_stage(stage, [batches[3]], tmp_path / "inc", "run-0004", tuple(previous))
    outcome.update(_outcome(dropped))
    _, one = run_stage(stage, [[d for batch in batches for d in batch]], tmp_path / "one")
    assert outcome == _outcome(one)
