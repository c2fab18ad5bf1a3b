"""Templates and byte budgets of a code-change-prediction sample."""

from __future__ import annotations

import string

DEFAULT_INPUT_TEMPLATE = (
    "<commit_message>\n{message}\n</commit_message>\n"
    "<readme path=\"{readme_path}\">\n{readme}\n</readme>\n"
    "<directory_tree>\n{tree}\n</directory_tree>\n"
    "<relevant_files>\n{files}</relevant_files>\n")
DEFAULT_FILE_TEMPLATE = "<file path=\"{path}\">\n{content}\n</file>\n"
DEFAULT_TARGET_TEMPLATE = "<changed_paths>\n{paths}\n</changed_paths>\n<changes>\n{diffs}</changes>\n"
DEFAULT_DIFF_TEMPLATE = "--- {old_name}\n+++ {new_name}\n{hunks}"
DEFAULT_MARKER = "\n[... truncated {omitted} bytes ...]"

FIELDS = {
    "input_template": {"message", "readme", "readme_path", "tree", "files"},
    "file_template": {"path", "content", "rank", "score"},
    "target_template": {"paths", "diffs"},
    "diff_template": {"old_name", "new_name", "path", "old_path", "status", "hunks"},
    "truncation_marker": {"omitted"},
}


def template_problems(name: str, template: str) -> list[str]:
    """Unknown placeholders or bad syntax in a template, as messages for ``curate validate``."""
    try:
        used = {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
    except ValueError as exc:
        return [f"{name}: {exc}"]
    unknown = used - FIELDS[name]
    return [f"{name}: unknown placeholder(s) {sorted(unknown)}; known: {sorted(FIELDS[name])}"] if unknown else []


def nbytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def truncate(text: str, budget: int, marker: str, size: int | None = None) -> tuple[str, int]:
    """Cut ``text`` to at most ``budget`` UTF-8 bytes (marker included), at a line end when one is near.

    ``size`` is the full text's UTF-8 size when ``text`` is only its head (or already known); the marker
    then counts the bytes cut from the full text. Returns the text and the number of bytes cut."""
    size = nbytes(text) if size is None else size
    if size <= budget and (text.isascii() or nbytes(text) <= budget):
        return text, 0
    mark = marker.format(omitted=size)  # the real count is filled in below; this sizes the marker
    keep = budget - nbytes(mark) - 8
    if keep <= 0:
        return "", size
    head = text[:keep] if size == len(text) else text.encode("utf-8")[:keep].decode("utf-8", "ignore")
    cut = head.rfind("\n")
    if cut >= keep // 2:
        head = head[:cut]
    omitted = size - nbytes(head)
    return head + marker.format(omitted=omitted), omitted
