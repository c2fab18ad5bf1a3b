"""What the executors share: a quiet terminal, child processes that die with the run, GPUs per segment."""

from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager

from datatrove.utils.logging import logger


def quiet_terminal_log() -> None:
    """Show only warnings on the terminal, one line each; the task log files keep everything."""
    logger.remove()
    logger.add(sys.stderr, level="WARNING", format=_one_line, colorize=False)


def _one_line(record) -> str:
    return "{level}: {message}\n"


@contextmanager
def datatrove_warnings_muted(module: str):
    """datatrove warns that a local logging dir must be shared by all nodes; curate's docs say so once."""
    logger.disable(module)
    try:
        yield
    finally:
        logger.enable(module)


def raise_if_incomplete(executor, error: str | None = None) -> None:
    """A segment whose tasks did not all complete stops the run (datatrove would wait for it forever)."""
    missing = executor.get_incomplete_ranks(skip_completed=True)
    if missing:
        first = f"; the first error: {error}" if error else ""
        raise RuntimeError(f"{len(missing)} of {executor.world_size} tasks of {executor.logging_dir.path} did not "
                           f"complete (ranks {missing[:10]}){first}; see logs/ there")


def die_with_parent() -> None:
    """Linux: end this process when the process that forked it dies (PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        parent = os.getppid()
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the call
            os._exit(1)
    except (OSError, AttributeError):
        pass


_children_die = False
_hook_registered = False


def _after_fork_in_child() -> None:
    if _children_die:
        die_with_parent()


@contextmanager
def children_die_with_this_process():
    """Processes forked inside this block end when this process ends, even by ``kill -9``."""
    global _children_die, _hook_registered
    if not _hook_registered:
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _hook_registered = True
    previous, _children_die = _children_die, True
    try:
        yield
    finally:
        _children_die = previous


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
