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

# Timed runs take the production path: the test helpers' metadata declaration check is off.
os.environ.setdefault("CURATE_CHECK_METADATA", "0")

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/: the benchmark corpus builder
from make_bench_corpus import ensure_corpus  # noqa: E402

THRESHOLD, NGRAM, BANDS, ROWS = 0.7, 5, 32, 8  # the references' layout; --bands 25 --rows 10: BigCode


def _set_layout() -> None:
    """--bands/--rows reach the child processes through the environment."""
    global BANDS, ROWS
    if os.environ.get("BENCH_MINHASH_LAYOUT"):
        BANDS, ROWS = map(int, os.environ["BENCH_MINHASH_LAYOUT"].split("x"))


# ---- input ------------------------------------------------------------------------------------------------

def build_input(corpus: Path, out: Path, mb: float | None, planted: int, shards: int, seed: int = 0) -> dict:
    """Copy (a prefix of) the corpus into ``shards`` JSONL files and plant near-duplicates of random files. A
    size beyond the corpus is reached by going over it again with every file edited (renamed identifiers,
    rewritten comments, ...: most become near-duplicates of the first pass)."""
    from curate_plugins._minhash.near_duplicates import near_duplicate

    records, size, grow = [], 0, random.Random(1000 + seed)
    for cycle in range(1000):
        before = size
        for path in sorted(corpus.glob("shard-*.jsonl")):
            for line in path.open("rb"):
                rec = orjson.loads(line)
                text = rec["text"] if cycle == 0 else near_duplicate(rec["text"], grow)[0]
                records.append({"id": rec["id"] if cycle == 0 else f"{rec['id']}~{cycle}", "text": text})
                size += len(text.encode("utf-8", "surrogatepass"))
                if mb and size >= mb * 1e6:
                    break
            if mb and size >= mb * 1e6:
                break
        if not mb or size >= mb * 1e6 or size == before:
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
    pairs = [{"copy": c["id"], "source": c["source"], "jaccard": _true_jaccard(c["text"], texts[c["source"]]),
              "edits": c["edits"]} for c in copies]
    return {"docs": len(docs), "bytes": total, "pairs": pairs}


def _true_jaccard(a: str, b: str) -> float:
    from curate_plugins._minhash.hashing import jaccard, shingle_set

    return jaccard(shingle_set(a, NGRAM), shingle_set(b, NGRAM))


# ---- the three systems (each runs in a child process) ----------------------------------------------------

def ours_layout() -> tuple[int, int]:
    """The layout minhash_dedup derives on its own at the benchmark's settings (verify on)."""
    from curate_plugins.minhash_dedup import MinhashDedup

    return MinhashDedup({"threshold": THRESHOLD, "ngram": NGRAM}).band_layout()


def run_ours(input_dir: Path, work: Path, workers: int, same_layout: bool = False) -> tuple[list[str], dict]:
    from curate import IndexStore
    from curate.testing import read_excluded, run_pipeline_dict

    layout = {"bands": BANDS, "rows": ROWS} if same_layout else {}
    pipeline = {"name": "bench-minhash", "inputs": [{"source": "jsonl", "with": {"paths": [f"{input_dir}/*.jsonl"]}}],
                "output": {"dir": str(work / "out")},
                "steps": [{"uses": "minhash_dedup", "with": {"threshold": THRESHOLD, "ngram": NGRAM, "keep": "first",
                                                              **layout}}]}
    run = run_pipeline_dict(pipeline, workers=workers)
    store = IndexStore(str(work / "out" / "state" / "index" / "minhash_dedup"))
    parts = store.parts(run.run_id)
    dropped = [r["id"] for r in read_excluded(work / "out") if r["metadata"].get("drop.reason") == "near_duplicate"]
    return dropped, {"index_bytes": sum(p.nbytes for p in parts), "index_parts": len(parts)}


