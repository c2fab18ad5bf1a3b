"""Stream commits with their patches out of one ``git log -p`` process and parse them.

Why the git CLI: measured here on the fixture repositories (``tools/bench/bench_commits.py --libraries``),
one streaming ``git log -p`` is the fastest way to get every commit's patch (pygit2 about 1.7x slower,
dulwich about 10x), and its hunks are byte-identical to ``git show`` by construction, whereas libgit2's
differ in details (its hunk headers keep trailing blanks of the function context). Random access to trees
and blobs, which the commit transform needs, uses pygit2 in-process instead (see ``snapshot.py``).

No file content or commit message can break the framing:

- git's stream carries no free text of ours: each commit starts with a line ``\\x1e<sha>``. Every line of a
  patch starts with a diff keyword or with `` ``, ``+``, ``-`` or ``\\``, so ``\\n\\x1e`` occurs only where a
  commit starts, whatever bytes the files hold; a record whose header is not a commit id is joined back
  to the one before (defence in depth).
- Author, time, parents and message are read from the commit object itself (pygit2, length-prefixed by
  the object format), never parsed out of the stream.
- ``.gitattributes`` are respected: git reads them from a working tree only, so the ``.gitattributes`` files
  of the tips being read are given to git as its attributes file (the view of ``git log -p`` in a fresh
  clone of the branch): a file marked ``binary`` or ``-diff`` is reported as binary, not diffed as text.
"""
from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from curate_plugins._commits.repos import GIT_ENV

if TYPE_CHECKING:
    import pygit2

#: each commit's first line in git's stream: a record separator and the commit id, nothing else
LOG_FORMAT = "--format=%x1e%H"
_COMMIT_START = b"\n\x1e"
_COMMIT_ID = re.compile(rb"[0-9a-f]{40}(?:[0-9a-f]{24})?")
ZERO = "0" * 40
_MAX_HEADER = 80  # the id line of a commit: 40 or 64 hex digits


def diff_options(context_lines: int) -> list[str]:
    """The diff options of every patch we produce; ``git show`` with the same options prints the same hunks."""
    return ["-p", f"-U{context_lines}", "--full-index", "--no-color", "--no-ext-diff", "--no-textconv", "-M"]


@dataclass
class FileChange:
    path: str  # the path after the commit (before it, for a deletion)
    old_path: str | None  # the path before the commit (None for an added file)
    status: str  # A added, D deleted, M modified, R renamed, C copied, T mode change only
    old_blob: str
    new_blob: str
    old_mode: str | None = None
    new_mode: str | None = None
    binary: bool = False
    similarity: int | None = None
    start: int = 0  # this file's section of the commit patch: patch[start:end]
    end: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Commit:
    sha: str
    parents: list[str]
    author_time: int
    author: str
    author_email: str
    message: str
    patch: str
    files: list[FileChange] = field(default_factory=list)
    invalid_utf8: bool = False


def log_commits(git_dir: str, include: list[str], exclude: list[str], context_lines: int = 3,
                chunk: int = 1 << 20, repo: pygit2.Repository | None = None) -> Iterator[Commit]:
    """Commits reachable from ``include`` and not from ``exclude``, parents before children, with patches.

    ``repo``: the repository opened on ``git_dir`` (its object cache then serves commits read before)."""
    import pygit2  # the `commits` extra; imported when used, so the plugin classes load without it

    from curate_plugins._commits.attributes import attributes_file

    repo = repo if repo is not None else pygit2.Repository(git_dir)
    with attributes_file(repo, [resolve(repo, rev) for rev in include]) as attributes:
        config = ["-c", f"core.attributesFile={attributes}"] if attributes else []
        args = ["git", "--git-dir", git_dir, *config, "log", "--reverse", "--topo-order",
                *diff_options(context_lines), LOG_FORMAT, *include, *(f"^{sha}" for sha in exclude), "--"]
        for obj, patch in _stream(args, git_dir, repo, chunk):
            yield make_commit(obj, patch)


def resolve(repo: pygit2.Repository, rev: str) -> pygit2.Oid:
    """The id of the commit a revision (sha, branch, ``HEAD``) names."""
    import pygit2

    return repo.revparse_single(rev).peel(pygit2.Commit).id


def _stream(args: list[str], git_dir: str, repo: pygit2.Repository,
            chunk: int) -> Iterator[tuple[pygit2.Commit, bytes]]:
    """(commit, raw patch bytes) of each commit of one ``git log -p`` run."""
    # cwd: with --git-dir and no work tree, git would read the .gitattributes of the current directory
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=GIT_ENV, cwd=git_dir)
    finished = False
    try:
        yield from _records(proc.stdout, repo, chunk)
        finished = True
    finally:
        if not finished:  # the reader stopped early (or failed): stop git, nothing to report
            proc.kill()
        proc.stdout.close()
        err = proc.stderr.read().decode("utf-8", "replace")
        proc.stderr.close()
        if proc.wait() != 0 and finished:
            raise RuntimeError(f"git log failed in {git_dir}: {err.strip()}")


