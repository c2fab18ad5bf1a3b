"""What isolation this machine gives, found by trying it, and the bubblewrap command line that provides it.

bubblewrap (``bwrap``, Debian package ``bubblewrap``) is used when a probe run of it works here: new network, pid,
IPC and UTS namespaces, a read-only view of the host file system with the homes and ``/run`` hidden, private
size-capped ``/tmp`` and ``/dev/shm``, and death with its parent. Otherwise (``rlimit`` mode) programs get resource
limits, their own process group and, when curate runs as root, an unprivileged uid: no network or file-system
isolation, and the description says so.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
HIDDEN_DIRS = ("/root", "/home", "/run")  # host homes (keys, tokens, shell history) and runtime sockets
WORK_ROOT = "/tmp"
SHM_MB = 64
ROOT_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_DAC_OVERRIDE", "CAP_FOWNER")
UID_BASE = 1_000_000_000  # per-worker uids: far above regular (<60000) and systemd container (<2^31) ranges
UIDS_PER_PROCESS = 100


def worker_uid(owner_pid: int, slot: int) -> int:
    """The unprivileged uid of worker ``slot`` of the curate process ``owner_pid`` (distinct across processes)."""
    return UID_BASE + (owner_pid % 10_000_000) * UIDS_PER_PROCESS + slot % UIDS_PER_PROCESS  # pids < 2^22

PROBE = (
    "import json, os, socket; "
    "print(json.dumps({'pid': os.getpid(), 'ifaces': [n for _, n in socket.if_nameindex()], "
    "'home': os.path.isdir('/root') and sorted(os.listdir('/root'))}))"
)


def program_env() -> dict[str, str]:
    """The whole environment a program sees (plus HOME, TMPDIR, PWD set to its work directory): no secrets."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def is_root() -> bool:
    return os.geteuid() == 0


def needed_paths(python: str, extra: tuple[str, ...] = ()) -> list[str]:
    """Host paths a program needs to see: the interpreter, its prefixes, its import path, this package."""
    # the interpreter's own directory (a venv's bin/python is a symlink: keep the venv) and its target's prefix
    paths = {str(Path(python).absolute().parent.parent), str(Path(python).resolve().parent.parent), str(PACKAGE_DIR)}
    paths.update(str(Path(p).resolve()) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
                                                   sys.base_exec_prefix))
    paths.update(str(Path(p).resolve()) for p in sys.path if p and os.path.isdir(p))
    paths.update(str(Path(p).resolve()) for p in extra)
    return sorted(p for p in paths if os.path.exists(p))


def hidden_from_others(paths: list[str]) -> list[str]:
    """Those of ``paths`` an unprivileged uid cannot reach (a parent directory without o+x, e.g. /root)."""
    hidden = []
    for path in paths:
        current = Path(path)
        for part in [current, *current.parents]:
            try:
                if not part.stat().st_mode & 0o001:
                    hidden.append(path)
                    break
            except OSError:
                break
    return hidden


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _reexpose(paths: list[str], hidden: list[str]) -> list[str]:
    """Arguments that bind ``paths`` back into hidden directories, with traversable (0755) parent directories."""
    args: list[str] = []
    made: set[str] = set()
    bound: list[str] = []
    for path in paths:
        root = next((h for h in hidden if _under(path, h)), None)
        if root is None or path == root or any(_under(path, b) for b in bound):
            continue
        parent = Path(path).parent
        chain = []
        while str(parent) != root and str(parent) not in made:
            chain.append(str(parent))
            parent = parent.parent
        for directory in reversed(chain):
            args += ["--perms", "0755", "--dir", directory]
            made.add(directory)
        args += ["--ro-bind-try", path, path]  # -try: a path that vanished meanwhile is no error
        bound.append(path)
    return args


def bwrap_argv(bwrap: str, python: str, disk_mb: int, extra_paths: tuple[str, ...] = ()) -> list[str]:
    argv = [bwrap, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--hostname", "sandbox", "--ro-bind", "/", "/"]
    hidden = [d for d in HIDDEN_DIRS if os.path.isdir(d) and not os.path.islink(d)]
    for directory in hidden:
        argv += ["--tmpfs", directory]
    paths = needed_paths(python, extra_paths)
    argv += _reexpose(paths, hidden)
    argv += ["--perms", "1777", "--size", str(disk_mb << 20), "--tmpfs", WORK_ROOT]
    argv += _reexpose(paths, [WORK_ROOT])  # an interpreter or checkout that lives under /tmp stays visible
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(SHM_MB << 20),
             "--tmpfs", "/dev/shm"]
    if is_root():
        argv += ["--cap-drop", "ALL"]
        for cap in ROOT_CAPS:
            argv += ["--cap-add", cap]
    return argv + ["--chdir", WORK_ROOT, "--"]


