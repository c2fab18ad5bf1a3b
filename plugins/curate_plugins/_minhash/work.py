"""The files one run of ``minhash_dedup`` keeps in its work directory, and the item positions.

Per shard ``r`` (written by the map step, or by the ``group`` job at repository level), under ``items/``::

    <r>.bands.npy        (bands, m) uint64: each band's keys of the m items that have shingles, sorted
    <r>.band_items.npy   (bands, m) uint32: the shard-local item of each key
    <r>.sketch.bin       uint32 verification sketches, one after another (verify only)
    <r>.sketch_off.npy   int64 boundaries of the sketches (items + 1)
    <r>.ids.bin          UTF-8 ids (document ids, or repository names), one after another
    <r>.ids_off.npy      int64 boundaries of the ids
    <r>.keys.jsonl       ``[keep key, local]`` in keep order (keep rules other than ``first``)
    <r>.meta.json        ``{"count": items}``

Every item of the run gets a *global position*: its rank in keep order, after every item of earlier runs.
With ``keep: first`` positions follow input order (shard, then line); otherwise the ``order`` job merges the
shards' sorted keys and writes ``order/<r>.npy`` (each local item's position) and ``order/all.npy`` (per
position, ``shard << 32 | local``).
"""

from __future__ import annotations

import io

import numpy as np
import orjson

from curate import AtomicFile, atomic_write_bytes, filesystem, is_local, read_bytes


def save_npy(path: str, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


def publish(array: np.ndarray, path: str) -> None:
    """Write an array as ``.npy`` at ``path``; a memory-mapped ``.npy`` array is copied file to file, so it is
    never loaded whole."""
    filename = getattr(array, "filename", None)
    if filename is None or not str(filename).endswith(".npy"):
        save_npy(path, np.asarray(array))
        return
    array.flush()
    out = AtomicFile(path)
    with open(filename, "rb") as source:
        while block := source.read(1 << 24):
            out.handle.write(block)
    out.commit()


def load_npy(path: str, mmap: bool = True) -> np.ndarray:
    fs, p = filesystem(path)
    if not fs.exists(p):
        raise FileNotFoundError(f"minhash_dedup: missing intermediate file {path} (did an earlier task fail?)")
    if mmap and is_local(fs):
        return np.load(p, mmap_mode="r", allow_pickle=False)
    with fs.open(p, "rb") as handle:
        return np.load(io.BytesIO(handle.read()), allow_pickle=False)


def load_raw(path: str, dtype) -> np.ndarray:
    """A raw little-endian array file, memory-mapped when local."""
    fs, p = filesystem(path)
    if not fs.exists(p):
        raise FileNotFoundError(f"minhash_dedup: missing intermediate file {path} (did an earlier task fail?)")
    if fs.size(p) == 0:
        return np.empty(0, dtype=dtype)
    if is_local(fs):
        return np.memmap(p, dtype=dtype, mode="r")
    return np.frombuffer(read_bytes(path), dtype=dtype)


def save_json(path: str, payload) -> None:
    atomic_write_bytes(path, orjson.dumps(payload))


def load_json(path: str):
    raw = read_bytes(path)
    if raw is None:
        raise FileNotFoundError(f"minhash_dedup: missing intermediate file {path} (did an earlier task fail?)")
    return orjson.loads(raw)


class Blobs:
    """Variable-length records (sketches, ids) streamed to one file, with their boundaries."""

    def __init__(self, path: str, offsets_path: str, dtype):
        self.file, self.offsets_path, self.dtype = AtomicFile(path), offsets_path, np.dtype(dtype)
        self.offsets = [0]

    def add(self, values) -> None:
        data = values if isinstance(values, bytes) else np.ascontiguousarray(values, dtype=self.dtype).tobytes()
        self.file.handle.write(data)
        self.offsets.append(self.offsets[-1] + len(data) // self.dtype.itemsize)

    def close(self) -> None:
        self.file.commit()
        save_npy(self.offsets_path, np.asarray(self.offsets, dtype=np.int64))


class ShardItems:
    """Reader of one shard's item files."""

    def __init__(self, work_dir: str, rank: int, verify: bool):
        self.prefix = f"{work_dir}/items/{rank:05d}"
        self.count = load_json(f"{self.prefix}.meta.json")["count"]
        self.verify = verify
        self._cache: dict[str, np.ndarray] = {}

    def _get(self, name: str, loader) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = loader()
        return self._cache[name]

    def bands(self) -> tuple[np.ndarray, np.ndarray]:
        return (self._get("bands", lambda: load_npy(f"{self.prefix}.bands.npy")),
                self._get("band_items", lambda: load_npy(f"{self.prefix}.band_items.npy")))

    def sketch(self, local: int) -> np.ndarray:
        values = self._get("sketch", lambda: load_raw(f"{self.prefix}.sketch.bin", np.uint32))
        offsets = self._get("sketch_off", lambda: load_npy(f"{self.prefix}.sketch_off.npy", mmap=False))
        return np.asarray(values[offsets[local]:offsets[local + 1]])

    def sketches(self) -> tuple[np.ndarray, np.ndarray]:
        return (self._get("sketch", lambda: load_raw(f"{self.prefix}.sketch.bin", np.uint32)),
                self._get("sketch_off", lambda: load_npy(f"{self.prefix}.sketch_off.npy", mmap=False)))

    def ids(self) -> tuple[np.ndarray, np.ndarray]:
        return (self._get("ids", lambda: load_raw(f"{self.prefix}.ids.bin", np.uint8)),
                self._get("ids_off", lambda: load_npy(f"{self.prefix}.ids_off.npy", mmap=False)))


class Positions:
    """Global positions of this run's items: ``base`` + rank in keep order."""

    def __init__(self, work_dir: str, base: int, counts: list[int], ordered: bool):
        self.work_dir, self.base, self.counts, self.ordered = work_dir, base, counts, ordered
        self.starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self.total = int(self.starts[-1])
        self._order: np.ndarray | None = None
        self._shard_orders: dict[int, np.ndarray] = {}

    def of_locals(self, rank: int, locals_: np.ndarray) -> np.ndarray:
        """The positions of some local items of shard ``rank``."""
        locals_ = np.asarray(locals_, dtype=np.int64)
        if self.ordered:
            if rank not in self._shard_orders:
                self._shard_orders[rank] = load_npy(f"{self.work_dir}/order/{rank:05d}.npy")
            return np.asarray(self._shard_orders[rank][locals_], dtype=np.int64)
        return self.base + self.starts[rank] + locals_

    def locate(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(shard, local)`` of each position of this run."""
        offsets = np.asarray(positions, dtype=np.int64) - self.base
        if self.ordered:
            if self._order is None:
                self._order = load_npy(f"{self.work_dir}/order/all.npy")
            codes = np.asarray(self._order[offsets], dtype=np.int64)
            return codes >> 32, codes & 0xFFFFFFFF
        shards = np.searchsorted(self.starts, offsets, side="right") - 1
        return shards, offsets - self.starts[shards]


def shard_counts(work_dir: str, parts: int) -> list[int]:
    return [load_json(f"{work_dir}/items/{r:05d}.meta.json")["count"] for r in range(parts)]