def datatrove_signer(work: Path):
    """datatrove's signature step as the benchmark configures it: our tokens, no text normalisation."""
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.utils.text import TextNormConfig
    from minhash_datatrove_compat import IdentifierTokenizer, xxhash64_utf8

    no_norm = TextNormConfig(lowercase=False, norm_whitespace=False, remove_punctuation=False,
                             norm_unicode_diacritics=False, norm_numbers=False)
    config = MinhashConfig(n_grams=NGRAM, num_buckets=BANDS, hashes_per_bucket=ROWS, seed=1, norm_config=no_norm)
    # datatrove's default word tokenizer needs spaCy; it takes a WordTokenizer instance instead of a language
    signature = MinhashDedupSignature(output_folder=str(work / "sigs"), config=config, language=IdentifierTokenizer())
    signature._hash_func = xxhash64_utf8  # xxhash 4 refuses str; datatrove passes str
    return config, signature


def datasketch_minhash(text: str):
    from datasketch import MinHash

    from curate_plugins._minhash.hashing import tokens

    words = tokens(text)
    if not words:
        return None
    shingles = {b" ".join(words[i:i + NGRAM]) for i in range(max(1, len(words) - NGRAM + 1))}
    sketch = MinHash(num_perm=256, seed=1)
    sketch.update_batch(list(shingles))
    return sketch


def reference_signatures(work: Path) -> dict:
    """Per reference, a function text -> its MinHash values (for the missed-pair analysis)."""
    import numpy as np

    _, dt = datatrove_signer(work)

    def datatrove(text):
        shingles = dt.get_shingles(text)
        return np.concatenate([np.asarray(b) for b in dt.get_signature(shingles)]) if len(shingles) else None

    def datasketch(text):
        sketch = datasketch_minhash(text)
        return None if sketch is None else sketch.hashvalues[:BANDS * ROWS]

    return {"datatrove": datatrove, "datasketch": datasketch}


def run_floor(input_dir: Path, work: Path, workers: int) -> list[str]:
    """curate reading and writing the same shards with no step: the I/O floor of any curate pipeline."""
    from curate.testing import run_pipeline_dict

    pipeline = {"name": "bench-floor", "inputs": [{"source": "jsonl", "with": {"paths": [f"{input_dir}/*.jsonl"]}}],
                "output": {"dir": str(work / "out")}, "steps": []}
    run_pipeline_dict(pipeline, workers=workers)
    return []


def run_datatrove(input_dir: Path, work: Path, workers: int) -> list[str]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    tasks = len(list(input_dir.glob("*.jsonl")))
    config, signature = datatrove_signer(work)

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
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=256, params=(BANDS, ROWS))
    dropped = []
    for path in sorted(input_dir.glob("*.jsonl")):
        for line in path.open("rb"):
            doc = orjson.loads(line)
            sketch = datasketch_minhash(doc["text"])
            if sketch is None:
                continue
            if lsh.query(sketch):
                dropped.append(doc["id"])
            else:
                lsh.insert(doc["id"], sketch)
    return dropped


SYSTEMS = {"ours": run_ours, "ours-same": lambda *a: run_ours(*a, same_layout=True), "datatrove": run_datatrove,
           "datasketch": run_datasketch, "floor": run_floor}


def child_main(system: str, input_dir: str, work: str, workers: int, result: str) -> None:
    started = time.perf_counter()
    out = SYSTEMS[system](Path(input_dir), Path(work), workers)
    dropped, extra = out if isinstance(out, tuple) else (out, {})
    Path(result).write_text(json.dumps({"wall": time.perf_counter() - started, "dropped": dropped, **extra}))


# ---- driver -----------------------------------------------------------------------------------------------

