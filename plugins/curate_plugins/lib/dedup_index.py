"""A persistent, append-only index of kept content hashes, one immutable file set per run.

``state/index/<step>/<run>.<namespace>.keys.npy`` holds the sorted 16-byte keys a run kept, and
``...ids.npy`` the matching document ids. Lookups memory-map the arrays and binary-search them, so checking a
new batch touches O(new × log(old)) pages, not the old corpus. A run's files are published by writing a
``.done`` marker last; files without one (a crashed run) are ignored.
"""

from __future__ import annotations

import io
import math

import numpy as np
import orjson

from curate import Filter, atomic_write_bytes, filesystem, read_bytes


def priority_of(doc, keep: str, keep_key: str) -> float:
    """Lower is better. ``first``: all equal (input order decides); ``stars``/``metadata``: higher value wins."""
    if keep == "first":
        return 0.0
    value = doc.metadata.get("stars" if keep == "stars" else keep_key)
    try:
        return -float(value) if value is not None else math.inf
    except (TypeError, ValueError):
        return math.inf


class HashIndex:
    def __init__(self, index_dir: str, namespace: str):
        self.index_dir, self.namespace = index_dir, namespace

    def _path(self, run_id: str, part: str) -> str:
        return f"{self.index_dir}/{run_id}.{self.namespace}.{part}"

    def write_run(self, run_id: str, keys: np.ndarray, ids: list[str]) -> None:
        order = np.argsort(keys, kind="stable")
        atomic_write_bytes(self._path(run_id, "keys.npy"), _npy(keys[order]))
        id_array = np.asarray([ids[i].encode("utf-8") for i in order.tolist()], dtype=object)
        width = max((len(x) for x in id_array), default=1)
        atomic_write_bytes(self._path(run_id, "ids.npy"), _npy(id_array.astype(f"S{width}")))
        atomic_write_bytes(self._path(run_id, "done"), b"")

    def reader(self, runs: list[str]) -> IndexReader:
        parts = []
        for run_id in runs:
            fs, done = filesystem(self._path(run_id, "done"))
            if fs.exists(done):
                parts.append((_load(self._path(run_id, "keys.npy")), _load(self._path(run_id, "ids.npy"))))
        return IndexReader(parts)



class IndexReader:
    def __init__(self, parts):
        self.parts = parts

    def lookup(self, key: bytes) -> str | None:
        probe = np.frombuffer(key, dtype="S16")[0]
        for keys, ids in self.parts:
            i = int(np.searchsorted(keys, probe))
            if i < len(keys) and keys[i] == probe:
                return bytes(ids[i]).decode("utf-8")
        return None


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _load(path: str) -> np.ndarray:
    fs, p = filesystem(path)
    if fs.protocol in ("file", ("file", "local")) or "file" in fs.protocol:
        return np.load(p, mmap_mode="r", allow_pickle=False)
    with fs.open(p, "rb") as handle:
        return np.load(io.BytesIO(handle.read()), allow_pickle=False)


class DropListed(Filter):
    """Per shard, after a dedup barrier: drops the documents listed in ``<work_dir>/drops/<rank>.json``
    (``{position in the shard: entry}``), in the order the map step saw them. Subclasses turn an entry into
    metadata and a reason in ``drop(doc, entry)``."""

    def __init__(self, work_dir: str, level: str):
        super().__init__()
        self.work_dir, self.level = work_dir, level

    def run(self, data, rank: int = 0, world_size: int = 1):
        path = f"{self.work_dir}/drops/{rank:05d}.json"
        raw = read_bytes(path)
        if raw is None:
            raise FileNotFoundError(f"drop list {path} is missing: the barrier job did not finish")
        self._drops = {int(k): v for k, v in orjson.loads(raw).items()}
        self._position = -1
        yield from super().run(data, rank, world_size)

    def filter(self, doc):
        self._position += 1
        entry = self._drops.get(self._position)
        return True if entry is None else (False, self.drop(doc, entry))

    def drop(self, doc, entry) -> str:
        raise NotImplementedError
