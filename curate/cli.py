"""The ``curate`` command line. Plugins may add subcommands through the ``curate.commands`` entry-point group
(a ``click`` command or group), e.g. ``curate train fasttext``."""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import entry_points

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from curate import registry
from curate.config import ConfigError, PipelineSpec, apply_override, load_yaml, validate_pipeline

#: exit codes (README, "Exit codes")
EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_REFUSED, EXIT_LOCKED, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130

console = Console() if Console().is_terminal else Console(width=160)
err_console = Console(stderr=True) if Console(stderr=True).is_terminal else Console(stderr=True, width=160)


class EntryPointGroup(click.Group):
    """A click group whose further subcommands come from an entry-point group, imported only when invoked.

    A command that fails to import is listed with its error instead of breaking the whole CLI.
    """

    def __init__(self, *args, entry_point_group: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.entry_point_group = entry_point_group

    def _entry_points(self) -> dict:
        return {ep.name: ep for ep in entry_points(group=self.entry_point_group)}

    def list_commands(self, ctx):
        """Built-in commands and those of the entry-point group, sorted."""
        return sorted(set(super().list_commands(ctx)) | set(self._entry_points()))

    def get_command(self, ctx, name):
        """A built-in command, else the entry point of that name (imported now), else None."""
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        ep = self._entry_points().get(name)
        if ep is None:
            return None
        try:
            return ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken add-on must not break the CLI
            return _broken_command(name, ep.value, exc)


def _broken_command(name: str, origin: str, exc: Exception) -> click.Command:
    missing = getattr(exc, "name", None) if isinstance(exc, ImportError) else None
    hint = f". Install it: pip install '{registry.install_hint(missing)}'" if missing else ""

    def fail():
        raise click.ClickException(f"command '{name}' ({origin}) failed to load: {type(exc).__name__}: {exc}{hint}")

    return click.Command(name, callback=fail, help=f"(broken: {type(exc).__name__}: {exc})")


@click.group(cls=EntryPointGroup, entry_point_group="curate.commands",
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="curate")
def main():
    """Build pretraining corpora for code LLMs from YAML pipelines of plugins."""


def _load(pipeline: str, overrides: tuple[str, ...], output: str | None):
    raw = load_yaml(pipeline)
    for assignment in overrides:
        apply_override(raw, assignment)
    if output:
        raw.setdefault("output", {})["dir"] = output
    return raw


_set_option = click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE",
    help="Override a pipeline value, e.g. --set executor.workers=1 --set steps[2].with.threshold=0.8")
_output_option = click.option("-o", "--output", default=None, help="Override output.dir.")


@main.command()
@click.argument("pipeline", type=click.Path(exists=True, dir_okay=False))
@_set_option
@_output_option
def validate(pipeline, overrides, output):
    """Check PIPELINE without running it; report every problem at once with its YAML path."""
    resolved = _validated(pipeline, overrides, output, "", warnings=True)
    steps = ", ".join(s.step_id for s in resolved.steps)
    warned = f"; {len(resolved.warnings)} warning(s)" if resolved.warnings else ""
    console.print(f"{pipeline}: OK ({len(resolved.inputs)} input(s); steps: {steps or 'none'}{warned})")


def _validated(pipeline, overrides, output, consequence: str, warnings: bool = False):
    """Load and validate PIPELINE, or print every problem and exit non-zero; ``warnings``: also run the plugins'
    slower warning checks and print them."""
    try:
        raw = _load(pipeline, overrides, output)
    except ConfigError as exc:
        err_console.print(str(exc), markup=False)
        sys.exit(EXIT_INVALID)
    resolved, errors = validate_pipeline(raw, warnings=warnings)
    if errors:
        err_console.print(f"{pipeline}: {len(errors)} problem(s){consequence}", style="bold red")
        for error in errors:
            err_console.print(f"  {error}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(EXIT_INVALID)
    for warning in resolved.warnings:
        err_console.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True, style="yellow")
    return resolved


