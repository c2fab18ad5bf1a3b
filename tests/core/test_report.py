"""`curate report`: the HTML page, the dataset card and the per-run profiles, on a real two-run corpus whose
files carry a quality score (the proxy rubric's rating of each real file) and lose their bottom 10%."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import orjson
import pytest
import zstandard
from click.testing import CliRunner
from huggingface_hub import DatasetCard

from curate.card import MARKER, hub_licenses, size_category, write_card
from curate.cli import main
from curate.profile import length_bin, merge_profiles, profile_run, run_profile
from curate.report import ReportError, corpus_facts, open_corpus
from curate.report_html import render_html
from curate.state import CorpusDir
from curate.testing import read_corpus, read_excluded, run_cli, run_pipeline_dict

REPOS = ["pallets__itsdangerous", "spf13__pflag", "dtolnay__anyhow"]


def scored_shard(source, target):
    """The real files of one repository, each with `quality.score` = the proxy rubric's rating."""
    from curate_plugins._quality.proxy import proxy_rating

    rows = [json.loads(line) for line in zstandard.ZstdDecompressor().stream_reader(source.open("rb")).read()
            .splitlines()]
    target.write_text("".join(json.dumps({**r, "quality.score": proxy_rating(r["text"], r["path"])}) + "\n"
                              for r in rows))


@pytest.fixture(scope="module")
def corpus(default_input, tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    inputs = root / "inputs"
    inputs.mkdir()
    for name in REPOS:
        scored_shard(default_input / f"{name}.jsonl.zst", inputs / f"{name}.jsonl")
    out = root / "corpus"

    def run(names):
        spec = {"name": "scored-files", "output": {"dir": str(out)},
                "inputs": [{"source": "jsonl", "with": {"paths": [str(inputs / f"{n}.jsonl") for n in names]}}],
                "steps": [{"uses": "language_from_extension"}, {"uses": "exact_dedup"}, {"uses": "code_heuristics"},
                          {"uses": "drop_bottom_fraction", "with": {"fraction": 0.1, "min_group_size": 5}}]}
        return run_pipeline_dict(spec, workers=2)

    assert run(REPOS[:2]).status == "completed"
    assert run(REPOS).status == "completed"  # the second run reads the third repository only
    return out


def test_profile_counts_what_is_on_disk(corpus):
    kept, dropped = read_corpus(corpus), read_excluded(corpus)
    facts = corpus_facts(str(corpus))
    data, excluded = facts["profile"]["data"], facts["profile"]["excluded"]
    assert data["docs"] == len(kept) and excluded["docs"] == len(dropped)
    assert {k: v[0] for k, v in data["languages"].items()} == Counter(r["metadata"]["lang"] for r in kept)
    assert {k: v[0] for k, v in data["licenses"].items()} == Counter(r["metadata"]["license"] for r in kept)
    assert sum(data["length"]) == len(kept) and data["length"][length_bin(len(kept[0]["text"].encode()))] > 0
    score = data["scores"]["quality.score"]
    assert score["count"] == len(kept) and score["min"] >= excluded["scores"]["quality.score"]["min"]
    reasons = Counter((r["metadata"]["drop.step"], r["metadata"]["drop.reason"]) for r in dropped)
    assert {tuple(k.split("\t")): v[0] for k, v in excluded["reasons"].items()} == reasons
    assert ("drop_bottom_fraction", "bottom_fraction") in {(s, r.split(":")[0]) for s, r in reasons}
    funnel = {row["step_id"]: row for row in facts["funnel"]}
    assert funnel["source"]["docs_in"] == len(kept) + len(dropped) and funnel["source"]["runs"] == 2


def test_profiles_are_cached_per_run_and_add_up(corpus):
    store = CorpusDir(str(corpus))
    cached = store.path("runs", "run-0002", "profile.json")
    assert orjson.loads(Path(cached).read_bytes()) == run_profile(store, "run-0002")
    fresh = [profile_run(store, r) for r in ("run-0001", "run-0002")]
    merged = merge_profiles(fresh)
    assert merged["data"]["docs"] == fresh[0]["data"]["docs"] + fresh[1]["data"]["docs"]
    assert set(fresh[0]["data"]["languages"]) | set(fresh[1]["data"]["languages"]) == set(merged["data"]["languages"])


def test_html_page_is_self_contained_and_shows_every_section(corpus, tmp_path):
    out = tmp_path / "report.html"
    proc = run_cli("report", corpus, "--no-yaml", "--html", out)
    page = out.read_text()
    assert f"HTML report: {out}" in proc.stderr
    for title in ("Funnel", "Drop reasons", "Languages", "Document length", "Quality scores", "Licences",
                  "Runs and pipelines"):
        assert f"<h2>{title}</h2>" in page
    assert page.count("<svg") == 6 and "<code>quality.score</code>" in page and "bottom_fraction" in page
    assert "<script" not in page and not re.search(r"""(src|href|url)\s*[=(]\s*["']?(https?:)?//""", page)
    assert f"<b>{len(read_corpus(corpus)):,}</b><span>documents kept</span>" in page
    assert "run-0001" in page and "run-0002" in page and "drop_bottom_fraction" in page  # runs, pipelines
    one = render_html(corpus_facts(str(corpus), "run-0001"))
    assert "run-0002" not in one and "run-0001" in one


def test_dataset_card_has_hub_metadata_and_loads_with_datasets(corpus):
    card = DatasetCard((corpus / "README.md").read_text())  # written by the runs themselves
    meta = card.data.to_dict()
    assert meta["license"] == ["apache-2.0", "bsd-3-clause", "mit"] and meta["size_categories"] == ["n<1K"]
    assert [c["config_name"] for c in meta["configs"]] == ["default", "excluded"]
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "data/*/*.jsonl.zst"}]
    assert MARKER in card.text and "| `drop_bottom_fraction` |" in card.text and "## Licences" in card.text
    datasets = pytest.importorskip("datasets")
    kept = datasets.load_dataset(str(corpus), split="train")
    assert kept.num_rows == len(read_corpus(corpus)) and {"id", "text", "source", "extra"} <= set(kept.column_names)
    assert [i["config_name"] for i in meta["dataset_info"]] == ["default", "excluded"]  # declared types


