"""Run a pipeline: take the corpus lock, check the pipeline against the corpus's lineage, pick the new input
shards, freeze the plan, execute it with datatrove, then publish the run (or fail it) as one unit.

An interrupted run leaves ``state/pending.json``; running the same pipeline again resumes it with the same
shards and the same task numbering, skipping tasks datatrove already marked complete. ``curate/history.py``
publishes, abandons and rolls back runs; ``curate/lineage.py`` says how a pipeline differs from the corpus's.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field, replace

import orjson
import yaml

from curate import history, registry
from curate.card import publish_card
from curate.config import ResolvedPipeline, ResolvedStep
from curate.executors import jobs_still_running, make_executors
from curate.lineage import Lineage, compare, lineage_of, lineage_path, recorded_lineage, write_lineage
from curate.lock import CorpusBusy, CorpusLocks, default_alive, this_owner
from curate.planner import Plan, ShardAssignment, build_plan, pipeline_schema
from curate.progress import ProgressMonitor
from curate.schema import CorpusSchema, schema_changes
from curate.state import (
    CorpusDir,
    atomic_write_bytes,
    file_fingerprint,
    filesystem,
    output_dir_problems,
    quick_fingerprint,
    read_bytes,
)
from curate.stepstats import merge_step_stats


class RunError(Exception):
    """The run cannot start or finish; the message says why and what to do. ``exit_code`` is documented in
    the README: 1 the run failed, 2 unusable output directory, 3 the corpus refuses the run, 4 corpus locked."""

    exit_code = 1


class OutputUnusable(RunError):
    """The output or state directory cannot hold a corpus (a file, not writable)."""

    exit_code = 2


class UsageError(RunError):
    """A command-line option names something that does not exist."""

    exit_code = 2


class PipelineRefused(RunError):
    """The pipeline differs from the one that built the corpus in a way that needs an explicit choice."""

    exit_code = 3


class CorpusLocked(RunError):
    """Another live run holds the corpus."""

    exit_code = 4


@dataclass
class RunOptions:
    """How to proceed when the pipeline differs from the corpus's (``curate run --help``)."""

    rebuild_index: tuple[str, ...] = ()  # step ids whose index is rebuilt from the corpus's kept documents
    backfill: bool = False  # apply added/changed steps to the existing output as a new run first
    accept_changes: bool = False  # record the new pipeline; earlier output keeps the old one
    allow_other_pipeline: bool = False  # another pipeline name may write to this corpus


@dataclass
class RunResult:
    """What ``run_pipeline`` did: the last run, its status and summary, and the runs done before it."""

    run_id: str | None
    status: str  # "completed" | "nothing-to-do" | "submitted" (Slurm jobs queued)
    summary: dict | None = None
    earlier: list[dict] = field(default_factory=list)  # summaries of backfill/rebuild runs done first


def pipeline_fingerprint(resolved: ResolvedPipeline) -> str:
    """Hash of everything that changes the output (not the executor settings): the lineage fingerprint."""
    return lineage_of(resolved).fingerprint


def resolved_yaml_dict(resolved: ResolvedPipeline) -> dict:
    """The pipeline as run: every default filled in, every step with its id (``runs/<run>/pipeline.yaml``)."""
    spec = resolved.spec.model_dump(by_alias=True, mode="json")
    for item, step in zip(spec["inputs"], resolved.inputs):
        item["with"] = step.params.model_dump(mode="json")
    for item, step in zip(spec["steps"], resolved.steps):
        item["with"] = step.params.model_dump(mode="json")
        item["id"] = step.step_id
    return spec


def plugin_versions(resolved: ResolvedPipeline) -> dict:
    """Per plugin used: kind, origin, distribution and object (``runs/<run>/plugins.json``)."""
    out = {}
    for step in resolved.inputs + resolved.steps:
        name = step.spec.source if hasattr(step.spec, "source") else step.spec.uses
        info = registry.info(name)
        out[name] = {"kind": step.cls.kind, "origin": info.origin, "distribution": info.distribution,
                     "object": info.entry_point.value}
    return out


