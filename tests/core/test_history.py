"""Publishing, failing and undoing runs (issue 13, scenario 5): a step that raises fails the run instead of
dropping silently; `curate runs` lists runs with their fingerprints; `curate rollback` undoes the last run."""

from __future__ import annotations

import os
import shutil
import sys

import orjson
import pytest
import yaml

from curate.testing import read_corpus, read_excluded, run_cli, run_pipeline_dict


@pytest.fixture
def faulty(faulty_plugin_path):
    """Environment of a `curate` subprocess that sees the test-only plugins."""
    return {"PYTHONPATH": os.pathsep.join([str(faulty_plugin_path), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture
def faulty_here(faulty_plugin_path):
    """The test-only plugins importable in this process."""
    from curate import registry

    sys.path.insert(0, str(faulty_plugin_path))
    registry.refresh()
    yield
    sys.path.remove(str(faulty_plugin_path))
    registry.refresh()


def _write(path, pipeline: dict):
    path.write_text(yaml.safe_dump(pipeline, sort_keys=False))
    return path


def _raising(default_input, out, fixed, needle="e", **extra) -> dict:
    return {"name": "gh", "inputs": [{"source": "jsonl", "with": {"paths": [str(default_input / "*.jsonl.zst")]}}],
            "output": {"dir": str(out)}, **extra,
            "steps": [{"uses": "language_from_extension"}, {"uses": "raise_on", "with": {"needle": needle,
                                                                                       "fixed": str(fixed)}}]}


def test_a_step_that_raises_fails_the_run_and_the_fixed_rerun_reads_the_shards_again(default_input, tmp_path,
                                                                                       faulty):
    out, fixed = tmp_path / "out", tmp_path / "fixed"
    path = _write(tmp_path / "p.yaml", _raising(default_input, out, fixed))
    proc = run_cli("run", path, "--no-progress", env=faulty, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "run-0001 failed: raise_on raised on 713 of 727 documents (98.07%, limit 0.10%" in proc.stderr
    assert "error:RuntimeError 713" in proc.stderr
    assert not (out / "data").exists() and not (out / "state" / "manifest.jsonl").exists()  # nothing published
    errors = read_excluded(out / "runs" / "run-0001" / "output")
    assert len(errors) == 713 and {r["metadata"]["drop.reason"] for r in errors} == {"error:RuntimeError"}
    assert all("RuntimeError: bug in raise_on" in r["metadata"]["drop.error"] for r in errors)
    runs = orjson.loads(run_cli("runs", out, "--json").stdout)["runs"]
    assert [(r["run"], r["status"], r["errors"]) for r in runs] == [("run-0001", "failed", 713)]
    report = run_cli("report", out, "--no-yaml").stdout
    assert "FAILED, nothing published" in report and "RuntimeError: 713" in report

    fixed.write_text("fixed")
    again = run_cli("run", path, "--no-progress", env=faulty)
    assert "nothing to do" not in again.stderr
    assert len(read_corpus(out)) == 727 and (out / "data" / "run-0002").is_dir()


def test_errors_under_the_limit_are_excluded_and_reported_apart_from_drops(default_input, tmp_path, faulty):
    out = tmp_path / "out"
    pipeline = _raising(default_input, out, tmp_path / "never", needle="class OptionAdder", max_error_share=0.01)
    run_cli("run", _write(tmp_path / "p.yaml", pipeline), "--no-progress", env=faulty)
    errors = [r for r in read_excluded(out) if r["metadata"]["drop.reason"].startswith("error:")]
    assert [r["id"] for r in errors] == ["jarro2783/cxxopts:include/cxxopts.hpp"]
    report = run_cli("report", out, "--no-yaml", env=faulty).stdout
    row = next(line for line in report.splitlines() if "raise_on" in line)
    assert "RuntimeError: 1" in row  # the errors column, not the drop reasons
    assert "error:RuntimeError" not in row


def test_per_step_limit_overrides_the_pipeline_default(default_input, tmp_path, faulty_here):
    from curate.run import RunError

    pipeline = _raising(default_input, tmp_path / "out", tmp_path / "never", needle="class OptionAdder",
                        max_error_share=0.5)
    pipeline["steps"][1]["max_error_share"] = 0.0
    with pytest.raises(RunError, match=r"raise_on raised on 1 of 727 documents \(0.14%, limit 0.00%"):
        run_pipeline_dict(pipeline)


# ---- rollback ------------------------------------------------------------------------------------------------
def _gh(folder, out) -> dict:
    return {"name": "gh", "inputs": [{"source": "jsonl", "with": {"paths": [str(folder / "*.jsonl.zst")]}}],
            "output": {"dir": str(out)},
            "steps": [{"uses": "language_from_extension"}, {"uses": "exact_dedup", "with": {"compaction_fanout": 2}},
                      {"uses": "code_heuristics"}]}


def _tree(root, *areas) -> dict[str, bytes]:
    out = {}
    for area in areas:
        base = root / area
        out.update({str(p.relative_to(root)): p.read_bytes() for p in sorted(base.rglob("*"))
                    if p.is_file() and base.exists()})
    return out


def test_rollback_undoes_the_last_run_and_its_rerun_is_byte_identical(default_input, tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    for name in ("spf13__pflag", "pallets__itsdangerous"):
        shutil.copy(default_input / f"{name}.jsonl.zst", folder)
    run_pipeline_dict(_gh(folder, out))
    before = _tree(out, "data", "excluded", "state")
    shutil.copy(default_input / "dtolnay__anyhow.jsonl.zst", folder)
    run_pipeline_dict(_gh(folder, out))
    after = _tree(out, "data", "excluded", "state")
    assert (out / "data" / "run-0002").is_dir()

    rolled = run_cli("rollback", out, "run-0001", check=False)
    assert rolled.returncode == 3 and "only the last run can be rolled back, and that is run-0002" in rolled.stderr
    assert "rolled back run-0002" in run_cli("rollback", out).stdout
    assert not (out / "runs" / "run-0002").exists() and not (out / "data" / "run-0002").exists()
    history = (out / "state" / "history.jsonl").read_bytes()
    assert _tree(out, "data", "excluded", "state") == {**before, "state/history.jsonl": history}
    assert "rolled back: run-0002" in run_cli("runs", out).stdout
    rerun = run_pipeline_dict(_gh(folder, out))
    assert rerun.run_id == "run-0002" and rerun.summary["docs_in"] == 54  # its shard is read again
    assert _without(_tree(out, "data", "excluded", "state"), "state/history.jsonl") == after


def _without(tree: dict, key: str) -> dict:
    return {k: v for k, v in tree.items() if k != key}


def test_rollback_of_a_backfill_restores_the_output_it_replaced(default_input, tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    shutil.copy(default_input / "spf13__pflag.jsonl.zst", folder)
    pipeline = _gh(folder, out)
    pipeline["steps"].pop(1)  # without exact_dedup
    run_pipeline_dict(pipeline)
    original = _tree(out, "data")
    schema = (out / "schema.json").read_bytes()
    run_pipeline_dict(_gh(folder, out), backfill=True)  # adds exact_dedup (and its `dedup` column) to the output
    assert not (out / "data" / "run-0001").exists() and (out / "data" / "run-0002").is_dir()
    assert '"dedup.kept_id"' in (out / "schema.json").read_text()  # every file has the new schema
    run_cli("rollback", out)
    assert _tree(out, "data") == original and (out / "schema.json").read_bytes() == schema
    assert not (out / "runs" / "run-0002").exists()
    run_cli("rollback", out)  # the first run: no schema, no dataset card are left
    assert not (out / "schema.json").exists() and not (out / "README.md").exists()


def test_rollback_refuses_while_a_run_is_pending_and_with_nothing_to_undo(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    proc = run_cli("rollback", out, check=False)
    assert proc.returncode == 3 and "has no published run to roll back" in proc.stderr


def test_rollback_stops_at_the_index_history_it_keeps(default_input, tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    pipeline = _gh(folder, out)
    pipeline["state"] = {"index_history": 1}
    for name in ("spf13__pflag", "pallets__itsdangerous", "dtolnay__anyhow"):
        shutil.copy(default_input / f"{name}.jsonl.zst", folder)
        run_pipeline_dict(pipeline)
    assert "rolled back run-0003" in run_cli("rollback", out).stdout
    refused = run_cli("rollback", out, check=False)
    assert refused.returncode == 3
    assert "cannot roll back run-0002: the index of step exact_dedup before it (run-0001) was garbage-collected" \
        in refused.stderr
