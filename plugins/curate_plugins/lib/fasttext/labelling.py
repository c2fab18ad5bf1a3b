"""Labellers confirm candidate documents in Seed-Coder's iterative classifier rounds.

A labeller is any object with ``confirm(docs) -> list[bool]`` (one verdict per document). ``rules`` is built
in; an LLM scorer plugs in later as ``--labeller package.module:ClassName`` (constructed without arguments).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from typing import Protocol

_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import |#include|function\b|return\b|public |private |static |const |"
    r"let |var |fn |func |package |SELECT |CREATE |INSERT |\$ |>>> |if\s*\(|for\s*\(|while\s*\(|\}|\{|"
    r"[\w.\[\]]+\s*=\s*\S)|[;{]\s*$|\)\s*:\s*$", re.IGNORECASE)


class Labeller(Protocol):
    def confirm(self, docs: Sequence) -> list[bool]: ...


class RuleLabeller:
    """Confirms a page as code-related when it has explicit code markup (``web.code_blocks`` >= 1, set by
    ``html_extract``) or when at least ``min_code_lines`` of its lines look like code (keywords, assignments,
    braces, trailing ``;``/``:``, shell and REPL prompts)."""

    def __init__(self, min_code_lines: int = 5):
        self.min_code_lines = min_code_lines

    def confirm(self, docs: Sequence) -> list[bool]:
        return [self._is_code(d) for d in docs]

    def _is_code(self, doc) -> bool:
        if int(doc.metadata.get("web.code_blocks") or 0) >= 1:
            return True
        return sum(1 for line in doc.text.splitlines() if _CODE_LINE.search(line)) >= self.min_code_lines


BUILTIN = {"rules": RuleLabeller}


def load_labeller(spec: str) -> Labeller:
    """``rules`` or ``module.path:ClassName``."""
    if spec in BUILTIN:
        return BUILTIN[spec]()
    module, sep, name = spec.partition(":")
    if not sep:
        raise ValueError(f"unknown labeller {spec!r}: use one of {sorted(BUILTIN)} or 'module.path:ClassName'")
    return getattr(importlib.import_module(module), name)()
