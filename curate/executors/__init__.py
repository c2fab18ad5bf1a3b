"""Build datatrove executors for a plan: one executor per segment, each depending on the one before.

``executor.kind`` picks datatrove's ``LocalPipelineExecutor``, ``RayPipelineExecutor`` or
``SlurmPipelineExecutor``; the plan, and so the output, is the same for all three. ``workers`` (``curate run
-w``, else ``executor.workers``) is the number of tasks running at once on every executor. Logs of every task
go to ``runs/<run>/exec/<segment>/logs``; the terminal shows only warnings, so the progress line stays readable.
"""

from __future__ import annotations

import os
import shutil

from curate.executors.local import CurateLocalExecutor
from curate.executors.ray import CurateRayExecutor, ray_executor
from curate.executors.slurm import SlurmRun, queued_or_running, recorded_job_ids, slurm_chain
from curate.state import CorpusDir

__all__ = ["CurateLocalExecutor", "CurateRayExecutor", "SlurmRun", "jobs_still_running", "make_executors"]


def make_executors(plan, executor_spec, corpus: CorpusDir, workers: int | None = None):
    """Return the executor of the last segment; running it runs every segment before it first.

    ``workers`` (``curate run -w``) overrides ``executor.workers``. Without either: all cores (local), as many
    tasks as Ray can place (ray), no limit on a job array (slurm)."""
    workers = workers or executor_spec.workers
    if executor_spec.kind == "ray":
        return _chain(plan, corpus, lambda segment, logs, previous: ray_executor(segment, logs, previous,
                                                                                 executor_spec, workers))
    if executor_spec.kind == "slurm":
        return slurm_chain(plan, executor_spec, corpus, workers)
    workers = workers or os.cpu_count() or 1
    return _chain(plan, corpus, lambda segment, logs, previous: CurateLocalExecutor(
        pipeline=segment.steps, tasks=segment.tasks, workers=max(1, min(workers, segment.tasks)),
        logging_dir=logs, depends=previous, skip_completed=True))


def jobs_still_running(executor_spec, corpus: CorpusDir, run_id: str) -> list[str]:
    """Slurm jobs still working on a pending run, whatever executor the rerun asks for (local and Ray tasks
    live inside `curate run`, so they cannot outlive it)."""
    if not recorded_job_ids(corpus, run_id):
        return []
    if executor_spec.kind != "slurm" and shutil.which("squeue") is None:
        return []  # submitted from another machine; this one cannot see the queue
    return queued_or_running(corpus, run_id)


def _chain(plan, corpus: CorpusDir, build):
    previous = None
    for segment in plan.segments:
        previous = build(segment, corpus.path("runs", plan.run_id, "exec", segment.name), previous)
    return previous
