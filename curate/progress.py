"""The live progress line of ``curate run``: one line per run, at most 100 columns.

Each reading task writes a tiny ``runs/<run>/progress/<rank>.json`` a few times per second (``ProgressWriter``);
the runner's ``ProgressMonitor`` sums them and prints, e.g.::

    run-0002  reading 41%  12.3k docs  48.1 MB  6.2 MB/s  1.6k docs/s  ETA 0:42  tasks 3/16  0:31

Rates are measured over the last ``window`` seconds, so they drop to zero when reading ends instead of
decaying like a run-long average. The share read and the ETA are counted in input bytes: whole shards once
their task has finished, and for shards being read, the text read so far scaled by the text-to-file ratio of
the finished shards (1 for uncompressed files before any shard has finished).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

import orjson

from curate.state import atomic_write_bytes, filesystem

WIDTH = 100
COMPRESSED = (".zst", ".gz", ".bz2", ".xz", ".lz4", ".zip")


class ProgressWriter:
    """One reading task's counters, written to ``<folder>/<rank>.json`` at most twice a second."""

    def __init__(self, folder: str | None, rank: int, interval: float = 0.5):
        self.path = f"{folder}/{rank:05d}.json" if folder else None
        self.docs = self.bytes = 0
        self.interval = interval
        self.last = time.monotonic()

    def tick(self, nbytes: int) -> None:
        """Count one document; write the counters when the last write is old enough."""
        self.docs += 1
        self.bytes += nbytes
        if self.path and time.monotonic() - self.last > self.interval:
            self._write(done=False)

    def finish(self) -> None:
        """Write the final counters, marked done."""
        if self.path:
            self._write(done=True)

    def _write(self, done: bool) -> None:
        self.last = time.monotonic()
        atomic_write_bytes(self.path, orjson.dumps({"docs": self.docs, "bytes": self.bytes, "done": done}))


@dataclass
class Sample:
    """What the run has done at one moment."""

    at: float
    docs: int
    text_bytes: int
    input_bytes: float  # estimated input bytes read
    shards_done: int
    reading_done: bool
    tasks_done: int
    tasks: int


class ProgressEstimate:
    """Turns per-rank progress records into a Sample (input bytes read) and a line (rates over a window)."""

    def __init__(self, run_id: str, shards: list[dict], window: float = 10.0):
        self.run_id, self.window = run_id, window
        sizes = [s.get("size") for s in shards]
        self.by_bytes = bool(sizes) and all(isinstance(n, int) and n > 0 for n in sizes)
        self.sizes = [float(n) for n in sizes] if self.by_bytes else [1.0] * len(shards)
        self.total = sum(self.sizes)
        compressed = any(str(s.get("shard", "")).endswith(COMPRESSED) for s in shards)
        self.prior_ratio = None if compressed else 1.0
        self.samples: deque[Sample] = deque()
        self.started = time.monotonic()

    def sample(self, records: dict[int, dict], tasks_done: int, tasks: int, now: float | None = None) -> Sample:
        """Combine the tasks' records into one sample and remember it for the rates."""
        now = time.monotonic() if now is None else now
        docs = sum(r.get("docs", 0) for r in records.values())
        text = sum(r.get("bytes", 0) for r in records.values())
        done = [rank for rank, r in records.items() if r.get("done") and rank < len(self.sizes)]
        done_input = sum(self.sizes[rank] for rank in done)
        done_text = sum(records[rank].get("bytes", 0) for rank in done)
        ratio = done_text / done_input if done and done_input and self.by_bytes else self.prior_ratio
        reading = 0.0
        for rank, rec in records.items():
            if rank in done or rank >= len(self.sizes) or not ratio or not self.by_bytes:
                continue
            reading += min(self.sizes[rank], rec.get("bytes", 0) / ratio)
        sample = Sample(now, docs, text, done_input + reading, len(done), len(done) >= len(self.sizes), tasks_done,
                        tasks)
        self.samples.append(sample)
        while len(self.samples) > 2 and now - self.samples[1].at >= self.window:
            self.samples.popleft()
        return sample

    def rates(self) -> tuple[float, float, float]:
        """(docs/s, text MB/s, input bytes/s) over the window."""
        if len(self.samples) < 2:
            return 0.0, 0.0, 0.0
        first, last = self.samples[0], self.samples[-1]
        span = max(last.at - first.at, 1e-9)
        return ((last.docs - first.docs) / span, (last.text_bytes - first.text_bytes) / 1e6 / span,
                (last.input_bytes - first.input_bytes) / span)

    def line(self, sample: Sample, width: int = WIDTH) -> str:
        """The status line for ``sample``, at most ``width`` columns."""
        docs_rate, mb_rate, input_rate = self.rates()
        parts = [self.run_id]
        if sample.reading_done:
            parts += ["finishing", f"{_count(sample.docs)} docs", _size(sample.text_bytes)]
        else:
            share = sample.input_bytes / self.total if self.total else 0.0
            read = f"{share:4.0%}" if self.by_bytes else f"{sample.shards_done}/{len(self.sizes)} shards"
            parts += [f"reading {read}",
                      f"{_count(sample.docs)} docs", _size(sample.text_bytes), f"{mb_rate:.1f} MB/s",
                      f"{_count(docs_rate)} docs/s", f"ETA {self._eta(sample, input_rate)}"]
        parts += [f"tasks {sample.tasks_done}/{sample.tasks}", _clock(sample.at - self.started)]
        return "  ".join(parts)[:width]

    def _eta(self, sample: Sample, input_rate: float) -> str:
        if not self.by_bytes or input_rate <= 0 or sample.input_bytes <= 0:
            return "--:--"
        return _clock((self.total - sample.input_bytes) / input_rate)


