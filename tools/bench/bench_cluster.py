"""Local executor vs Ray (2 workers) on the same input: wall time, throughput and Ray's overhead ratio.

Runs a shipped pipeline (default pipelines/github_files.yaml) over the first N shards of the benchmark corpus
with `curate run`, alternating local (2 worker processes) and Ray (a local Ray cluster with 2 CPUs, started
once by this script and stopped at the end; or --address of a running one), and checks that both produce the
same output bytes. The machine is shared, so rounds are interleaved and every round is printed.

    .venv/bin/python tools/bench/bench_cluster.py --shards 2 --rounds 2
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
    cmd = [*CURATE, "run", str(pipeline), "-o", str(out), "--no-progress", "--json",
           "--set", "inputs[0].with.paths=" + json.dumps(shards), "--set", executor]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    return {"wall": wall, "run_wall": summary["wall_seconds"], "docs": summary["docs_in"],
            "mb": summary["bytes_in"] / 1e6, "digest": _digest(out)}


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
        local_exec = "executor={kind: local, workers: 2}"
        ray_exec = f"executor={{kind: ray, address: '{address}', workers: 2}}"
        rows = {"local": [], "ray": []}
        for round_no in range(args.rounds):
            for name, executor in (("local", local_exec), ("ray", ray_exec)):
                row = run_once(Path(args.pipeline), shards, work / name, executor, env)
                rows[name].append(row)
                print(f"round {round_no + 1} {name:5s}: {row['wall']:6.1f} s wall ({row['run_wall']:.1f} s in run), "
                      f"{row['mb'] / row['wall'] / 2:5.2f} MB/s/core, {row['docs'] / row['wall'] / 2:6.0f} docs/s/core")
        assert len({r["digest"] for r in rows["local"] + rows["ray"]}) == 1, "local and Ray outputs differ"
        local, ray = (statistics.median(r["wall"] for r in rows[k]) for k in ("local", "ray"))
        first = rows["local"][0]
        print(f"input: {len(shards)} shards, {first['mb']:.1f} MB, {first['docs']} docs; pipeline {args.pipeline}")
        print(f"median wall: local {local:.1f} s, ray {ray:.1f} s; overhead ratio ray/local = {ray / local:.2f} "
              f"(same output bytes: yes)")
        shutil.rmtree(work, ignore_errors=True)
    finally:
        if cluster:
            cluster.stop()


if __name__ == "__main__":
    main()
