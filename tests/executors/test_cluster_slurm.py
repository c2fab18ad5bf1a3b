"""The same YAML on Slurm through datatrove's SlurmPipelineExecutor.

- Without Slurm: `sbatch` is replaced by a recorder on PATH, and the test checks the generated job scripts
  and the afterok chain between them (segments, then the `curate finish` job).
- With a Slurm cluster reachable from here (`sinfo` answers; `tools/slurm/single-node.sh` starts one on a
  Debian machine in seconds): the pipeline really runs as job arrays, the output is identical to a local run,
  and a cancelled task is relaunched by running `curate run` again, still with identical output.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dill
import pytest
from _cluster_helpers import (
    REPO,
    SUBSET,
    assert_same_corpus,
    fault_step_override,
    install_fault_plugin,
    run_local,
    subset_args,
    wait_for_victim,
)

from curate.testing import run_cli

YAML = REPO / "pipelines" / "github_files.yaml"

FAKE_SBATCH = """#!{python}
import json, os, pathlib, sys
state = pathlib.Path(os.environ["FAKE_SLURM_DIR"])
job = 100 + len(list(state.glob("job-*.json")))
record = {{"id": job, "args": sys.argv[1:-1], "script": pathlib.Path(sys.argv[-1]).read_text()}}
(state / f"job-{{job}}.json").write_text(json.dumps(record))
print(f"Submitted batch job {{job}}")
"""
FAKE_SQUEUE = """#!{python}
import os, pathlib
listing = pathlib.Path(os.environ["FAKE_SLURM_DIR"]) / "squeue.txt"
print(listing.read_text() if listing.exists() else "", end="")
"""


@pytest.fixture
def fake_slurm(tmp_path):
    """`sbatch` and `squeue` on PATH that record submissions and report a given queue (no scheduler)."""
    bin_dir, state = tmp_path / "fakebin", tmp_path / "fakeslurm"
    bin_dir.mkdir()
    state.mkdir()
    for name, body in (("sbatch", FAKE_SBATCH), ("squeue", FAKE_SQUEUE)):
        (bin_dir / name).write_text(body.format(python=sys.executable))
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_SLURM_DIR": str(state)}
    return env, state


def _submissions(state: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(state.glob("job-*.json"), key=lambda p: int(p.stem[4:]))]


def _directives(script: str) -> dict[str, str]:
    return dict(re.findall(r"^#SBATCH --([a-z-]+)=?(.*)$", script, flags=re.M))


def test_slurm_job_scripts_and_dependencies(fake_slurm, tmp_path):
    env, state = fake_slurm
    out = tmp_path / "out"
    executor = ("executor={kind: slurm, partition: cpu, time: '02:00:00', cpus_per_task: 2, memory_per_cpu_gb: 3, "
                "workers: 2, sbatch_args: {account: dataproj}, gpus: {code_heuristics: 1}}")
    proc = run_cli("run", YAML, "-o", out, "--no-progress", *subset_args(), "--set", executor,
                   cwd=REPO, env=env)
    assert "submitted to Slurm" in proc.stderr
    jobs = _submissions(state)
    record = json.loads((out / "runs" / "run-0001" / "exec" / "slurm_jobs.json").read_text())["submissions"][0]
    segments = [j["name"].rsplit("-run-0001-", 1)[1] for j in record["jobs"]]
    assert segments[:3] == ["segment-00", "exact_dedup-resolve", "segment-01"]
    assert [str(j["id"]) for j in jobs] == [j["id"] for j in record["jobs"]] + [record["finish"]]

    # the afterok chain: each segment waits for the one before; the finish job waits for the last segment
    deps = [next((a.split("=", 1)[1] for a in job["args"] if a.startswith("--dependency=")), None) for job in jobs]
    assert deps == [None] + [f"afterok:{job['id']}" for job in jobs[:-1]]

    for name, job in zip(segments, jobs):
        d = _directives(job["script"])
        tasks = 1 if name.endswith("resolve") else len(SUBSET)
        assert d["partition"] == "cpu" and d["time"] == "02:00:00" and d["account"] == "dataproj"
        assert d["cpus-per-task"] == "2" and d["mem-per-cpu"] == "3G" and d["chdir"] == str(REPO)
        assert d["array"] == f"0-{tasks - 1}%2"
        assert d.get("gpus") == ("1" if name == segments[-1] else None)  # only the segment with code_heuristics
        pickled = out / "runs" / "run-0001" / "exec" / name / "executor.pik"
        assert f"launch_pickled_pipeline {pickled}" in job["script"]
        with open(pickled, "rb") as handle:
            executor_obj = dill.load(handle)
        assert (type(executor_obj).__name__, executor_obj.tasks) == ("CurateSlurmExecutor", tasks)
    finish = _directives(jobs[-1]["script"])
    assert finish["job-name"].endswith("-finish") and "array" not in finish
    assert f"python -m curate.cli finish {out}" in jobs[-1]["script"]
    assert (out / "state" / "pending.json").exists() and not (out / "state" / "manifest.jsonl").exists()

    # `curate run` again while the jobs are queued: reports them, submits nothing
    (state / "squeue.txt").write_text(f"{jobs[0]['id']}_[0-2]|PENDING|None\n{jobs[-1]['id']}|PENDING|Dependency\n")
    again = run_cli("run", YAML, "-o", out, "--no-progress", *subset_args(), "--set", executor,
                    cwd=REPO, env=env)
    assert f"still running as Slurm jobs {jobs[0]['id']}, {jobs[-1]['id']}" in again.stderr
    assert len(_submissions(state)) == len(jobs)

    # the lock outlives `curate run`: the submitted jobs hold it (their last job, `curate finish`, releases it)
    holder = json.loads((out / "LOCK").read_text())
    assert holder["kind"] == "slurm" and holder["run"] == "run-0001" and str(jobs[-1]["id"]) in holder["jobs"]
    other = run_cli("run", YAML, "-o", out, "--no-progress", *subset_args(), "--set", executor,
                    "--set", "steps[2].with.max_line_length=80", cwd=REPO, env=env, check=False)
    assert other.returncode == 4 and "locked by run-0001 running as Slurm jobs" in other.stderr


def test_workers_option_caps_the_job_arrays(fake_slurm, tmp_path):
    """`curate run -w 1` overrides `executor.workers: 2`: one array task at a time, as on the other executors."""
    env, state = fake_slurm
    executor = "executor={kind: slurm, partition: cpu, workers: 2}"
    run_cli("run", YAML, "-o", tmp_path / "out", "-w", "1", "--no-progress", *subset_args(),
            "--set", executor, cwd=REPO, env=env)
    arrays = [_directives(job["script"]).get("array") for job in _submissions(state)]
    assert arrays[:3] == [f"0-{len(SUBSET) - 1}%1", "0-0%1", f"0-{len(SUBSET) - 1}%1"]


def test_slurm_options_are_validated_with_their_yaml_path(tmp_path):
    proc = run_cli("validate", YAML, "--set", "executor={kind: slurm, partition: cpu, time: 'two hours', "
                   "sbatch_args: {'--account': x}, gpus: {quality_llm: 1}}", cwd=REPO, check=False)
    assert proc.returncode == 2
    assert "executor.time: String should match pattern" in proc.stderr
    assert "executor.sbatch_args: Value error, sbatch option '--account'" in proc.stderr
    assert "executor.gpus.quality_llm: no step has the id 'quality_llm'" in proc.stderr
    proc = run_cli("validate", YAML, "--set", "executor={kind: ray, cpus_per_task: 0, adress: auto}", cwd=REPO,
                   check=False)
    assert "executor.cpus_per_task: Input should be greater than or equal to 1" in proc.stderr
    assert "executor.adress: Extra inputs are not permitted" in proc.stderr


# ---- a real Slurm -------------------------------------------------------------------------------------------
def _slurm_partition() -> str | None:
    if not shutil.which("sinfo") or not shutil.which("sbatch"):
        return None
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%P %t"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        name, state = line.split()
        if state in ("idle", "mix"):
            return name.rstrip("*")
    return None


def _finish_job_done(out: Path) -> bool:
    """The finish job records the run (manifest written, pending.json removed), then releases the LOCK last."""
    recorded = (out / "state" / "manifest.jsonl").exists() and not (out / "state" / "pending.json").exists()
    return recorded and not (out / "LOCK").exists()


def _wait_until_recorded(out: Path, timeout: float = 400) -> None:
    deadline = time.monotonic() + timeout
    while not _finish_job_done(out):
        assert time.monotonic() < deadline, f"the Slurm run in {out} did not finish; see {out}/runs/*/exec/"
        time.sleep(1)


@pytest.fixture(scope="module")
def slurm_partition():
    partition = _slurm_partition()
    if partition is None:
        pytest.skip("no Slurm cluster reachable (sinfo); start one with tools/slurm/single-node.sh")
    return partition


def test_real_slurm_run_matches_local_and_relaunches_a_cancelled_task(slurm_partition, tmp_path):
    local = tmp_path / "local"
    run_local(YAML.name, local)
    executor = f"executor={{kind: slurm, partition: {slurm_partition}, time: '00:20:00', memory_per_cpu_gb: 1}}"

    out = tmp_path / "slurm"
    proc = run_cli("run", YAML, "-o", out, "--no-progress", *subset_args(), "--set", executor, cwd=REPO)
    assert "submitted to Slurm" in proc.stderr
    _wait_until_recorded(out)
    assert_same_corpus(local, out)  # and the finish job released the LOCK (_wait_until_recorded)

    # a task cancelled mid-run: its dependants never start; `curate run` again relaunches only what is missing
    faults = install_fault_plugin(tmp_path / "faults")
    flags = tmp_path / "flags"
    flags.mkdir()
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(faults), os.environ.get("PYTHONPATH")]))}
    relaunched = tmp_path / "relaunched"
    args = ["run", YAML, "-o", relaunched, "--no-progress", *subset_args(), "--set", executor,
            *fault_step_override(flags, YAML.name)]
    run_cli(*args, cwd=REPO, env=env)
    wait_for_victim(flags)
    (flags / "killed").write_text("")
    jobs = json.loads((relaunched / "runs" / "run-0001" / "exec" / "slurm_jobs.json").read_text())
    last_segment = jobs["submissions"][0]["jobs"][-1]["id"]
    subprocess.run(["scancel", f"{last_segment}_0"], check=True)
    deadline = time.monotonic() + 120
    while True:  # wait until Slurm knows the finish job can never start
        again = run_cli(*args, cwd=REPO, env=env)
        if "submitted to Slurm" in again.stderr:
            break
        assert "still running" in again.stderr and time.monotonic() < deadline
        time.sleep(2)
    _wait_until_recorded(relaunched)
    assert_same_corpus(local, relaunched)
    jobs = json.loads((relaunched / "runs" / "run-0001" / "exec" / "slurm_jobs.json").read_text())
    assert len(jobs["submissions"]) == 2
    assert [j["name"].rsplit("-", 2)[-2:] for j in jobs["submissions"][1]["jobs"]] == [["segment", "01"]]
