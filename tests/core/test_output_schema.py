"""The corpus is a dataset any client reads whole: a mixed corpus (two sources, steps that add metadata, two runs,
rejected input records, drops) read with datasets, pyarrow.dataset, polars and duckdb, in Parquet and JSON Lines."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
import zstandard

from curate.testing import read_corpus, read_excluded, run_pipeline_dict

FIRST = ["spf13__pflag", "dtolnay__anyhow"]
SECOND = ["pallets__itsdangerous"]


def _odd_shard(path: Path, default_input: Path) -> None:
    """A JSONL shard with rejects (bad JSON, missing text), a duplicate, fields nobody declares, a mistyped one."""
    first = next(iter(zstandard.ZstdDecompressor().stream_reader(
        (default_input / "spf13__pflag.jsonl.zst").read_bytes()).read().splitlines()))
    dup = orjson.loads(first)
    lines = [orjson.dumps({**dup, "id": "dup-of-pflag", "stars": "many", "origin": {"crawl": 7}}),
             b'{"id": "broken", "text": "unterminated',
             orjson.dumps({"id": "no-text", "content": "x"}),
             orjson.dumps({"id": "ok.py", "text": "print('hello')\n", "path": "ok.py", "repo": "me/odd", "stars": 3})]
    path.write_bytes(b"\n".join(lines) + b"\n")


def _pipeline(inputs: Path, repos: Path, out: Path, fmt: str) -> dict:
    return {"name": "mixed",
            "inputs": [{"source": "jsonl", "with": {"paths": [str(inputs / "*.jsonl*")]}},
                       {"source": "git_repos", "with": {"paths": [str(repos / "*.bundle")]}}],
            "output": {"dir": str(out), "format": fmt, "max_file_mb": 0.1},
            "steps": [{"uses": "language_from_extension"}, {"uses": "exact_dedup"},
                      {"uses": "code_heuristics"}, {"uses": "treesitter_syntax", "with": {"structure": True}}]}


@pytest.fixture(scope="module", params=["parquet", "jsonl.zst"])
def mixed_corpus(request, tmp_path_factory, default_input, bundles):
    """Two runs of one pipeline over JSONL shards and git repositories; returns (corpus dir, format)."""
    fmt = request.param
    root = tmp_path_factory.mktemp(f"mixed-{fmt.replace('.', '-')}")
    inputs, repos, out = root / "in", root / "repos", root / "corpus"
    inputs.mkdir()
    repos.mkdir()
    for name in FIRST:
        shutil.copy(default_input / f"{name}.jsonl.zst", inputs)
    shutil.copy(bundles["jarro2783__cxxopts"], repos)
    run_pipeline_dict(_pipeline(inputs, repos, out, fmt))
    _odd_shard(inputs / "odd.jsonl", default_input)
    for name in SECOND:
        shutil.copy(default_input / f"{name}.jsonl.zst", inputs)
    shutil.copy(bundles["spf13__pflag"], repos)  # its files are also in the JSONL input: duplicates
    run_pipeline_dict(_pipeline(inputs, repos, out, fmt))
    return out, fmt


def _expected_reasons(corpus: Path) -> Counter:
    return Counter(r["metadata"]["drop.reason"] for r in read_excluded(corpus))


def _ext(fmt: str) -> str:
    return "parquet" if fmt == "parquet" else "jsonl.zst"


def test_the_mixed_corpus_has_what_the_test_needs(mixed_corpus):
    corpus, _ = mixed_corpus
    kept, reasons = read_corpus(corpus), _expected_reasons(corpus)
    assert sorted(p.name for p in (corpus / "data").iterdir()) == ["run-0001", "run-0002"]
    assert {r["metadata"]["source.name"] for r in kept} == {"jsonl", "git_repos"}
    assert {"exact_duplicate", "malformed_json", "missing_field:text"} <= set(reasons)
    assert any(r.startswith("syntax_error:") for r in reasons) or "empty" in reasons
    parts = [p for area in ("data", "excluded") for p in (corpus / area).rglob("*") if p.is_file()]
    assert len(parts) > 4 and all(p.stat().st_size > 0 for p in parts)  # no empty part files
    # every file of a kind has the same columns, whatever its run, source and content
    schema = json.loads((corpus / "schema.json").read_text())
    assert list(schema["data"]) == ["id", "text", "source", "repo", "path", "lang", "license", "stars", "forks",
                                    "dedup", "syntax", "extra"]
    assert list(schema["excluded"])[-3:] == ["drop", "reject", "extra"]


def test_undeclared_and_mistyped_values_land_in_extra(mixed_corpus):
    corpus, _ = mixed_corpus
    dup = next(r for r in read_excluded(corpus) if r["id"] == "dup-of-pflag")
    assert dup["metadata"]["drop.reason"] == "exact_duplicate"
    assert dup["metadata"]["origin"] == {"crawl": 7} and dup["metadata"]["stars"] == "many"
    ok = next(r for r in read_corpus(corpus) if r["id"] == "ok.py")
    assert ok["metadata"]["stars"] == 3 and ok["metadata"]["source.line"] == 4


def test_datasets_reads_data_and_excluded_through_the_dataset_card(mixed_corpus, tmp_path):
    datasets = pytest.importorskip("datasets")
    corpus, _ = mixed_corpus
    data = datasets.load_dataset(str(corpus), split="train", cache_dir=str(tmp_path))
    excluded = datasets.load_dataset(str(corpus), "excluded", split="train", cache_dir=str(tmp_path))
    assert data.num_rows == len(read_corpus(corpus))
    assert data.features["syntax"]["error_count"].dtype == "int64"
    assert Counter(row["reason"] for row in excluded["drop"]) == _expected_reasons(corpus)


def test_datasets_reads_parquet_without_the_card(mixed_corpus, tmp_path):
    datasets = pytest.importorskip("datasets")
    corpus, fmt = mixed_corpus
    if fmt != "parquet":
        pytest.skip("JSON Lines carry no types: datasets takes them from the card (previous test)")
    files = {"train": str(corpus / "data/*/*.parquet"), "excluded": str(corpus / "excluded/*/*.parquet")}
    data = datasets.load_dataset("parquet", data_files={"train": files["train"]}, split="train",
                                 cache_dir=str(tmp_path))
    excluded = datasets.load_dataset("parquet", data_files={"train": files["excluded"]}, split="train",
                                     cache_dir=str(tmp_path))
    assert data.num_rows == len(read_corpus(corpus))
    assert Counter(d["reason"] for d in excluded["drop"]) == _expected_reasons(corpus)


def test_pyarrow_dataset_reads_the_whole_corpus(mixed_corpus):
    import pyarrow.compute as pc
    import pyarrow.dataset as pds

    corpus, fmt = mixed_corpus
    if fmt != "parquet":
        pytest.skip("pyarrow.dataset reads the Parquet output")
    data = pds.dataset(corpus / "data", format="parquet").to_table()
    assert data.num_rows == len(read_corpus(corpus))
    assert str(data.schema.field("syntax").type.field("error_bytes_ratio").type) == "double"
    excluded = pds.dataset(corpus / "excluded", format="parquet").to_table()
    reasons = pc.value_counts(pc.struct_field(excluded["drop"], "reason")).to_pylist()
    assert Counter({r["values"]: r["counts"] for r in reasons}) == _expected_reasons(corpus)
    row_groups = [pq.ParquetFile(p).metadata.num_row_groups for p in (corpus / "data").rglob("*.parquet")]
    assert min(row_groups) >= 1


def test_polars_reads_the_whole_corpus(mixed_corpus):
    pl = pytest.importorskip("polars")
    corpus, fmt = mixed_corpus
    if fmt != "parquet":
        pytest.skip("polars infers JSON types from the first rows; it reads the Parquet output")
    data = pl.scan_parquet(corpus / "data/*/*.parquet")
    assert data.select(pl.len()).collect().item() == len(read_corpus(corpus))
    by_source = dict(data.group_by(pl.col("source").struct.field("name")).len().collect().iter_rows())
    assert set(by_source) == {"jsonl", "git_repos"}
    reasons = pl.scan_parquet(corpus / "excluded/*/*.parquet").group_by(pl.col("drop").struct.field("reason")).len()
    assert Counter(dict(reasons.collect().iter_rows())) == _expected_reasons(corpus)


def test_duckdb_reads_the_whole_corpus(mixed_corpus):
    duckdb = pytest.importorskip("duckdb")
    corpus, fmt = mixed_corpus
    read = "read_parquet" if fmt == "parquet" else "read_json"
    data, excluded = f"{read}('{corpus}/data/*/*.{_ext(fmt)}')", f"{read}('{corpus}/excluded/*/*.{_ext(fmt)}')"
    assert duckdb.sql(f"SELECT count(*) FROM {data}").fetchall()[0][0] == len(read_corpus(corpus))
    broken = duckdb.sql(f"SELECT count(*) FROM {data} WHERE syntax.has_error").fetchall()[0][0]
    assert broken == sum(1 for r in read_corpus(corpus) if r["metadata"].get("syntax.has_error"))
    reasons = duckdb.sql(f"SELECT drop.reason, count(*) FROM {excluded} GROUP BY 1").fetchall()
    assert Counter(dict(reasons)) == _expected_reasons(corpus)
    rejected = duckdb.sql(f"SELECT reject.location FROM {excluded} WHERE drop.reason = 'malformed_json'").fetchall()
    assert rejected[0][0].endswith("odd.jsonl:2")


def test_a_run_whose_schema_differs_from_the_corpus_is_refused(mixed_corpus, tmp_path, default_input):
    from curate.run import RunError

    corpus, fmt = mixed_corpus
    inputs = tmp_path / "more"
    inputs.mkdir()
    shutil.copy(default_input / "square__javapoet.jsonl.zst", inputs)
    pipeline = {"name": "mixed", "inputs": [{"source": "jsonl", "with": {"paths": [str(inputs / "*.jsonl.zst")]}}],
                "output": {"dir": str(corpus), "format": fmt}, "steps": [{"uses": "fim"}]}
    with pytest.raises(RunError, match="(?s)the pipeline differs.*step 'fim' \\(fim\\) added"):
        run_pipeline_dict(pipeline)  # the corpus's lineage refuses it first
    # accepted as a change of pipeline, the new columns are still refused: readers need one schema per corpus
    with pytest.raises(RunError, match="different output schema.*column fim added"):
        run_pipeline_dict(pipeline, accept_changes=True)


def test_the_script_in_docs_schema_reads_a_parquet_corpus(mixed_corpus, repo_root, tmp_path):
    import os
    import re
    import subprocess
    import sys

    corpus, fmt = mixed_corpus
    if fmt != "parquet":
        pytest.skip("the documented script reads the demo corpus, which is Parquet")
    script = re.search(r"```python\n(.*?)```", (repo_root / "docs/schema.md").read_text(), re.S).group(1)
    assert 'corpus = "out/github-files"' in script
    script = script.replace('corpus = "out/github-files"', f"corpus = {str(corpus)!r}")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HOME": str(tmp_path / "hf")})
    assert proc.returncode == 0, proc.stderr
    assert f"{len(read_corpus(corpus))} kept; {len(read_excluded(corpus))} dropped" in proc.stdout
    assert "exact_duplicate" in proc.stdout


def test_short_excluded_records_keep_the_schema_ids_and_reasons(tmp_path, default_input):
    pipeline = {"name": "short", "inputs": [{"source": "jsonl",
                                             "with": {"paths": [str(default_input / "spf13__pflag.jsonl.zst")]}}],
                "output": {"dir": str(tmp_path / "out"), "format": "parquet", "keep_excluded": False},
                "steps": [{"uses": "code_heuristics", "with": {"max_line_length": 60}}]}
    run_pipeline_dict(pipeline)
    excluded = read_excluded(tmp_path / "out")
    assert excluded and all(r["text"] == "" and r["metadata"]["drop.step"] == "code_heuristics" for r in excluded)
    assert "long_line" in {r["metadata"]["drop.reason"] for r in excluded}
    assert all(r["metadata"]["path"] and r["metadata"]["source.name"] == "jsonl" for r in excluded)
    files = list((tmp_path / "out/excluded").rglob("*.parquet"))
    columns = list(json.loads((tmp_path / "out/schema.json").read_text())["excluded"])
    assert pq.read_schema(files[0]).names == columns


def test_validate_refuses_a_key_declared_with_two_types_or_over_a_column(default_input):
    from curate.config import validate_pipeline

    def errors_of(score_key):
        raw = {"name": "p", "inputs": [{"source": "jsonl", "with": {"paths": [str(default_input / "*.jsonl.zst")]}}],
               "output": {"dir": "out"}, "steps": [{"uses": "treesitter_syntax"},
                                                  {"uses": "fasttext_classifier",
                                                   "with": {"model": "m.bin", "score_key": score_key}}]}
        return validate_pipeline(raw, run_checks=False)[1]

    assert errors_of("web.code_score") == []
    assert errors_of("syntax.grammar") == ["metadata key syntax.grammar: steps[1] (fasttext_classifier) declares "
                                           "float but steps[0] (treesitter_syntax) declares str; one key has one type "
                                           "per corpus"]
    assert errors_of("source") == ["metadata key source (steps[1] (fasttext_classifier)): 'source' is a namespace "
                                   "(of curate); a top-level key cannot have its name"]
