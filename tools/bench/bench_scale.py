"""Time and peak memory of every stage at three corpus sizes, the growth fitted, and a projection to The Stack v2.

    python tools/bench/bench_scale.py                          # 20, 80, 320 MB; every stage (about 1 h here)
    python tools/bench/bench_scale.py --sizes 5,10,20 --stages read,minhash_dedup --json scale.json
    python tools/bench/bench_scale.py --from-json scale.json   # print the tables again from saved figures
    python tools/bench/bench_scale.py --barriers               # only the barrier-job inventory (no runs)

Each figure is one ``curate run`` of a pipeline over a corpus of the given size, measured over its whole process
tree (tools/bench/proctree.py: CPU = user + system of every process; peak = RSS of the largest process, and
sampled peaks of the driver, which also runs every single-task job, and of the largest pool worker). The inputs:

- code stages: the benchmark corpus (tools/make_bench_corpus.py) at each size, in shards of ``--shard-mb`` MB,
  20% of its bytes planted copies (half exact, half near-duplicates) so that both dedups have the same share of
  work at every size, grown beyond the real code on this machine with renamed-identifier forks (``--grow``);
- repo_packer: the same corpora at a quarter of each size (it is the slowest stage per MB);
- web: copies of the 127 real pages of tests/data/web (one WARC shard per copy), about as many MB of HTML;
- commits: copies of the 7 real repositories of tests/data/repos (one bundle per copy, full history).

A stage's own cost is its pipeline's CPU time minus that of the pipeline it extends (``language`` extends
``read``, ``exact_dedup`` extends ``language``, ...). The growth of CPU time and of peak memory with size is
fitted as a power law (exponent 1: linear; memory exponent near 0: flat), and the CPU time per MB at the largest
size is projected to The Stack v2 (67.5 TB and about 3 billion files before near-dedup) in core-hours.

Each run's tasks read one input shard each (``--task-mb``, default ``--shard-mb``: ``output.max_file_mb``), as
a cluster run would, so the peak memory per process is that of one task, whatever the corpus size.
``--items`` adds corpora of many small files (``items_*`` stages) for the per-file cost and memory of the
single-task barrier jobs (exact_dedup's resolve, MinHash's order and cluster).

Needs the `bench` extra (`pip install -e '.[bench]'`). Runs use 2 workers by default; on a shared machine
CPU time is the steady figure (the load average is printed beside the table).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import orjson
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))  # tools/: the benchmark corpus builder
sys.path.insert(0, str(HERE))
from make_bench_corpus import build  # noqa: E402
from proctree import measure  # noqa: E402

STACK_V2_BYTES = 67.5e12  # the-stack-v2 (exact-deduplicated, before near-dedup); the-stack-v2-dedup: 32.1 TB
STACK_V2_FILES = 3.0e9
WEB_WARC = REPO / "tests" / "data" / "web" / "pages.warc.gz"
BUNDLES = REPO / "tests" / "data" / "repos"
WEB_MODEL = REPO / "models" / "web-code" / "model.ftz"
LANG = {"uses": "language_from_extension"}


@dataclass
class Stage:
    """One row of the table: the pipeline that measures it, the input it reads and the run it extends."""

    name: str
    kind: str  # code | packer | web | commits | items
    steps: list
    base: str | None = None  # the stage whose pipeline this one extends (its CPU is subtracted)
    source: dict = field(default_factory=dict)
    label: str = ""


def stages(scorer_dir: Path) -> list[Stage]:
    return [
        Stage("read", "code", [], label="read JSONL + write (no step)"),
        Stage("language", "code", [LANG], "read", label="language_from_extension"),
        Stage("exact_dedup", "code", [LANG, {"uses": "exact_dedup"}], "language"),
        Stage("code_heuristics", "code", [LANG, {"uses": "code_heuristics"}], "language"),
        Stage("treesitter_syntax", "code", [LANG, {"uses": "treesitter_syntax"}], "language"),
        Stage("core", "code", [LANG, {"uses": "exact_dedup"}, {"uses": "code_heuristics"},
                               {"uses": "treesitter_syntax"}], "read",
              label="read → language → exact → heuristics → syntax"),
        Stage("minhash_dedup", "code", [{"uses": "minhash_dedup"}], "read"),
        Stage("ngram_decontaminate", "code", [{"uses": "ngram_decontaminate"}], "read"),
        Stage("quality_scorer", "code", [LANG, {"uses": "quality_scorer", "with": {"model": str(scorer_dir)}}],
              "language", label="quality_scorer (distilled fastText scorer)"),
        Stage("repo_packer", "packer", [{"uses": "repo_packer"}], label="repo_packer (¼ of each size)"),
        Stage("web_extract", "web", [{"uses": "html_extract"}], label="WARC read + html_extract"),
        Stage("fasttext_classifier", "web", [{"uses": "html_extract"},
                                             {"uses": "fasttext_classifier", "with": {"model": str(WEB_MODEL)}}],
              "web_extract", label="fasttext_classifier (web pages)"),
        Stage("commits", "commits", [{"uses": "commit_to_change_prediction"}],
              label="git_commits + commit_to_change_prediction"),
        Stage("items_read", "items", [], label="many small files: read + write"),
        Stage("items_exact_dedup", "items", [{"uses": "exact_dedup"}], "items_read",
              label="many small files: exact_dedup"),
        Stage("items_minhash_dedup", "items", [{"uses": "minhash_dedup"}], "items_read",
              label="many small files: minhash_dedup"),
    ]


# ---- inputs -------------------------------------------------------------------------------------------

def code_corpus(root: Path, mb: float, shard_mb: float) -> Path:
    """The benchmark corpus at ``mb`` MB in shards of about ``shard_mb`` MB (built once, reused)."""
    shards = max(1, round(mb / shard_mb))
    folder = root / f"code-{mb:g}mb-{shards}"
    stamp = summary_file(folder)
    if not stamp.exists():
        summary = build(folder, mb, shards, copies=0.2, grow=True)
        stamp.write_text(json.dumps(summary))
    return folder


def items_corpus(root: Path, items: int, shard_mb: float, shard_items: int = 100_000) -> Path:
    """``items`` small documents (4 lines of real code each, about 150 bytes; one in ten an exact copy of an
    earlier one), so that the per-item cost of the single-task barrier jobs shows at millions of items. Beyond
    the 20 MB corpus's lines, passes with renamed identifiers (as ``--grow``)."""
    from make_bench_corpus import diverged

    folder = root / f"items-{items}"
    stamp = summary_file(folder)
    if stamp.exists():
        return folder
    lines = [ln for shard in sorted(code_corpus(root, 20, shard_mb).glob("shard-*.jsonl")) for line in shard.open("rb")
             for ln in orjson.loads(line)["text"].splitlines() if ln.strip()]
    chunks = ["\n".join(lines[i:i + 4]) for i in range(0, len(lines) - 3, 4)]
    rng, written, nbytes = random.Random(5), [], 0
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for n in range(items):
        if n % 10 == 9:
            text = written[rng.randrange(len(written))]
        else:
            cycle, i = divmod(n - n // 10, len(chunks))
            text = diverged(chunks[i], cycle) if cycle else chunks[i]
            written.append(text)
        if n % shard_items == 0:
            out = (tmp / f"shard-{n // shard_items:05d}.jsonl").open("wb")
        out.write(orjson.dumps({"id": f"item-{n:010d}", "text": text, "path": f"f{n}.py", "lang": "python"}) + b"\n")
        nbytes += len(text.encode("utf-8", "surrogatepass"))
    out.close()
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    stamp.write_text(json.dumps({"docs": items, "mb": round(nbytes / 1e6, 1)}))
    return folder


def summary_file(corpus: Path) -> Path:
    """The builder's summary beside a code corpus (not ``with_suffix``: sizes such as 0.5 hold a dot)."""
    return corpus.with_name(corpus.name + ".json")


def built_once(folder: Path, fill) -> Path:
    """``folder``, filled by ``fill(tmp)`` in a temporary folder renamed into place the first time."""
    if not folder.exists():
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        fill(tmp)
        tmp.rename(folder)
    return folder


def web_corpus(root: Path, mb: float) -> tuple[Path, int]:
    """Copies of the real web pages, one WARC shard each, about ``mb`` MB of HTML in all."""
    copies = max(1, round(mb / html_mb()))

    data = WEB_WARC.read_bytes()
    if data[3] & 0x02:  # FHCRC: a header checksum would cover the timestamp changed below
        raise SystemExit(f"{WEB_WARC}: unexpected gzip header (FHCRC set)")

    def fill(tmp: Path) -> None:
        # each copy differs in its first gzip header's MTIME (bytes 4-7, outside every checksum): same records,
        # distinct files (curate skips an input shard whose SHA-256 equals one already consumed)
        for i in range(copies):
            (tmp / f"pages-{i:04d}.warc.gz").write_bytes(data[:4] + i.to_bytes(4, "little") + data[8:])

    return built_once(root / f"web-{copies}", fill), copies


def commit_corpus(root: Path, copies: int) -> Path:
    """``copies`` copies of the real repositories (bundles with their full history)."""

    def fill(tmp: Path) -> None:
        for i in range(copies):
            for bundle in sorted(BUNDLES.glob("*.bundle")):
                os.link(bundle, tmp / f"{bundle.stem}-{i:03d}.bundle")

    return built_once(root / f"commits-{copies}", fill)


_HTML_MB: list[float] = []


def html_mb() -> float:
    """MB of HTML payload in the web fixture (bench_web's measure)."""
    if not _HTML_MB:
        from bench_web import html_megabytes

        _HTML_MB.append(html_megabytes(str(WEB_WARC))[1])
    return _HTML_MB[0]


@dataclass
class Label:
    """A labelled file in the shape the scorer trainer reads (content_sha, text, label, lang, path, metadata)."""

    content_sha: str
    text: str
    label: float
    lang: str
    path: str
    metadata: dict


def train_scorer(corpus: Path, out: Path, files: int = 3000) -> Path:
    """A quality scorer trained once on PROXY labels (no LLM can run here) of ``files`` files of ``corpus``:
    the scorer's speed does not depend on what its labels mean."""
    if (out / "meta.json").exists():
        return out
    from curate_plugins._quality.proxy import proxy_rating
    from curate_plugins._quality.scorer import train_scorer as fit

    labels, rng = [], random.Random(0)
    lines = [line for shard in sorted(corpus.glob("shard-*.jsonl")) for line in shard.open("rb")]
    for line in rng.sample(lines, min(files, len(lines))):
        rec = orjson.loads(line)
        sha = hashlib.sha256(rec["text"].encode("utf-8", "surrogatepass")).hexdigest()
        labels.append(Label(sha, rec["text"], float(proxy_rating(rec["text"], rec["path"], rec["lang"])),
                            rec["lang"], rec["path"], {"lang": rec["lang"], "path": rec["path"]}))
    fit(labels, out)
    return out


# ---- one measured run ---------------------------------------------------------------------------------

def pipeline_for(stage: Stage, inputs: Path, out: Path, task_mb: float) -> dict:
    """One measured run. ``task_mb`` is ``output.max_file_mb``: input shards are grouped into tasks of about that
    much input (curate's default, 512 MB, would run a 320 MB corpus as one task in one process)."""
    if stage.kind == "web":
        source = {"source": "warc", "with": {"paths": [str(inputs / "*.warc.gz")]}}
    elif stage.kind == "commits":
        source = {"source": "git_commits", "with": {"paths": [str(inputs / "*.bundle")]}}
    else:
        source = {"source": "jsonl", "with": {"paths": [str(inputs / "shard-*.jsonl")]}}
    return {"name": f"bench-scale-{stage.name}", "inputs": [source],
            "output": {"dir": str(out), "max_file_mb": task_mb}, "steps": stage.steps}


def input_size(stage: Stage, inputs: Path) -> tuple[float, int]:
    """(MB, documents or commits) of a stage's input, as the table reports it."""
    if stage.kind == "web":
        copies = len(list(inputs.glob("*.warc.gz")))
        return copies * html_mb(), copies * 127
    if stage.kind == "commits":
        return sum(p.stat().st_size for p in inputs.glob("*.bundle")) / 1e6, 0
    summary = json.loads(summary_file(inputs).read_text())
    return summary["mb"], summary["docs"]


def run_stage(stage: Stage, inputs: Path, work: Path, workers: int, task_mb: float) -> dict:
    out = work / f"out-{stage.name}"
    shutil.rmtree(out, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    pipeline = work / f"{stage.name}.yaml"
    pipeline.write_text(yaml.safe_dump(pipeline_for(stage, inputs, out, task_mb), sort_keys=False))
    m = measure([sys.executable, "-m", "curate.cli", "run", str(pipeline), "-w", str(workers), "--no-progress",
                 "--json"], env={**os.environ, "PYTHONHASHSEED": "0", "CURATE_CHECK_METADATA": "0"})
    if m.returncode:
        sys.stderr.write(m.stderr[-4000:])
        raise SystemExit(f"{stage.name} failed (exit {m.returncode}); pipeline {pipeline}")
    summary = json.loads(m.stdout)
    mb, docs = input_size(stage, inputs)
    row = {"stage": stage.name, "mb": mb, "docs": docs or summary["docs_in"], "docs_out": summary["docs_out"],
           "wall": m.wall, "cpu": m.cpu, "peak_process_mb": m.peak_process_mb, "peak_driver_mb": m.peak_driver_mb,
           "peak_worker_mb": m.peak_worker_mb, "segments": segment_seconds(out),
           "index_bytes": index_bytes(out), "load": os.getloadavg()[0]}
    shutil.rmtree(out, ignore_errors=True)
    return row


LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)")


def segment_seconds(corpus: Path) -> dict[str, dict]:
    """Per segment of the run: its task count and the sum of its tasks' wall seconds (from the task logs)."""
    out = {}
    for run in sorted((corpus / "runs").glob("run-*")):
        for segment in sorted((run / "exec").glob("*")):
            seconds, tasks = 0.0, 0
            for log in segment.glob("logs/task_*.log"):
                stamps = [LOG_TIME.match(line) for line in log.open(errors="replace")]
                stamps = [datetime.fromisoformat(s.group(1)) for s in stamps if s]
                if len(stamps) >= 2:
                    seconds += (stamps[-1] - stamps[0]).total_seconds()
                    tasks += 1
            out[segment.name] = {"tasks": tasks, "task_seconds": round(seconds, 2)}
    return out


def index_bytes(corpus: Path) -> dict[str, int]:
    index = corpus / "state" / "index"
    return {step.name: sum(p.stat().st_size for p in step.rglob("*") if p.is_file())
            for step in sorted(index.glob("*")) if step.is_dir()} if index.exists() else {}


# ---- fitting and projection ---------------------------------------------------------------------------

def power_fit(xs: list[float], ys: list[float]) -> float:
    """Exponent b of y = a * x^b by least squares on logarithms (nan with fewer than 2 usable points)."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x > 0 and y > 0]
    if len(pts) < 2:
        return float("nan")
    mx, my = sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)
    den = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / den if den else float("nan")


def own_cpu(rows: dict[str, list[dict]], stage: Stage, i: int) -> float:
    """The stage's CPU seconds at size index ``i``: its run minus the run of the pipeline it extends."""
    cpu = rows[stage.name][i]["cpu"]
    if stage.base and stage.base in rows and i < len(rows[stage.base]):
        cpu -= rows[stage.base][i]["cpu"]
    return max(cpu, 0.0)


def marginal(xs: list[float], ys: list[float]) -> float:
    """Cost per unit between the two largest sizes: the fixed costs of a run (start-up, planning) cancel out."""
    if len(xs) < 2 or xs[-1] == xs[-2]:
        return ys[-1] / xs[-1] if xs and xs[-1] else 0.0
    return max(ys[-1] - ys[-2], 0.0) / (xs[-1] - xs[-2])


def growth_word(b: float, memory: bool = False) -> str:
    if math.isnan(b):
        return "-"
    if memory:
        return f"flat (n^{b:.2f})" if b < 0.15 else f"grows (n^{b:.2f})"
    if b < 0.85:
        return f"n^{b:.2f} (fixed costs still weigh)"
    return f"linear (n^{b:.2f})" if b <= 1.15 else f"superlinear (n^{b:.2f})"


def table(rows: dict[str, list[dict]], all_stages: list[Stage]) -> list[str]:
    """The Markdown table: per stage and size, time and peak memory."""
    lines = ["| stage | input | MB | docs | wall s | CPU s | stage CPU s | peak process MB | driver MB | worker MB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for stage in all_stages:
        for i, r in enumerate(rows.get(stage.name, [])):
            docs = f"{r['docs']:,}" if r["docs"] else "-"
            lines.append(f"| {stage.label or stage.name} | {stage.kind} | {r['mb']:.1f} | {docs} | {r['wall']:.1f} | "
                         f"{r['cpu']:.1f} | {own_cpu(rows, stage, i):.1f} | {r['peak_process_mb']:.0f} | "
                         f"{r['peak_driver_mb']:.0f} | {r['peak_worker_mb']:.0f} |")
    return lines


def compact_table(rows: dict[str, list[dict]], all_stages: list[Stage]) -> list[str]:
    """One row per stage, the sizes side by side (docs/scale.md's table)."""
    lines = ["| stage | input MB (files) | stage CPU s | whole run CPU s | wall s | peak MB, largest process |",
             "|---|---|---|---|---|---|"]
    for stage in all_stages:
        runs = rows.get(stage.name, [])
        if not runs:
            continue
        sizes = " / ".join(f"{r['mb']:.0f}" for r in runs)
        if stage.kind == "items":
            sizes += " (" + " / ".join(f"{r['docs'] / 1e6:g}M" for r in runs) + ")"
        own = " / ".join(f"{own_cpu(rows, stage, i):.1f}" for i in range(len(runs)))
        cpu = " / ".join(f"{r['cpu']:.1f}" for r in runs)
        wall = " / ".join(f"{r['wall']:.0f}" for r in runs)
        peak = " / ".join(f"{r['peak_process_mb']:.0f}" for r in runs)
        lines.append(f"| {stage.label or stage.name} | {sizes} | {own} | {cpu} | {wall} | {peak} |")
    return lines


def line_fit(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least-squares line y = fixed + slope * x over all sizes, and its largest residual relative to y."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0
    fixed = my - slope * mx
    worst = max((abs(fixed + slope * x - y) / y for x, y in zip(xs, ys) if y > 0), default=0.0)
    return fixed, slope, worst


def projection(rows: dict[str, list[dict]], all_stages: list[Stage]) -> list[str]:
    """Per stage: a line through CPU against size (fixed + per MB), the growth of peak memory, and core-hours at
    scale, linear in the fitted cost per MB."""
    lines = ["| stage | CPU fit: fixed s + s per MB (files) | worst residual | MB per CPU-s | peak memory growth "
             "| core-hours at scale | peak MB per process |", "|---|---|---:|---:|---|---|---:|"]
    for stage in all_stages:
        runs = rows.get(stage.name, [])
        if len(runs) < 2:
            continue
        xs = [r["docs"] if stage.kind == "items" else r["mb"] for r in runs]
        cpus = [own_cpu(rows, stage, i) for i in range(len(runs))]
        mems = [r["peak_process_mb"] for r in runs]
        fixed, per_mb, worst = line_fit(xs, cpus)
        per_mb = max(per_mb, 0.0)
        unit = "file" if stage.kind == "items" else "MB"
        scale = 1e6 if stage.kind == "items" else 1.0
        speed = (f"{1 / per_mb:,.0f} files" if stage.kind == "items" else f"{1 / per_mb:.1f}") if per_mb else "-"
        fit = f"{fixed:.1f} + {per_mb * scale:.3f} per {'1M files' if scale > 1 else unit}"
        lines.append(f"| {stage.label or stage.name} | {fit} | {worst:.0%} | {speed} | "
                     f"{growth_word(power_fit(xs, mems), memory=True)} | {at_scale(stage, runs, per_mb, cpus)} | "
                     f"{mems[-1]:.0f} |")
    return lines


def at_scale(stage: Stage, runs: list[dict], per_mb: float, cpus: list[float]) -> str:
    """Core-hours at the stage's own target scale, linear in the fitted cost."""
    if stage.kind == "commits":  # per commit: Seed-Coder's 74M commits
        per_commit = max(line_fit([r["docs"] for r in runs], cpus)[1], 0.0)
        return f"{per_commit * 74e6 / 3600:,.0f} for 74M commits"
    if stage.kind == "web":
        return f"{per_mb * 1e6 / 3600:,.0f} per TB of HTML"
    if stage.kind == "items":  # per_mb is per file here
        return f"{per_mb * STACK_V2_FILES / 3600:,.0f} for 3B files"
    return f"{per_mb * STACK_V2_BYTES / 1e6 / 3600:,.0f} for 67.5 TB"


def segments_table(rows: dict[str, list[dict]]) -> list[str]:
    """Barrier jobs (non per-shard segments) of the stages that have them: tasks and task-seconds per size."""
    lines = ["| stage | job | tasks at each size | task wall s at each size |", "|---|---|---|---|"]
    for name, runs in rows.items():
        jobs = sorted({j for r in runs for j in r["segments"] if not j.startswith("segment-")})
        for job in jobs:
            tasks = " / ".join(str(r["segments"].get(job, {}).get("tasks", "-")) for r in runs)
            secs = " / ".join(f"{r['segments'].get(job, {}).get('task_seconds', 0):.1f}" for r in runs)
            lines.append(f"| {name} | {job} | {tasks} | {secs} |")
    return lines


def items_table(rows: dict[str, list[dict]], all_stages: list[Stage]) -> list[str]:
    """The single-task barrier jobs at millions of items: seconds and driver memory per million files, and
    what one task would need for The Stack v2's 3 billion files in one run."""
    lines = ["| stage | job | tasks | task s at each size | s per 1M files (marginal) | hours for 3B files in these "
             "tasks |", "|---|---|---:|---|---:|---:|"]
    for stage in [s for s in all_stages if s.kind == "items" and s.base and rows.get(s.name)]:
        runs = rows[stage.name]
        docs = [r["docs"] for r in runs]
        for job in sorted({j for r in runs for j in r["segments"] if not j.startswith("segment-")}):
            secs = [r["segments"].get(job, {}).get("task_seconds", 0.0) for r in runs]
            tasks = runs[-1]["segments"].get(job, {}).get("tasks", 0)
            per = marginal(docs, secs)
            lines.append(f"| {stage.name} | {job} | {tasks} | {' / '.join(f'{x:.1f}' for x in secs)} | "
                         f"{per * 1e6:.1f} | {per * STACK_V2_FILES / 3600:,.1f} |")
        base = rows[stage.base]
        extra = [r["peak_driver_mb"] - b["peak_driver_mb"] for r, b in zip(runs, base)]
        per_item = marginal(docs, extra) * 2**20
        lines.append(f"| {stage.name} | driver peak above {stage.base} | | "
                     f"{' / '.join(f'{x:+.0f} MB' for x in extra)} | {per_item:.0f} bytes per file | "
                     f"{per_item * STACK_V2_FILES / 2**30:,.0f} GiB for 3B files in one run, if linear |")
    return lines


def index_table(rows: dict[str, list[dict]]) -> list[str]:
    lines = ["| stage | index | bytes per input byte at each size |", "|---|---|---|"]
    for name, runs in rows.items():
        steps = sorted({s for r in runs for s in r["index_bytes"]})
        for step in steps:
            per = " / ".join(f"{r['index_bytes'].get(step, 0) / (r['mb'] * 1e6):.3f}" for r in runs)
            lines.append(f"| {name} | {step} | {per} |")
    return lines


# ---- the barrier jobs of every Stage plugin -----------------------------------------------------------

def barrier_inventory(shards: int = 1000) -> list[str]:
    """Every Stage plugin's barrier jobs and their task counts for a run of ``shards`` shards (default params)."""
    from curate import registry
    from curate.plugin import RunContext, StageContext
    from curate.plugin import Stage as StagePlugin

    required = {"quality_scorer": {"model": "unused"}, "train_quality_scorer": {"cache": "unused.sqlite",
                                                                                "out": "unused"},
                "fasttext_classifier": {"model": str(WEB_MODEL)}}
    at_scale = {"minhash_dedup": {"bucket_tasks": 64}}  # the parameter a large run sets (default 1)
    lines = [f"| stage plugin | barrier jobs (tasks, for {shards:,} shards, default parameters) |", "|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for name, params in [(n, required.get(n, {})) for n in sorted(registry.names())] + [
                (n, p) for n, p in at_scale.items()]:
            cls = registry.get(name)
            if not (isinstance(cls, type) and issubclass(cls, StagePlugin)):
                continue
            label = name + "".join(f", {k}: {v}" for k, v in params.items() if k in at_scale.get(name, {}))
            try:
                plugin = cls(params, RunContext())
                ctx = StageContext(step_id=name, run_id="run-0001", run_seq=1, tasks=shards, work_dir=f"{tmp}/w",
                                   index_dir=f"{tmp}/i-{name}", previous_runs=[], run_context=RunContext())
                jobs = plugin.barrier_jobs(ctx)
            except Exception as exc:  # noqa: BLE001 - a stage that cannot be planned here is reported as such
                lines.append(f"| {label} | cannot plan with default parameters: {type(exc).__name__}: {exc} |")
                continue
            lines.append(f"| {label} | " + (", ".join(f"{j.name} ({j.tasks})" for j in jobs) or "none") + " |")
    return lines


# ---- driver -------------------------------------------------------------------------------------------

def inputs_for(stage: Stage, size: float, args, root: Path) -> Path | None:
    if stage.kind == "code":
        return code_corpus(root, size, args.shard_mb)
    if stage.kind == "packer":
        return code_corpus(root, size / 4, args.shard_mb)
    if stage.kind == "items":
        return items_corpus(root, int(size), args.shard_mb)
    if stage.kind == "web":
        return web_corpus(root, size)[0]
    return commit_corpus(root, max(1, round(size / 20)))


def report(rows: dict[str, list[dict]], all_stages: list[Stage], meta: dict) -> None:
    print(f"\nsizes {meta['sizes']} MB; workers {meta['workers']}; shards of ~{meta['shard_mb']} MB, tasks of "
          f"~{meta.get('task_mb', 512)} MB; "
          f"load average {meta['load']} during the runs (2-core shared machine)")
    print("\n".join(compact_table(rows, all_stages)))
    print("\nEvery run:")
    print("\n".join(table(rows, all_stages)))
    print("\nGrowth and projection (The Stack v2: 67.5 TB, ~3B files before near-dedup; commits: Seed-Coder's 74M), "
          "linear in the fitted CPU time per MB (per file for the many-small-files rows):")
    print("\n".join(projection(rows, all_stages)))
    print("\nBarrier jobs measured (task wall seconds from the task logs; inflated by the load):")
    print("\n".join(segments_table(rows)))
    if any(r.startswith("items_") for r in rows):
        print(f"\nSingle-task barrier jobs at {meta.get('items', [])} small files (task wall s; driver peak RSS):")
        print("\n".join(items_table(rows, all_stages)))
    print("\nPersistent indexes after one run:")
    print("\n".join(index_table(rows)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="20,80,320", help="corpus sizes in MB (default 20,80,320)")
    parser.add_argument("--items", default="100000,400000,1600000",
                        help="file counts of the many-small-files corpora (items_* stages; default 0.1M,0.4M,1.6M)")
    parser.add_argument("--stages", default="all", help="comma-separated stage names (default all)")
    parser.add_argument("--shard-mb", type=float, default=10.0, help="MB per input shard (default 10)")
    parser.add_argument("--task-mb", type=float, default=None,
                        help="output.max_file_mb: MB of input per task (default: --shard-mb, one shard per task)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scratch", default=str(REPO / "out" / "bench-scale"))
    parser.add_argument("--json", default=None, metavar="FILE", help="write every figure to FILE")
    parser.add_argument("--from-json", default=None, metavar="FILE[,FILE]",
                        help="print the tables of saved figures (several files: their rows merged)")
    parser.add_argument("--barriers", action="store_true", help="print only the barrier-job inventory")
    args = parser.parse_args()
    root = Path(args.scratch)
    all_stages = stages(root / "scorer")
    print("\n".join(barrier_inventory()))
    if args.barriers:
        return
    if args.from_json:
        saved = [json.loads(Path(f).read_text()) for f in args.from_json.split(",")]
        meta = {**saved[0]["meta"], **{k: v for s in saved for k, v in s["meta"].items() if k == "items" and v}}
        meta["load"] = " / ".join(s["meta"]["load"] for s in saved)
        return report({k: v for s in saved for k, v in s["rows"].items()}, all_stages, meta)
    sizes = [float(s) for s in args.sizes.split(",") if s]
    chosen = all_stages if args.stages == "all" else [s for s in all_stages if s.name in args.stages.split(",")]
    if any(s.name == "quality_scorer" for s in chosen):
        train_scorer(code_corpus(root, sizes[0] if sizes else 20, args.shard_mb), root / "scorer")
    rows: dict[str, list[dict]] = {}
    loads = []
    items = [int(float(n)) for n in args.items.split(",") if n]
    plan = [(size, stage) for size in sizes for stage in chosen if stage.kind != "items"]
    plan += [(n, stage) for n in items for stage in chosen if stage.kind == "items"]
    for size, stage in plan:
        row = run_stage(stage, inputs_for(stage, size, args, root), root / "work", args.workers,
                        args.task_mb or args.shard_mb)
        rows.setdefault(stage.name, []).append(row)
        loads.append(row["load"])
        unit = "files" if stage.kind == "items" else "MB"
        print(f"  {size:g} {unit} {stage.name}: {row['mb']:.1f} MB, {row['wall']:.1f} s wall, {row['cpu']:.1f} s CPU, "
              f"peak {row['peak_process_mb']:.0f} MB (driver {row['peak_driver_mb']:.0f}, worker "
              f"{row['peak_worker_mb']:.0f}), load {row['load']:.1f}", flush=True)
    meta = {"sizes": sizes, "items": items, "workers": args.workers, "shard_mb": args.shard_mb,
            "task_mb": args.task_mb or args.shard_mb,
            "load": f"{min(loads):.1f}-{max(loads):.1f}"}
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    report(rows, all_stages, meta)


if __name__ == "__main__":
    main()
