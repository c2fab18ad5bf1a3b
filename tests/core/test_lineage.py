"""Pipeline lineage across runs (issue 13, scenarios 1-3): a changed index, added steps and another pipeline on
the same corpus are refused with the difference by YAML path and a way forward, never silently accepted."""

from __future__ import annotations

import shutil

import orjson
import pytest
from integrity_scenarios import near_copies

from curate import IndexStore
from curate.run import PipelineRefused
from curate.testing import read_corpus, read_excluded, run_cli, run_pipeline_dict

ITSDANGEROUS = "pallets__itsdangerous.jsonl.zst"


def _pipeline(name: str, paths: list[str], out, steps: list[dict]) -> dict:
    return {"name": name, "inputs": [{"source": "jsonl", "with": {"paths": paths}}], "output": {"dir": str(out)},
            "steps": steps}


def _near_dups(out, run_id=None) -> set[str]:
    return {r["id"] for r in read_excluded(out, run_id) if r["metadata"]["drop.reason"] == "near_duplicate"}


# ---- scenario 1: a changed MinHash threshold ---------------------------------------------------------------
@pytest.fixture(scope="module")
def near_copy_shards(default_input, tmp_path_factory):
    """The 50 files of pallets/itsdangerous, and the same 50 with one comment line appended (new ids)."""
    folder = tmp_path_factory.mktemp("near")
    shutil.copy(default_input / ITSDANGEROUS, folder / "a-original.jsonl.zst")
    near_copies(default_input / ITSDANGEROUS, folder / "b-copies.jsonl.zst")
    return folder


def _minhash(folder, out, threshold: float, shards=("a-original",)) -> dict:
    return _pipeline("near", [str(folder / f"{s}.jsonl.zst") for s in shards], out,
                     [{"uses": "minhash_dedup", "with": {"threshold": threshold}}])


def test_changed_minhash_threshold_is_refused_then_rebuilt_from_the_corpus(near_copy_shards, tmp_path):
    both = ("a-original", "b-copies")
    out = tmp_path / "out"
    run_pipeline_dict(_minhash(near_copy_shards, out, 0.7))
    with pytest.raises(PipelineRefused) as refused:
        run_pipeline_dict(_minhash(near_copy_shards, out, 0.8, both))
    message = str(refused.value)
    assert "steps[0] (minhash_dedup): index settings changed" in message
    assert "threshold: 0.7 -> 0.8" in message and "steps[0].with.threshold: 0.7 -> 0.8" in message
    assert "bands: 37 -> 26" in message  # the band layout the threshold derives
    assert "curate run PIPELINE --rebuild-index minhash_dedup" in message
    assert not (out / "runs" / "run-0002").exists()  # nothing ran

    result = run_pipeline_dict(_minhash(near_copy_shards, out, 0.8, both), rebuild_index=("minhash_dedup",))
    assert [s["kind"] for s in result.earlier] == ["rebuild"] and result.run_id == "run-0003"
    assert not (out / "data" / "run-0002").exists()  # a rebuild publishes no output
    # the copies were checked against the old corpus: exactly what one run over both shards at 0.8 drops
    reference = tmp_path / "reference"
    run_pipeline_dict(_minhash(near_copy_shards, reference, 0.8, both))
    assert _near_dups(out, "run-0003") == _near_dups(reference) and len(_near_dups(reference)) >= 45
    assert [r["id"] for r in read_corpus(out)] == [r["id"] for r in read_corpus(reference)]


def test_changed_threshold_is_refused_on_the_command_line_with_exit_code_3(near_copy_shards, tmp_path):
    out = tmp_path / "out"
    run_pipeline_dict(_minhash(near_copy_shards, out, 0.7))
    path = tmp_path / "p.yaml"
    path.write_text(orjson.dumps(_minhash(near_copy_shards, out, 0.7, ("a-original", "b-copies"))).decode())
    proc = run_cli("run", path, "--set", "steps[0].with.threshold=0.8", check=False)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    assert "--rebuild-index minhash_dedup" in proc.stderr


# ---- scenario 2: steps added or changed between runs --------------------------------------------------------
def _gh(folder, out, extra=()) -> dict:
    return _pipeline("gh", [str(folder / "*.jsonl.zst")], out,
                     [{"uses": "language_from_extension"}, {"uses": "exact_dedup"}, *extra])


def _longest_line(record: dict) -> int:
    return max((len(line) for line in record["text"].splitlines()), default=0)


@pytest.fixture
def grown_input(default_input, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(default_input / "spf13__pflag.jsonl.zst", folder)
    return folder


def test_added_step_is_refused_with_its_yaml_path(default_input, grown_input, tmp_path):
    out = tmp_path / "out"
    run_pipeline_dict(_gh(grown_input, out))
    shutil.copy(default_input / "dtolnay__anyhow.jsonl.zst", grown_input)
    strict = {"uses": "code_heuristics", "with": {"max_line_length": 80}}
    with pytest.raises(PipelineRefused) as refused:
        run_pipeline_dict(_gh(grown_input, out, [strict]))
    assert "steps[2]: step 'code_heuristics' (code_heuristics) added" in str(refused.value)
    assert "--backfill" in str(refused.value) and "--accept-changes" in str(refused.value)
    relaxed = [{"uses": "language_from_extension"}, {"uses": "exact_dedup", "with": {"keep": "stars"}}]
    with pytest.raises(PipelineRefused, match=r'steps\[1\]\.with\.keep: "first" -> "stars"'):
        run_pipeline_dict(_pipeline("gh", [str(grown_input / "*.jsonl.zst")], out, relaxed))


def test_backfill_applies_the_new_step_to_the_existing_output(default_input, grown_input, tmp_path):
    out = tmp_path / "out"
    run_pipeline_dict(_gh(grown_input, out))
    long_before = [r["id"] for r in read_corpus(out) if _longest_line(r) > 80]
    assert long_before
    shutil.copy(default_input / "dtolnay__anyhow.jsonl.zst", grown_input)
    strict = {"uses": "code_heuristics", "with": {"max_line_length": 80}}
    result = run_pipeline_dict(_gh(grown_input, out, [strict]), backfill=True)
    assert [s["kind"] for s in result.earlier] == ["backfill"] and result.run_id == "run-0003"
    assert all(_longest_line(r) <= 80 for r in read_corpus(out))  # old output filtered too
    backfill_drops = {r["id"]: r["metadata"]["drop.reason"] for r in read_excluded(out, "run-0002")}
    assert set(long_before) <= set(backfill_drops) and "long_line" in backfill_drops.values()
    assert not (out / "data" / "run-0001").exists()  # replaced by the backfill's output, kept for rollback
    assert (out / "runs" / "run-0002" / "superseded" / "run-0001").is_dir()
    lineage = orjson.loads((out / "runs" / "run-0003" / "lineage.json").read_bytes())
    assert [s["id"] for s in lineage["steps"]] == ["language_from_extension", "exact_dedup", "code_heuristics"]
    # the corpus now holds the new pipeline: a further run is an ordinary incremental one
    shutil.copy(default_input / "tj__commander.js.jsonl.zst", grown_input)
    assert run_pipeline_dict(_gh(grown_input, out, [strict])).run_id == "run-0004"


def test_accepted_changes_leave_old_output_and_record_the_choice(default_input, grown_input, tmp_path):
    out = tmp_path / "out"
    run_pipeline_dict(_gh(grown_input, out))
    shutil.copy(default_input / "dtolnay__anyhow.jsonl.zst", grown_input)
    strict = {"uses": "code_heuristics", "with": {"max_line_length": 80}}
    result = run_pipeline_dict(_gh(grown_input, out, [strict]), accept_changes=True)
    assert result.run_id == "run-0002" and result.summary["notes"] == [
        "steps[2]: step 'code_heuristics' (code_heuristics) added"]
    assert any(_longest_line(r) > 80 for r in read_corpus(out, "run-0001"))
    assert all(_longest_line(r) <= 80 for r in read_corpus(out, "run-0002"))
    runs = orjson.loads(run_cli("runs", out, "--json").stdout)["runs"]
    assert runs[0]["fingerprint"] != runs[1]["fingerprint"]


# ---- scenario 3: another pipeline, and the same content under new paths -------------------------------------
def test_other_pipeline_on_the_same_corpus_is_refused_and_copies_are_skipped(default_input, tmp_path):
    out = tmp_path / "out"
    first = tmp_path / "first.yaml"
    first.write_text(orjson.dumps(_pipeline("gh", [str(default_input / "*.jsonl.zst")], out,
                                            [{"uses": "language_from_extension"}])).decode())
    run_cli("run", first)
    copy = tmp_path / "copy"
    shutil.copytree(default_input, copy)
    other = tmp_path / "other.yaml"
    other.write_text(orjson.dumps(_pipeline("other", [str(copy / "*.jsonl.zst")], out,
                                            [{"uses": "code_heuristics"}])).decode())
    proc = run_cli("run", other, check=False)
    assert proc.returncode == 3
    assert "was built by pipeline 'gh'" in proc.stderr and "--allow-other-pipeline" in proc.stderr
    forced = run_cli("run", other, "--allow-other-pipeline")
    assert forced.stderr.count("same content (SHA-256) as") == 7 and "nothing to do" in forced.stderr
    records = read_corpus(out)
    assert len(records) == 727 and len({r["id"] for r in records}) == 727  # no shard read twice


def test_same_content_under_a_new_path_is_skipped_and_counted(default_input, grown_input, tmp_path):
    out = tmp_path / "out"
    run_pipeline_dict(_gh(grown_input, out))
    shutil.copy(grown_input / "spf13__pflag.jsonl.zst", grown_input / "zz-renamed-pflag.jsonl.zst")
    shutil.copy(default_input / "dtolnay__anyhow.jsonl.zst", grown_input)
    result = run_pipeline_dict(_gh(grown_input, out))
    assert result.summary["shards"] == 1 and result.summary["docs_in"] == 54  # anyhow only
    skipped = result.summary["skipped_shards"]
    assert [(s["shard"].rsplit("/", 1)[1], s["reason"]) for s in skipped] == [
        ("zz-renamed-pflag.jsonl.zst", "content_already_consumed")]
    assert skipped[0]["same_as"].endswith("spf13__pflag.jsonl.zst")
    assert run_pipeline_dict(_gh(grown_input, out)).status == "nothing-to-do"  # the copy is remembered


def test_changed_exact_dedup_level_is_refused_then_rebuilt(default_input, grown_input, tmp_path):
    out = tmp_path / "out"
    run_pipeline_dict(_gh(grown_input, out))
    shutil.copy(default_input / "dtolnay__anyhow.jsonl.zst", grown_input)
    by_repo = _pipeline("gh", [str(grown_input / "*.jsonl.zst")], out,
                        [{"uses": "language_from_extension"}, {"uses": "exact_dedup", "with": {"level": "repo"}}])
    with pytest.raises(PipelineRefused, match=r'(?s)steps\[1\] \(exact_dedup\): index settings changed \(level: '
                                              r'file -> repo\); from steps\[1\]\.with\.level: "file" -> "repo"'):
        run_pipeline_dict(by_repo)
    result = run_pipeline_dict(by_repo, rebuild_index=("exact_dedup",))
    assert [s["kind"] for s in result.earlier] == ["rebuild"] and result.summary["docs_in"] == 54
    assert IndexStore(str(out / "state" / "index" / "exact_dedup")).current().settings["level"] == "repo"


def test_backfill_of_a_changed_dedup_step_does_not_find_the_corpus_in_its_own_index(default_input, grown_input,
                                                                                    tmp_path):
    out = tmp_path / "out"
    run_pipeline_dict(_gh(grown_input, out))
    kept = sorted(r["id"] for r in read_corpus(out))
    stars = _pipeline("gh", [str(grown_input / "*.jsonl.zst")], out,
                      [{"uses": "language_from_extension"}, {"uses": "exact_dedup", "with": {"keep": "stars"}}])
    result = run_pipeline_dict(stars, backfill=True)
    assert [s["kind"] for s in result.earlier] == ["backfill"] and result.status == "nothing-to-do"
    assert sorted(r["id"] for r in read_corpus(out)) == kept  # rebuilt from scratch, not 'duplicates of itself'
    assert read_excluded(out, "run-0002") == []
