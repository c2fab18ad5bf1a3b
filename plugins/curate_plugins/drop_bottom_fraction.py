"""Drops the lowest-scored fraction of each group (Seed-Coder: bottom ~10% by quality; per-category cuts
for web pages)."""

from __future__ import annotations

import json
from typing import Literal

import orjson
from datatrove.pipeline.base import PipelineStep
from pydantic import Field, model_validator

from curate import (
    BarrierJob,
    Filter,
    IndexPart,
    PluginMetadata,
    PluginParams,
    Stage,
    StageContext,
    atomic_write_bytes,
    read_bytes,
)

ALL = "*"  # the group of every document; the fallback cut for groups the calibration never saw


class DropBottomFraction(Stage):
    """Drops documents whose `key` score is in the lowest `fraction` of their group (`group_by`: language,
    web category, ...), as Seed-Coder dropped the bottom ~10% of files by LLM quality score and set
    per-category thresholds for web pages whose scores were biased by category. The cut is computed over the
    whole run with a mergeable streaming quantile sketch (map: one sketch per shard; barrier: merge and write
    `calibration.json`; reduce: drop `score < cut`), and saved in the step's index (an ``IndexStore`` part) so
    later incremental runs reuse the same cut instead of re-cutting each batch; a cut saved with other settings
    (key, fraction, group_by, ...) is never reused, and a rolled-back run's cut leaves with it. Ties are never
    split: at most `fraction` is dropped.
    """

    namespace = "quality"

    class Metadata(PluginMetadata):
        cut: float = Field(description="The score under which documents of this group were dropped.")

    class Params(PluginParams):
        key: str = Field("quality.score", description="Metadata key of the score (higher is better).")
        fraction: float = Field(0.1, ge=0, lt=1, description="Share of each group to drop.")
        group_by: str | None = Field("lang", description="Metadata key whose value forms the groups (e.g. `lang`, "
                                                         "`web.category`); null: one group.")
        calibration: Literal["reuse", "recompute"] = Field(
            "reuse", description="`reuse`: keep the cut saved by an earlier run of this step (incremental runs "
                                 "keep the same cut), computing it only the first time; `recompute`: cut this "
                                 "run and save the new cut.")
        calibration_file: str | None = Field(None, description="Take the cut from this calibration.json (from "
                                                               "another corpus or run) instead.")
        min_group_size: int = Field(20, ge=1, description="Groups with fewer scored documents use the `*` cut.")
        score_range: tuple[float, float] = Field((0.0, 10.0), description="Range of the score for the sketch.")
        bins: int = Field(10000, ge=10, le=10_000_000, description="Sketch resolution (cut error <= one bin).")
        missing: Literal["keep", "drop"] = Field("keep", description="Documents without the score: keep them, or "
                                                                     "drop them with reason `missing_score`.")

        @model_validator(mode="after")
        def _range_ok(self):
            if not self.score_range[0] < self.score_range[1]:
                raise ValueError("score_range must be (low, high) with low < high")
            return self

    def check(self) -> list[str]:
        from pathlib import Path

        f = self.params.calibration_file
        return [f"with.calibration_file: {f} does not exist"] if f and not Path(f).is_file() else []

    def calibration_settings(self) -> dict:
        """What a saved cut depends on: it is reused only by a step with the same settings."""
        p = self.params
        return {"key": p.key, "fraction": p.fraction, "group_by": p.group_by, "min_group_size": p.min_group_size,
                "score_range": list(p.score_range), "bins": p.bins}

    def _saved_calibration(self, ctx: StageContext) -> str | None:
        if self.params.calibration_file:
            return self.params.calibration_file
        if self.params.calibration != "reuse" or ctx.rebuild_index:
            return None
        store = ctx.index_store()
        committed = store.current()
        if committed is None or committed.settings != self.calibration_settings() or not committed.parts:
            return None
        return store.part_path(committed.parts[0].name)

    def map_steps(self, ctx: StageContext) -> list[PipelineStep]:
        if self._saved_calibration(ctx):
            return []
        return [ScoreSketcher(self.params, ctx.work_dir)]

    def barrier_jobs(self, ctx: StageContext) -> list[BarrierJob]:
        saved = self._saved_calibration(ctx)
        return [BarrierJob([Calibrate(self.params, ctx, saved)], tasks=1, name="calibrate")]

    def reduce_steps(self, ctx: StageContext) -> list[PipelineStep]:
        return [DropBelowCut(self.params, f"{ctx.work_dir}/calibration.json")]


