"""Helpers for testing curate plugins, ours and third parties' alike.

- ``apply_step(plugin, docs)`` runs a Filter, Annotator or Transform in-process and returns what it kept
  and what it dropped (with ``drop.reason``).
- ``run_pipeline_dict(pipeline, tmp_dir)`` runs a whole pipeline (stages included) on the local executor.

Both check that every metadata key a plugin writes is declared in its ``Metadata`` (with a value of the
declared type), and fail the test naming the key otherwise (``checked_metadata(False)`` turns it off).
- ``read_corpus(dir)`` / ``read_excluded(dir)`` read a corpus directory back.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from datatrove.data import Document

from curate.io import iter_shard
from curate.schema import CHECK_ENV
from curate.state import filesystem


@contextmanager
def checked_metadata(enabled: bool = True):
    """Within the block, steps fail on metadata keys they do not declare (``CURATE_CHECK_METADATA``)."""
    old = os.environ.get(CHECK_ENV)
    os.environ[CHECK_ENV] = "1" if enabled else "0"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(CHECK_ENV, None)
        else:
            os.environ[CHECK_ENV] = old


@dataclass
class StepResult:
    """What a step did to a list of documents in a test: the kept and the dropped ones."""
    kept: list[Document] = field(default_factory=list)
    dropped: list[Document] = field(default_factory=list)

    @property
    def reasons(self) -> dict[str, str]:
        """document id -> drop reason"""
        return {d.id: d.metadata.get("drop.reason") for d in self.dropped}


class _ListSink:
    def __init__(self, into: list):
        self.into = into

    def write(self, doc, rank):
        self.into.append(doc)

    def close(self, rank, commit=True):
        pass


def apply_step(plugin, docs: list[Document]) -> StepResult:
    """Run one per-document plugin over ``docs`` in this process."""
    result = StepResult()
    plugin.excluded = _ListSink(result.dropped)
    with checked_metadata(os.environ.get(CHECK_ENV) != "0"):
        result.kept = list(plugin.run(iter(docs), rank=0, world_size=1))
    return result


def make_doc(text: str, doc_id: str = "doc", **metadata) -> Document:
    """A datatrove Document with ``metadata`` given as keyword arguments."""
    return Document(text=text, id=doc_id, metadata=dict(metadata))


def read_corpus(corpus_dir: str | Path, run_id: str | None = None) -> list[dict]:
    """Every output record of a corpus (or of one run), in run and shard order."""
    return _read_area(corpus_dir, "data", run_id)


def read_excluded(corpus_dir: str | Path, run_id: str | None = None) -> list[dict]:
    """Every excluded record (dropped documents and rejected source records)."""
    return _read_area(corpus_dir, "excluded", run_id)


def _read_area(corpus_dir, area: str, run_id: str | None) -> list[dict]:
    fs, root = filesystem(str(Path(corpus_dir) / area / (run_id or "")))
    if not fs.exists(root):
        return []
    files = sorted(p for p in fs.find(root) if ".tmp-" not in p and p.endswith((".zst", ".parquet", ".jsonl")))
    return [rec for path in files for rec in iter_shard(path)]


def run_pipeline_dict(pipeline: dict, workers: int = 1, echo=lambda m: None, **options):
    """Validate and run a pipeline given as a mapping; returns the ``RunResult``. ``options``: the fields of
    ``curate.run.RunOptions`` (``accept_changes=True``, ``backfill=True``, ``rebuild_index=("step",)``, ...)."""
    from curate.config import ConfigError, validate_pipeline
    from curate.run import RunOptions, run_pipeline

    resolved, errors = validate_pipeline(pipeline)
    if errors:
        raise ConfigError(errors)
    with checked_metadata(os.environ.get(CHECK_ENV) != "0"):
        return run_pipeline(resolved, workers=workers, show_progress=False, echo=echo, options=RunOptions(**options))


def run_cli(*args: str, cwd: str | Path | None = None, check: bool = True, timeout: float = 600,
            env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``curate ARGS`` in a subprocess, as a user would."""
    proc = subprocess.run([sys.executable, "-m", "curate.cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"curate {' '.join(map(str, args))} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc
