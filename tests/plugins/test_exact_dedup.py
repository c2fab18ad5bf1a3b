"""exact_dedup: deterministic keeper, repository level, and incremental runs equal to one run."""

from __future__ import annotations

import shutil

import orjson
import zstandard

from curate.testing import read_corpus, read_excluded, run_pipeline_dict


def _shard(path, records):
    path.write_bytes(zstandard.ZstdCompressor().compress(b"".join(orjson.dumps(r) + b"\n" for r in records)))


def _load(path):
    raw = zstandard.ZstdDecompressor().stream_reader(path.read_bytes()).read()
    return [orjson.loads(line) for line in raw.splitlines()]


def _pipeline(paths, out, **with_):
    return {"name": "dedup", "inputs": [{"source": "jsonl", "with": {"paths": paths}}], "output": {"dir": str(out)},
            "steps": [{"uses": "exact_dedup", "with": with_}]}


def _with_copies(default_input, tmp_path):
    """Real shards, plus a shard that copies files from two of them under other ids."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("spf13__pflag", "pallets__itsdangerous", "dtolnay__anyhow"):
        shutil.copy(default_input / f"{name}.jsonl.zst", folder / f"{name}.jsonl.zst")
    pflag, itsd = _load(folder / "spf13__pflag.jsonl.zst"), _load(folder / "pallets__itsdangerous.jsonl.zst")
    copies = [{**pflag[5], "id": "fork/pflag:flag.go", "repo": "fork/pflag", "stars": 5000},
              {**itsd[10], "id": "fork/itsd:x.py", "repo": "fork/itsd"}]
    _shard(folder / "zz_copies.jsonl.zst", copies)
    return folder, pflag[5], itsd[10]


def test_copies_are_dropped_and_first_in_input_order_is_kept(default_input, tmp_path):
    folder, pflag_doc, itsd_doc = _with_copies(default_input, tmp_path)
    run_pipeline_dict(_pipeline([str(folder / "*.jsonl.zst")], tmp_path / "out"), workers=2)
    kept = {r["id"] for r in read_corpus(tmp_path / "out")}
    assert pflag_doc["id"] in kept and itsd_doc["id"] in kept
    assert "fork/pflag:flag.go" not in kept and "fork/itsd:x.py" not in kept
    dropped = {r["id"]: r["metadata"] for r in read_excluded(tmp_path / "out")}
    assert dropped["fork/pflag:flag.go"]["drop.reason"] == "exact_duplicate"
    assert dropped["fork/pflag:flag.go"]["dedup.kept_id"] == pflag_doc["id"]
    assert dropped["fork/pflag:flag.go"]["drop.step"] == "exact_dedup"


def test_keep_by_stars(default_input, tmp_path):
    folder, pflag_doc, _ = _with_copies(default_input, tmp_path)
    run_pipeline_dict(_pipeline([str(folder / "*.jsonl.zst")], tmp_path / "out", keep="stars"))
    kept = {r["id"] for r in read_corpus(tmp_path / "out")}
    assert "fork/pflag:flag.go" in kept and pflag_doc["id"] not in kept


def test_incremental_a_then_b_equals_a_plus_b(default_input, tmp_path):
    folder, _, _ = _with_copies(default_input, tmp_path)
    all_shards = sorted(folder.glob("*.jsonl.zst"))
    one_run = tmp_path / "one"
    run_pipeline_dict(_pipeline([str(folder / "*.jsonl.zst")], one_run))
    batch_a = tmp_path / "batch"
    batch_a.mkdir()
    for shard in all_shards[:2]:
        shutil.copy(shard, batch_a / shard.name)
    two_runs = tmp_path / "two"
    pipeline = _pipeline([str(batch_a / "*.jsonl.zst")], two_runs)
    first = run_pipeline_dict(pipeline)
    for shard in all_shards[2:]:
        shutil.copy(shard, batch_a / shard.name)
    second = run_pipeline_dict(pipeline)
    assert (first.run_id, second.run_id) == ("run-0001", "run-0002")
    assert second.summary["docs_in"] == sum(len(_load(s)) for s in all_shards[2:])  # only new shards read
    assert sorted(r["id"] for r in read_corpus(two_runs)) == sorted(r["id"] for r in read_corpus(one_run))
    assert run_pipeline_dict(pipeline).status == "nothing-to-do"


def test_repository_level_drops_whole_copied_repository(default_input, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    anyhow = _load(default_input / "dtolnay__anyhow.jsonl.zst")
    _shard(folder / "a.jsonl.zst", anyhow)
    _shard(folder / "b.jsonl.zst", [{**r, "id": "mirror/" + r["id"], "repo": "mirror/anyhow"} for r in anyhow])
    _shard(folder / "c.jsonl.zst", [{**r, "id": "partial/" + r["id"], "repo": "partial/anyhow"} for r in anyhow[:-1]])
    run_pipeline_dict(_pipeline([str(folder / "*.jsonl.zst")], tmp_path / "out", level="repo"))
    kept_repos = {r["metadata"]["repo"] for r in read_corpus(tmp_path / "out")}
    assert kept_repos == {"dtolnay/anyhow", "partial/anyhow"}
    reasons = {r["metadata"]["drop.reason"] for r in read_excluded(tmp_path / "out")}
    assert reasons == {"exact_duplicate_repo"}
    assert len(read_excluded(tmp_path / "out")) == len(anyhow)
