"""Stream commits with their patches out of one ``git log -p`` process and parse them.

Why the git CLI: measured here on the fixture repositories (``tools/bench/bench_commits.py --libraries``),
one streaming ``git log -p`` is the fastest way to get every commit's patch (pygit2 about 1.7x slower,
dulwich about 10x), and its hunks are byte-identical to ``git show`` by construction, whereas libgit2's
differ in details (its hunk headers keep trailing blanks of the function context). Random access to trees
and blobs, which the commit transform needs, uses pygit2 in-process instead (see ``snapshot.py``).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

from curate_plugins._commits.repos import GIT_ENV

_RS, _US = "\x1e", "\x1f"
LOG_FORMAT = "--format=" + _RS + _US.join(["%H", "%P", "%at", "%an", "%ae", "%B"]) + _US
ZERO = "0" * 40


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
                chunk: int = 1 << 20) -> Iterator[Commit]:
    """Commits reachable from ``include`` and not from ``exclude``, parents before children, with patches."""
    args = ["git", "--git-dir", git_dir, "log", "--reverse", "--topo-order", *diff_options(context_lines),
            LOG_FORMAT, *include, *(f"^{sha}" for sha in exclude), "--"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=GIT_ENV)
    pending = b""
    finished = False
    try:
        while block := proc.stdout.read(chunk):
            records = (pending + block).split(b"\x1e")
            pending = records.pop()
            yield from (parse_record(r) for r in records if r)
        if pending:
            yield parse_record(pending)
        finished = True
    finally:
        if not finished:  # the reader stopped early (or failed): stop git, nothing to report
            proc.kill()
        proc.stdout.close()
        err = proc.stderr.read().decode("utf-8", "replace")
        proc.stderr.close()
        if proc.wait() != 0 and finished:
            raise RuntimeError(f"git log failed in {git_dir}: {err.strip()}")


def parse_record(raw: bytes) -> Commit:
    invalid = False
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text, invalid = raw.decode("utf-8", "replace"), True
    sha, parents, when, author, email, message, rest = text.split(_US, 6)
    start = rest.find("diff --git ")
    patch = rest[start:] if start >= 0 else ""
    commit = Commit(sha, parents.split(), int(when or 0), author, email, message.rstrip("\n"), patch,
                    invalid_utf8=invalid)
    commit.files = parse_patch(patch)
    return commit


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


def repo_activity(git_dir: str, heads: list[str]) -> tuple[int, int, int, int]:
    """(commits, distinct UTC days with a commit, first and last author time) over the whole history."""
    out = subprocess.run(["git", "--git-dir", git_dir, "log", "--format=%at", *heads, "--"], capture_output=True,
                         env=GIT_ENV, check=True).stdout.split()
    times = [int(t) for t in out]
    if not times:
        return 0, 0, 0, 0
    return len(times), len({t // 86400 for t in times}), min(times), max(times)
