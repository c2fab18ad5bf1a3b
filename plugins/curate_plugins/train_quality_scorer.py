"""Trains the distilled quality scorer from the label cache inside a pipeline (Seed-Coder, step 2 of 3)."""

from __future__ import annotations

import json
from pathlib import Path

from datatrove.pipeline.base import PipelineStep
from pydantic import Field

from curate import BarrierJob, PluginParams, Stage, StageContext


class TrainQualityScorer(Stage):
    """After every shard has passed the steps before it (so an `llm_quality` step has labelled its sample),
    trains the fast scorer from the label cache, compares a fastText model over label buckets with a ridge
    regressor over cheap features on held-out labels, and keeps the one with the lower MAE (Seed-Coder
    distilled its oracle into a small regression model, MAE 0.91). Documents pass through unchanged; the
    model directory is then read by `quality_scorer`. Same as `curate train scorer`. An existing scorer is
    kept unless `retrain: true`, so incremental runs score with the model the corpus was cut with.
    """

    class Params(PluginParams):
        cache: str = Field(..., description="Label cache (SQLite) written by `llm_quality` / `curate label`.")
        out: str = Field(..., description="Model directory to write (read by `quality_scorer`).")
        prompt_version: str | None = Field(None, description="Train only on labels of this prompt version.")
        oracle: str | None = Field(None, description="Train only on labels of this oracle (`kind:model`).")
        test_fraction: float = Field(0.2, gt=0, lt=1, description="Held-out share of labels (by content hash).")
        min_labels: int = Field(20, ge=4, description="Fail with a clear message below this many usable labels.")
        retrain: bool = Field(False, description="Train again when `out` already holds a scorer. False keeps it, "
                                                 "so incremental runs score new files with the same model.")

    requires = {"fasttext": "curate[quality]"}

    def barrier_jobs(self, ctx: StageContext) -> list[BarrierJob]:
        return [BarrierJob([TrainFromCache(self.params, ctx.work_dir)], tasks=1, name="train")]


class TrainFromCache(PipelineStep):
    type = "curate"
    name = "train_quality_scorer.train"

    def __init__(self, params, work_dir: str):
        super().__init__()
        self.params, self.work_dir = params, work_dir

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        from curate_plugins._quality.scorer import train_scorer
        from curate_plugins.lib.llm.cache import LabelCache

        p = self.params
        if not p.retrain and Path(p.out, "meta.json").is_file():
            self.stat_update("kept_existing_scorer")
            return
        cache = LabelCache(p.cache)
        files = list(cache.labelled(p.prompt_version, p.oracle))
        cache.close()
        meta = train_scorer(files, p.out, test_fraction=p.test_fraction, min_labels=p.min_labels)
        self.stat_update("labels", value=len(files))
        from curate import atomic_write_bytes
        atomic_write_bytes(f"{self.work_dir}/train_report.json", json.dumps(meta).encode())
        return
        yield
