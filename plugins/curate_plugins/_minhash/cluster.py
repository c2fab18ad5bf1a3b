"""Barrier job ``cluster`` (one task, bounded memory): clusters, drop lists, this run's index part, compaction.

The rule: items are inserted in keep order (earlier runs first). An item is a near-duplicate when it has an
accepted candidate edge to an item inserted before it (the ``verify`` job found its *match*); it is dropped and
joins that cluster, whose keeper is the cluster's earliest item. Clusters are the connected components of all
accepted edges across every shard and every run (``components.py``, in external memory). Because an item's
fate depends only on the items before it, running A then B gives exactly what one run over A+B gives.

Writes, in this order (every file atomically, so a retried task just writes them again): ``drops/<r>.npy``
(``local, keeper, match, similarity × 10⁴`` rows of shard r), this run's index part and the compacted parts,
then the run's snapshot (``IndexStore.stage``), which the runner commits when the whole run succeeds.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
from datatrove.pipeline.base import PipelineStep

from curate import IndexPart
from curate_plugins._minhash.components import CHUNK, Components
from curate_plugins._minhash.index import PartContent, compact, key_slice, merged_chunks
from curate_plugins._minhash.partfile import PartFile
from curate_plugins._minhash.run import LoadedRun, RunView
from curate_plugins._minhash.work import ShardItems, load_json, load_npy, save_json, save_npy


def _edge_files(run: LoadedRun) -> list[np.ndarray]:
    return [load_npy(f"{run.work_dir}/edges/{p:05d}.npy") for p in range(run.partitions)]


def _old_keepers(run: LoadedRun, files: list[np.ndarray]) -> np.ndarray:
    """The distinct keepers of the earlier entries this run's edges touch (sorted)."""
    found = []
    for edges in files:
        for start in range(0, len(edges), CHUNK):
            earlier = np.asarray(edges[start:start + CHUNK, 0])
            old = earlier[earlier < run.base]
            if len(old):
                found.append(np.unique(run.index().roots(np.unique(old))))
    return np.unique(np.concatenate(found)) if found else np.empty(0, dtype=np.int64)


