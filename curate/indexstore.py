"""Persistent indexes as immutable parts, per-run snapshots and one pointer: crash-safe, compactable, undoable.

A Stage that keeps an index across runs (exact hashes, MinHash buckets, decontamination n-grams, ...) stores it
in ``state/index/<step id>/`` through an ``IndexStore``::

    parts/<name>                 immutable part files or folders, in whatever format the stage chooses
    snapshots/<run id>.json      the parts that make up the index after that run, and the run before it
    CURRENT                      the run id whose snapshot is the committed index

A run never changes what earlier runs see until it finishes:

1. a barrier job writes the run's new parts (``part_path``), optionally merges older parts into one
   (``plan_compaction``), and calls ``stage(run_id, parts)``: this writes the run's snapshot, not ``CURRENT``;
2. the run's own later steps read ``parts(run_id)`` (the staged snapshot);
3. when the whole run succeeds, the runner calls ``commit(run_id)``: ``CURRENT`` now names it, atomically.

``rollback(run_id)`` points ``CURRENT`` back at the snapshot the run started from; ``discard(run_id)`` forgets a
staged snapshot of an abandoned run. Every file is written under a temporary name and renamed, and parts are
deleted only by ``gc`` once no retained snapshot names them, so a kill at any moment leaves a readable index.
"""

from __future__ import annotations

import posixpath
from dataclasses import asdict, dataclass, field

import orjson

from curate.state import atomic_write_bytes, filesystem, join, read_bytes


@dataclass(frozen=True)
class IndexPart:
    """One immutable part of an index: its file (or folder) name under ``parts/`` and what it covers."""

    name: str
    runs: tuple[str, ...]  # the runs whose entries it holds (several after compaction)
    level: int = 0  # 0 for a run's own part; merging parts of level L gives level L + 1
    entries: int = 0  # how many entries it holds (stage-defined: hashes, band keys, n-grams, ...)
    nbytes: int = 0
    meta: dict = field(default_factory=dict, hash=False, compare=False)

    @classmethod
    def from_dict(cls, raw: dict) -> IndexPart:
        """The part described by a snapshot's JSON entry."""
        return cls(**{**raw, "runs": tuple(raw["runs"])})


@dataclass(frozen=True)
class Snapshot:
    """The index as one run left it: its parts, the run it was based on, and stage-defined settings."""

    run_id: str
    previous: str | None
    parts: tuple[IndexPart, ...]
    settings: dict = field(default_factory=dict, hash=False, compare=False)

    def to_json(self) -> bytes:
        """The snapshot as stable, sorted JSON bytes."""
        data = {"run_id": self.run_id, "previous": self.previous, "settings": self.settings,
                "parts": [asdict(p) | {"runs": list(p.runs)} for p in self.parts]}
        return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)

    @classmethod
    def from_json(cls, raw: bytes) -> Snapshot:
        """Read a snapshot written by ``to_json``."""
        data = orjson.loads(raw)
        return cls(data["run_id"], data["previous"], tuple(IndexPart.from_dict(p) for p in data["parts"]),
                   data.get("settings") or {})


