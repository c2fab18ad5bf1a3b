"""``curate train fasttext``: train a binary fastText classifier on labelled documents, with optional
Seed-Coder-style iterative rounds over an unlabelled pool. Registered under the ``curate.train`` entry-point
group, so it joins the core's ``curate train`` group."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import click

from curate_plugins.lib.fasttext.training import (
    DEFAULT_THRESHOLDS,
    LabelledDoc,
    TrainSettings,
    iterative_rounds,
    report_markdown,
)


@click.command("fasttext")
@click.option("--input", "inputs", multiple=True, help="JSONL/Parquet files (or globs) with a label field.")
@click.option("--label-field", default="label", show_default=True, help="Field (or metadata key) with the label.")
@click.option("--positive-label", "positive_labels", multiple=True, default=("code",), show_default=True,
              help="Label values counted as positive; every other value is negative.")
@click.option("--positives", multiple=True, help="Files (or globs) whose documents are all positive.")
@click.option("--negatives", multiple=True, help="Files (or globs) whose documents are all negative.")
@click.option("--text-field", default="text", show_default=True, help="Field holding the text.")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output directory: model.bin (or model.ftz), its .json sidecar, report.json, report.md; "
                   "round-<k>/ holds each round's model and report.")
@click.option("--test-fraction", default=0.3, show_default=True, type=click.FloatRange(0.05, 0.9),
              help="Share of each class held out for evaluation (deterministic, by id hash).")
@click.option("--target-recall", default=0.99, show_default=True, type=click.FloatRange(0.01, 1.0),
              help="Report the highest threshold reaching this recall on the held-out split.")
@click.option("--thresholds", default=",".join(map(str, DEFAULT_THRESHOLDS)), show_default=True,
              help="Comma-separated thresholds for the precision/recall/F1 table.")
@click.option("--epoch", default=50, show_default=True, type=int)
@click.option("--lr", default=0.5, show_default=True, type=float)
@click.option("--word-ngrams", default=2, show_default=True, type=int)
@click.option("--dim", default=64, show_default=True, type=int)
@click.option("--bucket", default=200_000, show_default=True, type=int, help="Hash buckets for word n-grams.")
@click.option("--threads", default=10, show_default=True, type=click.IntRange(10),
              help="Training threads; at least 10, because fastText 0.9.2 leaves part of the input matrix "
                   "uninitialised with fewer (see curate/fasttext_training.py).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--max-chars", default=100_000, show_default=True, type=int, help="Characters of each text used.")
@click.option("--quantize", "quantize_cutoff", default=0, show_default=True, type=int,
              help="> 0: write a quantized model.ftz keeping this many words and n-grams (evaluated as written).")
@click.option("--pool", multiple=True, help="Unlabelled files (or globs) for iterative rounds.")
@click.option("--rounds", default=1, show_default=True, type=click.IntRange(1, 100),
              help="Training rounds; rounds > 1 need --pool.")
@click.option("--labeller", default="rules", show_default=True,
              help="Confirms pool candidates: 'rules' or 'module.path:ClassName'.")
@click.option("--max-candidates", default=None, type=int, help="Cap on pool candidates sent to the labeller "
                                                                "per round (highest scores first).")
@click.option("--hard-negatives/--no-hard-negatives", default=True, show_default=True,
              help="Pool candidates the labeller rejects join the negatives of the next round.")
@click.option("--overwrite-tracked", is_flag=True,
              help="Allow writing into a directory holding files tracked by git (e.g. rebuilding the shipped "
                   "models/web-code); without it such a directory is refused.")
def train_fasttext(inputs, label_field, positive_labels, positives, negatives, text_field, out_dir, test_fraction,
                   target_recall, thresholds, epoch, lr, word_ngrams, dim, bucket, threads, seed, max_chars,
                   quantize_cutoff, pool, rounds, labeller, max_candidates, hard_negatives, overwrite_tracked):
    """Train a binary fastText classifier, evaluate it on a held-out split, and write the model and a report
    (precision, recall and F1 at several thresholds; the threshold reaching the target recall)."""
    from curate_plugins.lib.fasttext.labelling import load_labeller

    tracked = tracked_files(Path(out_dir))
    if tracked and not overwrite_tracked:
        raise click.ClickException(
            f"{out_dir} holds files tracked by git ({', '.join(tracked[:3])}{', ...' if len(tracked) > 3 else ''}); "
            "training would overwrite them. Write to another directory (-o out/my-model), or pass "
            "--overwrite-tracked to rebuild them on purpose.")
    if not inputs and not (positives and negatives):
        raise click.UsageError("give --input (with a label field) or both --positives and --negatives")
    if rounds > 1 and not pool:
        raise click.UsageError("--rounds > 1 needs --pool (unlabelled documents to recall candidates from)")
    settings = TrainSettings(epoch=epoch, lr=lr, word_ngrams=word_ngrams, dim=dim, bucket=bucket, threads=threads,
                             seed=seed, max_chars=max_chars, test_fraction=test_fraction,
                             target_recall=target_recall, thresholds=_parse_thresholds(thresholds),
                             positive_label=positive_labels[0], quantize_cutoff=quantize_cutoff)
    labelled = _load_labelled(inputs, label_field, set(positive_labels), positives, negatives, text_field)
    pool_docs = [d for d in _load_docs(pool, text_field, None)] if pool else []
    try:
        results = iterative_rounds(labelled, pool_docs, load_labeller(labeller) if rounds > 1 else None, rounds,
                                   settings, out_dir, max_candidates, hard_negatives, echo=click.echo)
    except ValueError as exc:  # too few documents of a class, a bad labeller, ...
        raise click.ClickException(str(exc)) from exc
    _publish_final(results[-1], Path(out_dir), len(results))


def _publish_final(result, out: Path, rounds_run: int) -> None:
    model = Path(result.model_path)
    for path in (model, Path(f"{model}.json")):
        shutil.copyfile(path, out / path.name)
    summary = dict(result.report, rounds_run=rounds_run)
    (out / "report.json").write_text(json.dumps(summary, indent=2))
    (out / "report.md").write_text(report_markdown(summary))
    click.echo(f"model: {out / model.name}  report: {out / 'report.md'}")


def tracked_files(folder: Path) -> list[str]:
    """Files under ``folder`` that git tracks (none when git or a repository is absent)."""
    if not folder.is_dir():
        return []
    try:
        proc = subprocess.run(["git", "-C", str(folder), "ls-files", "-z", "--", "."], capture_output=True,
                              timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    if proc.returncode != 0:
        return []
    return sorted(name for name in proc.stdout.decode(errors="replace").split("\0") if name)


def _parse_thresholds(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise click.BadParameter(f"not a comma-separated list of numbers: {text!r}", param_hint="--thresholds") \
            from exc
    if not values or any(not 0 <= v <= 1 for v in values):
        raise click.BadParameter("thresholds must lie in [0, 1]", param_hint="--thresholds")
    return values


def _load_labelled(inputs, label_field, positive_labels, positives, negatives, text_field) -> list[LabelledDoc]:
    docs = []
    for doc in _load_docs(inputs, text_field, label_field):
        value = doc.metadata[label_field]
        docs.append(LabelledDoc(doc.id, doc.text, str(value) in positive_labels, doc.metadata))
    docs += [LabelledDoc(d.id, d.text, True, d.metadata) for d in _load_docs(positives, text_field, None)]
    docs += [LabelledDoc(d.id, d.text, False, d.metadata) for d in _load_docs(negatives, text_field, None)]
    ids = [d.id for d in docs]
    if len(set(ids)) != len(ids):
        raise click.ClickException("document ids are not unique across the inputs; the held-out split needs "
                                   "unique ids (give each record an `id` field)")
    return docs


def _load_docs(patterns, text_field: str, label_field: str | None) -> list[LabelledDoc]:
    from curate import JsonlSource, ParquetSource, Reject

    out = []
    for pattern in patterns:
        source_cls = ParquetSource if pattern.endswith(".parquet") else JsonlSource
        source = source_cls(paths=[pattern], text_field=text_field)
        shards = source.list_shards()
        if not shards:
            raise click.ClickException(f"no file matches {pattern}")
        for shard in shards:
            for item in source.read_shard(shard):
                if isinstance(item, Reject):
                    raise click.ClickException(f"{item.location}: unreadable record ({item.reason})")
                if label_field and item.metadata.get(label_field) is None:
                    raise click.ClickException(f"{item.metadata.get('source.shard')}:{item.metadata.get('source.line')}"
                                               f": record has no `{label_field}` field")
                out.append(LabelledDoc(item.id, item.text, False, item.metadata))
    return out
