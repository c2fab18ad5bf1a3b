"""`curate train fasttext` and the `fasttext_classifier` plugin, trained and evaluated on the real labelled pages
of tests/data/web (127 pages: a small set, so the figures are indicative only)."""

from __future__ import annotations

import importlib.util
import json
import pickle
import shutil
import subprocess

import orjson
import pytest

from curate.testing import apply_step, make_doc, read_corpus, read_excluded, run_cli
from curate_plugins.fasttext_classifier import FasttextClassifier
from curate_plugins.lib.fasttext.training import (
    LabelledDoc,
    metrics_at,
    normalise_for_fasttext,
    split_holdout,
    threshold_for_recall,
)

SMALL = ["--dim", "16", "--bucket", "20000"]  # small models keep the tests fast


@pytest.fixture(scope="module")
def labelled(repo_root, fixture_data, tmp_path_factory):
    """The 127 pages read by `warc`, extracted by `html_extract`, with their hand labels, as JSONL."""
    spec = importlib.util.spec_from_file_location("web_labelled", repo_root / "tools/data/web_labelled_jsonl.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.labelled_records(fixture_data / "web")
    path = tmp_path_factory.mktemp("web") / "labelled.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path, rows


@pytest.fixture(scope="module")
def trained(labelled, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    run_cli("train", "fasttext", "--input", labelled[0], "-o", out, *SMALL)
    return out


def test_normalisation_is_lowercase_one_line_tokens():
    assert normalise_for_fasttext("def Foo(x):\n    return x+1\n") == "def foo ( x ) : return x + 1"
    assert normalise_for_fasttext("ABC def", max_chars=3) == "abc"


def test_threshold_for_recall_and_metrics():
    scores, labels = [0.9, 0.8, 0.4, 0.3, 0.2, 0.1], [True, False, True, False, True, False]
    assert threshold_for_recall(scores, labels, 0.99) == 0.2
    assert threshold_for_recall(scores, labels, 0.6) == 0.4
    row = metrics_at(scores, labels, 0.2)
    assert (row["tp"], row["fp"], row["fn"], row["precision"], row["recall"]) == (3, 2, 0, 0.6, 1.0)


def test_holdout_split_is_stratified_and_deterministic():
    docs = [LabelledDoc(f"d{i}", "x", i % 3 == 0) for i in range(90)]
    train, test = split_holdout(docs, 0.3)
    assert (sum(d.label for d in test), len(test)) == (9, 27)
    assert [d.id for d in split_holdout(docs, 0.3)[1]] == [d.id for d in test]
    assert not {d.id for d in train} & {d.id for d in test}


def test_train_on_real_pages_reports_precision_and_recall(trained, labelled):
    report = json.loads((trained / "report.json").read_text())
    positives = sum(r["label"] == "code" for r in labelled[1])
    assert report["train"]["documents"] + report["documents"] == len(labelled[1]) == 127
    assert report["positives"] == round(positives * 0.3)
    at = report["at_target_recall"]
    assert at["recall"] >= 0.99
    # better than keeping everything (precision = base rate 0.39 on this split)
    assert at["precision"] > report["positives"] / report["documents"] + 0.1
    assert [row["threshold"] for row in report["thresholds"]][:3] == [0.05, 0.1, 0.2]
    sidecar = json.loads((trained / "model.bin.json").read_text())
    assert sidecar["threshold_at_target_recall"] == at["threshold"]
    assert "Threshold reaching recall >= 0.99" in (trained / "report.md").read_text()


def test_two_sources_and_bad_inputs(labelled, tmp_path):
    rows = labelled[1]
    pos, neg = tmp_path / "pos.jsonl", tmp_path / "neg.jsonl"
    pos.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows if r["label"] == "code"))
    neg.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows if r["label"] != "code"))
    run_cli("train", "fasttext", "--positives", pos, "--negatives", neg, "-o", tmp_path / "m", *SMALL,
            "--quantize", "5000", "--target-recall", "0.9")
    report = json.loads((tmp_path / "m" / "report.json").read_text())
    assert report["positives"] == 15 and report["target_recall"] == 0.9 and report["at_target_recall"]["recall"] >= 0.9
    assert (tmp_path / "m" / "model.ftz").is_file()
    unlabelled = tmp_path / "unlabelled.jsonl"
    unlabelled.write_text('{"id": "a", "text": "hello"}\n')
    proc = run_cli("train", "fasttext", "--input", unlabelled, "-o", tmp_path / "x", check=False)
    assert proc.returncode != 0 and f"{unlabelled}:1: record has no `label` field" in proc.stderr
    proc = run_cli("train", "fasttext", "--positives", pos, "-o", tmp_path / "x", check=False)
    assert proc.returncode != 0 and "both --positives and --negatives" in proc.stderr
    proc = run_cli("train", "fasttext", "--positives", pos, "--negatives", pos, "--input", pos,
                   "-o", tmp_path / "x", check=False)
    assert proc.returncode != 0 and "ids are not unique" in proc.stderr


