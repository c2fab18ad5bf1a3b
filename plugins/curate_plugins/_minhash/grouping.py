"""Repository level: one item per repository, whose signature is the minimum of its files' signatures and
whose sketch is the bottom-k of its files' sketches (the MinHash and the bottom-k sketch of a union)."""

from __future__ import annotations

import numpy as np
from datatrove.pipeline.base import PipelineStep

from curate_plugins._minhash.hashing import band_keys, sorted_unique
from curate_plugins._minhash.keep import combine
from curate_plugins._minhash.signing import ShardWriter, write_bands
from curate_plugins._minhash.work import load_json, load_npy, load_raw, save_npy


class RepoGrouper(PipelineStep):
    """One task: reads every shard's file signatures and writes ``items/00000.*``, repositories in order of
    first appearance (shard, then position), and ``group/<r>.npy``: the repository item of each file of shard
    r. Files without a repository name form one item each. Holds one entry per file (a repository must arrive
    whole in one run)."""

    type = "curate"
    name = "minhash_dedup.group"

    def __init__(self, work_dir: str, tasks: int, params, bands: int, rows: int):
        super().__init__()
        self.work_dir, self.tasks, self.params, self.bands, self.rows = work_dir, tasks, params, bands, rows

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        p = self.params
        prefixes = [f"{self.work_dir}/files/{r:05d}" for r in range(self.tasks)]
        infos = [load_json(f"{x}.repos.json") for x in prefixes]
        ids = [(load_raw(f"{x}.ids.bin", np.uint8), load_npy(f"{x}.ids_off.npy", mmap=False)) for x in prefixes]
        groups: dict[str, list[tuple[int, int]]] = {}
        for r, info in enumerate(infos):
            for pos, repo in enumerate(info["repos"]):
                name = repo or "\0" + bytes(ids[r][0][ids[r][1][pos]:ids[r][1][pos + 1]]).decode("utf-8",
                                                                                                   "surrogatepass")
                groups.setdefault(name, []).append((r, pos))
        sigs = [load_npy(f"{x}.sigs.npy") for x in prefixes]
        sizes = [load_npy(f"{x}.sizes.npy") for x in prefixes]
        sketches = [(load_raw(f"{x}.sketch.bin", np.uint32), load_npy(f"{x}.sketch_off.npy", mmap=False))
                    for x in prefixes] if p.verify else []
        out = ShardWriter(f"{self.work_dir}/items/00000", p.verify)
        member_of = [np.zeros(len(info["repos"]), dtype=np.int64) for info in infos]
        matrix = []
        for item, (name, files) in enumerate(groups.items()):  # dicts keep insertion order: first appearance
            out.ids.add(name.lstrip("\0").encode("utf-8", "surrogatepass"))
            out.keys.append(combine([infos[r]["keys"][pos] for r, pos in files]))
            out.sizes.append(sum(int(sizes[r][pos]) for r, pos in files))
            matrix.append(np.minimum.reduce([np.asarray(sigs[r][pos]) for r, pos in files]))
            if out.sketches is not None:
                out.sketches.add(self._union(sketches, files, p.sketch_size))
            for r, pos in files:
                member_of[r][pos] = item
        signatures = np.stack(matrix) if matrix else np.empty((0, p.num_perm), dtype=np.uint32)
        write_bands(out.prefix, band_keys(signatures, self.bands, self.rows),
                    np.flatnonzero(np.asarray(out.sizes, dtype=np.int64) > 0))
        for r, members in enumerate(member_of):
            save_npy(f"{self.work_dir}/group/{r:05d}.npy", members)
        out.close(ordered=p.keep != "first")
        return
        yield

    @staticmethod
    def _union(sketches: list, files: list[tuple[int, int]], k: int) -> np.ndarray:
        parts = []
        for r, pos in files:
            values, offsets = sketches[r]
            parts.append(np.asarray(values[offsets[pos]:offsets[pos + 1]]))
        return sorted_unique(np.concatenate(parts))[:k] if parts else np.empty(0, dtype=np.uint32)
