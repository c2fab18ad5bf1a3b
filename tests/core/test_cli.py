"""The CLI as a user runs it: plugins list/show, third-party plugins installed with pip."""

from __future__ import annotations

import subprocess
import sys

import yaml

from curate.testing import read_excluded, run_cli


def test_plugins_list_shows_kind_and_origin():
    out = run_cli("plugins", "list").stdout
    for name, kind in (("exact_dedup", "stage"), ("code_heuristics", "filter"), ("jsonl", "source"),
                       ("language_from_extension", "annotator")):
        line = next(row for row in out.splitlines() if f" {name} " in row)
        assert kind in line and "built-in" in line


def test_plugins_show_documents_parameters():
    out = run_cli("plugins", "show", "code_heuristics").stdout
    assert "filter" in out and "curate_plugins.code_heuristics:CodeHeuristics" in out
    assert "max_line_length" in out and "1000" in out and "Drop when a line is longer" in out


def test_plugins_show_prints_the_declared_metadata_keys_and_types():
    out = run_cli("plugins", "show", "treesitter_syntax").stdout
    assert "metadata written" in out
    assert "syntax.error_count" in out and "syntax.error_bytes_ratio" in out
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in out.splitlines()
            if line.count("│") >= 3 and "syntax." in line}
    assert rows["syntax.error_count"] == "int" and rows["syntax.has_error"] == "bool"
    assert "metadata written: none" in run_cli("plugins", "show", "code_heuristics").stdout


def test_every_built_in_plugin_declares_metadata_that_fits_one_corpus_schema():
    from curate import registry
    from curate.schema import CorpusSchema, declared_fields

    fields = [f for name in registry.names() for f in declared_fields(registry.get(name)).values()]
    assert len(fields) > 80
    assert CorpusSchema(fields).errors == []


def test_plugins_show_unknown_name_suggests_closest():
    proc = run_cli("plugins", "show", "exact_dedupe", check=False)
    assert proc.returncode == 2 and "Did you mean 'exact_dedup'?" in proc.stderr


def test_third_party_plugin_installed_with_pip_is_usable_by_name(repo_root, tmp_path, default_input):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(repo_root / "examples/curate-example-plugin")], check=True)
    env = {"PYTHONPATH": str(target)}
    listed = run_cli("plugins", "list", env=env).stdout
    assert "min_lines" in listed and "third-party (curate-example-plugin 0.1.0)" in listed
    shown = run_cli("plugins", "show", "min_lines", env=env).stdout
    assert "Minimum number of lines to keep a document." in shown
    paths = [str(default_input / "spf13__pflag.jsonl.zst")]
    pipeline = {"name": "tp", "inputs": [{"source": "jsonl", "with": {"paths": paths}}],
                "output": {"dir": str(tmp_path / "out")}, "steps": [{"uses": "min_lines", "with": {"min_lines": 30}}]}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(pipeline))
    run_cli("run", path, env=env)
    reasons = {r["metadata"]["drop.reason"] for r in read_excluded(tmp_path / "out")}
    assert reasons == {"too_few_lines"}
    assert "min_lines" not in run_cli("plugins", "list").stdout  # not installed in the main environment


def test_schema_command_prints_json_schema():
    out = run_cli("schema").stdout
    assert '"steps"' in out and '"keep_excluded"' in out
