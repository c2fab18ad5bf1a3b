"""A bad WARC record is one excluded record (issue 13, scenario 6): it is excluded with its real byte offset
and reading resumes at the next record (uncompressed) or gzip member. Broken files are made from the shipped
examples/data/web/debian-docs.warc.gz (27 pages, one gzip member per record)."""

from __future__ import annotations

import gzip

import pytest
from integrity_scenarios import WARC, warc_members, warc_with_bad_header

from curate import Document, Reject
from curate.testing import read_corpus, read_excluded, run_pipeline_dict
from curate_plugins.warc import WarcSource

PAGES = 27


def _read(path) -> tuple[list[Document], list[Reject]]:
    items = list(WarcSource({"paths": [str(path)]}).read_shard(str(path)))
    return [i for i in items if isinstance(i, Document)], [i for i in items if isinstance(i, Reject)]


def _where(rejects: list[Reject]) -> list[tuple[str, int]]:
    return [(r.reason, int(r.location.rsplit("@", 1)[1])) for r in rejects]


def test_the_shipped_file_reads_whole():
    docs, rejects = _read(WARC)
    assert len(docs) == PAGES and _where(rejects) == [("not_response:warcinfo", 0)]


def test_a_bad_first_record_costs_that_record_only(tmp_path):
    broken, offset = warc_with_bad_header(tmp_path / "first.warc.gz", record=0)
    docs, rejects = _read(broken)
    assert len(docs) == PAGES and _where(rejects) == [("bad_warc_record", offset)] and offset == 0
    assert "Content-Length 5367 runs past the record's block (367 bytes" in rejects[0].raw
    assert "; reading resumed at the next gzip member, at byte " in rejects[0].metadata["reject.error"]


@pytest.mark.parametrize("compressed", [True, False])
def test_a_bad_record_in_the_middle_is_excluded_at_its_real_offset(tmp_path, compressed):
    broken, offset = warc_with_bad_header(tmp_path / "middle.warc.gz", record=5)
    if not compressed:
        plain = tmp_path / "middle.warc"
        plain.write_bytes(gzip.decompress(broken.read_bytes()))
        offset = sum(len(gzip.decompress(m)) for m in warc_members(broken)[:5])
        broken = plain
    docs, rejects = _read(broken)
    assert len(docs) == PAGES - 1
    assert _where(rejects) == [("not_response:warcinfo", 0), ("bad_warc_record", offset)]
    with open(broken, "rb") as handle:  # the offset is where the broken record starts in the file
        handle.seek(offset)
        head = handle.read(2)
    assert head == (b"\x1f\x8b" if compressed else b"WA")
    reference = [d.id for d in _read(WARC)[0]]
    assert [d.id for d in docs] == reference[:4] + reference[5:]  # every other page, in order


def test_corrupt_gzip_bytes_cost_one_member(tmp_path):
    members = warc_members()
    damaged = bytearray(members[7])
    damaged[len(damaged) // 2:len(damaged) // 2 + 64] = bytes(64)
    path = tmp_path / "damaged.warc.gz"
    path.write_bytes(b"".join(members[:7]) + bytes(damaged) + b"".join(members[8:]))
    docs, rejects = _read(path)
    start = sum(len(m) for m in members[:7])
    assert len(docs) == PAGES - 1 and ("unreadable_file", start) in _where(rejects)
    assert "corrupt gzip data" in next(r.raw for r in rejects if r.reason == "unreadable_file")


def test_a_run_over_a_broken_warc_keeps_every_readable_page(tmp_path):
    broken, _ = warc_with_bad_header(tmp_path / "in" / "first.warc.gz", record=0)
    out = tmp_path / "out"
    run_pipeline_dict({"name": "web", "inputs": [{"source": "warc", "with": {"paths": [str(broken)]}}],
                       "output": {"dir": str(out)}})
    assert len(read_corpus(out)) == PAGES
    excluded = read_excluded(out)
    assert [(r["metadata"]["drop.reason"], r["metadata"]["reject.location"]) for r in excluded] == [
        ("bad_warc_record", f"{broken}@0")]


@pytest.mark.parametrize("compressed", [True, False])
def test_a_whole_record_fastwarc_refuses_costs_that_record_only(tmp_path, compressed):
    """Record 5 is well formed but says `WARC/9.9`: FastWARC stops there ("Invalid WARC header") while the probe
    finds it whole. It is excluded, and the 22 pages after it are read, not lost."""
    members = warc_members(WARC)
    members[5] = gzip.compress(gzip.decompress(members[5]).replace(b"WARC/1.0", b"WARC/9.9", 1))
    offset = sum(len(m) for m in members[:5])
    broken = tmp_path / "version.warc.gz"
    broken.write_bytes(b"".join(members))
    if not compressed:
        offset = sum(len(gzip.decompress(m)) for m in members[:5])
        broken = tmp_path / "version.warc"
        broken.write_bytes(b"".join(gzip.decompress(m) for m in members))
    docs, rejects = _read(broken)
    assert _where(rejects) == [("not_response:warcinfo", 0), ("bad_warc_record", offset)]
    assert "a record FastWARC cannot read (" in rejects[1].raw
    reference = [d.id for d in _read(WARC)[0]]
    assert [d.id for d in docs] == reference[:4] + reference[5:]
