"""The sandbox's supervision: a program that kills the interpreter above it, and curate dying mid-run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
from _sandbox_helpers import alive, healthy, make_sandbox, sandbox_uid_processes, stray_files, zygote_pids

from curate_plugins.lib.sandbox import ExecJob
from curate_plugins.lib.sandbox.isolation import is_root

TIMEOUT = 1.5


@pytest.fixture(autouse=True)
def machine_left_clean():
    yield
    assert sandbox_uid_processes() == [], "a program left a process running"
    assert stray_files() == [], "a program (or the sandbox) left files on the host"


def test_kills_its_parent_when_sharing_its_uid():
    """Without a separate uid a program can kill the warm interpreter above it: that job fails, the next one gets
    a fresh interpreter, and other jobs in the same batch are unaffected."""
    if not is_root():
        pytest.skip("needs root (the run-as-caller path is the default when not root; covered above)")
    box = make_sandbox("bwrap", timeout=TIMEOUT, separate_uids=False)
    try:
        jobs = [ExecJob(id=f"ok{i}", code="x = 1", tests=["assert x == 1"]) for i in range(4)]
        jobs.insert(2, ExecJob(id="killer", code="import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n",
                               tests=["assert True"]))
        results = box.run(jobs)
        assert [r.status for r in results] == ["pass", "pass", "error", "pass", "pass"]
        assert "supervis" in results[2].message
        assert healthy(box)
    finally:
        pids = zygote_pids(box)
        box.close()
    assert not [pid for pid in pids if alive(pid)]


@pytest.mark.parametrize("mode", ["bwrap", "rlimit"])
def test_curate_dies_mid_run(mode):
    """When the process that owns the sandbox is killed mid-run, nothing it started survives."""
    make_sandbox(mode).close()  # skips bwrap where it does not work
    script = textwrap.dedent(f"""\
        import sys
        sys.path[:0] = {sys.path!r}
        from curate_plugins.lib.sandbox import ExecJob, Sandbox, SandboxLimits
        box = Sandbox(SandboxLimits(timeout=60, workers=2, isolation={mode!r}))
        print("started", flush=True)
        box.run([ExecJob(id=str(i), code="import os, time\\nos.fork()\\ntime.sleep(3600)") for i in range(2)])
        """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 30
        while len(sandbox_uid_processes(proc.pid)) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        running = sandbox_uid_processes(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    assert len(running) >= 4 or not is_root(), running  # two programs, each with a child
    while (sandbox_uid_processes(proc.pid) or stray_files(owner_pid=proc.pid)) and time.monotonic() < deadline + 10:
        time.sleep(0.05)
    assert sandbox_uid_processes(proc.pid) == [] and stray_files(owner_pid=proc.pid) == []
