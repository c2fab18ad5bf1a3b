"""Barrier job ``buckets``: LSH banding. Task t owns bands t, t+T, t+2T, ... of every item of the batch.

Within a band, the items sharing a key form a bucket, ordered by item number (input order; items of earlier
runs come first). Each item is a candidate pair with the bucket's first item and with its predecessor, which
is enough to connect the bucket and keeps the pair count linear. Against the index, an item that is the
first of the batch in its bucket is paired with the first and last earlier-run items of the bucket; a
later one with the first earlier-run item. That is exactly the pairs one run over everything would make,
so incremental runs and a single run find the same clusters.

Writes ``pairs/<t>.npy`` (int64 rows ``(earlier, later)``; a negative value ``-(p + 1)`` is the index entry
at global position ``p``) and, per band, this run's sorted keys into the index (published later by
``cluster``). Only one band of the batch is in memory at a time.
"""

from __future__ import annotations

import numpy as np
from datatrove.pipeline.base import PipelineStep

from curate_plugins._minhash.index import MinHashIndex, RunFiles, load_json, load_npy, save_npy


def sort_band(keys: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One band's keys sorted, items ascending within a bucket."""
    order = np.argsort(keys, kind="stable")
    return keys[order], items[order]


def batch_pairs(keys: np.ndarray, items: np.ndarray, has_old: np.ndarray) -> np.ndarray:
    """Pairs inside the batch for one sorted band: each item with its predecessor, and with the bucket's
    first item unless the bucket has index entries (then the first index entry plays that part)."""
    same = keys[1:] == keys[:-1]
    head_at = np.maximum.accumulate(np.where(np.concatenate(([True], ~same)), np.arange(len(keys)), 0))
    later = items[1:][same]
    chain = np.stack([items[:-1][same], later], axis=1)
    heads = items[head_at[1:][same]]
    star = (heads != items[:-1][same]) & ~has_old[1:][same]
    return np.concatenate([chain, np.stack([heads, later], axis=1)[star]])


def old_bucket_ends(index: MinHashIndex, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Global positions of the first and last index entries sharing each key (-1 where none)."""
    first = np.full(len(keys), -1, dtype=np.int64)
    last = np.full(len(keys), -1, dtype=np.int64)
    for run in index.runs:
        for old_keys, old_items in run.bands():
            lo = np.searchsorted(old_keys, keys, side="left")
            hi = np.searchsorted(old_keys, keys, side="right")
            found = np.flatnonzero(hi > lo)
            if not len(found):
                continue
            head = np.asarray(run.order)[np.asarray(old_items)[lo[found]]]
            tail = np.asarray(run.order)[np.asarray(old_items)[hi[found] - 1]]
            unset = first[found] < 0
            first[found[unset]] = head[unset]
            last[found] = tail
    return first, last


def index_pairs(first: np.ndarray, last: np.ndarray, keys: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Pairs with the index for one sorted band: every matched item with the bucket's first index entry, and
    the batch's first item of the bucket also with the last index entry (its predecessor)."""
    is_head = np.concatenate(([True], keys[1:] != keys[:-1])) if len(keys) else np.empty(0, dtype=bool)
    matched = first >= 0
    tail = matched & is_head & (last != first)
    return np.concatenate([np.stack([-(first[matched] + 1), items[matched]], axis=1),
                           np.stack([-(last[tail] + 1), items[tail]], axis=1)])


class BucketMatcher(PipelineStep):
    type = "curate"
    name = "minhash_dedup.buckets"

    def __init__(self, ctx, namespace: str, parts: int, bands: int):
        super().__init__()
        self.ctx, self.namespace, self.parts, self.bands = ctx, namespace, parts, bands

    def _load(self) -> tuple[list[np.ndarray], np.ndarray]:
        prefixes = [f"{self.ctx.work_dir}/items/{p:05d}" for p in range(self.parts)]
        matrices = [load_npy(f"{p}.bands.npy") for p in prefixes]
        sizes = np.concatenate([np.asarray(load_json(f"{p}.meta.json")["n_shingles"], dtype=np.int64)
                                for p in prefixes]) if prefixes else np.empty(0, dtype=np.int64)
        return matrices, np.flatnonzero(sizes > 0)  # items without any token are never matched

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        matrices, signed = self._load()
        index = MinHashIndex(self.ctx.index_dir, self.namespace, self.ctx.previous_runs)
        files = RunFiles(self.ctx.index_dir, self.namespace, self.ctx.run_id)
        all_pairs = []
        for band in range(rank, self.bands, world_size):  # one band in memory at a time
            column = np.concatenate([np.asarray(m[:, band]) for m in matrices])[signed]
            keys, items = sort_band(column, signed)
            first, last = old_bucket_ends(index, keys)
            all_pairs += [batch_pairs(keys, items, first >= 0), index_pairs(first, last, keys, items)]
            save_npy(files.path(f"bands-{band:05d}.items.npy"), items)
            save_npy(files.path(f"bands-{band:05d}.keys.npy"), keys)
        pairs = np.concatenate(all_pairs) if all_pairs else np.empty((0, 2), dtype=np.int64)
        save_npy(f"{self.ctx.work_dir}/pairs/{rank:05d}.npy", pairs.astype(np.int64))
        return
        yield
