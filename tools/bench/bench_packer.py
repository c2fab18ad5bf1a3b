"""Benchmark of repo_packer's per-repository work on real code, one core, against a reference.

    .venv/bin/python tools/bench/bench_packer.py [--corpus 'out/bench-corpus/shard-*.jsonl'] [--mb 20]
        [--rounds 3] [--max-tokens 32768]

Reads files (fields id, text, path, repo, lang) until --mb MB, groups them by repository, and packs every
repository: ours (tree-sitter dependency queries, resolution, topological order, token counts, packing,
rendering, writing .jsonl.zst) against the reference, which is what the open tool that exists does
(dolma's contrib concatenation): the repository's files in random order, token counts with the same
tokenizer, cut at max_tokens, written the same way. Rounds alternate ours and the reference, because the
machine is shared and figures are noisy. Prints repositories/s, MB/s and the time split between parsing,
graph work (resolution, ordering, components, packing), tokenising and writing.

Needs the `bench` extra (`pip install -e '.[bench]'`), or at least `packer`.
"""

from __future__ import annotations

import argparse
import glob
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from curate.io import JsonlZstShard  # noqa: E402
from curate_plugins._repo_pack.pack import PackConfig, RepoFile, RepoPackerCore, Timer  # noqa: E402
from curate_plugins._repo_pack.tokens import TokenCounter  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/: the benchmark corpus builder
from make_bench_corpus import ensure_corpus  # noqa: E402


def load(pattern: str, mb: float) -> dict[str, list[RepoFile]]:
    repos: dict[str, list[RepoFile]] = defaultdict(list)
    budget = mb * 1e6
    for path in sorted(glob.glob(pattern)):
        with open(path, "rb") as handle:
            for line in handle:
                rec = orjson.loads(line)
                repos[rec["repo"]].append(RepoFile(rec["id"], rec["path"], rec["lang"], rec["text"], {}))
                budget -= len(rec["text"].encode("utf-8", "surrogatepass"))
                if budget <= 0:
                    return dict(repos)
    return dict(repos)


def run_ours(repos, max_tokens: int, out: str) -> tuple[float, dict]:
    core = RepoPackerCore(PackConfig(max_tokens=max_tokens))
    core.tokens.count(["warm up"])
    shard = JsonlZstShard(out)
    start = time.perf_counter()
    for repo in sorted(repos):
        result = core.pack(repo, repos[repo])
        with core.timer("write"):
            for record in result.sequences:
                shard.write(record)
    with core.timer("write"):
        shard.commit()
    return time.perf_counter() - start, dict(core.timer.seconds)


def run_reference(repos, max_tokens: int, out: str) -> tuple[float, dict]:
    """Random-order concatenation (dolma contrib style), same tokenizer and writer."""
    tokens, timer = TokenCounter("builtin"), Timer()
    tokens.count(["warm up"])
    shard = JsonlZstShard(out)
    start = time.perf_counter()
    for repo in sorted(repos):
        files = sorted(repos[repo], key=lambda f: f.path)
        random.Random(repo).shuffle(files)
        with timer("tokenize"):
            pieces = [f"<|file_sep|>{f.path}\n{f.text}" for f in files]
            counts = tokens.count(pieces)
        with timer("write"):
            current, size, k = [], 0, 0
            for piece, n in zip(pieces, counts):
                if current and size + n > max_tokens:
                    shard.write({"id": f"{repo}#{k}", "text": "".join(current), "metadata": {"repo": repo}})
                    current, size, k = [], 0, k + 1
                current.append(piece)
                size += n
            if current:
                shard.write({"id": f"{repo}#{k}", "text": "".join(current), "metadata": {"repo": repo}})
    with timer("write"):
        shard.commit()
    return time.perf_counter() - start, dict(timer.seconds)


def print_resolution(repos) -> None:
    from collections import Counter

    from curate_plugins._repo_pack.deps import repo_dependencies
    from curate_plugins._repo_pack.parse import Parsers

    parsers, totals, unresolved = Parsers(), defaultdict(lambda: [0, 0, 0]), Counter()
    for repo in sorted(repos):
        deps = repo_dependencies({f.path: (f.lang, f.text) for f in repos[repo]}, parsers)
        for lang, counts in deps.counts.items():
            totals[lang] = [a + b for a, b in zip(totals[lang], counts)]
        unresolved.update(f"{repo}: {spec}" for _, spec in deps.unresolved)
    for lang, (internal, resolved, external) in sorted(totals.items()):
        share = f"{resolved / internal:.1%}" if internal else "-"
        print(f"  {lang:10s} internal {internal:6d}  resolved {resolved:6d}  share {share:>6s}  external {external}")
    print("  most frequent unresolved: " + "; ".join(f"{k} ({v})" for k, v in unresolved.most_common(8)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=None, help="shard glob (default: out/bench-corpus/shard-*.jsonl, "
                        "built by tools/make_bench_corpus.py on first use)")
    parser.add_argument("--mb", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=32768)
    parser.add_argument("--resolution", action="store_true", help="Also print, per language, the share of "
                        "intra-repository references resolved to a file, and the most frequent unresolved ones.")
    args = parser.parse_args()
    args.corpus = args.corpus or str(ensure_corpus() / "shard-*.jsonl")
    repos = load(args.corpus, args.mb)
    if args.resolution:
        print_resolution(repos)
    mb = sum(len(f.text.encode("utf-8", "surrogatepass")) for files in repos.values() for f in files) / 1e6
    n_files = sum(len(v) for v in repos.values())
    print(f"corpus: {len(repos)} repositories, {n_files} files, {mb:.1f} MB from {args.corpus}; "
          f"one process (one core); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    results = {"ours": [], "reference": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, fn in (("ours", run_ours), ("reference", run_reference))[:: 1 if r % 2 == 0 else -1]:
                seconds, phases = fn(repos, args.max_tokens, f"{tmp}/{name}-{r}.jsonl.zst")
                results[name].append((seconds, phases))
                split = ", ".join(f"{k} {v:.2f}s" for k, v in sorted(phases.items()))
                print(f"round {r} {name:9s}: {seconds:6.2f}s  {len(repos) / seconds:7.2f} repos/s  "
                      f"{mb / seconds:6.2f} MB/s  [{split}]")
    if not args.rounds:
        return
    best = {name: min(runs, key=lambda x: x[0]) for name, runs in results.items()}
    ours_s, ours_phases = best["ours"]
    ref_s, _ = best["reference"]
    total = sum(ours_phases.values())
    print(f"\nours (best of {args.rounds}): {len(repos) / ours_s:.2f} repositories/s, {mb / ours_s:.2f} MB/s per core")
    print("  time split: " + ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in sorted(ours_phases.items())))
    print(f"reference (random order, best of {args.rounds}): {len(repos) / ref_s:.2f} repositories/s, "
          f"{mb / ref_s:.2f} MB/s per core")
    print(f"ratio ours/reference throughput: {ref_s / ours_s:.2f} (the reference parses nothing; the machine "
          "is shared, so figures are noisy)")


if __name__ == "__main__":
    main()
