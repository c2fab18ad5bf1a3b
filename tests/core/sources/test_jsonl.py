"""JSONL and Parquet sources: every record becomes a document or a rejected record with its reason."""

from __future__ import annotations

import gzip

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from curate.plugin import Reject
from curate.sources.jsonl import JsonlSource
from curate.sources.parquet import ParquetSource
from curate.testing import read_corpus, read_excluded, run_pipeline_dict


def _read(source, shard):
    items = list(source.read_shard(str(shard)))
    return [i for i in items if not isinstance(i, Reject)], [i for i in items if isinstance(i, Reject)]


def test_bad_lines_become_rejects_with_file_and_line(tmp_path, default_input):
    good = orjson.loads(zstandard.ZstdDecompressor().stream_reader(
        (default_input / "spf13__pflag.jsonl.zst").read_bytes()).read().splitlines()[0])
    shard = tmp_path / "mixed.jsonl"
    shard.write_bytes(b"\n".join([
        orjson.dumps(good),
        b'{"id": "broken", "text": "unterminated',
        b'{"id": "latin1", "text": "caf\xe9"}',
        b'{"id": "no-text", "content": "x"}',
        b'["not", "an", "object"]',
        b'{"id": "num", "text": 42}',
        b"",
        orjson.dumps({"id": "empty", "text": ""}),
    ]) + b"\n")
    docs, rejects = _read(JsonlSource({"paths": [str(shard)]}), shard)
    assert [d.id for d in docs] == [good["id"], "empty"]
    assert docs[0].metadata["path"] == good["path"] and docs[0].metadata["source.line"] == 1
    assert docs[0].metadata["source.shard"] == str(shard)
    assert [(r.reason, r.location) for r in rejects] == [
        ("malformed_json", f"{shard}:2"), ("invalid_utf8", f"{shard}:3"), ("missing_field:text", f"{shard}:4"),
        ("not_an_object", f"{shard}:5"), ("bad_field_type:text", f"{shard}:6")]


def test_truncated_zstd_is_rejected_not_lost(tmp_path):
    # large enough to span several zstd blocks (128 KiB each), so the first ones decode
    lines = b"".join(orjson.dumps({"id": str(i), "text": f"line {i} {i * 7919 % 1000003} " * 20}) + b"\n"
                     for i in range(4000))
    blob = zstandard.ZstdCompressor().compress(lines)
    shard = tmp_path / "cut.jsonl.zst"
    shard.write_bytes(blob[: len(blob) // 2])
    docs, rejects = _read(JsonlSource({"paths": [str(shard)]}), shard)
    assert 0 < len(docs) < 4000
    assert len(rejects) == 1 and rejects[0].reason == "truncated_or_corrupt_file"
    assert rejects[0].location == f"{shard}:{len(docs) + 1}"


def test_gzip_and_empty_file(tmp_path):
    gz = tmp_path / "a.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"id": "g", "text": "print(1)\\n"}\n'))
    empty = tmp_path / "b.jsonl"
    empty.write_bytes(b"")
    source = JsonlSource({"paths": [str(tmp_path / "*.jsonl*")]})
    assert source.list_shards() == [str(gz), str(empty)]
    assert [d.id for d in _read(source, gz)[0]] == ["g"]
    assert _read(source, empty) == ([], [])


def test_field_mapping_for_the_stack_parquet(tmp_path):
    table = pa.table({"content": ["def f():\n    return 1\n", None], "path": ["src/f.py", "src/g.py"],
                      "repo_name": ["org/repo", "org/repo"], "max_stars_count": [12, 3]})
    shard = tmp_path / "stack.parquet"
    pq.write_table(table, shard)
    source = ParquetSource({"paths": [str(shard)], "text_field": "content", "id_field": None,
                            "fields": {"path": "path", "repo": "repo_name", "stars": "max_stars_count"}})
    docs, rejects = _read(source, shard)
    assert docs[0].metadata["repo"] == "org/repo" and docs[0].metadata["stars"] == 12
    assert docs[0].metadata["path"] == "src/f.py" and docs[0].id == f"{shard}:1"
    assert [(r.reason, r.location) for r in rejects] == [("missing_field:content", f"{shard}:2")]


def test_unreadable_parquet_is_one_reject(tmp_path):
    shard = tmp_path / "junk.parquet"
    shard.write_bytes(b"PAR1 not really parquet")
    docs, rejects = _read(ParquetSource({"paths": [str(shard)]}), shard)
    assert docs == [] and rejects[0].reason == "unreadable_file"


def test_every_bad_record_reaches_excluded_and_run_continues(tmp_path):
    shard = tmp_path / "in.jsonl"
    shard.write_bytes(b'{"id": "ok", "text": "int main() { return 0; }\\n", "path": "m.c"}\n{oops\n'
                      b'{"id": "bad", "text": "\xff\xfe"}\n')
    pipeline = {"name": "t", "inputs": [{"source": "jsonl", "with": {"paths": [str(shard)]}}],
                "output": {"dir": str(tmp_path / "out")}, "steps": [{"uses": "language_from_extension"}]}
    result = run_pipeline_dict(pipeline)
    assert [r["id"] for r in read_corpus(tmp_path / "out")] == ["ok"]
    excluded = {r["metadata"]["reject.location"]: r["metadata"]["drop.reason"] for r in read_excluded(tmp_path / "out")}
    assert excluded == {f"{shard}:2": "malformed_json", f"{shard}:3": "invalid_utf8"}
    assert {k: v[0] for k, v in result.summary["steps"][0]["drops"].items()} == {"malformed_json": 1,
                                                                                 "invalid_utf8": 1}
