"""The corpus directory: output shards, excluded records, persistent state and run records.

Layout::

    LOCK                               the run holding the corpus (host, pid, start): one writer at a time
    data/<run>/part-<rank>.jsonl.zst    output shards of each published run
    excluded/<run>/<step>-<rank>.jsonl.zst   every dropped document with drop.reason and drop.step
    state/manifest.jsonl               input shards already consumed (path, size, sha256, run)
    state/pending.json                 the run in progress, so an interrupted run resumes with the same plan
    state/rollback.json                a rollback in progress, finished by the next command that takes the lock
    state/history.jsonl                rollbacks and other events, one JSON line each
    state/index/<step>/                persistent indexes of stages (``curate.IndexStore``)
    runs/<run>/                        resolved pipeline, lineage, plugin versions, per-rank stats, logs, scratch
    runs/<run>/output/{data,excluded}/ a run's output until it is published (moved to data/ and excluded/)

Paths may be local or any fsspec URL.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import signal
import time
import uuid
from dataclasses import dataclass

import orjson
from fsspec.core import url_to_fs


def is_local(fs) -> bool:
    """True for fsspec's local filesystem (paths can be opened with ``open`` and memory-mapped)."""
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocols or "local" in protocols


def filesystem(path: str):
    """Return ``(fs, path_inside_fs)`` for a local path or fsspec URL."""
    return url_to_fs(str(path))


def join(base: str, *parts: str) -> str:
    """Join path parts with ``/`` (local paths and URLs alike)."""
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
    """The content of a file, or None when it does not exist."""
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
    """Size and modification time of a file, without reading it."""
    fs, p = filesystem(path)
    info = fs.info(p)
    return {"size": info.get("size"), "mtime": _mtime(info)}


def _mtime(info: dict):
    value = info.get("mtime") or info.get("LastModified") or info.get("created")
    return float(value.timestamp()) if hasattr(value, "timestamp") else value


STATE_POINTER = "state-location.txt"


def scratch_dir(corpus_root: str, run_id: str) -> str:
    """``<corpus>/runs/<run>/work``: a run's scratch space, removed once the run is published."""
    return join(corpus_root, "runs", run_id, "work")


