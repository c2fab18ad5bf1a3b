"""Measure one command's whole process tree exactly: wall time, CPU time and the peak RSS of its largest process.

    from proctree import measure
    m = measure(["curate", "run", "p.yaml"])      # m.wall, m.cpu, m.peak_process_mb, m.peak_tree_mb, m.stdout

The command runs under a small wrapper process that makes itself a child subreaper (Linux ``prctl``): every
process the command starts (datatrove's pool workers, the forkserver, Ray's workers) is reparented to the
wrapper when its parent exits, and the wrapper waits for all of them. ``getrusage(RUSAGE_CHILDREN)`` of the
wrapper then covers the whole tree: CPU (user + system) of every process, however short-lived, and the peak
RSS of the largest single process. Sampled every 0.1 s with psutil (so lower bounds): the peak of the whole
tree (sum over the processes alive at once), of the command's own process (the driver: with datatrove's local
executor it also runs every single-task job) and of the largest other process (a pool worker). A fresh wrapper
per measurement keeps the figures apart.

Linux only. Needs the `bench` extra (psutil).
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
REAP_SECONDS = 60.0  # how long to wait for descendants still running after the command itself exited


@dataclass
class Measurement:
    """What one command cost, over its whole process tree."""

    wall: float
    cpu: float
    user: float
    system: float
    peak_process_mb: float
    peak_tree_mb: float
    peak_driver_mb: float
    peak_worker_mb: float
    returncode: int
    stdout: str
    stderr: str
    stray: int = 0  # descendants still alive REAP_SECONDS after the command exited (then not measured)


def measure(cmd: list[str], env: dict | None = None, cwd: str | Path | None = None,
            timeout: float | None = None) -> Measurement:
    """Run ``cmd`` under the measuring wrapper and return its figures (stdout and stderr captured)."""
    with tempfile.TemporaryDirectory(prefix="proctree-") as tmp:
        report = Path(tmp) / "report.json"
        proc = subprocess.run([sys.executable, __file__, str(report), "--", *cmd], env=env, cwd=cwd,
                              capture_output=True, text=True, timeout=timeout)
        if not report.exists():
            raise RuntimeError(f"the measuring wrapper failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
        data = json.loads(report.read_text())
    return Measurement(**data, stdout=proc.stdout, stderr=proc.stderr)


def _become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _sample_tree(peak: dict[str, int], driver: list[int], stop: threading.Event) -> None:
    """Every 0.1 s: the RSS of the whole tree, of the driver and of the largest other process."""
    import psutil

    me = psutil.Process()
    while not stop.wait(0.1):
        total = 0
        try:
            children = me.children(recursive=True)
        except psutil.Error:
            continue
        for child in children:
            try:
                rss = child.memory_info().rss
            except psutil.Error:
                continue
            total += rss
            role = "driver" if child.pid in driver else "worker"
            peak[role] = max(peak[role], rss)
        peak["tree"] = max(peak["tree"], total)


def _reap_all(deadline: float) -> int:
    """Wait for every remaining descendant (orphans are ours now); return how many were still alive."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return 0
        if pid == 0:
            if time.monotonic() > deadline:
                import psutil

                return len(psutil.Process().children())
            time.sleep(0.02)


def _wrapper(report: str, cmd: list[str]) -> int:
    _become_subreaper()
    peak, driver, stop = {"tree": 0, "driver": 0, "worker": 0}, [], threading.Event()
    sampler = threading.Thread(target=_sample_tree, args=(peak, driver, stop), daemon=True)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd)
    driver.append(proc.pid)
    sampler.start()
    returncode = proc.wait()
    wall = time.perf_counter() - started
    stray = _reap_all(time.monotonic() + REAP_SECONDS)
    stop.set()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    Path(report).write_text(json.dumps({
        "wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "user": usage.ru_utime, "system": usage.ru_stime,
        "peak_process_mb": usage.ru_maxrss / 1024, "peak_tree_mb": peak["tree"] / 2**20,
        "peak_driver_mb": peak["driver"] / 2**20, "peak_worker_mb": peak["worker"] / 2**20, "returncode": returncode,
        "stray": stray}))
    return returncode


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit("usage: proctree.py REPORT.json -- COMMAND [ARGS...]")
    sys.exit(_wrapper(sys.argv[1], sys.argv[3:]))
