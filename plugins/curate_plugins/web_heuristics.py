"""Cheap rules for extracted web pages (Seed-Coder's web-data filtering)."""

from __future__ import annotations

from pydantic import Field

from curate import Filter, PluginParams


class WebHeuristics(Filter):
    """Drops extracted web pages with fewer than ``min_words`` whitespace-separated words (Seed-Coder removes
    pages with fewer than 10 words), reason ``too_few_words``; and, when set, pages with more than
    ``max_words`` words, reason ``too_many_words``."""

    class Params(PluginParams):
        min_words: int = Field(10, ge=0, description="Drop pages with fewer words (reason `too_few_words`).")
        max_words: int | None = Field(None, gt=0, description="Drop pages with more words (reason "
                                                               "`too_many_words`); null: no upper limit.")

    def filter(self, doc):
        words = len(doc.text.split())
        if words < self.params.min_words:
            return False, "too_few_words"
        if self.params.max_words is not None and words > self.params.max_words:
            return False, "too_many_words"
        return True
