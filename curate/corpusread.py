"""Read a corpus directory's documents back, whatever the shard format: the one place the report and the
dataset card touch the on-disk record layout (through ``curate.io.iter_shard``)."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import Any

from curate.io import iter_shard
from curate.state import CorpusDir, filesystem

SHARD_SUFFIXES = (".jsonl.zst", ".jsonl", ".parquet")
AREAS = ("data", "excluded")


def shard_files(corpus: CorpusDir, area: str, run_id: str) -> list[tuple[str, int]]:
    """(path, size in bytes) of every finished shard of ``area`` (data or excluded) written by ``run_id``."""
    fs, folder = filesystem(corpus.path(area, run_id))
    if not fs.exists(folder):
        return []
    out = []
    for info in fs.ls(folder, detail=True):
        name = posixpath.basename(info["name"].rstrip("/"))
        if info.get("type") == "file" and name.endswith(SHARD_SUFFIXES) and ".tmp-" not in name:
            out.append((corpus.path(area, run_id, name), int(info.get("size") or 0)))
    return sorted(out)


class CorpusReadError(Exception):
    """A shard of the corpus cannot be read (truncated, corrupt, not written by curate)."""


def iter_records(corpus: CorpusDir, area: str, run_id: str) -> Iterator[dict]:
    """Every record ({"id", "text", "metadata"}) of ``area`` written by ``run_id``, shard by shard."""
    for path, _size in shard_files(corpus, area, run_id):
        try:
            yield from iter_shard(path)
        except Exception as exc:  # noqa: BLE001 - zstd, JSON, Arrow errors: name the file, not a traceback
            raise CorpusReadError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from exc


def meta_value(metadata: dict, key: str) -> Any:
    """The value of a dotted metadata key (``quality.score``), stored flat or nested per namespace."""
    if key in metadata:
        return metadata[key]
    node: Any = metadata
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def flat_items(metadata: dict, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every leaf, for flat keys and nested namespaces alike."""
    for key, value in metadata.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from flat_items(value, f"{name}.")
        else:
            yield name, value
