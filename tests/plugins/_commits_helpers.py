"""What `git show` says about a commit, parsed independently of curate's own patch parser."""

from __future__ import annotations

import subprocess

OPTS = ["--full-index", "--no-color", "--no-ext-diff", "--no-textconv", "-M"]


def git_show(git_dir, sha: str, context: int = 3) -> list[dict]:
    """One entry per changed file, in git's order: status, old and new path, and the hunks text."""
    names = subprocess.run(["git", "--git-dir", str(git_dir), "show", "--format=", "--name-status", "-z", *OPTS, sha],
                           capture_output=True, check=True).stdout.decode("utf-8", "replace").split("\0")
    entries, i = [], 0
    while i < len(names) and names[i]:
        status = names[i]
        if status[0] in "RC":
            entries.append({"status": status[0], "old": names[i + 1], "path": names[i + 2]})
            i += 3
        else:
            entries.append({"status": status[0], "old": names[i + 1], "path": names[i + 1]})
            i += 2
    patch = subprocess.run(["git", "--git-dir", str(git_dir), "show", "--format=", "-p", f"-U{context}", *OPTS, sha],
                           capture_output=True, check=True).stdout.decode("utf-8", "replace")
    sections = [s + "\n" for s in patch.split("\ndiff --git ")]
    sections[-1] = sections[-1][:-1]
    assert len(sections) == len(entries), (sha, len(sections), len(entries))
    for entry, section in zip(entries, sections):
        at = section.find("\n@@ ")
        entry["hunks"] = section[at + 1:] if at >= 0 else ""
        entry["binary"] = "\nBinary files " in section
    return entries


def non_merge_commits(git_dir, ref: str = "HEAD") -> list[str]:
    return subprocess.run(["git", "--git-dir", str(git_dir), "rev-list", "--no-merges", "--reverse", "--topo-order",
                           ref], capture_output=True, text=True, check=True).stdout.split()


def bare_clone(bundle, target) -> str:
    subprocess.run(["git", "clone", "--bare", "--quiet", str(bundle), str(target)], check=True, capture_output=True)
    return str(target)
