"""The plugin kinds: Source, Filter, Annotator, Transform and Stage.

A plugin is one class with a nested pydantic ``Params`` model. Plugin authors write only the rule
(``filter``, ``annotate``, ``transform``); the base classes here count documents and bytes in and out,
time the step, record drop reasons and write every dropped document to ``excluded/``.

All plugins are datatrove ``PipelineStep`` objects, so they are pickled to workers: keep heavy state
(models, grammars, clients) out of ``__init__`` and load it in ``setup()``, which runs once per worker.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter, get_filter_result
from pydantic import BaseModel, ConfigDict

from curate.schema import PluginMetadata, declared_fields, metadata_checker
from curate.state import join, scratch_dir, staging_dir
from curate.stepstats import step_accounting, text_bytes


class PluginParams(BaseModel):
    """Base for every plugin's ``Params``: unknown keys are errors, so a misspelt YAML key is caught."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RunContext(BaseModel):
    """Where a step writes its bookkeeping. Filled in by the planner; plugins only read it."""

    model_config = ConfigDict(extra="forbid")

    step_id: str = "step"
    step_index: int = 0
    segment: int = 0
    run_id: str = "adhoc"
    run_seq: int = 0
    corpus_dir: str | None = None
    keep_excluded: bool = True
    strict: bool = False
    #: the step's ``batch_size:`` from the YAML; None: the plugin's preferred batch size
    batch_size: int | None = None

    def export_path(self, folder: str, filename: str) -> str:
        """Where a step writes a file of its own (not a document) that the run publishes as
        ``<corpus>/<folder>/<filename>``: staged with the run's output, so a failed run publishes nothing and
        ``curate rollback`` removes it. Without a corpus (a step run alone): ``./<folder>/<filename>``."""
        if self.corpus_dir is None:
            return join(".", folder, filename)
        return join(staging_dir(self.corpus_dir, self.run_id, "exports"), folder, filename)

    def scratch_path(self, name: str) -> str | None:
        """A folder for a step's scratch files in the run's local scratch space (removed once the run is
        published); None without a corpus or when the corpus is on object storage."""
        if not self.corpus_dir or "://" in self.corpus_dir:
            return None
        return join(scratch_dir(self.corpus_dir, self.run_id), name)


@dataclass
class Drop:
    """Returned by a Transform to drop the input document with a reason."""

    reason: str


@dataclass
class Reject:
    """A source record that could not become a document (bad JSON, bad bytes, ...)."""

    reason: str
    location: str
    doc_id: str | None = None
    raw: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def as_document(self) -> Document:
        meta = {"reject.location": self.location, **self.metadata}
        return Document(text=self.raw or "", id=self.doc_id or self.location, metadata=meta)


class Plugin:
    """Common behaviour of all plugin kinds (see the module docstring)."""

    kind: ClassVar[str] = "plugin"
    #: import name -> pip requirement that provides it; checked by ``curate validate``.
    requires: ClassVar[dict[str, str]] = {}
    #: metadata namespace this plugin writes under (``syntax`` -> ``syntax.error_count``); None: writes none
    namespace: ClassVar[str | None] = None
    #: the keys it writes under ``namespace`` and their types (a ``PluginMetadata`` subclass); None: none
    Metadata: ClassVar[type[PluginMetadata] | None] = None
    #: a plugin that writes under more than one namespace: the others, namespace -> ``PluginMetadata`` subclass
    more_metadata: ClassVar[dict[str, type[PluginMetadata]]] = {}

    class Params(PluginParams):
        pass

    def __init__(self, params: PluginParams | dict | None = None, context: RunContext | None = None, **kwargs):
        super().__init__()
        if isinstance(params, PluginParams):
            self.params = params
        else:
            self.params = self.Params(**{**(params or {}), **kwargs})
        self.context = context or RunContext()
        self.name = self.context.step_id
        self._is_set_up = False

    def output_fields(self) -> dict:
        """The metadata keys this plugin writes as configured, dotted key -> ``OutputField`` (type, description):
        its ``Metadata`` under its ``namespace``. Override only when a parameter renames a key (``score_key``)."""
        return declared_fields(type(self))

    def check(self) -> list[str]:
        """Extra checks for ``curate validate`` beyond the Params schema (model files exist, ...).

        Returns human-readable problems; empty when everything is fine. Runs in the driver.
        """
        return []

    def warnings(self) -> list[str]:
        """Problems ``curate validate`` reports without failing: the run handles them itself (e.g. a corrupt
        input file becomes one excluded record). Runs in the driver."""
        return []

    def setup(self) -> None:
        """Load heavy state. Runs once per worker before the first document."""

    def ensure_setup(self) -> None:
        if not self._is_set_up:
            self.setup()
            self._is_set_up = True

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_is_set_up"] = False
        for key in getattr(self, "_lazy_attributes", ()):
            state.pop(key, None)
        return state


