"""Plugin families are extras: every `requires` names an extra that pyproject.toml declares, and `curate validate`
prints the install line of the extra a pipeline misses."""

from __future__ import annotations

import re
import tomllib

from curate import registry
from curate.testing import run_cli


def _extras(repo_root) -> dict[str, list[str]]:
    with open(repo_root / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["project"]["optional-dependencies"]


def test_every_requirement_names_a_declared_extra(repo_root):
    extras = _extras(repo_root)
    for name in registry.names():
        for module, line in registry.get(name).requires.items():
            extra = re.fullmatch(r"curate\[([a-z-]+)\]", line)
            assert extra and extra.group(1) in extras, f"{name}: requires {module} -> {line}"
    assert set(registry.EXTRA_OF_MODULE.values()) <= set(extras)
    assert registry.install_hint("fastwarc.stream_io") == "curate[web]"
    assert registry.install_hint("some_module") == "some-module"
    assert "vllm" not in extras["all"][0]  # GPU only


def _hide(tmp_path, *modules: str) -> dict:
    """An environment in which ``modules`` cannot be imported, as if they were not installed."""
    (tmp_path / "sitecustomize.py").write_text(f"import sys\nsys.modules.update(dict.fromkeys({list(modules)!r}))\n")
    return {"PYTHONPATH": str(tmp_path)}


def test_validate_names_the_missing_extra(repo_root, tmp_path):
    env = _hide(tmp_path, "fastwarc", "resiliparse", "fasttext", "bm25s")
    proc = run_cli("validate", repo_root / "pipelines" / "web_code.yaml", env=env, check=False)
    assert proc.returncode == 2  # invalid pipeline (README: exit codes)
    assert "inputs[0]: module 'fastwarc' is not installed: pip install 'curate[web]'" in proc.stderr
    assert "steps[4]: module 'fasttext' is not installed: pip install 'curate[web]'" in proc.stderr
    # a plugin whose module cannot even be imported without the extra
    proc = run_cli("plugins", "show", "commit_to_change_prediction", env=env, check=False)
    assert proc.returncode == 2 and "pip install 'curate[commits]'" in proc.stderr
    # the core pipeline needs no extra
    assert run_cli("validate", repo_root / "pipelines" / "github_files.yaml", env=env).returncode == 0