def group_of(doc, group_by: str | None) -> str:
    return str(doc.metadata.get(group_by, "")) if group_by else ALL


def score_of(doc, key: str) -> float | None:
    value = doc.metadata.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


class ScoreSketcher(PipelineStep):
    """Per shard: one histogram sketch of the score per group (and for `*`); documents pass through."""

    type = "curate"
    name = "drop_bottom_fraction.sketch"

    def __init__(self, params, work_dir: str):
        super().__init__()
        self.params, self.work_dir = params, work_dir

    def run(self, data, rank: int = 0, world_size: int = 1):
        from curate_plugins._quality.sketch import HistogramSketch

        low, high = self.params.score_range
        sketches: dict[str, HistogramSketch] = {}
        for doc in data or ():
            score = score_of(doc, self.params.key)
            if score is not None:
                for group in {group_of(doc, self.params.group_by), ALL}:
                    sketches.setdefault(group, HistogramSketch(low, high, self.params.bins)).add(score)
            yield doc
        atomic_write_bytes(f"{self.work_dir}/sketches/{rank:05d}.json",
                           orjson.dumps({g: s.to_json() for g, s in sketches.items()}))


class Calibrate(PipelineStep):
    """One task: merge the shards' sketches into per-group cuts, or copy a saved calibration."""

    type = "curate"
    name = "drop_bottom_fraction.calibrate"

    def __init__(self, params, ctx: StageContext, saved: str | None):
        super().__init__()
        self.params, self.ctx, self.saved = params, ctx, saved

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        store = self.ctx.index_store()
        name = f"calibration-{self.ctx.run_id}.json"
        if self.saved:
            calibration = json.loads(read_bytes(self.saved))
            saved_name = self.saved.rsplit("/", 1)[-1]
            if self.saved == store.part_path(saved_name):  # the committed cut: this run's snapshot names it too
                name = saved_name
            else:
                atomic_write_bytes(store.part_path(name), json.dumps(calibration, indent=1).encode())
            calibration["reused_from"] = self.saved
        else:
            calibration = self._compute()
            atomic_write_bytes(store.part_path(name), json.dumps(calibration, indent=1).encode())
        settings = DropBottomFraction(self.params).calibration_settings()
        store.stage(self.ctx.run_id, [IndexPart(name, (self.ctx.run_id,), entries=len(calibration["cuts"]))], settings)
        atomic_write_bytes(f"{self.ctx.work_dir}/calibration.json", json.dumps(calibration, indent=1).encode())
        return
        yield

    def _compute(self) -> dict:
        from curate_plugins._quality.sketch import HistogramSketch

        p = self.params
        merged: dict[str, HistogramSketch] = {}
        for r in range(self.ctx.tasks):
            raw = read_bytes(f"{self.ctx.work_dir}/sketches/{r:05d}.json")
            for group, d in (orjson.loads(raw) if raw else {}).items():
                sketch = HistogramSketch.from_json(d)
                merged.setdefault(group, HistogramSketch(sketch.low, sketch.high, sketch.bins)).merge(sketch)
        cuts = {g: s.cut_for_fraction(p.fraction) for g, s in merged.items() if s.total >= p.min_group_size}
        cuts.setdefault(ALL, merged[ALL].cut_for_fraction(p.fraction) if ALL in merged else p.score_range[0])
        return {"key": p.key, "fraction": p.fraction, "group_by": p.group_by, "run_id": self.ctx.run_id,
                "cuts": cuts, "counts": {g: s.total for g, s in merged.items()}}


class DropBelowCut(Filter):
    """Per shard, after the barrier: drops `score < cut` of the document's group (reason `bottom_fraction`)."""

    def __init__(self, params, calibration_path: str):
        super().__init__()
        self.params, self.calibration_path = params, calibration_path

    def run(self, data, rank: int = 0, world_size: int = 1):
        calibration = json.loads(read_bytes(self.calibration_path))
        if calibration.get("key") != self.params.key:
            raise ValueError(f"{self.calibration_path}: calibration is for key {calibration.get('key')!r}, "
                             f"not {self.params.key!r}")
        self._cuts = calibration["cuts"]
        yield from super().run(data, rank, world_size)

    def filter(self, doc):
        score = score_of(doc, self.params.key)
        if score is None:
            return (False, "missing_score") if self.params.missing == "drop" else True
        group = group_of(doc, self.params.group_by)
        cut = self._cuts.get(group, self._cuts[ALL])
        if score < cut:
            doc.metadata["quality.cut"] = cut
            return False, "bottom_fraction"
        return True