def _records(stream, repo: pygit2.Repository, chunk: int) -> Iterator[tuple[pygit2.Commit, bytes]]:
    """Git's output cut at commit starts: each commit (read from the repository) and its raw patch.

    A ``\\n\\x1e`` whose line is not the id of a commit of the repository (which the line rules of a patch
    make impossible) stays inside the record. Each byte is searched about once, so a huge patch costs no
    more than its size."""
    buf, eof = bytearray(), False
    while not eof and b"\n" not in buf[:_MAX_HEADER] and len(buf) < _MAX_HEADER:
        block = stream.read(chunk)
        buf += block
        eof = not block
    end = buf.find(b"\n", 0, _MAX_HEADER)
    current = _commit_at(repo, bytes(buf[1:end if end >= 0 else _MAX_HEADER]))
    pos = 0
    while True:
        found = buf.find(_COMMIT_START, pos)
        header_end = buf.find(b"\n", found + 2, found + _MAX_HEADER) if found >= 0 else -1
        if (found < 0 or (header_end < 0 and len(buf) - found < _MAX_HEADER)) and not eof:
            pos = max(pos, len(buf) - 1) if found < 0 else found  # read on: a start or its line is cut
            block = stream.read(chunk)
            buf += block
            eof = not block
            continue
        if found < 0:
            break
        following = _commit_at(repo, bytes(buf[found + 2: header_end if header_end >= 0 else found + _MAX_HEADER]))
        if following is None:
            pos = found + 2
            continue
        yield current, _patch_of(buf, found + 1)  # the record keeps its last newline
        del buf[:found + 2]
        current, pos = following, 0
    if current is not None:
        yield current, _patch_of(buf, len(buf))


def _commit_at(repo: pygit2.Repository, header: bytes) -> pygit2.Commit | None:
    """The commit a record's first line names, or None when that line is not a commit id of ``repo``."""
    import pygit2

    if not _COMMIT_ID.fullmatch(header):
        return None
    try:
        obj = repo.get(header.decode())
    except (ValueError, pygit2.GitError):  # e.g. a SHA-256 id in a SHA-1 repository
        return None
    return obj if isinstance(obj, pygit2.Commit) else None


def _patch_of(buf: bytearray, end: int) -> bytes:
    """The patch of the record ``buf[:end]``: after its id line and the blank line git puts before it."""
    start = buf.find(b"\n", 0, end)
    return bytes(buf[start + 1:end]).lstrip(b"\n") if start >= 0 else b""


def make_commit(obj: pygit2.Commit, raw_patch: bytes) -> Commit:
    """A commit's fields from its object (no stream parsing) and its patch, split into files."""
    invalid = False
    try:
        patch = raw_patch.decode("utf-8")
    except UnicodeDecodeError:
        patch, invalid = raw_patch.decode("utf-8", "replace"), True
    encoding = obj.message_encoding or "utf-8"
    author = obj.author
    texts = []
    for raw in (author.raw_name, author.raw_email, obj.raw_message):
        text, bad = _decode(raw, encoding)
        texts.append(text)
        invalid |= bad
    name, email, message = texts
    commit = Commit(str(obj.id), [str(p) for p in obj.parent_ids], author.time, name, email,
                    message.rstrip("\n"), patch, invalid_utf8=invalid)
    commit.files = parse_patch(patch)
    return commit


def _decode(raw: bytes, encoding: str) -> tuple[str, bool]:
    """Text as git prints it (re-encoded from the commit's ``encoding`` header); invalid bytes replaced."""
    try:
        return raw.decode(encoding), False
    except (UnicodeDecodeError, LookupError):
        return raw.decode("utf-8", "replace"), True


def parse_patch(patch: str) -> list[FileChange]:
    """Split a multi-file git patch into its files (paths, blobs, modes, binary flag, offsets)."""
    starts = [0] if patch.startswith("diff --git ") else []
    pos = patch.find("\ndiff --git ")
    while pos >= 0:
        starts.append(pos + 1)
        pos = patch.find("\ndiff --git ", pos + 1)
    bounds = zip(starts, starts[1:] + [len(patch)])
    return [_parse_file(patch, a, b) for a, b in bounds]


