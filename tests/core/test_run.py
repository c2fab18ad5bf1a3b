"""Running pipelines: parallel determinism, crash and resume, incremental shards, report."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from curate.testing import read_corpus, read_excluded, run_cli, run_pipeline_dict


def _files(root: Path, area: str) -> dict[str, bytes]:
    base = root / area
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def _github_pipeline(default_input, out, extra_steps=()):
    return {"name": "gh", "inputs": [{"source": "jsonl", "with": {"paths": [str(default_input / "*.jsonl.zst")]}}],
            "output": {"dir": str(out), "max_file_mb": 0.1},  # several tasks (shards grouped), files that roll
            "steps": [{"uses": "language_from_extension"}, *extra_steps, {"uses": "exact_dedup"},
                      {"uses": "code_heuristics"}]}


def test_output_identical_whatever_the_number_of_workers(default_input, tmp_path):
    run_pipeline_dict(_github_pipeline(default_input, tmp_path / "w1"), workers=1)
    run_pipeline_dict(_github_pipeline(default_input, tmp_path / "w2"), workers=2)
    assert _files(tmp_path / "w1", "data") == _files(tmp_path / "w2", "data")
    assert _files(tmp_path / "w1", "excluded") == _files(tmp_path / "w2", "excluded")
    assert len(read_corpus(tmp_path / "w1")) > 600
    parts = sorted(_files(tmp_path / "w1", "data"))
    assert len({p.split("/")[1].rsplit("-", 1)[0] for p in parts}) >= 4  # tasks
    assert len(parts) > len({p.rsplit("-", 1)[0] for p in parts})  # and some task rolled to a second file


def test_every_input_document_is_in_output_or_excluded(default_input, tmp_path):
    result = run_pipeline_dict(_github_pipeline(default_input, tmp_path / "out"))
    kept, excluded = read_corpus(tmp_path / "out"), read_excluded(tmp_path / "out")
    assert len(kept) + len(excluded) == result.summary["docs_in"] == 727
    assert all(r["metadata"]["drop.reason"] and r["metadata"]["drop.step"] for r in excluded)
    rows = {s["step_id"]: s for s in result.summary["steps"]}
    assert rows["code_heuristics"]["docs_in"] - rows["code_heuristics"]["docs_out"] == \
        sum(d[0] for d in rows["code_heuristics"]["drops"].values())


def test_kill_half_way_then_rerun_gives_identical_output(default_input, tmp_path, faulty_plugin_path):
    env = {"PYTHONPATH": os.pathsep.join([str(faulty_plugin_path), os.environ.get("PYTHONPATH", "")])}
    marker = tmp_path / "armed"
    kill_step = {"uses": "kill_once", "with": {"doc_id": "square/javapoet:README.md", "marker": str(marker)}}
    reference = tmp_path / "reference.yaml"
    reference.write_text(yaml.safe_dump(_github_pipeline(default_input, tmp_path / "ref", [kill_step])))
    run_cli("run", reference, "-w", "1", env=env)

    crashing = tmp_path / "crashing.yaml"
    crashing.write_text(yaml.safe_dump(_github_pipeline(default_input, tmp_path / "crash", [kill_step])))
    marker.write_text("armed")
    proc = run_cli("run", crashing, "-w", "1", env=env, check=False)
    assert proc.returncode == -9  # killed half-way, like `kill -9`
    assert (tmp_path / "crash/state/pending.json").exists()
    assert not marker.exists()
    resumed = run_cli("run", crashing, "-w", "1", env=env)
    assert "resuming interrupted run-0001" in resumed.stderr
    assert _files(tmp_path / "ref", "data") == _files(tmp_path / "crash", "data")
    assert _files(tmp_path / "ref", "excluded") == _files(tmp_path / "crash", "excluded")
    assert not (tmp_path / "crash/state/pending.json").exists()
    assert not list((tmp_path / "crash").rglob("*.tmp-*"))


def test_interrupted_run_refuses_a_different_pipeline(default_input, tmp_path, faulty_plugin_path):
    env = {"PYTHONPATH": str(faulty_plugin_path)}
    marker = tmp_path / "armed"
    marker.write_text("x")
    kill_once = {"uses": "kill_once", "with": {"doc_id": "spf13/pflag:flag.go", "marker": str(marker)}}
    pipeline = _github_pipeline(default_input, tmp_path / "out", [kill_once])
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(pipeline))
    assert run_cli("run", path, "-w", "1", env=env, check=False).returncode == -9
    pipeline["steps"][-1]["with"] = {"max_line_length": 10}
    path.write_text(yaml.safe_dump(pipeline))
    proc = run_cli("run", path, env=env, check=False)
    assert proc.returncode == 3 and "was interrupted and used a different pipeline" in proc.stderr
    assert run_cli("run", path, "--restart", env=env).returncode == 0


def test_changed_consumed_shard_is_an_error(default_input, tmp_path):
    folder = tmp_path / "in"
    shutil.copytree(default_input, folder)
    pipeline = _github_pipeline(folder, tmp_path / "out")
    pipeline["inputs"][0]["with"]["paths"] = [str(folder / "*.jsonl.zst")]
    run_pipeline_dict(pipeline)
    shutil.copy(folder / "spf13__pflag.jsonl.zst", folder / "dtolnay__anyhow.jsonl.zst")
    from curate.run import RunError

    with pytest.raises(RunError, match="dtolnay__anyhow.jsonl.zst changed since run-0001 consumed it"):
        run_pipeline_dict(pipeline)


def test_report_shows_funnel_reasons_yaml_and_versions(default_input, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(_github_pipeline(default_input, tmp_path / "out")))
    run_cli("run", path)
    out = run_cli("report", tmp_path / "out").stdout
    for needle in ("run-0001", "code_heuristics", "exact_duplicate", "generated", "docs/s", "resolved pipeline:",
                   "max_line_length: 1000", "built-in", "curate 0.1.0"):
        assert needle in out, needle
    as_json = run_cli("report", tmp_path / "out", "--json").stdout
    assert '"docs_in": 727' in as_json


def test_state_directory_elsewhere_is_used_and_found_by_report(default_input, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(default_input / "spf13__pflag.jsonl.zst", folder)
    pipeline = _github_pipeline(folder, tmp_path / "corpus")
    pipeline["state"] = {"dir": str(tmp_path / "fast-disk" / "state")}
    run_pipeline_dict(pipeline)
    assert (tmp_path / "fast-disk/state/manifest.jsonl").exists()
    assert (tmp_path / "fast-disk/state/index/exact_dedup").is_dir()
    assert not (tmp_path / "corpus/state").exists()
    shutil.copy(default_input / "dtolnay__anyhow.jsonl.zst", folder)
    second = run_pipeline_dict(pipeline)
    assert second.run_id == "run-0002" and second.summary["docs_in"] == 54  # only the new shard
    report = run_cli("report", tmp_path / "corpus", "--json").stdout
    assert '"manifest_shards": 2' in report
