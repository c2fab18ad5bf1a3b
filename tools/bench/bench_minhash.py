"""Benchmark of the whole ``minhash_dedup`` stage against datatrove's four MinHash stages and datasketch's
MinHashLSH, on real code with planted near-duplicates.

    python tools/bench/bench_minhash.py                       # full out/bench-corpus, 600 planted copies
    python tools/bench/bench_minhash.py --mb 20 --planted 100 # a quick subset
    python tools/bench/bench_minhash.py --scaling 10,40,150   # peak memory of our stage vs corpus size

Every system runs in its own subprocess (peak RSS of the largest process and of the whole process tree,
sampled every 0.1 s; CPU: user+sys of every process of the tree, as last sampled, so a process's final
0.1 s is missed: the CPU figures are slight underestimates for every system alike). The same input and
parameters for all: 5-gram shingles over identifier tokens (datatrove gets our tokenizer and no text normalisation),
Jaccard 0.7, and by default 32 bands × 8 rows, the layout minhash_dedup derives with verification on (datatrove:
32 buckets × 8 hashes; datasketch: MinHashLSH(num_perm=256, params=(32, 8))); `--bands 25 --rows 10` gives
BigCode's layout.
Runs are interleaved (ours, datatrove, datasketch, then again with --repeat); the machine is shared with other
jobs, so wall-clock figures are noisy: compare the CPU-time figures (MB per CPU-second = MB/s per core).

Needs the `bench` extra (`pip install -e '.[bench]'`: datasketch, psutil, datatrove's MinHash stages).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/: the benchmark corpus builder
from make_bench_corpus import ensure_corpus  # noqa: E402

THRESHOLD, NGRAM, BANDS, ROWS = 0.7, 5, 32, 8  # minhash_dedup defaults (verify on); --bands 25 --rows 10: BigCode


def _set_layout() -> None:
    """--bands/--rows reach the child processes through the environment."""
    global BANDS, ROWS
    if os.environ.get("BENCH_MINHASH_LAYOUT"):
        BANDS, ROWS = map(int, os.environ["BENCH_MINHASH_LAYOUT"].split("x"))


# ---- input ------------------------------------------------------------------------------------------------

def build_input(corpus: Path, out: Path, mb: float | None, planted: int, shards: int, seed: int = 0) -> dict:
    """Copy (a prefix of) the corpus into ``shards`` JSONL files and plant near-duplicates of random files."""
    from curate_plugins._minhash.near_duplicates import near_duplicate

    records, size = [], 0
    for path in sorted(corpus.glob("shard-*.jsonl")):
        for line in path.open("rb"):
            rec = orjson.loads(line)
            records.append({"id": rec["id"], "text": rec["text"]})
            size += len(rec["text"].encode("utf-8", "surrogatepass"))
            if mb and size >= mb * 1e6:
                break
        if mb and size >= mb * 1e6:
            break
    rng = random.Random(seed)
    sources = rng.sample([r for r in records if len(r["text"]) > 500], planted)
    copies = []
    for i, src in enumerate(sources):
        text, edits = near_duplicate(src["text"], rng)
        copies.append({"id": f"planted-{i:05d}", "text": text, "source": src["id"], "edits": edits})
    docs = records + [{"id": c["id"], "text": c["text"]} for c in copies]
    rng.shuffle(docs)
    out.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        with open(out / f"shard-{s:05d}.jsonl", "wb") as handle:
            handle.writelines(orjson.dumps(d) + b"\n" for d in docs[s::shards])
    total = sum(len(d["text"].encode("utf-8", "surrogatepass")) for d in docs)
    texts = {r["id"]: r["text"] for r in records}
    pairs = [{"copy": c["id"], "source": c["source"], "jaccard": _true_jaccard(c["text"], texts[c["source"]])}
             for c in copies]
    return {"docs": len(docs), "bytes": total, "pairs": pairs}


def _true_jaccard(a: str, b: str) -> float:
    from curate_plugins._minhash.hashing import jaccard, shingle_set

    return jaccard(shingle_set(a, NGRAM), shingle_set(b, NGRAM))


# ---- the three systems (each runs in a child process) ----------------------------------------------------

def run_ours(input_dir: Path, work: Path, workers: int) -> list[str]:
    from curate.testing import read_excluded, run_pipeline_dict

    pipeline = {"name": "bench-minhash", "inputs": [{"source": "jsonl", "with": {"paths": [f"{input_dir}/*.jsonl"]}}],
                "output": {"dir": str(work / "out")},
                "steps": [{"uses": "minhash_dedup", "with": {"threshold": THRESHOLD, "ngram": NGRAM, "bands": BANDS,
                                                              "rows": ROWS, "keep": "first"}}]}
    run_pipeline_dict(pipeline, workers=workers)
    return [r["id"] for r in read_excluded(work / "out") if r["metadata"].get("drop.reason") == "near_duplicate"]


def run_datatrove(input_dir: Path, work: Path, workers: int) -> list[str]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.text import TextNormConfig
    from minhash_datatrove_compat import IdentifierTokenizer, xxhash64_utf8

    tasks = len(list(input_dir.glob("*.jsonl")))
    no_norm = TextNormConfig(lowercase=False, norm_whitespace=False, remove_punctuation=False,
                             norm_unicode_diacritics=False, norm_numbers=False)
    config = MinhashConfig(n_grams=NGRAM, num_buckets=BANDS, hashes_per_bucket=ROWS, seed=1, norm_config=no_norm)
    signature = MinhashDedupSignature(output_folder=str(work / "sigs"), config=config)
    signature.word_tokenizer = IdentifierTokenizer()
    signature._hash_func = xxhash64_utf8  # xxhash 4 refuses str; datatrove passes str

    def reader():
        return JsonlReader(str(input_dir), glob_pattern="*.jsonl", compression=None)

    stages = [
        ([reader(), signature], tasks, "sig"),
        ([MinhashDedupBuckets(input_folder=str(work / "sigs"), output_folder=str(work / "buckets"), config=config)],
         BANDS, "buckets"),
        ([MinhashDedupCluster(input_folder=str(work / "buckets"), output_folder=str(work / "remove_ids"),
                              config=config)], 1, "cluster"),
        ([reader(), MinhashDedupFilter(input_folder=str(work / "remove_ids"),
                                       exclusion_writer=JsonlWriter(str(work / "removed"), compression=None)),
          JsonlWriter(str(work / "deduped"), compression=None)], tasks, "filter"),
    ]
    for steps, n, name in stages:
        LocalPipelineExecutor(pipeline=steps, tasks=n, workers=min(workers, n),
                              logging_dir=str(work / "logs" / name)).run()
    return [json.loads(line)["id"] for f in sorted((work / "removed").glob("*.jsonl")) for line in f.open()]


def run_datasketch(input_dir: Path, work: Path, workers: int) -> list[str]:
    from datasketch import MinHash, MinHashLSH

    from curate_plugins._minhash.hashing import tokens

    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=256, params=(BANDS, ROWS))
    dropped = []
    for path in sorted(input_dir.glob("*.jsonl")):
        for line in path.open("rb"):
            doc = orjson.loads(line)
            words = tokens(doc["text"])
            if not words:
                continue
            shingles = {b" ".join(words[i:i + NGRAM]) for i in range(max(1, len(words) - NGRAM + 1))}
            sketch = MinHash(num_perm=256, seed=1)
            sketch.update_batch(list(shingles))
            if lsh.query(sketch):
                dropped.append(doc["id"])
            else:
                lsh.insert(doc["id"], sketch)
    return dropped


SYSTEMS = {"ours": run_ours, "datatrove": run_datatrove, "datasketch": run_datasketch}


def child_main(system: str, input_dir: str, work: str, workers: int, result: str) -> None:
    started = time.perf_counter()
    dropped = SYSTEMS[system](Path(input_dir), Path(work), workers)
    Path(result).write_text(json.dumps({"wall": time.perf_counter() - started, "dropped": dropped}))


# ---- driver -----------------------------------------------------------------------------------------------

def measure(system: str, input_dir: Path, scratch: Path, workers: int) -> dict:
    """Run one system in a child process; wall time, CPU time and peak RSS of its process tree."""
    import psutil

    work = scratch / f"work-{system}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    result = scratch / f"result-{system}.json"
    proc = subprocess.Popen([sys.executable, __file__, "--_child", system, str(input_dir), str(work), str(workers),
                             str(result)])
    parent, peak_tree, peak_process, cpu = psutil.Process(proc.pid), 0, 0, {}
    while proc.poll() is None:
        rss = []
        for member in _tree(parent):
            try:
                with member.oneshot():
                    rss.append(member.memory_info().rss)
                    times = member.cpu_times()
                cpu[member.pid] = times.user + times.system
            except psutil.Error:
                pass
        if rss:
            peak_tree, peak_process = max(peak_tree, sum(rss)), max(peak_process, max(rss))
        time.sleep(0.1)
    if proc.returncode:
        raise SystemExit(f"{system} failed with exit code {proc.returncode}")
    out = json.loads(result.read_text())
    shutil.rmtree(work, ignore_errors=True)
    return {"wall": out["wall"], "cpu": sum(cpu.values()),
            "peak_process_mb": peak_process / 2**20, "peak_tree_mb": peak_tree / 2**20,
            "dropped": set(out["dropped"])}


def _tree(parent):
    import psutil

    try:
        return [parent] + parent.children(recursive=True)
    except psutil.Error:
        return []


def recall(pairs: list[dict], dropped: set, minimum: float) -> tuple[float, int]:
    chosen = [p for p in pairs if p["jaccard"] >= minimum]
    hit = sum(1 for p in chosen if p["copy"] in dropped or p["source"] in dropped)
    return (hit / len(chosen) if chosen else float("nan")), len(chosen)


def report(info: dict, results: dict[str, list[dict]], workers: int) -> None:
    mb = info["bytes"] / 1e6
    print(f"\ninput: {info['docs']} docs, {mb:.1f} MB, {len(info['pairs'])} planted near-duplicates; "
          f"workers={workers}; Jaccard {THRESHOLD}, {NGRAM}-grams, {BANDS}x{ROWS} bands")
    print("(shared machine: wall-clock figures are noisy; MB per CPU-second is the per-core figure)")
    head = (f"{'system':<11}{'wall s':>8}{'MB/s':>7}{'docs/s':>8}{'CPU s':>8}{'MB/s/core':>10}{'docs/s/core':>12}"
            f"{'peak proc MB':>13}{'peak tree MB':>13}{'dups':>6}{'recall':>8}{'rec J>=t':>9}{'rec J>=t+.1':>12}")
    print(head)
    best = {}
    for system, runs in results.items():
        run = min(runs, key=lambda r: r["cpu"])
        best[system] = run
        r_all, _ = recall(info["pairs"], run["dropped"], 0.0)
        r_t, n_t = recall(info["pairs"], run["dropped"], THRESHOLD)
        r_t1, n_t1 = recall(info["pairs"], run["dropped"], THRESHOLD + 0.1)
        print(f"{system:<11}{run['wall']:>8.1f}{mb / run['wall']:>7.2f}{info['docs'] / run['wall']:>8.0f}"
              f"{run['cpu']:>8.1f}{mb / run['cpu']:>10.2f}{info['docs'] / run['cpu']:>12.0f}"
              f"{run['peak_process_mb']:>13.0f}{run['peak_tree_mb']:>13.0f}{len(run['dropped']):>6}"
              f"{r_all:>8.3f}{r_t:>9.3f}{r_t1:>12.3f}")
    print(f"planted pairs: {len(info['pairs'])}; with true J >= {THRESHOLD}: {n_t}; >= {THRESHOLD + 0.1:.1f}: {n_t1}")
    if "ours" in best:
        for other in (s for s in best if s != "ours"):
            print(f"ours vs {other}: {best[other]['wall'] / best['ours']['wall']:.2f}x wall-clock, "
                  f"{best[other]['cpu'] / best['ours']['cpu']:.2f}x per core (CPU time)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=None, help="default: out/bench-corpus (tools/make_bench_corpus.py)")
    parser.add_argument("--mb", type=float, default=None, help="use only the first MB of the corpus")
    parser.add_argument("--planted", type=int, default=600)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--systems", default="ours,datatrove,datasketch")
    parser.add_argument("--scaling", default=None, help="comma-separated MB sizes: peak memory of ours (and "
                                                        "datatrove) as the corpus grows")
    parser.add_argument("--bands", type=int, default=BANDS, help="LSH bands (datatrove: buckets) for all systems")
    parser.add_argument("--rows", type=int, default=ROWS, help="rows per band (datatrove: hashes per bucket)")
    parser.add_argument("--scratch", default=str(Path(__file__).resolve().parents[2] / "out" / "bench_minhash"))
    args = parser.parse_args()
    os.environ["BENCH_MINHASH_LAYOUT"] = f"{args.bands}x{args.rows}"
    _set_layout()
    scratch = Path(args.scratch)
    if args.scaling:
        return scaling(args, scratch)
    info = build_input(ensure_corpus(args.corpus), scratch / "input", args.mb, args.planted, args.shards)
    results: dict[str, list[dict]] = {}
    for _ in range(args.repeat):
        for system in args.systems.split(","):
            results.setdefault(system, []).append(measure(system, scratch / "input", scratch, args.workers))
            print(f"  {system}: {results[system][-1]['wall']:.1f} s", flush=True)
    report(info, results, args.workers)


def scaling(args, scratch: Path) -> None:
    print("shard size kept at ~19 MB; per-shard steps hold one shard's small arrays, barrier jobs O(items)")
    print(f"{'MB':>6}{'docs':>8}{'system':>11}{'wall s':>8}{'CPU s':>8}{'peak proc MB':>13}{'peak tree MB':>13}")
    for size in map(float, args.scaling.split(",")):
        shutil.rmtree(scratch / "input", ignore_errors=True)
        shards = max(1, round(size / 18.75))  # constant shard size (the full corpus in 8 shards), more shards
        info = build_input(ensure_corpus(args.corpus), scratch / "input", size, max(10, int(size * 4)), shards)
        for system in args.systems.split(","):
            if system == "datasketch":
                continue
            run = measure(system, scratch / "input", scratch, args.workers)
            print(f"{info['bytes'] / 1e6:>6.1f}{info['docs']:>8}{system:>11}{run['wall']:>8.1f}{run['cpu']:>8.1f}"
                  f"{run['peak_process_mb']:>13.0f}{run['peak_tree_mb']:>13.0f}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--_child":
        _set_layout()
        child_main(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
    else:
        os.environ.setdefault("PYTHONHASHSEED", "0")
        main()