_HEADER_KEYS = ("old mode ", "new mode ", "deleted file mode ", "new file mode ", "similarity index ",
                "rename from ", "rename to ", "copy from ", "copy to ", "index ", "--- ", "+++ ",
                "dissimilarity index ", "Binary files ", "GIT binary patch")


def _parse_file(patch: str, start: int, end: int) -> FileChange:
    section = patch[start:end]
    hunk = section.find("\n@@ ")
    header = section[: hunk if hunk >= 0 else len(section)].split("\n")
    info: dict[str, str] = {}
    for line in header[1:]:
        for key in _HEADER_KEYS:
            if line.startswith(key):
                info[key.strip()] = line[len(key):]
                break
    old_path, new_path = _paths(header[0], info)
    old_blob, new_blob, mode = _index_line(info.get("index"))
    status = _status(info, old_blob, new_blob)
    similarity = info.get("similarity index")
    return FileChange(
        path=new_path if status != "D" else old_path, old_path=None if status == "A" else old_path,
        status=status, old_blob=old_blob, new_blob=new_blob,
        old_mode=info.get("old mode") or info.get("deleted file mode") or mode,
        new_mode=info.get("new mode") or info.get("new file mode") or mode,
        binary="Binary files" in info or "GIT binary patch" in info,
        similarity=int(similarity.rstrip("%")) if similarity else None, start=start, end=end)


def _status(info: dict, old_blob: str, new_blob: str) -> str:
    if "new file mode" in info:
        return "A"
    if "deleted file mode" in info:
        return "D"
    if "rename from" in info:
        return "R"
    if "copy from" in info:
        return "C"
    if old_blob == new_blob and "old mode" in info:
        return "T"
    return "M"


def _index_line(value: str | None) -> tuple[str, str, str | None]:
    if not value:
        return "", "", None
    blobs, _, mode = value.partition(" ")
    old, _, new = blobs.partition("..")
    return old, new, mode or None


def _paths(first_line: str, info: dict) -> tuple[str, str]:
    old = info.get("rename from") or info.get("copy from")
    new = info.get("rename to") or info.get("copy to")
    if old is not None:
        return unquote(old), unquote(new)
    minus, plus = info.get("---"), info.get("+++")
    if minus is not None and plus is not None:
        old = unquote(minus)
        new = unquote(plus)
        old = new[2:] if old == "/dev/null" else old[2:]
        new = old if new == "/dev/null" else new[2:]
        return old, new
    return _paths_from_diff_line(first_line[len("diff --git "):])


def _paths_from_diff_line(rest: str) -> tuple[str, str]:
    """``a/X b/Y`` of a ``diff --git`` line without ---/+++ lines (binary files, mode changes)."""
    if rest.startswith('"'):
        end = _closing_quote(rest)
        old, new = unquote(rest[: end + 1]), unquote(rest[end + 2:])
        return old[2:], new[2:]
    if rest.endswith('"'):
        start = rest.rindex(' "')
        return rest[2:start], unquote(rest[start + 1:])[2:]
    half = (len(rest) - 1) // 2  # both sides are equal when the path did not change
    if rest[half] == " " and rest[2:half] == rest[half + 3:]:
        return rest[2:half], rest[half + 3:]
    old, _, new = rest.partition(" b/")
    return old[2:], new


def _closing_quote(text: str) -> int:
    i = 1
    while text[i] != '"':
        i += 2 if text[i] == "\\" else 1
    return i


_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def unquote(value: str) -> str:
    """Undo git's C-style quoting of unusual paths (``"a/\\303\\251.txt"`` -> ``a/é.txt``)."""
    value = value.rstrip("\t")
    if not (value.startswith('"') and value.endswith('"')):
        return value
    out = bytearray()
    body, i = value[1:-1], 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out += ch.encode("utf-8", "surrogateescape")
            i += 1
        elif body[i + 1] in "01234567":
            out.append(int(body[i + 1: i + 4], 8))
            i += 4
        else:
            out.append(_ESCAPES.get(body[i + 1], ord(body[i + 1])))
            i += 2
    return out.decode("utf-8", "replace")


def repo_activity(repo: pygit2.Repository, heads: list[str]) -> tuple[int, int, int, int]:
    """(commits, distinct UTC days with a commit, first and last author time) over the whole history."""
    import pygit2

    if not heads:
        return 0, 0, 0, 0
    ids = [resolve(repo, head) for head in heads]
    walker = repo.walk(ids[0], pygit2.enums.SortMode.NONE)
    for commit_id in ids[1:]:
        walker.push(commit_id)
    times = [commit.author.time for commit in walker]
    if not times:
        return 0, 0, 0, 0
    return len(times), len({t // 86400 for t in times}), min(times), max(times)
