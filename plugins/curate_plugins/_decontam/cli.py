"""CLI: ``curate benchmarks list|boilerplate`` and ``curate decontam-report CORPUS``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson


@click.group("benchmarks")
def benchmarks():
    """Benchmarks bundled for decontamination (ngram_decontaminate)."""


@benchmarks.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_benchmarks(as_json: bool):
    """Show the bundled benchmarks: items, licence, origin and the fields indexed per role."""
    from rich.console import Console
    from rich.table import Table

    from curate_plugins._decontam import benchmarks as bench

    rows = []
    for name in bench.bundled_names():
        spec = bench.bundled(name)
        rows.append({"name": name, "items": spec.count(), "licence": spec.licence, "origin": spec.origin,
                     "fields": spec.fields, "path": spec.path, "licence_file": spec.notice})
    if as_json:
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table(title="bundled benchmarks", title_justify="left")
    for col in ("name", "items", "licence", "origin", "fields (role=field)"):
        table.add_column(col)
    for row in rows:
        table.add_row(row["name"], str(row["items"]), row["licence"], row["origin"],
                      ", ".join(f"{k}={v}" for k, v in row["fields"].items()))
    Console().print(table)


@benchmarks.command("boilerplate")
@click.argument("reference", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="File to write.")
@click.option("--benchmark", "names", multiple=True, help="Bundled benchmarks to scan for (default: all).")
@click.option("--n", default=10, show_default=True, help="Words per n-gram.")
@click.option("--min-docs", default=1, show_default=True,
              help="An n-gram is boilerplate if this many distinct reference documents contain it.")
@click.option("--text-field", default="text", show_default=True, help="JSONL field holding the code.")
@click.option("--pipeline-params", default="{}", show_default=True,
              help="JSON of ngram_decontaminate parameters whose specificity rule to apply (default: the defaults).")
@click.option("--note", default="", help="A line describing the reference corpus, written into the header.")
def build_boilerplate(reference, output, names, n, min_docs, text_field, pipeline_params, note):
    """Write the benchmark n-grams found in a REFERENCE corpus (JSONL files of code) as a boilerplate list.

    Use a corpus of ordinary third-party code that does not contain benchmark solutions: every benchmark
    n-gram that occurs in it is common code or text, not a leak. The output lists one n-gram per line.
    """
    from curate_plugins._decontam.boilerplate import scan_reference, write_list
    from curate_plugins.ngram_decontaminate import NgramDecontaminate, shape_of

    shape = shape_of(NgramDecontaminate.Params(**orjson.loads(pipeline_params)))
    shape_params = {"min_distinct_words": shape.min_distinct_words, "word_frequencies": shape.word_frequencies,
                    "frequent_share": shape.frequent_share, "min_distinctive_words": shape.min_distinctive_words}
    found, scanned = scan_reference(list(reference), list(names) or None, n, text_field, shape_params)
    kept = {gram: docs for gram, docs in found.items() if len(docs) >= min_docs}
    write_list(Path(output), kept, list(reference), scanned, n, min_docs, note)
    click.echo(f"{len(kept)} boilerplate n-grams from {scanned:,} reference documents written to {output}")


@click.command("decontam-report")
@click.argument("corpus")
@click.option("--run", "run_id", default=None, help="Only this run (default: every run).")
@click.option("--json", "as_json", is_flag=True, help="Print the full audit as JSON (publishable).")
def decontam_report(corpus, run_id, as_json):
    """Per benchmark: how many items leaked into CORPUS and the ids of the documents they leaked into."""
    from rich.console import Console

    from curate import CorpusDir
    from curate_plugins._decontam.audit import collect, print_audit

    data = collect(CorpusDir(corpus), run_id)
    if not data["steps"]:
        click.echo(f"{corpus}: no decontamination audit found (no ngram_decontaminate step has run)", err=True)
        sys.exit(1)
    if as_json:
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    print_audit(data, Console(), None)


@benchmarks.command("word-frequencies")
@click.argument("reference", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="File to write.")
@click.option("--min-share", default=0.005, show_default=True,
              help="List words that at least this share of the distinct reference documents contain.")
@click.option("--text-field", default="text", show_default=True, help="JSONL field holding the code.")
@click.option("--note", default="", help="A line describing the reference corpus, written into the header.")
def build_word_frequencies(reference, output, min_share, text_field, note):
    """Write the words of a REFERENCE corpus of ordinary code with the share of documents holding each."""
    from curate_plugins._decontam.boilerplate import word_frequencies

    kept, scanned = word_frequencies(list(reference), text_field, min_share)
    header = ["# Words of ordinary code and the share of reference files holding them (ngram_decontaminate's",
              "# specificity rule: a word absent from this list is rare; one above frequent_share is frequent).",
              f"# Built by `curate benchmarks word-frequencies` (min-share={min_share}) from {scanned:,} distinct "
              "reference documents.",
              *([f"# Reference corpus: {note}"] if note else []), "# word<TAB>share"]
    Path(output).write_text("\n".join(header + [f"{w}\t{share:.5f}" for w, share in kept]) + "\n", encoding="utf-8")
    click.echo(f"{len(kept)} words from {scanned:,} reference documents written to {output}")
