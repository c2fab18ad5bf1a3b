"""Output records of the synthetic-data plugins, and reading sandbox results per test.

Every output is a document: its ``text`` is everything a model would be trained on (so ``ngram_decontaminate``
and any other text step see all of it), its metadata the structured fields under the plugin's namespace:
SFT records (``<ns>.record = "sft"``: question, solution, tests, difficulty, verification log) and preference
pairs (``<ns>.record = "pair"``: prompt, chosen, rejected, in the names TRL's ``DPOTrainer`` reads).
``trl_export`` writes them out in TRL's layouts.
"""

from __future__ import annotations

from pydantic import Field

from curate import Document, PluginMetadata
from curate_plugins._synth.extract import render_code
from curate_plugins.lib.sandbox import ExecResult

NAMESPACES = ("kodcode", "codedpo", "acecoder")


class RecordMetadata(PluginMetadata):
    """The keys every synthetic record has; pair records add TRL's three fields, SFT records the triplet."""

    record: str = Field(description="`pair`: a preference pair; `sft`: a verified question, solution and tests.")
    prompt: str = Field(description="Pair: the question (TRL `prompt`).")
    chosen: str = Field(description="Pair: the preferred program, fenced (TRL `chosen`).")
    rejected: str = Field(description="Pair: the other program, fenced (TRL `rejected`).")
    question: str = Field(description="The question.")
    solution: str = Field(description="SFT: the solution.")
    tests: list[str] = Field(description="SFT: its tests, one item per test function or assert statement.")
    model: str = Field(description="The LLM (backend:model).")


def child(parent: Document, suffix: str, text: str, meta: dict) -> Document:
    """A new document derived from ``parent``: its id extended, its provenance metadata kept."""
    base = {k: v for k, v in parent.metadata.items() if k.split(".", 1)[0] not in NAMESPACES and k != "drop"}
    return Document(text=text, id=f"{parent.id}{suffix}", metadata={**base, **meta})


def sft_text(question: str, solution: str, tests: list[str]) -> str:
    parts = [question.strip(), render_code(solution)]
    if tests:
        parts.append(render_code("\n\n".join(tests)))
    return "\n\n".join(parts) + "\n"


def pair_text(prompt: str, chosen: str, rejected: str) -> str:
    return f"{prompt.strip()}\n\n{chosen.strip()}\n\n{rejected.strip()}\n"


def verdicts(result: ExecResult, n_tests: int) -> list[bool]:
    """Per test item (position in ``ExecJob.tests``): did it pass? An item with several pytest functions passes
    when all of them do; an item the run never reported (code failed to load, run ended) did not pass."""
    seen: dict[int, bool] = {}
    for test in result.tests:
        seen[test.index] = seen.get(test.index, True) and test.status == "pass"
    return [seen.get(i, False) for i in range(n_tests)]


def seconds_per_test(result: ExecResult, n_tests: int) -> list[float]:
    out = [0.0] * n_tests
    for test in result.tests:
        if 0 <= test.index < n_tests:
            out[test.index] += test.seconds
    return out


def run_summary(result: ExecResult, n_tests: int) -> dict:
    """A short, stable account of one program run for the verification log (no timings: reruns compare equal)."""
    passed = sum(verdicts(result, n_tests))
    summary = {"status": result.status, "tests_passed": passed, "tests": n_tests}
    failing = next((t for t in result.tests if t.status != "pass"), None)
    message = result.message or (f"{failing.name}: {failing.status} {failing.message}".strip() if failing else "")
    if message and result.status != "pass":
        summary["message"] = message[:300]
    return summary