# ---- choosing shards ---------------------------------------------------------------------------------------
def select_shards(resolved: ResolvedPipeline, corpus: CorpusDir) -> tuple[list[tuple[ShardAssignment, dict]], list]:
    """The input shards not yet consumed, with their fingerprints, and the new shards skipped because their
    content (SHA-256) was already consumed under another path. A consumed shard that changed is an error."""
    manifest = corpus.manifest()
    by_content = {e["sha256"]: e for e in manifest.values() if e.get("sha256") and not e.get("same_as")}
    chosen, skipped = [], []
    for index, step in enumerate(resolved.inputs):
        source = step.cls(step.params)
        for shard in source.list_shards():
            old = manifest.get(shard)
            if old is None:
                fingerprint = source.shard_fingerprint(shard)
                same = by_content.get(fingerprint.get("sha256"))
                if same is not None:
                    skipped.append({"input": index, "shard": shard, **fingerprint, "same_as": same["shard"],
                                    "same_as_run": same.get("run"), "reason": "content_already_consumed"})
                    continue
                if fingerprint.get("sha256"):
                    by_content[fingerprint["sha256"]] = {"shard": shard, "run": None}
                # a resumable source reads exactly the state it was planned with (the manifest records it)
                chosen.append((ShardAssignment(index, shard, update=fingerprint if source.resumable else None,
                                               size=source.shard_bytes(shard, fingerprint)), fingerprint))
            elif source.resumable:  # a shard that grows in place: read only what is new
                update = source.shard_update(shard, old)
                if update is not None:
                    chosen.append((ShardAssignment(index, shard, update=update, size=source.shard_bytes(shard, update)),
                                   update))
            else:
                _check_unchanged(source, shard, old)
    return chosen, skipped


def _check_unchanged(source, shard: str, old: dict) -> None:
    if "sha256" in old:
        quick = quick_fingerprint(shard)
        if quick["size"] == old.get("size") and quick["mtime"] == old.get("mtime"):
            return
        current = file_fingerprint(shard)
        same = current["sha256"] == old["sha256"]
    else:
        current = source.shard_fingerprint(shard)
        same = all(current.get(k) == old.get(k) for k in current if k != "mtime")
    if not same:
        raise PipelineRefused(f"input shard {shard} changed since {old['run']} consumed it; a corpus never re-reads "
                              "a shard. Add new data as a new shard (a new file name), or use a new output.dir.")


# ---- the entry point ---------------------------------------------------------------------------------------
def run_pipeline(resolved: ResolvedPipeline, workers: int | None = None, restart: bool = False,
                 show_progress: bool = True, echo=print, options: RunOptions | None = None,
                 finishing: bool = False) -> RunResult:
    """Run ``resolved`` on its corpus under the corpus lock. ``finishing``: called by the Slurm run's last job
    (``curate finish``), which takes over the lock the submitted jobs hold."""
    spec = resolved.spec
    problems = output_dir_problems(spec.output.dir)
    if spec.state.dir:
        problems += output_dir_problems(spec.state.dir, "state.dir")
    if problems:
        raise OutputUnusable("; ".join(problems))
    corpus = CorpusDir(spec.output.dir, spec.state.dir)
    locks = CorpusLocks(corpus.lock_folders(), alive=lambda owner: _owner_alive(owner, spec.executor, corpus))
    queued = _still_queued(locks, corpus, resolved) if not finishing else None
    if queued:
        echo(queued)
        return RunResult(corpus.pending()["run_id"], "submitted")
    adopt = (lambda holder: holder.get("kind") == "slurm") if finishing else None
    try:
        locks.acquire(this_owner(), echo, adopt)
    except CorpusBusy as exc:
        raise CorpusLocked(str(exc)) from exc
    handed_over = False
    try:
        recovered = history.finish_interrupted_rollback(corpus, _index_history(spec))
        if recovered:
            echo(f"finished the interrupted rollback of {recovered}")
        result = _run_locked(resolved, corpus, workers, restart, show_progress, echo, options or RunOptions(),
                             finishing)
        if result.status == "submitted":
            from curate.executors.slurm import recorded_job_ids

            locks.update(kind="slurm", run=result.run_id, jobs=recorded_job_ids(corpus, result.run_id))
            handed_over = True
        return result
    finally:
        if not handed_over:
            locks.release()


