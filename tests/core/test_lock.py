"""One writer per corpus (issue 13, scenario 4): a second `curate run` fails at once naming the first, with two
real processes; a lock left by a dead process is taken over; the state directory is locked too."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import orjson
import pytest
import yaml

from curate.lock import CorpusBusy, Lock, this_owner
from curate.testing import read_corpus, run_cli, run_pipeline_dict


def _pipeline(default_input, out, steps) -> dict:
    return {"name": "gh", "inputs": [{"source": "jsonl", "with": {"paths": [str(default_input / "*.jsonl.zst")]}}],
            "output": {"dir": str(out)}, "executor": {"kind": "local", "workers": 1},
            "steps": [*steps, {"uses": "exact_dedup"}]}


def _wait_for(path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_a_second_run_fails_at_once_while_the_first_holds_the_corpus(default_input, tmp_path, faulty_plugin_path):
    out, started, release = tmp_path / "out", tmp_path / "started", tmp_path / "release"
    wait = {"uses": "wait_at", "with": {"doc_id": "spf13/pflag:flag.go", "started": str(started),
                                        "release": str(release)}}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(_pipeline(default_input, out, [wait])))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(faulty_plugin_path), os.environ.get("PYTHONPATH", "")])}
    first = subprocess.Popen([sys.executable, "-m", "curate.cli", "run", str(path), "--no-progress"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        _wait_for(started)
        holder = orjson.loads((out / "LOCK").read_bytes())
        assert holder["pid"] == first.pid and holder["host"] == socket.gethostname()
        t0 = time.monotonic()
        second = run_cli("run", path, "--no-progress", env=env, check=False)
        seconds = time.monotonic() - t0
        third = run_cli("rollback", out, env=env, check=False)
    finally:
        release.write_text("go")
        _, first_err = first.communicate(timeout=300)
    assert second.returncode == 4 and seconds < 30
    assert f"is locked by pid {first.pid} on {socket.gethostname()} since" in second.stderr
    assert "Traceback" not in second.stderr and "resuming" not in second.stderr
    assert third.returncode == 4 and f"pid {first.pid}" in third.stderr
    assert first.returncode == 0, first_err
    assert not (out / "LOCK").exists()  # released when the run ended
    reference = tmp_path / "reference"
    run_pipeline_dict(_pipeline(default_input, reference, []))
    assert [r["id"] for r in read_corpus(out)] == [r["id"] for r in read_corpus(reference)]


def test_a_lock_left_by_a_dead_process_is_taken_over(default_input, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    owner = {**this_owner("run-0001"), "pid": dead.pid, "pid_start": "1"}
    (out / "LOCK").write_bytes(orjson.dumps(owner))
    messages = []
    result = run_pipeline_dict(_pipeline(default_input, out, []), echo=messages.append)
    assert result.status == "completed"
    assert any(m.startswith(f"taking over a stale lock on {out}: pid {dead.pid} on ") for m in messages)
    assert not (out / "LOCK").exists()


def test_a_reused_pid_does_not_keep_a_stale_lock_alive(tmp_path):
    lock = Lock(str(tmp_path))
    owner = {**this_owner(), "pid_start": "not-my-start-time"}  # our own pid, another process's start time
    (tmp_path / "LOCK").write_bytes(orjson.dumps(owner))
    lock.acquire(this_owner(), echo=lambda m: None)
    assert orjson.loads((tmp_path / "LOCK").read_bytes())["token"] == lock.owner["token"]
    lock.release()


def test_the_state_directory_is_locked_too(default_input, tmp_path):
    out, state = tmp_path / "corpus", tmp_path / "fast" / "state"
    pipeline = _pipeline(default_input, out, [])
    pipeline["state"] = {"dir": str(state)}
    holder = Lock(str(state))
    holder.acquire(this_owner("run-0009"), echo=lambda m: None)
    try:
        with pytest.raises(Exception, match=f"{state} is locked by pid {os.getpid()}") as busy:
            run_pipeline_dict(pipeline)
        assert type(busy.value).__name__ == "CorpusLocked"
        assert not (out / "LOCK").exists()  # the corpus lock taken first was given back
    finally:
        holder.release()


def test_a_lock_held_on_another_host_says_how_to_clear_it(tmp_path):
    (tmp_path / "LOCK").write_bytes(orjson.dumps({**this_owner(), "host": "node-17", "pid": 4242}))
    with pytest.raises(CorpusBusy, match="pid 4242 on node-17 .*another host.*delete the LOCK file"):
        Lock(str(tmp_path)).acquire(this_owner(), echo=lambda m: None)
