"""Repository level: one item per repository, whose signature is the minimum of its files' signatures."""

from __future__ import annotations

import numpy as np
from datatrove.pipeline.base import PipelineStep

from curate_plugins._minhash.hashing import band_keys, sorted_unique
from curate_plugins._minhash.index import ShingleWriter, load_json, load_npy, load_shingles, save_json, save_npy
from curate_plugins._minhash.keep import combine


class RepoGrouper(PipelineStep):
    """One task: reads every shard's file signatures and writes ``items/00000.*``, repositories in order of
    first appearance (shard, then position). Files without a repository name form one item each."""

    type = "curate"
    name = "minhash_dedup.group"

    def __init__(self, work_dir: str, tasks: int, params, bands: int, rows: int):
        super().__init__()
        self.work_dir, self.tasks, self.params, self.bands, self.rows = work_dir, tasks, params, bands, rows

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        prefixes = [f"{self.work_dir}/files/{r:05d}" for r in range(self.tasks)]
        metas = [load_json(f"{p}.meta.json") for p in prefixes]
        groups: dict[str, list[tuple[int, int]]] = {}
        for r, meta in enumerate(metas):
            for pos, (repo, doc_id) in enumerate(zip(meta["repos"], meta["ids"])):
                groups.setdefault(repo or f"\0{doc_id}", []).append((r, pos))
        sigs = [load_npy(f"{p}.sigs.npy") for p in prefixes]
        shingle_files = [load_shingles(p) for p in prefixes] if self.params.verify else []
        prefix = f"{self.work_dir}/items/00000"
        shingles = ShingleWriter(prefix) if self.params.verify else None
        names, members, keys, sizes, matrix = [], [], [], [], []
        for name, files in groups.items():  # dicts keep insertion order: first appearance
            names.append(name.lstrip("\0"))
            members.append(files)
            keys.append(combine([metas[r]["keys"][pos] for r, pos in files]))
            sizes.append(sum(metas[r]["n_shingles"][pos] for r, pos in files))
            matrix.append(np.minimum.reduce([sigs[r][pos] for r, pos in files]))
            if shingles is not None:
                shingles.add(self._union(shingle_files, files))
        signatures = np.stack(matrix) if matrix else np.empty((0, self.params.num_perm), dtype=np.uint32)
        save_npy(f"{prefix}.bands.npy", band_keys(signatures, self.bands, self.rows))
        if shingles is not None:
            shingles.close()
        save_json(f"{prefix}.meta.json", {"ids": names, "keys": keys, "n_shingles": sizes, "members": members})
        return
        yield

    @staticmethod
    def _union(shingle_files: list, files: list[tuple[int, int]]) -> np.ndarray:
        parts = []
        for r, pos in files:
            values, offsets = shingle_files[r]
            parts.append(np.asarray(values[offsets[pos]:offsets[pos + 1]]))
        return sorted_unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.uint64)