def workroot_keep(python: str, extra_paths: tuple[str, ...] = ()) -> list[str]:
    """Top-level names under the work root that are re-exposed host paths, never scrubbed."""
    return sorted({Path(p).relative_to(WORK_ROOT).parts[0] for p in needed_paths(python, extra_paths)
                   if _under(p, WORK_ROOT) and p != WORK_ROOT})


@functools.lru_cache(maxsize=8)
def probe_bwrap(python: str) -> tuple[str | None, str]:
    """(bubblewrap version, "") when a sandboxed probe runs here with no network and its own pid namespace,
    else (None, the reason)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return None, "bwrap not found on PATH (Debian/Ubuntu: apt-get install bubblewrap)"
    try:
        version = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
        probe = subprocess.run(bwrap_argv(bwrap, python, 16) + [python, "-I", "-c", PROBE], capture_output=True,
                               text=True, timeout=60, env=program_env())
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"bwrap failed to run: {exc}"
    if probe.returncode != 0:
        return None, f"bwrap cannot create a sandbox here: {probe.stderr.strip()[-400:]}"
    try:
        seen = json.loads(probe.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None, f"bwrap probe printed no report: {probe.stdout[-200:]!r} {probe.stderr[-200:]!r}"
    if seen["ifaces"] != ["lo"]:
        return None, f"bwrap sandbox still sees network interfaces {seen['ifaces']}"
    if seen["pid"] != 2:
        return None, f"bwrap sandbox has no pid namespace of its own (pid {seen['pid']})"
    return version or "bubblewrap", ""


def _same_uid(bwrap: bool) -> str:
    if bwrap and is_root():
        return "root without capabilities (separate_uids is off): programs can signal their supervisor"
    if bwrap:
        return f"same uid as curate ({os.geteuid()}) in its own user namespace, no capabilities"
    return f"same uid as curate ({os.geteuid()}): programs can signal your processes and write your files"


CLONE_NEWNET = 0x40000000
NETNS_PROBE = (
    f"import ctypes, json, socket; rc = ctypes.CDLL(None, use_errno=True).unshare({CLONE_NEWNET}); "
    "print(json.dumps([rc, [n for _, n in socket.if_nameindex()]]))"
)


@functools.lru_cache(maxsize=8)
def probe_netns(python: str) -> bool:
    """Without bubblewrap, can curate (as root) give its programs an empty network namespace? (One unshare call in
    the warm interpreter; tried here, never assumed.)"""
    if not is_root():
        return False
    try:
        probe = subprocess.run([python, "-I", "-c", NETNS_PROBE], capture_output=True, text=True, timeout=60,
                               env=program_env())
        rc, interfaces = json.loads(probe.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return False
    return rc == 0 and interfaces == ["lo"]


def describe(mode: str, tool: str | None, reason: str, limits, workers: int, uid_mode: bool, python: str,
             netns: bool = False) -> dict:
    """The isolation actually active, for run summaries and ``curate exec``."""
    bwrap = mode == "bwrap"
    unreachable = [] if bwrap or not uid_mode else hidden_from_others(needed_paths(python))
    process_cap = f"{limits.max_processes} processes/threads per program (RLIMIT_NPROC)"
    if is_root() and not uid_mode:
        process_cap = "not enforced (root without separate uids: RLIMIT_NPROC does not bind root)"
    return {
        "mode": mode,
        "tool": tool,
        "fallback_reason": reason or None,
        "network": "none: own network namespace (loopback only)" if bwrap else
                   "none: own network namespace (unshare, no loopback)" if netns else "NOT isolated (host network)",
        "pid_namespace": bwrap,
        "filesystem": (f"read-only host root; {', '.join(HIDDEN_DIRS)} hidden; private tmpfs /tmp "
                       f"({limits.disk_mb} MiB) and /dev/shm ({SHM_MB} MiB)") if bwrap else
                      ("host file system, writable only where the program's uid may write" if uid_mode else
                       "NOT isolated (host file system, the caller's permissions)"),
        "user": "one unprivileged uid per worker, no capabilities" if uid_mode else _same_uid(bwrap),
        "process_group": "own session and process group per program",
        "process_cap": process_cap,
        "environment": "cleared: " + ", ".join(sorted(program_env())) + ", HOME, TMPDIR, PWD",
        "work_dir": "fresh directory per program, removed afterwards",
        "limits": {"timeout_s": limits.timeout, "cpu_s": limits.cpu_seconds(), "test_timeout_s": limits.test_timeout,
                   "memory_mb": limits.memory_mb, "processes": limits.max_processes,
                   "output_kept_bytes": limits.max_output_bytes, "output_limit_bytes": limits.output_limit_bytes,
                   "file_bytes": limits.max_file_bytes, "open_files": limits.max_open_files},
        "warm_pool": f"{workers} warm Python interpreter(s), one fork per program",
        "imports": (f"only pre-imported modules and world-readable paths: the sandbox uid cannot read "
                    f"{', '.join(unreachable)}") if unreachable else "the interpreter's installed packages",
        "kernel": os.uname().release,
    }
