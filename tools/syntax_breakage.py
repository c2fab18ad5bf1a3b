"""Deterministic breakages cut into real source files, to measure that a syntax check catches them.

Used by the tests of ``treesitter_syntax`` and by ``tools/syntax_error_rates.py --inject``. Each function
returns the broken text, or ``None`` when the file offers no place for that breakage.

Brackets are located as real tokens of the intact file's parse tree, so a cut never lands in a comment, a
string, or a ``#define`` body or macro token tree (where no parser can see it without expanding macros:
such a "breakage" would leave a file every compiler front end accepts too).
"""

from __future__ import annotations

from curate_plugins.lib.treesitter import encode_source, grammar_for, parse_document

OPENERS = frozenset({"(", "[", "{"})
#: node kinds whose brackets are not checked as code (macro bodies and arguments)
OPAQUE = frozenset({"preproc_def", "preproc_function_def", "macro_definition", "token_tree", "ERROR"})


def bracket_tokens(text: str, lang: str, path: str | None = None, kinds=OPENERS) -> list[int]:
    """Byte offsets of the bracket tokens of ``kinds`` in the intact file, outside opaque constructs."""
    parsed = parse_document(text, lang, path, try_alternatives=True)
    if parsed is None:
        return []
    offsets, stack = [], [parsed.tree.root_node]
    while stack:
        node = stack.pop()
        if node.type in OPAQUE:
            continue
        if not node.child_count and not node.is_named and node.type in kinds and not node.is_missing:
            offsets.append(node.start_byte)
        stack.extend(node.children)
    return sorted(offsets)


def truncate(text: str, lang: str, path: str | None = None) -> str | None:
    """Cut the file just after the last opening bracket before its middle (an unclosed construct)."""
    data = encode_source(text)[0]
    offsets = [o for o in bracket_tokens(text, lang, path) if o < len(data) // 2]
    if not offsets:
        return None
    return data[: offsets[-1] + 1].decode()


def drop_closing_brace(text: str, lang: str, path: str | None = None) -> str | None:
    """Delete the closing ``}`` nearest the middle of the file (``)`` for brace-less Python)."""
    closer = ")" if grammar_for(lang, path) == "python" else "}"
    data = encode_source(text)[0]
    offsets = bracket_tokens(text, lang, path, kinds={closer})
    if not offsets:
        return None
    middle = len(data) // 2
    pos = min(offsets, key=lambda o: (abs(o - middle), o))
    return (data[:pos] + data[pos + 1:]).decode()


def python2_print(text: str, lang: str = "python", path: str | None = None) -> str:
    """Append a Python 2 print statement at module level."""
    return text.rstrip("\n") + '\nprint "done"\n'


def breakages_for(lang: str) -> dict[str, object]:
    """Name -> function(text, lang, path) for the breakages that apply to a language."""
    if lang == "python":
        return {"truncated": truncate, "unbalanced_paren": drop_closing_brace, "python2_print": python2_print}
    return {"truncated": truncate, "unbalanced_brace": drop_closing_brace}