def test_hand_written_readme_is_kept_unless_asked(corpus, tmp_path):
    store = tmp_path / "copy"
    shutil.copytree(corpus, store)
    (store / "README.md").write_text("# my notes\n")
    assert write_card(str(store)) is None and (store / "README.md").read_text() == "# my notes\n"
    assert CliRunner().invoke(main, ["report", str(store), "--no-yaml", "--card"]).exit_code == 0
    assert MARKER in (store / "README.md").read_text()


def test_licence_and_size_mapping():
    assert hub_licenses({"MIT": [1, 1], "Apache-2.0 OR MIT": [1, 1], "(none)": [1, 1]}) == (
        ["apache-2.0", "mit", "unknown"], [])
    assert hub_licenses({"PSF-2.0": [1, 1]}) == (["other"], ["PSF-2.0"])
    assert [size_category(n) for n in (0, 999, 1000, 5_000_000)] == ["n<1K", "n<1K", "1K<n<10K", "1M<n<10M"]


def test_report_refuses_a_directory_that_is_not_a_corpus_or_an_unknown_run(corpus, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "is not a curate corpus" in result.output and result.exception is not None
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    result = runner.invoke(main, ["report", str(corpus), "--run", "run-0099"])
    assert result.exit_code == 2 and "has no run 'run-0099'. Its runs: run-0001, run-0002." in result.output
    with pytest.raises(ReportError):
        open_corpus(str(tmp_path))
    assert runner.invoke(main, ["report", str(corpus), "--run", "run-0002", "--no-yaml"]).exit_code == 0


def test_a_corrupt_shard_is_named_not_a_traceback(corpus, tmp_path):
    store = tmp_path / "copy"
    shutil.copytree(corpus, store)
    (store / "runs" / "run-0002" / "profile.json").unlink()
    shard = sorted((store / "data" / "run-0002").glob("*.jsonl.zst"))[0]
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])  # truncated
    result = CliRunner().invoke(main, ["report", str(store), "--no-yaml", "--html", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and f"{shard}: cannot be read" in result.output.replace("\n", "")
