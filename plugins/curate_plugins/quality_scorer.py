"""The distilled quality scorer applied at corpus scale (Seed-Coder's LLM quality filter, step 3 of 3)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field

from curate import Annotator, PluginMetadata, PluginParams, rename_key


class QualityScorer(Annotator):
    """Writes `quality.score` (0..10): the oracle's rating predicted by a fast CPU model distilled from the
    oracle labels (Seed-Coder trained a regression head on 222K LLM ratings and dropped the bottom ~10% of
    files by its score). The model directory comes from `curate train scorer` or a `train_quality_scorer`
    step earlier in the same pipeline; scoring is separate from deciding (see `drop_bottom_fraction`).
    """

    namespace = "quality"
    default_batch_size = 256

    class Metadata(PluginMetadata):
        score: float = Field(description="Predicted oracle rating, 0..10 (key set by `key`).")

    class Params(PluginParams):
        model: str = Field(..., description="Scorer directory written by `curate train scorer` (meta.json + "
                                            "model file). May be produced by an earlier step of the same run.")
        key: str = Field("quality.score", description="Metadata key to write (keep it under `quality.`).")

    requires = {"fasttext": "curate[quality]"}
    _lazy_attributes = ("_scorer",)

    def output_fields(self) -> dict:
        return rename_key(super().output_fields(), "quality.score", self.params.key)

    def check(self) -> list[str]:
        meta = Path(self.params.model) / "meta.json"
        if not meta.exists():
            return []  # may be trained by an earlier step of the same run; setup() names the path if not
        try:
            approach = json.loads(meta.read_text())["approach"]
        except (ValueError, KeyError) as exc:
            return [f"with.model: {meta} is not a scorer description ({exc})"]
        return [] if approach in ("fasttext", "ridge") else [f"with.model: unknown approach {approach!r} in {meta}"]

    def setup(self) -> None:
        from curate_plugins._quality.scorer import load_scorer

        self._scorer, _ = load_scorer(self.params.model)

    def annotate(self, doc) -> None:
        self.annotate_batch([doc])

    def annotate_batch(self, docs) -> None:
        scores = self._scorer.predict_many([d.text for d in docs], [d.metadata for d in docs])
        for doc, score in zip(docs, scores):
            doc.metadata[self.params.key] = round(score, 4)