def _owner_alive(owner: dict, executor_spec, corpus: CorpusDir) -> bool:
    if owner.get("kind") != "slurm":
        return default_alive(owner)
    if shutil.which("squeue") is None:
        return True  # this machine cannot see the queue: the jobs may still run
    return bool(jobs_still_running(executor_spec, corpus, owner.get("run") or ""))


def _still_queued(locks: CorpusLocks, corpus: CorpusDir, resolved) -> str | None:
    """Running the same pipeline while its Slurm jobs are queued or running reports them (and submits nothing)."""
    holder = locks.locks[0].holder()
    pending = corpus.pending()
    if not holder or holder.get("kind") != "slurm" or not pending or holder.get("run") != pending["run_id"]:
        return None
    busy = jobs_still_running(resolved.spec.executor, corpus, pending["run_id"]) if shutil.which("squeue") else []
    if not busy or pending.get("pipeline_sha256") != pipeline_fingerprint(resolved):
        return None
    return f"{pending['run_id']} is still running as Slurm jobs {', '.join(busy)}; nothing submitted"


def _index_history(spec) -> int:
    return getattr(spec.state, "index_history", history.DEFAULT_INDEX_HISTORY)


def _run_locked(resolved, corpus: CorpusDir, workers, restart, show_progress, echo, options: RunOptions,
                finishing: bool = False) -> RunResult:
    lineage = lineage_of(resolved)  # built once: it creates every plugin
    fingerprint = lineage.fingerprint
    pending = corpus.pending()
    if pending and restart and pending.get("phase") == "publishing":
        echo(f"{pending['run_id']} was being published: finishing that (undo a published run with curate rollback)")
        restart = False
    if pending and restart:
        echo(f"discarding interrupted {pending['run_id']}")
        history.abandon(corpus, pending["run_id"], keep_records=False)
        pending = None
    if pending is None:
        history.tidy(corpus, _index_history(resolved.spec))
    earlier: list[dict] = []
    done_rebuilds: set[str] = set()
    schema = pipeline_schema(resolved)  # what every run publishes (a backfill runs some steps, writes all columns)
    while True:
        if pending is None:
            pending = _next_run(resolved, corpus, options, done_rebuilds, echo, lineage, schema)
            if pending is None:
                return RunResult(None, "nothing-to-do", earlier=earlier)
        elif pending["pipeline_sha256"] != fingerprint:
            raise PipelineRefused(f"{pending['run_id']} in {corpus.root} was interrupted and used a different "
                                  "pipeline. Run the same pipeline again to finish it, or pass --restart to "
                                  "discard it.")
        else:
            echo(f"resuming interrupted {pending['run_id']} ({len(pending['shards'])} shards)")
            if read_bytes(lineage_path(corpus, pending["run_id"])) is None:
                _write_run_records(resolved, corpus, pending)
        result = _execute(_derived(resolved, pending), corpus, pending, workers, show_progress, echo, schema)
        if result.status == "submitted" or pending.get("kind", "run") == "run" or finishing:
            result.earlier = earlier  # `curate finish` records one run; the next `curate run` goes on
            return result
        earlier.append(result.summary)
        done_rebuilds.update(pending.get("rebuild", []))
        pending = None


