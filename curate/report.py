"""Human-readable summaries: the funnel of a run, and ``curate report CORPUS_DIR``."""

from __future__ import annotations

import re

import orjson
from rich.console import Console
from rich.table import Table

from curate.state import CorpusDir, read_bytes
from curate.stepstats import merge_step_stats

#: a table cell holding a number, a size or a share (right-aligned in the HTML report and the dataset card)
NUMERIC = re.compile(r"^[-\d.,%≤ ]+( ?[KMGT]?B| s)?$|^-$")


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def funnel_table(summary: dict, title: str | None = None) -> Table:
    table = Table(title=title or f"{summary['run_id']}: {summary.get('pipeline', '')}", title_justify="left")
    for col, justify in (("step", "left"), ("docs in", "right"), ("bytes in", "right"), ("kept", "right"),
                         ("kept bytes", "right"), ("dropped", "right"), ("drop reasons", "left"),
                         ("errors", "right"), ("MB/s busy", "right")):
        table.add_column(col, justify=justify)
    for row in summary["steps"]:
        drops = {r: d for r, d in row["drops"].items() if not r.startswith("error:")}
        errors = {r: d for r, d in row["drops"].items() if r.startswith("error:")}
        dropped = sum(d[0] for d in drops.values())
        reasons = ", ".join(f"{r}: {d[0]:,}" for r, d in sorted(drops.items(), key=lambda kv: -kv[1][0]))
        failed = ", ".join(f"{r.removeprefix('error:')}: {d[0]:,}" for r, d in sorted(errors.items()))
        speed = row["bytes_in"] / 1e6 / row["busy"] if row.get("busy") else 0.0
        table.add_row(row["step_id"], f"{row['docs_in']:,}", human_bytes(row["bytes_in"]), f"{row['docs_out']:,}",
                      human_bytes(row["bytes_out"]), f"{dropped:,}", reasons or "-", failed or "-",
                      f"{speed:,.1f}" if speed else "-")
    return table


def print_summary(summary: dict, console: Console | None = None) -> None:
    console = console or Console()
    status = summary.get("status", "completed")
    kind = summary.get("kind", "run")
    title = f"{summary['run_id']}: {summary.get('pipeline', '')}" + (f" ({kind})" if kind != "run" else "") + (
        " - FAILED, nothing published" if status == "failed" else "")
    console.print(funnel_table(summary, title))
    for skipped in summary.get("skipped_shards", []):
        console.print(f"skipped {skipped['shard']}: same content as {skipped['same_as']}", markup=False)
    wall = summary["wall_seconds"]
    console.print(f"{summary['shards']} shards, {summary['docs_in']:,} documents ({human_bytes(summary['bytes_in'])}) "
                  f"in, {summary['docs_out']:,} ({human_bytes(summary['bytes_out'])}) out, in {wall:.1f} s: "
                  f"{summary['docs_per_second']:,.0f} docs/s, {summary['mb_per_second']:.2f} MB/s")


def load_run_summary(corpus: CorpusDir, run_id: str) -> dict | None:
    raw = read_bytes(f"{corpus.run_dir(run_id)}/summary.json")
    if raw:
        return orjson.loads(raw)
    steps = merge_step_stats(corpus.read_step_stats(run_id))
    if not steps:
        return None
    return {"run_id": run_id, "pipeline": "(interrupted)", "wall_seconds": 0.0, "shards": steps[0]["ranks"],
            "steps": steps, "docs_in": steps[0]["docs_in"], "bytes_in": steps[0]["bytes_in"],
            "docs_out": steps[-1]["docs_out"], "bytes_out": steps[-1]["bytes_out"], "docs_per_second": 0.0,
            "mb_per_second": 0.0, "incomplete": True}


class ReportError(Exception):
    """The directory is not a corpus, or the run asked for is not in it; the message says which."""


def open_corpus(corpus_dir: str, run: str | None = None) -> CorpusDir:
    """The corpus at ``corpus_dir``, checked: it has runs or a manifest, and ``run`` (if given) is one of them."""
    corpus = CorpusDir(corpus_dir)
    runs = corpus.list_runs()
    if not runs and not corpus.manifest() and corpus.pending() is None:
        raise ReportError(f"{corpus_dir} is not a curate corpus (no runs/run-* and no state/manifest.jsonl). "
                          "Give the output.dir of a pipeline that has run, e.g. `curate report out/github-files`.")
    if run is not None and run not in runs:
        known = ", ".join(runs) or "none"
        raise ReportError(f"{corpus_dir} has no run '{run}'. Its runs: {known}.")
    return corpus


