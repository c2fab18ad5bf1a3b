"""The corpus directory: output shards, excluded records, persistent state and run records.

Layout::

    data/<run>/part-<rank>.jsonl.zst    output shards, written once under a temporary name then renamed
    excluded/<run>/<step>-<rank>.jsonl.zst   every dropped document with drop.reason and drop.step
    state/manifest.jsonl               input shards already consumed (path, size, sha256, run)
    state/pending.json                 the run in progress, so an interrupted run resumes with the same plan
    state/index/<step>/                persistent indexes of stages (exact hashes, LSH buckets, n-grams)
    runs/<run>/                        resolved pipeline, plugin versions, per-rank stats, logs, scratch work

Paths may be local or any fsspec URL.
"""

from __future__ import annotations

import hashlib
import posixpath
import uuid
from dataclasses import dataclass

import orjson
from fsspec.core import url_to_fs


def filesystem(path: str):
    """Return ``(fs, path_inside_fs)`` for a local path or fsspec URL."""
    return url_to_fs(str(path))


def join(base: str, *parts: str) -> str:
    return posixpath.join(str(base), *parts)


def atomic_write_bytes(path: str, payload: bytes) -> None:
    """Write ``payload`` to ``path`` so that readers see either nothing or the whole file."""
    fs, p = filesystem(path)
    fs.makedirs(posixpath.dirname(p), exist_ok=True)
    tmp = f"{p}.tmp-{uuid.uuid4().hex[:8]}"
    with fs.open(tmp, "wb") as handle:
        handle.write(payload)
    fs.mv(tmp, p)


def read_bytes(path: str) -> bytes | None:
    fs, p = filesystem(path)
    if not fs.exists(p):
        return None
    with fs.open(p, "rb") as handle:
        return handle.read()


def file_fingerprint(path: str) -> dict:
    """Size, modification time and SHA-256 of a file (local or fsspec)."""
    fs, p = filesystem(path)
    info = fs.info(p)
    digest = hashlib.sha256()
    with fs.open(p, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"size": info.get("size"), "mtime": _mtime(info), "sha256": digest.hexdigest()}


def quick_fingerprint(path: str) -> dict:
    fs, p = filesystem(path)
    info = fs.info(p)
    return {"size": info.get("size"), "mtime": _mtime(info)}


def _mtime(info: dict):
    value = info.get("mtime") or info.get("LastModified") or info.get("created")
    return float(value.timestamp()) if hasattr(value, "timestamp") else value


STATE_POINTER = "state-location.txt"


@dataclass
class CorpusDir:
    """A corpus directory. ``state_dir`` puts ``state/`` elsewhere (e.g. a fast local disk for the indexes
    while data goes to object storage); the corpus remembers it in ``state-location.txt``, so commands that
    are only given the corpus directory (``curate report``) find it."""

    root: str
    state_dir: str | None = None

    def __post_init__(self):
        pointer = join(self.root, STATE_POINTER)
        if self.state_dir is None:
            raw = read_bytes(pointer)
            self.state_dir = raw.decode().strip() if raw else join(self.root, "state")
        elif (self.state_dir != join(self.root, "state")
              and (read_bytes(pointer) or b"").decode().strip() != self.state_dir):
            atomic_write_bytes(pointer, self.state_dir.encode() + b"\n")

    # ---- paths -------------------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        if parts and parts[0] == "state":
            return join(self.state_dir, *parts[1:])
        return join(self.root, *parts)

    def run_dir(self, run_id: str) -> str:
        return self.path("runs", run_id)

    def index_dir(self, step_id: str) -> str:
        return self.path("state", "index", step_id)

    def work_dir(self, run_id: str) -> str:
        return self.path("runs", run_id, "work")

    # ---- runs --------------------------------------------------------------------------------------
    def list_runs(self) -> list[str]:
        fs, p = filesystem(self.path("runs"))
        if not fs.exists(p):
            return []
        names = [posixpath.basename(x.rstrip("/")) for x in fs.ls(p, detail=False)]
        return sorted(n for n in names if n.startswith("run-"))

    def next_run_id(self) -> str:
        runs = self.list_runs()
        seq = int(runs[-1].split("-")[1]) + 1 if runs else 1
        return f"run-{seq:04d}"

    def write_step_stats(self, run_id: str, segment: int, step_index: int, rank: int, payload: bytes) -> None:
        atomic_write_bytes(self.path("runs", run_id, "stats", f"seg{segment:02d}-step{step_index:03d}-{rank:05d}.json"),
                           payload)

    def read_step_stats(self, run_id: str) -> list[dict]:
        fs, p = filesystem(self.path("runs", run_id, "stats"))
        if not fs.exists(p):
            return []
        out = []
        for name in sorted(fs.ls(p, detail=False)):
            if name.endswith(".json"):
                with fs.open(name, "rb") as handle:
                    out.append(orjson.loads(handle.read()))
        return out

    # ---- manifest and pending run ------------------------------------------------------------------
    def manifest(self) -> dict[str, dict]:
        raw = read_bytes(self.path("state", "manifest.jsonl"))
        if not raw:
            return {}
        entries = (orjson.loads(line) for line in raw.splitlines() if line.strip())
        return {e["shard"]: e for e in entries}

    def add_to_manifest(self, entries: list[dict]) -> None:
        current = self.manifest()
        for entry in entries:
            current[entry["shard"]] = entry
        payload = b"".join(orjson.dumps(e) + b"\n" for e in sorted(current.values(), key=lambda e: e["shard"]))
        atomic_write_bytes(self.path("state", "manifest.jsonl"), payload)

    def pending(self) -> dict | None:
        raw = read_bytes(self.path("state", "pending.json"))
        return orjson.loads(raw) if raw else None

    def set_pending(self, plan: dict | None) -> None:
        target = self.path("state", "pending.json")
        if plan is None:
            fs, p = filesystem(target)
            if fs.exists(p):
                fs.rm(p)
            return
        atomic_write_bytes(target, orjson.dumps(plan, option=orjson.OPT_INDENT_2))

    def remove_tree(self, path: str) -> None:
        fs, p = filesystem(path)
        if fs.exists(p):
            fs.rm(p, recursive=True)

