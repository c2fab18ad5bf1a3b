"""Run a pipeline: pick the new input shards, freeze the plan, execute it with datatrove, record the run.

An interrupted run leaves ``state/pending.json``; running the same pipeline again resumes it with the same
shards and the same task numbering, skipping tasks datatrove already marked complete.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import orjson
import yaml

from curate import registry
from curate.card import publish_card
from curate.config import ResolvedPipeline
from curate.executors import jobs_still_running, make_executors
from curate.planner import Plan, ShardAssignment, build_plan
from curate.progress import ProgressMonitor
from curate.state import CorpusDir, atomic_write_bytes, file_fingerprint, filesystem, quick_fingerprint
from curate.stepstats import merge_step_stats


class RunError(Exception):
    """The run cannot start or finish; the message says why and what to do."""


@dataclass
class RunResult:
    run_id: str | None
    status: str  # "completed" | "nothing-to-do" | "submitted" (Slurm jobs queued)
    summary: dict | None = None


def pipeline_fingerprint(resolved: ResolvedPipeline) -> str:
    """Hash of everything that changes the output (not the executor settings)."""
    data = resolved_yaml_dict(resolved)
    data.pop("executor", None)
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def resolved_yaml_dict(resolved: ResolvedPipeline) -> dict:
    spec = resolved.spec.model_dump(by_alias=True, mode="json")
    for item, step in zip(spec["inputs"], resolved.inputs):
        item["with"] = step.params.model_dump(mode="json")
    for item, step in zip(spec["steps"], resolved.steps):
        item["with"] = step.params.model_dump(mode="json")
        item["id"] = step.step_id
    return spec


def plugin_versions(resolved: ResolvedPipeline) -> dict:
    out = {}
    for step in resolved.inputs + resolved.steps:
        name = step.spec.source if hasattr(step.spec, "source") else step.spec.uses
        info = registry.info(name)
        out[name] = {"kind": step.cls.kind, "origin": info.origin, "distribution": info.distribution,
                     "object": info.entry_point.value}
    return out


def select_shards(resolved: ResolvedPipeline, corpus: CorpusDir) -> list[tuple[ShardAssignment, dict]]:
    """The input shards not yet consumed, with their fingerprints. A consumed shard that changed is an error."""
    manifest = corpus.manifest()
    chosen = []
    for index, step in enumerate(resolved.inputs):
        source = step.cls(step.params)
        for shard in source.list_shards():
            old = manifest.get(shard)
            if old is None:
                fingerprint = source.shard_fingerprint(shard)
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
    return chosen


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
        raise RunError(f"input shard {shard} changed since {old['run']} consumed it; a corpus never re-reads a "
                       "shard. Add new data as a new shard (a new file name), or use a new output.dir.")


def run_pipeline(resolved: ResolvedPipeline, workers: int | None = None, restart: bool = False,
                 show_progress: bool = True, echo=print) -> RunResult:
    spec = resolved.spec
    corpus = CorpusDir(spec.output.dir, spec.state.dir)
    fingerprint = pipeline_fingerprint(resolved)
    pending = corpus.pending()
    if pending and restart:
        corpus.set_pending(None)
        corpus.remove_tree(corpus.run_dir(pending["run_id"]))
        corpus.remove_tree(corpus.path("data", pending["run_id"]))
        corpus.remove_tree(corpus.path("excluded", pending["run_id"]))
        pending = None
    if pending:
        if pending["pipeline_sha256"] != fingerprint:
            raise RunError(f"{pending['run_id']} in {corpus.root} was interrupted and used a different pipeline. "
                           "Run the same pipeline again to finish it, or pass --restart to discard it.")
        busy = jobs_still_running(spec.executor, corpus, pending["run_id"])
        if busy:  # a Slurm run: its jobs are queued or running, and its last job records it
            echo(f"{pending['run_id']} is still running as Slurm jobs {', '.join(busy)}; nothing submitted")
            return RunResult(pending["run_id"], "submitted")
        echo(f"resuming interrupted {pending['run_id']} ({len(pending['shards'])} shards)")
        _remove_partial_files(corpus, pending["run_id"])
    else:
        _check_schema(resolved, corpus)
        chosen = select_shards(resolved, corpus)
        if not chosen:
            echo(f"nothing to do: every input shard of '{spec.name}' is already in {corpus.root}")
            return RunResult(None, "nothing-to-do")
        run_id = corpus.next_run_id()
        pending = {"run_id": run_id, "pipeline_sha256": fingerprint, "started": time.time(),
                   "shards": [{"input": a.input_index, "shard": a.shard, **fp, **({"update": True} if a.update else {}),
                               "bytes": a.size} for a, fp in chosen]}
        _write_run_record(corpus, run_id, resolved)
        corpus.set_pending(pending)
    return _execute(resolved, corpus, pending, workers, show_progress, echo)


def _check_schema(resolved: ResolvedPipeline, corpus: CorpusDir) -> None:
    """Every file of a corpus has the same columns and types, so clients read it whole: a run whose declared
    output schema differs from the corpus's is refused."""
    from curate.planner import pipeline_schema
    from curate.schema import schema_changes

    changes = schema_changes(corpus.root, pipeline_schema(resolved), resolved.spec.output.format)
    if changes:
        raise RunError(f"this pipeline would write a different output schema than the corpus in {corpus.root} has "
                       f"({'; '.join(changes)}). Readers need one schema per corpus: write to a new output.dir, or "
                       "keep the steps, plugin versions and output.format of the earlier runs.")


