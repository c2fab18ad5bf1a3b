"""Map side of ``minhash_dedup``: per shard, shingle and sign every document and write the results to files.

File level writes ``items/<rank>.*`` (one item per document): LSH band keys, keep keys, ids and, when
verification is on, the shingle sets. Repository level writes ``files/<rank>.*`` with the full signatures
instead; the ``group`` barrier job turns them into one item per repository (the MinHash of a union of sets
is the element-wise minimum of their signatures).
"""

from __future__ import annotations

import numpy as np
from datatrove.pipeline.base import PipelineStep

from curate_plugins._minhash.hashing import Signer, band_keys, shingle_hashes, shingle_set
from curate_plugins._minhash.index import ShingleWriter, save_json, save_npy
from curate_plugins._minhash.keep import keep_key

BATCH = 256


class ShardSignatures:
    """What one shard's documents produced: band keys or signatures (small) accumulated batch by batch,
    shingle sets (large) streamed to disk."""

    def __init__(self, prefix: str, verify: bool):
        self.prefix = prefix
        self.matrices = []
        self.ids, self.keys, self.repos, self.sizes = [], [], [], []
        self.shingles = ShingleWriter(prefix) if verify else None

    def write(self, matrix_name: str, num_columns: int, dtype) -> None:
        matrix = np.concatenate(self.matrices) if self.matrices else np.empty((0, num_columns), dtype=dtype)
        save_npy(f"{self.prefix}.{matrix_name}.npy", matrix)
        if self.shingles is not None:
            self.shingles.close()
        save_json(f"{self.prefix}.meta.json", {"ids": self.ids, "keys": self.keys, "repos": self.repos,
                                               "n_shingles": self.sizes})


class SignatureWriter(PipelineStep):
    """Per shard, before the barrier: signatures (or band keys) of every document; documents pass through."""

    type = "curate"
    name = "minhash_dedup.sign"

    def __init__(self, work_dir: str, params, bands: int, rows: int):
        super().__init__()
        self.work_dir, self.params, self.bands, self.rows = work_dir, params, bands, rows

    def run(self, data, rank: int = 0, world_size: int = 1):
        folder = "items" if self.params.level == "file" else "files"
        out = ShardSignatures(f"{self.work_dir}/{folder}/{rank:05d}", self.params.verify)
        batch = []
        for doc in data or ():
            batch.append(doc)
            if len(batch) == BATCH:
                self._sign(batch, out)
                batch = []
            yield doc
        if batch:
            self._sign(batch, out)
        if self.params.level == "file":
            out.write("bands", self.bands, np.uint64)
        else:
            out.write("sigs", self.params.num_perm, np.uint32)

    def _sign(self, docs: list, out: ShardSignatures) -> None:
        p = self.params
        sets = [(shingle_set if p.verify else shingle_hashes)(doc.text, p.ngram) for doc in docs]
        signatures = Signer(p.num_perm, p.seed).signatures(sets)
        out.matrices.append(band_keys(signatures, self.bands, self.rows) if p.level == "file" else signatures)
        if out.shingles is not None:
            for shingles in sets:
                out.shingles.add(shingles)
        for doc, shingles in zip(docs, sets):
            repo = str(doc.metadata.get(p.repo_key) or "")
            out.ids.append(doc.id)
            out.repos.append(repo)
            out.sizes.append(len(shingles))
            meta = {**doc.metadata, "path": repo} if p.level == "repo" else doc.metadata
            out.keys.append(keep_key(meta, repo if p.level == "repo" else doc.id, p.keep, p.keep_key))
