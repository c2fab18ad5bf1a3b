"""A corpus's run history: publishing a finished run, abandoning a failed one, rolling back the last one.

Every step here is idempotent and recorded before it starts, so a process killed at any point leaves a state
the next command finishes (``state/pending.json`` with ``phase: publishing`` for a publication,
``state/rollback.json`` for a rollback): the corpus always ends up exactly as if nothing had been killed.

Publishing a run (all of it, or none of it, as far as readers of ``data/`` and later runs are concerned):

1. ``pending.phase = publishing`` (from here on, a rerun only finishes the publication); the corpus's
   ``schema.json`` is replaced by the run's (the one it replaces is kept in ``runs/<run>/schema.before.json``);
2. a backfill moves the output it replaces to ``runs/<run>/superseded/``;
3. ``runs/<run>/output/data`` -> ``data/<run>``, ``runs/<run>/output/excluded`` -> ``excluded/<run>``
   (an index-rebuild run discards its output instead);
4. every index snapshot the run staged is committed (``IndexStore.commit``);
5. the consumed shards are added to the manifest; ``pending.json`` is removed; old index parts are collected.

Rolling back undoes these in reverse: manifest entries, index snapshots, output, replaced output, schema, run
record.
"""

from __future__ import annotations

import posixpath
import uuid

import orjson

from curate.indexstore import IndexStore, index_stores
from curate.schema import SCHEMA_FILE, CorpusSchema, record_schema
from curate.state import CorpusDir, atomic_write_bytes, crash_point, filesystem, read_bytes

DEFAULT_INDEX_HISTORY = 5


class HistoryError(Exception):
    """A rollback cannot be done; the message says why."""


def stores(corpus: CorpusDir) -> list[IndexStore]:
    """Every step's persistent index in the corpus (``state/index/*``)."""
    return index_stores(corpus.path("state", "index"))


def remove_legacy_index_files(corpus: CorpusDir, run_id: str) -> None:
    """Stages not yet on ``IndexStore`` keep per-run files ``<run>.<...>`` in their index folder: remove a
    rolled-back or failed run's, so that a later run with the same id does not see them."""
    for store in stores(corpus):
        fs, root = filesystem(store.root)
        for path in fs.ls(root, detail=False):
            if posixpath.basename(path).startswith(f"{run_id}."):
                fs.rm(path, recursive=True)


# ---- publishing ----------------------------------------------------------------------------------------------
def publish(corpus: CorpusDir, pending: dict, index_history: int = DEFAULT_INDEX_HISTORY,
            schema: CorpusSchema | None = None, fmt: str = "jsonl") -> None:
    """Steps 1-5 of the module docstring; safe to call again after a crash at any point. ``schema``: the
    output schema of what the run publishes (``fmt``: its output.format), recorded in ``schema.json``."""
    run_id, kind = pending["run_id"], pending.get("kind", "run")
    if pending.get("phase") != "publishing":
        pending = {**pending, "phase": "publishing"}
        corpus.set_pending(pending)
    crash_point("publish:start")
    if schema is not None and kind != "rebuild":  # an index rebuild publishes no output
        _keep_schema(corpus, run_id)
        record_schema(corpus.root, schema, fmt)
    crash_point("publish:schema")
    for old_run in pending.get("supersedes", []):
        corpus.move_tree(corpus.path("data", old_run), corpus.path("runs", run_id, "superseded", old_run))
    crash_point("publish:superseded")
    if kind == "rebuild":
        corpus.remove_tree(corpus.staging(run_id, "data"))
        corpus.remove_tree(corpus.staging(run_id, "excluded"))
    else:
        corpus.move_tree(corpus.staging(run_id, "data"), corpus.path("data", run_id))
        crash_point("publish:data")
        corpus.move_tree(corpus.staging(run_id, "excluded"), corpus.path("excluded", run_id))
    crash_point("publish:output")
    for store in stores(corpus):
        store.commit(run_id)
        crash_point("publish:index")
    if kind == "run":
        corpus.add_to_manifest([{**s, "run": run_id} for s in pending["shards"]]
                               + [{**s, "run": run_id} for s in pending.get("skipped", [])])
    crash_point("publish:manifest")
    corpus.set_pending(None)
    crash_point("publish:pending")
    corpus.remove_tree(corpus.work_dir(run_id))
    corpus.remove_tree(corpus.path("runs", run_id, "progress"))
    corpus.remove_tree(corpus.path("runs", run_id, "output"))
    collect_garbage(corpus, index_history)


def _schema_before(corpus: CorpusDir, run_id: str) -> str:
    return corpus.path("runs", run_id, "schema.before.json")


