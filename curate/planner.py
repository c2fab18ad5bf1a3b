"""Compile a validated pipeline into datatrove pipelines ("segments"), cutting at every Stage barrier.

Each segment is one datatrove job with a task count; segment k+1 depends on segment k. Per-shard segments
run one task per input shard (rank r always reads shard r), so every per-shard segment of a run has the
same task count and sees the same reader, whatever the number of workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curate.config import ResolvedPipeline
from curate.io import ExcludedSink, ShardReader, ShardWriter
from curate.plugin import DocumentStep, Reject, RunContext, Stage, StageContext
from curate.progress import ProgressWriter
from curate.state import CorpusDir
from curate.stepstats import step_accounting, text_bytes


@dataclass
class ShardAssignment:
    """One input shard of a run: which input reads it, and for resumable sources the state to read."""
    input_index: int
    shard: str
    #: resumable sources only: the fingerprint to read with (``Source.read_shard_update``)
    update: dict | None = None


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


class SourceStep(PipelineStep):
    """First step of a run: rank r reads input shard r and writes rejected records to excluded/."""

    type = "curate"
    name = "source"

    def __init__(self, sources: list, shards: list[ShardAssignment], context: RunContext, excluded: ExcludedSink,
                 progress_dir: str | None = None):
        super().__init__()
        self.sources, self.shards, self.context = sources, shards, context
        self.excluded, self.progress_dir = excluded, progress_dir

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        """Read input shard ``rank``; yield its documents and write rejected records to excluded/."""
        assignment = self.shards[rank]
        source = self.sources[assignment.input_index]
        source.ensure_setup()
        progress = ProgressWriter(self.progress_dir, rank)
        with step_accounting(self.context, self.excluded, rank) as counters:
            items = source.read_shard(assignment.shard) if assignment.update is None \
                else source.read_shard_update(assignment.shard, assignment.update)
            for item in items:
                if isinstance(item, Reject):
                    doc = item.as_document()
                    nbytes = text_bytes(doc.text)
                    counters.seen(nbytes)
                    counters.dropped(item.reason, nbytes)
                    doc.metadata.update({"drop.reason": item.reason, "drop.step": "source",
                                         "source.input": assignment.input_index})
                    self.excluded.write(doc, rank)
                    continue
                nbytes = text_bytes(item.text)
                counters.seen(nbytes)
                counters.kept(nbytes)
                progress.tick(nbytes)
                yield item
        progress.finish()


def instantiate(step, context: RunContext):
    """The plugin instance of a resolved step, bound to the run context."""
    return step.cls(step.params, context)


def build_plan(resolved: ResolvedPipeline, corpus: CorpusDir, run_id: str, run_seq: int,
               shards: list[ShardAssignment], previous_runs: list[str]) -> Plan:
    """Compile a resolved pipeline into segments for one run over ``shards``."""
    spec = resolved.spec
    tasks = len(shards)
    excluded_dir = corpus.path("excluded", run_id)
    full = spec.output.keep_excluded

    def context(step_id: str, index: int, segment: int) -> RunContext:
        return RunContext(step_id=step_id, step_index=index, segment=segment, run_id=run_id, run_seq=run_seq,
                          corpus_dir=corpus.root, keep_excluded=full, strict=spec.strict)

    sources = [instantiate(s, context(s.step_id, 0, 0)) for s in resolved.inputs]
    plan = Plan(run_id)
    seg = 0
    current: list = [SourceStep(sources, shards, context("source", 0, 0), ExcludedSink(excluded_dir, "source", full),
                                corpus.path("runs", run_id, "progress"))]
    for index, step in enumerate(resolved.steps, start=1):
        plugin = instantiate(step, context(step.step_id, index, seg))
        if not isinstance(plugin, Stage):
            plugin.excluded = ExcludedSink(excluded_dir, step.step_id, full, seg)
            current.append(plugin)
            continue
        stage_ctx = StageContext(step_id=step.step_id, run_id=run_id, run_seq=run_seq, tasks=tasks,
                                 work_dir=corpus.path("runs", run_id, "work", step.step_id),
                                 index_dir=corpus.index_dir(step.step_id), previous_runs=previous_runs,
                                 run_context=context(step.step_id, index, seg))
        if not plugin.barrier_reads_run:
            _plan_barrier_first(plan, plugin, stage_ctx)
            current += _bind(plugin.reduce_steps(stage_ctx), stage_ctx, seg, excluded_dir, full)
            continue
        current += _bind(plugin.map_steps(stage_ctx), stage_ctx, seg, excluded_dir, full)
        # scratch data between segments: fastest zstd level, deleted when the run succeeds
        scratch = ShardWriter(corpus.path("runs", run_id, "work", f"segment-{seg:02d}"), level=1)
        current.append(scratch)
        plan.segments.append(Segment(f"segment-{seg:02d}", current, tasks))
        for job in plugin.barrier_jobs(stage_ctx):
            plan.segments.append(Segment(f"{step.step_id}-{job.name}", job.steps, job.tasks, per_shard=False))
        seg += 1
        current = [ShardReader(scratch)] + _bind(plugin.reduce_steps(stage_ctx), stage_ctx, seg, excluded_dir, full)
    current.append(ShardWriter(corpus.path("data", run_id), spec.output.format))
    plan.segments.append(Segment(f"segment-{seg:02d}", current, tasks))
    return plan


def _plan_barrier_first(plan: Plan, plugin: Stage, stage_ctx: StageContext) -> None:
    """A stage whose barrier reads nothing of this run: its jobs run before the current per-shard segment."""
    if plugin.map_steps(stage_ctx):
        raise ValueError(f"{stage_ctx.step_id}: a stage with barrier_reads_run = False cannot have map_steps")
    for job in plugin.barrier_jobs(stage_ctx):
        plan.segments.append(Segment(f"{stage_ctx.step_id}-{job.name}", job.steps, job.tasks, per_shard=False))


def _bind(steps: list, stage_ctx: StageContext, segment: int, excluded_dir: str, full: bool) -> list:
    """Give a stage's per-document steps their stats context and excluded sink."""
    for step in steps:
        if isinstance(step, DocumentStep):
            step.context = stage_ctx.run_context.model_copy(update={"segment": segment})
            if step.excluded is None:
                step.excluded = ExcludedSink(excluded_dir, stage_ctx.step_id, full, segment)
    return steps

