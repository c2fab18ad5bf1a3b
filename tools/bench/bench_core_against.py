#!/usr/bin/env python3
"""The core benchmark's curate pipeline (tools/bench/bench_core.py), run by this checkout and by another one
(e.g. main) interleaved in one invocation, and their throughput ratio: how much a change costs `curate run`.

Usage:
    python tools/bench/bench_core_against.py --against /path/to/other/checkout [--corpus DIR] [--repeat 3]

Each run is a fresh subprocess whose PYTHONPATH puts that checkout's ``curate`` and ``curate_plugins`` first;
the time measured is ``run_pipeline`` only (imports excluded): wall time, and the CPU time of the process (one
worker runs every task in it, so CPU time is the work done whatever else the machine runs). Best of
``--repeat``; the two alternate which goes first. ``--against`` this very checkout measures the noise floor.
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
started, cpu = time.perf_counter(), time.process_time()
result = run_pipeline_dict(pipeline, workers=1)
print(json.dumps({"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu,
                  "docs_out": result.summary["docs_out"]}))
"""


def timed_run(checkout: Path, corpus: Path) -> dict:
    out = Path(tempfile.mkdtemp(prefix="bench-against-"))
    pipeline = {"name": "bench", "inputs": [{"source": "jsonl", "with": {"paths": [str(corpus / "*.jsonl")]}}],
                "output": {"dir": str(out / "corpus"), "keep_excluded": False}, "steps": STEPS}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(checkout), str(checkout / "plugins")]),
           "CURATE_CHECK_METADATA": "0"}  # the test helpers' declaration check is not part of a run
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
    best = {name: float("inf") for name in checkouts}
    cpu, outputs = dict(best), {}
    load = os.getloadavg()[0]
    for round_ in range(args.repeat):
        order = list(checkouts.items())
        for name, checkout in order if round_ % 2 == 0 else order[::-1]:  # interleaved, alternating who goes first
            result = timed_run(checkout, corpus)
            best[name] = min(best[name], result["seconds"])
            cpu[name] = min(cpu[name], result["cpu"])
            outputs[name] = result["docs_out"]
    print(f"corpus: {corpus} ({mb:.0f} MB of JSONL), 1 worker, best of {args.repeat}; load {load:.1f} -> "
          f"{os.getloadavg()[0]:.1f}")
    for name in checkouts:
        print(f"{name:60s} wall {best[name]:7.2f} s {mb / best[name]:6.2f} MB/s | CPU {cpu[name]:7.2f} s "
              f"{mb / cpu[name]:6.2f} MB/s per core | docs out {outputs[name]:,}")
    other = f"other ({args.against})"
    print(f"throughput ratio this / other: wall {best[other] / best['this checkout']:.3f}, "
          f"CPU {cpu[other] / cpu['this checkout']:.3f} (a drop of at most 5% is >= 0.95)")


if __name__ == "__main__":
    main()