def _keep_schema(corpus: CorpusDir, run_id: str) -> None:
    """Keep the ``schema.json`` a publication replaces (or its absence), once, for a rollback to restore."""
    if read_bytes(_schema_before(corpus, run_id)) is None:
        old = read_bytes(corpus.path(SCHEMA_FILE))
        atomic_write_bytes(_schema_before(corpus, run_id), orjson.dumps({"schema": orjson.loads(old) if old else None}))


def _restore_schema(corpus: CorpusDir, run_id: str) -> None:
    """Put back the ``schema.json`` the rolled-back run replaced; without one (the first run) there is none."""
    raw = read_bytes(_schema_before(corpus, run_id))
    if raw is None:  # a rebuild run, or restored already
        return
    before = orjson.loads(raw)["schema"]
    if before is None:
        corpus.remove_tree(corpus.path(SCHEMA_FILE))
    else:
        atomic_write_bytes(corpus.path(SCHEMA_FILE), orjson.dumps(before, option=orjson.OPT_INDENT_2))


def remove_temporary_files(corpus: CorpusDir) -> None:
    """Files a killed writer left half-written under ``state/`` (``<name>.tmp-<id>``). Only the lock holder
    writes there, so under the lock every such file is garbage."""
    fs, root = filesystem(corpus.path("state"))
    if fs.exists(root):
        for path in fs.find(root):
            if ".tmp-" in posixpath.basename(path):
                fs.rm(path)


def tidy(corpus: CorpusDir, index_history: int = DEFAULT_INDEX_HISTORY) -> None:
    """Finish the clean-up a killed publication left undone: scratch folders of published runs, unreferenced
    index parts. Run under the lock when no run is pending."""
    published = corpus.published_runs()
    for run_id in published[-3:]:
        for sub in ("work", "progress", "output"):
            corpus.remove_tree(corpus.path("runs", run_id, sub))
    for run_id in published[:-index_history] if index_history else published:
        corpus.remove_tree(corpus.path("runs", run_id, "superseded"))  # beyond rollback: a backfill's old output
    collect_garbage(corpus, index_history)


def collect_garbage(corpus: CorpusDir, index_history: int = DEFAULT_INDEX_HISTORY) -> None:
    """Drop index parts no retained snapshot names (the last ``index_history`` runs can be rolled back)."""
    for store in stores(corpus):
        store.gc(keep=index_history + 1)
        crash_point("gc")


def abandon(corpus: CorpusDir, run_id: str, keep_records: bool) -> None:
    """Forget a run that will not be published: its staged index snapshots and output. With ``keep_records``
    (a failed run) its run folder, logs and excluded records stay for inspection; else (``--restart``) the run
    folder goes too."""
    for store in stores(corpus):
        store.discard(run_id)
    remove_legacy_index_files(corpus, run_id)
    corpus.remove_tree(corpus.staging(run_id, "data"))
    corpus.remove_tree(corpus.work_dir(run_id))
    corpus.remove_tree(corpus.path("runs", run_id, "progress"))
    corpus.set_pending(None)
    if not keep_records:
        corpus.remove_tree(corpus.run_dir(run_id))


# ---- rolling back --------------------------------------------------------------------------------------------
def _journal(corpus: CorpusDir) -> str:
    return corpus.path("state", "rollback.json")


def rollback(corpus: CorpusDir, run_id: str | None = None, index_history: int = DEFAULT_INDEX_HISTORY) -> dict:
    """Undo the last published run (``run_id`` must be it): its output, excluded records, index snapshots and
    manifest entries go, so its shards can be run again. The caller holds the corpus lock."""
    finish_interrupted_rollback(corpus, index_history)
    if corpus.pending():
        raise HistoryError(f"{corpus.pending()['run_id']} is in progress in {corpus.root}: finish it (run the same "
                           "pipeline again) or discard it (--restart) before rolling back")
    published = corpus.published_runs()
    if not published:
        raise HistoryError(f"{corpus.root} has no published run to roll back")
    last = published[-1]
    if run_id is not None and run_id != last:
        if run_id not in corpus.list_runs():
            raise HistoryError(f"{corpus.root} has no run {run_id}; runs: {', '.join(corpus.list_runs())}")
        raise HistoryError(f"only the last run can be rolled back, and that is {last}: roll back "
                           f"{', '.join(reversed(published[published.index(run_id) + 1:]))} first")
    _check_rollback_possible(corpus, last)
    summary = corpus.summary(last) or {}
    journal = {"run_id": last, "token": uuid.uuid4().hex, "kind": summary.get("kind", "run"),
               "supersedes": summary.get("supersedes", []),
               "later_failed": [r for r in corpus.list_runs() if r > last]}
    atomic_write_bytes(_journal(corpus), orjson.dumps(journal))
    _apply_rollback(corpus, journal, index_history)
    return journal


