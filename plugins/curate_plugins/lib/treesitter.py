"""Tree-sitter parsing shared by plugins: the grammar map, cached parsers, timed parses and tree statistics.

Grammars come from the ``tree-sitter-language-pack`` 0.13.0 wheel (173 grammars bundled, nothing compiled or
downloaded at run time) and run on ``tree-sitter`` 0.26.

Public API (used by ``treesitter_syntax`` and meant for other plugins, e.g. the repository packer)::

    grammar_for(lang, path=None) -> str | None     # curate language name -> grammar name
    load_language(grammar) -> tree_sitter.Language  # cached per process; GrammarLoadError if it fails
    check_grammars(grammars) -> list[str]           # problems, for a plugin's ``check()``
    encode_source(text) -> (bytes, replaced)         # UTF-8 bytes for the parser, explicit about bad chars
    parse_source(source, grammar, timeout_s=None) -> tree_sitter.Tree   # raises ParseTimeout
    parse_document(text, lang, path=None, timeout_s=None) -> Parsed | None   # None: no grammar for lang
    error_stats(tree, source) -> ErrorStats         # ERROR / MISSING nodes, visiting only broken subtrees
    all_errors(tree, grammar, source) -> ErrorStats # the same plus STRICT_PATTERNS (Python 2 under Python 3)
    structure_stats(tree, grammar) -> dict           # functions, classes, methods, comments, docstrings
    max_depth(tree) -> int                           # iterative walk of every node (costs ~20% of a parse)

Everything walks trees iteratively (cursor or explicit stack), so deeply nested or minified input cannot hit
Python's recursion limit. Parsers and queries are cached per process and never pickled.
"""

from __future__ import annotations

import posixpath
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import get_args

import tree_sitter
import tree_sitter_language_pack

#: curate language name (``curate.langmap``) -> tree-sitter-language-pack grammar name. Languages not listed
#: here have no bundled grammar (cython, crystal, prolog, visual-basic, ...) and are not parsed.
GRAMMARS: dict[str, str] = {
    "ada": "ada", "agda": "agda", "apex": "apex", "arduino": "arduino", "assembly": "asm", "astro": "astro",
    "bibtex": "bibtex", "bicep": "bicep", "c": "c", "cairo": "cairo", "capnp": "capnp", "clojure": "clojure",
    "cmake": "cmake", "cobol": "cobol", "common-lisp": "commonlisp", "cpp": "cpp", "csharp": "csharp",
    "css": "css", "csv": "csv", "cuda": "cuda", "d": "d", "dart": "dart", "dockerfile": "dockerfile",
    "ejs": "embeddedtemplate", "elixir": "elixir", "elm": "elm", "emacs-lisp": "elisp", "erb": "embeddedtemplate",
    "erlang": "erlang", "fish": "fish", "fortran": "fortran", "fsharp": "fsharp", "gdscript": "gdscript",
    "gleam": "gleam", "glsl": "glsl", "go": "go", "go-module": "gomod", "graphql": "graphql", "groovy": "groovy",
    "haskell": "haskell", "haxe": "haxe", "hcl": "hcl", "hlsl": "hlsl", "html": "html", "ini": "ini",
    "java": "java", "javascript": "javascript", "json": "json", "julia": "julia", "jupyter-notebook": "json",
    "kotlin": "kotlin", "lua": "lua", "makefile": "make", "markdown": "markdown",
    "matlab": "matlab", "meson": "meson", "nim": "nim", "nix": "nix", "objective-c": "objc", "ocaml": "ocaml",
    "odin": "odin", "org": "org", "pascal": "pascal", "perl": "perl", "php": "php", "powershell": "powershell",
    "properties": "properties", "protobuf": "proto", "purescript": "purescript", "python": "python",
    "qml": "qmljs", "r": "r", "racket": "racket", "rego": "rego", "restructuredtext": "rst", "ruby": "ruby",
    "rust": "rust", "scala": "scala", "scheme": "scheme", "scss": "scss", "shell": "bash", "smali": "smali",
    "solidity": "solidity", "sql": "sql", "starlark": "starlark", "svelte": "svelte", "svg": "xml",
    "swift": "swift", "systemverilog": "verilog", "tcl": "tcl", "tex": "latex", "thrift": "thrift",
    "toml": "toml", "tsv": "tsv", "tsx": "tsx", "twig": "twig", "typescript": "typescript", "verilog": "verilog",
    "vhdl": "vhdl", "vim-script": "vim", "vue": "vue", "wgsl": "wgsl", "xml": "xml", "xslt": "xml",
    "yaml": "yaml", "zig": "zig",
}

