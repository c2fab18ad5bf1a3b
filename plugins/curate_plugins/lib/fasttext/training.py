"""Train and evaluate binary fastText classifiers on labelled documents, including Seed-Coder's iterative rounds.

Used by ``curate train fasttext`` (curate/fasttext_cli.py) and, for the text normalisation and the model
sidecar, by the ``fasttext_classifier`` plugin. The same code trains any binary fastText model: code-related
web pages (Seed-Coder's recall classifier), high-quality code, and so on.

A model is written as ``<name>.bin`` plus ``<name>.bin.json`` (the sidecar), which records the positive label,
the normalisation settings and the threshold that reached the target recall on the held-out split, so the
classifier plugin scores text exactly as training saw it.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import xxhash

POSITIVE = "__label__pos"
NEGATIVE = "__label__neg"
# fastText 0.9.2 (fasttext-numpy2-wheel) initialises the input matrix in 10 blocks, one per training thread:
# with fewer than 10 threads the other rows keep whatever memory held (measured here: 60-90% of rows zero or
# garbage with 1 thread), which caused frequent "Encountered NaN" and unstable models. So never use fewer.
MIN_THREADS = 10
DEFAULT_THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
_TOKEN = re.compile(r"\w+|[^\w\s]")


def normalise_for_fasttext(text: str, max_chars: int = 100_000) -> str:
    """Lower-case, split into word and punctuation tokens (code symbols carry signal), join on one line."""
    return " ".join(_TOKEN.findall(text[:max_chars].lower()))


@dataclass
class LabelledDoc:
    id: str
    text: str
    label: bool
    metadata: dict = field(default_factory=dict)


@dataclass
class TrainSettings:
    """fastText hyper-parameters and evaluation settings (defaults suit a few thousand web pages)."""

    epoch: int = 50
    lr: float = 0.5
    word_ngrams: int = 2
    dim: int = 64
    min_count: int = 1
    bucket: int = 200_000
    threads: int = MIN_THREADS
    seed: int = 0
    max_chars: int = 100_000
    test_fraction: float = 0.3
    target_recall: float = 0.99
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    positive_label: str = "code"
    quantize_cutoff: int = 0  # > 0: quantize (fastText .ftz) keeping this many words and n-grams


# ---------------------------------------------------------------- data

def split_holdout(docs: Sequence[LabelledDoc], fraction: float, seed: int = 0):
    """Deterministic stratified split: in each class, the ``fraction`` of documents with the lowest id hash."""
    train, test = [], []
    for label in (True, False):
        group = sorted((d for d in docs if d.label == label), key=lambda d: _id_hash(d.id, seed))
        cut = round(len(group) * fraction)
        test.extend(group[:cut])
        train.extend(group[cut:])
    return train, test


def _id_hash(doc_id: str, seed: int) -> int:
    return xxhash.xxh64_intdigest(doc_id.encode("utf-8", "surrogatepass"), seed)


def write_training_file(docs: Iterable[LabelledDoc], path: str, max_chars: int) -> int:
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for doc in docs:
            out.write(f"{POSITIVE if doc.label else NEGATIVE} {normalise_for_fasttext(doc.text, max_chars)}\n")
            count += 1
    return count


# ---------------------------------------------------------------- training and scoring

def train_model(docs: Sequence[LabelledDoc], settings: TrainSettings):
    """Train a supervised fastText model on ``docs`` (both classes needed); returns (model, learning rate used).

    At least ``MIN_THREADS`` threads are used (see there), so two runs can differ slightly (Hogwild SGD).
    If training still diverges (fastText's ``Encountered NaN``), the learning rate is halved and training
    retried, up to three times; the report records the rate that worked."""
    import fasttext

    labels = {d.label for d in docs}
    if labels != {True, False}:
        missing = "positive" if True not in labels else "negative"
        raise ValueError(f"training needs positive and negative documents; there are no {missing} ones")
    with tempfile.TemporaryDirectory(prefix="curate-fasttext-") as tmp:
        path = os.path.join(tmp, "train.txt")
        write_training_file(docs, path, settings.max_chars)
        lr = settings.lr
        for attempt in range(4):
            try:
                model = fasttext.train_supervised(
                    input=path, epoch=settings.epoch, lr=lr, wordNgrams=settings.word_ngrams, dim=settings.dim,
                    minCount=settings.min_count, bucket=settings.bucket, seed=settings.seed, loss="softmax",
                    thread=max(settings.threads, MIN_THREADS), verbose=0)
                return model, lr
            except RuntimeError as exc:  # fastText diverges ("Encountered NaN") when lr is too high
                if "NaN" not in str(exc) or attempt == 3:
                    raise
                lr /= 2


def positive_scores(model, texts: Sequence[str], max_chars: int, positive: str = POSITIVE) -> list[float]:
    """Probability of the positive label for each text."""
    if not texts:
        return []
    labels, probs = model.predict([normalise_for_fasttext(t, max_chars) for t in texts], k=-1)
    return [label_probability(ls, ps, positive) for ls, ps in zip(labels, probs)]


def label_probability(labels, probs, positive: str) -> float:
    """The probability of ``positive`` in one fastText prediction (0 when absent), clipped to [0, 1]."""
    for label, prob in zip(labels, probs):
        if label == positive:
            return float(min(max(prob, 0.0), 1.0))
    return 0.0


# ---------------------------------------------------------------- evaluation

def metrics_at(scores: Sequence[float], labels: Sequence[bool], threshold: float) -> dict:
    tp = sum(1 for s, y in zip(scores, labels) if y and s >= threshold)
    fp = sum(1 for s, y in zip(scores, labels) if not y and s >= threshold)
    fn = sum(1 for s, y in zip(scores, labels) if y and s < threshold)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"threshold": round(threshold, 6), "precision": round(precision, 4), "recall": round(recall, 4),
            "f1": round(f1, 4), "tp": tp, "fp": fp, "fn": fn,
            "kept_fraction": round((tp + fp) / max(len(scores), 1), 4)}


def threshold_for_recall(scores: Sequence[float], labels: Sequence[bool], target: float) -> float:
    """The highest threshold whose recall on (scores, labels) is at least ``target``."""
    positives = sorted((s for s, y in zip(scores, labels) if y), reverse=True)
    if not positives:
        raise ValueError("the evaluation split has no positive documents")
    needed = max(1, math.ceil(target * len(positives) - 1e-9))
    return positives[min(needed, len(positives)) - 1]


def evaluate(scores: Sequence[float], labels: Sequence[bool], settings: TrainSettings) -> dict:
    at_target = threshold_for_recall(scores, labels, settings.target_recall)
    return {
        "documents": len(labels), "positives": sum(labels), "negatives": len(labels) - sum(labels),
        "thresholds": [metrics_at(scores, labels, t) for t in settings.thresholds],
        "target_recall": settings.target_recall,
        "at_target_recall": metrics_at(scores, labels, at_target),
    }


# ---------------------------------------------------------------- one round and the iterative loop

@dataclass
class RoundResult:
    round: int
    model_path: str
    report: dict


def train_and_report(train: Sequence[LabelledDoc], test: Sequence[LabelledDoc], settings: TrainSettings,
                     out_dir: str | Path, round_no: int = 1, extra: dict | None = None) -> RoundResult:
    """Train on ``train``, evaluate on ``test``, write ``model.bin``, its sidecar and ``report.json``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model, lr_used = train_model(train, settings)
    if settings.quantize_cutoff:
        model.quantize(input=None, qnorm=True, retrain=False, cutoff=settings.quantize_cutoff, dsub=2)
    scores = positive_scores(model, [d.text for d in test], settings.max_chars)
    report = {"round": round_no, "train": _counts(train), "lr_used": lr_used,
              **evaluate(scores, [d.label for d in test], settings), **(extra or {})}
    model_path = out / ("model.ftz" if settings.quantize_cutoff else "model.bin")
    tmp_path = out / f"{model_path.name}.tmp"
    model.save_model(str(tmp_path))
    os.replace(tmp_path, model_path)
    write_sidecar(model_path, settings, report)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return RoundResult(round_no, str(model_path), report)


def write_sidecar(model_path: Path, settings: TrainSettings, report: dict) -> None:
    sidecar = {"positive_label": settings.positive_label, "fasttext_label": POSITIVE,
               "normalise": {"lowercase": True, "tokens": _TOKEN.pattern, "max_chars": settings.max_chars},
               "target_recall": settings.target_recall,
               "threshold_at_target_recall": report["at_target_recall"]["threshold"],
               "heldout": {k: report["at_target_recall"][k] for k in ("precision", "recall", "f1")},
               "settings": {k: v for k, v in settings.__dict__.items() if k != "thresholds"}}
    Path(f"{model_path}.json").write_text(json.dumps(sidecar, indent=2))


def read_sidecar(model_path: str) -> dict:
    path = Path(f"{model_path}.json")
    return json.loads(path.read_text()) if path.is_file() else {}


def _counts(docs: Sequence[LabelledDoc]) -> dict:
    positives = sum(1 for d in docs if d.label)
    return {"documents": len(docs), "positives": positives, "negatives": len(docs) - positives}


def iterative_rounds(labelled: Sequence[LabelledDoc], pool: Sequence[LabelledDoc], labeller, rounds: int,
                     settings: TrainSettings, out_dir: str | Path, max_candidates: int | None = None,
                     hard_negatives: bool = True, echo=lambda msg: None) -> list[RoundResult]:
    """Seed-Coder's loop. Round k trains on the seed set plus every pool page labelled so far; its model
    recalls candidates from the rest of the pool (score >= its threshold at the target recall); the labeller
    confirms them, and the confirmed pages become positives of round k+1. With ``hard_negatives``, candidates
    the labeller rejects become negatives (Seed-Coder's negatives are random samples plus hard negatives).
    The held-out split of the seed set stays fixed, so the reports of all rounds are comparable."""
    train, test = split_holdout(labelled, settings.test_fraction, settings.seed)
    remaining = list(pool)
    added: list[LabelledDoc] = []
    results = []
    for k in range(1, rounds + 1):
        result = train_and_report(train + added, test, settings, Path(out_dir) / f"round-{k}", k,
                                  extra={"added_from_pool": _counts(added)})
        results.append(result)
        echo(_round_line(result))
        if k == rounds or not remaining:
            break
        new = recall_and_confirm(result, remaining, labeller, settings, max_candidates)
        result.report.update({"pool_candidates": new["candidates"], "pool_confirmed": len(new["confirmed"]),
                              "pool_rejected": len(new["rejected"])})
        Path(result.model_path).with_name("report.json").write_text(json.dumps(result.report, indent=2))
        labelled_now = new["confirmed"] + (new["rejected"] if hard_negatives else [])
        added.extend(labelled_now)
        taken = {d.id for d in labelled_now}
        remaining = [d for d in remaining if d.id not in taken]
    return results


def recall_and_confirm(result: RoundResult, pool: Sequence[LabelledDoc], labeller, settings: TrainSettings,
                       max_candidates: int | None) -> dict:
    """Score ``pool`` with the round's model; the labeller judges the candidates at or above its threshold."""
    import fasttext

    model = fasttext.load_model(result.model_path)
    threshold = result.report["at_target_recall"]["threshold"]
    scores = positive_scores(model, [d.text for d in pool], settings.max_chars)
    ranked = sorted((s, i) for i, s in enumerate(scores) if s >= threshold)[::-1]
    candidates = [pool[i] for _, i in ranked[:max_candidates]]
    verdicts = list(labeller.confirm(candidates)) if candidates else []
    if len(verdicts) != len(candidates):
        raise ValueError(f"labeller returned {len(verdicts)} verdicts for {len(candidates)} candidates")
    return {"candidates": len(candidates),
            "confirmed": [LabelledDoc(d.id, d.text, True, d.metadata) for d, ok in zip(candidates, verdicts) if ok],
            "rejected": [LabelledDoc(d.id, d.text, False, d.metadata) for d, ok in zip(candidates, verdicts) if not ok]}


def _round_line(result: RoundResult) -> str:
    at = result.report["at_target_recall"]
    return (f"round {result.round}: trained on {result.report['train']['documents']} docs; held-out "
            f"{result.report['documents']} docs: at threshold {at['threshold']:.4f} precision {at['precision']:.3f} "
            f"recall {at['recall']:.3f} F1 {at['f1']:.3f}")


def report_markdown(report: dict) -> str:
    lines = [f"# fastText classifier, round {report['round']}", "",
             f"Trained on {report['train']['documents']} documents ({report['train']['positives']} positive); "
             f"held-out {report['documents']} documents ({report['positives']} positive).", "",
             "| threshold | precision | recall | F1 | kept fraction |", "|---|---|---|---|---|"]
    for row in report["thresholds"]:
        lines.append(f"| {row['threshold']} | {row['precision']} | {row['recall']} | {row['f1']} | "
                     f"{row['kept_fraction']} |")
    at = report["at_target_recall"]
    lines += ["", f"Threshold reaching recall >= {report['target_recall']}: **{at['threshold']:.6f}** "
                  f"(precision {at['precision']}, recall {at['recall']}, F1 {at['f1']})."]
    return "\n".join(lines) + "\n"
