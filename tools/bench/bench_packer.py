"""Benchmark of repo_packer's per-repository work on real code, one core, against a reference.

    .venv/bin/python tools/bench/bench_packer.py [--corpus 'out/bench-corpus/shard-*.jsonl'] [--mb 20]
        [--rounds 3] [--max-tokens 32768]

Reads files (fields id, text, path, repo, lang) until --mb MB, groups them by repository, and packs every
repository three ways, in alternating order over the rounds (the machine is shared and figures are noisy):

- ``ours``: everything the packer does (tree-sitter dependency queries, resolution, topological order,
  token counts, packing, rendering, writing .jsonl.zst), parsing every file itself;
- ``ours+syntax``: the same where ``treesitter_syntax`` (``dependencies: true``) ran before, as in
  ``pipelines/long_context.yaml``: the packer reuses the references recorded from the syntax step's parse. The
  syntax step's extra cost for recording them is measured separately and printed;
- ``reference``: what the open tool that exists does (dolma's contrib concatenation): the repository's files in
  random order, token counts with the same tokenizer, cut at max_tokens, written the same way.

Prints repositories/s, MB/s and the time split between parsing, graph work (resolution, ordering, components,
packing), tokenising and writing, and the throughput ratio of each of ours to the reference.

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

# Timed runs take the production path: the test helpers' metadata declaration check is off.
os.environ.setdefault("CURATE_CHECK_METADATA", "0")

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


def record_dependencies(repos) -> dict[str, float]:
    """Run treesitter_syntax (annotate only) over every file, with and without ``dependencies``; copy the
    recorded references into the files' metadata. Returns the syntax step's CPU seconds for each setting."""
    from curate.testing import apply_step, make_doc
    from curate_plugins.treesitter_syntax import TreesitterSyntax

    files = [f for name in sorted(repos) for f in repos[name]]
    seconds = {}
    for dependencies in (False, True):
        docs = [make_doc(f.text, f.id, lang=f.lang, path=f.path) for f in files]
        started = time.process_time()
        kept = apply_step(TreesitterSyntax({"drop": False, "dependencies": dependencies}), docs).kept
        seconds["with" if dependencies else "without"] = time.process_time() - started
    for f, doc in zip(files, kept):
        if "syntax.dependencies" in doc.metadata:
            f.metadata["syntax.dependencies"] = doc.metadata["syntax.dependencies"]
    return seconds


def without_records(repos):
    return {name: [RepoFile(f.id, f.path, f.lang, f.text, {}) for f in files] for name, files in repos.items()}


def run_ours(repos, max_tokens: int, out: str) -> tuple[float, dict]:
    core = RepoPackerCore(PackConfig(max_tokens=max_tokens))
    core.tokens.count(["warm up"])
    shard = JsonlZstShard(out)
    start = time.process_time()
    for repo in sorted(repos):
        result = core.pack(repo, repos[repo])
        with core.timer("write"):
            for record in result.sequences:
                shard.write(record)
    with core.timer("write"):
        shard.commit()
    return time.process_time() - start, dict(core.timer.seconds)


def run_reference(repos, max_tokens: int, out: str) -> tuple[float, dict]:
    """Random-order concatenation (dolma contrib style), same tokenizer and writer."""
    tokens, timer = TokenCounter("builtin"), Timer()
    tokens.count(["warm up"])
    shard = JsonlZstShard(out)
    start = time.process_time()
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
    return time.process_time() - start, dict(timer.seconds)


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
    syntax = record_dependencies(repos)
    recorded = sum("syntax.dependencies" in f.metadata for files in repos.values() for f in files)
    print(f"treesitter_syntax over these files: {syntax['without']:.2f} s CPU, {syntax['with']:.2f} s with "
          f"dependencies: true (+{syntax['with'] - syntax['without']:.2f} s moved out of the packer); "
          f"references recorded for {recorded} files")
    variants = {"ours": (run_ours, without_records(repos)), "ours+syntax": (run_ours, repos),
                "reference": (run_reference, without_records(repos))}
    results = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name in list(variants)[:: 1 if r % 2 == 0 else -1]:
                fn, data = variants[name]
                seconds, phases = fn(data, args.max_tokens, f"{tmp}/{name}-{r}.jsonl.zst")
                results[name].append((seconds, phases))
                split = ", ".join(f"{k} {v:.2f}s" for k, v in sorted(phases.items()))
                print(f"round {r} {name:11s}: {seconds:6.2f}s  {len(repos) / seconds:7.2f} repos/s  "
                      f"{mb / seconds:6.2f} MB/s  [{split}]")
    if not args.rounds:
        return
    best = {name: min(runs, key=lambda x: x[0]) for name, runs in results.items()}
    ref_s, _ = best["reference"]
    print(f"\nreference (random order, best of {args.rounds}): {len(repos) / ref_s:.2f} repositories/s, "
          f"{mb / ref_s:.2f} MB/s per core")
    for name in ("ours", "ours+syntax"):
        seconds, phases = best[name]
        total = sum(phases.values())
        print(f"{name} (best of {args.rounds}): {len(repos) / seconds:.2f} repositories/s, {mb / seconds:.2f} MB/s "
              f"per core; time split: " + ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in sorted(phases.items())))
        print(f"  ratio {name}/reference throughput: {ref_s / seconds:.2f}")
    print("(the reference parses nothing; ratios are measured in the same run, on a shared machine)")


if __name__ == "__main__":
    main()
