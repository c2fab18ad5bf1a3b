"""`-w` means the same on every executor: tasks running at once, overriding `executor.workers`."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from curate.config import LocalExecutorSpec, RayExecutorSpec, SlurmExecutorSpec
from curate.executors import CurateLocalExecutor, CurateRayExecutor, SlurmRun, make_executors
from curate.state import CorpusDir


@dataclass
class _Segment:
    name: str
    tasks: int
    steps: list = field(default_factory=list)
    gpus: float = 0.0


@dataclass
class _Plan:
    run_id: str = "run-0001"
    segments: list = field(default_factory=lambda: [_Segment("segment-00", 4), _Segment("dedup-resolve", 1),
                                                    _Segment("segment-01", 4)])


def _chain(last) -> list:
    chain = []
    while last is not None:
        chain.insert(0, last)
        last = last.depends
    return chain


def _workers(spec, corpus, workers) -> list[int]:
    last = make_executors(_Plan(), spec, corpus, workers)
    executors = last.executors if isinstance(last, SlurmRun) else _chain(last)
    return [e.workers for e in executors]


@pytest.mark.parametrize("spec,default,from_yaml,from_cli", [
    (LocalExecutorSpec(workers=2), None, [2, 1, 2], [3, 1, 3]),
    (RayExecutorSpec(kind="ray", workers=2), [4, 1, 4], [2, 2, 2], [3, 3, 3]),
    (SlurmExecutorSpec(kind="slurm", partition="cpu", workers=2), [-1, -1, -1], [2, 2, 2], [3, 3, 3]),
])
def test_workers_from_cli_override_the_yaml_on_every_executor(spec, default, from_yaml, from_cli, tmp_path):
    corpus = CorpusDir(str(tmp_path / "corpus"))
    assert _workers(spec, corpus, None) == from_yaml
    assert _workers(spec, corpus, 3) == from_cli
    if default is not None:  # without either: as many as Ray can place (all tasks queued), no array limit
        assert _workers(spec.model_copy(update={"workers": None}), corpus, None) == default


def test_executor_classes(tmp_path):
    corpus = CorpusDir(str(tmp_path / "corpus"))
    assert isinstance(make_executors(_Plan(), LocalExecutorSpec(), corpus), CurateLocalExecutor)
    assert isinstance(make_executors(_Plan(), RayExecutorSpec(kind="ray"), corpus), CurateRayExecutor)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_terminal_shows_no_datatrove_info_lines(workers, tmp_path):
    """Tasks in this process (-w 1) or in a pool (-w 2): datatrove's INFO lines stay in the task logs."""
    from _cluster_helpers import REPO, subset_override

    from curate.testing import run_cli

    out = tmp_path / "out"
    proc = run_cli("run", REPO / "pipelines" / "github_files.yaml", "-o", out, "-w", workers, "--no-progress",
                   "--set", subset_override(), cwd=REPO)
    assert not any(word in proc.stderr for word in ("INFO", "SUCCESS", "tasks completed")), proc.stderr[-2000:]
    logs = (out / "runs" / "run-0001" / "exec" / "segment-00" / "logs" / "task_00000.log").read_text()
    assert "Processing done for rank=0" in logs