def _check_rollback_possible(corpus: CorpusDir, run_id: str) -> None:
    """The index snapshots a rollback returns to must still exist (``state.index_history`` keeps them)."""
    for store in stores(corpus):
        snap = store.snapshot(run_id) if store.current_run() == run_id else None
        if snap is not None and snap.previous is not None and store.snapshot(snap.previous) is None:
            raise HistoryError(f"cannot roll back {run_id}: the index of step {posixpath.basename(store.root)} "
                               f"before it ({snap.previous}) was garbage-collected; only the last "
                               "state.index_history runs can be rolled back")
    summary = corpus.summary(run_id) or {}
    for old_run in summary.get("supersedes", []):
        fs, folder = filesystem(corpus.path("runs", run_id, "superseded", old_run))
        if not fs.exists(folder) and not fs.exists(filesystem(corpus.path("data", old_run))[1]):
            raise HistoryError(f"cannot roll back {run_id}: the output it replaced ({old_run}) was removed; only "
                               "the last state.index_history runs can be rolled back")


def finish_interrupted_rollback(corpus: CorpusDir, index_history: int = DEFAULT_INDEX_HISTORY) -> str | None:
    """Finish a rollback that was killed half-way. Returns its run id, or None when there was none. Also
    removes what killed writers left half-written: call it first, under the lock."""
    remove_temporary_files(corpus)
    raw = read_bytes(_journal(corpus))
    if not raw:
        return None
    journal = orjson.loads(raw)
    _apply_rollback(corpus, journal, index_history)
    return journal["run_id"]


def _apply_rollback(corpus: CorpusDir, journal: dict, index_history: int) -> None:
    run_id = journal["run_id"]
    crash_point("rollback:start")
    corpus.remove_from_manifest(run_id)
    crash_point("rollback:manifest")
    for store in stores(corpus):
        store.rollback(run_id)
        crash_point("rollback:index")
    remove_legacy_index_files(corpus, run_id)
    for old_run in journal.get("supersedes", []):
        corpus.move_tree(corpus.path("runs", run_id, "superseded", old_run), corpus.path("data", old_run))
    crash_point("rollback:superseded")
    corpus.remove_tree(corpus.path("data", run_id))
    crash_point("rollback:data")
    corpus.remove_tree(corpus.path("excluded", run_id))
    for later in journal.get("later_failed", []):
        corpus.remove_tree(corpus.run_dir(later))
    _restore_schema(corpus, run_id)
    crash_point("rollback:schema")
    corpus.remove_tree(corpus.run_dir(run_id))
    crash_point("rollback:record")
    _log_once(corpus, {"event": "rollback", "run": run_id, "token": journal["token"], "kind": journal.get("kind")})
    collect_garbage(corpus, index_history)
    corpus.remove_tree(_journal(corpus))


def _log_once(corpus: CorpusDir, event: dict) -> None:
    raw = read_bytes(corpus.path("state", "history.jsonl")) or b""
    if event["token"].encode() not in raw:
        corpus.append_history(event)


# ---- listing -------------------------------------------------------------------------------------------------
def run_rows(corpus: CorpusDir) -> list[dict]:
    """One row per run for ``curate runs``: id, kind, status, pipeline, fingerprint, shards, documents."""
    from curate.lineage import recorded_lineage

    pending = corpus.pending() or {}
    rows = []
    for run_id in corpus.list_runs():
        summary = corpus.summary(run_id) or {}
        lineage = recorded_lineage(corpus, run_id)
        status = summary.get("status", "completed") if summary else (
            "in progress" if pending.get("run_id") == run_id else "incomplete")
        errors = sum(d[0] for s in summary.get("steps", []) for r, d in s["drops"].items() if r.startswith("error:"))
        rows.append({"run": run_id, "kind": summary.get("kind") or pending.get("kind", "run"), "status": status,
                     "pipeline": lineage.pipeline if lineage else "?",
                     "fingerprint": lineage.fingerprint[:12] if lineage else "?",
                     "shards": summary.get("shards", len(pending.get("shards", [])) if status == "in progress" else 0),
                     "skipped": len(summary.get("skipped_shards", [])), "docs_in": summary.get("docs_in"),
                     "docs_out": summary.get("docs_out"), "errors": errors, "started": summary.get("started"),
                     "steps": summary.get("backfilled_steps") or summary.get("rebuilt_indexes") or []})
    return rows


def rolled_back(corpus: CorpusDir) -> list[dict]:
    """The rollbacks recorded in ``state/history.jsonl``, oldest first."""
    raw = read_bytes(corpus.path("state", "history.jsonl")) or b""
    return [e for e in (orjson.loads(line) for line in raw.splitlines() if line.strip()) if e["event"] == "rollback"]
