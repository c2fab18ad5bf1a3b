"""Shared by the sandbox tests: one Sandbox per isolation mode, and checks that the machine is left clean."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from curate_plugins.lib.sandbox import ExecJob, Sandbox, SandboxLimits
from curate_plugins.lib.sandbox.isolation import UIDS_PER_PROCESS, probe_bwrap, worker_uid

MARK = "curate-hostile"  # every file a hostile program tries to leave on the host is named with this


def bwrap_missing() -> str:
    tool, reason = probe_bwrap(sys.executable)
    return "" if tool else reason


def make_sandbox(mode: str, **limits) -> Sandbox:
    if mode == "bwrap" and bwrap_missing():
        pytest.skip(f"bubblewrap does not work here: {bwrap_missing()}")
    return Sandbox(SandboxLimits(isolation=mode, workers=2, **limits))


def ours(uid: int, owner_pid: int | None = None) -> bool:
    """Is ``uid`` one of the per-worker uids of the sandboxes of ``owner_pid`` (default: this test process)?
    (Other test runs on the machine have their own.)"""
    first = worker_uid(owner_pid or os.getpid(), 0)
    return first <= uid < first + UIDS_PER_PROCESS


def sandbox_uid_processes(owner_pid: int | None = None) -> list[str]:
    """Processes running under the sandbox's per-worker uids (none may outlive the program that made them)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            uid = os.stat(f"/proc/{entry}").st_uid
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if ours(uid, owner_pid):
            found.append(f"pid {entry} uid {uid}: {cmdline}")
    return found


def stray_files(sandbox: Sandbox | None = None, owner_pid: int | None = None) -> list[str]:
    """Files left in the host's shared temporary directories by a program or by the sandbox (other than the work
    directories of ``sandbox``'s running workers, rlimit mode)."""
    live = set(workroots(sandbox)) if sandbox is not None else set()
    found = []
    for root in {"/tmp", "/var/tmp", "/dev/shm", os.environ.get("TMPDIR", "/tmp")}:
        try:
            entries = os.listdir(root)
        except OSError:
            continue
        for entry in entries:
            path = Path(root) / entry
            try:
                uid = path.lstat().st_uid
            except OSError:
                continue
            if (MARK in entry or ours(uid, owner_pid)) and str(path) not in live:
                found.append(str(path))
    return found


def workroots(sandbox: Sandbox) -> list[str]:
    pool = sandbox._pool
    return [w.workroot for w in pool.workers if w.workroot] if pool else []


def zygote_pids(sandbox: Sandbox) -> list[int]:
    pool = sandbox._pool
    return [w.proc.pid for w in pool.workers if w.proc is not None] if pool else []


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def one(sandbox: Sandbox, code: str, tests: list[str] | None = None, **job):
    return sandbox.run([ExecJob(id="job", code=code, tests=tests or [], **job)])[0]


def healthy(sandbox: Sandbox) -> bool:
    """The sandbox still runs an ordinary program correctly."""
    result = one(sandbox, "def add(a, b):\n    return a + b\n", ["assert add(2, 3) == 5"])
    return result.status == "pass"
