"""The ``.gitattributes`` of the commits being read, handed to git as one attributes file.

git reads ``.gitattributes`` from a working tree only, so ``git log -p`` on a bare repository (every bundle
is read through one) ignores them: a file marked ``binary`` is diffed as text when it happens to have no NUL
byte in its first 8,000 bytes, as Adobe Illustrator files (PDF with a long text header) often do. Here the
``.gitattributes`` files of the tip commits are rewritten as one root-level file and passed to git with
``-c core.attributesFile=...``: the view of ``git log -p`` in a fresh clone of the branch, where the checked
out attributes apply to the whole history.

A pattern of ``dir/.gitattributes`` applies below ``dir/``: ``*.ai`` becomes ``dir/**/*.ai`` and ``x/*.ai``
becomes ``dir/x/*.ai``. Files are written root first and deeper ones after, so the more specific file wins,
as in a working tree. Macro definitions (``[attr]name``) count only in the root file, as in git.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pygit2

NAME = ".gitattributes"


def tree_attribute_files(repo: pygit2.Repository, tree: pygit2.Tree) -> list[tuple[str, bytes]]:
    """(folder prefix ending in '/', or '' for the root; content) of every ``.gitattributes`` in ``tree``,
    shallower folders first."""
    found: list[tuple[str, bytes]] = []
    level = [("", tree)]
    while level:
        deeper = []
        for prefix, node in level:
            if NAME in node:
                entry = node[NAME]
                if entry.type == pygit2.enums.ObjectType.BLOB:
                    found.append((prefix, repo[entry.id].data))
            deeper.extend((f"{prefix}{e.name}/", repo[e.id]) for e in node if e.type == pygit2.enums.ObjectType.TREE)
        level = deeper
    return found


def root_attributes(files: list[tuple[str, bytes]]) -> bytes:
    """One attributes file equivalent to ``files`` (as returned by ``tree_attribute_files``)."""
    lines: list[bytes] = []
    for prefix, data in files:
        for line in data.splitlines():
            rebased = rebase_line(line.strip(), prefix.encode("utf-8", "surrogateescape"))
            if rebased is not None:
                lines.append(rebased)
    return b"\n".join(lines) + b"\n" if lines else b""


def rebase_line(line: bytes, prefix: bytes) -> bytes | None:
    """A line of ``<prefix>.gitattributes`` as a line of a root-level attributes file (None: no rule)."""
    if not line or line.startswith(b"#"):
        return None
    if not prefix:
        return line
    if line.startswith((b"[attr]", b'"')):  # macros count only at the root; quoted patterns are left out
        return None
    parts = line.split(None, 1)
    pattern, attrs = parts[0], parts[1] if len(parts) > 1 else b""
    anchored = b"/" in pattern.rstrip(b"/")  # relative to the file's folder; else at any depth below it
    return (prefix + pattern.lstrip(b"/") if anchored else prefix + b"**/" + pattern) + b" " + attrs


@contextmanager
def attributes_file(repo: pygit2.Repository, tips: list[pygit2.Oid]) -> Iterator[str | None]:
    """A temporary attributes file made of the ``.gitattributes`` of ``tips`` (None when there are none)."""
    data = b"".join(root_attributes(tree_attribute_files(repo, repo[tip].peel(pygit2.Tree))) for tip in tips)
    if not data:
        yield None
        return
    handle, path = tempfile.mkstemp(prefix="curate-gitattributes-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        yield path
    finally:
        os.unlink(path)
