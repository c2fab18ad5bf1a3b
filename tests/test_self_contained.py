"""The repository stands alone: no file refers to a folder beside the checkout or to a path of one machine, and
every third-party fixture the tests read ships in tests/data/ with its licence notice."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", "out", ".pytest_cache", ".ruff_cache", "__pycache__", "build", "dist"}
# Built from pieces so that this file does not match itself.
NAME = "sha" + "red"
SIBLING = re.compile(r"\.\./" + NAME + r"\b|parents?\b[^\n]{0,40}[\"']" + NAME + r"[\"']")
MACHINE_PATH = re.compile(r"(?<![\w.\-}>)\]/~$])/(?:" + "work|home|root|Users|mnt|scratch" + r")/[\w.\-]")


def repository_files() -> list[Path]:
    """Tracked and untracked-but-not-ignored files (git), or every file outside build folders (a plain copy)."""
    proc = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO,
                          capture_output=True)
    if proc.returncode == 0 and proc.stdout:
        return [REPO / name for name in proc.stdout.decode().split("\0") if name and (REPO / name).is_file()]
    return [p for p in REPO.rglob("*") if p.is_file() and not SKIP_DIRS & set(p.relative_to(REPO).parts)]


def text_of(path: Path) -> str | None:
    raw = path.read_bytes()
    if b"\0" in raw[:8192]:
        return None  # binary: git bundles, WARC, models
    return raw.decode("utf-8", "replace")


def offending_lines(pattern: re.Pattern) -> list[str]:
    hits = []
    for path in repository_files():
        text = text_of(path)
        if text is None or not pattern.search(text):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if pattern.search(line):
                hits.append(f"{path.relative_to(REPO)}:{number}: {line.strip()[:120]}")
    return hits


def test_no_file_refers_to_a_folder_beside_the_checkout():
    assert offending_lines(SIBLING) == []


def test_no_file_refers_to_an_absolute_path_of_one_machine():
    assert offending_lines(MACHINE_PATH) == []


@pytest.mark.parametrize("line, bad", [
    ("paths: ['../" + "shared/data/repos/*.bundle']", True),
    ("DATA = REPO.parent / " + f'"{NAME}"' + ' / "data"', True),
    ("--corpus /" + "work/bench-corpus", True),
    ("cache='/" + "home/me/x'", True),
    ("runs/<run>/wor" + "k/git/ and runs/{run}/wor" + "k/x", False),  # split: this file must not hold the text
    ("a shared filesystem", False),
])
def test_the_patterns_catch_what_they_should(line, bad):
    assert bool(SIBLING.search(line) or MACHINE_PATH.search(line)) is bad


def test_fixtures_ship_with_their_licence_notices(fixture_data):
    readme = (fixture_data / "README.md").read_text()
    bundles = sorted(p.name for p in (fixture_data / "repos").glob("*.bundle"))
    assert len(bundles) == 7 and all(name in readme for name in bundles)
    licences = {p.name for p in (fixture_data / "repos" / "LICENSES").iterdir()}
    assert all(any(name.startswith(b.removesuffix(".bundle") + ".") for name in licences) for b in bundles)
    for notice in re.findall(r"`(LICENSES/[\w.\-]+)`", readme):
        assert (fixture_data / notice).is_file(), notice
    tricky = [p.relative_to(fixture_data / "tricky").as_posix()
              for p in (fixture_data / "tricky").rglob("*") if p.is_file() and p.name != "manifest.jsonl"]
    manifest = (fixture_data / "tricky" / "manifest.jsonl").read_text()
    assert tricky and all(f'"path": "{name}"' in manifest for name in tricky)
