"""Shard writers and readers. A file is never half-written: it is written under a temporary name and renamed into
place only when the task that writes it has finished.

- Output (``data/``) and excluded records (``excluded/``) follow the corpus schema (curate/schema.py) in the
  pipeline's format, JSON Lines + zstd or Parquet, in files that roll at ``output.max_file_mb``; a task that
  writes nothing leaves no file.
- Scratch data between the segments of one run (before and after a Stage's barrier) uses a framed format that
  costs almost nothing to write and read: a JSON header line ``[id, metadata, text bytes]`` then the UTF-8 text.
- ``JsonlZstShard`` writes ``{id, text, metadata}`` records, for plugins' own work files.
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Iterator

import orjson
import zstandard
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curate.schema import CorpusSchema, RowEncoder, decode_row
from curate.state import filesystem, is_local

FORMATS = {"jsonl.zst": ".jsonl.zst", "parquet": ".parquet"}
#: Parquet row groups hold about this much text (uncompressed), so readers can split and stream a file
ROW_GROUP_BYTES = 64 << 20
ROW_GROUP_MAX_ROWS = 100_000


def open_file(fs, path: str, mode: str, buffer: int = 1 << 20):
    """``path`` opened through Python's own buffered I/O when it is local (reads and writes stay in C), else
    through fsspec."""
    return open(path, mode, buffering=buffer) if is_local(fs) else fs.open(path, mode, block_size=buffer)


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
        self.handle = open_file(self.fs, self.tmp, "wb")

    def commit(self) -> None:
        self.handle.close()
        self.fs.mv(self.tmp, self.final)

    def discard(self) -> None:
        self.handle.close()
        if self.fs.exists(self.tmp):
            self.fs.rm(self.tmp)


class JsonlZstShard:
    """Streaming writer of one ``.jsonl.zst`` file of records (dicts), one JSON object per line."""

    def __init__(self, path: str, level: int = 3, dumps=_dumps):
        self.file = AtomicFile(path)
        self.stream = zstandard.ZstdCompressor(level=level).stream_writer(self.file.handle, closefd=False)
        self.dumps = dumps

    def write(self, rec: dict) -> None:
        self.stream.write(self.dumps(rec))

    def size(self) -> int:
        """Compressed bytes written so far."""
        return self.stream.tell()

    def finish(self) -> None:
        """Complete the file (it stays under its temporary name until ``commit``)."""
        if not self.stream.closed:
            self.stream.flush(zstandard.FLUSH_FRAME)
            self.stream.close()

    def commit(self) -> None:
        self.finish()
        self.file.commit()

    def discard(self) -> None:
        if not self.stream.closed:
            self.stream.close()
        self.file.discard()


def _dumps_row(row: dict) -> bytes:
    return orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)


class ParquetShard:
    """Writer of one Parquet file of schema rows, in row groups of about ``ROW_GROUP_BYTES`` of text."""

    def __init__(self, path: str, schema):
        import pyarrow.parquet as pq

        self.file = AtomicFile(path)
        self.schema = schema
        self.writer = pq.ParquetWriter(self.file.handle, schema, compression="zstd", compression_level=3,
                                       use_dictionary=[f.name for f in schema if f.name not in ("id", "text", "extra")],
                                       write_statistics=[f.name for f in schema if f.name != "text"])
        self.rows: list[dict] = []
        self.buffered = 0
        self.written = self.file.handle.tell()  # the file's size: it grows only when a row group is written

    def write(self, row: dict) -> None:
        self.rows.append(row)
        self.buffered += len(row["text"])
        if self.buffered >= ROW_GROUP_BYTES or len(self.rows) >= ROW_GROUP_MAX_ROWS:
            self._flush()

    def size(self) -> int:
        return self.written + self.buffered // 4  # text compresses about 4x

    def _flush(self) -> None:
        import pyarrow as pa

        if self.rows:
            columns = [pa.array([row[f.name] for row in self.rows], type=f.type) for f in self.schema]
            self.writer.write_table(pa.Table.from_arrays(columns, schema=self.schema), row_group_size=len(self.rows))
            self.rows, self.buffered, self.written = [], 0, self.file.handle.tell()

    def finish(self) -> None:
        """Complete the file (it stays under its temporary name until ``commit``)."""
        if self.writer is not None:
            self._flush()
            self.writer.close()
            self.writer = None

    def commit(self) -> None:
        self.finish()
        self.file.commit()

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        self.file.discard()


class RollingWriter:
    """Writes documents as schema rows to ``<folder>/<stem>-NNN.<ext>``, starting a new file when the current one
    reaches ``max_bytes``. Files are opened on the first document, so nothing written means no file."""

    def __init__(self, folder: str, stem: str, fmt: str, schema: CorpusSchema, excluded: bool, max_bytes: int,
                 level: int = 3):
        self.folder, self.stem, self.fmt, self.max_bytes, self.level = folder, stem, fmt, max_bytes, level
        self.encoder = RowEncoder(schema, excluded)
        self.arrow = schema.arrow_schema(excluded) if fmt == "parquet" else None
        self.current = None
        self.index = 0
        self.done: list = []

    def _open(self):
        path = posixpath.join(self.folder, f"{self.stem}-{self.index:03d}{FORMATS[self.fmt]}")
        self.index += 1
        return ParquetShard(path, self.arrow) if self.fmt == "parquet" \
            else JsonlZstShard(path, self.level, dumps=_dumps_row)

    def write(self, doc: Document) -> None:
        if self.current is None:
            self.current = self._open()
        self.current.write(self.encoder.encode(doc.id, doc.text, doc.metadata))
        if self.current.size() >= self.max_bytes:
            self.current.finish()
            self.done.append(self.current)
            self.current = None

    def commit(self) -> None:
        """Publish every file (all or none are renamed only after the task's last document)."""
        for shard in self.done + ([self.current] if self.current is not None else []):
            shard.commit()
        self.done, self.current = [], None

    def discard(self) -> None:
        for shard in self.done + ([self.current] if self.current is not None else []):
            shard.discard()
        self.done, self.current = [], None


class OutputLayout:
    """How a run writes data/ and excluded/: format, schema, file size."""

    def __init__(self, fmt: str, schema: CorpusSchema, max_file_mb: float = 512, level: int = 3):
        self.fmt, self.schema, self.level = fmt, schema, level
        self.max_bytes = max(1, int(max_file_mb * 1e6))

    def writer(self, folder: str, stem: str, excluded: bool = False) -> RollingWriter:
        return RollingWriter(folder, stem, self.fmt, self.schema, excluded, self.max_bytes, self.level)


def iter_shard(path: str) -> Iterator[dict]:
    """Read back a file written by this module (``.jsonl.zst``, ``.jsonl`` or ``.parquet``) as records
    ``{id, text, metadata}`` with flat dotted metadata keys, whatever the stored layout."""
    fs, p = filesystem(path)
    if p.endswith(".parquet"):
        import pyarrow.parquet as pq

        with fs.open(p, "rb") as handle:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=1024):
                for row in batch.to_pylist():
                    yield decode_row(row)
        return
    with fs.open(p, "rb") as handle:
        chunks = _zstd_chunks(handle, path) if p.endswith(".zst") else iter(lambda: handle.read(1 << 22), b"")
        pending = b""
        for chunk in chunks:
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                if line:
                    yield decode_row(orjson.loads(line))
        if pending.strip():
            yield decode_row(orjson.loads(pending))


