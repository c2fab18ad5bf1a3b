"""Tree-sitter queries that find a file's imports, includes and module declarations, shared by the syntax
check (which records them from its own parse) and the repository packer (which resolves them to files).

Each supported language has one query; ``refs_from_tree(lang, tree, grammar)`` runs it on a parse and returns
the raw references (`Ref`) the packer's resolver maps to files of the repository. Nothing here uses regular
expressions on the source text: every reference is a node of the syntax tree.

``to_record`` / ``from_record`` turn the references into metadata (``syntax.dependencies``) and back, with a
hash of the text they came from, so that a later step can trust them only for the same text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import xxhash

from curate_plugins.lib.treesitter import load_language

#: curate language name -> (tree-sitter-language-pack grammar, dependency family)
GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("python", "python"),
    "java": ("java", "java"),
    "javascript": ("javascript", "js"),
    "typescript": ("typescript", "js"),
    "tsx": ("tsx", "js"),
    "go": ("go", "go"),
    "rust": ("rust", "rust"),
    "c": ("c", "c"),
    "cpp": ("cpp", "c"),
    "cuda": ("cuda", "c"),
}

_JS = """
(import_statement source: (string) @source)
(export_statement source: (string) @source)
(call_expression function: (identifier) @_req arguments: (arguments . (string) @source) (#eq? @_req "require"))
(call_expression function: (import) arguments: (arguments . (string) @source))
"""

QUERIES: dict[str, str] = {
    "python": """
(import_statement) @import
(import_from_statement) @from
""",
    "java": """
(package_declaration (_) @package)
(import_declaration) @import
(program [(class_declaration name: (identifier) @define) (interface_declaration name: (identifier) @define)
          (enum_declaration name: (identifier) @define) (record_declaration name: (identifier) @define)
          (annotation_type_declaration name: (identifier) @define)])
(type_identifier) @use
(method_invocation object: (identifier) @use)
(field_access object: (identifier) @use)
""",
    "javascript": _JS,
    "typescript": _JS + "(import_require_clause source: (string) @source)\n",
    "tsx": _JS + "(import_require_clause source: (string) @source)\n",
    "go": """
(package_clause (package_identifier) @package)
(import_spec path: (_) @import)
(source_file (function_declaration name: (identifier) @define))
(source_file (type_declaration (type_spec name: (type_identifier) @define)))
(source_file (type_declaration (type_alias name: (type_identifier) @define)))
(source_file (var_declaration (var_spec name: (identifier) @define)))
(source_file (const_declaration (const_spec name: (identifier) @define)))
(identifier) @use
(type_identifier) @use
""",
    "rust": """
(mod_item name: (identifier) @mod !body)
(use_declaration argument: (_) @use)
((scoped_identifier) @path (#match? @path "^(crate|super|self)::"))
((scoped_type_identifier) @path (#match? @path "^(crate|super|self)::"))
""",
    "c": """
(preproc_include path: (string_literal) @local)
(preproc_include path: (system_lib_string) @system)
""",
}
QUERIES["cpp"] = QUERIES["cuda"] = QUERIES["c"]


@dataclass
class Ref:
    """One reference found in a file. ``kind`` depends on the language (see ``extract``)."""

    kind: str
    spec: str
    level: int = 0
    names: list[str] = field(default_factory=list)


@dataclass
class FileRefs:
    refs: list[Ref] = field(default_factory=list)
    package: str = ""
    defines: set[str] = field(default_factory=set)
    uses: set[str] = field(default_factory=set)
    has_error: bool = False


def _text(node) -> str:
    return node.text.decode("utf-8", "replace")


def _unquote(node) -> str:
    return _text(node).strip().strip("\"'`<>")


def extract(lang: str, captures: dict[str, list], has_error: bool = False) -> FileRefs:
    """Turn the query captures of one file into `FileRefs`."""
    out = FileRefs(has_error=has_error)
    handler = _HANDLERS[GRAMMARS[lang][1]]
    handler(captures, out)
    return out


def _python(c: dict, out: FileRefs) -> None:
    for node in c.get("import", []):
        for name in node.children_by_field_name("name"):
            target = name.child_by_field_name("name") if name.type == "aliased_import" else name
            out.refs.append(Ref("import", _text(target)))
    for node in c.get("from", []):
        module = node.child_by_field_name("module_name")
        if module is None:
            continue
        spec, level = _text(module), 0
        if module.type == "relative_import":
            level = len(spec) - len(spec.lstrip("."))
            spec = spec[level:]
        names = []
        for name in node.children_by_field_name("name"):
            target = name.child_by_field_name("name") if name.type == "aliased_import" else name
            names.append(_text(target))
        out.refs.append(Ref("from", spec, level, names))


def _java(c: dict, out: FileRefs) -> None:
    if c.get("package"):
        out.package = _text(c["package"][0])
    for node in c.get("import", []):
        is_static = any(child.type == "static" for child in node.children)
        wildcard = any(child.type == "asterisk" for child in node.children)
        name = next((ch for ch in node.named_children if ch.type in ("scoped_identifier", "identifier")), None)
        if name is not None:
            kind = ("static_" if is_static else "") + ("wildcard" if wildcard else "import")
            out.refs.append(Ref(kind, _text(name)))
    out.defines.update(_text(n) for n in c.get("define", []))
    out.uses.update(_text(n) for n in c.get("use", []))


def _js(c: dict, out: FileRefs) -> None:
    seen = set()
    for node in c.get("source", []):
        spec = _unquote(node)
        if spec and spec not in seen:
            seen.add(spec)
            out.refs.append(Ref("import", spec))


def _go(c: dict, out: FileRefs) -> None:
    if c.get("package"):
        out.package = _text(c["package"][0])
    out.refs.extend(Ref("import", _unquote(n)) for n in c.get("import", []))
    out.defines.update(_text(n) for n in c.get("define", []))
    out.uses.update(_text(n) for n in c.get("use", []))


def _rust(c: dict, out: FileRefs) -> None:
    out.refs.extend(Ref("mod", _text(n)) for n in c.get("mod", []))
    for node in c.get("use", []):
        out.refs.extend(Ref("use", "::".join(path)) for path in _use_paths(node))
    for node in c.get("path", []):
        parent = node.parent
        if parent is not None and parent.type in ("scoped_identifier", "scoped_type_identifier", "use_declaration",
                                                  "scoped_use_list", "use_as_clause", "use_list"):
            continue  # counted with its outermost path / use declaration
        out.refs.append(Ref("path", _text(node).replace(" ", "")))


def _use_paths(node, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Flatten a Rust use tree (`a::{b, c::D as E, self}`) into paths of segments."""
    kind = node.type
    if kind == "use_as_clause":
        return _use_paths(node.child_by_field_name("path"), prefix)
    if kind == "scoped_use_list":
        path = node.child_by_field_name("path")
        base = prefix + (tuple(_text(path).replace(" ", "").split("::")) if path is not None else ())
        return _use_paths(node.child_by_field_name("list"), base)
    if kind == "use_list":
        return [p for child in node.named_children for p in _use_paths(child, prefix)]
    if kind == "use_wildcard":
        inner = node.named_children[0] if node.named_children else None
        return [prefix + tuple(_text(inner).replace(" ", "").split("::"))] if inner is not None else [prefix]
    if kind == "self":
        return [prefix]
    return [prefix + tuple(_text(node).replace(" ", "").split("::"))]


def _c(c: dict, out: FileRefs) -> None:
    out.refs.extend(Ref("local", _unquote(n)) for n in c.get("local", []))
    out.refs.extend(Ref("system", _unquote(n)) for n in c.get("system", []))


_HANDLERS = {"python": _python, "java": _java, "js": _js, "go": _go, "rust": _rust, "c": _c}


# ---------------------------------------------------------------------------------------------- running

@cache
def _cursor(lang: str, grammar: str):
    """The compiled dependency query of ``lang`` for trees of ``grammar`` (cached per process)."""
    from tree_sitter import Query, QueryCursor

    return QueryCursor(Query(load_language(grammar), QUERIES[lang]))


def refs_from_tree(lang: str, tree, grammar: str | None = None) -> FileRefs:
    """The references of one parsed file (``grammar``: the one that parsed it; default: the language's)."""
    cursor = _cursor(lang, grammar or GRAMMARS[lang][0])
    return extract(lang, cursor.captures(tree.root_node), tree.root_node.has_error)


def compatible_grammar(lang: str, grammar: str) -> bool:
    """Whether the dependency query of ``lang`` runs on trees of ``grammar`` (its own, or C for C++ headers)."""
    if lang not in GRAMMARS:
        return False
    own = GRAMMARS[lang][0]
    return grammar == own or (GRAMMARS[lang][1] == "c" and grammar in ("c", "cpp", "cuda"))


# ---------------------------------------------------------------------------------------------- metadata

def text_hash(text: str) -> str:
    """The hash that ties recorded references to the exact text they were found in."""
    return xxhash.xxh3_64_hexdigest(text.encode("utf-8", "surrogatepass"))


def to_record(refs: FileRefs, text: str) -> dict:
    """A JSON/Arrow-friendly record of ``refs`` (sorted name sets, so equal files give equal records)."""
    return {"hash": text_hash(text), "has_error": refs.has_error, "package": refs.package,
            "refs": [{"kind": r.kind, "spec": r.spec, "level": r.level, "names": list(r.names)} for r in refs.refs],
            "defines": sorted(refs.defines), "uses": sorted(refs.uses)}


def from_record(record, text: str) -> FileRefs | None:
    """The references recorded for ``text``, or None when the record is missing, malformed or for other text."""
    if not isinstance(record, dict) or record.get("hash") != text_hash(text):
        return None
    try:
        return FileRefs(refs=[Ref(r["kind"], r["spec"], int(r.get("level") or 0), list(r.get("names") or ()))
                              for r in record["refs"]],
                        package=record.get("package") or "", defines=set(record.get("defines") or ()),
                        uses=set(record.get("uses") or ()), has_error=bool(record.get("has_error")))
    except (KeyError, TypeError, ValueError):
        return None
