"""Incremental runs whose cost should not grow with history: the same small batch added run after run.

    python tools/bench/bench_incremental.py                    # 50 runs of ~0.7 MB, both pipelines
    python tools/bench/bench_incremental.py --runs 10 --piece-mb 0.3 --variants full

The scenario of issue 17: real code from the benchmark corpus (``tools/make_bench_corpus.py``) cut into
``--runs`` pieces of about ``--piece-mb`` MB (round-robin over the documents, so every piece has the same
mix and each has duplicates in earlier pieces), then added to one corpus one piece per run with ``curate run``,
as a user would. Two corpora are grown side by side, their runs interleaved so that both see the same load:

- ``full``:  language_from_extension -> exact_dedup -> minhash_dedup -> code_heuristics
- ``floor``: the same without minhash_dedup (the cost every run pays anyway)

Per run: wall time and CPU time (user + system) of the whole process tree of ``curate run`` (the CLI, the
executor's workers, everything they start; measured exactly, see tools/bench/proctree.py), the run's own
``wall_seconds`` from its summary (execution only; the rest is start-up, planning and publishing), and the
state directory's files and bytes (indexes, manifest, snapshots) and the persistent indexes' files and bytes.
At the end: the first and last run's times and their ratio (target: last <= 1.3x first), the same for the
mean of the first and last five runs (steadier on a shared machine), the growth of CPU time per run of
history (least-squares slope), and the index's bytes per input byte.

Needs the `bench` extra (`pip install -e '.[bench]'`: psutil). CPU time is steadier than wall time on a shared
machine: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import shutil
import statistics
import sys
from pathlib import Path

import orjson
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tools/: the benchmark corpus builder
sys.path.insert(0, str(HERE))
from make_bench_corpus import ensure_corpus  # noqa: E402
from proctree import measure  # noqa: E402

STEPS = {
    "full": ["language_from_extension", "exact_dedup", "minhash_dedup", "code_heuristics"],
    "floor": ["language_from_extension", "exact_dedup", "code_heuristics"],
}
TARGET = 1.3


def cut_pieces(corpus: Path, runs: int, piece_mb: float) -> list[list[bytes]]:
    """``runs`` pieces of about ``piece_mb`` MB each: the corpus's documents in order, each dealt to the piece
    holding the fewest bytes so far, so that every piece has the same size and the same mix. Documents larger
    than a quarter of a piece are left out (one would make its run an outlier)."""
    need, size, records = runs * piece_mb * 1e6, 0, []
    for shard in sorted(corpus.glob("shard-*.jsonl")):
        for line in shard.open("rb"):
            nbytes = len(orjson.loads(line)["text"].encode("utf-8", "surrogatepass"))
            if nbytes > piece_mb * 1e6 / 4:
                continue
            records.append((line, nbytes))
            size += nbytes
            if size >= need:
                break
        if size >= need:
            break
    if size < need * 0.95:
        raise SystemExit(f"the corpus in {corpus} holds {size / 1e6:.1f} MB, less than --runs x --piece-mb = "
                         f"{need / 1e6:.1f} MB; build a bigger one (tools/make_bench_corpus.py --mb)")
    pieces: list[list[bytes]] = [[] for _ in range(runs)]
    heap = [(0, i) for i in range(runs)]
    for line, nbytes in records:
        filled, i = heapq.heappop(heap)
        pieces[i].append(line)
        heapq.heappush(heap, (filled + nbytes, i))
    return pieces


def text_bytes(lines: list[bytes]) -> int:
    return sum(len(orjson.loads(line)["text"].encode("utf-8", "surrogatepass")) for line in lines)


def write_pipeline(root: Path, variant: str) -> Path:
    """The variant's pipeline file, reading every piece added so far from ``root/pieces``."""
    pipeline = {"name": f"bench-incremental-{variant}",
                "inputs": [{"source": "jsonl", "with": {"paths": [str(root / "pieces" / "*.jsonl")]}}],
                "output": {"dir": str(root / "corpus")},
                "steps": [{"uses": name} for name in STEPS[variant]]}
    (root / "pieces").mkdir(parents=True)
    path = root / "pipeline.yaml"
    path.write_text(yaml.safe_dump(pipeline, sort_keys=False))
    return path


