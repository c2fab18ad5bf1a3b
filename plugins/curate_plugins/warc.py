"""WARC source: HTML responses of web archives (plain or gzip), parsed with FastWARC."""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Iterator
from datetime import datetime
from urllib.parse import urlsplit

from datatrove.data import Document
from pydantic import Field

from curate import PluginMetadata, PluginParams, Reject, Source, expand_paths, filesystem

HTML_TYPES = ["text/html", "application/xhtml+xml"]


class WarcSource(Source):
    """Reads WARC files (``.warc``, ``.warc.gz``) and keeps the HTML ``response`` records, one document each.

    This is the entry point of Seed-Coder's web-data pipeline (code-related pages recalled from Common
    Crawl). The document text is the decoded HTML; metadata records ``web.url``, ``web.domain``, ``web.date``
    (WARC-Date, ISO 8601), ``web.content_type``, ``web.charset`` and ``web.warc_record_id``. Every other
    record is rejected with a counted reason: ``not_response:<type>`` (warcinfo, request, metadata ...),
    ``not_html:<type>``, ``http_status:<code>``, ``truncated`` (WARC-Truncated header, or a block shorter
    than its Content-Length), ``digest_mismatch``, ``bad_http_headers``, ``bad_content_encoding``, and
    ``unreadable_file`` for a corrupt or cut gzip/WARC stream (the rest of that file, with its byte offset).
    FastWARC is used because it measured 2.3-3.8x faster than warcio here (docs/web.md).
    """

    requires = {"fastwarc": "curate[web]", "resiliparse": "curate[web]"}

    namespace = "web"

    class Metadata(PluginMetadata):
        url: str = Field(description="WARC-Target-URI of the response.")
        domain: str = Field(description="Host of the URL, without `www.`.")
        date: str = Field(description="WARC-Date, ISO 8601.")
        warc_record_id: str = Field(description="WARC-Record-ID.")
        content_type: str = Field(description="MIME type of the HTTP response.")
        http_status: int = Field(description="HTTP status code.")
        charset: str = Field(description="The charset the HTML was decoded with.")
        bytes: int = Field(description="Bytes of the HTTP payload.")

    class Params(PluginParams):
        paths: list[str] = Field(min_length=1, description="WARC files or glob patterns (`.warc`, `.warc.gz`); "
                                                           "each file is one shard.")
        content_types: list[str] = Field(default_factory=lambda: list(HTML_TYPES),
                                         description="HTTP Content-Type values (without parameters) kept as HTML.")
        verify_digest: bool = Field(True, description="Check WARC-Block-Digest (sha1) when present; a mismatch "
                                                      "is rejected as `digest_mismatch`.")
        max_payload_bytes: int = Field(10 << 20, gt=0, description="Larger payloads are rejected as `oversized`.")

    def check(self) -> list[str]:
        return [] if self.list_shards() else [f"paths: no file matches {self.params.paths}"]

    def list_shards(self) -> list[str]:
        return expand_paths(self.params.paths)

    def read_shard(self, shard: str) -> Iterator[Document | Reject]:
        from fastwarc.warc import ArchiveIterator

        fs, path = filesystem(shard)
        offset = 0
        with fs.open(path, "rb") as handle:
            try:
                for record in ArchiveIterator(handle, parse_http=False, min_content_length=None):
                    offset = record.stream_pos
                    yield self._record(record, f"{shard}@{offset}")
            except Exception as exc:  # noqa: BLE001 - FastWARC raises plain exceptions on corrupt streams
                yield Reject("unreadable_file", f"{shard}@{offset}", raw=f"{type(exc).__name__}: {exc}",
                             metadata={"reject.error": "records after this offset could not be read"})

    def _record(self, record, location: str) -> Document | Reject:
        headers = record.headers
        kind = headers.get("WARC-Type", "unknown")
        meta = _warc_metadata(headers)
        doc_id = meta["web.warc_record_id"] or location
        if kind != "response":
            return Reject(f"not_response:{kind}", location, doc_id=doc_id, metadata=meta)
        block = record.reader.read()
        if headers.get("WARC-Truncated") or len(block) < record.content_length:
            return Reject("truncated", location, doc_id=doc_id, metadata=meta)
        if self.params.verify_digest and not _digest_ok(headers.get("WARC-Block-Digest"), block):
            return Reject("digest_mismatch", location, doc_id=doc_id, metadata=meta)
        return self._response(block, meta, location, doc_id)

    def _response(self, block: bytes, meta: dict, location: str, doc_id: str) -> Document | Reject:
        parsed = parse_http_response(block)
        if parsed is None:
            return Reject("bad_http_headers", location, doc_id=doc_id, raw=block[:2000].decode("latin-1"),
                          metadata=meta)
        status, http_headers, payload = parsed
        mime, charset = _content_type(http_headers.get("content-type", ""), payload)
        meta.update({"web.content_type": mime, "web.http_status": status})
        if not 200 <= status < 300:
            return Reject(f"http_status:{status}", location, doc_id=doc_id, metadata=meta)
        if mime not in self.params.content_types:
            return Reject(f"not_html:{mime or 'unknown'}", location, doc_id=doc_id, metadata=meta)
        payload = _decoded_body(payload, http_headers.get("content-encoding", ""))
        if payload is None:
            return Reject("bad_content_encoding", location, doc_id=doc_id, metadata=meta)
        if len(payload) > self.params.max_payload_bytes:
            return Reject("oversized", location, doc_id=doc_id, metadata={**meta, "web.bytes": len(payload)})
        text, meta["web.charset"] = _decode_html(payload, charset)
        meta["web.bytes"] = len(payload)
        return Document(text=text, id=doc_id, metadata=meta)


