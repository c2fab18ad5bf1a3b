"""Slurm runs through datatrove's ``SlurmPipelineExecutor``.

``curate run`` submits one sbatch job array per segment, each depending on the previous one (``afterok``), then
a last job that runs ``curate finish CORPUS_DIR``: it checks that every task completed, merges the stats,
updates the manifest and writes the summary, as a local run does at its end. ``curate run`` returns once the
jobs are queued. Running the same ``curate run`` again:

- while jobs of the run are queued or running: reports them and submits nothing;
- after a task failed (its dependants can never start): cancels the stranded jobs and submits again only the
  tasks without a completion marker, so the output is the same as an uninterrupted run;
- when every task completed but the finish job did not run: finishes the run in place.

Job ids are kept in ``runs/<run>/exec/slurm_jobs.json``; scripts and logs in ``runs/<run>/exec/<segment>/``.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import subprocess
import sys

import orjson
from datatrove.executor.slurm import SlurmPipelineExecutor, launch_slurm_job

from curate.executors.common import datatrove_warnings_muted, quiet_terminal_log, segment_gpus
from curate.state import CorpusDir, atomic_write_bytes, read_bytes

JOBS_FILE = "slurm_jobs.json"


class CurateSlurmExecutor(SlurmPipelineExecutor):
    """datatrove's Slurm executor for one segment. Only change: no separate stats-merging job per segment
    (curate merges its own per-rank stats in ``curate finish``)."""

    def launch_merge_stats(self):
        """No stats-merging job: `curate finish` merges curate's own stats."""
        return None


class SlurmRun:
    """What ``make_executors`` returns for ``kind: slurm``: ``run()`` submits the chain and the finish job.

    After ``run()``, ``submitted`` holds a message for the user when jobs were queued, and is empty when every
    task had already completed (``curate run`` then finishes the run itself).
    """

    def __init__(self, executors: list[CurateSlurmExecutor], spec, corpus: CorpusDir, run_id: str, job_name: str):
        self.executors, self.spec, self.corpus, self.run_id = executors, spec, corpus, run_id
        self.job_name = job_name
        self.submitted = ""

    def incomplete(self) -> dict[str, int]:
        """Job name -> number of tasks without a completion marker, for the segments not done."""
        out = {}
        for executor in self.executors:
            missing = executor.get_incomplete_ranks(skip_completed=True)
            if missing:
                out[executor.job_name] = len(missing)
        return out

    def run(self) -> None:
        """Submit the segments' incomplete tasks and the finish job (nothing when every task completed)."""
        quiet_terminal_log()
        missing = self.incomplete()
        if not missing:
            return
        if os.environ.get("SLURM_JOB_ID"):
            raise RuntimeError(f"tasks did not complete: {missing}. Run `curate run` again from a login node to "
                               "relaunch them (jobs are not submitted from inside a job)")
        with datatrove_warnings_muted("datatrove.executor.slurm"):
            self.executors[-1].launch_job()
        launched = [(e.job_name, str(e.job_id)) for e in self.executors if e.job_id not in (None, -1)]
        finish_id = self._submit_finish(launched[-1][1])
        _record_jobs(self.corpus, self.run_id, launched, finish_id)
        chain = ", ".join(f"{job} ({name.removeprefix(self.job_name + '-')})" for name, job in launched)
        self.submitted = (f"{self.run_id} submitted to Slurm: jobs {chain}, then {finish_id} (curate finish) "
                          f"records the run. Follow with `squeue --me`; run the same `curate run` again to see "
                          f"its state or to relaunch failed tasks. "
                          f"Logs: {self.corpus.path('runs', self.run_id, 'exec')}")

    def _submit_finish(self, after_job: str) -> str:
        spec, first = self.spec, self.executors[0]
        logs = self.corpus.path("runs", self.run_id, "exec", "finish")
        if _is_local(logs):
            os.makedirs(logs.removeprefix("file://"), exist_ok=True)
        args = {"partition": spec.partition, "job-name": f"{self.job_name}-finish", "time": spec.time,
                "cpus-per-task": 1, "mem-per-cpu": f"{spec.memory_per_cpu_gb}G",
                "output": f"{_local_or(logs, first.slurm_logs_folder)}/finish-%j.out", **first._sbatch_args}
        if spec.qos:
            args["qos"] = spec.qos
        command = f"python -m curate.cli finish {shlex.quote(self.corpus.root)}"
        script = first.get_launch_file_contents(args, command).replace(
            f"Starting data processing job {first.job_name}", f"Recording {self.run_id} (curate finish)", 1)
        atomic_write_bytes(f"{logs}/launch_script.slurm", script.encode())
        return str(launch_slurm_job(script, first.job_id_retriever, f"--dependency=afterok:{after_job}"))