class DocumentStep(Plugin, PipelineStep):
    """Shared run loop for per-document steps: counters, timings, error capture and excluded records.

    Documents reach the plugin in batches of ``batch_size`` (the step's ``batch_size:`` in the YAML, else
    ``preferred_batch_size()``, else 1). A plugin that overrides a batch hook (``filter_batch``,
    ``annotate_batch``) gets whole batches; if the hook raises, the batch is retried one document at a time so
    that the error is charged to the document that caused it (``error:<Type>``), and the others go on.

    Subclass Filter, Annotator or Transform; subclass this directly only for a step that needs its own run
    loop (``step_accounting`` then does the bookkeeping).
    """

    type = "curate"
    #: documents per batch-hook call when the step sets no ``batch_size:`` (1: one document at a time)
    default_batch_size: ClassVar[int] = 1

    def __init__(self, params=None, context=None, **kwargs):
        super().__init__(params, context, **kwargs)
        self.excluded = None  # set by the planner: an ExcludedSink
        #: the metadata keys this step may write (dotted key -> OutputField); the planner sets it for the steps a
        #: Stage expands into, which write what the Stage declares
        self.declared: dict | None = None

    def preferred_batch_size(self) -> int:
        """Documents per batch when the YAML step sets no ``batch_size:``; override when it depends on Params."""
        return self.default_batch_size

    @property
    def effective_batch_size(self) -> int:
        return max(1, self.context.batch_size or self.preferred_batch_size())

    def _process(self, doc: Document) -> Iterable[Document] | Drop:
        raise NotImplementedError

    def _process_batch(self, batch: list[Document]) -> list[Iterable[Document] | Drop]:
        """One result per document: what it became, or a Drop. Errors are charged to single documents."""
        return [self._safe_process(doc) for doc in batch]

    def _has_batch_hook(self) -> bool:
        """True when the plugin overrides a batch hook; otherwise documents go one at a time."""
        return False

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self.ensure_setup()
        checker = metadata_checker(self)
        with step_accounting(self.context, self.excluded, rank) as counters:
            if not self._has_batch_hook():
                for doc in data or ():
                    nbytes = text_bytes(doc.text)
                    counters.seen(nbytes)
                    before = dict(doc.metadata) if checker else None
                    t0 = time.perf_counter()
                    result = self._safe_process(doc)
                    counters.busy += time.perf_counter() - t0
                    yield from self._emit(doc, nbytes, result, before, checker, counters, rank)
                return
            for batch in _batches(data or (), self.effective_batch_size):
                sizes = [text_bytes(doc.text) for doc in batch]
                counters.seen_many(sizes)
                before = checker.before(batch) if checker else [None] * len(batch)
                t0 = time.perf_counter()
                results = self._process_batch(batch)
                counters.busy += time.perf_counter() - t0
                for doc, nbytes, result, old in zip(batch, sizes, results, before):
                    yield from self._emit(doc, nbytes, result, old, checker, counters, rank)

    def _emit(self, doc, nbytes, result, before, checker, counters, rank):
        """Count and yield what one document became, or exclude it with its reason."""
        if isinstance(result, Drop):
            if checker:
                checker.check(before, doc)
            counters.dropped(result.reason, nbytes)
            self._exclude(doc, result.reason, rank)
            return
        for out in result:
            if checker:
                checker.check(before, out)
            counters.kept(text_bytes(out.text))
            yield out

    def _safe_process(self, doc: Document):
        try:
            return self._process(doc)
        except Exception as exc:  # noqa: BLE001 - one bad document must not stop the run
            return self._error_drop(doc, exc)

    def _error_drop(self, doc: Document, exc: Exception) -> Drop:
        if self.context.strict:
            raise exc
        doc.metadata["drop.error"] = "".join(traceback.format_exception_only(exc)).strip()[:2000]
        return Drop(f"error:{type(exc).__name__}")

    def _batch_or_singles(self, batch: list[Document], hook, one) -> list:
        """Run ``hook(batch)``; if it raises (or returns the wrong number of results), run ``hook([doc])`` for
        each document so that only the documents that fail are dropped, each with its own error."""
        try:
            results = hook(batch)
            _check_length(self, results, batch)
        except Exception:
            if self.context.strict:
                raise
            results = None
        if results is not None:
            return [one(doc, result) for doc, result in zip(batch, results)]
        out = []
        for doc in batch:
            try:
                single = hook([doc])
                _check_length(self, single, [doc])
                out.append(one(doc, single[0]))
            except Exception as exc:  # noqa: BLE001 - charged to this document only
                out.append(self._error_drop(doc, exc))
        return out

    def _exclude(self, doc: Document, reason: str, rank: int) -> None:
        doc.metadata["drop.reason"] = reason
        doc.metadata["drop.step"] = self.context.step_id
        if self.excluded is not None:
            self.excluded.write(doc, rank)


