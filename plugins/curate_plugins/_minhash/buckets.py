"""Barrier job ``buckets``: LSH banding. Task t owns bands t, t+T, t+2T, ... of every item of the run.

Within a band, the items sharing a key form a bucket, ordered by position (keep order; items of earlier runs
come first). Each item is a candidate pair with the bucket's first item and with its predecessor, which
is enough to connect the bucket and keeps the pair count linear. Against the index, an item that is the
first of the run in its bucket is paired with the first and last earlier-run items of the bucket; a
later one with the first earlier-run item. That is exactly the pairs one run over everything would make,
so incremental runs and a single run find the same clusters.

A band is processed one key range at a time (each shard's keys are sorted per band, so a key range is a slice
of every shard), so memory stays bounded. Writes ``pairs/<p>/<t>-<n>.npy`` (int64 rows ``(earlier, later)``
in global positions, split into the verify job's partitions ``p`` by the later position) and, per band and key
range, this run's sorted ``(keys, positions)`` for its index part (``bands/<t>.mhp``: one file per task, the
sorted runs one after another).
"""

from __future__ import annotations

import numpy as np
from datatrove.pipeline.base import PipelineStep

from curate_plugins._minhash.index import MinHashIndex, key_bounds, key_slice
from curate_plugins._minhash.partfile import PartWriter
from curate_plugins._minhash.run import RunView
from curate_plugins._minhash.work import ShardItems, save_npy

#: Candidate pairs buffered per partition before they are written.
FLUSH_PAIRS = 1 << 20


def batch_pairs(keys: np.ndarray, items: np.ndarray, has_old: np.ndarray) -> np.ndarray:
    """Pairs inside the run for one sorted band: each item with its predecessor, and with the bucket's
    first item unless the bucket has index entries (then the first index entry plays that part)."""
    same = keys[1:] == keys[:-1]
    head_at = np.maximum.accumulate(np.where(np.concatenate(([True], ~same)), np.arange(len(keys)), 0))
    later = items[1:][same]
    chain = np.stack([items[:-1][same], later], axis=1)
    heads = items[head_at[1:][same]]
    star = (heads != items[:-1][same]) & ~has_old[1:][same]
    return np.concatenate([chain, np.stack([heads, later], axis=1)[star]])


def index_pairs(first: np.ndarray, last: np.ndarray, keys: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Pairs with the index for one sorted band: every matched item with the bucket's first index entry, and
    the run's first item of the bucket also with the last index entry (its predecessor)."""
    is_head = np.concatenate(([True], keys[1:] != keys[:-1])) if len(keys) else np.empty(0, dtype=bool)
    matched = first >= 0
    tail = matched & is_head & (last != first)
    return np.concatenate([np.stack([first[matched], items[matched]], axis=1),
                           np.stack([last[tail], items[tail]], axis=1)])


class PairSink:
    """Candidate pairs split by the verify partition of their later position, flushed to files."""

    def __init__(self, work_dir: str, rank: int, view: RunView):
        self.work_dir, self.rank, self.view = work_dir, rank, view
        self.buffers: dict[int, list[np.ndarray]] = {}
        self.sizes: dict[int, int] = {}
        self.files = 0

    def add(self, pairs: np.ndarray) -> None:
        if not len(pairs):
            return
        partition = self.view.partition_of(pairs[:, 1])
        order = np.argsort(partition, kind="stable")
        partition, pairs = partition[order], pairs[order]
        cuts = np.flatnonzero(np.diff(partition)) + 1
        for chunk in np.split(pairs, cuts):
            p = int(self.view.partition_of(chunk[:1, 1])[0])
            self.buffers.setdefault(p, []).append(chunk)
            self.sizes[p] = self.sizes.get(p, 0) + len(chunk)
            if self.sizes[p] >= FLUSH_PAIRS:
                self._flush(p)

    def _flush(self, p: int) -> None:
        self.files += 1
        save_npy(f"{self.work_dir}/pairs/{p:05d}/{self.rank:05d}-{self.files:06d}.npy",
                 np.concatenate(self.buffers.pop(p)).astype(np.int64))
        self.sizes[p] = 0

    def close(self) -> None:
        for p in list(self.buffers):
            self._flush(p)


class BucketMatcher(PipelineStep):
    type = "curate"
    name = "minhash_dedup.buckets"

    def __init__(self, view: RunView, bands: int):
        super().__init__()
        self.view, self.bands = view, bands

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        view = self.view.load()
        shards = [ShardItems(view.work_dir, r, view.verify) for r in range(view.parts)]
        index = view.index()
        sink = PairSink(view.work_dir, rank, view)
        out = PartWriter(f"{view.work_dir}/bands/{rank:05d}.mhp")  # this task's sorted runs, for the index part
        out_keys, out_items, runs = out.section("keys", np.uint64), out.section("items", np.int64), []
        columns = [s.bands() for s in shards]
        total = sum(keys.shape[1] for keys, _ in columns)
        for band in range(rank, self.bands, world_size):
            for lo, hi in key_bounds(total):
                keys, items = self._gather(columns, view.positions, band, lo, hi)
                sink.add(self._pairs(index, keys, items))
                out_keys.append(keys)
                out_items.append(items)
                runs.append(len(keys))
        sink.close()
        out.array("runs", np.asarray(runs, dtype=np.int64))
        out.close({"task": rank})
        return
        yield

    @staticmethod
    def _gather(columns, positions, band: int, lo: int, hi: int | None) -> tuple[np.ndarray, np.ndarray]:
        """This run's keys of one band within one key range, sorted, with their positions ascending."""
        keys, items = [], []
        for rank, (shard_keys, shard_items) in enumerate(columns):
            row = shard_keys[band]
            s = key_slice(row, lo, hi)
            keys.append(np.asarray(row[s]))
            items.append(positions.of_locals(rank, shard_items[band][s]))
        keys = np.concatenate(keys) if keys else np.empty(0, dtype=np.uint64)
        items = np.concatenate(items) if items else np.empty(0, dtype=np.int64)
        order = np.lexsort((items, keys))
        return keys[order], items[order]

    @staticmethod
    def _pairs(index: MinHashIndex, keys: np.ndarray, items: np.ndarray) -> np.ndarray:
        first, last = index.bucket_ends(keys) if index.parts else (np.full(len(keys), -1, dtype=np.int64),) * 2
        return np.concatenate([batch_pairs(keys, items, first >= 0), index_pairs(first, last, keys, items)])