def measure(system: str, input_dir: Path, scratch: Path, workers: int) -> dict:
    """Run one system in a child process; wall time, CPU time and peak RSS of its process tree."""
    import psutil

    work = scratch / f"work-{system}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    result, log = scratch / f"result-{system}.json", scratch / f"log-{system}.txt"
    with open(log, "wb") as stderr:  # datatrove logs every task at INFO level
        proc = subprocess.Popen([sys.executable, __file__, "--_child", system, str(input_dir), str(work),
                                 str(workers), str(result)], stderr=stderr)
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
        sys.stderr.write(log.read_text()[-4000:])
        raise SystemExit(f"{system} failed with exit code {proc.returncode} (log: {log})")
    out = json.loads(result.read_text())
    shutil.rmtree(work, ignore_errors=True)
    return {"wall": out["wall"], "cpu": sum(cpu.values()),
            "peak_process_mb": peak_process / 2**20, "peak_tree_mb": peak_tree / 2**20,
            "dropped": set(out["dropped"]), "index_bytes": out.get("index_bytes")}


def _tree(parent):
    import psutil

    try:
        return [parent] + parent.children(recursive=True)
    except psutil.Error:
        return []


def found(pair: dict, dropped: set) -> bool:
    """A planted pair counts as found when the system drops the copy or its source (as datatrove keeps one
    document per cluster, either may go)."""
    return pair["copy"] in dropped or pair["source"] in dropped


def recall(pairs: list[dict], dropped: set, minimum: float) -> tuple[float, int]:
    chosen = [p for p in pairs if p["jaccard"] >= minimum]
    hit = sum(1 for p in chosen if found(p, dropped))
    return (hit / len(chosen) if chosen else float("nan")), len(chosen)


def index_line(mb: float, results: dict[str, list[dict]]) -> None:
    for system, runs in results.items():
        sizes = [r["index_bytes"] for r in runs if r.get("index_bytes") is not None]
        if sizes:
            print(f"{system}: persistent index {sizes[0] / 1e6:.1f} MB after one run, {sizes[0] / 1e6 / mb:.3f} bytes "
                  "per input byte")


def speed_table(mb: float, docs: int, results: dict[str, list[dict]]) -> dict[str, dict]:
    """Per system, its run with the least CPU time (the machine is shared: the least disturbed run)."""
    print(f"{'system':<11}{'wall s':>8}{'MB/s':>7}{'docs/s':>8}{'CPU s':>8}{'MB/s/core':>10}{'docs/s/core':>12}"
          f"{'peak proc MB':>13}{'peak tree MB':>13}{'dups':>6}")
    best = {}
    for system, runs in results.items():
        run = best[system] = min(runs, key=lambda r: r["cpu"])
        print(f"{system:<11}{run['wall']:>8.1f}{mb / run['wall']:>7.2f}{docs / run['wall']:>8.0f}"
              f"{run['cpu']:>8.1f}{mb / run['cpu']:>10.2f}{docs / run['cpu']:>12.0f}"
              f"{run['peak_process_mb']:>13.0f}{run['peak_tree_mb']:>13.0f}{len(run['dropped']):>6}")
    if "ours" in results:
        for other in (s for s in results if s != "ours"):
            ratios = [o["cpu"] / u["cpu"] for o, u in zip(results[other], results["ours"])]
            print(f"ours vs {other}: {best[other]['wall'] / best['ours']['wall']:.2f}x wall-clock (best runs), "
                  f"{best[other]['cpu'] / best['ours']['cpu']:.2f}x per core (CPU time, best runs); per-core ratio "
                  f"of each planting: {', '.join(f'{r:.2f}' for r in ratios)}")
    return best


