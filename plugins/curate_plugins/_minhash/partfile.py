"""One file holding several named numpy arrays and a JSON header: the format of every MinHash index part.

Layout: the arrays' raw bytes, each starting at a multiple of 64, then the JSON directory (``meta`` and, per
array, dtype, shape and offset), then 16 bytes: the directory's length (little-endian uint64) and the magic
``MHPART01``. Arrays are written one after another, each in as many chunks as the writer likes, so a part of
any size is written with bounded memory; the directory goes last. The file is written under a temporary name
and renamed when complete, so a reader never sees a partial part. Local parts are memory-mapped; parts on
other filesystems are read array by array when first used.
"""

from __future__ import annotations

import struct

import numpy as np
import orjson

from curate import AtomicFile, filesystem

MAGIC = b"MHPART01"
ALIGN = 64


class PartWriter:
    """Writes arrays in order: ``begin(name, dtype, tail_shape)``, any number of ``append(chunk)``, then the
    next ``begin``; ``close(meta)`` writes the directory and publishes the file."""

    def __init__(self, path: str):
        self.path, self.file = path, AtomicFile(path)
        self.offset, self.arrays, self.current = 0, {}, None

    def begin(self, name: str, dtype, tail: tuple[int, ...] = ()) -> None:
        pad = -self.offset % ALIGN
        self.file.handle.write(b"\0" * pad)
        self.offset += pad
        self.current = name
        self.arrays[name] = {"dtype": np.dtype(dtype).str, "shape": [0, *tail], "offset": self.offset}

    def append(self, chunk: np.ndarray) -> None:
        entry = self.arrays[self.current]
        chunk = np.ascontiguousarray(chunk, dtype=np.dtype(entry["dtype"]))
        if list(chunk.shape[1:]) != entry["shape"][1:]:
            raise ValueError(f"{self.path}: {self.current} chunk of shape {chunk.shape}, expected (*, "
                             f"{entry['shape'][1:]})")
        self.file.handle.write(chunk.tobytes())
        self.offset += chunk.nbytes
        entry["shape"][0] += len(chunk)

    def array(self, name: str, values: np.ndarray) -> None:
        """A whole array at once."""
        values = np.asarray(values)
        self.begin(name, values.dtype, values.shape[1:])
        self.append(values)

    def close(self, meta: dict) -> int:
        """Write the directory and publish the file; returns its size in bytes."""
        directory = orjson.dumps({"meta": meta, "arrays": self.arrays})
        self.file.handle.write(directory + struct.pack("<Q", len(directory)) + MAGIC)
        self.file.commit()
        return self.offset + len(directory) + 16

    def abort(self) -> None:
        self.file.discard()


class PartFile:
    """A part opened for reading: ``meta`` and the arrays by name (memory-mapped when local)."""

    def __init__(self, path: str):
        self.path = path
        self.fs, self.local_path = filesystem(path)
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self.local = "file" in protocols or "local" in protocols
        size = self.fs.size(self.local_path)
        tail = self._read(size - 16, 16)
        if len(tail) != 16 or tail[8:] != MAGIC:
            raise ValueError(f"{path}: not a MinHash index part (bad trailer); the file is damaged")
        (length,) = struct.unpack("<Q", tail[:8])
        directory = orjson.loads(self._read(size - 16 - length, length))
        self.meta, self._arrays, self._cache = directory["meta"], directory["arrays"], {}
        self.nbytes = size

    def _read(self, start: int, length: int) -> bytes:
        with self.fs.open(self.local_path, "rb") as handle:
            handle.seek(start)
            return handle.read(length)

    def __contains__(self, name: str) -> bool:
        return name in self._arrays

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            entry = self._arrays[name]
            dtype, shape = np.dtype(entry["dtype"]), tuple(entry["shape"])
            if shape[0] == 0:
                self._cache[name] = np.empty(shape, dtype=dtype)
            elif self.local:
                self._cache[name] = np.memmap(self.local_path, dtype=dtype, mode="r", offset=entry["offset"],
                                              shape=shape)
            else:
                count = int(np.prod(shape)) * dtype.itemsize
                self._cache[name] = np.frombuffer(self._read(entry["offset"], count), dtype=dtype).reshape(shape)
        return self._cache[name]