#: file extensions whose grammar differs from their language's default one
EXTENSION_GRAMMARS: dict[str, str] = {".mli": "ocaml_interface", ".fsi": "fsharp_signature", ".tf": "terraform"}

#: grammar -> grammar to try when the first one reports errors on a header file (``.h`` is mapped to ``c``,
#: but C++ and Objective-C headers use ``.h`` too). The parse with fewer error bytes wins.
HEADER_ALTERNATIVES: dict[str, tuple[str, ...]] = {"c": ("cpp",)}
HEADER_EXTENSIONS = (".h",)


CLOSERS = frozenset({"}", ")", "]"})
BRACES = frozenset({"{", "}"})
OPENERS = frozenset({"{", "(", "["})

#: grammar -> node kinds whose inner errors are not counted: their content is not parsed as the language by
#: its compiler either (``macro_rules!`` bodies and macro arguments are token trees; tree-sitter-rust
#: mis-parses some of them, e.g. anyhow's `~~~` fuel counters).
#: An unbalanced delimiter there still surfaces outside, as an error at the end of the file.
IGNORED_ERROR_CONTEXTS: dict[str, frozenset[str]] = {"rust": frozenset({"macro_definition", "token_tree"})}


class GrammarLoadError(RuntimeError):
    """A grammar named in the map could not be loaded from the installed wheel."""


class ParseTimeout(Exception):
    """The parse exceeded its time budget and was cancelled."""


def bundled_grammars() -> set[str]:
    """Grammar names the installed tree-sitter-language-pack declares."""
    return set(get_args(tree_sitter_language_pack.SupportedLanguage))


def grammar_for(lang: str | None, path: str | None = None) -> str | None:
    """Grammar name for a curate language name (and optionally the file path, for ``.mli``-like cases)."""
    if path:
        ext = posixpath.splitext(path)[1].lower()
        if ext in EXTENSION_GRAMMARS and lang in GRAMMARS:
            return EXTENSION_GRAMMARS[ext]
    return GRAMMARS.get(lang or "")


def alternative_grammars(grammar: str, path: str | None) -> tuple[str, ...]:
    """Grammars to retry with when ``grammar`` reports errors on this file (C++ headers named ``.h``)."""
    if path and path.lower().endswith(HEADER_EXTENSIONS):
        return HEADER_ALTERNATIVES.get(grammar, ())
    return ()


@cache
def load_language(grammar: str) -> tree_sitter.Language:
    """The tree-sitter ``Language`` for a grammar name (cached per process)."""
    try:
        return tree_sitter_language_pack.get_language(grammar)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - any failure is reported with the grammar's name
        raise GrammarLoadError(f"tree-sitter grammar {grammar!r} failed to load from tree-sitter-language-pack "
                               f"{_pack_version()}: {type(exc).__name__}: {exc}") from exc


def check_grammars(grammars) -> list[str]:
    """Load each grammar and return one problem line per grammar that fails (empty when all load)."""
    problems = []
    for grammar in sorted(set(grammars)):
        try:
            language = load_language(grammar)
            tree_sitter.Parser(language).parse(b"\n")
        except Exception as exc:  # noqa: BLE001
            problems.append(str(exc) if isinstance(exc, GrammarLoadError) else
                            f"tree-sitter grammar {grammar!r} does not parse: {type(exc).__name__}: {exc}")
    return problems