def _warc_metadata(headers) -> dict:
    url = headers.get("WARC-Target-URI", "") or ""
    return {"web.url": url, "web.domain": domain_of(url), "web.date": _iso_date(headers.get("WARC-Date")),
            "web.warc_record_id": headers.get("WARC-Record-ID", "")}


def domain_of(url: str) -> str:
    """Lower-cased host name of a URL, without port or credentials ('' when there is none)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _iso_date(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat()
    except ValueError:
        return value


def _digest_ok(declared: str | None, block: bytes) -> bool:
    if not declared or not declared.lower().startswith("sha1:"):
        return True
    expected = declared.split(":", 1)[1].strip().upper()
    digest = hashlib.sha1(block).digest()
    return expected in (base64.b32encode(digest).decode(), digest.hex().upper())


def parse_http_response(block: bytes) -> tuple[int, dict[str, str], bytes] | None:
    """Split an HTTP response block into (status, lower-cased headers, payload); ``None`` if malformed."""
    end = block.find(b"\r\n\r\n")
    sep = 4
    if end < 0:
        end, sep = block.find(b"\n\n"), 2
    if end < 0:
        return None
    lines = block[:end].decode("latin-1").splitlines()
    parts = lines[0].split(None, 2) if lines else []
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return None
    headers = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers, block[end + sep:]


def _content_type(header: str, payload: bytes) -> tuple[str, str | None]:
    mime, _, params = header.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'") or None
    mime = mime.strip().lower()
    if not mime and payload[:1024].lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
        mime = "text/html"
    return mime, charset


def _decoded_body(payload: bytes, encoding: str) -> bytes | None:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return payload
    try:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(payload, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            return zlib.decompress(payload)
    except zlib.error:
        return None
    return None


def _decode_html(payload: bytes, charset: str | None) -> tuple[str, str]:
    """Decode with the declared charset when it works, else resiliparse's detection (meta tags, then content)."""
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    if charset:
        try:
            return payload.decode(charset), charset.lower()
        except (LookupError, UnicodeDecodeError):
            pass
    detected = detect_encoding(payload)
    return bytes_to_str(payload, detected), detected
