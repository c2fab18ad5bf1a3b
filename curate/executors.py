"""Build datatrove executors for a plan: one executor per segment, each depending on the previous one.

Local runs use datatrove's ``LocalPipelineExecutor``. Logs of every task go to
``runs/<run>/exec/<segment>/logs``; only warnings reach the terminal, so the progress line stays readable.
"""

from __future__ import annotations

import sys

from datatrove.executor import base as executor_base
from datatrove.executor.local import LocalPipelineExecutor
from datatrove.utils import logging as dt_logging

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
dt_logging.setup_default_logger = _quiet_default_logger
_quiet_default_logger()


class CurateLocalExecutor(LocalPipelineExecutor):
    """datatrove's local executor; subclassed only so that worker processes import this module (and so its
    quiet logging) when they unpickle the executor."""


def make_executors(plan, executor_spec, corpus: CorpusDir, workers: int):
    """Return the executor of the last segment; running it runs every segment before it first."""
    previous = None
    for segment in plan.segments:
        previous = CurateLocalExecutor(
            pipeline=segment.steps,
            tasks=segment.tasks,
            workers=max(1, min(workers, segment.tasks)),
            logging_dir=corpus.path("runs", plan.run_id, "exec", segment.name),
            depends=previous,
            skip_completed=True,
        )
    return previous
