"""Every shipped pipeline validates; the main job runs end to end exactly as the README says."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.testing import read_corpus, run_cli

PIPELINES = sorted((Path(__file__).resolve().parents[2] / "pipelines").glob("*.yaml"))


@pytest.mark.parametrize("pipeline", PIPELINES, ids=[p.name for p in PIPELINES])
def test_shipped_pipeline_validates(pipeline, repo_root):
    proc = run_cli("validate", pipeline, cwd=repo_root, check=False)
    assert proc.returncode == 0, proc.stderr


def test_main_job_runs_on_embedded_input(repo_root, tmp_path):
    proc = run_cli("run", "pipelines/github_files.yaml", "-o", tmp_path / "out", cwd=repo_root)
    assert "docs in" in proc.stdout and "code_heuristics" in proc.stdout and "727" in proc.stdout
    records = read_corpus(tmp_path / "out")
    assert 600 < len(records) < 727
    assert {r["metadata"]["lang"] for r in records} >= {"python", "go", "rust", "c", "java", "cpp", "javascript"}
    again = run_cli("run", "pipelines/github_files.yaml", "-o", tmp_path / "out", cwd=repo_root)
    assert "nothing to do" in again.stderr