def recall_table(plantings: list[dict], systems: list[str]) -> None:
    """Recall at J >= threshold (and + 0.1) as mean, standard deviation and range over the plantings."""
    import statistics

    print(f"\nrecall over {len(plantings)} planting(s): mean ± sd [min, max] (a pair is found when its copy or "
          "source is dropped)")
    print(f"{'system':<11}{'J >= ' + format(THRESHOLD, 'g'):>34}{'J >= ' + format(THRESHOLD + 0.1, 'g'):>34}"
          f"{'all planted':>34}")
    for system in (s for s in systems if s != "floor"):
        cells = []
        for minimum in (THRESHOLD, THRESHOLD + 0.1, 0.0):
            values = [recall(p["info"]["pairs"], p["runs"][system]["dropped"], minimum)[0] for p in plantings]
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.4f} ± {sd:.4f} [{min(values):.3f}, {max(values):.3f}]")
        print(f"{system:<11}" + "".join(f"{c:>34}" for c in cells))
    counts = [recall(p["info"]["pairs"], set(), THRESHOLD)[1] for p in plantings]
    print(f"pairs with J >= {THRESHOLD:g} per planting: {counts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=None, help="folder of shard-*.jsonl (default: the benchmark corpus)")
    parser.add_argument("--mb", type=float, default=None, help="use only the first MB of the corpus")
    parser.add_argument("--planted", type=int, default=600)
    parser.add_argument("--seeds", type=int, default=1, help="plantings: each plants --planted copies with its own "
                                                             "seed and runs every system; recall is reported as "
                                                             "mean and spread over them")
    parser.add_argument("--explain", action="store_true", help="analyse every planted pair ours misses and a "
                                                                "reference finds")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--systems", default="ours,datatrove,datasketch",
                        help="any of ours (its own derived layout), ours-same (the references' layout), datatrove, "
                             "datasketch, floor (curate with no step: the I/O floor)")
    parser.add_argument("--scaling", default=None, help="comma-separated MB sizes: peak memory of ours (and "
                                                        "datatrove) as the corpus grows")
    parser.add_argument("--bands", type=int, default=BANDS, help="LSH bands of the references (datatrove: buckets) "
                                                                 "and of ours-same")
    parser.add_argument("--rows", type=int, default=ROWS, help="rows per band (datatrove: hashes per bucket)")
    parser.add_argument("--runs", type=int, default=0, help="incremental mode: split one shard into this many "
                                                            "pieces and add them one run at a time")
    parser.add_argument("--pipeline", choices=["minhash", "issue"], default="minhash",
                        help="incremental mode: minhash_dedup alone, or the issue's language_from_extension -> "
                             "exact_dedup -> minhash_dedup -> code_heuristics")
    parser.add_argument("--clustering-check", type=int, default=0, metavar="SHARDS",
                        help="split the corpus into SHARDS shards and check the bounded clustering against the "
                             "single-process one on the same accepted pairs")
    parser.add_argument("--scratch", default=str(Path(__file__).resolve().parents[2] / "out" / "bench_minhash"))
    args = parser.parse_args()
    os.environ["BENCH_MINHASH_LAYOUT"] = f"{args.bands}x{args.rows}"
    _set_layout()
    scratch = Path(args.scratch)
    corpus = corpus_dir(args.corpus)
    if args.scaling:
        return scaling(args, corpus, scratch)
    if args.runs:
        return incremental(args, corpus, scratch)
    if args.clustering_check:
        return clustering_check(args, corpus, scratch)
    systems, plantings = args.systems.split(","), []
    for seed in range(args.seeds):
        shutil.rmtree(scratch / "input", ignore_errors=True)
        info = build_input(corpus, scratch / "input", args.mb, args.planted, args.shards, seed)
        runs = {}
        for system in systems:
            runs[system] = measure(system, scratch / "input", scratch, args.workers)
            print(f"  planting {seed}: {system} {runs[system]['wall']:.1f} s wall, {runs[system]['cpu']:.1f} s CPU, "
                  f"recall J>={THRESHOLD:g} {recall(info['pairs'], runs[system]['dropped'], THRESHOLD)[0]:.4f}",
                  flush=True)
        plantings.append({"seed": seed, "info": info, "runs": runs})
        if args.explain and "ours" in systems:
            from minhash_missed import explain

            for name in (s for s in systems if s.startswith("ours")):
                layout = (BANDS, ROWS) if name == "ours-same" else ours_layout()
                print(f"  {name} ({layout[0]}x{layout[1]}) against the references:")
                explain(scratch / "input", info, {**runs, "ours": runs[name]}, THRESHOLD, NGRAM, layout,
                        (BANDS, ROWS), reference_signatures(scratch))
    info = plantings[0]["info"]
    print(f"\ninput: {info['docs']} docs, {info['bytes'] / 1e6:.1f} MB, {args.planted} planted near-duplicates per "
          f"planting; workers={args.workers}; Jaccard {THRESHOLD}, {NGRAM}-grams; references (and ours-same) "
          f"{BANDS}x{ROWS} bands, ours {'x'.join(map(str, ours_layout()))} (its derived layout); "
          f"load average {os.getloadavg()[0]:.1f}")
    print("(shared machine: wall-clock figures are noisy; MB per CPU-second is the per-core figure)")
    by_system = {s: [p["runs"][s] for p in plantings] for s in systems}
    speed_table(info["bytes"] / 1e6, info["docs"], by_system)
    index_line(info["bytes"] / 1e6, by_system)
    recall_table(plantings, systems)


