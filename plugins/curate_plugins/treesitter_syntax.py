"""Syntax check with tree-sitter grammars, plus code-structure statistics from the same parse."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from curate import Filter, PluginMetadata, PluginParams, programming_languages
from curate_plugins.lib.code_refs import compatible_grammar, refs_from_tree, to_record
from curate_plugins.lib.treesitter import (
    EXTENSION_GRAMMARS,
    GRAMMARS,
    HEADER_ALTERNATIVES,
    ErrorStats,
    Parsed,
    ParseTimeout,
    check_grammars,
    encode_source,
    grammar_for,
    max_depth,
    parse_document,
    structure_stats,
)

#: Per-language error-bytes ratio above which a file is dropped, measured on real, well-maintained code
#: (docs/syntax.md): C and C++ headers use macros tree-sitter cannot expand, so they get a tolerance; a file
#: that ends inside an unclosed construct, or whose braces do not pair up, is still dropped.
DEFAULT_MAX_ERROR_RATIO: dict[str, float] = {"c": 0.2, "cpp": 0.2, "cuda": 0.2, "objective-c": 0.2,
                                             "arduino": 0.2}


def should_drop(errors: ErrorStats, size: int, max_ratio: float, drop_eof_errors: bool = True,
                drop_brace_errors: bool = True) -> bool:
    """The policy: drop on any error when ``max_ratio`` is 0. Otherwise drop when the share of unparsed
    bytes is above ``max_ratio``; when the file ends inside an unclosed construct with brackets left open
    (``drop_eof_errors``: truncation); or when braces do not pair up (``drop_brace_errors``: a MISSING ``}``
    or an unplaced brace without a partner; macros that hide braces from the grammar hide them in pairs)."""
    if not errors.count:
        return False
    if max_ratio <= 0 or errors.ratio(size) > max_ratio:
        return True
    truncated = errors.error_at_eof and errors.bracket_imbalance > 0
    return (drop_eof_errors and truncated) or (drop_brace_errors and errors.brace_imbalance != 0)


class DependencyRef(BaseModel):
    """One import or include of ``syntax.dependencies`` (curate_plugins.lib.code_refs.to_record)."""

    kind: str
    spec: str
    level: int
    names: list[str]


class DependencyRecord(BaseModel):
    """The column type of ``syntax.dependencies``."""

    hash: str
    has_error: bool
    package: str
    refs: list[DependencyRef]
    defines: list[str]
    uses: list[str]


class TreesitterSyntax(Filter):
    """Parses each document with the tree-sitter grammar of its ``lang`` and drops files with syntax errors
    (ERROR or MISSING nodes), as Seed-Coder drops GitHub files a parser reports as broken. Python 2 syntax
    that tree-sitter-python still accepts (``print x``, ``except E, e``) counts as an error.

    Writes ``syntax.checked``, ``syntax.grammar``, ``syntax.has_error``, ``syntax.error_count``,
    ``syntax.error_bytes_ratio``, ``syntax.error_at_eof`` and, with ``structure: true``, statistics from the
    same parse (``syntax.node_count``, ``syntax.functions``, ``syntax.methods``, ``syntax.classes``,
    ``syntax.comment_ratio``, ``syntax.docstring_ratio``, ``syntax.longest_function_lines``, optionally
    ``syntax.max_depth``). Deciding is separate from scoring: ``drop: false`` only annotates.

    With ``dependencies: true`` it also records ``syntax.dependencies``: the imports and includes found by the
    dependency queries on the same tree (with a hash of the text), which ``repo_packer`` reuses instead of
    parsing the file again.

    Drop reasons: ``syntax_error:<lang>``, ``syntax_timeout``, ``syntax_too_large``, ``syntax_invalid_utf8``.
    Languages without a grammar pass through with ``syntax.checked=false`` (counted as ``unchecked.<lang>``).
    """

    namespace = "syntax"

    class Metadata(PluginMetadata):
        checked: bool = Field(description="A grammar parsed the file (false: no grammar, too large, timeout).")
        grammar: str = Field(description="The tree-sitter grammar used.")
        has_error: bool = Field(description="The parse tree has ERROR or MISSING nodes.")
        error_count: int = Field(description="ERROR and MISSING nodes.")
        error_bytes_ratio: float = Field(description="Share of the file's bytes inside error nodes.")
        error_at_eof: bool = Field(description="An error reaches the end of the file (cut-off file).")
        replaced_chars: int = Field(description="Characters not valid UTF-8, replaced before parsing.")
        timeout: bool = Field(description="Parsing took longer than `timeout_s`.")
        node_count: int = Field(description="Nodes in the parse tree (with `structure`).")
        functions: int = Field(description="Functions and methods (with `structure`).")
        methods: int = Field(description="Methods (with `structure`).")
        classes: int = Field(description="Classes (with `structure`).")
        comment_ratio: float = Field(description="Share of bytes in comments (with `structure`).")
        docstring_ratio: float = Field(description="Share of bytes in docstrings (with `structure`).")
        longest_function_lines: int = Field(description="Lines of the longest function (with `structure`).")
        max_depth: int = Field(description="Depth of the parse tree (with `max_depth`).")
        dependencies: DependencyRecord = Field(description="Imports and includes found in the same parse (with "
                                                       "`dependencies`), for repo_packer.")

    class Params(PluginParams):
        drop: bool = Field(True, description="Drop documents the policy rejects. False: annotate only (the "
                                             "metadata is written either way).")
        langs: list[str] | None = Field(None, description="Check only these languages (curate names); default: "
                                                          "every programming language with a grammar (markup, "
                                                          "config and data formats pass unchecked unless listed).")
        max_error_ratio: float = Field(0.0, ge=0, le=1, description="Default policy: drop when the share of "
                                       "bytes in error nodes is above this; 0 drops on any error (Seed-Coder).")
        max_error_ratio_by_lang: dict[str, float] = Field(
            default_factory=lambda: dict(DEFAULT_MAX_ERROR_RATIO),
            description="Per-language override of `max_error_ratio` (measured defaults for C-family code, "
                        "whose macros tree-sitter cannot expand; see docs/syntax.md).")
        drop_eof_errors: bool = Field(True, description="Also drop, whatever the ratio, when the file ends inside "
                                                        "an unclosed construct (truncated file, unclosed block).")
        drop_brace_errors: bool = Field(True, description="Also drop, whatever the ratio, when braces do not pair "
                                                          "up (MISSING `}`, or unplaced `{`/`}` without partner).")
        header_fallback: bool = Field(True, description="For `.h` files: parse as C++ first when the text has "
                                                        "C++-only syntax; when the first parse would be dropped, "
                                                        "try the other grammar and keep the one with fewer errors.")
        timeout_s: float = Field(5.0, ge=0, description="Parse time budget per document in seconds (0: none); "
                                                        "over it the document is dropped (`syntax_timeout`).")
        max_bytes: int = Field(1_000_000, gt=0, description="Documents larger than this are not parsed.")
        oversize: Literal["drop", "keep"] = Field("drop", description="Larger documents: drop "
                                                  "(`syntax_too_large`) or keep unchecked.")
        invalid_utf8: Literal["replace", "drop"] = Field(
            "replace", description="Characters that cannot be UTF-8 encoded (lone surrogates): parse with '?' "
                                   "in their place (counted in `syntax.replaced_chars`) or drop.")
        structure: bool = Field(False, description="Also write structure statistics from the same parse "
                                                   "(one tree query: about 25% of the parse time).")
        max_depth: bool = Field(False, description="Also write `syntax.max_depth` (walks every node: about "
                                                   "20% of the parse time).")
        path_key: str = Field("path", description="Metadata key holding the file path (for `.h`, `.mli`).")
        dependencies: bool = Field(False, description="Also record the file's imports/includes from the same "
                                   "parse (`syntax.dependencies`, for Python, Java, JS/TS, Go, Rust, C/C++), so "
                                   "that `repo_packer` orders files without parsing them again.")

    def check(self) -> list[str]:
        problems = [f"max_error_ratio_by_lang: {lang!r} has no tree-sitter grammar (known: "
                    f"{', '.join(sorted(GRAMMARS))})" for lang in self.params.max_error_ratio_by_lang
                    if lang not in GRAMMARS]
        problems += [f"langs: {lang!r} has no tree-sitter grammar" for lang in self.params.langs or ()
                     if lang not in GRAMMARS]
        return problems + check_grammars(self._grammars_used())

    def _checked_langs(self) -> set[str]:
        if self.params.langs is not None:
            return set(self.params.langs)
        return set(GRAMMARS) & programming_languages()

    def _grammars_used(self) -> set[str]:
        langs = self._checked_langs()
        grammars = {GRAMMARS[lang] for lang in langs if lang in GRAMMARS}
        grammars |= {alt for g in grammars for alt in HEADER_ALTERNATIVES.get(g, ())}
        return grammars | set(EXTENSION_GRAMMARS.values())

    _lazy_attributes = ("_langs",)

    def setup(self) -> None:
        self._langs = self._checked_langs()

    def filter(self, doc):
        meta = doc.metadata
        lang = meta.get("lang") or "unknown"
        path = str(meta.get(self.params.path_key) or "")
        if lang not in self._langs or grammar_for(lang, path) is None:
            return self._unchecked(meta, lang, "no_grammar")
        source, replaced = encode_source(doc.text)
        if len(source) > self.params.max_bytes:
            return self._unchecked(meta, lang, "syntax_too_large")
        if replaced and self.params.invalid_utf8 == "drop":
            return self._unchecked(meta, lang, "syntax_invalid_utf8")
        max_ratio = self.params.max_error_ratio_by_lang.get(lang, self.params.max_error_ratio)

        def rejected(errors: ErrorStats, size: int) -> bool:
            return should_drop(errors, size, max_ratio, self.params.drop_eof_errors, self.params.drop_brace_errors)

        try:
            # the other grammar of a .h file is tried only when the first parse would be dropped
            parsed = parse_document(source, lang, path, self.params.timeout_s or None,
                                    try_alternatives=self.params.header_fallback and rejected)
        except ParseTimeout:
            meta["syntax.timeout"] = True
            return self._unchecked(meta, lang, "syntax_timeout")
        parsed.replaced_chars = replaced
        self._annotate(meta, parsed, lang)
        if self.params.dependencies and compatible_grammar(lang, parsed.grammar):
            meta["syntax.dependencies"] = to_record(refs_from_tree(lang, parsed.tree, parsed.grammar), doc.text)
        if self.params.drop and rejected(parsed.errors, len(parsed.source)):
            return False, f"syntax_error:{lang}"
        return True

    def _unchecked(self, meta: dict, lang: str, reason: str):
        meta["syntax.checked"] = False
        self.stat_update(f"unchecked.{lang}")
        drops = {"syntax_timeout", "syntax_invalid_utf8"} | ({"syntax_too_large"} if self.params.oversize == "drop"
                                                           else set())
        if self.params.drop and reason in drops:
            return False, reason
        return True

    def _annotate(self, meta: dict, parsed: Parsed, lang: str) -> None:
        errors, size = parsed.errors, len(parsed.source)
        meta["syntax.checked"] = True
        meta["syntax.grammar"] = parsed.grammar
        meta["syntax.has_error"] = errors.count > 0
        meta["syntax.error_count"] = errors.count
        meta["syntax.error_bytes_ratio"] = round(errors.ratio(size), 6)
        meta["syntax.error_at_eof"] = errors.error_at_eof
        if parsed.replaced_chars:
            meta["syntax.replaced_chars"] = parsed.replaced_chars
        if self.params.structure:
            for key, value in structure_stats(parsed.tree, parsed.grammar, size).items():
                meta[f"syntax.{key}"] = value
        if self.params.max_depth:
            meta["syntax.max_depth"] = max_depth(parsed.tree)
        self.stat_update(f"checked.{lang}")