# ---- deciding the next run ---------------------------------------------------------------------------------
def _next_run(resolved, corpus: CorpusDir, options: RunOptions, done_rebuilds: set[str], echo, new: Lineage,
              schema: CorpusSchema) -> dict | None:
    """Check the pipeline (its lineage ``new``, its output ``schema``) against the corpus and return the pending
    record of the next run (a backfill, an index rebuild, or the run of the new shards), or None when there is
    nothing to do."""
    decision = _decide(resolved, corpus, new, options, done_rebuilds)
    asked = options.backfill or options.rebuild_index
    if decision.refusal and asked:
        raise PipelineRefused(decision.refusal)
    if decision.prelude is not None:
        return _start(resolved, corpus, new, decision.prelude)
    chosen, skipped = select_shards(resolved, corpus)
    for entry in skipped:
        echo(f"skipping {entry['shard']}: same content (SHA-256) as {entry['same_as']}, already consumed")
    if not chosen:
        echo(f"nothing to do: every input shard of '{resolved.spec.name}' is already in {corpus.root}"
             + (f" ({len(skipped)} skipped as copies of consumed shards)" if skipped else ""))
        if decision.refusal:
            echo(f"note: {decision.refusal}")
        return None
    if decision.refusal:
        raise PipelineRefused(decision.refusal)
    _check_schema(resolved, corpus, schema)
    record = {"kind": "run", "shards": [{"input": a.input_index, "shard": a.shard, **fp,
                                         **({"update": True} if a.update else {}), "bytes": a.size}
                                        for a, fp in chosen],
              "skipped": skipped, "notes": decision.notes}
    return _start(resolved, corpus, new, record)


def _check_schema(resolved: ResolvedPipeline, corpus: CorpusDir, schema: CorpusSchema) -> None:
    """Every file of a corpus has the same columns and types, so clients read it whole: a run whose declared
    output schema differs from the corpus's is refused."""
    changes = schema_changes(corpus.root, schema, resolved.spec.output.format)
    if changes:
        format_only = all(change.startswith("output.format") for change in changes)
        way = ("keep the output.format of the earlier runs (a backfill does not convert files)" if format_only else
               "keep the steps and plugin versions of the earlier runs, or rewrite the existing output with the new "
               "steps: curate run PIPELINE --backfill")
        raise PipelineRefused(f"this pipeline would write a different output schema than the corpus in {corpus.root} "
                              f"has ({'; '.join(changes)}). Readers need one schema per corpus: write to a new "
                              f"output.dir, or {way}.")


@dataclass
class _Decision:
    prelude: dict | None = None  # a backfill or rebuild run to do first
    refusal: str | None = None
    notes: list[str] = field(default_factory=list)


def _decide(resolved, corpus: CorpusDir, new: Lineage, options: RunOptions, done_rebuilds: set[str]) -> _Decision:
    """Compare the pipeline with the corpus's lineage: go on, refuse (naming the way forward), or first run a
    backfill or an index rebuild that the user asked for."""
    published = corpus.published_runs()
    if not published:
        return _Decision()
    lineages = {r: recorded_lineage(corpus, r) for r in published}
    same = [r for r in published if lineages[r] and lineages[r].pipeline == new.pipeline]
    others = sorted({lineage.pipeline for lineage in lineages.values() if lineage} - {new.pipeline})
    if not same and others and not options.allow_other_pipeline:  # refused even with no new shard to read
        raise PipelineRefused(_other_pipeline_message(corpus, new, others, published))
    unknown = set(options.rebuild_index) - {s.step_id for s in resolved.steps}
    if unknown:
        raise UsageError(f"--rebuild-index {', '.join(sorted(unknown))}: no such step id (step ids: "
                         f"{', '.join(s.step_id for s in resolved.steps)})")
    old = lineages[same[-1]] if same else None
    stale = _stale_indexes(corpus, new, old, published, lineages)
    changes = compare(old, new) if old else []
    rebuild = sorted(s for s in set(options.rebuild_index) - done_rebuilds if s in stale)
    acknowledged = set(rebuild) | done_rebuilds
    open_changes = [c for c in changes if not (c.what == "param" and c.step_id in acknowledged)]
    backfill = _backfill_steps(resolved, open_changes, stale) if options.backfill else []
    missing = {s: why for s, why in stale.items() if s not in acknowledged and s not in backfill}
    if missing:
        return _Decision(refusal=_index_message(resolved, missing, changes))
    covered = (lambda c: True) if options.accept_changes else (
        (lambda c: c.what in BACKFILLABLE) if options.backfill else (lambda c: False))
    unacknowledged = [c for c in open_changes if not covered(c)]
    if unacknowledged:
        return _Decision(refusal=_changes_message(corpus, same[-1], unacknowledged))
    notes = [str(c) for c in open_changes]
    if backfill:  # its stages index the corpus's own output: they start from an empty index
        stages = [s.step_id for s in resolved.steps if s.step_id in backfill and s.cls.kind == "stage"]
        return _Decision(prelude={"kind": "backfill", "steps": backfill, "rebuild": stages, "notes": notes})
    if rebuild:
        return _Decision(prelude={"kind": "rebuild", "steps": rebuild, "rebuild": rebuild,
                                  "notes": [f"{s}: {stale[s]}; index rebuilt from the corpus" for s in rebuild]})
    return _Decision(notes=notes, refusal=None)