def _zstd_chunks(handle, path: str, size: int = 1 << 22) -> Iterator[bytes]:
    """The decompressed data of every frame of a zstd file, in chunks; a truncated last frame is an error naming
    the file (a plain stream reader would stop silently)."""
    dctx = zstandard.ZstdDecompressor()
    frame, started = dctx.decompressobj(), False
    while raw := handle.read(size):
        while raw:
            started = True
            yield frame.decompress(raw)
            raw = frame.unused_data if frame.eof else b""
            if frame.eof:
                frame, started = dctx.decompressobj(), bool(raw)
    if started and not frame.eof:
        raise ValueError(f"{path}: truncated zstd data (the last frame does not end)")


class ShardWriter(PipelineStep):
    """Writes every document it receives to ``<folder>/part-<task>-NNN.<ext>`` under the corpus schema (files
    roll at the layout's size; a task with no document writes no file); yields nothing."""

    type = "curate"
    name = "write"

    def __init__(self, folder: str, layout: OutputLayout, prefix: str = "part"):
        super().__init__()
        self.folder, self.layout, self.prefix = folder, layout, prefix

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        writer = self.layout.writer(self.folder, f"{self.prefix}-{rank:05d}")
        try:
            for doc in data or ():
                writer.write(doc)
        except BaseException:
            writer.discard()
            raise
        writer.commit()
        return
        yield  # a generator that yields nothing


