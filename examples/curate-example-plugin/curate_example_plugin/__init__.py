"""An example third-party plugin package for curate."""

from pydantic import Field

from curate import Filter, PluginParams


class MinLines(Filter):
    """Drops documents with fewer than `min_lines` lines (reason `too_few_lines`). A toy rule that shows how a
    third-party package adds a filter: this class, plus one entry point under `curate.plugins`."""

    class Params(PluginParams):
        min_lines: int = Field(3, ge=1, description="Minimum number of lines to keep a document.")

    def filter(self, doc):
        if doc.text.count("\n") + 1 < self.params.min_lines:
            return False, "too_few_lines"
        return True
