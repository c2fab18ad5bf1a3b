"""Parse files with tree-sitter and run the dependency queries of `queries.py` on the tree.

Grammars and parsers come from `curate_plugins.lib.treesitter` (tree-sitter-language-pack 0.13.0, bundled, offline):
loaded on first use of each language and cached per process, so a `Parsers` object stays cheap to pickle.
A file whose parse exceeds `timeout_s` contributes no dependencies (counted in `timeouts`).
"""

from __future__ import annotations

from curate_plugins._repo_pack.queries import GRAMMARS, QUERIES, FileRefs, extract
from curate_plugins.lib.treesitter import ParseTimeout, encode_source, load_language, parse_source


class Parsers:
    """Per-language compiled query cursors, loaded lazily."""

    def __init__(self, timeout_s: float | None = 10.0):
        self.timeout_s = timeout_s
        self.timeouts = 0
        self._cursors: dict[str, object] = {}

    def _cursor(self, lang: str):
        cursor = self._cursors.get(lang)
        if cursor is None:
            from tree_sitter import Query, QueryCursor

            cursor = self._cursors[lang] = QueryCursor(Query(load_language(GRAMMARS[lang][0]), QUERIES[lang]))
        return cursor

    def refs(self, lang: str, text: str) -> FileRefs:
        """The references of one file, or empty refs for a language without dependency rules."""
        if lang not in GRAMMARS:
            return FileRefs()
        source, _ = encode_source(text)
        try:
            tree = parse_source(source, GRAMMARS[lang][0], self.timeout_s)
        except ParseTimeout:
            self.timeouts += 1
            return FileRefs(has_error=True)
        return extract(lang, self._cursor(lang).captures(tree.root_node), tree.root_node.has_error)


def supported(lang: str) -> bool:
    return lang in GRAMMARS
