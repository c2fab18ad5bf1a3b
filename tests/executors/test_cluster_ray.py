"""The same YAML on a real local Ray cluster (a head node and one worker node, one CPU each) through datatrove's
RayPipelineExecutor: identical output to a local run, also when a worker is killed in the middle of a task."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from _cluster_helpers import (
    REPO,
    assert_same_corpus,
    fault_step_override,
    install_fault_plugin,
    kill_worker,
    process_gone,
    run_local,
    subset_args,
)

from curate import registry
from curate.testing import run_cli

pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

RAY = str(Path(sys.executable).with_name("ray"))
PIPELINES = ["github_files.yaml", "github_repo_level.yaml"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _live(procs: list) -> list:
    """Processes still running; zombies (dead, waiting for a parent that may never reap them) do not count."""
    out = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except psutil.NoSuchProcess:
            pass
    return out


def _stop_cluster(temp_dir: str, port: int, rounds: int = 3) -> None:
    """SIGTERM the cluster's processes, then SIGKILL what is left; repeat for processes started meanwhile."""
    for sig in [signal.SIGTERM] + [signal.SIGKILL] * rounds:
        procs = _live(_cluster_processes(temp_dir, port))
        if not procs:
            return
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(sig)
        psutil.wait_procs(procs, timeout=5)


def _cluster_processes(temp_dir: str, port: int) -> list:
    """Every process of the cluster this test started (matched by its temp dir and port), with descendants."""
    roots = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if temp_dir in cmd or f":{port} " in f"{cmd} " or f":{port}," in cmd:
            roots.append(proc)
    found = {p.pid: p for p in roots}
    for proc in roots:
        with contextlib.suppress(psutil.NoSuchProcess):
            found.update({c.pid: c for c in proc.children(recursive=True)})
    return list(found.values())


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """`ray start --head` plus a second node joining it; stopped (only these processes) afterwards."""
    faults = install_fault_plugin(tmp_path_factory.mktemp("faults"))
    temp_dir = tempfile.mkdtemp(prefix="cr", dir="/tmp")  # short: Ray puts unix sockets in it
    port = _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(faults), os.environ.get("PYTHONPATH")]))}
    common = ["--num-cpus=1", "--disable-usage-stats", "--include-dashboard=false"]
    try:
        subprocess.run([RAY, "start", "--head", f"--port={port}", f"--temp-dir={temp_dir}",
                        f"--ray-client-server-port={_free_port()}", *common], env=env,
                       check=True, capture_output=True, timeout=180)
        # the second node declares one (logical) GPU, so a step that asks for a GPU can only run there
        subprocess.run([RAY, "start", f"--address=127.0.0.1:{port}", "--num-gpus=1", *common[:2]], env=env,
                       check=True, capture_output=True, timeout=180)
        yield {"address": f"127.0.0.1:{port}", "env": env}
    finally:
        _stop_cluster(temp_dir, port)
        shutil.rmtree(temp_dir, ignore_errors=True)
        assert not _live(_cluster_processes(temp_dir, port)), "cluster not stopped"


def _run(yaml_name: str, out: Path, *extra: str, env: dict | None = None):
    return run_cli("run", REPO / "pipelines" / yaml_name, "-o", out, "--no-progress", *subset_args(),
                   *extra, cwd=REPO, env=env)


def _ray(cluster, gpus: str = "{}") -> list[str]:
    return ["--set", f"executor={{kind: ray, address: '{cluster['address']}', workers: 2, gpus: {gpus}}}"]


def _needs(yaml_name: str):
    try:
        registry.get("minhash_dedup") if "repo_level" in yaml_name else None
    except registry.PluginError as exc:
        pytest.skip(f"{yaml_name} needs the minhash_dedup plugin: {exc}")


@pytest.fixture(scope="module")
def local_runs(tmp_path_factory):
    """The local reference output of each pipeline on the input subset (computed once)."""
    out = {}

    def get(yaml_name: str) -> Path:
        if yaml_name not in out:
            out[yaml_name] = tmp_path_factory.mktemp("local") / "out"
            run_local(yaml_name, out[yaml_name])
        return out[yaml_name]

    return get


@pytest.mark.parametrize("yaml_name,as_url", [(PIPELINES[0], False), (PIPELINES[1], True)])
def test_ray_run_matches_local_run(yaml_name, as_url, ray_cluster, local_runs, tmp_path):
    """The corpus of the MinHash pipeline is given as a file:// URL: every path goes through fsspec."""
    _needs(yaml_name)
    out = tmp_path / "ray"
    _run(yaml_name, f"file://{out}" if as_url else out, *_ray(ray_cluster), env=ray_cluster["env"])
    assert_same_corpus(local_runs(yaml_name), out)
    executor = json.loads((out / "runs" / "run-0001" / "exec" / "segment-00" / "executor.json").read_text())
    assert executor["address"] == ray_cluster["address"] and executor["world_size"] == 2
    # every barrier of the plan ran as its own dependent Ray stage, each task marked complete
    segments = sorted(p.name for p in (out / "runs" / "run-0001" / "exec").iterdir())
    assert "exact_dedup-resolve" in segments and len(segments) >= 3
    assert not (out / "state" / "pending.json").exists()


def test_killed_ray_worker_is_retried_with_identical_output(ray_cluster, local_runs, tmp_path):
    """Rank 0 of the last segment pauses mid-task; the test SIGKILLs the Ray worker process running it.
    Ray retries the task; the output equals the uninterrupted local run, with no partial files.
    The pausing step asks for a GPU (`executor.gpus`), so Ray places that segment on the node with the GPU."""
    yaml_name = "github_files.yaml"
    flags = tmp_path / "flags"
    flags.mkdir()
    killer = threading.Thread(target=lambda: killed.append(kill_worker(flags)), daemon=True)
    killed: list = []
    killer.start()
    out = tmp_path / "ray"
    _run(yaml_name, out, *_ray(ray_cluster, gpus="{pause_for_kill: 1}"), *fault_step_override(flags, yaml_name),
         env=ray_cluster["env"])
    killer.join(timeout=5)
    assert killed, "the task never paused"
    assert process_gone(killed[0]["pid"]), "the killed task lives on"
    assert killed[0]["gpus"] == "0", "Ray did not give the GPU step its GPU"
    exec_dir = out / "runs" / "run-0001" / "exec"
    gpus = {p.name: json.loads((p / "executor.json").read_text())["gpus_per_task"] for p in exec_dir.iterdir()}
    assert gpus == {"segment-00": 0, "exact_dedup-resolve": 0, "segment-01": 1}
    assert_same_corpus(local_runs(yaml_name), out)
    retried = (out / "runs" / "run-0001" / "exec" / "segment-01" / "logs" / "task_00000.log").read_text()
    assert "Processing done for rank=0" in retried
