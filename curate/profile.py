"""What a run's output holds: documents and bytes per language and licence, document lengths, score
distributions, drop reasons. Computed once per run by reading its shards (``runs/<run>/profile.json``) and
merged across runs, so a report or dataset card after a new run reads only that run's data.

Histograms use fixed bins so that the profiles of different runs add up: document length in bytes on a log2
scale (four bins per octave), and every numeric ``*score*`` / ``*oracle*`` metadata key on 0..10 in steps of
0.05 (fastText probabilities and LLM ratings alike), with counts below and above.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections import defaultdict

import orjson

from curate.corpusread import AREAS, flat_items, iter_records, meta_value, shard_files
from curate.state import CorpusDir, atomic_write_bytes, read_bytes
from curate.stepstats import text_bytes

VERSION = 1
LENGTH_BINS_PER_OCTAVE = 4
LENGTH_BINS = 32 * LENGTH_BINS_PER_OCTAVE + 1  # bin 0: empty documents; then 1 B .. 4 GB
SCORE_STEP, SCORE_MAX = 0.05, 10.0
SCORE_BINS = round(SCORE_MAX / SCORE_STEP)
SCORE_KEY = re.compile(r"(score|oracle)", re.IGNORECASE)
MAX_SCORE_KEYS = 12
NO_VALUE = "(none)"


def length_bin(nbytes: int) -> int:
    """The document-length histogram bin of ``nbytes`` (quarter octaves of bytes)."""
    if nbytes <= 0:
        return 0
    return min(1 + int(math.log2(nbytes) * LENGTH_BINS_PER_OCTAVE), LENGTH_BINS - 1)


def length_bin_edges() -> list[float]:
    """Lower byte bound of every length bin (bin 0 holds empty documents)."""
    return [0.0] + [2 ** ((i - 1) / LENGTH_BINS_PER_OCTAVE) for i in range(1, LENGTH_BINS)]


def empty_area() -> dict:
    """The counters of an area (data or excluded) before any record."""
    return {"docs": 0, "bytes": 0, "files": 0, "file_bytes": 0, "languages": {}, "licenses": {}, "reasons": {},
            "length": [0] * LENGTH_BINS, "scores": {}}


class AreaProfiler:
    """Accumulates one area (data or excluded) of one run."""

    def __init__(self):
        self.area = empty_area()
        self.languages = defaultdict(lambda: [0, 0])
        self.licenses = defaultdict(lambda: [0, 0])
        self.reasons = defaultdict(lambda: [0, 0])

    def add(self, record: dict) -> None:
        """Count one record: bytes, length bin, language, licence, drop reason and scores."""
        meta = record.get("metadata") or {}
        nbytes = text_bytes(record.get("text") or "")
        self.area["docs"] += 1
        self.area["bytes"] += nbytes
        self.area["length"][length_bin(nbytes)] += 1
        for table, key in ((self.languages, "lang"), (self.licenses, "license")):
            entry = table[str(meta_value(meta, key) or NO_VALUE)]
            entry[0] += 1
            entry[1] += nbytes
        reason = meta_value(meta, "drop.reason")
        if reason is not None:
            entry = self.reasons[f"{meta_value(meta, 'drop.step')}\t{reason}"]
            entry[0] += 1
            entry[1] += nbytes
        for key, value in flat_items(meta):
            if SCORE_KEY.search(key) and isinstance(value, int | float) and not isinstance(value, bool):
                self._score(key, float(value))

    def _score(self, key: str, value: float) -> None:
        scores = self.area["scores"]
        if key not in scores:
            if len(scores) >= MAX_SCORE_KEYS or math.isnan(value):
                return
            scores[key] = {"bins": [0] * SCORE_BINS, "under": 0, "over": 0, "count": 0, "sum": 0.0,
                           "min": value, "max": value}
        entry = scores[key]
        if math.isnan(value):
            return
        entry["count"] += 1
        entry["sum"] += value
        entry["min"], entry["max"] = min(entry["min"], value), max(entry["max"], value)
        if value < 0:
            entry["under"] += 1
        elif value > SCORE_MAX:
            entry["over"] += 1
        else:
            entry["bins"][min(int(value / SCORE_STEP), SCORE_BINS - 1)] += 1

    def result(self, files: list[tuple[str, int]]) -> dict:
        """The area's counters, with the files it read (``(path, size)`` pairs)."""
        self.area.update(languages=dict(self.languages), licenses=dict(self.licenses), reasons=dict(self.reasons),
                         files=len(files), file_bytes=sum(size for _, size in files))
        return self.area


def profile_run(corpus: CorpusDir, run_id: str) -> dict:
    """Read every shard of a run's data and excluded areas once and summarise them."""
    out = {"version": VERSION, "run_id": run_id}
    for area in AREAS:
        profiler = AreaProfiler()
        for record in iter_records(corpus, area, run_id):
            profiler.add(record)
        out[area] = profiler.result(shard_files(corpus, area, run_id))
    return out


def run_profile(corpus: CorpusDir, run_id: str) -> dict:
    """The cached profile of a finished run (computed and cached on first use; a read-only corpus works too)."""
    path = f"{corpus.run_dir(run_id)}/profile.json"
    raw = read_bytes(path)
    if raw:
        cached = orjson.loads(raw)
        if cached.get("version") == VERSION:
            return cached
    profile = profile_run(corpus, run_id)
    with contextlib.suppress(OSError):  # a read-only corpus: recompute next time
        atomic_write_bytes(path, orjson.dumps(profile))
    return profile


def merge_profiles(profiles: list[dict]) -> dict:
    """One profile for several runs: counts and histograms add up."""
    merged = {area: empty_area() for area in AREAS}
    for profile in profiles:
        for area in AREAS:
            _merge_area(merged[area], profile[area])
    return merged


def _merge_area(into: dict, area: dict) -> None:
    for key in ("docs", "bytes", "files", "file_bytes"):
        into[key] += area[key]
    into["length"] = [a + b for a, b in zip(into["length"], area["length"])]
    for table in ("languages", "licenses", "reasons"):
        for name, (docs, nbytes) in area[table].items():
            entry = into[table].setdefault(name, [0, 0])
            entry[0] += docs
            entry[1] += nbytes
    for key, score in area["scores"].items():
        if key not in into["scores"]:
            into["scores"][key] = {**score, "bins": list(score["bins"])}
            continue
        entry = into["scores"][key]
        entry["bins"] = [a + b for a, b in zip(entry["bins"], score["bins"])]
        for field in ("under", "over", "count", "sum"):
            entry[field] += score[field]
        entry["min"], entry["max"] = min(entry["min"], score["min"]), max(entry["max"], score["max"])


def length_quantiles(length: list[int], qs=(0.1, 0.5, 0.9, 0.99)) -> dict[float, float]:
    """Approximate quantiles (upper bin edge, in bytes) of a length histogram."""
    total = sum(length)
    edges = length_bin_edges()[1:] + [float(2 ** 32)]
    out, seen, index = {}, 0, 0
    for q in qs:
        while index < len(length) and seen + length[index] < q * total:
            seen += length[index]
            index += 1
        out[q] = edges[min(index, len(edges) - 1)] if total else 0.0
    return out
