"""Build datatrove executors for a plan: one executor per segment, each depending on the previous one.

``executor.kind`` picks datatrove's ``LocalPipelineExecutor``, ``RayPipelineExecutor`` or
``SlurmPipelineExecutor`` (see ``curate.slurm``); the plan, and so the output, is the same for all three.
Logs of every task go to ``runs/<run>/exec/<segment>/logs``; only warnings reach the terminal, so the progress
line stays readable.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from contextlib import contextmanager
from copy import deepcopy

import multiprocess
from datatrove.executor import base as executor_base
from datatrove.executor import ray as ray_executor_module
from datatrove.executor.local import LocalPipelineExecutor
from datatrove.executor.ray import RayPipelineExecutor
from datatrove.utils import logging as dt_logging
from datatrove.utils.stats import PipelineStats

from curate.state import CorpusDir


def _quiet_task_logger(logging_dir, rank: int, local_rank: int = 0, node_rank: int = -1):
    logger = dt_logging.logger
    logger.remove()
    logfile = logging_dir.open(f"logs/task_{rank:05d}.log", "w")
    fmt = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {name}:{function}:{line} - {message}"
    logger.add(sys.stderr, level="WARNING", format=_short_format, colorize=False)
    logger.add(logfile, level="DEBUG", format=fmt, colorize=False, diagnose=False)
    return logfile


def _short_format(record) -> str:
    """One line per message on the terminal; full tracebacks stay in the task log files."""
    return "{level}: {message}\n"


def _quiet_default_logger():
    dt_logging.logger.remove()
    dt_logging.logger.add(sys.stderr, level="WARNING", format=_short_format, colorize=False)


executor_base.add_task_logger = _quiet_task_logger
ray_executor_module.add_task_logger = _quiet_task_logger
dt_logging.setup_default_logger = _quiet_default_logger
_quiet_default_logger()


class CurateLocalExecutor(LocalPipelineExecutor):
    """datatrove's local executor, with two changes:

    - worker processes import this module (and so its quiet logging) when they unpickle the executor;
    - no ``multiprocess.Manager`` server process: datatrove's creates one even for one worker, and it
      outlives a ``kill -9`` of the run, holding the terminal's pipes open. Here one worker runs tasks in
      this process and several workers use a plain pool, whose processes exit when the run dies.
    """

    def run(self):
        if self.depends and not self.depends._launched:
            self.depends.run()
        if self.depends and self.depends.get_incomplete_ranks(skip_completed=True):
            raise RuntimeError(f"dependency job {self.depends.logging_dir.path} has incomplete tasks")
        self._launched = True
        ranks = self.get_incomplete_ranks(range(self.local_rank_offset, self.local_rank_offset + self.local_tasks))
        if not ranks:
            return None
        self.save_executor_as_json()
        if self.workers == 1:
            pipeline = self.pipeline
            stats = []
            for rank in ranks:
                self.pipeline = deepcopy(pipeline)
                stats.append(self._run_for_rank(rank))
            self.pipeline = pipeline
        else:
            ctx = multiprocess.get_context(self.start_method)
            with ctx.Pool(min(self.workers, len(ranks))) as pool:
                stats = list(pool.imap_unordered(self._run_for_rank, ranks))
        stats = sum(stats, start=PipelineStats())
        with self.logging_dir.open("stats.json", "wt") as handle:
            stats.save_to_disk(handle)
        return stats


def make_executors(plan, executor_spec, corpus: CorpusDir, workers: int):
    """Return the executor of the last segment; running it runs every segment before it first."""
    if executor_spec.kind == "ray":
        return _chain(plan, corpus, lambda segment, logs, previous: _ray_executor(segment, logs, previous,
                                                                                  executor_spec))
    if executor_spec.kind == "slurm":
        from curate.slurm import slurm_chain

        return slurm_chain(plan, executor_spec, corpus)
    return _chain(plan, corpus, lambda segment, logs, previous: CurateLocalExecutor(
        pipeline=segment.steps, tasks=segment.tasks, workers=max(1, min(workers, segment.tasks)),
        logging_dir=logs, depends=previous, skip_completed=True))


def jobs_in_flight(executor_spec, corpus: CorpusDir, run_id: str) -> list[str]:
    """Slurm jobs still working on a pending run, whatever executor the rerun asks for (local and Ray tasks
    live inside `curate run`, so they cannot outlive it)."""
    from curate.slurm import jobs_in_flight as slurm_jobs_in_flight
    from curate.slurm import recorded_job_ids

    if not recorded_job_ids(corpus, run_id):
        return []
    if executor_spec.kind != "slurm" and shutil.which("squeue") is None:
        return []  # submitted from another machine; this one cannot see the queue
    return slurm_jobs_in_flight(corpus, run_id)


def _chain(plan, corpus: CorpusDir, build):
    previous = None
    for segment in plan.segments:
        previous = build(segment, corpus.path("runs", plan.run_id, "exec", segment.name), previous)
    return previous


def segment_step_ids(segment) -> set[str]:
    """Ids of the pipeline steps a segment runs (a Stage's barrier segments are named ``<step id>-<job>``)."""
    ids = {step.context.step_id for step in segment.steps if hasattr(getattr(step, "context", None), "step_id")}
    ids.add(segment.name.rsplit("-", 1)[0])
    return ids


def segment_gpus(segment, gpus_by_step: dict[str, float]) -> float:
    """GPUs one task of ``segment`` needs: the most any of its steps asks for in ``executor.gpus``."""
    wanted = [gpus for step_id, gpus in gpus_by_step.items() if step_id in segment_step_ids(segment)]
    segment.gpus = max(wanted, default=0.0)
    return segment.gpus


# ---- Ray ---------------------------------------------------------------------------------------------------
@contextmanager
def _datatrove_warnings_muted(module: str):
    """datatrove warns that a local logging dir must be shared by all nodes; curate's docs say so once."""
    dt_logging.logger.disable(module)
    try:
        yield
    finally:
        dt_logging.logger.enable(module)


def _ray_executor(segment, logging_dir: str, previous, spec):
    gpus = segment_gpus(segment, spec.gpus)
    with _datatrove_warnings_muted("datatrove.executor.ray"):
        return CurateRayExecutor(
            pipeline=segment.steps, tasks=segment.tasks, workers=spec.workers or -1, depends=previous,
            logging_dir=logging_dir, skip_completed=True, cpus_per_task=spec.cpus_per_task,
            mem_per_cpu_gb=spec.memory_per_cpu_gb, gpus_per_task=int(gpus) if float(gpus).is_integer() else gpus,
            address=spec.address, runtime_env=spec.runtime_env)


class CurateRayExecutor(RayPipelineExecutor):
    """datatrove's Ray executor, plus: it connects to the cluster named in the YAML, and a segment whose tasks
    did not all complete stops the run with an error (datatrove would log it and let the next segment wait
    forever). Tasks whose worker dies are resubmitted by datatrove (up to 3 times); a rerun redoes only the
    tasks without a completion marker."""

    def __init__(self, *args, address: str | None = None, runtime_env: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.address, self.runtime_env = address, runtime_env or {}
        self.working_dir = os.getcwd()

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):
        # runs in a process that datatrove's Ray actor forks for the task
        _die_with_parent()
        # relative paths in the YAML mean the directory `curate run` ran in (as under Slurm, where jobs start
        # in the submission directory); on a cluster that directory must be on the shared filesystem
        if os.path.isdir(self.working_dir):
            os.chdir(self.working_dir)
        return super()._run_for_rank(rank, local_rank, node_rank)

    def run(self):
        with ray_connection(self.address, self.runtime_env):
            if self.depends is not None and not self.depends._launched:
                self.depends.run()
            if self.depends is not None:
                self.depends.raise_if_incomplete()
            super().run()
            self.raise_if_incomplete()

    def raise_if_incomplete(self) -> None:
        missing = self.get_incomplete_ranks(skip_completed=True)
        if missing:
            raise RuntimeError(f"{len(missing)} of {self.world_size} tasks of {self.logging_dir.path} did not "
                               f"complete (ranks {missing[:10]}); see logs/ there")


def _die_with_parent() -> None:
    """Linux: end this task process when the Ray actor that forked it dies, so that a killed worker's task is
    not left running next to its retry."""
    try:
        import ctypes

        parent = os.getppid()
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os._exit(1)
    except (OSError, AttributeError):
        pass


@contextmanager
def ray_connection(address: str | None, runtime_env: dict | None = None):
    """Connect to Ray unless this process already is; disconnect afterwards only if we connected."""
    import ray

    if ray.is_initialized():
        yield
        return
    address = address or os.environ.get("RAY_ADDRESS")
    options = {"runtime_env": runtime_env or None, "log_to_driver": False}
    if address is None:
        options["include_dashboard"] = False
    try:
        ray.init(address=address, **options)
    except Exception as exc:  # noqa: BLE001 - ray raises several types here; all mean "not reachable"
        raise RuntimeError(f"cannot reach the Ray cluster at {address!r}: {exc}. Start one with `ray start --head` "
                           "or set executor.address") from exc
    try:
        yield
    finally:
        ray.shutdown()
