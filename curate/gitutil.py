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


def bundle_warnings(patterns: list[str]) -> list[str]:
    """Bad ``.bundle`` files among the repositories: not a bundle, truncated, corrupt. Warnings, not errors: a
    run excludes each as one ``unreadable_repository`` record and goes on. Pack checksums are verified for the
    first ``BUNDLE_CHECK_BYTES`` bytes of bundles; beyond, only their headers."""
    warnings, budget = [], BUNDLE_CHECK_BYTES
    for path in list_repositories(patterns):
        if Path(path).is_file():
            size = Path(path).stat().st_size
            problem = bundle_problem(path, verify_pack=size <= budget)
            budget -= size
            if problem:
                warnings.append(f"paths: {path}: {problem}; the run excludes it as unreadable_repository")
    return warnings


#: how many bytes of bundles ``curate validate`` reads to verify their pack checksums
BUNDLE_CHECK_BYTES = 1 << 30
_BUNDLE_SIGNATURES = (b"# v2 git bundle\n", b"# v3 git bundle\n")


def bundle_problem(path: str, verify_pack: bool = True) -> str | None:
    """Why ``path`` is not a usable git bundle (not a bundle, no pack, truncated, corrupt), or None. The pack's
    last 20 bytes are the SHA-1 of the rest of the pack: a cut or damaged file fails that test."""
    import hashlib

    with open(path, "rb") as handle:
        first = handle.readline(64)
        if first not in _BUNDLE_SIGNATURES:
            return f"not a git bundle (it starts with {first[:24]!r})"
        while True:
            line = handle.readline(1 << 16)
            if not line:
                return "truncated: the bundle ends inside its header"
            if line == b"\n":
                break
        start = handle.tell()
        if handle.read(4) != b"PACK":
            return "corrupt: no pack data after the bundle header"
        if not verify_pack:
            return None
        size = os.fstat(handle.fileno()).st_size - start
        if size < 32:
            return "truncated: the pack is incomplete"
        handle.seek(start)
        digest, left = hashlib.sha1(), size - 20
        while left:
            block = handle.read(min(left, 1 << 20))
            digest.update(block)
            left -= len(block)
        if digest.digest() != handle.read(20):
            return "truncated or corrupt: the pack's checksum does not match its content"
    return None


class GitError(Exception):
    """A git command failed; the message holds git's own error output."""


def run_git(args: list[str], text: bool = False) -> str | bytes:
    """Run git; on failure raise ``GitError`` with the command and git's stderr."""
    proc = subprocess.run(["git", *args], capture_output=True, text=text)
    if proc.returncode != 0:
        err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode("utf-8", "replace")
        shown = " ".join(a for a in args if not a.startswith("/"))
        raise GitError(f"git {shown} failed (exit {proc.returncode}): {err.strip()[-2000:]}")
    return proc.stdout


@contextlib.contextmanager
def open_repository(path: str):
    """Yield a git directory for a bundle (cloned bare into a temporary directory), bare repo or working copy."""
    p = Path(path)
    if p.is_file():
        tmp = tempfile.mkdtemp(prefix="curate-bundle-")
        try:
            run_git(["clone", "--bare", "--quiet", str(p), tmp])
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