BACKFILLABLE = ("added", "removed", "param", "plugin", "uses", "order")


def _stale_indexes(corpus: CorpusDir, new: Lineage, old: Lineage | None, published, lineages) -> dict:
    """Step id -> why its persistent index does not fit this pipeline (settings changed; or the corpus has
    output the index never saw), for every Stage with ``index_settings``."""
    from curate.indexstore import IndexStore

    stale = {}
    for step in new.steps:
        if step.index is None:
            continue
        store = IndexStore(corpus.index_dir(step.id))
        committed = store.current()
        before = committed.settings if committed is not None and committed.settings else None
        if before is None:
            recorded = [lin.step(step.id) for r in reversed(published) if (lin := lineages[r]) and lin.step(step.id)]
            before = next((s.index for s in recorded if s.index is not None), None)
        if before is not None and before != step.index:
            keys = sorted(set(before) | set(step.index))
            diff = ", ".join(f"{k}: {before.get(k)} -> {step.index.get(k)}" for k in keys
                             if before.get(k) != step.index.get(k))
            stale[step.id] = f"index settings changed ({diff})"
        elif before is None and old is not None and old.step(step.id) is not None and _has_legacy_files(store):
            stale[step.id] = "the index is in a layout older than its snapshots (no settings recorded)"
    return stale


def _has_legacy_files(store) -> bool:
    fs, root = filesystem(store.root)
    return fs.exists(root) and any(not p.rstrip("/").endswith(("parts", "snapshots", "CURRENT", "audit"))
                                   for p in fs.ls(root, detail=False)) and store.current() is None


def _backfill_steps(resolved, changes, stale: dict) -> list[str]:
    """The steps a backfill applies to the existing output: added or changed ones, and stale indexes."""
    touched = {c.step_id for c in changes if c.what in ("added", "param", "plugin", "uses")} | set(stale)
    return [s.step_id for s in resolved.steps if s.step_id in touched]


def _other_pipeline_message(corpus, new: Lineage, others: list[str], published: list[str]) -> str:
    return (f"{corpus.root} was built by pipeline '{others[-1]}' ({', '.join(published)}); this pipeline is named "
            f"'{new.pipeline}'. Two pipelines writing one corpus mix their outputs. Use another output.dir, or, if "
            f"'{new.pipeline}' is meant to add to this corpus, pass --allow-other-pipeline (shards whose content "
            "is already in the corpus are still skipped).")


def _index_message(resolved, stale: dict, changes) -> str:
    lines = []
    for step_id, why in stale.items():
        step = next(s for s in resolved.steps if s.step_id == step_id)
        params = [str(c) for c in changes if c.step_id == step_id and c.what == "param"]
        lines.append(f"{step.yaml_path} ({step_id}): {why}" + (f"; from {'; '.join(params)}" if params else ""))
    steps = " ".join(f"--rebuild-index {s}" for s in stale)
    return ("a persistent index would change, and never silently starts empty: new data would not be checked "
            "against the documents already in the corpus (or by the same rules):\n  " + "\n  ".join(lines)
            + f"\nEither rebuild the index first (from the corpus's kept documents): curate run PIPELINE {steps}; "
            "or apply the new settings to the existing output as well: curate run PIPELINE --backfill; or use "
            "another output.dir.")