def test_iterative_rounds_add_confirmed_pool_pages(labelled, tmp_path):
    rows = labelled[1]
    seed = tmp_path / "seed.jsonl"
    seed.write_bytes(b"".join(orjson.dumps(r) + b"\n" for i, r in enumerate(rows) if i % 3 == 0))
    pool = tmp_path / "pool.jsonl"
    pool.write_bytes(b"".join(orjson.dumps({k: v for k, v in r.items() if k != "label"}) + b"\n"
                              for i, r in enumerate(rows) if i % 3))
    truth = {r["id"]: r["label"] for r in rows}
    run_cli("train", "fasttext", "--input", seed, "--pool", pool, "--rounds", "2", "-o", tmp_path / "r", *SMALL)
    first = json.loads((tmp_path / "r" / "round-1" / "report.json").read_text())
    second = json.loads((tmp_path / "r" / "round-2" / "report.json").read_text())
    assert first["pool_candidates"] >= first["pool_confirmed"] > 5
    assert second["train"]["positives"] == first["train"]["positives"] + first["pool_confirmed"]
    # candidates the labeller rejected join the negatives (hard negatives)
    assert second["train"]["negatives"] == first["train"]["negatives"] + first["pool_rejected"]
    assert first["pool_candidates"] == first["pool_confirmed"] + first["pool_rejected"]
    assert second["documents"] == first["documents"]  # the held-out split stays fixed
    assert json.loads((tmp_path / "r" / "report.json").read_text())["rounds_run"] == 2
    # the rule labeller confirms real code pages: check its choices against the hand labels
    from curate_plugins.lib.fasttext.labelling import RuleLabeller
    from curate_plugins.lib.fasttext.training import RoundResult, TrainSettings, recall_and_confirm

    pool_docs = [LabelledDoc(r["id"], r["text"], False, r) for i, r in enumerate(rows) if i % 3]
    result = RoundResult(1, str(tmp_path / "r" / "round-1" / "model.bin"), first)
    confirmed = recall_and_confirm(result, pool_docs, RuleLabeller(), TrainSettings(), None)["confirmed"]
    assert len(confirmed) == first["pool_confirmed"]
    assert sum(truth[d.id] == "code" for d in confirmed) >= 0.85 * len(confirmed)