def incremental(args, corpus: Path, scratch: Path) -> None:
    """``--runs N``: one shard of the corpus split into N pieces, added one run at a time to one corpus; per run
    the wall and CPU time of ``curate run`` and the MinHash index's files and bytes."""
    import resource

    from curate import IndexStore
    from curate.testing import run_pipeline_dict

    records = [line for line in sorted(corpus.glob("shard-*.jsonl"))[0].open("rb")]
    folder, out = scratch / "incremental-in", scratch / "incremental-out"
    for path in (folder, out):
        shutil.rmtree(path, ignore_errors=True)
    folder.mkdir(parents=True)
    steps = [{"uses": "minhash_dedup", "with": {"keep": "first"}}]
    if args.pipeline == "issue":  # the pipeline the issue measured
        steps = [{"uses": "language_from_extension"}, {"uses": "exact_dedup"}, *steps, {"uses": "code_heuristics"}]
    pipeline = {"name": "bench-incremental", "inputs": [{"source": "jsonl", "with": {"paths": [f"{folder}/*.jsonl"]}}],
                "output": {"dir": str(out)}, "steps": steps}
    size = 0
    print("index after each run: parts of the committed snapshot; files and MB on disk (with 3 snapshots kept for "
          "rollback); bytes per input byte of the committed index (live) and on disk")
    print(f"{'run':>4}{'input MB':>9}{'wall s':>8}{'CPU s':>7}{'index parts':>12}{'index files':>12}{'index MB':>9}"
          f"{'live B/B':>11}{'disk B/B':>11}")
    for run in range(args.runs):
        piece = records[run::args.runs]
        (folder / f"piece-{run:04d}.jsonl").write_bytes(b"".join(piece))
        size += sum(len(orjson.loads(line)["text"].encode("utf-8", "surrogatepass")) for line in piece)
        before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        result = run_pipeline_dict(pipeline, workers=1)
        wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        index = out / "state" / "index" / "minhash_dedup"
        store = IndexStore(str(index))
        if store.staged(result.run_id):  # what the runner does when a run is published (if it does not yet)
            store.commit(result.run_id)
        store.gc(keep=3)  # and then: keep 3 snapshots for rollback
        files = [p for p in index.rglob("*") if p.is_file()]
        nbytes = sum(p.stat().st_size for p in files)
        parts = len(store.current().parts) if store.current() else 0
        live = sum(p.nbytes for p in store.current().parts) if store.current() else 0
        print(f"{run + 1:>4}{size / 1e6:>9.1f}{wall:>8.2f}{cpu:>7.2f}{parts:>12}{len(files):>12}{nbytes / 1e6:>9.2f}"
              f"{live / size:>11.3f}{nbytes / size:>11.3f}", flush=True)
    composition(store, size)


def composition(store, size: int) -> None:
    """Bytes per input byte of each array of the committed index."""
    from curate_plugins._minhash.partfile import PartFile

    totals: dict[str, int] = {}
    for part in store.current().parts:
        f = PartFile(store.part_path(part.name))
        for name, entry in f._arrays.items():
            count = int(np.prod(entry["shape"])) * np.dtype(entry["dtype"]).itemsize
            totals[name] = totals.get(name, 0) + count
    print("committed index, bytes per input byte: " + ", ".join(f"{k} {v / size:.4f}" for k, v in totals.items()))


