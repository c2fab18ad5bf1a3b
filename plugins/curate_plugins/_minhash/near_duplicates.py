"""Realistic near-duplicate edits of source files, for the quality test and the benchmark.

Each edit is what happens when code is copied between repositories: identifiers renamed, comments rewritten,
functions reordered, whitespace and line endings changed, a licence header added. All are deterministic
given the ``random.Random`` passed in.
"""

from __future__ import annotations

import random
import re
from collections import Counter

IDENTIFIER = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]{3,}\b")
COMMENT_LINE = re.compile(r"^(\s*)(#|//|\*|/\*)(.*)$")
KEYWORDS = {
    "self", "this", "return", "import", "from", "class", "def", "function", "const", "static", "public",
    "private", "void", "while", "for", "else", "elif", "switch", "case", "break", "continue", "struct",
    "include", "define", "typedef", "unsigned", "signed", "char", "double", "float", "null", "None", "True",
    "False", "true", "false", "new", "delete", "try", "catch", "except", "finally", "throw", "raise", "yield",
    "async", "await", "lambda", "package", "interface", "extends", "implements", "final", "abstract", "sizeof",
    "extern", "inline", "module", "exports", "require"
}
WORDS = [
    "value", "item", "entry", "buffer", "result", "helper", "index", "count", "total", "parse", "check",
    "handle", "build", "update", "node", "state", "config", "option", "error", "target", "source", "output",
    "input", "record", "field", "token", "cache"
]
LICENCE_HEADER = ["Copyright (c) {year} {owner}", "", "Permission is hereby granted, free of charge, to any person "
                  "obtaining a copy", "of this software and associated documentation files (the \"Software\"), to "
                  "deal", "in the Software without restriction, including without limitation the rights",
                  "to use, copy, modify, merge, publish, distribute, sublicense, and/or sell",
                  "copies of the Software, subject to the following conditions."]


def rename_identifiers(text: str, rng: random.Random, count: int | None = None) -> str:
    count = rng.randint(1, 3) if count is None else count
    frequent = [w for w, _ in Counter(IDENTIFIER.findall(text)).most_common(60) if w not in KEYWORDS][5:]
    for old in rng.sample(frequent, min(count, len(frequent))):
        new = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}{rng.randint(1, 99)}"
        text = re.sub(rf"\b{re.escape(old)}\b", new, text)
    return text


def change_comments(text: str, rng: random.Random, fraction: float | None = None) -> str:
    fraction = rng.uniform(0.1, 0.5) if fraction is None else fraction
    lines = text.split("\n")
    for i, line in enumerate(lines):
        match = COMMENT_LINE.match(line)
        if match and rng.random() < fraction:
            lines[i] = f"{match.group(1)}{match.group(2)} {' '.join(rng.choices(WORDS, k=rng.randint(3, 8)))}"
    return "\n".join(lines)


def reorder_blocks(text: str, rng: random.Random, swaps: int = 2) -> str:
    """Swap a few pairs of adjacent blank-line-separated blocks (functions, classes, paragraphs)."""
    blocks = text.split("\n\n")
    for _ in range(swaps):
        if len(blocks) > 2:
            i = rng.randrange(1, len(blocks) - 1)
            blocks[i], blocks[i + 1] = blocks[i + 1], blocks[i]
    return "\n\n".join(blocks)


def change_whitespace(text: str, rng: random.Random) -> str:
    text = text.replace("    ", "\t") if rng.random() < 0.5 else text.replace("\t", "    ")
    lines = [line + " " * rng.randint(0, 2) for line in text.split("\n")]
    return ("\r\n" if rng.random() < 0.5 else "\n").join(lines)


def add_licence_header(text: str, rng: random.Random, prefix: str = "# ") -> str:
    header = [h.format(year=rng.randint(2010, 2025), owner=f"{rng.choice(WORDS).title()} Inc.")
              for h in LICENCE_HEADER]
    return "\n".join(prefix + h for h in header) + "\n\n" + text


EDITS = {"rename": rename_identifiers, "comments": change_comments, "reorder": reorder_blocks,
         "whitespace": change_whitespace, "licence": add_licence_header}


def near_duplicate(text: str, rng: random.Random, edits: list[str] | None = None) -> tuple[str, list[str]]:
    """Apply ``edits`` (default: one to four chosen at random) and return the new text and the edits made."""
    chosen = edits or rng.sample(sorted(EDITS), rng.randint(1, 3))
    for name in chosen:
        text = EDITS[name](text, rng)
    return text, chosen
