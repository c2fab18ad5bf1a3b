"""``curate label`` and ``curate train scorer``: oracle labelling and distillation outside a pipeline."""

from __future__ import annotations

import json
import sys
import time

import click


def _parse_sets(pairs: tuple[str, ...]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r}: expected KEY=VALUE", param_hint="--backend-set")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


@click.command("label")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--cache", required=True, help="Label cache (SQLite file); created if missing.")
@click.option("--backend", "kind", type=click.Choice(["transformers", "openai", "vllm"]), default="openai",
              show_default=True)
@click.option("--model", required=True, help="Local model dir (transformers/vllm) or served model name (openai).")
@click.option("--base-url", default=None, help="openai: server URL up to /v1.")
@click.option("--backend-set", "backend_sets", multiple=True, metavar="KEY=VALUE",
              help="Any other backend option, e.g. --backend-set concurrency=32 --backend-set api=chat.")
@click.option("--mode", type=click.Choice(["generate", "expected"]), default="generate", show_default=True)
@click.option("--prompt", default="seed_coder_v1", show_default=True, help="Prompt version or template path.")
@click.option("--sample-fraction", default=1.0, show_default=True, help="Label this share of files (by hash).")
@click.option("--limit", default=None, type=int, help="Stop after this many sampled files.")
@click.option("--text-field", default="text", show_default=True)
@click.option("--retry-errors", is_flag=True, help="Ask again for files whose cached answer was unparsable.")
def label(inputs, cache, kind, model, base_url, backend_sets, mode, prompt, sample_fraction, limit, text_field,
          retry_errors):
    """Label a sample of INPUTS (JSONL/Parquet files or globs) with the oracle LLM into the label cache.

    Files already in the cache (same content, prompt version and model) are not asked again.
    """
    from curate_plugins._quality.labeller import Labeller, OracleSettings
    from curate_plugins._quality.prompt import load_prompt
    from curate_plugins.lib.llm.backend import make_backend
    from curate_plugins.lib.llm.cache import LabelCache
    from curate_plugins.lib.llm.config import BackendConfig
    from curate_plugins.llm_quality import in_sample

    backend_cfg = {"kind": kind, "model": model, **({"base_url": base_url} if base_url else {}),
                   **_parse_sets(backend_sets)}
    settings = OracleSettings(backend=BackendConfig(**backend_cfg), prompt=prompt, mode=mode, cache=cache,
                              retry_errors=retry_errors)
    labeller = Labeller(settings, make_backend(settings.backend), load_prompt(prompt), LabelCache(cache))
    started = time.perf_counter()
    batch, seen = [], 0
    for doc in _documents(inputs, text_field):
        if not in_sample(doc.text, sample_fraction):
            continue
        batch.append(doc)
        seen += 1
        if len(batch) >= settings.backend.batch_size * 4:
            labeller.label(batch)
            batch = []
        if limit and seen >= limit:
            break
    if batch:
        labeller.label(batch)
    stats = labeller.stats.__dict__ | {"seconds": round(time.perf_counter() - started, 2), "cache": cache,
                                        "prompt_version": labeller.template.version,
                                        "oracle": labeller.backend.model_id}
    click.echo(json.dumps(stats, indent=1))


def _documents(inputs, text_field):
    from curate import JsonlSource, ParquetSource, Reject, language_for_path

    parquet = [p for p in inputs if ".parquet" in p]
    jsonl = [p for p in inputs if p not in parquet]
    for cls, paths in ((JsonlSource, jsonl), (ParquetSource, parquet)):
        if not paths:
            continue
        source = cls(paths=paths, text_field=text_field)
        source.ensure_setup()
        for shard in source.list_shards():
            for item in source.read_shard(shard):
                if isinstance(item, Reject):
                    click.echo(f"skipped {item.location}: {item.reason}", err=True)
                    continue
                if not item.metadata.get("lang"):
                    first = item.text[:200].split("\n", 1)[0] if item.text.startswith("#!") else None
                    item.metadata["lang"] = language_for_path(str(item.metadata.get("path") or ""), first)
                yield item


@click.command("scorer")
@click.option("--cache", required=True, help="Label cache written by `curate label` or `llm_quality`.")
@click.option("--out", required=True, help="Model directory to write (read by the `quality_scorer` plugin).")
@click.option("--prompt-version", default=None, help="Only labels of this prompt version.")
@click.option("--oracle", default=None, help="Only labels of this oracle (`kind:model`).")
@click.option("--test-fraction", default=0.2, show_default=True)
@click.option("--approach", "approaches", multiple=True, type=click.Choice(["fasttext", "ridge"]),
              default=("fasttext", "ridge"), show_default=True)
def scorer(cache, out, prompt_version, oracle, test_fraction, approaches):
    """Distil the oracle labels into a fast CPU scorer; keeps the approach with the lower held-out MAE."""
    from curate_plugins._quality.scorer import train_scorer
    from curate_plugins.lib.llm.cache import LabelCache

    files = list(LabelCache(cache).labelled(prompt_version, oracle))
    try:
        meta = train_scorer(files, out, approaches=approaches, test_fraction=test_fraction)
    except ValueError as exc:
        click.echo(f"error: {cache}: {exc}", err=True)
        sys.exit(2)
    click.echo(json.dumps(meta, indent=1))
