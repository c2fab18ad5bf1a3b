"""Caches of LLM answers: SQLite files keyed by content SHA-256, prompt version and model.

``LabelCache`` holds oracle labels (a rating read from an answer). A label is paid for once: a rerun, another
run over overlapping data, or ``curate label`` after a pipeline looks the key up first. Each row keeps the text
(zstd) and the document's metadata, so ``curate train scorer`` trains from the cache alone. Unparsable answers
are cached too (as ``error``) so they are not paid again; transport failures are not cached. Several worker
processes may write at once (SQLite WAL, busy timeout); keep the file on a local disk, not on NFS.

``CompletionCache`` holds generated completions, keyed also by the sampling parameters (n, temperature,
seed, ...): a rerun, or a run resumed after a crash, reads back the very completions the first run sampled.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import zstandard

_SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
  content_sha TEXT NOT NULL, prompt_version TEXT NOT NULL, model TEXT NOT NULL,
  rating REAL, expected REAL, error TEXT, answer TEXT, attempts INTEGER NOT NULL,
  doc_id TEXT, path TEXT, lang TEXT, metadata BLOB, text BLOB, created REAL NOT NULL,
  PRIMARY KEY (content_sha, prompt_version, model))
"""


@dataclass
class Label:
    rating: float | None = None  # parsed from the answer
    expected: float | None = None  # expected value over the next-token digit distribution
    error: str | None = None
    answer: str = ""
    attempts: int = 0
    cached: bool = False
    transient: bool = False  # a transport failure: reported, never cached

    @property
    def value(self) -> float | None:
        """The oracle's score: the parsed rating, else the expected value."""
        return self.rating if self.rating is not None else self.expected


@dataclass
class LabelledFile:
    content_sha: str
    text: str
    label: float
    lang: str
    path: str
    metadata: dict = field(default_factory=dict)


class _SqliteStore:
    schema = ""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=120)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(self.schema)
            self._conn.commit()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __getstate__(self):  # a plugin holding a cache is pickled to workers: the connection is not
        return {**self.__dict__, "_conn": None}


class LabelCache(_SqliteStore):
    schema = _SCHEMA

    def get_many(self, shas: list[str], prompt_version: str, model: str) -> dict[str, Label]:
        out: dict[str, Label] = {}
        db = self._db()
        for start in range(0, len(shas), 500):
            chunk = shas[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = db.execute(f"SELECT content_sha, rating, expected, error, answer, attempts FROM labels "
                              f"WHERE prompt_version=? AND model=? AND content_sha IN ({marks})",
                              [prompt_version, model, *chunk])
            for sha, rating, expected, error, answer, attempts in rows:
                out[sha] = Label(rating, expected, error, answer or "", attempts, cached=True)
        return out

    def put_many(self, rows: list[tuple[str, Label, object]], prompt_version: str, model: str) -> None:
        """rows: (content sha, label, datatrove Document)."""
        compressor = zstandard.ZstdCompressor(level=3)
        payload = [(sha, prompt_version, model, lab.rating, lab.expected, lab.error, lab.answer[-4000:],
                    lab.attempts, doc.id, str(doc.metadata.get("path", "")), str(doc.metadata.get("lang", "")),
                    orjson.dumps(_scalar_metadata(doc.metadata)), compressor.compress(doc.text.encode("utf-8",
                                                                                                 "surrogatepass")),
                    time.time()) for sha, lab, doc in rows]
        db = self._db()
        with db:
            db.executemany("INSERT OR REPLACE INTO labels VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", payload)

    def labelled(self, prompt_version: str | None = None, model: str | None = None) -> Iterator[LabelledFile]:
        """Every cached file with a usable label (errors skipped), in a stable order."""
        query = "SELECT content_sha, rating, expected, lang, path, metadata, text FROM labels WHERE error IS NULL"
        args: list = []
        if prompt_version:
            query += " AND prompt_version=?"
            args.append(prompt_version)
        if model:
            query += " AND model=?"
            args.append(model)
        decompressor = zstandard.ZstdDecompressor()
        for sha, rating, expected, lang, path, meta, text in self._db().execute(query + " ORDER BY content_sha", args):
            value = rating if rating is not None else expected
            if value is None:
                continue
            yield LabelledFile(sha, decompressor.decompress(text).decode("utf-8", "surrogatepass"), float(value),
                               lang or "", path or "", orjson.loads(meta))

    def stats(self) -> dict:
        rows = self._db().execute("SELECT prompt_version, model, COUNT(*), SUM(error IS NOT NULL) FROM labels "
                                  "GROUP BY prompt_version, model").fetchall()
        return {f"{v} / {m}": {"labels": n, "errors": int(e or 0)} for v, m, n, e in rows}


def _scalar_metadata(metadata: dict) -> dict:
    return {k: v for k, v in metadata.items() if isinstance(v, (int, float, str, bool)) and not k.startswith("quality.")
            and len(str(v)) < 500}


_COMPLETIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
  content_sha TEXT NOT NULL, prompt_version TEXT NOT NULL, model TEXT NOT NULL, sampling TEXT NOT NULL,
  payload BLOB NOT NULL, created REAL NOT NULL,
  PRIMARY KEY (content_sha, prompt_version, model, sampling))
"""


class CompletionCache(_SqliteStore):
    """Generated completions (a list per prompt), zstd-compressed JSON, keyed by (content, prompt version,
    model, sampling). Only complete, error-free answers are stored."""

    schema = _COMPLETIONS_SCHEMA

    def get_many(self, shas: list[str], prompt_version: str, model: str, sampling: str) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        decompressor = zstandard.ZstdDecompressor()
        db = self._db()
        for start in range(0, len(shas), 500):
            chunk = shas[start:start + 500]
            rows = db.execute(f"SELECT content_sha, payload FROM completions WHERE prompt_version=? AND model=? "
                              f"AND sampling=? AND content_sha IN ({','.join('?' * len(chunk))})",
                              [prompt_version, model, sampling, *chunk])
            for sha, payload in rows:
                out[sha] = orjson.loads(decompressor.decompress(payload))
        return out

    def put_many(self, rows: dict[str, list[dict]], prompt_version: str, model: str, sampling: str) -> None:
        compressor = zstandard.ZstdCompressor(level=3)
        now = time.time()
        payload = [(sha, prompt_version, model, sampling, compressor.compress(orjson.dumps(value)), now)
                   for sha, value in rows.items()]
        db = self._db()
        with db:
            db.executemany("INSERT OR REPLACE INTO completions VALUES (?,?,?,?,?,?)", payload)

    def count(self) -> int:
        return self._db().execute("SELECT COUNT(*) FROM completions").fetchone()[0]
