"""The persistent MinHash index of one stage: one immutable file set per run, published by a ``.done`` marker.

Every document (or repository) a run saw gets a *global position*: its rank in keep order, counted over all
runs (a run's items come after every earlier run's items). Per run, in ``state/index/<step>/``::

    <run>.<ns>.bands-<b>.keys.npy / .items.npy   band b: sorted LSH keys and the run-local item of each
    <run>.<ns>.order.npy      run-local item -> global position
    <run>.<ns>.byorder.npy    global position - base -> run-local item
    <run>.<ns>.ids.npy        run-local item -> document id (or repository name)
    <run>.<ns>.roots.npy      run-local item -> global position of its cluster's keeper (at the end of the run)
    <run>.<ns>.merges.npy     (old keeper, new keeper) pairs: earlier clusters this run joined together
    <run>.<ns>.part-<p>.shingles.bin / .offsets.npy  shingle sets, when verification is on
    <run>.<ns>.meta.json      base, count, part sizes
    <run>.<ns>.done           written last

A new batch touches only the band keys it looks up (binary search in memory-mapped sorted arrays) and the
entries of the items it matched, so its cost grows with the batch, not with the corpus.
"""

from __future__ import annotations

import io
import posixpath

import numpy as np
import orjson

from curate import atomic_write_bytes, filesystem, read_bytes


def save_npy(path: str, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


def load_npy(path: str, mmap: bool = True) -> np.ndarray:
    fs, p = filesystem(path)
    if mmap and "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        return np.load(p, mmap_mode="r", allow_pickle=False)
    with fs.open(p, "rb") as handle:
        return np.load(io.BytesIO(handle.read()), allow_pickle=False)


class ShingleWriter:
    """Streams shingle sets to ``<prefix>.shingles.bin`` (raw little-endian uint64, published on ``close``)
    and their boundaries to ``<prefix>.offsets.npy``, so a shard's sets are never all in memory."""

    def __init__(self, prefix: str):
        from curate import AtomicFile

        self.prefix, self.file, self.offsets = prefix, AtomicFile(f"{prefix}.shingles.bin"), [0]

    def add(self, values: np.ndarray) -> None:
        self.file.handle.write(np.ascontiguousarray(values, dtype="<u8").tobytes())
        self.offsets.append(self.offsets[-1] + len(values))

    def close(self) -> None:
        self.file.commit()
        save_npy(f"{self.prefix}.offsets.npy", np.asarray(self.offsets, dtype=np.int64))


def load_shingles(prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """``(values, offsets)`` written by ``ShingleWriter``; values memory-mapped when local."""
    path = f"{prefix}.shingles.bin"
    fs, p = filesystem(path)
    local = "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))
    if fs.size(p) == 0:
        values = np.empty(0, dtype="<u8")
    elif local:
        values = np.memmap(p, dtype="<u8", mode="r")
    else:
        values = np.frombuffer(read_bytes(path), dtype="<u8")
    return values, load_npy(f"{prefix}.offsets.npy")


def copy_file(source: str, target: str) -> None:
    """Copy within one filesystem without loading the file (tmp name, then rename)."""
    fs, src = filesystem(source)
    _, dst = filesystem(target)
    fs.makedirs(posixpath.dirname(dst), exist_ok=True)
    fs.copy(src, f"{dst}.tmp-copy")
    fs.mv(f"{dst}.tmp-copy", dst)


def save_json(path: str, payload) -> None:
    atomic_write_bytes(path, orjson.dumps(payload))


def load_json(path: str):
    raw = read_bytes(path)
    if raw is None:
        raise FileNotFoundError(f"minhash_dedup: missing intermediate file {path} (did an earlier task fail?)")
    return orjson.loads(raw)


class RunFiles:
    """Paths of one run's entries in the index."""

    def __init__(self, index_dir: str, namespace: str, run_id: str):
        self.index_dir, self.namespace, self.run_id = index_dir, namespace, run_id

    def path(self, part: str) -> str:
        return f"{self.index_dir}/{self.run_id}.{self.namespace}.{part}"

    def is_done(self) -> bool:
        fs, p = filesystem(self.path("done"))
        return fs.exists(p)

    def band_files(self) -> list[tuple[str, str]]:
        fs, root = filesystem(self.index_dir)
        prefix = f"{self.run_id}.{self.namespace}.bands-"
        names = sorted(posixpath.basename(x) for x in fs.ls(root, detail=False)) if fs.exists(root) else []
        keys = [n for n in names if n.startswith(prefix) and n.endswith(".keys.npy")]
        return [(self.path(n[len(self.run_id) + len(self.namespace) + 2:]),
                 self.path(n[len(self.run_id) + len(self.namespace) + 2:-len("keys.npy")] + "items.npy"))
                for n in keys]


class OldRun:
    """A published earlier run, memory-mapped."""

    def __init__(self, files: RunFiles):
        self.files = files
        meta = load_json(files.path("meta.json"))
        self.base, self.count, self.parts = meta["base"], meta["count"], meta["parts"]
        self.verify = meta["verify"]
        self.order = load_npy(files.path("order.npy"))
        self.byorder = load_npy(files.path("byorder.npy"))
        self.ids = load_npy(files.path("ids.npy"))
        self.roots = load_npy(files.path("roots.npy"))
        self.merges = load_npy(files.path("merges.npy"))
        self._shingles: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def bands(self):
        for keys_path, items_path in self.files.band_files():
            yield load_npy(keys_path), load_npy(items_path)

    def local(self, position: int) -> int:
        return int(self.byorder[position - self.base])

    def doc_id(self, position: int) -> str:
        return bytes(self.ids[self.local(position)]).decode("utf-8")

    def root(self, position: int) -> int:
        return int(self.roots[self.local(position)])

    def shingles(self, position: int) -> np.ndarray | None:
        """The entry's shingle set, or None when that run did not keep shingle sets (verify off)."""
        if not self.verify:
            return None
        item = self.local(position)
        part = int(np.searchsorted(np.cumsum(self.parts), item, side="right"))
        start = item - int(sum(self.parts[:part]))
        if part not in self._shingles:
            self._shingles[part] = load_shingles(self.files.path(f"part-{part:05d}"))
        values, offsets = self._shingles[part]
        return np.asarray(values[offsets[start]:offsets[start + 1]])


class MinHashIndex:
    """All published runs of one stage (``previous_runs`` order), plus the writer of the current run."""

    def __init__(self, index_dir: str, namespace: str, previous_runs: list[str]):
        self.index_dir, self.namespace = index_dir, namespace
        runs = [RunFiles(index_dir, namespace, r) for r in previous_runs]
        self.runs = [OldRun(f) for f in runs if f.is_done()]
        self.runs.sort(key=lambda r: r.base)
        self.size = sum(r.count for r in self.runs)
        self._bases = np.asarray([r.base for r in self.runs], dtype=np.int64)
        self._merges: dict[int, int] | None = None

    def run_of(self, position: int) -> OldRun:
        return self.runs[int(np.searchsorted(self._bases, position, side="right")) - 1]

    def merges(self) -> dict[int, int]:
        """Keeper -> newer keeper, over every run (small: one entry per pair of clusters ever joined)."""
        if self._merges is None:
            self._merges = {}
            for run in self.runs:
                for old, new in np.asarray(run.merges).reshape(-1, 2).tolist():
                    self._merges[old] = new
        return self._merges

    def root(self, position: int) -> int:
        root = self.run_of(position).root(position)
        merges = self.merges()
        while root in merges:
            root = merges[root]
        return root