def _count(n: float) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= limit:
            return f"{n / limit:.1f}{suffix}"
    return f"{n:.0f}"


def _size(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class ProgressMonitor:
    """Shows the progress line on stderr while a run executes (a rich Live display, removed at the end)."""

    def __init__(self, corpus, plan, shards: list[dict] | None = None, enabled: bool = True,
                 interval: float = 0.5):
        self.corpus, self.plan, self.interval, self.enabled = corpus, plan, interval, enabled
        self.estimate = ProgressEstimate(plan.run_id, shards or [])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        """Start drawing the line (nothing when disabled)."""
        if self.enabled:
            self._thread.start()

    def stop(self) -> None:
        """Stop drawing and wait for the drawing thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def records(self) -> dict[int, dict]:
        """rank -> the last record its reading task wrote."""
        out = {}
        fs, folder = filesystem(self.corpus.path("runs", self.plan.run_id, "progress"))
        if not fs.exists(folder):
            return out
        for name in fs.ls(folder, detail=False):
            stem = name.rsplit("/", 1)[-1].removesuffix(".json")
            if not name.endswith(".json") or not stem.isdigit():
                continue
            try:
                with fs.open(name, "rb") as handle:
                    out[int(stem)] = orjson.loads(handle.read())
            except (OSError, orjson.JSONDecodeError):
                pass
        return out

    def tasks(self) -> tuple[int, int]:
        """Tasks completed and tasks planned, over every segment."""
        done = total = 0
        for segment in self.plan.segments:
            fs, folder = filesystem(self.corpus.path("runs", self.plan.run_id, "exec", segment.name, "completions"))
            done += len(fs.ls(folder)) if fs.exists(folder) else 0
            total += segment.tasks
        return done, total

    def current_line(self) -> str:
        """The status line now."""
        return self.estimate.line(self.estimate.sample(self.records(), *self.tasks()))

    def _loop(self) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        console = Console(stderr=True)
        with Live(console=console, refresh_per_second=4, transient=True) as live:
            while not self._stop.wait(self.interval):
                live.update(Text(self.current_line()[: min(WIDTH, console.width)], no_wrap=True))