def corpus_report(corpus_dir: str, run: str | None = None, show_yaml: bool = True) -> dict:
    """Collect the report data of a corpus directory (every run, or one)."""
    corpus = open_corpus(corpus_dir, run)
    runs = [run] if run else corpus.list_runs()
    out = {"corpus": corpus_dir, "runs": [], "pending": corpus.pending(), "manifest_shards": len(corpus.manifest())}
    for run_id in runs:
        summary = load_run_summary(corpus, run_id)
        if summary is None:
            continue
        entry = {"summary": summary}
        plugins = read_bytes(f"{corpus.run_dir(run_id)}/plugins.json")
        entry["plugins"] = orjson.loads(plugins) if plugins else {}
        if show_yaml:
            raw = read_bytes(f"{corpus.run_dir(run_id)}/pipeline.yaml")
            entry["pipeline_yaml"] = raw.decode() if raw else None
        out["runs"].append(entry)
    return out


def print_report(data: dict, console: Console | None = None, show_yaml: bool = True) -> None:
    console = console or Console()
    console.print(f"[bold]corpus[/bold] {data['corpus']}: {len(data['runs'])} run(s), "
                  f"{data['manifest_shards']} input shards consumed")
    if data.get("pending"):
        console.print(f"[yellow]{data['pending']['run_id']} is interrupted: run the same pipeline again to "
                      f"finish it[/yellow]")
    for entry in data["runs"]:
        print_summary(entry["summary"], console)
        if entry.get("plugins"):
            versions = ", ".join(f"{name} ({p['kind']}, {p['origin']}, {p['distribution']})"
                                 for name, p in entry["plugins"].items())
            console.print(f"plugins: {versions}")
        if show_yaml and entry.get("pipeline_yaml"):
            console.print("resolved pipeline:")
            console.print(entry["pipeline_yaml"], markup=False, highlight=False)
        _plugin_sections(data["corpus"], entry, console)


def _plugin_sections(corpus_dir: str, entry: dict, console: Console) -> None:
    """Let each plugin used by the run add its own section (a ``report_section`` classmethod)."""
    from curate import registry

    for name in entry.get("plugins", {}):
        try:
            cls = registry.get(name)
        except registry.PluginError:
            continue
        section = getattr(cls, "report_section", None)
        if section is not None:
            section(CorpusDir(corpus_dir), entry["summary"]["run_id"], console)


def corpus_facts(corpus_dir: str, run: str | None = None) -> dict:
    """Everything the HTML report and the dataset card show: the runs (summaries, pipelines, plugin versions),
    the funnel summed over runs, and the profile of the output (languages, licences, lengths, scores)."""
    from curate import __version__
    from curate.profile import merge_profiles, run_profile

    data = corpus_report(corpus_dir, run, show_yaml=True)
    corpus = CorpusDir(corpus_dir)
    finished = [entry for entry in data["runs"] if not entry["summary"].get("incomplete")]
    data["profile"] = merge_profiles([run_profile(corpus, e["summary"]["run_id"]) for e in finished])
    data["funnel"] = merge_funnel([e["summary"] for e in finished])
    data["pipelines"] = sorted({e["summary"].get("pipeline", "") for e in finished} - {""})
    data["scope"] = run or "all runs"
    data["curate_version"] = __version__
    return data


def merge_funnel(summaries: list[dict]) -> list[dict]:
    """Per step id (in pipeline order), documents and bytes in and out and drop reasons, summed over runs."""
    rows: dict[str, dict] = {}
    for summary in summaries:
        for step in summary["steps"]:
            row = rows.setdefault(step["step_id"], {"step_id": step["step_id"], "docs_in": 0, "bytes_in": 0,
                                                     "docs_out": 0, "bytes_out": 0, "drops": {}, "runs": 0})
            row["runs"] += 1
            for key in ("docs_in", "bytes_in", "docs_out", "bytes_out"):
                row[key] += step[key]
            for reason, (docs, nbytes) in step["drops"].items():
                entry = row["drops"].setdefault(reason, [0, 0])
                entry[0] += docs
                entry[1] += nbytes
    return list(rows.values())
