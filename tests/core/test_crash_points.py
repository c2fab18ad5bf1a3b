"""Kill -9 at 10 random points of a run and of a rollback, publication of the index included; after each, running
again gives a corpus byte-identical to one that was never killed (issue 13).

The points are drawn with a fixed seed (set ``CURATE_KILL_SEED`` to draw others): 4 at random moments of a run's
work (reading, dedup barrier, writing), 3 inside its publication (``publish:index`` always: between committing
the index snapshot and the manifest) and 3 inside a rollback (``rollback:index`` always). Named points are
``curate.state.crash_point`` calls; the run is forked from this process so that each trial costs well under a
second of startup.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import time

import pytest

from curate.config import validate_pipeline
from curate.history import rollback
from curate.run import run_pipeline
from curate.state import CorpusDir

PUBLISH = ["publish:start", "publish:schema", "publish:data", "publish:output", "publish:manifest", "publish:pending",
           "gc"]
ROLLBACK = ["rollback:start", "rollback:manifest", "rollback:superseded", "rollback:data", "rollback:schema",
            "rollback:record"]
SHARDS = [["spf13__pflag", "pallets__itsdangerous"], ["dtolnay__anyhow"], ["tj__commander.js"]]  # runs 1-3
COMPARED = ("data", "excluded", "schema.json", "state/manifest.jsonl", "state/index")


def _resolved(folder, out):
    raw = {"name": "gh", "inputs": [{"source": "jsonl", "with": {"paths": [str(folder / "*.jsonl.zst")]}}],
           "output": {"dir": str(out)}, "executor": {"kind": "local", "workers": 1},
           "steps": [{"uses": "language_from_extension"}, {"uses": "exact_dedup", "with": {"compaction_fanout": 2}},
                     {"uses": "code_heuristics"}]}
    resolved, errors = validate_pipeline(raw)
    assert not errors, errors
    return resolved


def _run(folder, out):
    return run_pipeline(_resolved(folder, out), workers=1, show_progress=False, echo=lambda m: None)


def _tree(root) -> dict[str, bytes]:
    out = {}
    for area in COMPARED:
        path = root / area
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []
        out.update({str(p.relative_to(root)): p.read_bytes() for p in files})
    return out


@pytest.fixture(scope="module")
def corpora(default_input, tmp_path_factory):
    """One input folder (all shards), the corpus after runs 1-2 (`base`) and after runs 1-3 (`reference`), and
    how long run 3 takes."""
    root = tmp_path_factory.mktemp("crash")
    folder, work = root / "in", root / "work"
    folder.mkdir()
    seconds = 0.0
    for number, names in enumerate(SHARDS, start=1):
        for name in names:
            shutil.copy(default_input / f"{name}.jsonl.zst", folder)
        if number == 3:
            shutil.copytree(work, root / "base")
            t0 = time.monotonic()
        _run(folder, work)
    seconds = time.monotonic() - t0
    shutil.copytree(work, root / "reference")
    return folder, root / "base", root / "reference", seconds


def _points() -> list[tuple[str, str | float]]:
    rng = random.Random(int(os.environ.get("CURATE_KILL_SEED", "13")))
    publish = ["publish:index"] + rng.sample(PUBLISH, 2)
    rolled = ["rollback:index"] + rng.sample(ROLLBACK, 2)
    timed = [round(rng.uniform(0.05, 0.95), 3) for _ in range(4)]  # a share of run 3's duration
    return [("run", t) for t in timed] + [("run", p) for p in publish] + [("rollback", p) for p in rolled]


def _killed_child(action, point) -> int:
    """Fork; the child does ``action`` and is killed at ``point`` (a crash point name, or a share of
    ``action``'s duration). Returns the child's signal, 0 when it finished first."""
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            if isinstance(point, str):
                os.environ["CURATE_CRASH_AT"] = point
            action()
            code = 0
        finally:
            os._exit(code)
    if not isinstance(point, str):
        time.sleep(point)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0


@pytest.mark.parametrize("trial", range(10))
def test_kill_at_a_random_point_then_rerun_gives_identical_output(corpora, tmp_path, trial):
    folder, base, reference, seconds = corpora
    kind, point = _points()[trial]
    corpus = tmp_path / "corpus"
    if kind == "run":
        shutil.copytree(base, corpus)
        moment = point if isinstance(point, str) else point * seconds
        signal_number = _killed_child(lambda: _run(folder, corpus), moment)
        if isinstance(point, str):
            assert signal_number == signal.SIGKILL, f"the run never reached {point}"
    else:
        shutil.copytree(reference, corpus)
        signal_number = _killed_child(lambda: rollback(CorpusDir(str(corpus))), point)
        assert signal_number == signal.SIGKILL, f"the rollback never reached {point}"
        assert (corpus / "state" / "rollback.json").exists()
    _run(folder, corpus)  # finishes the interrupted run or rollback, then runs what is left
    assert not (corpus / "state" / "pending.json").exists() and not (corpus / "state" / "rollback.json").exists()
    assert _tree(corpus) == _tree(reference), f"trial {trial}: killed at {kind} {point}"
    assert not list(corpus.rglob("*.tmp-*"))


def test_restart_of_a_run_killed_while_publishing_finishes_the_publication(corpora, tmp_path):
    """Part of the run may already be in data/: `--restart` cannot discard it, so it finishes publishing."""
    folder, base, reference, _ = corpora
    corpus = tmp_path / "corpus"
    shutil.copytree(base, corpus)
    assert _killed_child(lambda: _run(folder, corpus), "publish:data") == signal.SIGKILL
    said = []
    run_pipeline(_resolved(folder, corpus), workers=1, restart=True, show_progress=False, echo=said.append)
    assert any("run-0003 was being published: finishing that" in line for line in said), said
    assert _tree(corpus) == _tree(reference)