def _batches(data: Iterable[Document], size: int) -> Iterator[list[Document]]:
    batch: list[Document] = []
    for doc in data:
        batch.append(doc)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _check_length(step, results, batch) -> None:
    if results is None or len(results) != len(batch):
        got = "None" if results is None else len(results)
        raise ValueError(f"{type(step).__name__}: the batch hook returned {got} results for {len(batch)} documents")


def _overrides(obj, name: str, base: type) -> bool:
    return getattr(type(obj), name) is not getattr(base, name)


class Filter(DocumentStep, BaseFilter):
    """Keeps or drops each document. Implement ``filter(doc) -> bool | (bool, reason)``.

    This is datatrove's ``BaseFilter`` contract. A filter that is faster on many documents at once (a model,
    numpy) also overrides ``filter_batch(docs) -> list[bool | (bool, reason)]`` and sets ``default_batch_size``.
    A drop without a reason is recorded as ``<step id>``.
    """

    kind = "filter"

    def __init__(self, params=None, context=None, **kwargs):
        super().__init__(params, context, **kwargs)
        self.batch_size = self.effective_batch_size
        self.exclusion_writer = None

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        """The verdicts of ``filter`` for a batch of documents; override it to work on the batch at once."""
        return [self.filter(doc) for doc in batch]

    def _filter_result(self, doc, verdict):
        keep, reason = get_filter_result(verdict)
        return (doc,) if keep else Drop(reason or self.context.step_id)

    def _process(self, doc):
        return self._filter_result(doc, self.filter(doc))

    def _has_batch_hook(self) -> bool:
        return _overrides(self, "filter_batch", Filter)

    def _process_batch(self, batch):
        return self._batch_or_singles(batch, self.filter_batch, self._filter_result)


class Annotator(DocumentStep):
    """Adds metadata under its own namespace and never drops. Implement ``annotate(doc)``; a plugin that is
    faster on many documents at once also overrides ``annotate_batch(docs)`` and sets ``default_batch_size``."""

    kind = "annotator"

    def annotate(self, doc: Document) -> None:
        raise NotImplementedError

    def annotate_batch(self, batch: list[Document]) -> None:
        """Annotate a batch of documents in place; override it to work on the batch at once."""
        for doc in batch:
            self.annotate(doc)

    def _process(self, doc):
        self.annotate(doc)
        return (doc,)

    def _has_batch_hook(self) -> bool:
        return _overrides(self, "annotate_batch", Annotator)

    def _process_batch(self, batch):
        def hook(docs):
            self.annotate_batch(docs)
            return [None] * len(docs)

        return self._batch_or_singles(batch, hook, lambda doc, _: (doc,))


class Transform(DocumentStep):
    """Turns each document into zero or more new documents. Implement ``transform(doc)``.

    Return an iterable of documents, or ``Drop(reason)`` to drop the input with a reason.
    """

    kind = "transform"

    def transform(self, doc: Document) -> Iterable[Document] | Drop:
        raise NotImplementedError

    def _process(self, doc):
        return self.transform(doc)


@dataclass
class BarrierJob:
    """One datatrove job run between two per-shard segments, with its own task count."""

    steps: list[PipelineStep]
    tasks: int = 1
    name: str = "barrier"


