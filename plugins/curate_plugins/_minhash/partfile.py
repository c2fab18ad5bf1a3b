"""One file holding several named numpy arrays and a JSON header: the format of every MinHash index part.

Layout: the arrays' raw bytes, each starting at a multiple of 64, then the JSON directory (``meta`` and, per
array, dtype, shape and offset), then 16 bytes: the directory's length (little-endian uint64) and the magic
``MHPART01``. Each array is written in as many chunks as the writer likes, so a part of any size is written
with bounded memory; the directory goes last. The file is written under a temporary name
and renamed when complete, so a reader never sees a partial part. Local parts are memory-mapped; parts on
other filesystems are read array by array when first used.
"""

from __future__ import annotations

import os
import struct
import tempfile

import numpy as np
import orjson

from curate import AtomicFile, filesystem, is_local

MAGIC = b"MHPART01"
ALIGN = 64


class Section:
    """One array of a part being written, in chunks, to a local spill file."""

    def __init__(self, folder: str, name: str, dtype, tail: tuple[int, ...]):
        self.name, self.dtype, self.tail, self.rows = name, np.dtype(dtype), tuple(tail), 0
        self.path = os.path.join(folder, name)
        self.handle = open(self.path, "wb")  # noqa: SIM115 - closed by PartWriter.close

    def append(self, chunk) -> None:
        chunk = np.ascontiguousarray(chunk, dtype=self.dtype)
        if chunk.shape[1:] != self.tail:
            raise ValueError(f"{self.name}: chunk of shape {chunk.shape}, expected (*, {self.tail})")
        self.handle.write(chunk.tobytes())
        self.rows += len(chunk)


class PartWriter:
    """Writes a part from sections filled in any order and in chunks (``section(name, dtype)`` then
    ``append``), with bounded memory: each section spills to a local temporary file, and ``close(meta)``
    copies them into the part in creation order, writes the directory and publishes the file atomically."""

    COPY = 1 << 24

    def __init__(self, path: str):
        self.path, self.sections = path, []
        self._folder = tempfile.TemporaryDirectory(prefix="mhpart-")

    def section(self, name: str, dtype, tail: tuple[int, ...] = ()) -> Section:
        section = Section(self._folder.name, name, dtype, tail)
        self.sections.append(section)
        return section

    def array(self, name: str, values) -> None:
        values = np.asarray(values)
        self.section(name, values.dtype, values.shape[1:]).append(values)

    def close(self, meta: dict) -> int:
        """Publish the part; returns its size in bytes."""
        out, offset, arrays = AtomicFile(self.path), 0, {}
        try:
            for section in self.sections:
                section.handle.close()
                pad = -offset % ALIGN
                out.handle.write(b"\0" * pad)
                offset += pad
                arrays[section.name] = {"dtype": section.dtype.str, "shape": [section.rows, *section.tail],
                                        "offset": offset}
                with open(section.path, "rb") as spill:
                    while block := spill.read(self.COPY):
                        out.handle.write(block)
                        offset += len(block)
            directory = orjson.dumps({"meta": meta, "arrays": arrays})
            out.handle.write(directory + struct.pack("<Q", len(directory)) + MAGIC)
            out.commit()
        except BaseException:
            out.discard()
            raise
        finally:
            self._folder.cleanup()
        return offset + len(directory) + 16


class PartFile:
    """A part opened for reading: ``meta`` and the arrays by name (memory-mapped when local)."""

    def __init__(self, path: str):
        self.path = path
        self.fs, self.local_path = filesystem(path)
        self.local = is_local(self.fs)
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