class ScratchWriter(PipelineStep):
    """Writes the documents of one task to ``<folder>/part-<task>.bin`` between two segments of a run: a JSON
    header line ``[id, metadata, text bytes]`` and the UTF-8 text per document, uncompressed (the scratch
    data lives until the run ends; compressing it would cost more than the rest of a cheap step)."""

    type = "curate"
    name = "scratch"

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder

    def path_for(self, rank: int) -> str:
        return posixpath.join(self.folder, f"part-{rank:05d}.bin")

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        file = AtomicFile(self.path_for(rank))
        try:
            write = file.handle.write
            option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE
            for doc in data or ():
                text = doc.text.encode("utf-8", "surrogatepass")
                write(orjson.dumps((doc.id, doc.metadata, len(text)), option=option, default=str))
                write(text)
        except BaseException:
            file.discard()
            raise
        file.commit()
        return
        yield


class ShardReader(PipelineStep):
    """Reads back the scratch file ``ScratchWriter`` wrote for this task."""

    type = "curate"
    name = "read"

    def __init__(self, writer: ScratchWriter):
        super().__init__()
        self.writer = writer

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        fs, path = filesystem(self.writer.path_for(rank))
        with open_file(fs, path, "rb", 1 << 22) as handle:
            readline, read = handle.readline, handle.read
            while header := readline():
                doc_id, metadata, size = orjson.loads(header)
                yield Document(text=read(size).decode("utf-8", "surrogatepass"), id=doc_id, metadata=metadata)


class ExcludedSink:
    """Per-task writer of one step's dropped documents to ``excluded/<run>/<step>.s<segment>-<task>-NNN.<ext>``, in
    the corpus format and schema. With ``full=False`` only ids, reasons and provenance are kept."""

    KEPT_WHEN_SHORT = ("drop.", "reject.", "dedup.", "source.")

    def __init__(self, folder: str, step_id: str, layout: OutputLayout, full: bool = True, segment: int = 0):
        self.folder, self.step_id, self.full, self.segment, self.layout = folder, step_id, full, segment, layout
        self._open: dict[int, RollingWriter] = {}

    def __getstate__(self):
        return {**self.__dict__, "_open": {}}

    def write(self, doc: Document, rank: int) -> None:
        writer = self._open.get(rank)
        if writer is None:
            writer = self._open[rank] = self.layout.writer(self.folder, f"{self.step_id}.s{self.segment}-{rank:05d}",
                                                      excluded=True)
        if not self.full:
            meta = {k: v for k, v in doc.metadata.items()
                    if k.startswith(self.KEPT_WHEN_SHORT) or k in ("path", "repo")}
            doc = Document(text="", id=doc.id, metadata=meta)
        writer.write(doc)

    def close(self, rank: int, commit: bool = True) -> None:
        writer = self._open.pop(rank, None)
        if writer is not None:
            writer.commit() if commit else writer.discard()


def open_shard(path: str, fmt: str = "jsonl.zst", level: int = 3):
    """A writer of ``{id, text, metadata}`` records to ``path`` (JSON Lines + zstd)."""
    if fmt != "jsonl.zst":
        raise ValueError("open_shard writes JSON Lines records; use OutputLayout for schema files")
    return JsonlZstShard(path, level)