def _write_run_record(corpus: CorpusDir, run_id: str, resolved: ResolvedPipeline) -> None:
    run_dir = corpus.run_dir(run_id)
    atomic_write_bytes(f"{run_dir}/pipeline.yaml",
                       yaml.safe_dump(resolved_yaml_dict(resolved), sort_keys=False).encode())
    atomic_write_bytes(f"{run_dir}/plugins.json", orjson.dumps(plugin_versions(resolved), option=orjson.OPT_INDENT_2))


def _remove_partial_files(corpus: CorpusDir, run_id: str) -> None:
    for area in ("data", "excluded", "runs"):
        fs, root = filesystem(corpus.path(area, run_id))
        if fs.exists(root):
            for path in fs.find(root):
                if ".tmp-" in path.rsplit("/", 1)[-1]:
                    fs.rm(path)


def _execute(resolved, corpus: CorpusDir, pending: dict, workers, show_progress, echo) -> RunResult:
    run_id = pending["run_id"]
    run_seq = int(run_id.split("-")[1])
    shards = [ShardAssignment(s["input"], s["shard"], _update_of(s), s.get("bytes")) for s in pending["shards"]]
    previous = [r for r in corpus.list_runs() if r < run_id]
    plan = build_plan(resolved, corpus, run_id, run_seq, shards, previous)
    executor_spec = resolved.spec.executor
    started = time.time()
    last = make_executors(plan, executor_spec, corpus, workers)
    monitor = ProgressMonitor(corpus, plan, _task_inputs(plan, pending), enabled=show_progress)
    monitor.start()
    try:
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
    summary = _finish(resolved, corpus, pending, plan, time.time() - started)
    publish_card(corpus.root, echo)
    return RunResult(run_id, "completed", summary)


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


def _finish(resolved, corpus: CorpusDir, pending: dict, plan: Plan, wall: float) -> dict:
    run_id = pending["run_id"]
    _remove_partial_files(corpus, run_id)  # left by tasks that were killed and then retried
    steps = merge_step_stats(corpus.read_step_stats(run_id))
    source = steps[0] if steps and steps[0]["step_index"] == 0 else None
    summary = {"run_id": run_id, "pipeline": resolved.spec.name, "wall_seconds": wall, "started": pending["started"],
               "shards": len(pending["shards"]), "segments": [s.name for s in plan.segments], "steps": steps,
               "docs_in": source["docs_in"] if source else 0, "bytes_in": source["bytes_in"] if source else 0,
               "docs_out": steps[-1]["docs_out"] if steps else 0, "bytes_out": steps[-1]["bytes_out"] if steps else 0}
    summary["docs_per_second"] = summary["docs_in"] / wall if wall else 0.0
    summary["mb_per_second"] = summary["bytes_in"] / 1e6 / wall if wall else 0.0
    atomic_write_bytes(f"{corpus.run_dir(run_id)}/summary.json", orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    _record_schema(resolved, corpus)
    corpus.add_to_manifest([{**s, "run": run_id} for s in pending["shards"]])
    corpus.set_pending(None)
    corpus.remove_tree(corpus.work_dir(run_id))
    corpus.remove_tree(corpus.path("runs", run_id, "progress"))
    return summary


def _record_schema(resolved, corpus: CorpusDir) -> None:
    from curate.planner import pipeline_schema
    from curate.schema import record_schema

    record_schema(corpus.root, pipeline_schema(resolved), resolved.spec.output.format)
