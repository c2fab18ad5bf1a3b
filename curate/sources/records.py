"""Shared logic of record-based sources (JSONL, Parquet): field mapping, ids and rejects."""

from __future__ import annotations

import glob as globlib
from typing import Any

from datatrove.data import Document
from pydantic import Field

from curate.plugin import PluginParams, Reject, Source
from curate.state import filesystem

CANONICAL = ("path", "repo", "lang", "license", "stars", "forks")


class RecordParams(PluginParams):
    """Parameters shared by the record sources (JSON Lines, Parquet): paths and field names."""
    paths: list[str] = Field(min_length=1, description="Files or glob patterns (local paths or fsspec URLs). "
                                                       "Each matching file is one shard.")
    text_field: str = Field("text", description="Field holding the document text (The Stack: `content`).")
    id_field: str | None = Field("id", description="Field holding a stable document id. When absent from a "
                                                   "record, the id is `<file>:<line or row>`.")
    fields: dict[str, str] = Field(default_factory=dict,
                                   description="Canonical metadata key -> field name, e.g. {path: path, "
                                               "repo: repo_name} for The Stack. Canonical keys: "
                                               + ", ".join(CANONICAL) + ".")
    keep_other_fields: bool = Field(True, description="Copy the remaining fields of each record into metadata.")


class RecordSource(Source):
    """Base of file-per-shard record sources: shards are the files matching ``paths``.

    Writes the canonical provenance keys it maps (``repo``, ``path``, ``lang``, ...) and ``source.line``; the
    other fields of a record are copied as they are (``keep_other_fields``) and land in the ``extra`` column.
    """

    passes_input_fields = True

    def check(self) -> list[str]:
        """A problem when no file matches ``paths``."""
        return [] if self.list_shards() else [f"paths: no file matches {self.params.paths}"]

    def list_shards(self) -> list[str]:
        """One shard per file matched by ``paths``."""
        return expand_paths(self.params.paths)


def expand_paths(patterns: list[str]) -> list[str]:
    """Expand glob patterns (local or fsspec); a pattern without wildcards must name an existing file."""
    shards: list[str] = []
    for pattern in patterns:
        fs, path = filesystem(pattern)
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        if any(ch in pattern for ch in "*?["):
            matches = sorted(globlib.glob(pattern, recursive=True)) if protocol in ("file", "local") \
                else sorted(f"{protocol}://{m}" for m in fs.glob(path))
        else:
            matches = [pattern] if fs.exists(path) else []
        shards.extend(m for m in matches if not fs.isdir(filesystem(m)[1]))
    return sorted(dict.fromkeys(shards))


def record_to_document(params: RecordParams, record: Any, shard: str, position: int) -> Document | Reject:
    """A document from one record, or a Reject saying why the record is unusable."""
    location = f"{shard}:{position}"
    if not isinstance(record, dict):
        return Reject("not_an_object", location, raw=str(record)[:10000])
    text = record.get(params.text_field)
    if text is None:
        return Reject(f"missing_field:{params.text_field}", location, raw=_preview(record),
                      metadata={"reject.fields": sorted(record)[:50]})
    if not isinstance(text, str):
        return Reject(f"bad_field_type:{params.text_field}", location, raw=_preview(record))
    doc_id = record.get(params.id_field) if params.id_field else None
    doc_id = str(doc_id) if doc_id is not None else location
    metadata: dict[str, Any] = {}
    if params.keep_other_fields:
        skip = {params.text_field, params.id_field}
        metadata.update((k, v) for k, v in record.items() if k not in skip and k != "metadata")
        nested = record.get("metadata")
        if isinstance(nested, dict):
            metadata.update(nested)
    for canonical, name in params.fields.items():
        if name in record:
            metadata.pop(name, None)
            metadata[canonical] = record[name]
    metadata["source.shard"] = shard
    metadata["source.line"] = position
    return Document(text=text, id=doc_id, metadata=metadata)


def _preview(record: dict) -> str:
    import orjson

    return orjson.dumps(record, default=str)[:10000].decode("utf-8", "replace")
