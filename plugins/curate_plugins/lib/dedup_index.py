"""A persistent index of kept content hashes on ``curate.IndexStore``: sorted keys with one document id each.

Each run adds one part (``parts/<run>-L0/keys.npy`` with its sorted 16-byte keys, ``ids.npy`` with the kept
document ids); ``compact`` merges every ``fanout`` parts of one level into one part of the next level (size-tiered,
``IndexStore.plan_compaction``), so a corpus of R runs has O(fanout * log R) parts and each entry is rewritten
O(log R) times in all. Lookups memory-map the parts and binary-search all new keys at once, so checking a batch
costs O(batch * parts * log(corpus)) page touches, never a read of the whole index.
"""

from __future__ import annotations

import io
import math

import numpy as np
import orjson

from curate import Filter, IndexPart, IndexStore, atomic_write_bytes, filesystem, is_local, read_bytes


def priority_of(doc, keep: str, keep_key: str) -> float:
    """Lower is better. ``first``: all equal (input order decides); ``stars``/``metadata``: higher value wins."""
    if keep == "first":
        return 0.0
    value = doc.metadata.get("stars" if keep == "stars" else keep_key)
    try:
        return -float(value) if value is not None else math.inf
    except (TypeError, ValueError):
        return math.inf


class KeyIndex:
    """Read and write the sorted-key parts of one ``IndexStore``."""

    def __init__(self, store: IndexStore, parts: list[IndexPart]):
        self.store, self.parts = store, list(parts)

    def lookup(self, keys: np.ndarray) -> dict[bytes, str]:
        """The stored id of every key of ``keys`` (``S16``) found in the index."""
        probe = np.unique(np.asarray(keys, dtype="S16"))
        found: dict[bytes, str] = {}
        for part in self.parts:
            if not len(probe):
                break
            stored, ids = self._arrays(part)
            if not len(stored):
                continue
            where = np.minimum(np.searchsorted(stored, probe), len(stored) - 1)
            hit = stored[where] == probe
            for key, i in zip(probe[hit].tolist(), where[hit].tolist()):
                found[bytes(key).ljust(16, b"\0")] = bytes(ids[i]).decode("utf-8")
            probe = probe[~hit]
        return found

    def add(self, run_id: str, keys: np.ndarray, ids: list[str]) -> IndexPart:
        """Write this run's part (level 0) and add it to the index."""
        order = np.argsort(keys, kind="stable")
        part = self._write(f"{run_id}-L0", (run_id,), 0, keys[order], _id_array([ids[i] for i in order.tolist()]))
        self.parts.append(part)
        return part

    def compact(self, run_id: str, fanout: int) -> None:
        """Merge parts until no level holds ``fanout`` of them (the merged parts stay on disk until ``gc``)."""
        merged = 0
        while groups := IndexStore.plan_compaction(self.parts, fanout):
            for group in groups:
                keys, ids = zip(*(self._arrays(p) for p in group))
                keys, ids = np.concatenate(keys), np.concatenate([i.astype(_widest(ids)) for i in ids])
                order = np.argsort(keys, kind="stable")  # equal keys: the older part's id first
                keys, ids = keys[order], ids[order]
                first = np.ones(len(keys), dtype=bool)
                first[1:] = keys[1:] != keys[:-1]
                runs = tuple(r for p in group for r in p.runs)
                part = self._write(f"{run_id}-L{group[0].level + 1}-{merged}", runs, group[0].level + 1,
                                   keys[first], ids[first])
                merged += 1
                self.parts = [p for p in self.parts if p not in group] + [part]

    def _write(self, name: str, runs: tuple, level: int, keys: np.ndarray, ids: np.ndarray) -> IndexPart:
        folder = self.store.part_path(name)
        keys_bytes, ids_bytes = _npy(np.ascontiguousarray(keys, dtype="S16")), _npy(ids)
        atomic_write_bytes(f"{folder}/keys.npy", keys_bytes)
        atomic_write_bytes(f"{folder}/ids.npy", ids_bytes)
        return IndexPart(name, runs, level, entries=int(len(keys)), nbytes=len(keys_bytes) + len(ids_bytes))

    def _arrays(self, part: IndexPart) -> tuple[np.ndarray, np.ndarray]:
        folder = self.store.part_path(part.name)
        return _load(f"{folder}/keys.npy"), _load(f"{folder}/ids.npy")


def _id_array(ids: list[str]) -> np.ndarray:
    encoded = [i.encode("utf-8") for i in ids]
    return np.asarray(encoded, dtype=f"S{max((len(x) for x in encoded), default=1) or 1}")


def _widest(arrays) -> str:
    return f"S{max((a.dtype.itemsize for a in arrays), default=1)}"


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _load(path: str) -> np.ndarray:
    fs, p = filesystem(path)
    if is_local(fs):
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