def folder_usage(folder: Path) -> tuple[int, int]:
    """(files, bytes) under ``folder``."""
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
    return len(files), sum(p.stat().st_size for p in files)


def live_index(step: Path) -> tuple[int, int]:
    """(parts, bytes) of the index a next run reads: the parts of the committed snapshot (CURRENT)."""
    from curate import IndexStore

    parts = IndexStore(str(step)).parts()
    sizes = [folder_usage(path)[1] if path.is_dir() else path.stat().st_size
             for path in (step / "parts" / part.name for part in parts) if path.exists()]
    return len(parts), sum(sizes)


def state_figures(corpus: Path) -> dict:
    """Files and bytes of the state directory, of its persistent indexes (on disk, and the live part of them),
    and of the run records."""
    state = corpus / "state"
    steps = [step for step in sorted((state / "index").glob("*")) if step.is_dir()]
    index = {step.name: folder_usage(step) for step in steps}
    return {"state": folder_usage(state), "index": index, "live": {step.name: live_index(step) for step in steps},
            "runs": folder_usage(corpus / "runs"), "index_files": sum(f for f, _ in index.values()),
            "index_bytes": sum(b for _, b in index.values())}


def run_once(pipeline: Path, workers: int) -> dict:
    cmd = [sys.executable, "-m", "curate.cli", "run", str(pipeline), "-w", str(workers), "--no-progress", "--json"]
    m = measure(cmd, env={**os.environ, "PYTHONHASHSEED": "0", "CURATE_CHECK_METADATA": "0"})
    if m.returncode:
        sys.stderr.write(m.stderr[-4000:])
        raise SystemExit(f"curate run failed with exit code {m.returncode}: {' '.join(cmd)}")
    summary = json.loads(m.stdout)
    return {"wall": m.wall, "cpu": m.cpu, "inner": summary["wall_seconds"], "peak_mb": m.peak_process_mb,
            "docs_out": summary["docs_out"], "stray": m.stray}


def slope(values: list[float]) -> float:
    """Least-squares slope of ``values`` against their position (seconds per run of history)."""
    n = len(values)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, statistics.fmean(values)
    return sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values)) / sum((i - mean_x) ** 2 for i in range(n))


def print_row(run: int, variant: str, input_mb: float, r: dict, fig: dict) -> None:
    state_files, state_bytes = fig["state"]
    print(f"{run:>4} {variant:<6}{input_mb:>8.1f}{r['wall']:>8.2f}{r['cpu']:>7.2f}{r['inner']:>8.2f}"
          f"{r['wall'] - r['inner']:>8.2f}{r['peak_mb']:>8.0f}{state_files:>7}{state_bytes / 1e6:>8.2f}"
          f"{fig['index_files']:>7}{fig['index_bytes'] / 1e6:>8.2f}{fig['runs'][0]:>7}", flush=True)


