"""Parse files with tree-sitter and run the dependency queries of `curate_plugins.lib.code_refs` on the tree.

Grammars and parsers come from `curate_plugins.lib.treesitter` (tree-sitter-language-pack 0.13.0, bundled,
offline): loaded on first use of each language and cached per process, so a `Parsers` object stays cheap to
pickle. A file whose parse exceeds `timeout_s` contributes no dependencies (counted in `timeouts`).

Work already done is reused: references that the syntax check recorded for the same text
(`syntax.dependencies`, see `treesitter_syntax`'s `dependencies` option) are taken as they are, and within one
process a text seen before (a vendored copy, a fork) is not parsed twice (cache by language and content hash).
"""

from __future__ import annotations

import xxhash

from curate_plugins.lib.code_refs import GRAMMARS, FileRefs, from_record, refs_from_tree
from curate_plugins.lib.treesitter import ParseTimeout, encode_source, parse_source

RECORD_KEY = "syntax.dependencies"


class Parsers:
    """Dependency references of files: from the syntax step's record, a content cache, or a parse."""

    def __init__(self, timeout_s: float | None = 10.0, cache_size: int = 50_000):
        self.timeout_s = timeout_s
        self.timeouts = 0
        self.parsed = self.reused = self.cached = 0
        self.cache_size = cache_size
        self._cache: dict[tuple[str, int], FileRefs] = {}

    def refs(self, lang: str, text: str, metadata: dict | None = None) -> FileRefs:
        """The references of one file, or empty refs for a language without dependency rules."""
        if lang not in GRAMMARS:
            return FileRefs()
        if metadata and RECORD_KEY in metadata:
            recorded = from_record(metadata[RECORD_KEY], text)
            if recorded is not None:
                self.reused += 1
                return recorded
        key = (lang, xxhash.xxh3_64_intdigest(text.encode("utf-8", "surrogatepass")))
        found = self._cache.get(key)
        if found is not None:
            self.cached += 1
            return found
        found = self._parse(lang, text)
        if len(self._cache) >= self.cache_size:
            self._cache.clear()
        self._cache[key] = found
        return found

    def _parse(self, lang: str, text: str) -> FileRefs:
        source, _ = encode_source(text)
        try:
            tree = parse_source(source, GRAMMARS[lang][0], self.timeout_s)
        except ParseTimeout:
            self.timeouts += 1
            return FileRefs(has_error=True)
        self.parsed += 1
        return refs_from_tree(lang, tree)


def supported(lang: str) -> bool:
    return lang in GRAMMARS
