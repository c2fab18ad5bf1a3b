"""Distilled quality scorer vs its oracle: files/s per core over the real repositories in tests/data/repos.

1. Reads every file at HEAD of the bundles (git_repos source) and tags its language.
2. Labels them with the PROXY rubric (plugins/curate_plugins/_quality/proxy.py: no LLM can run here; these labels
   are not Seed-Coder-like quality), holds 20% out by content hash, trains both scorer approaches and prints their
   held-out MAE against those labels.
3. Times, in one process (= one core; torch limited to 1 thread), interleaved over several rounds because the
   machine is shared: the kept scorer (and the other approach) over all files, and the oracle = the
   `transformers` backend on a tiny random Llama over a subset, in expected mode (one forward pass per file)
   and in generate mode (--new-tokens tokens per file). The tiny model is ~0.1M parameters: a real 7B oracle
   is orders of magnitude slower per file, so the ratio printed is a LOWER bound of the distillation speed-up.

    .venv/bin/python tools/bench/bench_quality.py --rounds 3 --oracle-files 48

Needs the `bench` extra (`pip install -e '.[bench]'`: fastText and torch for the oracle).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEST_DATA = REPO / "tests" / "data"


def load_files(pattern: str):
    from curate import Reject
    from curate.sources.git_repos import GitReposSource
    from curate_plugins.language_from_extension import LanguageFromExtension

    source = GitReposSource(paths=sorted(glob.glob(pattern)))
    source.ensure_setup()
    lang = LanguageFromExtension()
    lang.ensure_setup()
    docs = []
    for shard in source.list_shards():
        for item in source.read_shard(shard):
            if not isinstance(item, Reject):
                lang.annotate(item)
                docs.append(item)
    return docs


def add_syntax_statistics(docs) -> bool:
    """Run the treesitter_syntax plugin (annotate only) so the regressor can use `syntax.*` statistics."""
    try:
        from curate_plugins.treesitter_syntax import TreesitterSyntax
    except ImportError:
        return False
    step = TreesitterSyntax(drop=False)
    step.ensure_setup()
    for d in docs:
        step.filter(d)
    return True


def labelled(docs):
    from curate_plugins._quality.prompt import content_sha256
    from curate_plugins._quality.proxy import proxy_rating
    from curate_plugins.lib.llm.cache import LabelledFile

    unique = {}
    for d in docs:
        sha = content_sha256(d.text)
        unique[sha] = LabelledFile(sha, d.text, float(proxy_rating(d.text, d.metadata.get("path", ""),
                                                                   d.metadata.get("lang", ""))),
                                   d.metadata.get("lang", ""), d.metadata.get("path", ""), dict(d.metadata))
    return list(unique.values())


def time_scorer(model, docs) -> float:
    started = time.perf_counter()
    for d in docs:
        model.predict(d.text, d.metadata)
    return time.perf_counter() - started


def time_oracle(labeller, docs, mode: str) -> tuple[float, int]:
    labeller.settings = labeller.settings.model_copy(update={"mode": mode})
    labeller.stats.prompt_tokens = labeller.stats.completion_tokens = 0
    started = time.perf_counter()
    labeller._ask(docs)  # no cache: every file is asked
    return time.perf_counter() - started, labeller.stats.prompt_tokens + labeller.stats.completion_tokens


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", default=str(TEST_DATA / "repos" / "*.bundle"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--oracle-files", type=int, default=48)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--max-code-chars", type=int, default=4000)
    parser.add_argument("--syntax", action="store_true", help="add treesitter_syntax statistics as features")
    parser.add_argument("--scorer-only", action="store_true", help="skip the oracle timings")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from curate_plugins._quality.labeller import Labeller, OracleSettings
    from curate_plugins._quality.prompt import load_prompt
    from curate_plugins._quality.scorer import FastTextScorer, RidgeScorer, load_scorer, split_held_out, train_scorer
    from curate_plugins._quality.tiny import build_tiny_llama
    from curate_plugins.lib.llm.backend import make_backend
    from curate_plugins.lib.llm.cache import LabelCache
    from curate_plugins.lib.llm.config import BackendConfig

    docs = load_files(args.repos)
    if args.syntax and not add_syntax_statistics(docs):
        print("treesitter_syntax is not installed: no syntax.* features")
    mb = sum(len(d.text.encode("utf-8", "surrogatepass")) for d in docs) / 1e6
    files = labelled(docs)
    work = Path(tempfile.mkdtemp(prefix="bench-quality-"))
    meta = train_scorer(files, work / "scorer")
    best, _ = load_scorer(work / "scorer")
    train, _ = split_held_out(files, 0.2)
    other_name = "ridge" if meta["approach"] == "fasttext" else "fasttext"
    other = {"ridge": RidgeScorer, "fasttext": FastTextScorer}[other_name].fit(train)
    print(f"{len(docs)} files ({mb:.2f} MB) from {args.repos}; {len(files)} unique; PROXY labels")
    print("held-out MAE vs proxy labels:", json.dumps(meta["metrics"]), "kept:", meta["approach"])
    print("syntax features:", [k for k in (getattr(best, "space", None) or other.space).syntax_keys])
    if args.scorer_only:
        return

    model_dir = build_tiny_llama(work / "tiny", corpus=[load_prompt().text] + [d.text for d in docs[:50]])
    settings = OracleSettings(backend=BackendConfig(kind="transformers", model=str(model_dir), torch_threads=1),
                              cache=str(work / "unused.sqlite"), max_new_tokens=args.new_tokens,
                              max_code_chars=args.max_code_chars)
    labeller = Labeller(settings, make_backend(settings.backend), load_prompt(), LabelCache(work / "unused.sqlite"))
    subset = docs[:: max(1, len(docs) // args.oracle_files)][: args.oracle_files]
    rows = {k: [] for k in ("scorer", "other", "expected", "generate")}
    tokens = {"expected": [], "generate": []}
    for r in range(args.rounds):
        rows["scorer"].append(len(docs) / time_scorer(best, docs))
        for mode in ("expected", "generate"):
            seconds, ntok = time_oracle(labeller, subset, mode)
            rows[mode].append(len(subset) / seconds)
            tokens[mode].append(ntok / seconds)
        rows["other"].append(len(docs) / time_scorer(other, docs))
        print(f"round {r}: " + ", ".join(f"{k} {v[-1]:.1f} files/s" for k, v in rows.items()))
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"\nload average during the run: {os.getloadavg()}")
    print(f"per core (median of {args.rounds} interleaved rounds, shared machine: noisy):")
    scorer_mbs = med['scorer'] * mb / len(docs)
    print(f"  distilled scorer ({meta['approach']}): {med['scorer']:.1f} files/s, {scorer_mbs:.2f} MB/s")
    print(f"  other approach ({other_name}):        {med['other']:.1f} files/s")
    for mode in ("expected", "generate"):
        print(f"  oracle tiny Llama, {mode:8s}: {med[mode]:.2f} files/s, {statistics.median(tokens[mode]):.0f} tokens/s"
              f" (prompts truncated to {args.max_code_chars} chars of code)")
    print(f"  ratio scorer/oracle: {med['scorer'] / med['expected']:.0f}x (expected mode), "
          f"{med['scorer'] / med['generate']:.0f}x (generate mode) -- a lower bound: real oracles are far bigger")
    json.dump({"files": len(docs), "mb": mb, "metrics": meta["metrics"], "kept": meta["approach"], "median": med},
              sys.stdout)
    print()


if __name__ == "__main__":
    main()
