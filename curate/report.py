"""Human-readable summaries: the funnel of a run, and ``curate report CORPUS_DIR``."""

from __future__ import annotations

import orjson
from rich.console import Console
from rich.table import Table

from curate.state import CorpusDir, read_bytes
from curate.stepstats import merge_step_stats


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


def corpus_report(corpus_dir: str, run: str | None = None, show_yaml: bool = True) -> dict:
    """Collect the report data of a corpus directory (every run, or one)."""
    corpus = CorpusDir(corpus_dir)
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
