"""Open git repositories given as `.bundle` files, bare repositories or working copies.

A bundle is cloned bare once per run into the run's scratch space (``RunContext.scratch_path("git")``), so the commit
source and the commit transform of the same task, or of a later segment, share one clone. Without a corpus
directory (plugins used directly), the clone goes to a temporary directory removed at exit.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

_TEMP_CLONES: dict[str, str] = {}

#: A fixed environment for every git command: no user or system configuration can change the output.
GIT_ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C",
           "GIT_TERMINAL_PROMPT": "0"}




def git(git_dir: str, *args: str, text: bool = True) -> str | bytes:
    proc = subprocess.run(["git", "--git-dir", git_dir, *args], capture_output=True, env=GIT_ENV)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:3])} failed in {git_dir}: "
                           f"{proc.stderr.decode('utf-8', 'replace').strip()}")
    return proc.stdout.decode("utf-8", "surrogateescape") if text else proc.stdout


def git_dir_of(path: str, work_root: str | None = None) -> str:
    """The git directory to read ``path`` from; bundles are cloned (once) under ``work_root``."""
    p = Path(path)
    if p.is_file():
        return _bundle_clone(p, work_root)
    if (p / ".git").is_dir():
        return str(p / ".git")
    if (p / ".git").is_file():
        target = (p / ".git").read_text().split("gitdir:", 1)[1].strip()
        return str((p / target).resolve())
    return str(p)


def _bundle_clone(bundle: Path, work_root: str | None) -> str:
    stat = bundle.stat()
    key = hashlib.sha256(f"{bundle.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    if work_root is None:
        if key not in _TEMP_CLONES:
            _TEMP_CLONES[key] = _clone_into(bundle, Path(tempfile.mkdtemp(prefix="curate-commits-")) / "repo.git")
        return _TEMP_CLONES[key]
    target = Path(work_root) / f"{bundle.stem}-{key}.git"
    if not (target / "HEAD").is_file():
        _clone_into(bundle, target)
    return str(target)


def _clone_into(bundle: Path, target: Path) -> str:
    """Clone a bundle bare into ``target`` atomically (a half-made clone is never seen under that name)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    proc = subprocess.run(["git", "clone", "--bare", "--quiet", str(bundle), str(tmp)], capture_output=True,
                          env=GIT_ENV)
    if proc.returncode != 0:
        raise RuntimeError(f"cannot read bundle {bundle}: {proc.stderr.decode('utf-8', 'replace').strip()}")
    try:
        os.rename(tmp, target)
    except OSError:  # another task cloned it first
        shutil.rmtree(tmp, ignore_errors=True)
    return str(target)


@atexit.register
def _remove_temp_clones() -> None:
    for path in _TEMP_CLONES.values():
        shutil.rmtree(Path(path).parent, ignore_errors=True)


def list_heads(path: str, branches: list[str]) -> dict[str, str]:
    """Branch name -> commit sha for the selected branches (empty list: the default branch, HEAD's)."""
    p = Path(path)
    refs = _bundle_refs(p) if p.is_file() else _repository_refs(git_dir_of(path))
    return _select(refs, branches, path)


def _repository_refs(git_dir: str) -> dict[str, str]:
    """Local branches (full ref name -> sha), ``HEAD`` and, when HEAD names a branch, ``HEAD->`` (in-process)."""
    import pygit2

    try:
        repo = pygit2.Repository(git_dir)
    except pygit2.GitError as exc:
        raise RuntimeError(f"cannot open repository {git_dir}: {exc}") from exc
    refs = {name: str(repo.references[name].target) for name in repo.references
            if name.startswith("refs/heads/") and isinstance(repo.references[name].target, pygit2.Oid)}
    head = repo.references.get("HEAD")
    target = head.target if head is not None else None
    if isinstance(target, str):  # symbolic: the branch HEAD names
        refs["HEAD->"] = target
        if target in refs:
            refs["HEAD"] = refs[target]
    elif target is not None:
        refs["HEAD"] = str(target)
    return refs


def _bundle_refs(bundle: Path) -> dict[str, str]:
    out = subprocess.run(["git", "bundle", "list-heads", str(bundle)], capture_output=True, text=True, env=GIT_ENV)
    if out.returncode != 0:
        raise RuntimeError(f"cannot read bundle {bundle}: {out.stderr.strip()}")
    refs = dict(reversed(line.split(" ", 1)) for line in out.stdout.splitlines() if " " in line)
    if "HEAD" in refs:
        same = sorted(r for r, sha in refs.items() if r.startswith("refs/heads/") and sha == refs["HEAD"])
        if same:
            refs["HEAD->"] = same[0]
    return refs


def _select(refs: dict[str, str], branches: list[str], path: str) -> dict[str, str]:
    if not branches:
        name = refs.get("HEAD->", "HEAD")
        if name not in refs:
            raise RuntimeError(f"{path}: no HEAD to read (pass `branches`)")
        return {name.removeprefix("refs/heads/"): refs[name]}
    heads = {}
    for branch in branches:
        ref = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
        if ref not in refs:
            raise RuntimeError(f"{path}: branch {branch!r} not found (has: "
                               f"{', '.join(sorted(r for r in refs if r.startswith('refs/heads/')))})")
        heads[branch] = refs[ref]
    return heads
