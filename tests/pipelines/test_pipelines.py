"""Every shipped pipeline validates; the main job runs end to end exactly as the README says."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from curate.testing import read_corpus, run_cli
from curate_plugins._quality.proxy_server import serving

PIPELINES = sorted((Path(__file__).resolve().parents[2] / "pipelines").glob("*.yaml"))


@pytest.mark.parametrize("pipeline", PIPELINES, ids=[p.name for p in PIPELINES])
def test_shipped_pipeline_validates(pipeline, repo_root):
    with _llm_server_for(pipeline) as overrides:  # validate checks that an LLM server answers
        proc = run_cli("validate", pipeline, *overrides, cwd=repo_root, check=False)
    assert proc.returncode == 0, proc.stderr


@contextmanager
def _llm_server_for(pipeline: Path):
    """For a pipeline with an `openai` backend step: a local OpenAI-compatible server (the proxy oracle) that
    serves the YAML's model name, and the --set that points the step at it."""
    steps = yaml.safe_load(pipeline.read_text()).get("steps", [])
    found = [(i, s["with"]["backend"]) for i, s in enumerate(steps)
             if s.get("with", {}).get("backend", {}).get("kind") == "openai"]
    if not found:
        yield []
        return
    index, backend = found[0]
    with serving("--model", backend["model"]) as base_url:
        yield ["--set", f"steps[{index}].with.backend.base_url={base_url}"]


def test_main_job_runs_on_embedded_input(repo_root, tmp_path):
    proc = run_cli("run", "pipelines/github_files.yaml", "-o", tmp_path / "out", cwd=repo_root)
    assert "docs in" in proc.stdout and "code_heuristics" in proc.stdout and "727" in proc.stdout
    records = read_corpus(tmp_path / "out")
    assert 600 < len(records) < 727
    assert {r["metadata"]["lang"] for r in records} >= {"python", "go", "rust", "c", "java", "cpp", "javascript"}
    again = run_cli("run", "pipelines/github_files.yaml", "-o", tmp_path / "out", cwd=repo_root)
    assert "nothing to do" in again.stderr
