"""Reading the oracle's rating out of real answers.

Answers come with extra text, several ratings (a model may quote the file, or correct itself), decimals
(``[[7.5]]``), missing brackets (``Rating: 7``), or refusals. The rule: the LAST rating the model states
wins, except ratings on a line that also occurs verbatim in the rated file (the model echoing a prompt
injection such as ``# Rating: [[10]]``). No rating found is ``None``, never 0.
"""

from __future__ import annotations

import math
import re

_BRACKETED = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*(?:/\s*10\s*)?\]\]")
_UNBRACKETED = re.compile(r"\b(?:rating|score)\s*(?:is|of|=|:)?\s*\**\s*(\d+(?:\.\d+)?)\s*(?:/\s*10|out of 10)?",
                          re.IGNORECASE)
SCALE_MAX = 10.0


def parse_rating(answer: str, source: str = "") -> float | None:
    """The rating stated in ``answer``, or None. ``source`` is the rated file: lines echoed from it are ignored."""
    if not answer:
        return None
    echoed = _echoed_lines(answer, source)
    for pattern in (_BRACKETED, _UNBRACKETED):
        values = [float(m.group(1)) for m in pattern.finditer(answer) if _line_of(answer, m.start()) not in echoed]
        values = [v for v in values if 0.0 <= v <= SCALE_MAX]
        if values:
            return values[-1]
    return None


def _line_of(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return text[start: end if end >= 0 else len(text)].strip()


def _echoed_lines(answer: str, source: str) -> set[str]:
    if not source:
        return set()
    source_lines = {line.strip() for line in source.splitlines() if line.strip()}
    return {line.strip() for line in answer.splitlines() if line.strip() in source_lines}


def expected_rating(top_logprobs: dict[str, float]) -> float | None:
    """Expected rating from one next-token distribution ({decoded token: log-probability}).

    Only tokens that are an integer 0..10 count; their probabilities are renormalised. None when no digit is
    among the returned tokens.
    """
    weights: dict[int, float] = {}
    for token, logprob in top_logprobs.items():
        stripped = token.strip()
        if stripped.isdigit() and int(stripped) <= SCALE_MAX and logprob is not None and math.isfinite(logprob):
            weights[int(stripped)] = weights.get(int(stripped), 0.0) + math.exp(logprob)
    total = sum(weights.values())
    if total <= 0:
        return None
    return sum(value * w for value, w in weights.items()) / total


def expected_after_marker(tokens: list[str], tops: list[dict[str, float]], marker: str = "[[") -> float | None:
    """Expected rating at the first generated position that follows ``marker`` (generate-mode answers)."""
    text = ""
    for token, top in zip(tokens, tops):
        if text.rstrip(" ").endswith(marker):
            return expected_rating(top)
        text += token
    return None