def _changes_message(corpus, last_run: str, changes) -> str:
    lines = "\n  ".join(str(c) for c in changes)
    forward = ["curate run PIPELINE --backfill applies the added and changed steps to the existing output as a "
               "new run, then runs the new shards (steps removed cannot bring back what they dropped)",
               "curate run PIPELINE --accept-changes runs the new shards only; the earlier output keeps the "
               "earlier pipeline (recorded in each run's lineage)", "or use another output.dir"]
    if not all(c.what in BACKFILLABLE for c in changes):
        forward = forward[1:]
    return (f"the pipeline differs from the one that built {corpus.root} (last run {last_run}):\n  {lines}\n"
            "Choose how to go on:\n  " + "\n  ".join(forward))


# ---- starting, deriving and executing runs ---------------------------------------------------------------
def _start(resolved, corpus: CorpusDir, new: Lineage, record: dict) -> dict:
    run_id = corpus.next_run_id()
    kind = record.get("kind", "run")
    if kind != "run":
        published = corpus.published_runs()
        from curate.sources.corpus_output import output_shards

        record = {**record, "shards": [{"input": 0, "shard": s} for s in output_shards(corpus, published)],
                  "supersedes": [r for r in published if kind == "backfill" and _has_data(corpus, r)]}
        if kind == "rebuild" and all(not _reads_run(resolved, s) for s in record["steps"]):
            record["shards"] = []  # its barrier builds the index from reference data only
    pending = {"run_id": run_id, "pipeline_sha256": new.fingerprint, "started": time.time(), **record}
    corpus.set_pending(pending)  # first: a run exists once it is pending (a kill before leaves nothing)
    _write_run_records(resolved, corpus, pending, new)
    return pending


def _write_run_records(resolved, corpus: CorpusDir, pending: dict, new: Lineage | None = None) -> None:
    """``runs/<run>/``: the resolved pipeline, plugin versions and lineage (written again on resume if a kill
    left them unwritten)."""
    run_dir = corpus.run_dir(pending["run_id"])
    lineage = replace(new or lineage_of(resolved), kind=pending.get("kind", "run"),
                      notes=list(pending.get("notes", [])))

    atomic_write_bytes(f"{run_dir}/pipeline.yaml",
                       yaml.safe_dump(resolved_yaml_dict(resolved), sort_keys=False).encode())
    atomic_write_bytes(f"{run_dir}/plugins.json", orjson.dumps(plugin_versions(resolved), option=orjson.OPT_INDENT_2))
    write_lineage(corpus, pending["run_id"], lineage)


def _has_data(corpus: CorpusDir, run_id: str) -> bool:
    fs, folder = filesystem(corpus.path("data", run_id))
    return fs.exists(folder)


def _reads_run(resolved, step_id: str) -> bool:
    step = next(s for s in resolved.steps if s.step_id == step_id)
    return getattr(step.cls, "barrier_reads_run", True)


def _derived(resolved: ResolvedPipeline, pending: dict) -> ResolvedPipeline:
    """The pipeline a pending run executes: the user's, or for a backfill or index rebuild, its chosen steps
    over the corpus's own output."""
    if pending.get("kind", "run") == "run":
        return resolved
    from curate.config import InputSpec
    from curate.sources.corpus_output import CorpusOutputSource

    params = CorpusOutputSource.Params(shards=[s["shard"] for s in pending["shards"]])
    source = ResolvedStep(InputSpec.model_construct(source="corpus_output", with_={}), "inputs[0]",
                          CorpusOutputSource, params, "source")
    steps = [s for s in resolved.steps if s.step_id in pending["steps"]]
    return ResolvedPipeline(spec=resolved.spec, inputs=[source], steps=steps, raw=resolved.raw)


