"""Compile a validated pipeline into datatrove pipelines ("segments"), cutting at every Stage barrier.

Each segment is one datatrove job with a task count; segment k+1 depends on segment k. The run's input shards
are grouped into tasks once, in shard order, so that a task reads about ``output.max_file_mb`` of input (a big
shard is a task of its own; many small ones, such as one repository each, share one). Task r of every
per-shard segment handles group r, so every per-shard segment of a run has the same task count and sees the
same documents in the same order, whatever the number of workers; a resumed run regroups its pending shards
identically.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curate.config import ResolvedPipeline
from curate.io import ExcludedSink, OutputLayout, ScratchWriter, ShardReader, ShardWriter
from curate.plugin import DocumentStep, Reject, RunContext, Stage, StageContext
from curate.progress import ProgressWriter
from curate.schema import CorpusSchema, MetadataChecker, OutputField, checking_enabled, core_fields
from curate.state import CorpusDir
from curate.stepstats import step_accounting, text_bytes


@dataclass
class ShardAssignment:
    """One input shard of a run: which input reads it, and for resumable sources the state to read."""
    input_index: int
    shard: str
    #: resumable sources only: the fingerprint to read with (``Source.read_shard_update``)
    update: dict | None = None
    #: bytes of input, when known (groups small shards into one task)
    size: int | None = None


@dataclass
class Segment:
    """One datatrove job of a plan: its steps and task count (a Stage barrier starts a new one)."""
    name: str
    steps: list
    tasks: int
    per_shard: bool = True
    #: step ids that need a GPU per task (Ray executors ask for them)
    gpus: float = 0.0


@dataclass
class Plan:
    """The segments of one run, in the order they run."""
    run_id: str
    segments: list[Segment] = field(default_factory=list)
    #: the input shards each task reads (task r of every per-shard segment handles ``groups[r]``)
    groups: list[list[ShardAssignment]] = field(default_factory=list)


class SourceStep(PipelineStep):
    """First step of a run: task r reads the input shards of group r, in order, and writes rejected records to
    excluded/. Every document and reject gets ``source.name`` and ``source.shard``."""

    type = "curate"
    name = "source"

    def __init__(self, sources: list, tasks: list[list[ShardAssignment]], context: RunContext,
                 excluded: ExcludedSink, progress_dir: str | None = None, names: list[str] | None = None):
        super().__init__()
        self.sources, self.tasks, self.context = sources, tasks, context
        self.excluded, self.progress_dir = excluded, progress_dir
        self.names = names or [getattr(type(s), "plugin_name", type(s).__name__) for s in sources]

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        """Read the input shards of group ``rank``; yield their documents and write rejected records to excluded/."""
        progress = ProgressWriter(self.progress_dir, rank)
        with step_accounting(self.context, self.excluded, rank) as counters:
            for assignment in self.tasks[rank]:
                yield from self._read(assignment, counters, progress, rank)
        progress.finish()

    def _read(self, assignment: ShardAssignment, counters, progress, rank: int):
        source = self.sources[assignment.input_index]
        source.ensure_setup()
        checker = _source_checker(source)
        where = {"source.name": self.names[assignment.input_index], "source.shard": assignment.shard}
        items = source.read_shard(assignment.shard) if assignment.update is None \
            else source.read_shard_update(assignment.shard, assignment.update)
        for item in items:
            if isinstance(item, Reject):
                doc = item.as_document()
                nbytes = text_bytes(doc.text)
                counters.seen(nbytes)
                counters.dropped(item.reason, nbytes)
                doc.metadata.update(where)
                doc.metadata.update({"drop.reason": item.reason, "drop.step": "source"})
                self.excluded.write(doc, rank)
                continue
            if checker:
                checker.check({}, item)
            if not source.keeps_provenance:
                item.metadata.update(where)
            nbytes = text_bytes(item.text)
            counters.seen(nbytes)
            counters.kept(nbytes)
            progress.tick(nbytes)
            yield item


def _source_checker(source) -> MetadataChecker | None:
    """Under ``CURATE_CHECK_METADATA=1``: a checker of the keys a source writes (core keys are always allowed)."""
    if not checking_enabled() or source.passes_input_fields:
        return None
    fields = {f.key: f for f in core_fields()} | source.output_fields()
    return MetadataChecker(f"source '{type(source).__name__}'", fields)


def instantiate(step, context: RunContext):
    """The plugin instance of a resolved step, bound to the run context."""
    return step.cls(step.params, context)


def group_shards(shards: list[ShardAssignment], target_bytes: int) -> list[list[ShardAssignment]]:
    """Consecutive shards grouped into tasks of about ``target_bytes`` of input; a shard of unknown size counts as
    a whole task. Depends only on the shard list, so a resumed run and any number of workers get the same tasks."""
    tasks: list[list[ShardAssignment]] = []
    current: list[ShardAssignment] = []
    filled = 0
    for shard in shards:
        size = target_bytes if shard.size is None else shard.size
        if current and filled + size > target_bytes:
            tasks.append(current)
            current, filled = [], 0
        current.append(shard)
        filled += size
    if current:
        tasks.append(current)
    return tasks


def build_plan(resolved: ResolvedPipeline, corpus: CorpusDir, run_id: str, run_seq: int,
               shards: list[ShardAssignment], previous_runs: list[str] | dict[str, list[str]],
               rebuild: frozenset[str] = frozenset(), schema: CorpusSchema | None = None) -> Plan:
    """Compile a resolved pipeline into segments for one run over ``shards``. ``previous_runs``: the published
    runs a stage's index may hold (per step id, or one list for all); ``rebuild``: step ids whose index this run
    rebuilds from scratch; ``schema``: the output schema when it is not ``resolved``'s own (a backfill writes the
    whole pipeline's). Output and excluded records go to the run's staging folders until it is published."""
    spec = resolved.spec
    groups = group_shards(shards, int(spec.output.max_file_mb * 1e6))
    tasks = len(groups)
    excluded_dir = corpus.staging(run_id, "excluded")
    full = spec.output.keep_excluded
    schema = schema or pipeline_schema(resolved)
    if schema.errors:
        raise ValueError("; ".join(schema.errors))
    layout = OutputLayout(spec.output.format, schema, spec.output.max_file_mb)
    batch_sizes = {s.step_id: getattr(s.spec, "batch_size", None) for s in resolved.steps}

    def context(step_id: str, index: int, segment: int) -> RunContext:
        return RunContext(step_id=step_id, step_index=index, segment=segment, run_id=run_id, run_seq=run_seq,
                          corpus_dir=corpus.root, keep_excluded=full, strict=spec.strict,
                          batch_size=batch_sizes.get(step_id))

    def sink(step_id: str, segment: int) -> ExcludedSink:
        return ExcludedSink(excluded_dir, step_id, layout, full, segment)

    sources = [instantiate(s, context(s.step_id, 0, 0)) for s in resolved.inputs]
    plan = Plan(run_id, groups=groups)
    seg = 0
    current: list = [SourceStep(sources, groups, context("source", 0, 0), sink("source", 0),
                                corpus.path("runs", run_id, "progress"),
                                names=[s.spec.source for s in resolved.inputs])]
    for index, step in enumerate(resolved.steps, start=1):
        plugin = instantiate(step, context(step.step_id, index, seg))
        if not isinstance(plugin, Stage):
            plugin.excluded = sink(step.step_id, seg)
            current.append(plugin)
            continue
        history = previous_runs.get(step.step_id, []) if isinstance(previous_runs, dict) else previous_runs
        if step.step_id in rebuild:
            history = []  # the index starts empty
        stage_ctx = StageContext(step_id=step.step_id, run_id=run_id, run_seq=run_seq, tasks=tasks,
                                 work_dir=corpus.path("runs", run_id, "work", step.step_id),
                                 index_dir=corpus.index_dir(step.step_id), previous_runs=list(history),
                                 run_context=context(step.step_id, index, seg),
                                 rebuild_index=step.step_id in rebuild,
                                 record_dir=corpus.path("runs", run_id, "steps", step.step_id))
        declared = plugin.output_fields()
        if not plugin.barrier_reads_run:
            _plan_barrier_first(plan, plugin, stage_ctx)
            current += _bind(plugin.reduce_steps(stage_ctx), stage_ctx, seg, sink, declared)
            continue
        current += _bind(plugin.map_steps(stage_ctx), stage_ctx, seg, sink, declared)
        # scratch data between segments, deleted when the run succeeds
        scratch = ScratchWriter(corpus.path("runs", run_id, "work", f"segment-{seg:02d}"))
        current.append(scratch)
        plan.segments.append(Segment(f"segment-{seg:02d}", current, tasks))
        for job in plugin.barrier_jobs(stage_ctx):
            plan.segments.append(Segment(f"{step.step_id}-{job.name}", job.steps, job.tasks, per_shard=False))
        seg += 1
        current = [ShardReader(scratch)] + _bind(plugin.reduce_steps(stage_ctx), stage_ctx, seg, sink, declared)
    current.append(ShardWriter(corpus.staging(run_id, "data"), layout))
    plan.segments.append(Segment(f"segment-{seg:02d}", current, tasks))
    plan.segments = [s for s in plan.segments if s.tasks > 0]  # a run without shards (an index rebuild)
    return plan


def pipeline_schema(resolved: ResolvedPipeline) -> CorpusSchema:
    """The corpus schema of a pipeline: what the core, its sources and its steps declare (``errors`` lists
    conflicts, each with the YAML path of the step that declares the key)."""
    fields: list[OutputField] = []
    for step in resolved.inputs + resolved.steps:
        name = getattr(step.spec, "source", None) or getattr(step.spec, "uses", "")
        owner = f"{step.yaml_path} ({name})"
        plugin = step.cls(step.params)
        fields += [OutputField(f.key, f.type, f.description, owner) for f in plugin.output_fields().values()]
    return CorpusSchema(fields)


def _plan_barrier_first(plan: Plan, plugin: Stage, stage_ctx: StageContext) -> None:
    """A stage whose barrier reads nothing of this run: its jobs run before the current per-shard segment."""
    if plugin.map_steps(stage_ctx):
        raise ValueError(f"{stage_ctx.step_id}: a stage with barrier_reads_run = False cannot have map_steps")
    for job in plugin.barrier_jobs(stage_ctx):
        plan.segments.append(Segment(f"{stage_ctx.step_id}-{job.name}", job.steps, job.tasks, per_shard=False))


def _bind(steps: list, stage_ctx: StageContext, segment: int, sink, declared: dict) -> list:
    """Give a stage's per-document steps their stats context, excluded sink, and the keys the stage declares."""
    for step in steps:
        if isinstance(step, DocumentStep):
            step.context = stage_ctx.run_context.model_copy(update={"segment": segment})
            step.declared = declared
            if step.excluded is None:
                step.excluded = sink(stage_ctx.step_id, segment)
    return steps

