"""Score documents with a binary fastText model trained by ``curate train fasttext``, and keep the high ones."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from curate import Filter, PluginMetadata, PluginParams, rename_key


class FasttextClassifier(Filter):
    """Writes the model's positive-class probability to ``score_key`` (default ``web.code_score``) and keeps a
    document when the score reaches ``threshold`` or, optionally, when ``keep_if_key`` is true (Seed-Coder
    takes pages with explicit code markup by rule and recalls the rest with a fastText classifier at 99%
    recall). Drops are recorded as ``below_threshold``. With ``drop: false`` it only annotates.

    The plugin is generic: any binary model written by ``curate train fasttext`` works (code-related pages, a
    high-quality-code classifier, ...). The model's sidecar (``<model>.json``) supplies the text normalisation
    and, when ``threshold`` is not set, the threshold that reached the target recall on held-out data.
    The model is loaded lazily, once per worker.
    """

    requires = {"fasttext": "curate[web]"}

    namespace = "web"
    default_batch_size = 256

    class Metadata(PluginMetadata):
        code_score: float = Field(description="The model's positive-class probability (key set by `score_key`).")

    class Params(PluginParams):
        model: str = Field(description="Path of the fastText model (`model.bin` from `curate train fasttext`).")
        score_key: str = Field("web.code_score", description="Metadata key receiving the positive-class "
                                                             "probability.")
        threshold: float | None = Field(None, ge=0, le=1, description="Keep documents scoring at least this. "
                                        "Default: the sidecar's threshold at the target recall.")
        keep_if_key: str | None = Field("web.has_code_markup", description="Keep a document whatever its "
                                        "score when this metadata key is true (null: the score alone decides).")
        drop: bool = Field(True, description="Drop documents that are not kept; false only annotates.")

    _lazy_attributes = ("_model", "_label", "_max_chars", "_threshold")

    def output_fields(self) -> dict:
        return rename_key(super().output_fields(), "web.code_score", self.params.score_key)

    def check(self) -> list[str]:
        from curate_plugins.lib.fasttext.training import read_sidecar

        model = Path(self.params.model)
        if not model.is_file():
            return [f"model: {model} does not exist (train one with `curate train fasttext`)"]
        if self.params.threshold is None and "threshold_at_target_recall" not in read_sidecar(str(model)):
            return [f"threshold: not set, and {model}.json has no `threshold_at_target_recall`"]
        return []

    def setup(self) -> None:
        import fasttext

        from curate_plugins.lib.fasttext.training import POSITIVE, read_sidecar

        sidecar = read_sidecar(self.params.model)
        self._model = fasttext.load_model(self.params.model)
        self._label = sidecar.get("fasttext_label", POSITIVE)
        self._max_chars = sidecar.get("normalise", {}).get("max_chars", 100_000)
        self._threshold = self.params.threshold
        if self._threshold is None:
            if "threshold_at_target_recall" not in sidecar:
                raise ValueError(f"fasttext_classifier: no threshold given and none in {self.params.model}.json")
            self._threshold = float(sidecar["threshold_at_target_recall"])

    def score(self, text: str) -> float:
        return self.scores([text])[0]

    def scores(self, texts: list[str]) -> list[float]:
        """Positive-class probabilities of many texts in one fastText call."""
        from curate_plugins.lib.fasttext.training import label_probability, normalise_for_fasttext

        labels, probs = self._model.predict([normalise_for_fasttext(t, self._max_chars) for t in texts], k=-1)
        return [label_probability(lab, prob, self._label) for lab, prob in zip(labels, probs)]

    def filter(self, doc):
        return self.filter_batch([doc])[0]

    def filter_batch(self, batch):
        return [self._decide(doc, score) for doc, score in zip(batch, self.scores([d.text for d in batch]))]

    def _decide(self, doc, score: float):
        doc.metadata[self.params.score_key] = round(score, 6)
        if not self.params.drop or score >= self._threshold:
            return True
        if self.params.keep_if_key and doc.metadata.get(self.params.keep_if_key):
            return True
        return False, "below_threshold"
