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

from curate.stepstats import step_accounting, text_bytes


class PluginParams(BaseModel):
    """Base for every plugin's ``Params``: unknown keys are errors, so a misspelt YAML key is caught."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PluginMetadata(BaseModel):
    """Base of a plugin's nested ``Metadata`` model: the metadata keys it writes, under its ``namespace``, with
    their types and descriptions. The output schema and ``curate plugins show`` are built from it."""

    model_config = ConfigDict(extra="forbid")


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

    Subclass Filter, Annotator or Transform; subclass this directly only for a step that needs its own run
    loop (``step_accounting`` then does the bookkeeping).
    """

    type = "curate"

    def __init__(self, params=None, context=None, **kwargs):
        super().__init__(params, context, **kwargs)
        self.excluded = None  # set by the planner: an ExcludedSink

    def _process(self, doc: Document) -> Iterable[Document] | Drop:
        raise NotImplementedError

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self.ensure_setup()
        with step_accounting(self.context, self.excluded, rank) as counters:
            for doc in data or ():
                nbytes = text_bytes(doc.text)
                counters.seen(nbytes)
                t0 = time.perf_counter()
                result = self._safe_process(doc)
                counters.busy += time.perf_counter() - t0
                if isinstance(result, Drop):
                    counters.dropped(result.reason, nbytes)
                    self._exclude(doc, result.reason, rank)
                    continue
                for out in result:
                    counters.kept(text_bytes(out.text))
                    yield out

    def _safe_process(self, doc: Document):
        try:
            return self._process(doc)
        except Exception as exc:  # noqa: BLE001 - one bad document must not stop the run
            if self.context.strict:
                raise
            reason = f"error:{type(exc).__name__}"
            doc.metadata["drop.error"] = "".join(traceback.format_exception_only(exc)).strip()[:2000]
            return Drop(reason)

    def _exclude(self, doc: Document, reason: str, rank: int) -> None:
        doc.metadata["drop.reason"] = reason
        doc.metadata["drop.step"] = self.context.step_id
        if self.excluded is not None:
            self.excluded.write(doc, rank)


class Filter(DocumentStep, BaseFilter):
    """Keeps or drops each document. Implement ``filter(doc) -> bool | (bool, reason)``.

    This is datatrove's ``BaseFilter`` contract; a filter may also override ``filter_batch``.
    A drop without a reason is recorded as ``<step id>``.
    """

    kind = "filter"

    def __init__(self, params=None, context=None, **kwargs):
        super().__init__(params, context, **kwargs)
        self.batch_size = 1
        self.exclusion_writer = None

    def _process(self, doc):
        keep, reason = get_filter_result(self.filter(doc))
        return (doc,) if keep else Drop(reason or self.context.step_id)


class Annotator(DocumentStep):
    """Adds metadata under its own namespace and never drops. Implement ``annotate(doc)``."""

    kind = "annotator"

    def annotate(self, doc: Document) -> None:
        raise NotImplementedError

    def _process(self, doc):
        self.annotate(doc)
        return (doc,)


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

    def list_shards(self) -> list[str]:
        raise NotImplementedError

    def shard_fingerprint(self, shard: str) -> dict[str, Any]:
        """Identifies the content of a shard for the manifest (size and a content hash by default)."""
        from curate.state import file_fingerprint

        return file_fingerprint(shard)

    def read_shard(self, shard: str) -> Iterator[Document | Reject]:
        raise NotImplementedError

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