class ClusterResolver(PipelineStep):
    type = "curate"
    name = "minhash_dedup.cluster"

    def __init__(self, view: RunView, bucket_tasks: int):
        super().__init__()
        self.view, self.bucket_tasks = view, bucket_tasks

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        run = self.view.load()
        files = _edge_files(run)
        with tempfile.TemporaryDirectory(prefix="mhcc-") as folder:
            components = Components(folder, run.base, run.positions.total, _old_keepers(run, files))
            edge_folder = tempfile.mkdtemp(dir=folder)
            compressed = self._compress_edges(run, files, components, edge_folder)
            def chunks():
                return (np.asarray(c[s:s + CHUNK]) for c in compressed for s in range(0, len(c), CHUNK))

            rounds = components.solve(chunks)
            keepers = components.insertion_keepers(chunks, folder)
            dropped = self._write_drops(run, keepers, folder)
            parts = self._write_index(run, components)
        stats = [load_json(f"{run.work_dir}/stats/{p:05d}.json") for p in range(run.partitions)]
        summary = {"items": run.positions.total, "base": run.base, "dropped": dropped, "rounds": rounds,
                   "candidates": sum(s["candidates"] for s in stats),
                   "rejected_by_verification": sum(s["rejected_by_verification"] for s in stats),
                   "index_parts": len(parts), "index_bytes": sum(p.nbytes for p in parts)}
        save_json(f"{run.work_dir}/summary.json", summary)
        run.store.stage(run.run_id, parts, run.settings)
        return
        yield

    @staticmethod
    def _compress_edges(run: LoadedRun, files, components: Components, folder: str) -> list[np.ndarray]:
        """The edges as node ids, in memory-mapped files."""
        out = []
        for i, edges in enumerate(files):
            if not len(edges):
                continue
            nodes = np.lib.format.open_memmap(f"{folder}/{i}.npy", mode="w+", dtype=np.int64, shape=edges.shape)
            for start in range(0, len(edges), CHUNK):
                chunk = np.asarray(edges[start:start + CHUNK])
                earlier = chunk[:, 0]
                keepers = np.zeros(len(earlier), dtype=np.int64)
                old = earlier < run.base
                if old.any():
                    keepers[old] = run.index().roots(earlier[old])
                nodes[start:start + len(chunk), 0] = components.node(earlier, keepers)
                nodes[start:start + len(chunk), 1] = components.node(chunk[:, 1], chunk[:, 1])
            out.append(nodes)
        return out

    @staticmethod
    def _write_drops(run: LoadedRun, keepers: np.ndarray, folder: str) -> int:
        """Per shard, the dropped items: ``local, keeper, match, similarity × 10⁴``. Partition by partition,
        spilled per shard to local files a million rows at a time, so memory holds one partition's matches."""
        spill, buffered, dropped = {}, 0, 0

        def flush():
            for shard, chunks in spill.items():
                with open(os.path.join(folder, f"drops-{shard}.bin"), "ab") as handle:
                    handle.write(np.ascontiguousarray(np.concatenate(chunks)).tobytes())
            spill.clear()

        for p in range(run.partitions):
            matches = load_npy(f"{run.work_dir}/matches/{p:05d}.npy", mmap=False).reshape(-1, 3)
            shards, locals_ = run.positions.locate(matches[:, 0])
            rows = np.stack([locals_, np.asarray(keepers[matches[:, 0] - run.base]), matches[:, 1], matches[:, 2]],
                            axis=1)
            order = np.argsort(shards, kind="stable")
            shards, rows = shards[order], rows[order]
            for cut in np.split(np.arange(len(rows)), np.flatnonzero(np.diff(shards)) + 1):
                if len(cut):
                    spill.setdefault(int(shards[cut[0]]), []).append(rows[cut])
            buffered, dropped = buffered + len(rows), dropped + len(rows)
            if buffered >= CHUNK:
                flush()
                buffered = 0
        flush()
        for shard in range(run.parts):
            path = os.path.join(folder, f"drops-{shard}.bin")
            rows = np.fromfile(path, dtype=np.int64) if os.path.exists(path) else np.empty(0, dtype=np.int64)
            rows = rows.reshape(-1, 4)
            save_npy(f"{run.work_dir}/drops/{shard:05d}.npy", rows[np.argsort(rows[:, 0], kind="stable")])
        return dropped

    def _write_index(self, run: LoadedRun, components: Components) -> list[IndexPart]:
        """This run's part (level 0), then compaction; returns the parts of the run's snapshot."""
        count = run.positions.total
        if not count:
            return run.committed
        name = f"{run.run_id}-L0.mhp"
        sources = self._band_sources(run, self.bucket_tasks)
        entries = sum(len(keys) for keys, _ in sources)
        shards = [ShardItems(run.work_dir, r, run.verify) for r in range(run.parts)]
        content = PartContent(run.base, count, [run.run_id], 0, run.verify)
        nbytes = content.write(
            run.store.part_path(name),
            merged_chunks([_slicer(keys, items) for keys, items in sources], entries),
            _in_position_order(run, shards, "ids"), components.keeper_of_items(),
            _in_position_order(run, shards, "sketch") if run.verify else None, components.merges())
        part = IndexPart(name, (run.run_id,), level=0, entries=entries, nbytes=nbytes,
                         meta={"base": run.base, "count": count})
        return compact(run.store, [*run.committed, part], run.run_id)

    @staticmethod
    def _band_sources(run: LoadedRun, tasks: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """The sorted runs of (keys, positions) the buckets tasks wrote."""
        sources = []
        for task in range(tasks):
            part = PartFile(f"{run.work_dir}/bands/{task:05d}.mhp")
            ends = np.cumsum(np.asarray(part["runs"], dtype=np.int64))
            for start, stop in zip(np.concatenate(([0], ends[:-1])).tolist(), ends.tolist()):
                sources.append((part["keys"][start:stop], part["items"][start:stop]))
        return sources


def _slicer(keys: np.ndarray, items: np.ndarray):
    def source(lo: int, hi: int | None) -> tuple[np.ndarray, np.ndarray]:
        s = key_slice(keys, lo, hi)
        return np.asarray(keys[s]), np.asarray(items[s], dtype=np.int64)

    return source


def _in_position_order(run: LoadedRun, shards: list[ShardItems], name: str):
    """``(values, lengths)`` chunks of a per-item blob (``ids`` or ``sketch``) in position order."""
    getter = (lambda s: s.ids()) if name == "ids" else (lambda s: s.sketches())
    if not run.positions.ordered:
        for shard in shards:
            values, offsets = getter(shard)
            offsets = np.asarray(offsets, dtype=np.int64)
            for start in range(0, shard.count, CHUNK):
                stop = min(start + CHUNK, shard.count)
                yield np.asarray(values[offsets[start]:offsets[stop]]), np.diff(offsets[start:stop + 1])
        return
    total = run.positions.total
    for start in range(0, total, CHUNK):
        positions = run.base + np.arange(start, min(start + CHUNK, total), dtype=np.int64)
        which, locals_ = run.positions.locate(positions)
        pieces = []
        for shard, local in zip(which.tolist(), locals_.tolist()):
            values, offsets = getter(shards[shard])
            pieces.append(np.asarray(values[offsets[local]:offsets[local + 1]]))
        lengths = np.asarray([len(p) for p in pieces], dtype=np.int64)
        yield (np.concatenate(pieces) if pieces else np.empty(0)), lengths

