"""JSONL source: plain, gzip or zstd; one shard per file."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import orjson
import zstandard
from pydantic import Field

from curate.io import open_file
from curate.plugin import Reject
from curate.sources.records import RecordParams, RecordSource, record_to_document
from curate.state import filesystem


class JsonlSource(RecordSource):
    """Reads JSON Lines files (``.jsonl``, ``.jsonl.gz``, ``.jsonl.zst``), one document per line.

    Every line becomes a document or a rejected record with its reason and ``file:line``: malformed JSON,
    invalid UTF-8, a non-object line, a missing or non-string text field, or a truncated compressed file.
    Blank lines are skipped. The record layout is datatrove's (``text``, ``id``, ``metadata``) or any other via
    the field mapping, e.g. The Stack's ``content``/``path``/``repo_name``.
    """

    class Params(RecordParams):
        max_line_bytes: int = Field(64 << 20, gt=0, description="Lines longer than this are rejected as "
                                                                "`line_too_long` without being parsed.")

    def read_shard(self, shard: str) -> Iterator:
        """One document per line of a JSON Lines file (plain, .gz or .zst); bad lines as rejects."""
        fs, path = filesystem(shard)
        with open_file(fs, path, "rb") as raw:
            stream = _decompressed(raw, path)
            lineno = 0
            try:
                for lineno, line in enumerate(stream, start=1):
                    if line.isspace():
                        continue
                    yield self._parse_line(line, shard, lineno)
            except (zstandard.ZstdError, EOFError, OSError, gzip.BadGzipFile) as exc:
                yield Reject("truncated_or_corrupt_file", f"{shard}:{lineno + 1}",
                             raw=f"{type(exc).__name__}: {exc}")

    def _parse_line(self, line: bytes, shard: str, lineno: int):
        location = f"{shard}:{lineno}"
        if len(line) > self.params.max_line_bytes:
            return Reject("line_too_long", location, raw=line[:10000].decode("utf-8", "replace"))
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            reason = "invalid_utf8" if _bad_utf8(line) else "malformed_json"
            return Reject(reason, location, raw=line[:10000].decode("utf-8", "replace"),
                          metadata={"reject.error": str(exc)})
        return record_to_document(self.params, record, shard, lineno)


def _bad_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


class TruncatedFile(EOFError):
    """The compressed stream ended in the middle of a frame."""


def _zstd_lines(raw, chunk_size: int = 1 << 20):
    """Lines of a (multi-frame) zstd stream; raises ``TruncatedFile`` if the last frame is incomplete."""
    dctx = zstandard.ZstdDecompressor()
    obj, pending, started = dctx.decompressobj(), b"", False
    while chunk := raw.read(chunk_size):
        while chunk:
            started = True
            data = obj.decompress(chunk)
            chunk = obj.unused_data if obj.eof else b""
            if obj.eof:
                obj, started = dctx.decompressobj(), bool(chunk)
            lines = (pending + data).split(b"\n")
            pending = lines.pop()
            yield from (line + b"\n" for line in lines)
    if started and not obj.eof:
        raise TruncatedFile("compressed stream ends in the middle of a zstd frame")
    if pending:
        yield pending


def _decompressed(raw, path: str):
    if path.endswith(".zst") or path.endswith(".zstd"):
        return _zstd_lines(raw)
    if path.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw)
    return raw
