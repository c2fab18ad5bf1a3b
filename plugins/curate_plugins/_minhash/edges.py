"""Barrier job ``verify``: candidate pairs -> near-duplicate edges, one partition of later positions per task.

The rule of the stage: an item is a near-duplicate when it has an accepted candidate edge to an item before it
in keep order; it then joins that item's cluster. So each candidate pair is decided on its own, and for each
later item the job records its *match*: the earliest item it has an accepted edge to. Clusters (the
connected components of all accepted edges) are the ``cluster`` job's work.

Task p reads the pairs whose later item falls in partition p, removes repeats, verifies them with the items'
sketches (``verify.py``) and writes ``edges/<p>.npy`` (accepted ``(earlier, later)`` rows), ``matches/<p>.npy``
(``later, earlier, similarity × 10⁴`` per dropped item, similarity -1 when unverified) and ``stats/<p>.json``.
Memory: the partition's pairs and the sketches of one later item and its partners at a time.
"""

from __future__ import annotations

import numpy as np
from datatrove.pipeline.base import PipelineStep

from curate import filesystem
from curate_plugins._minhash.run import LoadedRun, RunView
from curate_plugins._minhash.verify import accepts, similarity
from curate_plugins._minhash.work import ShardItems, load_npy, save_json, save_npy

#: Sketches of earlier items kept between checks (bucket heads are partners of many items).
CACHE = 4096
PAIRS_PER_CHUNK = 65_536


def unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """Distinct ``(earlier, later)`` rows with earlier != later, sorted by later, then earlier."""
    if not len(pairs):
        return pairs.reshape(0, 2)
    earlier, later = pairs.min(axis=1), pairs.max(axis=1)
    order = np.lexsort((earlier, later))
    earlier, later = earlier[order], later[order]
    keep = np.concatenate(([True], (earlier[1:] != earlier[:-1]) | (later[1:] != later[:-1]))) & (earlier != later)
    return np.stack([earlier[keep], later[keep]], axis=1)


def read_pairs(work_dir: str, partition: int) -> np.ndarray:
    fs, folder = filesystem(f"{work_dir}/pairs/{partition:05d}")
    names = sorted(fs.ls(folder, detail=False)) if fs.exists(folder) else []
    chunks = [load_npy(f"{work_dir}/pairs/{partition:05d}/{n.rsplit('/', 1)[-1]}", mmap=False)
              for n in names if n.endswith(".npy")]
    return unique_pairs(np.concatenate(chunks)) if chunks else np.empty((0, 2), dtype=np.int64)


class Sketches:
    """Verification sketches by global position: this run's from its shard files, earlier runs' from the
    index (None for entries of runs that did not verify)."""

    def __init__(self, run: LoadedRun):
        self.run = run
        self.shards = [ShardItems(run.work_dir, r, run.verify) for r in range(run.parts)]
        self.cache: dict[int, np.ndarray | None] = {}
        # this run's positions of the current partition, sorted, with their shard and local item: three arrays
        # (24 bytes per item), not a dict (about 1 KB per item measured), so a partition's memory stays small
        self.located = self.shard_of = self.local_of = np.empty(0, np.int64)

    def locate(self, positions: np.ndarray) -> None:
        """Find the shard and local item of this run's positions at once (one vectorised lookup)."""
        self.located = np.unique(positions[positions >= self.run.base])
        self.shard_of, self.local_of = self.run.positions.locate(self.located)

    def __call__(self, position: int) -> np.ndarray | None:
        if position in self.cache:
            return self.cache[position]
        if position >= self.run.base:
            i = int(np.searchsorted(self.located, position))
            value = self.shards[int(self.shard_of[i])].sketch(int(self.local_of[i]))
        else:
            value = self.run.index().sketch(position)
        if len(self.cache) >= CACHE:
            self.cache.pop(next(iter(self.cache)))
        self.cache[position] = value
        return value


class EdgeVerifier(PipelineStep):
    type = "curate"
    name = "minhash_dedup.verify"

    def __init__(self, view: RunView, threshold: float, sketch_size: int):
        super().__init__()
        self.view, self.threshold, self.sketch_size = view, threshold, sketch_size

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        run = self.view.load()
        sketches = Sketches(run) if run.verify else None
        for partition in range(rank, run.partitions, world_size):
            pairs = read_pairs(run.work_dir, partition)
            accepted, scores = self._decide(pairs, sketches)
            edges = pairs[accepted]
            save_npy(f"{run.work_dir}/edges/{partition:05d}.npy", edges)
            first = np.concatenate(([True], edges[1:, 1] != edges[:-1, 1])) if len(edges) else np.empty(0, bool)
            matches = np.stack([edges[first, 1], edges[first, 0], scores[accepted][first]], axis=1)
            save_npy(f"{run.work_dir}/matches/{partition:05d}.npy", matches.astype(np.int64))
            save_json(f"{run.work_dir}/stats/{partition:05d}.json",
                      {"candidates": len(pairs), "rejected_by_verification": int(len(pairs) - len(edges))})
        return
        yield

    def _decide(self, pairs: np.ndarray, sketches: Sketches | None) -> tuple[np.ndarray, np.ndarray]:
        """Per pair: accepted, and its similarity × 10⁴ (-1: not verified)."""
        accepted = np.ones(len(pairs), dtype=bool)
        scores = np.full(len(pairs), -1, dtype=np.int64)
        if sketches is None:
            return accepted, scores
        k = self.sketch_size
        sketches.locate(pairs.reshape(-1))
        for start in range(0, len(pairs), PAIRS_PER_CHUNK):  # Python ints for a chunk at a time only
            for i, (earlier, later) in enumerate(pairs[start:start + PAIRS_PER_CHUNK].tolist(), start):
                a, b = sketches(earlier), sketches(later)
                if a is None or b is None:  # an entry of a run without verification: LSH decides
                    continue
                estimate, exact = similarity(a, b, k)
                accepted[i] = accepts(estimate, exact, self.threshold, k)
                scores[i] = round(estimate * 10_000)
        return accepted, scores