def staging_dir(corpus_root: str, run_id: str, area: str) -> str:
    """``<corpus>/runs/<run>/output/<area>``: what a run writes before it is published."""
    return join(corpus_root, "runs", run_id, "output", area)


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
        """A path in the corpus; ``state/...`` resolves to the state directory."""
        if parts and parts[0] == "state":
            return join(self.state_dir, *parts[1:])
        return join(self.root, *parts)

    def run_dir(self, run_id: str) -> str:
        """``runs/<run>``: the run's records."""
        return self.path("runs", run_id)

    def index_dir(self, step_id: str) -> str:
        """``state/index/<step>``: a step's persistent index."""
        return self.path("state", "index", step_id)

    def work_dir(self, run_id: str) -> str:
        """The run's scratch space, removed once the run is published (``scratch_dir``)."""
        return scratch_dir(self.root, run_id)

    def staging(self, run_id: str, area: str) -> str:
        """Where a run writes its ``data`` or ``excluded`` records (or ``exports``) until it is published."""
        return staging_dir(self.root, run_id, area)

    def lock_folders(self) -> list[str]:
        """The folders a writer locks: the corpus, and the state directory when it lives elsewhere."""
        return [self.root] + ([self.state_dir] if self.state_dir != join(self.root, "state") else [])

    # ---- runs --------------------------------------------------------------------------------------
    def list_runs(self) -> list[str]:
        """Every run folder, published, failed or pending, oldest first."""
        fs, p = filesystem(self.path("runs"))
        if not fs.exists(p):
            return []
        names = [posixpath.basename(x.rstrip("/")) for x in fs.ls(p, detail=False)]
        return sorted(n for n in names if n.startswith("run-"))

    def next_run_id(self) -> str:
        """The id of the next run: one more than the last run folder."""
        runs = self.list_runs()
        seq = int(runs[-1].split("-")[1]) + 1 if runs else 1
        return f"run-{seq:04d}"

    def write_step_stats(self, run_id: str, segment: int, step_index: int, rank: int, payload: bytes) -> None:
        """Save one rank's counters of one step (merged by the runner and ``curate report``)."""
        atomic_write_bytes(self.path("runs", run_id, "stats", f"seg{segment:02d}-step{step_index:03d}-{rank:05d}.json"),
                           payload)

    def read_step_stats(self, run_id: str) -> list[dict]:
        """Every per-rank counter record of a run."""
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
        """The consumed input shards, by path."""
        raw = read_bytes(self.path("state", "manifest.jsonl"))
        if not raw:
            return {}
        entries = (orjson.loads(line) for line in raw.splitlines() if line.strip())
        return {e["shard"]: e for e in entries}

    def add_to_manifest(self, entries: list[dict]) -> None:
        """Record shards as consumed (rewrites the manifest atomically)."""
        current = self.manifest()
        for entry in entries:
            current[entry["shard"]] = entry
        self._write_manifest(current)

    def remove_from_manifest(self, run_id: str) -> int:
        """Forget the shards a run consumed (or skipped as copies of what it consumed). Returns how many."""
        current = self.manifest()
        kept = {k: e for k, e in current.items() if e.get("run") != run_id and e.get("same_as_run") != run_id}
        if len(kept) != len(current):
            self._write_manifest(kept)
        return len(current) - len(kept)

    def _write_manifest(self, entries: dict[str, dict]) -> None:
        payload = b"".join(orjson.dumps(e) + b"\n" for e in sorted(entries.values(), key=lambda e: e["shard"]))
        atomic_write_bytes(self.path("state", "manifest.jsonl"), payload)

    # ---- run records -------------------------------------------------------------------------------
    def summary(self, run_id: str) -> dict | None:
        """A finished run's ``summary.json`` (published or failed), or None."""
        raw = read_bytes(join(self.run_dir(run_id), "summary.json"))
        return orjson.loads(raw) if raw else None

    def published_runs(self) -> list[str]:
        """Runs that finished and were published (not failed, not pending), oldest first."""
        return [r for r in self.list_runs() if (self.summary(r) or {}).get("status", "completed") == "completed"]

    def append_history(self, event: dict) -> None:
        """Append an event (a rollback, ...) to ``state/history.jsonl``."""
        path = self.path("state", "history.jsonl")
        atomic_write_bytes(path, (read_bytes(path) or b"") + orjson.dumps({"at": time.time(), **event}) + b"\n")

    def move_tree(self, source: str, target: str) -> bool:
        """Move a folder if it is still at ``source`` (idempotent: a rerun after a crash finishes the move)."""
        fs, src = filesystem(source)
        _, dst = filesystem(target)
        if not fs.exists(src):
            return False
        if fs.exists(dst):  # a crash during a non-atomic (object-storage) move: finish it file by file
            for path in fs.find(src):
                rel = posixpath.relpath(path, src)
                if not fs.exists(posixpath.join(dst, rel)):
                    fs.mv(path, posixpath.join(dst, rel))
            fs.rm(src, recursive=True)
            return True
        fs.makedirs(posixpath.dirname(dst), exist_ok=True)
        fs.mv(src, dst, recursive=True)
        return True

    def pending(self) -> dict | None:
        """The run in progress (``state/pending.json``), or None."""
        raw = read_bytes(self.path("state", "pending.json"))
        return orjson.loads(raw) if raw else None

    def set_pending(self, plan: dict | None) -> None:
        """Record the run in progress, or (None) that there is none."""
        target = self.path("state", "pending.json")
        if plan is None:
            fs, p = filesystem(target)
            if fs.exists(p):
                fs.rm(p)
            return
        atomic_write_bytes(target, orjson.dumps(plan, option=orjson.OPT_INDENT_2))

    def remove_tree(self, path: str) -> None:
        """Delete a file or folder if it exists."""
        fs, p = filesystem(path)
        if fs.exists(p):
            fs.rm(p, recursive=True)



def output_dir_problems(path: str, key: str = "output.dir") -> list[str]:
    """Why ``path`` cannot hold a corpus (not a directory, not writable), checked before any work starts."""
    fs, p = filesystem(path)
    if not is_local(fs):
        return []  # object storage: permissions are only known when writing
    probe = p
    while not os.path.exists(probe):
        parent = os.path.dirname(probe.rstrip("/")) or "/"
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        where = "is a file" if probe == p else f"cannot be created: {probe} is a file"
        return [f"{key}: {path} {where}, not a directory"]
    try:
        handle, name = _probe_file(probe)
        os.close(handle)
        os.unlink(name)
    except OSError as exc:
        what = "is not writable" if probe == p else f"cannot be created in {probe}"
        return [f"{key}: {path} {what} ({exc.strerror})"]
    return []


def _probe_file(folder: str):
    name = os.path.join(folder, f".curate-write-test-{uuid.uuid4().hex[:8]}")
    return os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600), name


def crash_point(name: str) -> None:
    """Fault injection for the crash tests: ``CURATE_CRASH_AT=<name>`` kills this process here, as ``kill -9``
    would. Costs one environment lookup; never set outside tests."""
    if os.environ.get("CURATE_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
