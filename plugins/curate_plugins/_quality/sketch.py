"""A mergeable streaming quantile sketch for bounded scores, and the per-group cut computed from it.

Scores live in a known range (``quality.score`` is 0..10), so the sketch is a fixed-resolution histogram:
constant memory per group, exact merges across shards (counts add), deterministic, and a quantile error of at
most one bin width (0.001 with the defaults). Values outside the range are clamped into the edge bins.
"""

from __future__ import annotations

import numpy as np


class HistogramSketch:
    def __init__(self, low: float, high: float, bins: int, counts=None):
        self.low, self.high, self.bins = float(low), float(high), int(bins)
        self.counts = np.zeros(self.bins, dtype=np.int64) if counts is None else np.asarray(counts, dtype=np.int64)

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def bin_of(self, value: float) -> int:
        position = (value - self.low) / (self.high - self.low) * self.bins
        return int(min(self.bins - 1, max(0, np.floor(position))))

    def add(self, value: float) -> None:
        self.counts[self.bin_of(value)] += 1

    def merge(self, other: HistogramSketch) -> None:
        self.counts += other.counts

    def cut_for_fraction(self, fraction: float) -> float:
        """The largest bin edge with at most ``fraction`` of the values below it: dropping ``score < cut``
        drops at most that fraction (ties are never split, so a heap of equal scores is kept whole)."""
        allowed = fraction * self.total
        cumulative = np.cumsum(self.counts)
        below = int(np.searchsorted(cumulative, allowed, side="right"))  # bins fully droppable
        return self.low + below * (self.high - self.low) / self.bins

    def to_json(self) -> dict:
        nonzero = np.nonzero(self.counts)[0]
        return {"low": self.low, "high": self.high, "bins": self.bins,
                "sparse": [[int(i), int(self.counts[i])] for i in nonzero]}

    @classmethod
    def from_json(cls, d: dict) -> HistogramSketch:
        sketch = cls(d["low"], d["high"], d["bins"])
        for i, c in d["sparse"]:
            sketch.counts[i] = c
        return sketch
