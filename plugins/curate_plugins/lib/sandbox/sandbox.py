"""``Sandbox``: runs untrusted programs in parallel, one warm sandboxed interpreter per worker.

Each worker is a thread that owns one zygote process (``_zygote.py``), inside bubblewrap when it works here. The
zygote forks a fresh, limited child per program, so a Python program starts in about a millisecond with its
interpreter and common modules already loaded, while every program still gets its own process group, uid, limits,
work directory and clean environment. A zygote that dies (a program that killed it) is replaced for the next job.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections import deque

from curate_plugins.lib.sandbox._zygote import read_message, write_message
from curate_plugins.lib.sandbox.api import ExecJob, ExecResult, SandboxLimits, usable_cores
from curate_plugins.lib.sandbox.isolation import (
    PACKAGE_DIR,
    UIDS_PER_PROCESS,
    WORK_ROOT,
    bwrap_argv,
    describe,
    hidden_from_others,
    is_root,
    needed_paths,
    probe_bwrap,
    probe_netns,
    program_env,
    worker_uid,
    workroot_keep,
)
from curate_plugins.lib.sandbox.runners import RUNNERS, languages, runner_for
from curate_plugins.lib.sandbox.verdict import error_result, to_result

START_TIMEOUT = 60.0
GRACE = 15.0  # beyond the program's own timeout, for the zygote's cleanup, before the zygote is presumed hung
RESULTS_LIMIT = 8 * 1024 * 1024
BATCH = 8  # jobs sent to a zygote in one message
UNREADABLE_EXTRA = ("subprocess", "threading", "queue")



class _Slots:
    """Worker numbers in use in this process: each running worker has its own, hence its own uid."""

    def __init__(self):
        self.used: set[int] = set()
        self.lock = threading.Lock()

    def take(self) -> int:
        with self.lock:
            slot = next((n for n in range(UIDS_PER_PROCESS) if n not in self.used), None)
            if slot is None:
                raise SandboxError(f"more than {UIDS_PER_PROCESS} sandbox workers at once in one process")
            self.used.add(slot)
            return slot

    def give_back(self, slot: int) -> None:
        with self.lock:
            self.used.discard(slot)


_slots = _Slots()


class SandboxError(RuntimeError):
    """The sandbox cannot run here as configured (e.g. ``isolation: bwrap`` without a working bubblewrap)."""


class Sandbox:
    """Run ``ExecJob``s under ``SandboxLimits``; ``run`` is parallel across workers and keeps the input order.

    ``isolation`` describes what is actually enforced here (detected by trying bubblewrap, never assumed). Use it
    as a context manager or call ``close()``; an unclosed sandbox is cleaned up when collected or at exit.
    """

    def __init__(self, limits: SandboxLimits | None = None):
        self.limits = limits or SandboxLimits()
        self.python = self.limits.python or sys.executable
        tool, reason = (None, "isolation: rlimit requested") if self.limits.isolation == "rlimit" else \
            probe_bwrap(self.python)
        if tool is None and self.limits.isolation == "bwrap":
            raise SandboxError(f"isolation: bwrap requested, but {reason}")
        self.mode = "bwrap" if tool else "rlimit"
        self.workers = self.limits.workers or usable_cores()
        self.uid_mode = is_root() and self.limits.separate_uids
        self.netns = self.mode == "rlimit" and probe_netns(self.python)  # the floor, plus no network where it can
        self.isolation = describe(self.mode, tool, "" if tool else reason, self.limits, self.workers, self.uid_mode,
                                  self.python, self.netns)
        self._pool: _Pool | None = None
        self._pool_pid = 0
        self._lock = threading.Lock()

    def run(self, jobs: list[ExecJob]) -> list[ExecResult]:
        jobs = list(jobs)
        batch = _Batch(len(jobs))
        pool = self._started()
        for index, job in enumerate(jobs):
            runner = runner_for(job.language)
            if runner is None:
                batch.set(index, error_result(job, f"unsupported language {job.language!r} (supported: "
                                                   f"{', '.join(languages())})"))
                continue
            missing = runner.unavailable()
            if missing:
                batch.set(index, error_result(job, f"cannot run {runner.language} here: {missing}"))
                continue
            pool.queue.put((batch, index, job, runner.request(job, self.limits)))
        return batch.wait()

    def _started(self) -> _Pool:
        with self._lock:
            if self._pool is None or self._pool_pid != os.getpid():  # a forked copy starts its own workers
                self._pool = _Pool(self)
                self._pool_pid = os.getpid()
                weakref.finalize(self, self._pool.close)
            return self._pool

    def cpu_seconds(self) -> float:
        """CPU time used so far by this sandbox's warm interpreters and every program they ran (Linux /proc)."""
        pool = self._pool
        return sum(worker.cpu_seconds() for worker in pool.workers) if pool else 0.0

    def close(self) -> None:
        with self._lock:
            if self._pool is not None and self._pool_pid == os.getpid():
                self._pool.close()
            self._pool = None

    def __getstate__(self) -> dict:
        return {"limits": self.limits}  # a pickled sandbox (e.g. sent to a worker process) starts its own workers

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["limits"])

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Batch:
    def __init__(self, size: int):
        self.results: list[ExecResult | None] = [None] * size
        self.remaining = size
        self.done = threading.Condition()

    def set(self, index: int, result: ExecResult) -> None:
        with self.done:
            self.results[index] = result
            self.remaining -= 1
            if self.remaining == 0:
                self.done.notify_all()

    def wait(self) -> list[ExecResult]:
        with self.done:
            while self.remaining:
                self.done.wait()
        return self.results  # type: ignore[return-value]