def _index_history_runs(resolved, corpus: CorpusDir, run_id: str) -> dict[str, list[str]]:
    """Per step id: the published runs before ``run_id`` since that step's index was last rebuilt."""
    out: dict[str, list[str]] = {s.step_id: [] for s in resolved.steps}
    for r in (r for r in corpus.published_runs() if r < run_id):
        rebuilt = set((corpus.summary(r) or {}).get("rebuilt_indexes", []))
        for step_id in out:
            out[step_id] = [r] if step_id in rebuilt else out[step_id] + [r]
    return out


def _execute(resolved, corpus: CorpusDir, pending: dict, workers, show_progress, echo,
             schema: CorpusSchema) -> RunResult:
    run_id = pending["run_id"]
    if pending.get("phase") == "publishing":  # killed while publishing: finish that only
        echo(f"finishing the publication of {run_id}")
        summary = _publish(resolved, corpus, pending, schema)
        publish_card(corpus.root, echo)
        return RunResult(run_id, "completed", summary)
    if pending.get("kind", "run") != "run":
        echo(f"{run_id}: {pending['kind']} of {', '.join(pending['steps'])} over the corpus's output "
             f"({len(pending['shards'])} shards)")
    _remove_partial_files(corpus, run_id)
    run_seq = int(run_id.split("-")[1])
    shards = [ShardAssignment(s["input"], s["shard"], _update_of(s), s.get("bytes")) for s in pending["shards"]]
    plan = build_plan(resolved, corpus, run_id, run_seq, shards, _index_history_runs(resolved, corpus, run_id),
                      frozenset(pending.get("rebuild", [])), schema)
    executor_spec = resolved.spec.executor
    started = time.time()
    last = make_executors(plan, executor_spec, corpus, workers)
    monitor = ProgressMonitor(corpus, plan, _task_inputs(plan, pending), enabled=show_progress)
    monitor.start()
    try:
        if plan.segments:
            last.run()
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - report the failing segment and how to resume
        raise RunError(f"{run_id} stopped: {type(exc).__name__}: {exc}. Task logs: "
                       f"{corpus.path('runs', run_id, 'exec')}/<segment>/logs/. Fix the cause and run the same "
                       "command again: completed tasks are not redone.") from exc
    finally:
        monitor.stop()
    if getattr(last, "submitted", ""):  # Slurm: the jobs are queued and their last job records the run
        echo(last.submitted)
        return RunResult(run_id, "submitted")
    _check_complete(plan, corpus, run_id)
    summary = _summarise(resolved, corpus, pending, plan, time.time() - started)
    _fail_on_errors(resolved, corpus, pending, summary)
    summary = _publish(resolved, corpus, pending, schema, summary)
    publish_card(corpus.root, echo)  # the dataset card describes what is published
    return RunResult(run_id, "completed", summary)


def _remove_partial_files(corpus: CorpusDir, run_id: str) -> None:
    fs, root = filesystem(corpus.path("runs", run_id))
    if fs.exists(root):
        for path in fs.find(root):
            if ".tmp-" in path.rsplit("/", 1)[-1]:
                fs.rm(path)


def _task_inputs(plan: Plan, pending: dict) -> list[dict]:
    """One entry per reading task (its shards' total size), as the progress line counts input by task."""
    sizes = {s["shard"]: s.get("size") for s in pending["shards"]}
    out = []
    for group in plan.groups:
        known = [sizes.get(a.shard) for a in group]
        out.append({"shard": group[0].shard, "size": None if None in known else sum(known)})
    return out


def _update_of(entry: dict) -> dict | None:
    """The fingerprint a resumable source reads a pending shard with (``read_shard_update``), else None."""
    if not entry.get("update"):
        return None
    return {k: v for k, v in entry.items() if k not in ("input", "shard", "update", "bytes")}


def _check_complete(plan: Plan, corpus: CorpusDir, run_id: str) -> None:
    for segment in plan.segments:
        fs, folder = filesystem(corpus.path("runs", run_id, "exec", segment.name, "completions"))
        done = len(fs.ls(folder)) if fs.exists(folder) else 0
        if done < segment.tasks:
            raise RunError(f"{run_id}: {segment.tasks - done} of {segment.tasks} tasks of {segment.name} failed; "
                           f"see {corpus.path('runs', run_id, 'exec', segment.name, 'logs')}. "
                           "Run the same command again to retry only the failed tasks.")


