"""The local executor: datatrove's ``LocalPipelineExecutor``, its tasks in worker processes of this machine."""

from __future__ import annotations

import os

import multiprocess
from datatrove.executor.local import LocalPipelineExecutor

from curate.executors.common import (
    children_die_with_this_process,
    die_with_parent,
    quiet_terminal_log,
    raise_if_incomplete,
)


class CurateLocalExecutor(LocalPipelineExecutor):
    """datatrove's local executor for one segment. A dependency that did not complete stops the run with an
    error, every process it starts ends with ``curate run``, and the terminal shows warnings only."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.driver_pid = os.getpid()

    def run(self):
        """Run the segments this one depends on, then this segment's incomplete tasks."""
        quiet_terminal_log()
        if self.depends is not None and not self.depends._launched:
            self.depends.run()
        if self.depends is not None:
            raise_if_incomplete(self.depends)
        self._preload_step_modules()
        # datatrove's run starts a multiprocess.Manager server, even for one worker, that would outlive a
        # `kill -9` of the run and hold the terminal's pipes open: processes forked here die with this one
        with children_die_with_this_process():
            return super().run()

    def _preload_step_modules(self) -> None:
        """Have the forkserver import the steps' modules once, so pool workers fork with them loaded."""
        # each worker would otherwise import curate, datatrove, numpy and the plugins again (~0.7 s CPU each);
        # this takes effect only before the forkserver starts, i.e. for the first segment that uses a pool
        if self.start_method != "forkserver" or self.workers == 1 or self.local_tasks == 1:
            return
        modules = {type(step).__module__ for step in self.pipeline}
        multiprocess.get_context("forkserver").set_forkserver_preload(sorted(modules | {"curate.run"}))

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):
        # datatrove prints a task's log on the terminal when local_rank is 0 and resets the terminal logger to
        # DEBUG after each task; curate's terminal is its progress line (the task log file keeps everything)
        if os.getpid() != self.driver_pid:
            die_with_parent()  # a pool worker: it must not outlive the run (its parent is the forkserver)
        try:
            return super()._run_for_rank(rank, local_rank + 1, node_rank)
        finally:
            quiet_terminal_log()
