"""Barrier job ``order`` (one task, keep rules other than ``first``): every item's global position.

Each shard wrote its items' keep keys already sorted (``items/<r>.keys.jsonl``); this job merges the shards'
streams (ties: shard, then line), so it holds one line per shard at a time, and writes ``order/<r>.npy`` (the
position of each local item of shard r) and ``order/all.npy`` (per position, ``shard << 32 | local``),
both filled through memory-mapped files.
"""

from __future__ import annotations

import heapq
import itertools
import os
import tempfile

import numpy as np
import orjson
from datatrove.pipeline.base import PipelineStep

from curate import filesystem
from curate_plugins._minhash.run import RunView
from curate_plugins._minhash.work import publish

BATCH = 1 << 16


def _stream(fs, path: str, shard: int):
    with fs.open(path, "rb") as handle:
        for line in handle:
            key, local = orjson.loads(line)
            yield key, shard, local


class KeepOrder(PipelineStep):
    type = "curate"
    name = "minhash_dedup.order"

    def __init__(self, view: RunView):
        super().__init__()
        self.view = view

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        run = self.view.load()
        streams = []
        for shard in range(run.parts):
            fs, path = filesystem(f"{run.work_dir}/items/{shard:05d}.keys.jsonl")
            streams.append(_stream(fs, path, shard))
        with tempfile.TemporaryDirectory(prefix="mhorder-") as tmp:
            codes = _memmap(tmp, "all", run.positions.total)
            per_shard = [_memmap(tmp, f"{s:05d}", count) for s, count in enumerate(run.counts)]
            offset = 0
            merged = heapq.merge(*streams)
            while batch := list(itertools.islice(merged, BATCH)):
                shards = np.fromiter((s for _, s, _ in batch), dtype=np.int64, count=len(batch))
                locals_ = np.fromiter((x for _, _, x in batch), dtype=np.int64, count=len(batch))
                codes[offset:offset + len(batch)] = (shards << 32) | locals_
                for shard in np.unique(shards).tolist():
                    mine = shards == shard
                    per_shard[shard][locals_[mine]] = run.base + offset + np.flatnonzero(mine)
                offset += len(batch)
            for name, array in [("all", codes)] + [(f"{s:05d}", a) for s, a in enumerate(per_shard)]:
                publish(array, f"{run.work_dir}/order/{name}.npy")
        return
        yield


def _memmap(folder: str, name: str, count: int) -> np.ndarray:
    if count == 0:
        return np.empty(0, dtype=np.int64)
    return np.lib.format.open_memmap(os.path.join(folder, f"{name}.npy"), mode="w+", dtype=np.int64,
                                     shape=(count,))