def test_classifier_scores_keeps_markup_and_drops_with_reason(trained, labelled):
    model = str(trained / "model.bin")
    rows = labelled[1]
    docs = [make_doc(r["text"], r["id"], **{"web.has_code_markup": r["web.has_code_markup"]}) for r in rows]
    plugin = pickle.loads(pickle.dumps(FasttextClassifier(model=model)))  # picklable before setup
    result = apply_step(plugin, docs)
    assert all(0 <= d.metadata["web.code_score"] <= 1 for d in result.kept + result.dropped)
    assert set(result.reasons.values()) == {"below_threshold"}
    truth = {r["id"]: r["label"] for r in rows}
    kept_code = sum(truth[d.id] == "code" for d in result.kept)
    assert kept_code >= 47  # code markup or score: nearly every code page of the 49 is kept
    assert sum(truth[d] != "code" for d in result.reasons) >= 40  # most non-code pages go
    assert pickle.loads(pickle.dumps(plugin)).__dict__.get("_model") is None
    annotate_only = apply_step(FasttextClassifier(model=model, drop=False, score_key="quality.code_page"), docs)
    assert annotate_only.dropped == [] and "quality.code_page" in annotate_only.kept[0].metadata
    strict = apply_step(FasttextClassifier(model=model, threshold=0.99, keep_if_key=None), docs)
    assert len(strict.kept) < len(result.kept)


def test_check_names_a_missing_model(tmp_path):
    assert FasttextClassifier(model=str(tmp_path / "none.bin")).check() == [
        f"model: {tmp_path / 'none.bin'} does not exist (train one with `curate train fasttext`)"]


def test_web_code_pipeline_end_to_end(repo_root, fixture_data, trained, tmp_path):
    """The shipped YAML, on all 127 pages, with a model our code trained just now."""
    yaml_path = tmp_path / "web_code.yaml"
    shutil.copy(repo_root / "pipelines" / "web_code.yaml", yaml_path)
    out = tmp_path / "out"
    run_cli("run", yaml_path, "-o", out, "--set", f"inputs[0].with.paths=['{fixture_data / 'web' / 'pages.warc.gz'}']",
            "--set", f"steps[4].with.model={trained / 'model.bin'}", "--set", "executor.workers=1", cwd=repo_root)
    manifest = {r["warc_record_id"]: r for r in map(json.loads, (fixture_data / "web" / "manifest.jsonl").open())}
    kept = read_corpus(out)
    excluded = {r["id"]: r["metadata"] for r in read_excluded(out)}
    reasons = {m["drop.reason"] for m in excluded.values()}
    assert reasons <= {"not_response:warcinfo", "too_few_words", "below_threshold"} and "below_threshold" in reasons
    assert len(kept) + len(excluded) == 128  # every record accounted for
    assert all("web.code_score" in r["metadata"] and r["metadata"]["web.url"] for r in kept)
    kept_labels = [manifest[r["id"]]["label"] for r in kept]
    assert kept_labels.count("code") >= 47 and kept_labels.count("non-code") <= 30


def test_shipped_pipeline_runs_on_its_default_input(repo_root, tmp_path):
    run_cli("validate", "pipelines/web_code.yaml", cwd=repo_root)
    run_cli("run", "pipelines/web_code.yaml", "-o", tmp_path / "out", "--set", "executor.workers=1", cwd=repo_root)
    kept = read_corpus(tmp_path / "out")
    assert len(kept) >= 20  # 26 of the 27 Debian documentation pages are code pages
    assert all(r["metadata"]["web.code_blocks"] >= 1 or r["metadata"]["web.code_score"] >= 0.05 for r in kept)


def test_training_never_overwrites_tracked_files_unless_asked(labelled, tmp_path):
    repo = tmp_path / "checkout"
    target = repo / "models" / "web-code"
    target.mkdir(parents=True)
    (target / "model.ftz").write_bytes(b"shipped model")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    for args in (["init", "-q"], ["add", "models"], ["commit", "-qm", "ship the model"]):
        subprocess.run(git + args, check=True, capture_output=True)
    proc = run_cli("train", "fasttext", "--input", labelled[0], "-o", target, *SMALL, check=False)
    assert proc.returncode != 0 and "holds files tracked by git (model.ftz)" in proc.stderr
    assert "--overwrite-tracked" in proc.stderr and (target / "model.ftz").read_bytes() == b"shipped model"
    run_cli("train", "fasttext", "--input", labelled[0], "-o", target, *SMALL, "--quantize", "1000",
            "--overwrite-tracked")
    assert (target / "model.ftz").read_bytes() != b"shipped model" and (target / "report.md").is_file()
