"""Local executor vs Ray (2 workers) on the same input: wall time, throughput and Ray's overhead ratio.

Runs a shipped pipeline (default pipelines/github_files.yaml) over the first N shards of the benchmark corpus
with `curate run`, alternating local (2 worker processes) and Ray (a local Ray cluster with 2 CPUs, started
once by this script and stopped at the end; or --address of a running one), and checks that both produce the
same output bytes. `--split K` cuts each shard into K smaller shards (more, shorter tasks: per-task overhead
shows). The machine is shared, so rounds are interleaved and every round is printed, with where its wall time
went (read from the task logs): start-up until the first task, tasks (busy time / 2 workers), the gaps between
tasks and segments, and the end after the last task.

Needs the `ray` extra (`pip install 'curate[ray]'`, or `curate[bench]` for every benchmark).

    .venv/bin/python tools/bench/bench_cluster.py --shards 4 --rounds 3
    .venv/bin/python tools/bench/bench_cluster.py --shards 4 --split 8 --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/: the benchmark corpus builder
from make_bench_corpus import ensure_corpus  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CURATE = [sys.executable, "-m", "curate.cli"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _digest(corpus: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((corpus / "data").rglob("*")):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def run_once(pipeline: Path, shards: list[str], out: Path, executor: str, env: dict) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    # one task per input shard, as on a cluster (by default, shards are grouped into tasks of output.max_file_mb)
    task_mb = max(os.path.getsize(shard) for shard in shards) / 1e6
    cmd = [*CURATE, "run", str(pipeline), "-o", str(out), "--no-progress", "--json",
           "--set", "inputs[0].with.paths=" + json.dumps(shards), "--set", executor,
           "--set", f"output.max_file_mb={task_mb:.3f}"]
    started, clock = time.perf_counter(), time.time()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    return {"wall": wall, "run_wall": summary["wall_seconds"], "docs": summary["docs_in"],
            "mb": summary["bytes_in"] / 1e6, "digest": _digest(out),
            **where_time_went(out, clock, clock + wall, workers=2)}


def _stamp(line: str) -> float:
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f").timestamp()


def where_time_went(corpus: Path, started: float, ended: float, workers: int) -> dict:
    """Start-up, tasks, gaps and end of one run, from the first and last line of every task log; and the
    scheduling latencies: from a task ending to the next task of its segment starting (`dispatch`), and from the
    last task of a segment to the first of the next (`switch`)."""
    segments = {}
    for log in (corpus / "runs").glob("run-*/exec/*/logs/task_*.log"):
        lines = [line for line in log.read_text().splitlines() if line[:4].isdigit()]
        if lines:
            segments.setdefault(log.parent.parent.name, []).append((_stamp(lines[0]), _stamp(lines[-1])))
    spans = [span for spans in segments.values() for span in spans]
    if not spans:
        return {}
    first, last = min(s for s, _ in spans), max(e for _, e in spans)
    tasks = sum(e - s for s, e in spans) / workers
    dispatch, ordered = [], sorted(segments.values(), key=min)
    for segment in ordered:
        starts, ends = sorted(s for s, _ in segment), sorted(e for _, e in segment)
        dispatch += [max(0.0, start - ends[i]) for i, start in enumerate(starts[workers:])]
    switch = [max(0.0, min(s for s, _ in b) - max(e for _, e in a)) for a, b in zip(ordered, ordered[1:])]
    return {"startup": first - started, "tasks": tasks, "gaps": max(0.0, last - first - tasks),
            "end": ended - last, "ntasks": len(spans),
            "dispatch": sum(dispatch) / len(dispatch) if dispatch else 0.0,
            "switch": sum(switch) / len(switch) if switch else 0.0}


def split_shards(shards: list[str], pieces: int, folder: Path) -> list[str]:
    """Cut each shard into ``pieces`` shards of consecutive lines (same documents, same order)."""
    out = []
    for shard in shards:
        lines = Path(shard).read_bytes().splitlines(keepends=True)
        size = -(-len(lines) // pieces)
        for i in range(pieces):
            target = folder / f"{Path(shard).stem}-{i:03d}.jsonl"
            target.write_bytes(b"".join(lines[i * size:(i + 1) * size]))
            out.append(str(target))
    return out


class RayCluster:
    """`ray start --head --num-cpus=2` in a private temp dir; stopped by killing exactly its processes."""

    def __init__(self, cpus: int = 2):
        self.port, self.cpus = _free_port(), cpus
        self.temp_dir = tempfile.mkdtemp(prefix="bc", dir="/tmp")
        self.env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}

    def start(self) -> float:
        started = time.perf_counter()
        subprocess.run([str(Path(sys.executable).with_name("ray")), "start", "--head", f"--port={self.port}",
                        f"--num-cpus={self.cpus}", f"--temp-dir={self.temp_dir}", "--include-dashboard=false",
                        f"--ray-client-server-port={_free_port()}",
                        "--disable-usage-stats"], env=self.env, check=True, capture_output=True)
        return time.perf_counter() - started

    def stop(self) -> None:
        import psutil

        procs = []
        for proc in psutil.process_iter(["cmdline"]):
            cmd = " ".join(proc.info["cmdline"] or [])
            if self.temp_dir in cmd or f":{self.port}" in cmd:
                procs.append(proc)
                with contextlib.suppress(psutil.NoSuchProcess):
                    procs += proc.children(recursive=True)
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.terminate()
        for proc in psutil.wait_procs(procs, timeout=15)[1]:
            proc.kill()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipeline", default=str(REPO / "pipelines" / "github_files.yaml"))
    parser.add_argument("--corpus", default=None, help="Folder of shard-*.jsonl files (default: out/bench-corpus, "
                                                        "built by tools/make_bench_corpus.py on first use).")
    parser.add_argument("--shards", type=int, default=2, help="How many shards of the corpus to read.")
    parser.add_argument("--split", type=int, default=1, help="Cut each shard into this many shards.")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--address", default=None, help="An existing Ray cluster (default: start one).")
    args = parser.parse_args()

    shards = sorted(str(p) for p in ensure_corpus(args.corpus).glob("shard-*.jsonl"))[: args.shards]
    if not shards:
        raise SystemExit(f"no shard-*.jsonl in {args.corpus}")
    cluster = None if args.address else RayCluster()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    try:
        if cluster:
            print(f"ray start --head --num-cpus=2: {cluster.start():.1f} s (not counted below)")
            address = f"127.0.0.1:{cluster.port}"
        else:
            address = args.address
        work = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
        if args.split > 1:
            (work / "input").mkdir()
            shards = split_shards(shards, args.split, work / "input")
        local_exec = "executor={kind: local, workers: 2}"
        ray_exec = f"executor={{kind: ray, address: '{address}', workers: 2}}"
        rows = {"local": [], "ray": []}
        for round_no in range(args.rounds):
            for name, executor in (("local", local_exec), ("ray", ray_exec)):
                row = run_once(Path(args.pipeline), shards, work / name, executor, env)
                rows[name].append(row)
                print(f"round {round_no + 1} {name:5s}: {row['wall']:6.1f} s wall ({row['run_wall']:.1f} s in run), "
                      f"{row['mb'] / row['wall'] / 2:5.2f} MB/s/core, {row['docs'] / row['wall'] / 2:6.0f} docs/s/core"
                      f" | start-up {row['startup']:4.1f} s, tasks {row['tasks']:5.1f} s, gaps {row['gaps']:4.1f} s,"
                      f" end {row['end']:4.1f} s ({row['ntasks']} tasks; per task dispatch "
                      f"{row['dispatch'] * 1e3:4.0f} ms, per segment switch {row['switch'] * 1e3:4.0f} ms)",
                      flush=True)
        assert len({r["digest"] for r in rows["local"] + rows["ray"]}) == 1, "local and Ray outputs differ"
        local, ray = (statistics.median(r["wall"] for r in rows[k]) for k in ("local", "ray"))
        best_local, best_ray = (min(r["wall"] for r in rows[k]) for k in ("local", "ray"))
        first = rows["local"][0]
        print(f"input: {len(shards)} shards, {first['mb']:.1f} MB, {first['docs']} docs; pipeline {args.pipeline}; "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"median wall: local {local:.1f} s, ray {ray:.1f} s; overhead ratio ray/local = {ray / local:.2f} "
              f"(best of {args.rounds}: {best_ray / best_local:.2f}; same output bytes: yes)")
        shutil.rmtree(work, ignore_errors=True)
    finally:
        if cluster:
            cluster.stop()


if __name__ == "__main__":
    main()
