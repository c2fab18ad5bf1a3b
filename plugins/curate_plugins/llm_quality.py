"""Oracle quality labels from an LLM (Seed-Coder's LLM quality filter, step 1 of 3)."""

from __future__ import annotations

from pydantic import Field

from curate import Annotator, PluginMetadata
from curate_plugins._quality.labeller import OracleSettings
from curate_plugins._quality.prompt import content_sha256, load_prompt
from curate_plugins.lib.llm.preflight import preflight


class LlmQuality(Annotator):
    """Asks an oracle LLM to rate a sample of files for readability, modularity, clarity and reusability,
    with a zero-score policy for configuration, data, literal-dominated and auto-generated files, answering
    `Rating: [[X]]` (Seed-Coder, "let the code model curate data for itself"). Writes `quality.oracle`
    (the rating, or the expected value in `expected` mode), `quality.oracle_expected` when log-probabilities
    are available, and `quality.error` when no rating could be read (never a 0). Files outside the sample
    pass through untouched. Labels are cached by content hash and prompt version, so a rerun never pays
    twice; `curate train scorer` trains the fast scorer from that cache.
    """

    namespace = "quality"

    class Metadata(PluginMetadata):
        oracle: float = Field(description="The oracle's rating (0..10), or its expected value in `expected` mode.")
        oracle_expected: float = Field(description="Expected rating from log-probabilities, when available.")
        error: str = Field(description="Why no rating could be read (never recorded as a 0).")

    class Params(OracleSettings):
        sample_fraction: float = Field(1.0, gt=0, le=1, description="Share of files to label, chosen by content "
                                                                    "hash (deterministic across runs).")

    _lazy_attributes = ("_labeller",)

    def check(self) -> list[str]:
        problems = []
        try:
            load_prompt(self.params.prompt)
        except (FileNotFoundError, ValueError) as exc:
            problems.append(f"with.prompt: {exc}")
        problems += preflight(self.params.backend)
        return problems

    def setup(self) -> None:
        from curate_plugins._quality.labeller import Labeller
        from curate_plugins.lib.llm.backend import make_backend
        from curate_plugins.lib.llm.cache import LabelCache

        self._labeller = Labeller(self.params, make_backend(self.params.backend), load_prompt(self.params.prompt),
                                  LabelCache(self.params.cache))

    def preferred_batch_size(self) -> int:
        """Enough documents for several backend calls' worth of sampled files."""
        return self.params.backend.batch_size * 4

    def annotate(self, doc) -> None:
        self.annotate_batch([doc])

    def annotate_batch(self, docs) -> None:
        """Label the sampled files of the batch in one labeller call (cached labels cost nothing)."""
        sampled = [d for d in docs if in_sample(d.text, self.params.sample_fraction)]
        for doc, label in zip(sampled, self._labeller.label(sampled) if sampled else ()):
            if label.value is not None:
                doc.metadata["quality.oracle"] = round(label.value, 4)
            if label.expected is not None:
                doc.metadata["quality.oracle_expected"] = round(label.expected, 4)
            if label.error:
                doc.metadata["quality.error"] = label.error


def in_sample(text: str, fraction: float) -> bool:
    return fraction >= 1.0 or int(content_sha256(text)[:8], 16) < fraction * 0x100000000