def slurm_chain(plan, spec, corpus: CorpusDir, workers: int | None = None) -> SlurmRun:
    """One ``CurateSlurmExecutor`` per segment, each depending on the one before; ``workers`` tasks of a job
    array run at once (default: no limit)."""
    job_name = f"{spec.job_name or _default_job_name(corpus)}-{plan.run_id}"
    sbatch_args = {"chdir": os.getcwd(), **spec.sbatch_args}
    executors, previous = [], None
    for segment in plan.segments:
        logging_dir = corpus.path("runs", plan.run_id, "exec", segment.name)
        with datatrove_warnings_muted("datatrove.executor.slurm"):
            previous = CurateSlurmExecutor(
                pipeline=segment.steps, tasks=segment.tasks, time=spec.time, partition=spec.partition,
                cpus_per_task=spec.cpus_per_task, mem_per_cpu_gb=spec.memory_per_cpu_gb,
                gpus_per_task=math.ceil(segment_gpus(segment, spec.gpus)), workers=workers or -1,
                job_name=f"{job_name}-{segment.name}", qos=spec.qos, env_command=spec.env_command or _env_command(),
                sbatch_args=sbatch_args, max_array_size=spec.max_array_size, depends=previous,
                logging_dir=logging_dir, skip_completed=True, with_srun=spec.srun,
                slurm_logs_folder=_local_or(f"{logging_dir}/slurm_logs", None))
        executors.append(previous)
    return SlurmRun(executors, spec, corpus, plan.run_id, job_name)


def _default_job_name(corpus: CorpusDir) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", corpus.root.rstrip("/").rsplit("/", 1)[-1]).strip("-")
    return name or "curate"


def _env_command() -> str:
    """Make the compute node use the Python environment that runs curate here (it must be on shared storage)."""
    if sys.prefix != sys.base_prefix:
        return f"source {shlex.quote(os.path.join(sys.prefix, 'bin', 'activate'))}"
    return f"export PATH={shlex.quote(os.path.dirname(sys.executable))}:$PATH"


def _is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def _local_or(path: str, fallback: str | None) -> str | None:
    """Slurm writes its own logs, so they need a local (shared) path; elsewhere use ``fallback``."""
    return path.removeprefix("file://") if _is_local(path) else fallback


# ---- job bookkeeping -------------------------------------------------------------------------------------
def _jobs_path(corpus: CorpusDir, run_id: str) -> str:
    return corpus.path("runs", run_id, "exec", JOBS_FILE)


def _record_jobs(corpus: CorpusDir, run_id: str, launched: list[tuple[str, str]], finish_id: str) -> None:
    raw = read_bytes(_jobs_path(corpus, run_id))
    record = orjson.loads(raw) if raw else {"submissions": []}
    record["submissions"].append({"jobs": [{"name": n, "id": j} for n, j in launched], "finish": finish_id})
    atomic_write_bytes(_jobs_path(corpus, run_id), orjson.dumps(record, option=orjson.OPT_INDENT_2))


def recorded_job_ids(corpus: CorpusDir, run_id: str) -> list[str]:
    """Every Slurm job id submitted for ``run_id`` (segments and finish jobs), oldest first."""
    raw = read_bytes(_jobs_path(corpus, run_id))
    if not raw:
        return []
    return [job for sub in orjson.loads(raw)["submissions"] for job in [j["id"] for j in sub["jobs"]] + [sub["finish"]]]


def queued_or_running(corpus: CorpusDir, run_id: str) -> list[str]:
    """Jobs of this run that are queued or running. Jobs stranded behind a failed dependency are cancelled."""
    ours = set(recorded_job_ids(corpus, run_id))
    if not ours:
        return []
    own = {os.environ.get("SLURM_JOB_ID"), os.environ.get("SLURM_ARRAY_JOB_ID")}
    alive, stranded = set(), set()
    for line in _squeue():
        job, state, reason = (line.split("|") + ["", ""])[:3]
        base = job.split("_")[0]
        if base not in ours or base in own:
            continue
        (stranded if state == "PENDING" and "DependencyNeverSatisfied" in reason else alive).add(base)
    if stranded:
        subprocess.run(["scancel", *sorted(stranded)], check=False, capture_output=True)
    return sorted(alive - stranded, key=int)


def _squeue() -> list[str]:
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or ""
    cmd = ["squeue", "-h", "-o", "%i|%T|%r"] + (["-u", user] if user else [])
    try:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RuntimeError(f"cannot list Slurm jobs ({' '.join(cmd)}): {exc}") from exc
    return [line.strip() for line in out.splitlines() if line.strip()]
