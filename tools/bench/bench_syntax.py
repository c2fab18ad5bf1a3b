"""Benchmark: treesitter_syntax inside a curate pipeline vs the raw tree-sitter parse loop (the floor).

    python tools/bench/bench_syntax.py                       # 16 MB of out/bench-corpus, 3 rounds
    python tools/bench/bench_syntax.py --mb 40 --rounds 5 --corpus out/bench-corpus

Per core, in one process, CPU time (the machine is shared: CPU time is far less noisy than wall time), on
the same documents and bytes:
  floor             for each document: parser.parse(text.encode()) with its grammar, then root.has_error
                    (parsers created before timing)
  plugin            the plugin's run loop (Filter.run, as in a pipeline): encode, parse with timeout, error
                    stats, Python 3 checks, .h C++ fallback, policy, metadata, counters; default params
  plugin-structure  the same with `structure: true`
  pipeline-busy     the step's busy time inside a real pipeline run (jsonl -> treesitter_syntax -> jsonl.zst)
  pipeline-cpu      that whole run's CPU time (reading, writing, planning included)
The ratio plugin/floor is the figure to watch (target >= 0.8). Rounds interleave all variants; the best
round of each is reported.

Needs the `bench` extra (`pip install -e '.[bench]'`); the core install is enough for this one.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

# Timed runs take the production path: the test helpers' metadata declaration check is off.
os.environ.setdefault("CURATE_CHECK_METADATA", "0")

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/: the benchmark corpus builder
from make_bench_corpus import ensure_corpus  # noqa: E402


def load_docs(corpus: str, mb: float) -> list[dict]:
    """About ``mb`` MB of documents with a grammar, every N-th one across all shards (all languages)."""
    from curate_plugins.lib.treesitter import grammar_for

    records = []
    for path in sorted(glob.glob(f"{corpus}/shard-*.jsonl")):
        with open(path, "rb") as handle:
            records += [r for r in map(orjson.loads, handle) if grammar_for(r.get("lang"), r.get("path"))]
    total = sum(len(r["text"].encode()) for r in records)
    stride = max(1, int(total / (mb * 1e6)))
    return [{"id": r["id"], "text": r["text"], "path": r["path"], "lang": r["lang"]} for r in records[::stride]]


def raw_floor(docs: list[dict]) -> float:
    import tree_sitter

    from curate_plugins.lib.treesitter import grammar_for, load_language

    parsers = {}
    for doc in docs:
        grammar = grammar_for(doc["lang"], doc["path"])
        parsers.setdefault(grammar, tree_sitter.Parser(load_language(grammar)))
    jobs = [(parsers[grammar_for(d["lang"], d["path"])], d["text"]) for d in docs]
    started = time.process_time()
    errors = 0
    for parser, text in jobs:
        errors += parser.parse(text.encode()).root_node.has_error
    return time.process_time() - started


def plugin_loop(docs: list[dict], structure: bool) -> float:
    """CPU seconds of the plugin's own run loop (Filter.run: counters, parse, policy, metadata)."""
    from curate.testing import apply_step, make_doc
    from curate_plugins.treesitter_syntax import TreesitterSyntax

    batch = [make_doc(d["text"], d["id"], path=d["path"], lang=d["lang"]) for d in docs]
    plugin = TreesitterSyntax({"structure": structure})
    started = time.process_time()
    apply_step(plugin, batch)
    return time.process_time() - started


def pipeline_run(shard: Path, out: Path, structure: bool) -> tuple[float, float]:
    """(busy seconds of the syntax step, CPU seconds of the whole run; one worker runs in this process)."""
    from curate.testing import run_pipeline_dict

    shutil.rmtree(out, ignore_errors=True)
    pipeline = {"name": "bench-syntax", "inputs": [{"source": "jsonl", "with": {"paths": [str(shard)]}}],
                "output": {"dir": str(out), "format": "jsonl.zst", "keep_excluded": True},
                "executor": {"kind": "local", "workers": 1},
                "steps": [{"uses": "treesitter_syntax", "with": {"structure": structure}}]}
    started = time.process_time()
    result = run_pipeline_dict(pipeline, workers=1)
    wall = time.process_time() - started
    step = next(s for s in result.summary["steps"] if s["step_id"] == "treesitter_syntax")
    return step["busy"], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=None, help="default: out/bench-corpus (tools/make_bench_corpus.py)")
    parser.add_argument("--mb", type=float, default=16.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    args.corpus = str(ensure_corpus(args.corpus))
    docs = load_docs(args.corpus, args.mb)
    nbytes = sum(len(d["text"].encode()) for d in docs)
    mb, n = nbytes / 1e6, len(docs)
    langs = {}
    for d in docs:
        langs[d["lang"]] = langs.get(d["lang"], 0) + 1
    print(f"{n} documents, {mb:.1f} MB from {args.corpus} ({', '.join(f'{k} {v}' for k, v in sorted(langs.items()))})")
    with tempfile.TemporaryDirectory() as tmp:
        shard = Path(tmp) / "shard.jsonl"
        shard.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
        keys = ("floor", "plugin", "plugin-structure", "pipeline-busy", "pipeline-cpu")
        best = dict.fromkeys(keys, float("inf"))
        for round_ in range(args.rounds):
            times = {"floor": raw_floor(docs), "plugin": plugin_loop(docs, False),
                     "plugin-structure": plugin_loop(docs, True)}
            times["pipeline-busy"], times["pipeline-cpu"] = pipeline_run(shard, Path(tmp) / "out", structure=False)
            print(f"round {round_ + 1}: " + "  ".join(f"{k} {mb / v:5.2f}" for k, v in times.items()) + " MB/s")
            for key, value in times.items():
                best[key] = min(best[key], value)
    print("\nbest of rounds, per core (one process; CPU time, so other load on the machine counts less):")
    for key in keys:
        print(f"  {key:<18} {mb / best[key]:7.2f} MB/s  {n / best[key]:8.1f} docs/s")
    print(f"  ratio plugin / raw parse floor: {best['floor'] / best['plugin']:.2f}  (with structure statistics: "
          f"{best['floor'] / best['plugin-structure']:.2f}; whole pipeline incl. read/write: "
          f"{best['floor'] / best['pipeline-cpu']:.2f})")


if __name__ == "__main__":
    main()
