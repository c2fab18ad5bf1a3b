"""Language from file name and extension."""

from __future__ import annotations

from pydantic import Field

from curate import UNKNOWN_LANGUAGE as UNKNOWN
from curate import Annotator, PluginMetadata, PluginParams, language_for_path


class LanguageFromExtension(Annotator):
    """Sets ``lang`` from the file name, its extension, then its shebang line, as Seed-Coder infers the
    language of GitHub files from their extension. Files it cannot place get ``lang=unknown`` (counted in
    the run's stats as ``unknown``, never dropped here)."""

    class Metadata(PluginMetadata):
        lang: str = Field(description="Language from file name, extension or shebang; `unknown` otherwise.")

    class Params(PluginParams):
        path_key: str = Field("path", description="Metadata key holding the file path.")
        overwrite: bool = Field(False, description="Replace a `lang` the source already set.")

    def annotate(self, doc) -> None:
        if doc.metadata.get("lang") and not self.params.overwrite:
            return
        path = doc.metadata.get(self.params.path_key) or ""
        first = doc.text[:200].split("\n", 1)[0] if doc.text.startswith("#!") else None
        lang = language_for_path(str(path), first)
        doc.metadata["lang"] = lang
        if lang == UNKNOWN:
            self.stat_update("unknown_lang")