@dataclass
class StageContext:
    """What the planner tells a Stage about the run it is planned into (all paths are local or fsspec URLs)."""

    step_id: str
    run_id: str
    run_seq: int
    tasks: int
    work_dir: str  # scratch space for this stage in this run; deleted after the run succeeds
    index_dir: str  # persistent index of this step across runs: state/index/<step id>
    #: published runs whose index entries may exist in index_dir (since the step's last index rebuild)
    previous_runs: list[str]
    run_context: RunContext
    #: True when this run rebuilds the index from the corpus's kept documents: start from an empty index
    rebuild_index: bool = False
    #: records of this step in this run that are kept with the run (audits, ...): runs/<run>/steps/<step id>
    record_dir: str = ""

    def index_store(self):
        """The ``IndexStore`` of this step (``state/index/<step id>``)."""
        from curate.indexstore import IndexStore

        return IndexStore(self.index_dir)

    def base_parts(self) -> list:
        """The index parts this run starts from: the committed index, or none when it rebuilds the index."""
        return [] if self.rebuild_index else self.index_store().parts()


class Stage(Plugin):
    """Needs the whole corpus, or a persistent index: it expands into several datatrove steps with barriers.

    A Stage is planned as:
      1. ``map_steps``: per shard, before the barrier (e.g. write signatures); documents pass through;
      2. ``barrier_jobs``: jobs that see every shard's map output (e.g. cluster, update the index);
      3. ``reduce_steps``: per shard, after the barrier (e.g. drop the duplicates found).
    Between 1 and 3 the planner stores the documents on disk, so steps 1 and 3 see them in the same order.
    """

    kind = "stage"
    #: False when the barrier jobs read nothing this run produces (e.g. they build an index from reference
    #: data only): the planner then runs them before the per-shard segment and does not cut it, which saves
    #: a scratch copy of the corpus. Such a stage must have no ``map_steps``.
    barrier_reads_run: ClassVar[bool] = True

    def index_settings(self) -> dict | None:
        """The settings that make this stage's persistent index comparable across runs (hash parameters,
        level, ...), passed as ``settings`` to ``IndexStore.stage``; None when it keeps no index built from the
        corpus. At the start of a run the runner compares them with the committed index's: a change is never
        silently given an empty index (``curate run --rebuild-index STEP`` rebuilds it from the corpus)."""
        return None

    def map_steps(self, ctx: StageContext) -> list[PipelineStep]:
        return []

    def barrier_jobs(self, ctx: StageContext) -> list[BarrierJob]:
        return []

    def reduce_steps(self, ctx: StageContext) -> list[PipelineStep]:
        return []


class Source(Plugin):
    """Turns input into documents, split into shards that tasks read independently.

    Implement ``list_shards()`` (runs in the driver) and ``read_shard(shard)`` (runs in a worker), which
    yields ``Document`` or ``Reject`` objects. Every record of a shard must come out as one of the two.
    """

    kind = "source"
    #: True when the source copies fields of its input records into metadata as they are (their names and
    #: types are the data's): those keys are not declared, and land in the ``extra`` column unless declared.
    passes_input_fields: ClassVar[bool] = False
    #: True when the source re-reads documents a run already wrote (the corpus's own output): they keep the
    #: ``source.*`` keys of their first reading
    keeps_provenance: ClassVar[bool] = False

    def list_shards(self) -> list[str]:
        raise NotImplementedError

    def shard_fingerprint(self, shard: str) -> dict[str, Any]:
        """Identifies the content of a shard for the manifest (size and a content hash by default)."""
        from curate.state import file_fingerprint

        return file_fingerprint(shard)

    def read_shard(self, shard: str) -> Iterator[Document | Reject]:
        raise NotImplementedError

    def shard_bytes(self, shard: str, fingerprint: dict[str, Any]) -> int | None:
        """About how much input a shard holds (groups small shards into one task); None when unknown."""
        return fingerprint.get("size")

    #: True for a source whose shards grow in place (a git repository gaining commits): the runner then asks
    #: ``shard_update`` about a consumed shard instead of refusing it as changed.
    resumable: ClassVar[bool] = False

    def shard_update(self, shard: str, previous: dict[str, Any]) -> dict[str, Any] | None:
        """Resumable sources only: ``previous`` is the shard's manifest entry. Return None when the shard has
        nothing new; else the fingerprint of its new state, which the manifest records after the run and
        which is passed to ``read_shard_update``."""
        return None

    def read_shard_update(self, shard: str, update: dict[str, Any]) -> Iterator[Document | Reject]:
        """Resumable sources only: read the shard as ``update`` describes it: ``shard_fingerprint`` for a new
        shard (pinning what is read to the planned state), ``shard_update`` for a consumed one that grew."""
        raise NotImplementedError