def _pack_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tree-sitter-language-pack")
    except PackageNotFoundError:
        return "(not installed)"


# ---------------------------------------------------------------------------------------------- parsing

_PARSERS: dict[str, tree_sitter.Parser] = {}
_READ_CHUNK = 1 << 20


def get_parser(grammar: str) -> tree_sitter.Parser:
    """A parser for ``grammar``, created once per process."""
    parser = _PARSERS.get(grammar)
    if parser is None:
        parser = _PARSERS[grammar] = tree_sitter.Parser(load_language(grammar))
    return parser


def encode_source(text: str | bytes) -> tuple[bytes, int]:
    """UTF-8 bytes to parse, and how many characters could not be encoded (lone surrogates, replaced by '?').

    A leading byte-order mark is removed: it is not part of any grammar and would show up as an error.
    """
    if isinstance(text, bytes):
        data, replaced = text, 0
    else:
        try:
            data, replaced = text.encode("utf-8"), 0
        except UnicodeEncodeError:
            data = text.encode("utf-8", "replace")
            replaced = sum(1 for ch in text if 0xD800 <= ord(ch) <= 0xDFFF)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data, replaced


def parse_source(source: bytes, grammar: str, timeout_s: float | None = None) -> tree_sitter.Tree:
    """Parse ``source`` with ``grammar``; raise ``ParseTimeout`` when it takes longer than ``timeout_s``.

    Without a timeout this is a plain ``parser.parse(source)``. With one, the source is fed through a read
    callback so tree-sitter calls our progress callback, which cancels the parse after the deadline.
    """
    parser = get_parser(grammar)
    if not timeout_s:
        return parser.parse(source)
    deadline = time.monotonic() + timeout_s
    clock = time.monotonic

    def read(offset: int, _point) -> bytes:
        return source[offset:offset + _READ_CHUNK]

    def past_deadline(_offset: int, _has_error: bool) -> bool:
        return clock() > deadline

    try:
        return parser.parse(read, progress_callback=past_deadline)
    except ValueError as exc:  # tree-sitter reports a cancelled parse as "Parsing failed"
        if clock() > deadline:
            raise ParseTimeout(f"parse with grammar {grammar!r} exceeded {timeout_s:g} s") from exc
        raise
    finally:
        parser.reset()


@dataclass
class ErrorStats:
    """Syntax errors in a tree: ERROR nodes (with the bytes they cover) and MISSING (zero-width) nodes."""

    error_nodes: int = 0
    missing_nodes: int = 0
    error_bytes: int = 0
    #: MISSING closing delimiters (``}``, ``)``, ``]``): an unclosed block, rarely a macro artefact
    missing_closers: int = 0
    #: MISSING ``}`` plus ``{``/``}`` tokens left unplaced inside ERROR nodes
    brace_errors: int = 0
    #: unplaced ``{`` + MISSING ``}`` - unplaced ``}``: non-zero when braces do not pair up. Macros that hide
    #: braces from C and C++ grammars (``extern "C" {`` under ``#ifdef __cplusplus``) leave pairs: zero.
    brace_imbalance: int = 0
    #: the same over all brackets ``()[]{}``: a truncated file leaves it positive (unclosed openers)
    bracket_imbalance: int = 0
    #: constructs the grammar accepts but the current language version rejects (Python 2 ``print x``)
    invalid_nodes: int = 0
    #: an ERROR or MISSING node ends at the last non-blank byte (truncated file, unclosed block)
    error_at_eof: bool = False

    @property
    def count(self) -> int:
        return self.error_nodes + self.missing_nodes + self.invalid_nodes

    def ratio(self, size: int) -> float:
        return self.error_bytes / size if size else 0.0