class _Pool:
    """The worker threads and their zygotes; holds no reference to the Sandbox (so it can be collected)."""

    def __init__(self, sandbox: Sandbox):
        self.queue: queue.Queue = queue.Queue()
        self.workers = [_Worker(self, sandbox, _slots.take()) for _ in range(sandbox.workers)]
        self.closed = False
        for worker in self.workers:
            worker.thread.start()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for _ in self.workers:
            self.queue.put(None)
        for worker in self.workers:
            worker.thread.join(timeout=30)


class _Worker:
    def __init__(self, pool: _Pool, sandbox: Sandbox, slot: int):
        self.pool, self.limits, self.python, self.mode = pool, sandbox.limits, sandbox.python, sandbox.mode
        self.netns = sandbox.netns
        self.slot = slot
        self.uid = worker_uid(os.getpid(), slot) if sandbox.uid_mode else None
        self.proc: subprocess.Popen | None = None
        self.zygote_pid: int | None = None
        self.cpu_retired = 0.0  # CPU seconds of this worker's earlier (replaced) zygotes
        self.workroot: str | None = None
        self.stderr: deque[bytes] = deque(maxlen=64)
        self.thread = threading.Thread(target=self._loop, name=f"sandbox-worker-{slot}", daemon=True)

    def _loop(self) -> None:
        # The zygote is started from this thread, which lives as long as it: bwrap --die-with-parent ties the
        # sandbox to the thread that started it.
        try:
            while True:
                items = self._take()
                if not items:
                    return
                try:
                    self._execute(items)
                except Exception as exc:  # noqa: BLE001 - a sandbox failure is these jobs' error, not a crash
                    self._stop()
                    for batch, index, job, _ in items:
                        if batch.results[index] is None:
                            batch.set(index, error_result(job, f"sandbox failure: {exc}"))
        finally:
            self._stop()
            _slots.give_back(self.slot)  # its uid now has no process left: another worker may take it

    def _take(self) -> list:
        """The next job, plus up to BATCH-1 more already waiting: fewer round trips to the zygote."""
        first = self.pool.queue.get()
        if first is None:
            return []
        items = [first]
        share = min(BATCH, 1 + self.pool.queue.qsize() // len(self.pool.workers))  # leave work for the others
        while len(items) < share:
            try:
                item = self.pool.queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self.pool.queue.put(None)  # leave the stop signal for this thread's next round
                break
            items.append(item)
        return items

    def _execute(self, items: list) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        message = {"jobs": [{**request, "id": job.id} for _, _, job, request in items]}
        try:
            write_message(self.proc.stdin.fileno(), message)
        except OSError:
            self._stop()
            self._start()
            write_message(self.proc.stdin.fileno(), message)  # type: ignore[union-attr]
        for position, (batch, index, job, _) in enumerate(items):
            raw = read_message(self.proc.stdout.fileno(), time.monotonic() + self.limits.timeout + GRACE)
            if raw is not None:
                batch.set(index, to_result(job, raw, self.limits))
                continue
            exit_code = self.proc.poll()
            self._stop()
            why = "hung" if exit_code is None else f"died (exit status {exit_code})"
            batch.set(index, error_result(job, f"the sandbox supervising this program {why}: the program killed or "
                                               f"disabled its supervisor; the next program gets a fresh one"))
            for item in items[position + 1:]:  # not started: back to the queue, for a fresh zygote
                self.pool.queue.put(item)
            return

    # ---- zygote lifecycle ----------------------------------------------------------------------------------
    def _config(self) -> dict:
        lim = self.limits
        bwrap = self.mode == "bwrap"
        if bwrap:
            keep = workroot_keep(self.python, self._extra_paths())
            scrub = [[WORK_ROOT, None, keep], ["/dev/shm", None, []]]
            workroot = WORK_ROOT
        else:
            self.workroot = workroot = tempfile.mkdtemp(prefix="curate-sandbox-", dir=_memory_tmp())
            scrub = [[workroot, None, []]]
            if self.uid is not None:
                os.chown(workroot, self.uid, self.uid)
                keep = [os.path.basename(workroot)]  # the work root itself belongs to the worker's uid
                scrub += [[d, self.uid, keep] for d in ("/tmp", "/var/tmp", "/dev/shm", tempfile.gettempdir())
                          if os.path.isdir(d)]
        warm = list(lim.warm_imports)
        if self.uid is not None and hidden_from_others(needed_paths(self.python)):
            warm += [m for m in UNREADABLE_EXTRA if m not in warm]  # the uid could not import them lazily
        return {
            "workroot": workroot, "own_workroot": not bwrap, "uid": self.uid, "gid": self.uid, "pidns": bwrap,
            "unshare_net": self.netns,
            "scrub": scrub,
            "harness": str(PACKAGE_DIR / "_harness.py"), "env": program_env(),
            "warm_imports": warm, "warm_on_demand": list(lim.warm_on_demand),
            "limits": {"timeout": lim.timeout, "cpu_seconds": lim.cpu_seconds(), "memory_bytes": lim.memory_mb << 20,
                       "max_processes": lim.max_processes, "max_file_bytes": lim.max_file_bytes,
                       "max_open_files": lim.max_open_files, "max_output_bytes": lim.max_output_bytes,
                       "output_limit_bytes": lim.output_limit_bytes, "results_limit_bytes": RESULTS_LIMIT},
        }

    def _extra_paths(self) -> tuple[str, ...]:
        paths: list[str] = []
        for runner in set(RUNNERS.values()):
            for binary in runner.binaries():
                paths.append(os.path.dirname(os.path.dirname(os.path.realpath(binary))))
        return tuple(paths)

    def _start(self) -> None:
        config = self._config()
        argv = [self.python, "-I", str(PACKAGE_DIR / "_zygote.py"), json.dumps(config)]
        if self.mode == "bwrap":
            argv = bwrap_argv(shutil.which("bwrap") or "bwrap", self.python, self.limits.disk_mb,
                              self._extra_paths()) + argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=program_env(), start_new_session=True, close_fds=True)
        self.stderr.clear()
        threading.Thread(target=self._drain_stderr, args=(self.proc,), daemon=True).start()
        ready = read_message(self.proc.stdout.fileno(), time.monotonic() + START_TIMEOUT)  # type: ignore[union-attr]
        if not ready or not ready.get("ready"):
            self._stop()
            raise SandboxError("the sandbox did not start: " + b"".join(self.stderr).decode("utf-8", "replace")[-800:])
        self.zygote_pid = self.proc.pid if self.mode != "bwrap" else _descendant_running(self.proc.pid, "_zygote.py")

    def cpu_seconds(self) -> float:
        return self.cpu_retired + (_cpu_of(self.zygote_pid) if self.zygote_pid else 0.0)

    def _drain_stderr(self, proc: subprocess.Popen) -> None:
        for line in proc.stderr:  # type: ignore[union-attr]
            self.stderr.append(line[:1000])

    def _stop(self) -> None:
        if self.zygote_pid:
            self.cpu_retired += _cpu_of(self.zygote_pid)
            self.zygote_pid = None
        proc, self.proc = self.proc, None
        if proc is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # type: ignore[union-attr]
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
            for stream in (proc.stdout, proc.stderr):
                with contextlib.suppress(OSError):
                    stream.close()  # type: ignore[union-attr]
        if self.workroot:
            shutil.rmtree(self.workroot, ignore_errors=True)
            self.workroot = None


def _descendant_running(pid: int, name: str) -> int | None:
    """The first descendant of ``pid`` whose command line names ``name`` (the zygote inside bubblewrap)."""
    pending = [pid]
    while pending:
        parent = pending.pop()
        try:
            with open(f"/proc/{parent}/task/{parent}/children") as handle:
                children = [int(c) for c in handle.read().split()]
        except OSError:
            continue
        for child in children:
            try:
                with open(f"/proc/{child}/cmdline", "rb") as handle:
                    argv = handle.read().split(b"\0")
            except OSError:
                continue
            if any(name.encode() in arg for arg in argv[1:3]) and not argv[0].endswith(b"bwrap"):
                return child
            pending.append(child)
    return None


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and of its reaped children."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _memory_tmp() -> str | None:
    """A RAM-backed temporary directory for work directories (creating and removing them there is cheap)."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, 9)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
