"""The `warc` source on the real pages of tests/data/web, and on damaged or non-HTML records."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections import Counter

import pytest

from curate.plugin import Reject
from curate_plugins.warc import WarcSource, domain_of, parse_http_response


@pytest.fixture(scope="module")
def web(fixture_data):
    return fixture_data / "web"


@pytest.fixture(scope="module")
def manifest(web):
    return {row["warc_record_id"]: row for row in map(json.loads, (web / "manifest.jsonl").open())}


def read(path, **params):
    source = WarcSource(paths=[str(path)], **params)
    return [item for shard in source.list_shards() for item in source.read_shard(shard)]


def reasons(items):
    return Counter(item.reason for item in items if isinstance(item, Reject))


def test_reads_every_html_response_with_metadata(web, manifest):
    items = read(web / "pages.warc.gz")
    docs = [i for i in items if not isinstance(i, Reject)]
    assert reasons(items) == {"not_response:warcinfo": 1}
    assert len(docs) == 127 and {d.id for d in docs} == set(manifest)
    for doc in docs:
        row = manifest[doc.id]
        assert doc.metadata["web.url"] == row["target_uri"]
        assert doc.metadata["web.domain"] == domain_of(row["target_uri"]) != ""
        assert doc.metadata["web.content_type"] == "text/html"
        assert doc.metadata["web.date"].startswith("20")
        assert doc.metadata["web.bytes"] == row["bytes"]
        assert "<" in doc.text
    toptal = next(d for d in docs if "toptal.com" in d.metadata["web.url"])
    assert toptal.metadata["web.domain"] == "www.toptal.com"
    assert "Common Mistakes" in toptal.text


def test_plain_warc_gives_the_same_documents(web, tmp_path):
    plain = tmp_path / "pages.warc"
    plain.write_bytes(gzip.decompress((web / "pages.warc.gz").read_bytes()))
    gz_docs = [(d.id, d.text) for d in read(web / "pages.warc.gz") if not isinstance(d, Reject)]
    plain_docs = [(d.id, d.text) for d in read(plain) if not isinstance(d, Reject)]
    assert plain_docs == gz_docs


def test_cut_gzip_file_rejects_the_cut_record(web, tmp_path):
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes((web / "pages.warc.gz").read_bytes()[:1_000_000])
    items = read(cut)
    counts = reasons(items)
    assert counts["truncated"] + counts["unreadable_file"] == 1
    assert sum(1 for i in items if not isinstance(i, Reject)) > 30


def test_corrupt_gzip_member_is_reported_with_its_offset(web, tmp_path):
    data = bytearray((web / "pages.warc.gz").read_bytes())
    for i in range(1_400_000, 1_400_050):
        data[i] ^= 0x55
    bad = tmp_path / "bad.warc.gz"
    bad.write_bytes(bytes(data))
    items = read(bad)
    unreadable = [i for i in items if isinstance(i, Reject) and i.reason == "unreadable_file"]
    assert len(unreadable) == 1 and unreadable[0].location.startswith(f"{bad}@")
    assert "Gzip" in unreadable[0].raw or "decompress" in unreadable[0].raw.lower()


def warc_record(warc_type: str, block: bytes, uri="http://example.org/x", digest: bytes | None = None,
                extra: str = "") -> bytes:
    sha1 = "sha1:" + base64.b32encode(hashlib.sha1(digest if digest is not None else block).digest()).decode()
    head = (f"WARC/1.0\r\nWARC-Type: {warc_type}\r\nWARC-Record-ID: <urn:uuid:{hashlib.md5(block).hexdigest()}>\r\n"
            f"WARC-Date: 2024-05-01T10:00:00Z\r\nWARC-Target-URI: {uri}\r\nWARC-Block-Digest: {sha1}\r\n{extra}"
            f"Content-Type: application/http; msgtype={warc_type}\r\nContent-Length: {len(block)}\r\n\r\n")
    return head.encode() + block + b"\r\n\r\n"


def http(status: str, content_type: str, body: bytes, extra: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{extra}\r\n".encode() + body


def test_every_kind_of_unwanted_record_has_its_reason(tmp_path):
    page = b"<html><body><pre>def f():\n    return 1</pre></body></html>"
    records = [
        warc_record("request", b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n"),
        warc_record("response", http("200 OK", "application/pdf", b"%PDF-1.4")),
        warc_record("response", http("404 Not Found", "text/html", b"<html>gone</html>")),
        warc_record("response", http("200 OK", "text/html", page), digest=b"something else"),
        warc_record("response", http("200 OK", "text/html", page), extra="WARC-Truncated: length\r\n"),
        warc_record("response", b"not an http response at all"),
        warc_record("response", http("200 OK", "text/html", b"\x1f\x8b broken", "Content-Encoding: gzip\r\n")),
        warc_record("response", http("200 OK", "text/html; charset=ISO-8859-1", "<p>caf\xe9</p>".encode("latin-1")),
                    uri="https://Docs.Example.org:8443/a"),
        warc_record("response", http("200 OK", "text/html", gzip.compress(page), "Content-Encoding: gzip\r\n")),
    ]
    path = tmp_path / "mixed.warc"
    path.write_bytes(b"".join(records))
    items = read(path)
    assert [i.reason if isinstance(i, Reject) else "doc" for i in items] == [
        "not_response:request", "not_html:application/pdf", "http_status:404", "digest_mismatch", "truncated",
        "bad_http_headers", "bad_content_encoding", "doc", "doc"]
    latin, gzipped = items[-2:]
    assert latin.text == "<p>café</p>" and latin.metadata["web.charset"] == "iso-8859-1"
    assert latin.metadata["web.domain"] == "docs.example.org"
    assert gzipped.text == page.decode()


def test_check_reports_missing_files(tmp_path):
    assert WarcSource(paths=[str(tmp_path / "*.warc.gz")]).check() == [
        f"paths: no file matches {[str(tmp_path / '*.warc.gz')]}"]


def test_parse_http_response_accepts_bare_newlines():
    assert parse_http_response(b"HTTP/1.0 200 OK\nContent-Type: text/html\n\n<p>x</p>") == (
        200, {"content-type": "text/html"}, b"<p>x</p>")
