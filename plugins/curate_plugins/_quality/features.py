"""Cheap per-file features for the distilled scorer: line statistics, comment ratio, character classes,
indentation, definitions, the language, and any numeric ``syntax.*`` statistics the syntax plugin wrote."""

from __future__ import annotations

import math
import re

import numpy as np

_COMMENT_PREFIXES = ("#", "//", "/*", "*", "--", ";", "<!--", "%", '"""', "'''", "'")
_NOT_COMMENT = ("#include", "#define", "#if", "#endif", "#else", "#pragma", "#import", "#!", "#[", "#undef", "#elif")
_DEFINITION = re.compile(r"^\s*(?:export\s+|pub\s+|public\s+|private\s+|static\s+|async\s+)*"
                         r"(?:def|class|func|fn|function|struct|enum|interface|impl|trait|module|sub)\b")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

TEXT_FEATURES = ["log_bytes", "log_lines", "mean_line", "log_max_line", "blank_ratio", "comment_ratio",
                 "alnum_ratio", "digit_ratio", "space_ratio", "quote_ratio", "punct_ratio", "mean_indent",
                 "log_max_indent", "definition_ratio", "trailing_comma_ratio", "assignment_ratio",
                 "unique_line_ratio", "long_line_ratio", "mean_identifier", "todo_count"]


def text_features(text: str) -> list[float]:
    lines = text.split("\n")
    n = max(len(lines), 1)
    size = max(len(text), 1)
    stripped = [line.strip() for line in lines]
    nonblank = [s for s in stripped if s]
    m = max(len(nonblank), 1)
    comments = sum(1 for s in nonblank if s.startswith(_COMMENT_PREFIXES) and not s.startswith(_NOT_COMMENT))
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    lengths = [len(line) for line in lines]
    identifiers = _IDENTIFIER.findall(text[:20000])
    alnum = sum(ch.isalnum() for ch in text[:50000]) / min(size, 50000)
    digits = sum(ch.isdigit() for ch in text[:50000]) / min(size, 50000)
    return [
        math.log1p(len(text)), math.log1p(n), sum(lengths) / n, math.log1p(max(lengths)),
        1 - len(nonblank) / n, comments / m, alnum, digits, text.count(" ") / size,
        (text.count('"') + text.count("'")) / size, sum(text.count(c) for c in "{}()[];,.") / size,
        sum(indents) / max(len(indents), 1), math.log1p(max(indents, default=0)),
        sum(1 for line in lines if _DEFINITION.match(line)) / m, sum(1 for s in nonblank if s.endswith(",")) / m,
        sum(1 for s in nonblank if "=" in s and "==" not in s) / m, len(set(nonblank)) / m,
        sum(1 for x in lengths if x > 120) / n, sum(map(len, identifiers)) / max(len(identifiers), 1),
        math.log1p(len(re.findall(r"\b(?:TODO|FIXME|XXX|HACK)\b", text))),
    ]


class FeatureSpace:
    """Maps a document to a fixed feature vector: text features, one-hot language, syntax statistics."""

    def __init__(self, langs: list[str], syntax_keys: list[str]):
        self.langs, self.syntax_keys = langs, syntax_keys

    @classmethod
    def fit(cls, files, max_langs: int = 30) -> FeatureSpace:
        counts: dict[str, int] = {}
        syntax: set[str] = set()
        for f in files:
            counts[f.lang] = counts.get(f.lang, 0) + 1
            syntax.update(k for k, v in f.metadata.items()
                          if k.startswith("syntax.") and isinstance(v, (int, float)) and not isinstance(v, bool))
        langs = sorted(sorted(counts, key=lambda k: -counts[k])[:max_langs])
        return cls(langs, sorted(syntax))

    @property
    def names(self) -> list[str]:
        return TEXT_FEATURES + [f"lang={x}" for x in self.langs] + self.syntax_keys + \
            [f"has:{k}" for k in self.syntax_keys]

    def vector(self, text: str, metadata: dict) -> list[float]:
        lang = str(metadata.get("lang", ""))
        syntax = [metadata.get(k) for k in self.syntax_keys]
        present = [float(isinstance(v, (int, float)) and not isinstance(v, bool)) for v in syntax]
        values = [float(v) if p else 0.0 for v, p in zip(syntax, present)]
        return text_features(text) + [float(lang == x) for x in self.langs] + values + present

    def matrix(self, files) -> np.ndarray:
        return np.asarray([self.vector(f.text, {**f.metadata, "lang": f.lang}) for f in files], dtype=np.float64)

    def to_json(self) -> dict:
        return {"langs": self.langs, "syntax_keys": self.syntax_keys, "names": self.names}
