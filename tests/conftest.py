"""Shared fixtures: paths to the repository and to the third-party test data in tests/data/ (see its README)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def fixture_data() -> Path:
    """Real third-party data shipped with the tests: git bundles, tricky files, web pages (tests/data/)."""
    return TEST_DATA


@pytest.fixture(scope="session")
def bundles(fixture_data) -> dict[str, Path]:
    """Repository name (e.g. 'pallets__itsdangerous') -> path of its git bundle."""
    return {p.stem: p for p in sorted((fixture_data / "repos").glob("*.bundle"))}


@pytest.fixture(scope="session")
def checkouts(bundles, tmp_path_factory) -> dict[str, Path]:
    """Working copies of every bundle, cloned once per test session."""
    root = tmp_path_factory.mktemp("checkouts")
    out = {}
    for name, bundle in bundles.items():
        target = root / name
        subprocess.run(["git", "clone", "--quiet", str(bundle), str(target)], check=True, capture_output=True)
        out[name] = target
    return out


@pytest.fixture(scope="session")
def faulty_plugin_path(tmp_path_factory, repo_root) -> Path:
    """The test-only plugins of tests/fixtures/faulty_plugin (kill_once, raise_on, wait_at), pip-installed into
    a private target directory: put it on PYTHONPATH (or sys.path) to use them."""
    target = tmp_path_factory.mktemp("faulty")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(repo_root / "tests/fixtures/faulty_plugin")], check=True)
    return target


@pytest.fixture(scope="session")
def default_input(repo_root) -> Path:
    return repo_root / "examples" / "data" / "github"


@pytest.fixture
def copy_pipeline(repo_root, tmp_path):
    """Copy a shipped pipeline's YAML next to a temporary output dir; returns (yaml path, output dir)."""

    def _copy(name: str) -> tuple[Path, Path]:
        target = tmp_path / name
        shutil.copy(repo_root / "pipelines" / name, target)
        return target, tmp_path / "out"

    return _copy