def _summarise(resolved, corpus: CorpusDir, pending: dict, plan: Plan, wall: float) -> dict:
    run_id = pending["run_id"]
    _remove_partial_files(corpus, run_id)  # left by tasks that were killed and then retried
    steps = merge_step_stats(corpus.read_step_stats(run_id))
    source = steps[0] if steps and steps[0]["step_index"] == 0 else None
    kind = pending.get("kind", "run")
    summary = {"run_id": run_id, "pipeline": resolved.spec.name, "kind": kind, "status": "completed",
               "wall_seconds": wall, "started": pending["started"], "shards": len(pending["shards"]),
               "skipped_shards": [{"shard": s["shard"], "reason": s["reason"], "same_as": s["same_as"]}
                                  for s in pending.get("skipped", [])],
               "segments": [s.name for s in plan.segments], "steps": steps,
               "docs_in": source["docs_in"] if source else 0, "bytes_in": source["bytes_in"] if source else 0,
               "docs_out": steps[-1]["docs_out"] if steps else 0, "bytes_out": steps[-1]["bytes_out"] if steps else 0,
               "notes": pending.get("notes", [])}
    if kind == "backfill":
        summary.update(backfilled_steps=pending["steps"], supersedes=pending.get("supersedes", []))
    if pending.get("rebuild"):
        summary["rebuilt_indexes"] = pending["rebuild"]
    summary["docs_per_second"] = summary["docs_in"] / wall if wall else 0.0
    summary["mb_per_second"] = summary["bytes_in"] / 1e6 / wall if wall else 0.0
    return summary


def error_shares(resolved, summary: dict) -> list[dict]:
    """Per step: documents whose step raised (``error:<Type>`` drops), their share, and the step's limit."""
    limits = {s.step_id: (s.spec.max_error_share if getattr(s.spec, "max_error_share", None) is not None
                          else resolved.spec.max_error_share) for s in resolved.steps}
    out = []
    for row in summary["steps"]:
        errors = {r: d[0] for r, d in row["drops"].items() if r.startswith("error:")}
        count = sum(errors.values())
        if count:
            limit = limits.get(row["step_id"], resolved.spec.max_error_share)
            share = count / row["docs_in"] if row["docs_in"] else 1.0
            out.append({"step_id": row["step_id"], "errors": count, "docs_in": row["docs_in"], "share": share,
                        "limit": limit, "reasons": errors, "failed": share > limit})
    return out


def _fail_on_errors(resolved, corpus: CorpusDir, pending: dict, summary: dict) -> None:
    shares = error_shares(resolved, summary)
    summary["errors"] = shares
    failed = [s for s in shares if s["failed"]]
    if not failed:
        return
    run_id = pending["run_id"]
    summary["status"] = "failed"
    atomic_write_bytes(f"{corpus.run_dir(run_id)}/summary.json", orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    history.abandon(corpus, run_id, keep_records=True)
    lines = "; ".join(f"{s['step_id']} raised on {s['errors']:,} of {s['docs_in']:,} documents ({s['share']:.2%}, "
                      f"limit {s['limit']:.2%}: {', '.join(f'{r} {n:,}' for r, n in s['reasons'].items())})"
                      for s in failed)
    raise RunError(f"{run_id} failed: {lines}. Nothing was published and its shards stay unconsumed. The documents "
                   f"and their errors are in {corpus.staging(run_id, 'excluded')}/ (drop.error). Fix the step and "
                   "run again; to tolerate such errors raise max_error_share (or steps[i].max_error_share).")


def _publish(resolved, corpus: CorpusDir, pending: dict, schema: CorpusSchema, summary: dict | None = None) -> dict:
    run_id = pending["run_id"]
    if summary is not None:
        atomic_write_bytes(f"{corpus.run_dir(run_id)}/summary.json", orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    history.publish(corpus, pending, _index_history(resolved.spec), schema, resolved.spec.output.format)
    return corpus.summary(run_id)
