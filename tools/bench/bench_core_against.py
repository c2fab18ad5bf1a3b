#!/usr/bin/env python3
"""The core benchmark's curate pipeline (tools/bench/bench_core.py), run by this checkout and by another one
(e.g. main) interleaved in one invocation, and their throughput ratio: how much a change costs `curate run`.

Usage:
    python tools/bench/bench_core_against.py --against /path/to/other/checkout [--corpus DIR] [--repeat 3]

Each run is a fresh subprocess whose PYTHONPATH puts that checkout's ``curate`` and ``curate_plugins`` first;
the time measured is ``run_pipeline`` only (imports excluded). Best of ``--repeat``; the two alternate which
goes first. ``--against`` this very checkout measures the noise floor of the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_core import REPO, corpus_dir

STEPS = [{"uses": "language_from_extension"}, {"uses": "exact_dedup"}, {"uses": "code_heuristics"}]
CHILD = """
import json, sys, time
from curate.testing import run_pipeline_dict
pipeline = json.loads(sys.argv[1])
started = time.perf_counter()
result = run_pipeline_dict(pipeline, workers=1)
print(json.dumps({"seconds": time.perf_counter() - started, "docs_out": result.summary["docs_out"]}))
"""


def timed_run(checkout: Path, corpus: Path) -> dict:
    out = Path(tempfile.mkdtemp(prefix="bench-against-"))
    pipeline = {"name": "bench", "inputs": [{"source": "jsonl", "with": {"paths": [str(corpus / "*.jsonl")]}}],
                "output": {"dir": str(out / "corpus"), "keep_excluded": False}, "steps": STEPS}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(checkout), str(checkout / "plugins")])}
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(pipeline)], capture_output=True, text=True,
                              env=env, check=True)
        return json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--against", required=True, type=Path, help="the other checkout (e.g. a copy of main)")
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    corpus = corpus_dir(args.corpus)
    mb = sum(f.stat().st_size for f in corpus.glob("*.jsonl")) / 1e6
    checkouts = {"this checkout": REPO, f"other ({args.against})": args.against.resolve()}
    best, outputs = {name: float("inf") for name in checkouts}, {}
    for round_ in range(args.repeat):
        order = list(checkouts.items())
        for name, checkout in order if round_ % 2 == 0 else order[::-1]:  # interleaved, alternating who goes first
            result = timed_run(checkout, corpus)
            best[name] = min(best[name], result["seconds"])
            outputs[name] = result["docs_out"]
    print(f"corpus: {corpus} ({mb:.0f} MB of JSONL), 1 worker, best of {args.repeat}; load: {os.getloadavg()[0]:.1f}")
    for name, seconds in best.items():
        print(f"{name:60s} {seconds:8.2f} s  {mb / seconds:6.2f} MB/s  docs out {outputs[name]:,}")
    this, other = best["this checkout"], best[f"other ({args.against})"]
    print(f"throughput ratio this / other: {other / this:.3f} (a drop of at most 5% is >= 0.95)")


if __name__ == "__main__":
    main()
