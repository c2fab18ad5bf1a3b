"""Pipeline validation: every problem at once, each with its YAML path."""

from __future__ import annotations

import yaml

from curate.config import apply_override, validate_pipeline
from curate.testing import run_cli


def _pipeline(tmp_path, steps, inputs=None):
    data = tmp_path / "in.jsonl"
    data.write_text('{"text": "x = 1\\n", "id": "a"}\n')
    return {"name": "t", "inputs": inputs or [{"source": "jsonl", "with": {"paths": [str(data)]}}],
            "output": {"dir": str(tmp_path / "out")}, "steps": steps}


def test_valid_pipeline_resolves_step_ids(tmp_path):
    resolved, errors = validate_pipeline(_pipeline(tmp_path, [{"uses": "language_from_extension"},
                                                              {"uses": "code_heuristics"},
                                                              {"uses": "code_heuristics", "id": "strict_lines",
                                                               "with": {"max_line_length": 200}}]))
    assert errors == []
    assert [s.step_id for s in resolved.steps] == ["language_from_extension", "code_heuristics", "strict_lines"]
    assert resolved.steps[2].params.max_line_length == 200


def test_all_errors_reported_at_once_with_yaml_paths(tmp_path):
    raw = _pipeline(tmp_path, [
        {"uses": "exact_dedupe"},
        {"uses": "code_heuristics", "with": {"min_alnum_fraction": 1.5, "max_line_lenght": 3}},
        {"uses": "jsonl", "with": {"paths": ["x"]}},
    ])
    raw["executor"] = {"kind": "local", "workers": 0}
    _, errors = validate_pipeline(raw)
    text = "\n".join(errors)
    assert "executor.workers: Input should be greater than or equal to 1" in text
    assert "steps[0]: unknown plugin 'exact_dedupe'. Did you mean 'exact_dedup'?" in text
    assert "steps[1].with.min_alnum_fraction: Input should be less than or equal to 1" in text
    assert "steps[1].with.max_line_lenght: Extra inputs are not permitted" in text
    assert "steps[2]: plugin 'jsonl' is a source" in text


def test_unknown_top_level_key_and_missing_fields(tmp_path):
    raw = _pipeline(tmp_path, [])
    raw["ouptut"] = raw.pop("output")
    _, errors = validate_pipeline(raw)
    assert "output: Field required" in errors
    assert "ouptut: Extra inputs are not permitted" in errors


def test_missing_optional_dependency_names_pip_install(tmp_path, monkeypatch):
    from curate import registry
    from curate_plugins.code_heuristics import CodeHeuristics

    monkeypatch.setattr(CodeHeuristics, "requires", {"surely_not_installed_mod": "surely-not-installed>=1"})
    _, errors = validate_pipeline(_pipeline(tmp_path, [{"uses": "code_heuristics"}]))
    assert errors == ["steps[0]: module 'surely_not_installed_mod' is not installed: "
                      "pip install 'surely-not-installed>=1'"]
    assert registry.missing_requirements(CodeHeuristics)


def test_source_check_reports_missing_input(tmp_path):
    raw = _pipeline(tmp_path, [], inputs=[{"source": "jsonl", "with": {"paths": [str(tmp_path / "nope*.jsonl")]}}])
    _, errors = validate_pipeline(raw)
    assert len(errors) == 1 and errors[0].startswith("inputs[0].with: paths: no file matches")


def test_override_paths():
    data = {"steps": [{"uses": "a", "with": {"x": 1}}], "executor": {}}
    apply_override(data, "steps[0].with.x=0.5")
    apply_override(data, "executor.workers=2")
    apply_override(data, "inputs[0].with.paths=[a.jsonl]")
    assert data["steps"][0]["with"]["x"] == 0.5
    assert data["executor"]["workers"] == 2
    assert data["inputs"] == [{"with": {"paths": ["a.jsonl"]}}]


def test_cli_validate_exits_nonzero_and_lists_every_error(tmp_path):
    raw = _pipeline(tmp_path, [{"uses": "code_heuristic"}, {"uses": "code_heuristics", "with": {"max_bytes": -1}}])
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    proc = run_cli("validate", path, check=False)
    assert proc.returncode == 2  # invalid pipeline (README: exit codes)
    assert "2 problem(s)" in proc.stderr
    assert "steps[0]: unknown plugin 'code_heuristic'. Did you mean 'code_heuristics'?" in proc.stderr
    assert "steps[1].with.max_bytes: Input should be greater than 0" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_cli_validate_ok(repo_root):
    proc = run_cli("validate", "pipelines/github_files.yaml", cwd=repo_root)
    assert "OK" in proc.stdout