def clustering_check(args, corpus: Path, scratch: Path) -> None:
    """``--clustering-check SHARDS``: the stage's bounded clustering (verify partitions, external-memory
    components, per-component replay) against the single-process algorithm it replaced (insert items in
    keep order, union each accepted pair in a dict union-find, record an item's root after its own pairs),
    on the same accepted pairs of the corpus split into SHARDS shards, with several tasks per job."""
    import resource

    from datatrove.data import Document
    from minhash_reference import sequential_clusters

    from curate.plugin import RunContext, StageContext
    from curate_plugins._minhash.work import load_npy
    from curate_plugins.minhash_dedup import MinhashDedup

    info = build_input(corpus, scratch / "input", args.mb, args.planted, args.clustering_check)
    shards = [[Document(text=d["text"], id=d["id"]) for d in map(orjson.loads, path.open("rb"))]
              for path in sorted((scratch / "input").glob("*.jsonl"))]
    tasks = 4
    stage = MinhashDedup({"keep": "first", "bucket_tasks": tasks})
    root = scratch / "clustering"
    shutil.rmtree(root, ignore_errors=True)
    ctx = StageContext(step_id="minhash_dedup", run_id="run-0001", run_seq=1, tasks=len(shards),
                       work_dir=str(root / "work"), index_dir=str(root / "index"), previous_runs=[],
                       run_context=RunContext())
    for rank, docs in enumerate(shards):
        stream = iter(docs)
        for step in stage.map_steps(ctx):
            stream = step.run(stream, rank, len(shards))
        for _ in stream:
            pass
    peaks = {}
    for job in stage.barrier_jobs(ctx):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for task in range(job.tasks):
            for step in job.steps:
                for _ in step.run(None, task, job.tasks) or ():
                    pass
        peaks[job.name] = (before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    edge_files = sorted((root / "work" / "edges").glob("*.npy"))
    edges = np.concatenate([load_npy(str(path), mmap=False) for path in edge_files])
    keepers, matches, _ = sequential_clusters(edges.tolist())
    expected = {later: (keeper, matches[later]) for later, keeper in keepers.items()}
    starts = np.concatenate(([0], np.cumsum([len(s) for s in shards])))
    found = {}
    for rank in range(len(shards)):
        for local, keeper, match, _ in load_npy(f"{ctx.work_dir}/drops/{rank:05d}.npy", mmap=False).tolist():
            found[int(starts[rank]) + local] = (keeper, match)
    summary = json.loads((root / "work" / "summary.json").read_text())
    print(f"{info['docs']} documents, {info['bytes'] / 1e6:.1f} MB in {len(shards)} shards, {tasks} tasks per "
          f"job: {len(edges)} accepted pairs, {len(found)} dropped, {summary['rounds']} rounds of hooking")
    print(f"identical to the single-process clustering (keeper and match of every dropped document): "
          f"{found == expected}")
    print("peak RSS of this process before -> after each barrier job (MB): " + ", ".join(
        f"{name} {a / 1024:.0f} -> {b / 1024:.0f}" for name, (a, b) in peaks.items()))
    if found != expected:
        raise SystemExit("the bounded clustering differs from the single-process one")


def corpus_dir(requested: str | None) -> Path:
    return ensure_corpus(requested)


def scaling(args, corpus: Path, scratch: Path) -> None:
    print("shard size kept at ~19 MB; beyond the corpus, edited copies of it (mostly near-duplicates)")
    print(f"{'MB':>6}{'docs':>8}{'system':>11}{'wall s':>8}{'CPU s':>8}{'peak proc MB':>13}{'peak tree MB':>13}")
    for size in map(float, args.scaling.split(",")):
        shutil.rmtree(scratch / "input", ignore_errors=True)
        shards = max(1, round(size / 18.75))  # constant shard size (the full corpus in 8 shards), more shards
        info = build_input(corpus, scratch / "input", size, max(10, int(size * 4)), shards)
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
