"""The Ray executor: datatrove's ``RayPipelineExecutor`` on the cluster named in the YAML.

Each task is one Ray task that runs datatrove's ``_run_for_rank`` (task log, stats, completion marker). Ray
keeps its worker processes for the whole ``curate run``, so a task costs no process start, no imports and no
placement group; a task whose worker dies is retried by Ray, and a rerun redoes only the tasks without a
completion marker.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager

from datatrove.executor.ray import RayPipelineExecutor
from datatrove.utils.stats import PipelineStats

from curate.executors.common import datatrove_warnings_muted, quiet_terminal_log, raise_if_incomplete, segment_gpus

#: how often Ray retries a task whose worker process died (datatrove resubmits up to 3 times too)
RETRIES = 3


def ray_executor(segment, logging_dir: str, previous, spec, workers: int | None) -> CurateRayExecutor:
    """The executor of one segment: ``workers`` tasks at once (default: as many as Ray can place)."""
    gpus = segment_gpus(segment, spec.gpus)
    with datatrove_warnings_muted("datatrove.executor.ray"):
        return CurateRayExecutor(
            pipeline=segment.steps, tasks=segment.tasks, workers=workers or -1, depends=previous,
            logging_dir=logging_dir, skip_completed=True, cpus_per_task=spec.cpus_per_task,
            mem_per_cpu_gb=spec.memory_per_cpu_gb, gpus_per_task=int(gpus) if float(gpus).is_integer() else gpus,
            address=spec.address, runtime_env=spec.runtime_env)


class CurateRayExecutor(RayPipelineExecutor):
    """datatrove's Ray executor for one segment. It connects to the cluster named in the YAML, runs its tasks as
    Ray tasks in reused worker processes, and a segment whose tasks did not all complete stops the run with an
    error (datatrove would log it and let the next segment wait forever)."""

    def __init__(self, *args, address: str | None = None, runtime_env: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.address, self.runtime_env = address, runtime_env or {}
        self.working_dir = os.getcwd()

    def run(self):
        """Run the segments this one depends on, then this segment's incomplete tasks."""
        with ray_connection(self.address, self.runtime_env):
            quiet_terminal_log()
            if self.depends is not None and not self.depends._launched:
                self.depends.run()
            if self.depends is not None:
                raise_if_incomplete(self.depends)
            self._launched = True
            ranks = self.get_incomplete_ranks()
            error = None
            if ranks:
                self.save_executor_as_json()
                error = self._run_ray_tasks(ranks)
            raise_if_incomplete(self, error)

    def _run_ray_tasks(self, ranks: list[int]) -> str | None:
        # datatrove's run starts a placement group and a new actor process for every task, about 1 s each on
        # one machine (1.84x the wall time of a local run); plain Ray tasks reuse Ray's worker processes
        import ray

        task = ray.remote(_run_task).options(
            num_cpus=self.cpus_per_task, num_gpus=self.gpus_per_task, max_retries=RETRIES,
            memory=int(self.mem_per_cpu_gb * self.cpus_per_task * 2**30), **(self.ray_remote_kwargs or {}))
        executor, queue, running = ray.put(self), list(ranks), []
        limit = len(ranks) if self.workers in (-1, None) else self.workers
        stats, first_error = PipelineStats(), None
        while queue or running:
            while queue and len(running) < limit:
                running.append(task.remote(executor, queue.pop(0)))
            done, running = ray.wait(running, num_returns=1)
            try:
                stats += ray.get(done[0])
            except Exception as exc:  # noqa: BLE001 - the task's log has the traceback; the others go on
                cause = getattr(exc, "cause", None) or exc
                last_line = (str(cause).strip().splitlines() or [""])[-1][:300]
                first_error = first_error or f"{type(cause).__name__}: {last_line}"
        if not self.get_incomplete_ranks():
            with self.logging_dir.open("stats.json", "wt") as handle:
                stats.save_to_disk(handle)
        return first_error

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):
        # relative paths in the YAML mean the directory `curate run` ran in (as under Slurm, where jobs start
        # in the submission directory); on a cluster that directory must be on the shared filesystem
        if os.path.isdir(self.working_dir):
            os.chdir(self.working_dir)
        return super()._run_for_rank(rank, local_rank, node_rank)


def _run_task(executor: CurateRayExecutor, rank: int) -> PipelineStats:
    """One task, in a Ray worker process."""
    return executor._run_for_rank(rank)


@contextmanager
def ray_connection(address: str | None, runtime_env: dict | None = None):
    """Connect to Ray unless this process already is; disconnect afterwards only if we connected."""
    import ray

    if ray.is_initialized():
        yield
        return
    address = address or os.environ.get("RAY_ADDRESS")
    options = {"runtime_env": runtime_env or None, "log_to_driver": False, "logging_level": logging.WARNING}
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
