"""Small helpers over the git command line: open bundles and repositories, stream blobs."""

from __future__ import annotations

import contextlib
import glob as globlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path


def repo_name(path: str) -> str:
    """``owner__name.bundle`` -> ``owner/name``; otherwise the directory name (without ``.git``)."""
    base = Path(path.rstrip("/")).name
    base = re.sub(r"\.(bundle|git)$", "", base)
    return base.replace("__", "/", 1)


def is_repository(path: str) -> bool:
    """A ``.bundle`` file, a working copy or a bare repository."""
    p = Path(path)
    return (p.is_file() and p.suffix == ".bundle") or (p / ".git").exists() or (p / "HEAD").is_file()


def list_repositories(patterns: list[str]) -> list[str]:
    """Expand paths and glob patterns to the repositories they name, sorted."""
    found = []
    for pattern in patterns:
        found.extend(globlib.glob(pattern) if any(c in pattern for c in "*?[") else [pattern])
    return sorted(p for p in dict.fromkeys(found) if is_repository(p))


def repository_problems(patterns: list[str], metadata_file: str | None) -> list[str]:
    """``curate validate`` checks shared by the git sources."""
    problems = [] if list_repositories(patterns) else [f"paths: no repository matches {patterns}"]
    if shutil.which("git") is None:
        problems.append("the git command is not installed (apt-get install git)")
    if metadata_file and not Path(metadata_file).is_file():
        problems.append(f"metadata_file: {metadata_file} does not exist")
    return problems


@contextlib.contextmanager
def open_repository(path: str):
    """Yield a git directory for a bundle (cloned bare into a temporary directory), bare repo or working copy."""
    p = Path(path)
    if p.is_file():
        tmp = tempfile.mkdtemp(prefix="curate-bundle-")
        try:
            subprocess.run(["git", "clone", "--bare", "--quiet", str(p), tmp], check=True, capture_output=True)
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    elif (p / ".git").exists():
        yield str(p / ".git") if (p / ".git").is_dir() else _gitdir_from_file(p / ".git")
    else:
        yield str(p)


def _gitdir_from_file(dotgit: Path) -> str:
    target = dotgit.read_text().split("gitdir:", 1)[1].strip()
    return str((dotgit.parent / target).resolve())


class CatFile:
    """A ``git cat-file --batch`` process: read many blobs through one pipe."""

    def __init__(self, git_dir: str):
        self.git_dir = git_dir
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen(["git", "--git-dir", self.git_dir, "cat-file", "--batch"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ})
        return self

    def read(self, sha: str) -> bytes:
        """The content of the blob ``sha`` (``git cat-file --batch``)."""
        self.proc.stdin.write(sha.encode() + b"\n")
        self.proc.stdin.flush()
        header = self.proc.stdout.readline().split()
        if len(header) < 3 or header[1] == b"missing":
            raise KeyError(f"object {sha} missing from {self.git_dir}")
        size = int(header[2])
        data = self.proc.stdout.read(size)
        self.proc.stdout.read(1)  # trailing newline
        return data

    def __exit__(self, *exc):
        self.proc.stdin.close()
        self.proc.wait()
