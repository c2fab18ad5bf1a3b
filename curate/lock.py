"""One writer per corpus: an exclusive lock file with its owner, held for a whole run.

``<output.dir>/LOCK`` (and ``<state.dir>/LOCK`` when the state lives elsewhere) holds JSON naming the owner: host,
pid, the pid's start time, when it started, the run and the command. A second writer fails at once with that
owner in the message. A lock whose owner is dead is stale and is taken over, with a message:

- a local or Ray run: the pid is gone (or was reused: its start time differs) on this host;
- a Slurm run (the lock is handed to the submitted jobs, since they outlive ``curate run``): none of the run's
  jobs is queued or running; its last job (``curate finish``) releases it.

A lock held from another host cannot be checked from here; the message says which file to remove once that
run is known to be dead. Taking the lock is serialised by ``flock`` on ``LOCK.guard`` (local and NFS paths),
so two runs starting together, or taking over the same stale lock, cannot both win. On object storage the
lock is best effort (write, then read back).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable

import orjson

from curate.state import atomic_write_bytes, filesystem, is_local, join, read_bytes

LOCK_NAME = "LOCK"


class CorpusBusy(Exception):
    """Another live run holds the corpus."""


def process_start(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot (Linux ``/proc``), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return fields[19].decode()
    except (OSError, IndexError):
        return None


def pid_alive(pid: int, start: str | None) -> bool:
    """Whether ``pid`` runs on this host and is the process that started at ``start``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    current = process_start(pid)
    return start is None or current is None or current == start


def this_owner(run: str | None = None) -> dict:
    """The owner record of this process."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "pid_start": process_start(os.getpid()),
            "started": time.time(), "run": run, "kind": "process", "token": uuid.uuid4().hex,
            "command": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:300]}


def describe(owner: dict) -> str:
    """An owner in words, for messages."""
    started = datetime.datetime.fromtimestamp(owner.get("started", 0)).strftime("%Y-%m-%d %H:%M:%S")
    if owner.get("kind") == "slurm":
        jobs = ", ".join(owner.get("jobs", [])) or "?"
        return (f"{owner.get('run') or 'a run'} running as Slurm jobs {jobs} (submitted from {owner.get('host')} by "
                f"pid {owner.get('pid')} at {started})")
    return f"pid {owner.get('pid')} on {owner.get('host')} since {started} ({owner.get('command', '')})"


class Lock:
    """The lock file of one directory. ``alive(owner)`` decides whether a recorded owner still runs."""

    def __init__(self, folder: str, alive: Callable[[dict], bool] | None = None):
        self.folder = str(folder).rstrip("/")
        self.path = join(self.folder, LOCK_NAME)
        self.alive = alive or default_alive
        self.owner: dict | None = None

    def holder(self) -> dict | None:
        """The recorded owner, or None when the directory is free."""
        raw = read_bytes(self.path)
        if raw is None:
            return None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return {"host": "?", "pid": -1, "started": 0, "kind": "unreadable"}

    def acquire(self, owner: dict, echo=print, adopt: Callable[[dict], bool] | None = None) -> None:
        """Take the lock for ``owner`` or raise ``CorpusBusy``. ``adopt(holder)`` may accept a holder as our own
        (the finish job of a Slurm run adopts the lock handed to that run)."""
        with self._guard():
            holder = self.holder()
            if holder is not None and not (adopt and adopt(holder)):
                if self.alive(holder):
                    raise CorpusBusy(f"{self.folder} is locked by {describe(holder)}. Wait for that run to end"
                                     + self._remove_hint(holder))
                echo(f"taking over a stale lock on {self.folder}: {describe(holder)} is no longer running")
            self._write(owner)
            if (self.holder() or {}).get("token") != owner["token"]:  # object storage: someone else won
                raise CorpusBusy(f"{self.folder} was locked by another run at the same moment")
            self.owner = owner

    def update(self, **fields) -> None:
        """Change the recorded owner (e.g. hand the lock to Slurm jobs)."""
        with self._guard():
            self.owner = {**(self.owner or {}), **fields}
            self._write(self.owner)

    def release(self) -> None:
        """Remove the lock if it is still ours."""
        with self._guard():
            holder = self.holder()
            if holder is not None and self.owner is not None and holder.get("token") == self.owner.get("token"):
                fs, p = filesystem(self.path)
                fs.rm(p)
            self.owner = None

    def _write(self, owner: dict) -> None:
        atomic_write_bytes(self.path, orjson.dumps(owner, option=orjson.OPT_INDENT_2))

    @staticmethod
    def _remove_hint(holder: dict) -> str:
        if holder.get("kind") == "process" and holder.get("host") != socket.gethostname():
            return ("; it runs on another host, which this one cannot check: if it is dead, delete the LOCK "
                    "file and run again.")
        return "."

    @contextlib.contextmanager
    def _guard(self):
        fs, folder = filesystem(self.folder)
        if not is_local(fs):
            fs.makedirs(folder, exist_ok=True)
            yield
            return
        import fcntl

        os.makedirs(folder, exist_ok=True)
        fd = os.open(os.path.join(folder, LOCK_NAME + ".guard"), os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def default_alive(owner: dict) -> bool:
    """Whether a recorded owner still runs, as far as this machine can tell (a Slurm owner counts as alive: the
    runner asks the queue itself)."""
    kind = owner.get("kind")
    if kind == "slurm":
        return True
    if kind == "process" and owner.get("host") == socket.gethostname():
        return pid_alive(int(owner.get("pid", -1)), owner.get("pid_start"))
    return kind != "unreadable"


class CorpusLocks:
    """The locks of a corpus: its output dir and, when elsewhere, its state dir (taken in that order)."""

    def __init__(self, folders: list[str], alive: Callable[[dict], bool] | None = None):
        self.locks = [Lock(f, alive) for f in dict.fromkeys(folders)]

    def acquire(self, owner: dict, echo=print, adopt=None) -> None:
        """Take every lock, or none (``CorpusBusy``)."""
        taken = []
        try:
            for lock in self.locks:
                lock.acquire(owner, echo, adopt)
                taken.append(lock)
        except BaseException:
            for lock in taken:
                lock.release()
            raise

    def update(self, **fields) -> None:
        """Change the recorded owner of every lock."""
        for lock in self.locks:
            lock.update(**fields)

    def release(self) -> None:
        """Release every lock."""
        for lock in reversed(self.locks):
            lock.release()
