"""The keep order: which member of a near-duplicate cluster survives.

Every item gets a sort key; lower sorts first and wins. Ties always fall back to input order (shard, then
position), so the result never depends on the number of workers.
"""

from __future__ import annotations

import math
import sys

PERMISSIVE = {"MIT", "Apache-2.0", "BSD-3-Clause", "BSD-2-Clause", "ISC", "Unlicense", "Zlib", "0BSD", "CC0-1.0"}


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def licence_rank(value) -> int:
    """0: every licence named is permissive; 1: some other licence; 2: unknown or missing."""
    if not value:
        return 2
    names = {part.strip("() ") for part in str(value).replace(" AND ", " OR ").split(" OR ")}
    return 0 if names and names <= PERMISSIVE else 1


def _descending(value: float | None) -> list:
    """Sorts higher values first and missing ones last, with finite numbers only: a key travels as JSON, where
    an infinity becomes null and no longer compares with numbers."""
    if value is None:
        return [2, 0.0]
    if math.isinf(value):
        return [0, -sys.float_info.max] if value > 0 else [1, 0.0]
    return [0, -value]


def keep_key(metadata: dict, doc_id: str, rule: str, key: str) -> list:
    """The sort key of one document under ``rule`` (``bigcode``, ``first`` or ``metadata``)."""
    if rule == "first":
        return []
    if rule == "metadata":
        return _descending(_number(metadata.get(key)))
    return [*_descending(_number(metadata.get("stars"))), licence_rank(metadata.get("license")),
            str(metadata.get("path") or doc_id)]


def combine(keys: list[list]) -> list:
    """The key of a repository: the best (smallest) key of its files."""
    return min(keys) if keys else []