@main.command()
@click.argument("pipeline", type=click.Path(exists=True, dir_okay=False))
@_set_option
@_output_option
@click.option("-w", "--workers", type=click.IntRange(min=1), default=None,
              help="Tasks running at once, on every executor (default: executor.workers, else all cores locally, "
                   "as many as Ray can place, no limit on Slurm).")
@click.option("--restart", is_flag=True, help="Discard an interrupted run instead of resuming it.")
@click.option("--rebuild-index", "rebuild_index", multiple=True, metavar="STEP",
              help="The index settings of step STEP changed: rebuild its index from the corpus's kept documents "
                   "(as a run of its own), then run the new shards against it.")
@click.option("--backfill", is_flag=True, help="Steps were added or changed: apply them to the existing output as "
                                               "a new run first, then run the new shards.")
@click.option("--accept-changes", is_flag=True, help="Steps were added, removed or changed: run the new shards "
                                                     "only; earlier output keeps the earlier pipeline.")
@click.option("--allow-other-pipeline", is_flag=True, help="Let a pipeline with another name add to this corpus.")
@click.option("--no-progress", is_flag=True, help="Do not show the live progress line.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
def run(pipeline, overrides, output, workers, restart, rebuild_index, backfill, accept_changes,
        allow_other_pipeline, no_progress, as_json):
    """Run PIPELINE over the input shards not yet in the corpus.

    Exit codes: 0 done (or nothing to do), 1 the run failed, 2 invalid pipeline or output directory, 3 the corpus
    refuses the run (the pipeline differs from the one that built it; the message names the way forward),
    4 another run holds the corpus, 130 interrupted."""
    from curate.report import print_summary
    from curate.run import RunError, RunOptions, run_pipeline

    resolved = _validated(pipeline, overrides, output, "; nothing was run")
    options = RunOptions(rebuild_index=tuple(rebuild_index), backfill=backfill, accept_changes=accept_changes,
                         allow_other_pipeline=allow_other_pipeline)
    try:
        result = run_pipeline(resolved, workers=workers, restart=restart,
                              show_progress=not no_progress and err_console.is_terminal,
                              echo=lambda m: err_console.print(m, markup=False, highlight=False, soft_wrap=True),
                              options=options)
    except RunError as exc:
        err_console.print(f"error: {exc}", markup=False, style="red", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted: run the same command again to finish the run; completed shards are "
                          "not redone", markup=False)
        sys.exit(EXIT_INTERRUPTED)
    summaries = [s for s in result.earlier if s] + ([result.summary] if result.summary else [])
    if not summaries:
        return
    if as_json:
        click.echo(json.dumps(result.summary or summaries[-1], indent=2))
        return
    for summary in summaries:
        print_summary(summary, console)
    if result.summary:
        console.print(f"output: {resolved.spec.output.dir}/data/{result.run_id}")


@main.command("runs")
@click.argument("corpus_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
def runs_command(corpus_dir, as_json):
    """The runs of CORPUS_DIR: kind, status, pipeline and its lineage fingerprint, shards, documents."""
    from curate.history import rolled_back, run_rows
    from curate.state import CorpusDir

    corpus = CorpusDir(corpus_dir)
    rows = run_rows(corpus)
    if as_json:
        click.echo(json.dumps({"runs": rows, "rolled_back": rolled_back(corpus)}, indent=2, default=str))
        return
    table = Table(title=f"runs of {corpus_dir}", title_justify="left")
    for col in ("run", "kind", "status", "pipeline", "fingerprint", "shards", "docs in", "docs out", "errors",
                "started"):
        table.add_column(col, justify="right" if col in ("shards", "docs in", "docs out", "errors") else "left")
    for row in rows:
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(row["started"])) if row["started"] else "-"
        kind = row["kind"] + (f" ({', '.join(row['steps'])})" if row["steps"] else "")
        shards = f"{row['shards']}" + (f" (+{row['skipped']} skipped)" if row["skipped"] else "")
        table.add_row(row["run"], kind, row["status"], row["pipeline"], row["fingerprint"], shards,
                      _count(row["docs_in"]), _count(row["docs_out"]), _count(row["errors"]), started)
    console.print(table)
    for event in rolled_back(corpus):
        console.print(f"rolled back: {event['run']} at "
                      f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(event['at']))}", markup=False)