def error_stats(tree: tree_sitter.Tree, source: bytes, grammar: str | None = None) -> ErrorStats:
    """Count ERROR and MISSING nodes, descending only into subtrees that contain an error.

    Error bytes are the bytes the parser could not place in any construct: the tokens directly inside ERROR
    nodes. Complete, error-free constructs that error recovery wrapped in an ERROR node (a C file whose
    root became ERROR because of one macro still holds hundreds of intact functions) are not counted.
    """
    stats = ErrorStats()
    root = tree.root_node
    if not root.has_error:
        return stats
    stats.error_at_eof = error_at_end(root)
    ignored = IGNORED_ERROR_CONTEXTS.get(grammar or "", frozenset())
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_missing:
            stats.missing_nodes += 1
            stats.missing_closers += node.type in CLOSERS
            stats.brace_errors += node.type == "}"
            stats.brace_imbalance += node.type == "}"
            stats.bracket_imbalance += node.type in CLOSERS
        elif node.is_error:
            stats.error_nodes += 1
            stats.error_bytes += _unplaced_bytes(node, stack, stats)
        elif node.type not in ignored:
            stack.extend(child for child in node.children if child.has_error)
    return stats


def _unplaced_bytes(error_node: tree_sitter.Node, stack: list, stats: ErrorStats) -> int:
    """Bytes of the tokens directly inside an ERROR node; pushes its broken children for the caller."""
    if not error_node.child_count:
        return error_node.end_byte - error_node.start_byte
    total = 0
    for child in error_node.children:
        if child.is_error or child.has_error:
            stack.append(child)
        elif not child.child_count:
            total += child.end_byte - child.start_byte
            stats.brace_errors += child.type in BRACES
            stats.brace_imbalance += (child.type == "{") - (child.type == "}")
            stats.bracket_imbalance += (child.type in OPENERS) - (child.type in CLOSERS)
    return total


def error_at_end(root: tree_sitter.Node) -> bool:
    """Whether the file ends inside an unclosed construct: its last token is a MISSING closing bracket (one
    the parser had to invent), or the ERROR node it ends in holds an unplaced opening bracket. That is what a truncated
    file or an unclosed block looks like; a final macro call without its semicolon is not."""
    node, last_error = root, None
    while node.child_count:
        if node.is_error:
            last_error = node
        children = [c for c in node.children if not c.is_extra or c.is_error or c.has_error] or node.children
        last = children[-1]
        if not (last.is_error or last.has_error or last.is_missing):
            break
        node = last
    if node.is_missing:
        return node.type in CLOSERS
    if node.is_error and not node.child_count:
        last_error = node
    if last_error is None:
        return False
    leaves = [c.type for c in last_error.children if not c.child_count]
    return sum(t in OPENERS for t in leaves) > sum(t in CLOSERS for t in leaves)


#: grammar -> [(gates, text prefilter regex, query capturing @invalid)]: constructs a grammar accepts for backward
#: compatibility but the current language rejects. tree-sitter-python parses Python 2 (``print x``,
#: ``exec x``, ``except E, e``, backticks, ``<>``, ``0777``, ``ur''``, ``raise E, msg``, tuple
#: parameters) without errors. A query runs only when its prefilter matches the raw bytes (cheap, in C), so
#: Python 3 files pay a few regex scans, not a tree walk. (Python 2 long literals ``10L`` are not checked:
#: no literal-led regex finds them cheaply, and files that use them nearly always fail on print or except.)
_UR_PREFIXES = tuple(p + q for p in (b"ur", b"uR", b"Ur", b"UR") for q in (b"'", b'"'))

