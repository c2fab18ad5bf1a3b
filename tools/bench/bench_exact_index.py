#!/usr/bin/env python3
"""exact_dedup's persistent index over many incremental runs: per-run cost and file count, with size-tiered
compaction (``compaction_fanout``, the default 4) against the former layout (one part per run, never merged).

Each run brings ``--keys`` new SHA-256 digests (of distinct strings) plus 10% repeats of digests kept by earlier
runs; a run = look every digest up in the committed index, add the new ones as a part, compact, stage, commit,
garbage-collect (exactly what the stage and the runner do). Printed at a few run counts: seconds of that run,
parts searched, files on disk, and entries rewritten by compaction so far per entry (amortised O(log runs)).

Usage: python tools/bench/bench_exact_index.py [--runs 200] [--keys 20000]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from curate import IndexStore
from curate_plugins.lib.dedup_index import KeyIndex


def digests(numbers) -> np.ndarray:
    return np.frombuffer(b"".join(hashlib.sha256(b"doc-%d" % i).digest()[:16] for i in numbers), dtype="S16")


def one_run(store: IndexStore, run: int, keys: int, fanout: int | None) -> tuple[float, int]:
    run_id = f"run-{run:05d}"
    new = digests(range((run - 1) * keys, run * keys))
    earlier = np.random.default_rng(run).choice((run - 1) * keys, keys // 10, replace=False) if run > 1 else []
    repeats = digests(earlier)
    batch = np.concatenate([new, repeats])
    started = time.perf_counter()
    index = KeyIndex(store, store.parts())
    found = index.lookup(batch)
    assert len(found) == len(repeats)
    index.add(run_id, new, [f"{run_id}/{i}" for i in range(len(new))])
    if fanout:
        index.compact(run_id, fanout)
    store.stage(run_id, index.parts, {"level": "file"})
    store.commit(run_id)
    store.gc(keep=6)
    return time.perf_counter() - started, len(index.parts)


def files_under(path: Path) -> int:
    return sum(1 for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--keys", type=int, default=20000, help="new documents per run")
    args = ap.parse_args()
    marks = sorted({1, 10, 50, 100, args.runs} & set(range(1, args.runs + 1)))
    print(f"{args.runs} runs x {args.keys:,} new digests (+10% repeats); load {os.getloadavg()[0]:.1f}")
    print(f"{'layout':28s} {'run':>5s} {'s/run':>7s} {'parts':>6s} {'files':>6s} {'rewrites/entry':>15s}")
    for label, fanout in (("compacted (fanout 4)", 4), ("one part per run (before)", None)):
        root = Path(tempfile.mkdtemp(prefix="bench-exact-index-"))
        store = IndexStore(str(root / "idx"))
        try:
            for run in range(1, args.runs + 1):
                seconds, parts = one_run(store, run, args.keys, fanout)
                if run in marks:
                    rewrites = _rewrites(store) / (run * args.keys)
                    print(f"{label:28s} {run:5d} {seconds:7.3f} {parts:6d} {files_under(root / 'idx'):6d} "
                          f"{rewrites:15.2f}")
        finally:
            shutil.rmtree(root, ignore_errors=True)


def _rewrites(store: IndexStore) -> int:
    """Entries written by merges so far, estimated from the committed parts: each entry of a level-L part was
    written L times by compaction."""
    return sum(p.entries * p.level for p in store.current().parts)


if __name__ == "__main__":
    main()
