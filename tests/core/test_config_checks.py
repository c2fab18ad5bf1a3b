"""What `curate validate` (and `curate run`, which runs the same checks first) catches before any work, one line
per problem and no traceback (issue 13, scenario 7): the output directory, `--set` paths, a plugin name two
distributions register, a broken entry point, and an LLM server that does not answer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from curate.testing import run_cli


@pytest.fixture(scope="module")
def clash_env(tmp_path_factory, repo_root):
    """A third-party package registering `code_heuristics` (a built-in name) and a broken entry point."""
    target = tmp_path_factory.mktemp("clash")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(repo_root / "tests/fixtures/clash_plugin")], check=True)
    return {"PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}


def _pipeline(default_input, out, steps=None) -> dict:
    paths = [str(default_input / "spf13__pflag.jsonl.zst")]
    steps = steps or [{"uses": "language_from_extension"}, {"uses": "code_heuristics"}, {"uses": "exact_dedup"}]
    return {"name": "gh", "inputs": [{"source": "jsonl", "with": {"paths": paths}}], "output": {"dir": str(out)},
            "steps": steps}


def _write(folder: Path, data: dict) -> Path:
    path = folder / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _one_problem(proc) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "1 problem(s)" in proc.stderr
    return proc.stderr.splitlines()[1].strip()


def test_an_output_dir_that_is_a_file_is_one_line_for_validate_and_run(default_input, tmp_path):
    as_file = tmp_path / "corpus"
    as_file.write_text("not a directory")
    path = _write(tmp_path, _pipeline(default_input, as_file))
    assert _one_problem(run_cli("validate", path, check=False)) == f"output.dir: {as_file} is a file, not a directory"
    assert _one_problem(run_cli("run", path, check=False)) == f"output.dir: {as_file} is a file, not a directory"
    nested = _write(tmp_path, _pipeline(default_input, as_file / "sub"))
    assert "cannot be created" in _one_problem(run_cli("validate", nested, check=False))


def test_an_output_dir_that_is_not_writable_is_one_line(default_input, tmp_path):
    """A read-only directory: by permissions for a normal user; for root (who may write anywhere), a read-only
    tmpfs mounted in a private mount namespace of the command."""
    locked = tmp_path / "corpus"
    locked.mkdir()
    path = _write(tmp_path, _pipeline(default_input, locked))
    command = [sys.executable, "-m", "curate.cli", "validate", str(path)]
    if os.geteuid() != 0:
        locked.chmod(0o555)
        expected = "Permission denied"
    else:
        if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"]).returncode != 0:
            pytest.skip("root without mount namespaces: no way to make a directory read-only here")
        command = ["unshare", "-m", "sh", "-c", f'mount -t tmpfs -o ro tmpfs "{locked}" && exec "$@"', "sh", *command]
        expected = "Read-only file system"
    proc = subprocess.run(command, capture_output=True, text=True)
    assert _one_problem(proc) == f"output.dir: {locked} is not writable ({expected})"


@pytest.mark.parametrize(("assignment", "expected"), [
    ("steps.2.with.x=1", "steps[2].with.x: Extra inputs are not permitted"),  # a dotted index works
    ("steps[2].with.level=page", "steps[2].with.level: Input should be 'file' or 'repo'"),
    ("steps.0.with=[1]", "steps[0].with: Input should be a valid dictionary"),
    ("name.x=1", "--set 'name.x=1': cannot set name.x: name is a str value ('gh'), not a mapping or a list"),
    ("steps[9].uses=x", "--set 'steps[9].uses=x': cannot set steps[9].uses: steps has 3 entries: [9] is beyond "
                        "the end (use [3] to append)"),
    ("steps[1]uses=x", "--set 'steps[1]uses=x': 'steps[1]uses' is not a key path (write e.g. "
                       "steps[2].with.threshold)"),
])
def test_set_paths_are_checked_with_a_message_not_a_traceback(default_input, tmp_path, assignment, expected):
    from curate.config import ConfigError, apply_override, validate_pipeline

    raw = _pipeline(default_input, tmp_path / "out")
    try:
        apply_override(raw, assignment)
        problems = validate_pipeline(raw)[1]
    except ConfigError as exc:
        problems = exc.errors
    assert problems == [expected]


def test_set_path_problem_on_the_command_line(default_input, tmp_path):
    path = _write(tmp_path, _pipeline(default_input, tmp_path / "out"))
    proc = run_cli("validate", path, "--set", "steps.2.with.x=1", "--set", "name.x=1", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "cannot set name.x: name is a str value" in proc.stderr


def test_a_plugin_name_registered_twice_names_both_distributions(default_input, tmp_path, clash_env):
    path = _write(tmp_path, _pipeline(default_input, tmp_path / "out"))
    problem = _one_problem(run_cli("validate", path, env=clash_env, check=False))
    assert problem.startswith("steps[1].uses: plugin name 'code_heuristics' is registered by 2 distributions: "
                              "curate 0.1.0 (built-in: curate_plugins.code_heuristics:CodeHeuristics) and "
                              "curate-clash-plugin 0.2.0 (third-party (curate-clash-plugin 0.2.0): "
                              "curate_clash_plugin:Impostor)")
    assert "pip uninstall curate-clash-plugin" in problem
    assert run_cli("run", path, env=clash_env, check=False).returncode == 2
    listing = run_cli("plugins", "list", env=clash_env).stdout
    assert listing.count("filter, CLASH") == 2


def test_a_broken_entry_point_is_listed_as_broken_and_named_when_used(default_input, tmp_path, clash_env):
    listing = run_cli("plugins", "list", env=clash_env)
    assert listing.returncode == 0
    rows = " ".join(line for line in listing.stdout.splitlines() if "│" in line)
    assert "broken_thing" in rows and "│ broken " in rows and "AttributeError" in rows
    shown = run_cli("plugins", "show", "broken_thing", env=clash_env, check=False)
    assert shown.returncode == 2 and "is broken: AttributeError: module 'curate_clash_plugin' has no attribute" \
        in shown.stderr.replace("\n", " ")
    path = _write(tmp_path, _pipeline(default_input, tmp_path / "out", [{"uses": "broken_thing"}]))
    assert _one_problem(run_cli("validate", path, env=clash_env, check=False)).startswith(
        "steps[0]: plugin 'broken_thing' (curate_clash_plugin:DoesNotExist from curate-clash-plugin 0.2.0) is broken")


# ---- the LLM server preflight (curate_plugins.lib.llm.preflight, through the plugin's check()) ----------
def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_quality_pipeline_without_an_llm_server_fails_validation_in_seconds(copy_pipeline, default_input):
    yaml_path, out = copy_pipeline("quality.yaml")
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    t0 = time.monotonic()
    proc = run_cli("run", yaml_path, "-o", out, "--set", f"steps[1].with.backend.base_url={url}",
                   "--set", f"inputs[0].with.paths=[{default_input}/*.jsonl.zst]", check=False)
    assert time.monotonic() - t0 < 30
    assert _one_problem(proc).startswith(f"steps[1].with: backend.base_url: {url} does not answer (ConnectError")
    assert not out.exists()