def report(variant: str, rows: list[dict], input_bytes: int, fig: dict) -> None:
    first, last = rows[0], rows[-1]
    k = min(5, len(rows))
    head = {key: statistics.fmean(r[key] for r in rows[:k]) for key in ("wall", "cpu")}
    tail = {key: statistics.fmean(r[key] for r in rows[-k:]) for key in ("wall", "cpu")}
    ratio_cpu, ratio_wall = last["cpu"] / first["cpu"], last["wall"] / first["wall"]
    print(f"\n{variant}: {' -> '.join(STEPS[variant])}")
    print(f"  first run {first['wall']:.2f} s wall, {first['cpu']:.2f} s CPU; last (run {len(rows)}) "
          f"{last['wall']:.2f} s wall, {last['cpu']:.2f} s CPU; last/first {ratio_wall:.2f}x wall, "
          f"{ratio_cpu:.2f}x CPU (target <= {TARGET}x: {'met' if ratio_cpu <= TARGET else 'NOT met'})")
    print(f"  mean of the first {k} / last {k} runs: {head['wall']:.2f} / {tail['wall']:.2f} s wall "
          f"({tail['wall'] / head['wall']:.2f}x), {head['cpu']:.2f} / {tail['cpu']:.2f} s CPU "
          f"({tail['cpu'] / head['cpu']:.2f}x)")
    growth = slope([r["cpu"] for r in rows])
    print(f"  CPU growth: {growth * 1000:+.1f} ms per run of history (least squares; "
          f"{growth * 365:+.1f} s per run after a year of daily runs)")
    for step, (files, nbytes) in fig["index"].items():
        parts, live = fig.get("live", {}).get(step, (0, 0))
        print(f"  index {step}: {files} files, {nbytes / 1e6:.2f} MB, {nbytes / input_bytes:.3f} bytes per input "
              f"byte on disk (snapshots kept for rollback included); live (CURRENT): {parts} parts, "
              f"{live / 1e6:.2f} MB, {live / input_bytes:.3f} bytes per input byte")
    state_files, state_bytes = fig["state"]
    print(f"  state/: {state_files} files, {state_bytes / 1e6:.2f} MB; runs/: {fig['runs'][0]} files, "
          f"{fig['runs'][1] / 1e6:.2f} MB; input {input_bytes / 1e6:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50, help="incremental runs (default 50)")
    parser.add_argument("--piece-mb", type=float, default=0.7, help="input added per run, MB (default 0.7)")
    parser.add_argument("--variants", default="full,floor", help="full, floor or both (default both)")
    parser.add_argument("--workers", type=int, default=1, help="curate run -w (default 1)")
    parser.add_argument("--corpus", default=None, help="folder of shard-*.jsonl (default: the benchmark corpus)")
    parser.add_argument("--scratch", default=str(HERE.parents[1] / "out" / "bench_incremental"))
    parser.add_argument("--json", default=None, metavar="FILE", help="also write every row to FILE")
    args = parser.parse_args()
    variants = args.variants.split(",")
    if unknown := set(variants) - set(STEPS):
        parser.error(f"unknown variants {sorted(unknown)}; choose from {sorted(STEPS)}")
    if args.runs < 1 or args.piece_mb <= 0:
        parser.error("--runs must be at least 1 and --piece-mb positive")
    pieces = cut_pieces(ensure_corpus(args.corpus), args.runs, args.piece_mb)
    scratch = Path(args.scratch)
    shutil.rmtree(scratch, ignore_errors=True)
    pipelines = {v: write_pipeline(scratch / v, v) for v in variants}
    print(f"{args.runs} runs of ~{args.piece_mb:g} MB, workers={args.workers}, load average "
          f"{os.getloadavg()[0]:.1f} at start (2-core machine shared with other jobs: CPU time is the steadier "
          "figure)")
    print("wall/CPU: the whole `curate run` process tree; run: the run's own wall_seconds (execution); "
          "other: wall - run (start-up, planning, publishing)")
    print(f"{'run':>4} {'pipe':<6}{'in MB':>8}{'wall s':>8}{'CPU s':>7}{'run s':>8}{'other s':>8}{'peak MB':>8}"
          f"{'state':>7}{'st MB':>8}{'index':>7}{'idx MB':>8}{'runs/':>7}")
    rows: dict[str, list[dict]] = {v: [] for v in variants}
    input_bytes = 0
    for run, piece in enumerate(pieces, start=1):
        input_bytes += text_bytes(piece)
        for variant in variants:
            (scratch / variant / "pieces" / f"piece-{run:04d}.jsonl").write_bytes(b"".join(piece))
            result = run_once(pipelines[variant], args.workers)
            fig = state_figures(scratch / variant / "corpus")
            rows[variant].append({**result, "run": run, "input_bytes": input_bytes, **fig})
            print_row(run, variant, input_bytes / 1e6, result, fig)
    for variant in variants:
        report(variant, rows[variant], input_bytes, rows[variant][-1])
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
