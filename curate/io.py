"""Shard writers and readers. A shard is never half-written: it is written under a temporary name and
renamed into place only when the task that writes it has finished."""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Iterator

import orjson
import zstandard
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curate.state import filesystem

FORMATS = {"jsonl.zst": ".jsonl.zst", "parquet": ".parquet"}


def doc_to_record(doc: Document) -> dict:
    return {"id": doc.id, "text": doc.text, "metadata": doc.metadata}


def record_to_doc(rec: dict) -> Document:
    return Document(text=rec["text"], id=rec["id"], metadata=rec.get("metadata") or {})


def _dumps(rec: dict) -> bytes:
    return orjson.dumps(rec, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY, default=str) + b"\n"


class AtomicFile:
    """A file written under ``<name>.tmp-*`` and renamed to ``<name>`` on ``commit()``."""

    def __init__(self, path: str):
        self.fs, self.final = filesystem(path)
        self.fs.makedirs(posixpath.dirname(self.final), exist_ok=True)
        self.tmp = f"{self.final}.tmp-{uuid.uuid4().hex[:8]}"
        self.handle = self.fs.open(self.tmp, "wb")

    def commit(self) -> None:
        self.handle.close()
        self.fs.mv(self.tmp, self.final)

    def discard(self) -> None:
        self.handle.close()
        if self.fs.exists(self.tmp):
            self.fs.rm(self.tmp)


class JsonlZstShard:
    """Streaming writer of one ``.jsonl.zst`` shard."""

    def __init__(self, path: str, level: int = 3):
        self.file = AtomicFile(path)
        self.stream = zstandard.ZstdCompressor(level=level).stream_writer(self.file.handle, closefd=False)

    def write(self, rec: dict) -> None:
        self.stream.write(_dumps(rec))

    def commit(self) -> None:
        self.stream.flush(zstandard.FLUSH_FRAME)
        self.stream.close()
        self.file.commit()

    def discard(self) -> None:
        self.stream.close()
        self.file.discard()


class ParquetShard:
    """Writer of one Parquet shard: id, text, common metadata columns, and the full metadata as JSON."""

    PROMOTED = ("repo", "path", "lang")

    def __init__(self, path: str, batch_rows: int = 2048):
        import pyarrow as pa

        self.pa = pa
        self.file = AtomicFile(path)
        self.schema = pa.schema([("id", pa.string()), ("text", pa.large_string())]
                                + [(k, pa.string()) for k in self.PROMOTED] + [("metadata", pa.large_string())])
        self.writer = None
        self.rows: list[dict] = []
        self.batch_rows = batch_rows

    def write(self, rec: dict) -> None:
        meta = rec.get("metadata") or {}
        row = {"id": rec["id"], "text": rec["text"], "metadata": _dumps(meta).decode().rstrip("\n")}
        for key in self.PROMOTED:
            value = meta.get(key)
            row[key] = None if value is None else str(value)
        self.rows.append(row)
        if len(self.rows) >= self.batch_rows:
            self._flush()

    def _flush(self) -> None:
        import pyarrow.parquet as pq

        if self.writer is None:
            self.writer = pq.ParquetWriter(self.file.handle, self.schema, compression="zstd")
        self.writer.write_table(self.pa.Table.from_pylist(self.rows, schema=self.schema))
        self.rows = []

    def commit(self) -> None:
        self._flush()
        self.writer.close()
        self.file.commit()

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.file.discard()


def open_shard(path: str, fmt: str, level: int = 3):
    return ParquetShard(path) if fmt == "parquet" else JsonlZstShard(path, level)


def iter_shard(path: str) -> Iterator[dict]:
    """Read back a shard written by this module (``.jsonl.zst``, ``.jsonl`` or ``.parquet``)."""
    fs, p = filesystem(path)
    if p.endswith(".parquet"):
        import pyarrow.parquet as pq

        with fs.open(p, "rb") as handle:
            table = pq.read_table(handle)
        for row in table.to_pylist():
            yield {"id": row["id"], "text": row["text"], "metadata": orjson.loads(row["metadata"])}
        return
    with fs.open(p, "rb") as handle:
        raw = handle.read()
    if p.endswith(".zst"):
        raw = _zstd_decompress(raw, path)
    for line in raw.splitlines():
        if line:
            yield orjson.loads(line)


def _zstd_decompress(raw: bytes, path: str) -> bytes:
    """Every frame of a zstd file; a truncated last frame is an error (a stream reader would stop silently)."""
    out = []
    while raw:
        frame = zstandard.ZstdDecompressor().decompressobj()
        out.append(frame.decompress(raw))
        if not frame.eof:
            raise ValueError(f"{path}: truncated zstd data (the last frame does not end)")
        raw = frame.unused_data
    return b"".join(out)


class ShardWriter(PipelineStep):
    """Writes every document it receives to ``<folder>/part-<rank>.<ext>`` (atomically); yields nothing."""

    type = "curate"
    name = "write"

    def __init__(self, folder: str, fmt: str = "jsonl.zst", prefix: str = "part", level: int = 3):
        super().__init__()
        self.folder, self.fmt, self.prefix, self.level = folder, fmt, prefix, level

    def path_for(self, rank: int) -> str:
        return posixpath.join(self.folder, f"{self.prefix}-{rank:05d}{FORMATS[self.fmt]}")

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        shard = open_shard(self.path_for(rank), self.fmt, self.level)
        try:
            for doc in data or ():
                shard.write(doc_to_record(doc))
        except BaseException:
            shard.discard()
            raise
        shard.commit()
        return
        yield  # a generator that yields nothing


class ShardReader(PipelineStep):
    """Reads back the part written by ``ShardWriter`` for this rank (scratch data between segments)."""

    type = "curate"
    name = "read"

    def __init__(self, writer: ShardWriter):
        super().__init__()
        self.writer = writer

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for rec in iter_shard(self.writer.path_for(rank)):
            yield record_to_doc(rec)


class ExcludedSink:
    """Per-rank writer of dropped documents for one step. With ``full=False`` only ids and reasons are kept."""

    def __init__(self, folder: str, step_id: str, full: bool = True, segment: int = 0):
        self.folder, self.step_id, self.full, self.segment = folder, step_id, full, segment
        self._open: dict[int, JsonlZstShard] = {}

    def __getstate__(self):
        return {**self.__dict__, "_open": {}}

    def write(self, doc: Document, rank: int) -> None:
        shard = self._open.get(rank)
        if shard is None:
            path = posixpath.join(self.folder, f"{self.step_id}.s{self.segment}-{rank:05d}.jsonl.zst")
            shard = self._open[rank] = JsonlZstShard(path)
        rec = doc_to_record(doc)
        if not self.full:
            rec["text"] = ""
            rec["metadata"] = {k: v for k, v in doc.metadata.items()
                               if k.startswith(("drop.", "reject.", "dedup.")) or k in ("path", "repo")}
        shard.write(rec)

    def close(self, rank: int, commit: bool = True) -> None:
        shard = self._open.pop(rank, None)
        if shard is not None:
            shard.commit() if commit else shard.discard()
