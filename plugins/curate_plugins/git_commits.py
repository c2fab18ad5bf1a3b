"""Commit history of git repositories: one document per non-merge commit, one shard per repository."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

from datatrove.data import Document
from pydantic import BaseModel, Field

from curate import PluginMetadata, PluginParams, Reject, Source, list_repositories, repo_name, repository_problems
from curate_plugins._commits.history import Commit, log_commits, repo_activity
from curate_plugins._commits.repos import GIT_ENV, git, git_dir_of, list_heads


class GitCommits(Source):
    """Reads the history of git repositories (`.bundle` files, bare repositories, working copies): one
    document per non-merge commit, oldest first, one shard per repository (Seed-Coder's commit data).

    The text is the commit's patch as ``git log -p`` prints it (``-M``, full blob ids, ``context_lines``).
    Metadata: ``repo``, ``commit.sha``, ``commit.parents``, ``commit.author_time``, ``commit.author``,
    ``commit.message``, ``commit.branch``, ``commit.files`` (path, old_path, status A/D/M/R/C/T, old_blob,
    new_blob, modes, binary, and this file's slice of the text as start/end), ``commit.context_lines``,
    ``commit.repo_path``; and the repository's whole-history activity: ``activity.commits``,
    ``activity.active_days``, ``activity.first_time``, ``activity.last_time`` (plus ``stars``/``forks`` from
    ``metadata_file``). Merge commits are rejected with reason ``merge_commit`` unless ``include_merges``.

    Incremental: the manifest keeps the last processed sha per repository and branch; when a repository
    gains commits, a later run reads only the commits not reachable from those shas.
    """

    resumable = True
    requires = {"pygit2": "curate[commits]"}
    namespace = "commit"

    class Metadata(PluginMetadata):
        class File(BaseModel):
            path: str
            old_path: str | None
            status: str
            old_blob: str
            new_blob: str
            old_mode: str | None
            new_mode: str | None
            binary: bool
            similarity: int | None
            start: int
            end: int

        sha: str = Field(description="The commit id.")
        parents: list[str] = Field(description="Parent commit ids.")
        author_time: int = Field(description="Author time, seconds since the epoch.")
        author: str = Field(description="Author name.")
        author_email: str = Field(description="Author e-mail.")
        message: str = Field(description="The commit message.")
        branch: str = Field(description="The branch the commit was read from.")
        files: list[File] = Field(description="Changed files: paths, status (A/D/M/R/C/T), blobs, modes, and the "
                                              "file's slice of the text (start/end).")
        invalid_utf8: bool = Field(description="True when the patch or message was not valid UTF-8.")
        context_lines: int = Field(description="Lines of context in the patch.")
        repo_path: str = Field(description="Where the repository was read from.")

    class Activity(PluginMetadata):
        commits: int = Field(description="Commits in the repository's whole history.")
        active_days: int = Field(description="Distinct days with a commit.")
        first_time: int = Field(description="Time of the first commit (seconds since the epoch).")
        last_time: int = Field(description="Time of the last commit (seconds since the epoch).")

    more_metadata = {"activity": Activity}

    class Params(PluginParams):
        paths: list[str] = Field(min_length=1, description="Repositories or glob patterns: `.bundle` files, bare "
                                                           "repositories or working copies. One shard each.")
        branches: list[str] = Field(default_factory=list, description="Branches to read (names or full refs). "
                                                                      "Empty: the default branch (HEAD).")
        context_lines: int = Field(3, ge=0, le=1000, description="Lines of context in the patch (`git -U`).")
        include_merges: bool = Field(False, description="Emit merge commits as documents (with an empty patch) "
                                                        "instead of rejecting them as `merge_commit`.")
        metadata_file: str | None = Field(None, description="JSON Lines file, one object per repository: "
                                                            "{repo, stars, forks}; copied into each document.")

    def check(self) -> list[str]:
        return repository_problems(self.params.paths, self.params.metadata_file)

    def list_shards(self) -> list[str]:
        return list_repositories(self.params.paths)

    def shard_fingerprint(self, shard: str) -> dict:
        return {"heads": list_heads(shard, self.params.branches)}

    def shard_update(self, shard: str, previous: dict) -> dict | None:
        heads = list_heads(shard, self.params.branches)
        if heads == previous.get("heads"):
            return None
        return {"heads": heads, "since": previous.get("heads", {})}

    def read_shard(self, shard: str) -> Iterator[Document | Reject]:
        return self.read_shard_update(shard, self.shard_fingerprint(shard) | {"since": {}})

    def read_shard_update(self, shard: str, update: dict) -> Iterator[Document | Reject]:
        """The commits reachable from ``update["heads"]`` (as planned) and not from ``update["since"]``."""
        git_dir = git_dir_of(shard, self.context.scratch_path("git"))
        heads = update["heads"]
        since = sorted(set(update.get("since", {}).values()) - set(heads.values()))
        _check_known(git_dir, since, shard)
        base = {"repo": repo_name(shard), "commit.repo_path": str(shard),
                "commit.context_lines": self.params.context_lines}
        import pygit2

        repo = pygit2.Repository(git_dir)  # one object cache for the activity walk and the commits
        base.update(self._activity(repo, heads))
        base.update(self._repo_metadata(base["repo"]))
        branch_of = _first_branch(git_dir, heads)
        for commit in log_commits(git_dir, sorted(set(heads.values())), since, self.params.context_lines, repo=repo):
            yield self._record(commit, base, branch_of(commit.sha))

    def _record(self, commit: Commit, base: dict, branch: str) -> Document | Reject:
        doc_id = f"{base['repo']}@{commit.sha}"
        meta = {**base, "commit.sha": commit.sha, "commit.parents": commit.parents,
                "commit.author_time": commit.author_time, "commit.author": commit.author,
                "commit.author_email": commit.author_email, "commit.message": commit.message,
                "commit.branch": branch, "commit.files": [f.as_dict() for f in commit.files]}
        if commit.invalid_utf8:
            meta["commit.invalid_utf8"] = True
        if len(commit.parents) > 1 and not self.params.include_merges:
            return Reject("merge_commit", doc_id, doc_id=doc_id, raw=commit.message, metadata=meta)
        return Document(text=commit.patch, id=doc_id, metadata=meta)

    def _activity(self, repo, heads: dict[str, str]) -> dict:
        commits, days, first, last = repo_activity(repo, sorted(set(heads.values())))
        return {"activity.commits": commits, "activity.active_days": days, "activity.first_time": first,
                "activity.last_time": last}

    def _repo_metadata(self, repo: str) -> dict:
        if not self.params.metadata_file:
            return {}
        import orjson

        for line in Path(self.params.metadata_file).read_bytes().splitlines():
            row = orjson.loads(line) if line.strip() else {}
            if row.get("repo") == repo:
                return {k: row[k] for k in ("stars", "forks") if k in row}
        return {}


def _check_known(git_dir: str, shas: list[str], shard: str) -> None:
    if not shas:
        return
    proc = subprocess.run(["git", "--git-dir", git_dir, "cat-file", "--batch-check"], input="\n".join(shas) + "\n",
                          capture_output=True, text=True, env=GIT_ENV)
    missing = [line.split()[0] for line in proc.stdout.splitlines() if line.endswith(" missing")]
    if missing:
        raise RuntimeError(f"{shard}: the history was rewritten: previously processed commit(s) {missing} are gone. "
                           "Read it into a new output.dir, or restore the old history.")


def _first_branch(git_dir: str, heads: dict[str, str]):
    """sha -> the first selected branch (in the order given) whose history holds it."""
    if len(set(heads.values())) == 1:
        name = next(iter(heads))
        return lambda sha: name
    owner: dict[str, str] = {}
    for name, head in heads.items():
        for sha in git(git_dir, "rev-list", head).split():
            owner.setdefault(sha, name)
    return lambda sha: owner.get(sha, "")
