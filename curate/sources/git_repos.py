"""Git repositories (bundles, bare repositories, working copies): the files at a ref, one shard per repository."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from datatrove.data import Document
from pydantic import Field

from curate import langmap
from curate.gitutil import (
    CatFile,
    GitError,
    bundle_warnings,
    list_repositories,
    open_repository,
    repo_name,
    repository_problems,
    run_git,
)
from curate.licenses import detect_license
from curate.plugin import PluginParams, Reject, Source
from curate.schema import PluginMetadata
from curate.state import file_fingerprint

DEFAULT_VENDORED = [r"(^|/)(vendor|vendors|third[_-]?party|thirdparty|node_modules|bower_components|external"
                    r"|deps|Pods|Carthage)/", r"\.min\.(js|css)$", r"(^|/)dist/", r"-bundle\.js$",
                    r"(^|/)\.yarn/", r"(^|/)\.git/"]


class GitReposSource(Source):
    """Reads the files of git repositories at a ref (HEAD by default), one repository per shard.

    Records ``repo``, ``path``, ``lang`` (from the extension map), ``license`` (detected from the licence
    file at the root), ``source.commit``, and stars/forks from an optional metadata file. Binary, vendored,
    oversized, symlinked and submodule entries are rejected with a counted reason; text that is not UTF-8
    is decoded with its PEP 263 coding cookie when it declares one, and rejected as ``invalid_utf8`` otherwise.
    A repository git cannot read (a corrupt, truncated or non-bundle ``.bundle``, a damaged object store) is one
    excluded record ``unreadable_repository`` with git's own error, and the run goes on; a missing object is
    ``missing_object`` for that file only.
    This is the file-level GitHub input of Seed-Coder's pipeline; the skips follow The Stack's preprocessing
    (binary and vendored files out, a size cap).
    """

    requires = {}
    namespace = "source"

    class Metadata(PluginMetadata):
        commit: str = Field(description="The commit whose files were read.")
        encoding: str = Field(description="The encoding a file was decoded from, when it is not UTF-8 (PEP 263).")
        size: int = Field(description="Bytes of a rejected file (oversized, binary).")

    class Params(PluginParams):
        paths: list[str] = Field(min_length=1, description="Repositories or glob patterns: `.bundle` files, bare "
                                                           "repositories or working copies.")
        ref: str = Field("HEAD", description="The commit-ish whose files are read.")
        max_file_bytes: int = Field(1_000_000, gt=0, description="Files larger than this are rejected as "
                                                                  "`oversized`.")
        skip_vendored: bool = Field(True, description="Reject vendored and bundled files (see `vendored`).")
        vendored: list[str] = Field(default_factory=lambda: list(DEFAULT_VENDORED),
                                    description="Regular expressions matched against paths to spot vendored code.")
        metadata_file: str | None = Field(None, description="JSON Lines file with one object per repository: "
                                                            "{repo, stars, forks, license}.")

    def check(self) -> list[str]:
        """Problems with the repositories named in ``paths`` (missing, not a repository, ...)."""
        return repository_problems(self.params.paths, self.params.metadata_file)

    def warnings(self) -> list[str]:
        """Bad ``.bundle`` files (one line each); the run excludes them and goes on."""
        return bundle_warnings(self.params.paths)

    def list_shards(self) -> list[str]:
        """One shard per repository matched by ``paths``."""
        return list_repositories(self.params.paths)

    def shard_fingerprint(self, shard: str) -> dict:
        """The commit read (and, for a bundle file, its size and SHA-256). A repository git cannot open still
        gets a fingerprint: reading it then gives its ``unreadable_repository`` record."""
        out = file_fingerprint(shard) if os.path.isfile(shard) else {"size": None}
        try:
            with open_repository(shard) as git_dir:
                out["commit"] = _rev_parse(git_dir, self.params.ref)
        except GitError as exc:
            out["commit"], out["error"] = None, str(exc)[:500]
        return out

    def shard_bytes(self, shard: str, fingerprint: dict) -> int | None:
        """A bundle's size, or the size of a repository's git objects."""
        if fingerprint.get("size") is not None:
            return fingerprint["size"]
        try:
            with open_repository(shard) as git_dir:
                objects = Path(git_dir) / "objects"
                return sum(p.stat().st_size for p in objects.rglob("*") if p.is_file()) if objects.is_dir() else None
        except (GitError, OSError):
            return None  # reading it gives its unreadable_repository record

    def read_shard(self, shard: str) -> Iterator[Document | Reject]:
        """The files of the repository at ``ref`` as documents; unusable files as rejects."""
        repo = repo_name(shard)
        read = 0
        try:
            with open_repository(shard) as git_dir:
                for item in self._read(git_dir, repo):
                    read += 1
                    yield item
        except (GitError, OSError) as exc:
            note = f" (after {read} files)" if read else ""
            yield Reject("unreadable_repository", shard, doc_id=shard, raw=f"{exc}",
                         metadata={"repo": repo, "reject.error": f"{exc}{note}"[:4000]})

    def _read(self, git_dir: str, repo: str) -> Iterator[Document | Reject]:
        extra = self._repo_metadata().get(repo, {})
        vendored = [re.compile(p) for p in self.params.vendored] if self.params.skip_vendored else []
        commit = _rev_parse(git_dir, self.params.ref)
        entries = _ls_tree(git_dir, commit)
        with CatFile(git_dir) as blobs:
            licence = extra.get("license") or detect_license(entries, blobs)
            base = {"repo": repo, "source.commit": commit, "license": licence}
            base.update({k: extra[k] for k in ("stars", "forks") if k in extra})
            for mode, kind, sha, size, path in entries:
                yield self._entry(blobs, base, vendored, mode, kind, sha, size, path)

    def _entry(self, blobs, base, vendored, mode, kind, sha, size, path):
        location = f"{base['repo']}:{path}"
        meta = {**base, "path": path}
        if kind == "commit":
            return Reject("submodule", location, doc_id=location, metadata=meta)
        if mode == "120000":
            return Reject("symlink", location, doc_id=location, metadata=meta)
        if size > self.params.max_file_bytes:
            return Reject("oversized", location, doc_id=location, metadata={**meta, "source.size": size})
        if any(p.search(path) for p in vendored):
            return Reject("vendored", location, doc_id=location, metadata=meta)
        try:
            data = blobs.read(sha)
        except KeyError as exc:
            return Reject("missing_object", location, doc_id=location, metadata={**meta, "reject.error": str(exc)})
        if b"\0" in data[:8192]:
            return Reject("binary", location, doc_id=location, metadata={**meta, "source.size": size})
        text, encoding = decode_source(data)
        if text is None:
            return Reject("invalid_utf8", location, doc_id=location, raw=data.decode("utf-8", "replace"),
                          metadata=meta)
        if encoding != "utf-8":
            meta["source.encoding"] = encoding
        first_line = text[:200].split("\n", 1)[0]
        meta["lang"] = langmap.language_for_path(path, first_line)
        return Document(text=text, id=location, metadata=meta)

    def _repo_metadata(self) -> dict[str, dict]:
        if not self.params.metadata_file:
            return {}
        import orjson

        rows = [orjson.loads(line) for line in Path(self.params.metadata_file).read_bytes().splitlines() if line]
        return {row["repo"]: row for row in rows}


_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


def decode_source(data: bytes) -> tuple[str | None, str]:
    """Decode file bytes: UTF-8, else the PEP 263 coding cookie of the first two lines. ``None`` if neither."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    for line in data.split(b"\n", 2)[:2]:
        match = _COOKIE.match(line)
        if match:
            try:
                return data.decode(match.group(1).decode("ascii")), match.group(1).decode("ascii").lower()
            except (LookupError, UnicodeDecodeError):
                return None, "unknown"
    return None, "unknown"


def _rev_parse(git_dir: str, ref: str) -> str:
    return run_git(["--git-dir", git_dir, "rev-parse", "--verify", f"{ref}^{{commit}}"], text=True).strip()


def _ls_tree(git_dir: str, commit: str) -> list[tuple[str, str, str, int, str]]:
    out = run_git(["--git-dir", git_dir, "ls-tree", "-r", "-l", "-z", "--full-tree", commit])
    entries = []
    for item in out.split(b"\0"):
        if not item:
            continue
        head, path = item.split(b"\t", 1)
        mode, kind, sha, size = head.decode().split()
        entries.append((mode, kind, sha, int(size) if size != "-" else 0, path.decode("utf-8", "surrogateescape")))
    return sorted(entries, key=lambda e: e[4])
