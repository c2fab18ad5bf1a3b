"""The decontamination audit: per benchmark, how many items leaked into a corpus and into which documents.

The filter writes one line per flagged document to ``runs/<run>/steps/<step>/audit/<rank>.jsonl``; the index
job writes ``benchmarks.json`` (which benchmarks and parameters the run used) next to them. Only published runs
count (a rolled-back run's audit goes with its run folder).
"""

from __future__ import annotations

import posixpath

import orjson

from curate import CorpusDir, filesystem, read_bytes
from curate_plugins._decontam import benchmarks as bench


def audit_runs(corpus: CorpusDir, run_id: str | None = None) -> list[tuple[str, str, str]]:
    """``(step id, run id, audit folder)`` for every decontamination audit in the corpus (or in one run)."""
    fs, root = filesystem(corpus.path("runs"))
    if not fs.exists(root):
        return []
    published = set(corpus.published_runs())
    found = []
    for marker in sorted(fs.glob(f"{root}/*/steps/*/audit/benchmarks.json")):
        folder = posixpath.dirname(marker)
        step_folder = posixpath.dirname(folder)
        step = posixpath.basename(step_folder)
        run = posixpath.basename(posixpath.dirname(posixpath.dirname(step_folder)))
        if (run_id is None or run == run_id) and run in published:
            found.append((step, run, folder))
    return found


def collect(corpus: CorpusDir, run_id: str | None = None) -> dict:
    """The publishable audit as a mapping: per step, per benchmark, items total, items leaked, documents."""
    out: dict = {"corpus": corpus.root, "steps": {}}
    for step, run, folder in audit_runs(corpus, run_id):
        fs, path = filesystem(folder)
        info = orjson.loads(read_bytes(f"{folder}/benchmarks.json"))
        entries = []
        for part in sorted(fs.glob(f"{path}/[0-9]*.jsonl")):
            with fs.open(part, "rb") as handle:
                entries += [orjson.loads(line) for line in handle if line.strip()]
        step_out = out["steps"].setdefault(step, {"runs": [], "benchmarks": {}})
        step_out["runs"].append(run)
        for name in info["benchmarks"]:
            _add_benchmark(step_out["benchmarks"], name, info["benchmarks"][name], entries, run)
    for step_out in out["steps"].values():
        for summary in step_out["benchmarks"].values():
            summary["items_leaked"] = len(summary["leaked"])
            summary["items_overlapping"] = len(summary["overlapping"])
    return out


def _add_benchmark(target: dict, name: str, info: dict, entries: list[dict], run: str) -> None:
    """An item *leaked* into a document if it is that document's best match (most shared n-grams) within this
    benchmark; every item sharing any n-gram with a document is listed under *overlapping* (Seed-Coder's rule
    flags the document either way)."""
    summary = target.setdefault(name, {"items_total": _item_count(name, info), "licence": info.get("licence"),
                                       "documents": 0, "leaked": {}, "overlapping": {}})
    for entry in entries:
        hits = [item.split("/", 1)[1] for item in entry["items"] if item.split("/", 1)[0] == name]
        if not hits:
            continue
        summary["documents"] += 1
        where = {"id": entry["id"], "path": entry.get("path"), "repo": entry.get("repo"), "run": run,
                 "action": entry.get("action")}
        summary["leaked"].setdefault(hits[0], []).append(where)
        for item in hits:
            summary["overlapping"].setdefault(item, []).append(entry["id"])


def _item_count(name: str, info: dict) -> int | None:
    path = info.get("path")
    try:
        return bench.BenchmarkSpec(name, path, "", {}).count() if path else None
    except OSError:
        return None


def print_report_section(corpus: CorpusDir, run_id: str, console, max_ids: int = 5) -> None:
    data = collect(corpus, run_id)
    if not data["steps"]:
        return
    print_audit(data, console, max_ids)


def print_audit(data: dict, console, max_ids: int | None = None) -> None:
    from rich.table import Table

    for step, step_out in data["steps"].items():
        table = Table(title=f"decontamination audit ({step}; runs {', '.join(step_out['runs'])})",
                      title_justify="left")
        for col in ("benchmark", "items", "items leaked", "items overlapping", "documents flagged",
                    "leaked item -> document ids"):
            table.add_column(col)
        for name, summary in step_out["benchmarks"].items():
            table.add_row(name, str(summary["items_total"]), str(summary["items_leaked"]),
                          str(summary["items_overlapping"]), str(summary["documents"]),
                          _leak_lines(summary["leaked"], max_ids) or "-")
        console.print(table)


def _leak_lines(leaked: dict, max_ids: int | None) -> str:
    lines = []
    for item, docs in sorted(leaked.items(), key=lambda kv: _natural(kv[0])):
        ids = [d["id"] for d in docs]
        shown = ids if max_ids is None else ids[:max_ids]
        more = f" (+{len(ids) - len(shown)} more)" if len(ids) > len(shown) else ""
        lines.append(f"{item}: {', '.join(shown)}{more}")
    if max_ids is not None and len(lines) > 3 * max_ids:
        lines = lines[: 3 * max_ids] + [f"... {len(leaked) - 3 * max_ids} more items (curate decontam-report)"]
    return "\n".join(lines)


def _natural(key: str):
    tail = key.rsplit("/", 1)[-1]
    return (0, int(tail), key) if tail.isdigit() else (1, 0, key)
