"""Barrier job ``cluster`` (one task): keep order, verification, union-find, drop lists and the index update.

The rule: items are inserted in keep order (earlier runs first). An item is a near-duplicate when it has a
(verified) candidate edge to an item inserted before it; it is then dropped and joins that cluster, whose
keeper is the cluster's earliest item. Clusters are the connected components of the union-find over all
edges, across every shard and every run. Because an item's fate depends only on items before it, running A
then B gives exactly what one run over A+B gives (with the same order rule).
"""

from __future__ import annotations

import numpy as np
from datatrove.pipeline.base import PipelineStep

from curate import atomic_write_bytes
from curate_plugins._minhash.hashing import jaccard
from curate_plugins._minhash.index import (
    MinHashIndex,
    RunFiles,
    copy_file,
    load_json,
    load_npy,
    load_shingles,
    save_json,
    save_npy,
)


class UnionFind:
    """Union-find over global positions; the root of a set is its smallest (earliest) member. Index entries
    start in the cluster the index recorded for them."""

    def __init__(self, index: MinHashIndex, base: int):
        self.index, self.base, self.parent = index, base, {}

    def _add(self, x: int) -> None:
        root = self.index.root(x) if x < self.base else x
        self.parent[x] = root
        self.parent.setdefault(root, root)

    def find(self, x: int) -> int:
        if x not in self.parent:
            self._add(x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def merged_old_roots(self) -> list[tuple[int, int]]:
        return [(x, self.find(x)) for x, p in list(self.parent.items())
                if x < self.base and p == x and self.find(x) != x]


class Batch:
    """This run's items: ids, keep order and (lazily) shingle sets."""

    def __init__(self, work_dir: str, parts: int):
        self.prefixes = [f"{work_dir}/items/{p:05d}" for p in range(parts)]
        metas = [load_json(f"{p}.meta.json") for p in self.prefixes]
        self.sizes = [len(m["ids"]) for m in metas]
        self.starts = np.concatenate(([0], np.cumsum(self.sizes))).astype(np.int64)
        self.ids = [i for m in metas for i in m["ids"]]
        self.members = [x for m in metas for x in m.get("members", [])] or None
        keys = [k for m in metas for k in m["keys"]]
        self.byorder = np.asarray(sorted(range(len(keys)), key=lambda i: (keys[i], i)), dtype=np.int64)
        self.order = np.empty(len(keys), dtype=np.int64)
        self.order[self.byorder] = np.arange(len(keys))
        self._shingles = {}

    def location(self, item: int) -> tuple[int, int]:
        part = int(np.searchsorted(self.starts, item, side="right")) - 1
        return part, item - int(self.starts[part])

    def shingles(self, item: int) -> np.ndarray:
        part, local = self.location(item)
        if part not in self._shingles:
            self._shingles[part] = load_shingles(self.prefixes[part])
        values, offsets = self._shingles[part]
        return np.asarray(values[offsets[local]:offsets[local + 1]])


class ClusterResolver(PipelineStep):
    type = "curate"
    name = "minhash_dedup.cluster"

    def __init__(self, ctx, namespace: str, parts: int, bucket_tasks: int, params):
        super().__init__()
        self.ctx, self.namespace, self.parts = ctx, namespace, parts
        self.bucket_tasks, self.params = bucket_tasks, params

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        batch = Batch(self.ctx.work_dir, self.parts)
        index = MinHashIndex(self.ctx.index_dir, self.namespace, self.ctx.previous_runs)
        base = index.size
        edges = self._edges(batch, base)
        uf = UnionFind(index, base)
        keepers, stats = self._insert(edges, uf, batch, index, base)
        self._write_drops(batch, index, base, keepers)
        self._publish(batch, uf, base, {**stats, "candidates": int(len(edges)), "dropped": len(keepers)})
        return
        yield

    def _edges(self, batch: Batch, base: int) -> np.ndarray:
        """Candidate pairs as unique ``(later, earlier)`` global positions, sorted."""
        pairs = [load_npy(f"{self.ctx.work_dir}/pairs/{t:05d}.npy", mmap=False) for t in range(self.bucket_tasks)]
        pairs = np.concatenate(pairs) if pairs else np.empty((0, 2), dtype=np.int64)
        new = pairs >= 0
        glob = np.where(new, base + batch.order[np.where(new, pairs, 0)], -pairs - 1)
        later, earlier = glob.max(axis=1), glob.min(axis=1)
        edges = np.stack([later, earlier], axis=1)[later != earlier]
        return np.unique(edges, axis=0) if len(edges) else edges.reshape(0, 2)

    def _similarity(self, a: int, b: int, batch: Batch, index: MinHashIndex, base: int) -> float | None:
        """Exact Jaccard of the two shingle sets; None when an earlier run kept no sets (verify was off)."""
        sets = [batch.shingles(int(batch.byorder[x - base])) if x >= base else index.run_of(x).shingles(x)
                for x in (a, b)]
        return None if sets[0] is None else round(jaccard(*sets), 4)

    def _insert(self, edges: np.ndarray, uf: UnionFind, batch: Batch, index: MinHashIndex, base: int):
        """Insert items in order; return {dropped position: (keeper, first matched earlier position, Jaccard)}."""
        keepers: dict[int, tuple] = {}
        rejected = 0
        current, match = None, None
        for later, earlier in edges.tolist():
            if later != current:
                if match is not None:
                    keepers[current] = (uf.find(current), *match)
                current, match = later, None
            if uf.find(earlier) == uf.find(later):
                continue
            similarity = self._similarity(earlier, later, batch, index, base) if self.params.verify else None
            if similarity is not None and similarity < self.params.threshold:
                rejected += 1
                continue
            uf.union(earlier, later)
            match = match or (earlier, similarity)
        if match is not None:
            keepers[current] = (uf.find(current), *match)
        return keepers, {"rejected_by_verification": rejected}

    def _doc_id(self, position: int, batch: Batch, index: MinHashIndex, base: int) -> str:
        if position >= base:
            return batch.ids[int(batch.byorder[position - base])]
        return index.run_of(position).doc_id(position)

    def _write_drops(self, batch: Batch, index: MinHashIndex, base: int, keepers: dict[int, tuple]) -> None:
        drops: list[dict] = [{} for _ in range(self.ctx.tasks)]
        for position, (keeper, match, similarity) in keepers.items():
            item = int(batch.byorder[position - base])
            record = [self._doc_id(keeper, batch, index, base), keeper, self._doc_id(match, batch, index, base),
                      similarity]
            targets = batch.members[item] if batch.members is not None else [batch.location(item)]
            for shard, pos in targets:
                drops[shard][pos] = record
        for shard, listed in enumerate(drops):
            save_json(f"{self.ctx.work_dir}/drops/{shard:05d}.json", {str(k): v for k, v in listed.items()})

    def _publish(self, batch: Batch, uf: UnionFind, base: int, stats: dict) -> None:
        files = RunFiles(self.ctx.index_dir, self.namespace, self.ctx.run_id)
        positions = base + batch.order
        roots = np.asarray([uf.find(int(p)) if int(p) in uf.parent else int(p) for p in positions], dtype=np.int64)
        save_npy(files.path("order.npy"), positions)
        save_npy(files.path("byorder.npy"), batch.byorder)
        encoded = [i.encode("utf-8", "surrogatepass") for i in batch.ids]
        save_npy(files.path("ids.npy"), np.asarray(encoded, dtype=f"S{max(map(len, encoded), default=1) or 1}"))
        save_npy(files.path("roots.npy"), roots)
        save_npy(files.path("merges.npy"), np.asarray(uf.merged_old_roots(), dtype=np.int64).reshape(-1, 2))
        if self.params.verify:
            for part, prefix in enumerate(batch.prefixes):
                for name in ("shingles.bin", "offsets.npy"):
                    copy_file(f"{prefix}.{name}", files.path(f"part-{part:05d}.{name}"))
        meta = {"base": base, "count": len(batch.ids), "parts": batch.sizes, "verify": self.params.verify,
                "stats": stats}
        save_json(files.path("meta.json"), meta)
        save_json(f"{self.ctx.work_dir}/summary.json", meta)
        atomic_write_bytes(files.path("done"), b"")