STRICT_PATTERNS: dict[str, list[tuple[tuple[bytes, ...], bytes, str]]] = {
    # (literal gates: the regex runs only if one occurs, prefilter regex, query); regexes start with a
    # literal so Python's re can skip ahead with a fast substring search
    "python": [
        ((), rb"print(?<!\wprint)\b[ \t]*[^\s(=.,:)\]}]", "(print_statement) @invalid"),
        ((), rb"exec(?<!\wexec)[ \t]+[^\s(=.,:)]", "(exec_statement) @invalid"),
        ((), rb"except[ \t]+[\w.]+[ \t]*,", '(except_clause "," @invalid)'),
        ((), rb"<>", '(comparison_operator "<>" @invalid)'),
        ((), rb"raise[ \t]+[\w.]+[ \t]*,", "(raise_statement (expression_list) @invalid)"),
        ((), rb"def\s+\w+\s*\(\s*\(", "(parameters (tuple_pattern) @invalid)"),
        ((), rb"lambda\s*\(", "(lambda_parameters (tuple_pattern) @invalid)"),
        ((), rb"`(?<![`:\w]`)[^`\n]*`(?!`)", '((string_start) @invalid (#eq? @invalid "`"))'),
        (_UR_PREFIXES, rb"[uU][rR]['\"]", '((string_start) @invalid (#match? @invalid "^[uU][rR]"))'),
        ((), rb"0(?<![\w.]0)[0-9]*[1-9][0-9]*\b", '((integer) @invalid (#match? @invalid "^0[0-9]*[1-9][0-9]*$"))'),
    ],
}


@cache
def _strict_rules(grammar: str) -> list[tuple[tuple[bytes, ...], re.Pattern, tree_sitter.Query]]:
    language = load_language(grammar) if grammar in STRICT_PATTERNS else None
    return [(gates, re.compile(pre), tree_sitter.Query(language, query))
            for gates, pre, query in STRICT_PATTERNS.get(grammar, ())]


def add_invalid_nodes(stats: ErrorStats, tree: tree_sitter.Tree, grammar: str, source: bytes) -> None:
    """Count the constructs of ``STRICT_PATTERNS[grammar]`` as errors (their bytes as error bytes).

    Each query runs only over the lines where its prefilter matched (a byte-range query visits the nodes on
    those lines, not the whole tree), or over the whole tree when there are many such lines.
    """
    found: dict[tuple[int, int], tree_sitter.Node] = {}
    for gates, prefilter, query in _strict_rules(grammar):
        if gates and not any(gate in source for gate in gates):
            continue
        hits = [m.start() for m in prefilter.finditer(source)]
        if not hits:
            continue
        cursor = tree_sitter.QueryCursor(query)
        ranges = [(0, len(source))] if len(hits) > _MAX_RANGED_HITS else [_line_range(source, h) for h in hits]
        for start, end in ranges:
            cursor.set_byte_range(start, end)
            for node in cursor.captures(tree.root_node).get("invalid", []):
                found[(node.start_byte, node.end_byte)] = node
    if found:
        stats.invalid_nodes += len(found)
        stats.error_bytes += _covered_bytes(found.values())


_MAX_RANGED_HITS = 256


def _line_range(source: bytes, pos: int) -> tuple[int, int]:
    end = source.find(b"\n", pos)
    return source.rfind(b"\n", 0, pos) + 1, len(source) if end < 0 else end


@dataclass
class Parsed:
    """One document parsed: the tree, the bytes it was parsed from and the grammar that was used."""

    tree: tree_sitter.Tree
    source: bytes
    grammar: str
    errors: ErrorStats
    replaced_chars: int = 0
    #: the grammar first tried, when an alternative one (cpp for a .h file) parsed better
    fallback_from: str | None = None