def _count(value) -> str:
    return "-" if value is None else f"{value:,}"


@main.command("rollback")
@click.argument("corpus_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("run_id", required=False)
def rollback_command(corpus_dir, run_id):
    """Undo the last run of CORPUS_DIR (RUN_ID, if given, must be it): its output, excluded records, index
    snapshots and manifest entries go, atomically, so its shards can be run again. A rollback killed half-way
    is finished by the next `curate rollback` or `curate run`."""
    from curate.history import HistoryError, rollback
    from curate.lock import CorpusBusy, CorpusLocks, this_owner
    from curate.state import CorpusDir

    corpus = CorpusDir(corpus_dir)
    locks = CorpusLocks(corpus.lock_folders())
    try:
        locks.acquire(this_owner(), echo=lambda m: err_console.print(m, markup=False))
    except CorpusBusy as exc:
        err_console.print(f"error: {exc}", markup=False, style="red", soft_wrap=True)
        sys.exit(EXIT_LOCKED)
    try:
        journal = rollback(corpus, run_id)
    except HistoryError as exc:
        err_console.print(f"error: {exc}", markup=False, style="red", soft_wrap=True)
        sys.exit(EXIT_REFUSED)
    finally:
        locks.release()
    from curate.card import publish_card

    publish_card(corpus_dir, lambda m: err_console.print(m, markup=False))
    console.print(f"rolled back {journal['run_id']} ({journal['kind']}): its shards can be run again", markup=False)


@main.command("finish")
@click.argument("corpus_dir")
def finish(corpus_dir: str) -> None:
    """Record the pending run of CORPUS_DIR once its cluster jobs are done: check every task completed, merge
    the stats, update the manifest, write the summary. Submitted as the last Slurm job of a run."""
    import yaml

    from curate.run import RunError, run_pipeline
    from curate.state import CorpusDir, read_bytes

    corpus = CorpusDir(corpus_dir)
    pending = corpus.pending()
    if not pending:
        click.echo(f"{corpus_dir}: no pending run; nothing to finish")
        return
    raw = yaml.safe_load(read_bytes(f"{corpus.run_dir(pending['run_id'])}/pipeline.yaml"))
    resolved, errors = validate_pipeline(raw)
    if errors:
        raise click.ClickException(f"{pending['run_id']}/pipeline.yaml: " + "; ".join(errors))
    try:
        result = run_pipeline(resolved, show_progress=False, echo=click.echo, finishing=True)
    except RunError as exc:
        err_console.print(f"error: {exc}", markup=False, style="red", soft_wrap=True)
        sys.exit(exc.exit_code)
    if result.summary:
        click.echo(f"{result.run_id} finished: {result.summary['docs_in']} documents in, "
                   f"{result.summary['docs_out']} out")
    elif result.status == "submitted":
        raise click.ClickException(f"{result.run_id} is not finished: tasks were relaunched")


@main.group()
def plugins():
    """List and document the installed plugins."""


@plugins.command("list")
def plugins_list():
    """Every installed plugin: name, kind, origin and summary. Broken and clashing entries are listed too."""
    table = Table(title="curate plugins", title_justify="left")
    for col in ("name", "kind", "origin", "summary"):
        table.add_column(col)
    for name in registry.names():
        clash = registry.clash_message(name)
        for info in registry.providers(name):
            try:
                cls = info.load()
                kind, summary = cls.kind, _first_line(cls.__doc__)
            except registry.PluginError as exc:
                kind, summary = "broken", str(exc)
            if clash:
                kind, summary = f"{kind}, CLASH", f"{summary} (two distributions register '{name}')"
            table.add_row(name, kind, info.origin, Text(summary))
    console.print(table)


@plugins.command("show")
@click.argument("name")
def plugins_show(name):
    """Documentation and parameters of plugin NAME."""
    try:
        info = registry.info(name)
        cls = info.load()
    except registry.PluginError as exc:
        err_console.print(str(exc), markup=False, soft_wrap=True)
        sys.exit(EXIT_INVALID)
    console.print(f"[bold]{name}[/bold] ({cls.kind}) from {info.origin}: {info.entry_point.value}")
    console.print((cls.__doc__ or "").strip(), markup=False)
    table = Table(title="parameters (with:)", title_justify="left")
    for col in ("name", "type", "default", "description"):
        table.add_column(col)
    for field_name, field in cls.Params.model_fields.items():
        default = "required" if field.is_required() else repr(field.get_default(call_default_factory=True))
        table.add_row(field_name, _type_name(field.annotation), default, field.description or "")
    console.print(table)
    _print_metadata(cls)
    missing = registry.missing_requirements(cls)
    for line in missing:
        console.print(f"[yellow]{line}[/yellow]")


def _print_metadata(cls) -> None:
    """The metadata keys a plugin declares, with their column types (docs/schema.md)."""
    from curate.schema import declared_fields, type_name

    fields = declared_fields(cls)
    if not fields:
        console.print("metadata written: none")
        return
    table = Table(title="metadata written (one type per key in the output schema)", title_justify="left")
    for col in ("key", "type", "description"):
        table.add_column(col)
    for key, field in fields.items():
        table.add_row(key, type_name(field.type), field.description)
    console.print(table)


@main.command()
@click.argument("corpus_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--run", "run_id", default=None, help="Only this run (e.g. run-0002).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--no-yaml", is_flag=True, help="Do not print each run's resolved pipeline.")
@click.option("--html", "html_path", default=None, metavar="FILE",
              help="Also write a self-contained HTML page with charts (funnel, drops, languages, lengths, scores, "
                   "licences, runs).")
@click.option("--card", is_flag=True, help="Rewrite the dataset card CORPUS_DIR/README.md (Hugging Face layout).")
def report(corpus_dir, run_id, as_json, no_yaml, html_path, card):
    """What the runs in CORPUS_DIR did: funnel per step, drop reasons, throughput, pipeline and plugin versions."""
    from curate.corpusread import CorpusReadError
    from curate.report import ReportError, corpus_report, print_report

    try:
        data = corpus_report(corpus_dir, run_id, show_yaml=not no_yaml)
        written = _report_files(corpus_dir, run_id, html_path, card)
    except (ReportError, CorpusReadError) as exc:
        err_console.print(f"error: {exc}", markup=False, style="red")
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        print_report(data, console, show_yaml=not no_yaml)
    for line in written:
        err_console.print(line, markup=False)


def _report_files(corpus_dir: str, run_id: str | None, html_path: str | None, card: bool) -> list[str]:
    written = []
    if html_path:
        from curate.report import corpus_facts
        from curate.report_html import write_html

        write_html(corpus_facts(corpus_dir, run_id), html_path)
        written.append(f"HTML report: {html_path}")
    if card:
        from curate.card import write_card

        path = write_card(corpus_dir, force=True)
        written.append(f"dataset card: {path}")
    return written


@main.command()
def schema():
    """Print the JSON schema of a pipeline file."""
    click.echo(json.dumps(PipelineSpec.model_json_schema(by_alias=True), indent=2))


def _first_line(doc: str | None) -> str:
    """The first sentence of a docstring's first paragraph."""
    paragraph = " ".join((doc or "").strip().split("\n\n", 1)[0].split())
    end = paragraph.find(". ")
    return paragraph if end < 0 else paragraph[: end + 1]


def _type_name(annotation) -> str:
    text = getattr(annotation, "__name__", None) if not getattr(annotation, "__args__", None) else None
    return text or str(annotation).replace("typing.", "")


@main.group(cls=EntryPointGroup, entry_point_group="curate.train")
def train():
    """Train the models plugins use (`curate train fasttext`, `curate train scorer`, ...)."""


if __name__ == "__main__":
    main()
