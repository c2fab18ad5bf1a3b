"""Held-out precision and recall of the code-page classifier on tests/data/web, over several splits.

For each seed: split the 127 hand-labelled pages (stratified, 30% held out), train with `curate`'s fastText
trainer (default settings), and on the held-out pages report
  - the classifier alone at the threshold reaching 99% recall (chosen on the held-out pages themselves, as
    `curate train fasttext` reports it) and at 0.5;
  - the pipeline's rule: keep a page with code markup (`web.has_code_markup`) OR a score >= 0.5.
The set is small (38 held-out pages, 15 of them code), so every figure is indicative only.

    python tools/data/eval_web_classifier.py [tests/data/web] [--seeds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from web_labelled_jsonl import labelled_records  # noqa: E402

from curate_plugins.lib.fasttext.training import (
    LabelledDoc,
    TrainSettings,
    metrics_at,
    positive_scores,
    split_holdout,
    train_and_report,  # noqa: E402
)


def evaluate_seed(docs: list[LabelledDoc], seed: int) -> dict:
    settings = TrainSettings(seed=seed)
    train, test = split_holdout(docs, settings.test_fraction, seed)
    with tempfile.TemporaryDirectory() as tmp:
        result = train_and_report(train, test, settings, tmp)
        import fasttext

        model = fasttext.load_model(result.model_path)
        scores = positive_scores(model, [d.text for d in test], settings.max_chars)
    labels = [d.label for d in test]
    markup = [bool(d.metadata.get("web.has_code_markup")) for d in test]
    combined = [1.0 if m or s >= 0.5 else 0.0 for m, s in zip(markup, scores)]
    return {"seed": seed, "at_99": result.report["at_target_recall"], "at_0.5": metrics_at(scores, labels, 0.5),
            "markup_or_0.5": metrics_at(combined, labels, 0.5),
            "markup_only": metrics_at([float(m) for m in markup], labels, 0.5)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("web_dir", nargs="?", default=str(Path(__file__).resolve().parents[2] / "tests/data/web"))
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    rows = labelled_records(args.web_dir)
    docs = [LabelledDoc(r["id"], r["text"], r["label"] == "code", r) for r in rows]
    results = [evaluate_seed(docs, seed) for seed in range(args.seeds)]
    print(f"{len(docs)} pages ({sum(d.label for d in docs)} code); 30% held out per seed\n")
    print("| rule | " + " | ".join(f"seed {r['seed']} P / R" for r in results) + " | mean P / R |")
    print("|---|" + "---|" * (len(results) + 1))
    for key, name in (("at_99", "classifier, threshold at 99% recall"), ("at_0.5", "classifier >= 0.5"),
                      ("markup_only", "code markup only"), ("markup_or_0.5", "code markup OR classifier >= 0.5")):
        cells = [f"{r[key]['precision']:.2f} / {r[key]['recall']:.2f}" for r in results]
        mean_p = statistics.mean(r[key]["precision"] for r in results)
        mean_r = statistics.mean(r[key]["recall"] for r in results)
        print(f"| {name} | " + " | ".join(cells) + f" | {mean_p:.2f} / {mean_r:.2f} |")
    thresholds = ", ".join(f"{r['at_99']['threshold']:.3f}" for r in results)
    print(f"\nthresholds reaching 99% recall: {thresholds}")


if __name__ == "__main__":
    main()
