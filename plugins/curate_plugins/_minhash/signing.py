"""Map side of ``minhash_dedup``: per shard, shingle and sign every document and write the results to files.

File level writes ``items/<rank>.*`` (one item per document, see ``work.py``). Repository level writes
``files/<rank>.*`` instead: full signatures, sketches, ids, repository names and keep keys per file; the
``group`` barrier job turns them into one item per repository (the MinHash of a union of sets is the
element-wise minimum of their signatures, and the bottom-k sketch of a union is the bottom-k of the union of
the sketches).
"""

from __future__ import annotations

import numpy as np
import orjson
from datatrove.pipeline.base import PipelineStep

from curate import AtomicFile
from curate_plugins._minhash.hashing import Signer, band_keys, batch_shingles
from curate_plugins._minhash.keep import keep_key
from curate_plugins._minhash.verify import sketch
from curate_plugins._minhash.work import Blobs, save_json, save_npy

#: A batch is hashed at once: at most this many documents and about this many bytes (its arrays stay in cache).
BATCH_DOCS, BATCH_BYTES = 256, 1 << 18


def write_bands(prefix: str, keys: np.ndarray, signed: np.ndarray) -> None:
    """``(items × bands)`` band keys of one shard, stored band-major and sorted within each band, for the items
    in ``signed`` (those with at least one shingle)."""
    keys = keys[signed]
    order = np.argsort(keys, axis=0, kind="stable")
    save_npy(f"{prefix}.bands.npy", np.take_along_axis(keys, order, axis=0).T)
    save_npy(f"{prefix}.band_items.npy", signed.astype(np.uint32)[order].T)


def write_keys(prefix: str, keys: list[list]) -> None:
    """Keep keys in keep order, each with its local item (ties: input order)."""
    order = sorted(range(len(keys)), key=lambda i: (keys[i], i))
    out = AtomicFile(f"{prefix}.keys.jsonl")
    out.handle.writelines(orjson.dumps([keys[i], i]) + b"\n" for i in order)
    out.commit()


class ShardWriter:
    """What one shard's documents produced, batch by batch: band keys or signatures (small) kept until the
    end, sketches and ids streamed to disk."""

    def __init__(self, prefix: str, verify: bool):
        self.prefix, self.matrices, self.sizes, self.keys, self.repos = prefix, [], [], [], []
        self.sketches = Blobs(f"{prefix}.sketch.bin", f"{prefix}.sketch_off.npy", np.uint32) if verify else None
        self.ids = Blobs(f"{prefix}.ids.bin", f"{prefix}.ids_off.npy", np.uint8)

    def matrix(self, columns: int, dtype) -> np.ndarray:
        return np.concatenate(self.matrices) if self.matrices else np.empty((0, columns), dtype=dtype)

    def close(self, ordered: bool) -> None:
        if self.sketches is not None:
            self.sketches.close()
        self.ids.close()
        if ordered:
            write_keys(self.prefix, self.keys)
        save_json(f"{self.prefix}.meta.json", {"count": len(self.sizes)})


class SignatureWriter(PipelineStep):
    """Per shard, before the barrier: band keys (or signatures) and sketches of every document; documents
    pass through unchanged."""

    type = "curate"
    name = "minhash_dedup.sign"

    def __init__(self, work_dir: str, params, bands: int, rows: int):
        super().__init__()
        self.work_dir, self.params, self.bands, self.rows = work_dir, params, bands, rows

    def run(self, data, rank: int = 0, world_size: int = 1):
        file_level = self.params.level == "file"
        out = ShardWriter(f"{self.work_dir}/{'items' if file_level else 'files'}/{rank:05d}", self.params.verify)
        batch, size = [], 0
        for doc in data or ():
            batch.append(doc)
            size += len(doc.text)
            if len(batch) == BATCH_DOCS or size >= BATCH_BYTES:
                self._sign(batch, out)
                batch, size = [], 0
            yield doc
        if batch:
            self._sign(batch, out)
        sizes = np.asarray(out.sizes, dtype=np.int64)
        if file_level:
            write_bands(out.prefix, out.matrix(self.bands, np.uint64), np.flatnonzero(sizes > 0))
        else:
            save_npy(f"{out.prefix}.sigs.npy", out.matrix(self.params.num_perm, np.uint32))
            save_npy(f"{out.prefix}.sizes.npy", sizes)
            save_json(f"{out.prefix}.repos.json", {"repos": out.repos, "keys": out.keys})
        out.close(ordered=file_level and self.params.keep != "first")

    def _sign(self, docs: list, out: ShardWriter) -> None:
        p = self.params
        hashes, offsets = batch_shingles([doc.text for doc in docs], p.ngram)
        signatures = Signer(p.num_perm, p.seed).signatures_flat(hashes, offsets)
        out.matrices.append(band_keys(signatures, self.bands, self.rows) if p.level == "file" else signatures)
        bounds = offsets.tolist()
        for i, doc in enumerate(docs):
            if out.sketches is not None:
                out.sketches.add(sketch(hashes[bounds[i]:bounds[i + 1]], p.sketch_size))
            out.ids.add(doc.id.encode("utf-8", "surrogatepass"))
            out.sizes.append(bounds[i + 1] - bounds[i])
            repo = str(doc.metadata.get(p.repo_key) or "")
            if p.level == "repo":
                out.repos.append(repo)
                out.keys.append(keep_key({**doc.metadata, "path": repo}, repo, p.keep, p.keep_key))
            elif p.keep != "first":
                out.keys.append(keep_key(doc.metadata, doc.id, p.keep, p.keep_key))
