"""Per-step, per-rank counters. Each rank writes its own small JSON file; reports merge the files on disk,
so a relaunched run still reports every rank (datatrove's own stats.json merge covers only the ranks of the
last launch)."""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field

import orjson


def text_bytes(text: str) -> int:
    """UTF-8 size of ``text`` without encoding it when it is ASCII (``isascii`` is O(1) in CPython)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


@dataclass
class StepCounters:
    """Documents and bytes in, kept and dropped (per reason) by one step on one rank."""
    docs_in: int = 0
    bytes_in: int = 0
    docs_out: int = 0
    bytes_out: int = 0
    busy: float = 0.0
    wall: float = 0.0
    drops: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    def seen(self, nbytes: int) -> None:
        """Count a document entering the step."""
        self.docs_in += 1
        self.bytes_in += nbytes

    def seen_many(self, sizes: list[int]) -> None:
        """Count a batch of documents read (their sizes in bytes)."""
        self.docs_in += len(sizes)
        self.bytes_in += sum(sizes)

    def kept(self, nbytes: int) -> None:
        """Count a document the step kept."""
        self.docs_out += 1
        self.bytes_out += nbytes

    def dropped(self, reason: str, nbytes: int) -> None:
        """Count a document the step dropped, under ``reason``."""
        entry = self.drops[reason]
        entry[0] += 1
        entry[1] += nbytes

    def to_dict(self) -> dict:
        """The counters as a JSON-ready mapping."""
        return {"docs_in": self.docs_in, "bytes_in": self.bytes_in, "docs_out": self.docs_out,
                "bytes_out": self.bytes_out, "busy": self.busy, "wall": self.wall,
                "drops": {k: list(v) for k, v in self.drops.items()}}

    def save(self, context, rank: int) -> None:
        """Write the counters of ``rank`` to the run's stats folder (nothing outside a run)."""
        if not context.corpus_dir:
            return
        from curate.state import CorpusDir

        payload = {"step_id": context.step_id, "step_index": context.step_index, "segment": context.segment,
                   "rank": rank, **self.to_dict()}
        CorpusDir(context.corpus_dir).write_step_stats(context.run_id, context.segment, context.step_index,
                                                     rank, orjson.dumps(payload))


@contextmanager
def step_accounting(context, excluded, rank: int):
    """The bookkeeping around one step's pass over one shard: yields fresh counters; on success saves them
    and commits the step's excluded records, on failure (or an abandoned generator) discards the records."""
    counters, started, finished = StepCounters(), time.perf_counter(), False
    try:
        yield counters
        counters.wall = time.perf_counter() - started
        counters.save(context, rank)
        finished = True
    finally:
        if excluded is not None:
            excluded.close(rank, commit=finished)


def merge_step_stats(records: list[dict]) -> list[dict]:
    """Merge per-rank records into one row per pipeline step, in pipeline order.

    A Stage reports from several segments (before and after its barrier): its input counts come from
    its first segment, its output counts from its last one, and its drops are summed.
    """
    by_step: dict[int, dict[int, list[dict]]] = {}
    for rec in records:
        by_step.setdefault(rec["step_index"], {}).setdefault(rec["segment"], []).append(rec)
    rows = []
    for index in sorted(by_step):
        segments = by_step[index]
        first, last = segments[min(segments)], segments[max(segments)]
        row = {"step_id": first[0]["step_id"], "step_index": index, "ranks": len(first),
               "docs_in": sum(r["docs_in"] for r in first), "bytes_in": sum(r["bytes_in"] for r in first),
               "docs_out": sum(r["docs_out"] for r in last), "bytes_out": sum(r["bytes_out"] for r in last),
               "busy": 0.0, "drops": {}}
        for recs in segments.values():
            for rec in recs:
                row["busy"] += rec["busy"]
                for reason, (docs, nbytes) in rec["drops"].items():
                    entry = row["drops"].setdefault(reason, [0, 0])
                    entry[0] += docs
                    entry[1] += nbytes
        rows.append(row)
    return rows