class IndexStore:
    """The persistent index of one step: see the module docstring for the layout and the protocol."""

    def __init__(self, index_dir: str):
        self.root = str(index_dir).rstrip("/")

    # ---- reading --------------------------------------------------------------------------------------
    def current_run(self) -> str | None:
        """The run whose snapshot is committed, or None for an empty index."""
        raw = read_bytes(join(self.root, "CURRENT"))
        return raw.decode().strip() or None if raw else None

    def snapshot(self, run_id: str) -> Snapshot | None:
        """The snapshot ``run_id`` staged or committed, or None."""
        raw = read_bytes(self._snapshot_path(run_id))
        return Snapshot.from_json(raw) if raw else None

    def current(self) -> Snapshot | None:
        """The committed snapshot: the index as the last finished run left it."""
        run_id = self.current_run()
        return self.snapshot(run_id) if run_id else None

    def parts(self, run_id: str | None = None) -> list[IndexPart]:
        """The parts a run sees: its own staged snapshot once staged, else the committed index."""
        snap = (self.snapshot(run_id) if run_id else None) or self.current()
        return list(snap.parts) if snap else []

    def part_path(self, name: str) -> str:
        """Where the part file ``name`` lives."""
        return join(self.root, "parts", name)

    # ---- writing --------------------------------------------------------------------------------------
    def stage(self, run_id: str, parts: list[IndexPart], settings: dict | None = None) -> Snapshot:
        """Record ``parts`` as the index after ``run_id`` (not yet visible to other runs). Idempotent, so a
        resumed run may stage again; the snapshot is always based on the committed index."""
        base = self.current_run()
        if base == run_id:  # committed already (a resumed finish): keep what was committed
            return self.current()
        missing = [p.name for p in parts if not self._exists(self.part_path(p.name))]
        if missing:
            raise FileNotFoundError(f"{self.root}: parts {missing} must be written before they are staged")
        snap = Snapshot(run_id, base, tuple(parts), settings or {})
        atomic_write_bytes(self._snapshot_path(run_id), snap.to_json())
        return snap

    def staged(self, run_id: str) -> bool:
        """True when ``run_id`` staged a snapshot that is not committed."""
        return self.current_run() != run_id and self._exists(self._snapshot_path(run_id))

    def commit(self, run_id: str) -> bool:
        """Make the staged snapshot of ``run_id`` the committed index. Returns False when it staged nothing."""
        snap = self.snapshot(run_id)
        if snap is None or self.current_run() == run_id:
            return False
        if snap.previous != self.current_run():
            raise RuntimeError(f"{self.root}: {run_id} was staged on {snap.previous}, but the index is now at "
                               f"{self.current_run()}; run it again")
        atomic_write_bytes(join(self.root, "CURRENT"), run_id.encode() + b"\n")
        return True

    def rollback(self, run_id: str) -> bool:
        """Undo the commit of ``run_id`` (it must be the committed run). Returns False when it committed nothing."""
        if self.current_run() != run_id:
            self.discard(run_id)
            return False
        previous = self.snapshot(run_id).previous
        if previous is None:
            atomic_write_bytes(join(self.root, "CURRENT"), b"")
        else:
            atomic_write_bytes(join(self.root, "CURRENT"), previous.encode() + b"\n")
        self._remove(self._snapshot_path(run_id))
        return True

    def discard(self, run_id: str) -> None:
        """Forget the staged (uncommitted) snapshot of an abandoned run; its parts go at the next ``gc``."""
        if self.current_run() != run_id:
            self._remove(self._snapshot_path(run_id))

    def gc(self, keep: int = 3, pinned: tuple[str, ...] = ()) -> list[str]:
        """Delete snapshots beyond the last ``keep`` committed ones (and staged ones not in ``pinned``),
        then every part no remaining snapshot names. Returns the deleted part names."""
        chain, run_id = [], self.current_run()
        while run_id and len(chain) < keep:
            chain.append(run_id)
            snap = self.snapshot(run_id)
            run_id = snap.previous if snap else None
        retained = set(chain) | set(pinned)
        for name in self._listdir("snapshots"):
            if name.endswith(".json") and name[:-5] not in retained:
                self._remove(join(self.root, "snapshots", name))
        live = {p.name for r in retained if (s := self.snapshot(r)) for p in s.parts}
        deleted = [n for n in self._listdir("parts") if n not in live and ".tmp-" not in n]
        for name in deleted:
            self._remove(self.part_path(name))
        return deleted

    # ---- compaction -----------------------------------------------------------------------------------
    @staticmethod
    def plan_compaction(parts: list[IndexPart], fanout: int = 4) -> list[list[IndexPart]]:
        """Size-tiered merge plan: every group of ``fanout`` parts of one level is merged into one part of
        the next level, so a corpus of R runs keeps O(fanout * log R) parts. Oldest parts merge first."""
        by_level: dict[int, list[IndexPart]] = {}
        for part in parts:
            by_level.setdefault(part.level, []).append(part)
        groups = []
        for level in sorted(by_level):
            same = by_level[level]
            groups += [same[i:i + fanout] for i in range(0, len(same) - fanout + 1, fanout)]
        return groups

    # ---- files ----------------------------------------------------------------------------------------
    def _snapshot_path(self, run_id: str) -> str:
        return join(self.root, "snapshots", f"{run_id}.json")

    def _exists(self, path: str) -> bool:
        fs, p = filesystem(path)
        return fs.exists(p)

    def _remove(self, path: str) -> None:
        fs, p = filesystem(path)
        if fs.exists(p):
            fs.rm(p, recursive=True)

    def _listdir(self, sub: str) -> list[str]:
        fs, p = filesystem(join(self.root, sub))
        if not fs.exists(p):
            return []
        return sorted(posixpath.basename(x.rstrip("/")) for x in fs.ls(p, detail=False))


def index_stores(state_index_dir: str) -> list[IndexStore]:
    """Every index store under ``state/index/`` (one per step id)."""
    fs, p = filesystem(state_index_dir)
    if not fs.exists(p):
        return []
    return [IndexStore(join(state_index_dir, posixpath.basename(x.rstrip("/"))))
            for x in sorted(fs.ls(p, detail=False)) if fs.isdir(x)]