def parse_document(text: str | bytes, lang: str | None, path: str | None = None,
                   timeout_s: float | None = None,
                   try_alternatives: bool | Callable[[ErrorStats, int], bool] = True) -> Parsed | None:
    """Parse a document with the grammar of its language; ``None`` when the language has no grammar.

    For ``.h`` files both the C and the C++ grammar may be tried: C++ first when the text has C++-only syntax
    (``namespace x {``, ``template <``, ``std::``), the other one only when the first reports errors; the
    parse with fewer error bytes (then fewer error nodes) is kept. ``try_alternatives`` may be a predicate
    ``(errors, size) -> bool``: the other grammar is then tried only when it returns true (for instance, only
    when the first parse would be dropped), which saves the second parse of most macro-laden C headers.
    ``timeout_s`` bounds each parse (``ParseTimeout``).
    """
    grammar = grammar_for(lang, path)
    if grammar is None:
        return None
    source, replaced = encode_source(text)
    others = alternative_grammars(grammar, path) if try_alternatives else ()
    if others and _CPP_MARKERS.search(source):
        grammar, others = others[0], (grammar,) + others[1:]  # a C++ header named .h: try C++ first
    tree = parse_source(source, grammar, timeout_s)
    best = Parsed(tree, source, grammar, all_errors(tree, grammar, source), replaced)
    retry = try_alternatives if callable(try_alternatives) else (lambda errors, size: True)
    for other in others:
        if not best.errors.count or not retry(best.errors, len(source)):
            break
        tree = parse_source(source, other, timeout_s)
        candidate = Parsed(tree, source, other, all_errors(tree, other, source), replaced, fallback_from=grammar)
        if _fewer_errors(candidate.errors, best.errors):
            best = candidate
    return best


#: C++-only syntax at the start of a line or after a space; a `.h` file with any of it is parsed as C++ first
_CPP_MARKERS = re.compile(rb"(?m)^\s*(?:namespace\s+\w+\s*\{|template\s*<|class\s+\w+[^;\n]*\{|using\s+namespace\b)"
                          rb"|\bstd::|\b(?:public|private|protected):")


def all_errors(tree: tree_sitter.Tree, grammar: str, source: bytes) -> ErrorStats:
    """ERROR and MISSING nodes plus the constructs ``STRICT_PATTERNS`` rejects."""
    stats = error_stats(tree, source, grammar)
    add_invalid_nodes(stats, tree, grammar, source)
    return stats


def _fewer_errors(a: ErrorStats, b: ErrorStats) -> bool:
    return (a.error_bytes, a.count) < (b.error_bytes, b.count)


# ---------------------------------------------------------------------------------------- structure

#: structure queries per grammar: @function, @method, @class, @comment, @docstring captures.
_COMMENT_KINDS = ("comment", "line_comment", "block_comment", "doc_comment", "multiline_comment", "html_comment")
_FUNCTION_KINDS = ("function_definition", "function_declaration", "function_item", "generator_function_declaration",
                   "function")
_METHOD_KINDS = ("method_declaration", "method_definition", "method", "constructor_declaration",
                 "singleton_method", "compact_constructor_declaration")
_CLASS_KINDS = ("class_definition", "class_declaration", "class_specifier", "abstract_class_declaration",
                "interface_declaration", "trait_item", "trait_definition", "trait_declaration", "struct_item",
                "object_declaration", "object_definition", "protocol_declaration", "record_declaration",
                "struct_declaration", "enum_declaration", "enum_item", "class", "module")

#: containers that make the functions inside them methods without being classes themselves (Rust ``impl``)
_SCOPE_KINDS = ("impl_item",)

_EXTRA_PATTERNS: dict[str, str] = {
    "python": """
        (module . (string) @docstring)
        (function_definition body: (block . (string) @docstring))
        (class_definition body: (block . (string) @docstring))
    """,
    "javascript": "(variable_declarator value: [(arrow_function) (function_expression)] @function)",
    "typescript": "(variable_declarator value: [(arrow_function) (function_expression)] @function)",
    "tsx": "(variable_declarator value: [(arrow_function) (function_expression)] @function)",
    "c": "(struct_specifier body: (field_declaration_list)) @class",
    "cpp": "(struct_specifier body: (field_declaration_list)) @class",
    "go": "(type_spec type: [(struct_type) (interface_type)]) @class",
}
#: kinds that exist in a grammar but do not mean what their name suggests there
_SKIP_KINDS: dict[str, set[str]] = {"python": {"module"}, "typescript": {"module"}, "tsx": {"module"},
                                    "haskell": {"module"}, "c": {"struct_specifier"}, "cpp": {"struct_specifier"}}


@cache
def structure_query(grammar: str) -> tree_sitter.Query | None:
    """A query capturing the structural nodes of ``grammar``, built from the node kinds it defines."""
    language = load_language(grammar)
    kinds = {language.node_kind_for_id(i) for i in range(language.node_kind_count)
             if language.node_kind_is_named(i) and language.node_kind_is_visible(i)}
    kinds -= _SKIP_KINDS.get(grammar, set())
    patterns = [_EXTRA_PATTERNS.get(grammar, "")]
    for capture, candidates in (("comment", _COMMENT_KINDS), ("function", _FUNCTION_KINDS),
                                ("method", _METHOD_KINDS), ("class", _CLASS_KINDS), ("scope", _SCOPE_KINDS)):
        present = [k for k in candidates if k in kinds]
        if present:
            patterns.append("[" + " ".join(f"({k})" for k in present) + f"] @{capture}")
    source = "\n".join(p for p in patterns if p.strip())
    return tree_sitter.Query(language, source) if source else None


def structure_stats(tree: tree_sitter.Tree, grammar: str, source_size: int) -> dict[str, int | float]:
    """Functions, methods, classes, comment and docstring byte ratios and the longest function in lines.

    One query over the tree, run in C; Python only sees the captured nodes. A function directly inside a
    class (no function in between) counts as a method.
    """
    root = tree.root_node
    stats: dict[str, int | float] = {"node_count": root.descendant_count, "functions": 0, "methods": 0,
                                     "classes": 0, "comment_ratio": 0.0, "docstring_ratio": 0.0,
                                     "longest_function_lines": 0}
    query = structure_query(grammar)
    if query is None:
        return stats
    captures = tree_sitter.QueryCursor(query).captures(root)
    classes = _unique(captures.get("class", []))
    functions = _unique(captures.get("function", []) + captures.get("method", []))
    explicit_methods = {n.id for n in captures.get("method", [])}
    methods = _methods(functions, classes + captures.get("scope", []), explicit_methods)
    stats["classes"] = len(classes)
    stats["methods"] = len(methods)
    stats["functions"] = len(functions) - len(methods)
    stats["longest_function_lines"] = max((n.end_point[0] - n.start_point[0] + 1 for n in functions), default=0)
    size = max(source_size, 1)
    stats["comment_ratio"] = round(_covered_bytes(captures.get("comment", [])) / size, 4)
    stats["docstring_ratio"] = round(_covered_bytes(captures.get("docstring", [])) / size, 4)
    return stats


def _unique(nodes) -> list[tree_sitter.Node]:
    seen, out = set(), []
    for node in nodes:
        if node.id not in seen:
            seen.add(node.id)
            out.append(node)
    return out


def _methods(functions, classes, explicit: set[int]) -> list[tree_sitter.Node]:
    """Functions whose innermost enclosing function-or-class is a class, plus explicit method kinds."""
    events = sorted([(n.start_byte, -n.end_byte, "f", n) for n in functions] +
                    [(n.start_byte, -n.end_byte, "c", n) for n in classes], key=lambda e: (e[0], e[1]))
    stack: list[tuple[int, str]] = []  # (end byte, kind) of open scopes
    methods = []
    for start, neg_end, kind, node in events:
        while stack and stack[-1][0] <= start:
            stack.pop()
        if kind == "f" and (node.id in explicit or (stack and stack[-1][1] == "c")):
            methods.append(node)
        stack.append((-neg_end, kind))
    return methods


def _covered_bytes(nodes) -> int:
    """Bytes covered by the union of the nodes' ranges."""
    total, reach = 0, 0
    for start, end in sorted((n.start_byte, n.end_byte) for n in nodes):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


def max_depth(tree: tree_sitter.Tree) -> int:
    """Depth of the deepest node (the root is depth 0), by an iterative cursor walk over every node."""
    cursor = tree.walk()
    depth = best = 0
    while True:
        if cursor.goto_first_child():
            depth += 1
            best = max(best, depth)
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return best
            depth -= 1
