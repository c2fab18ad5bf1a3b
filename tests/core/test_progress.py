"""The progress line: input-byte share and ETA, rates over a recent window, one line of at most 100 columns."""

from __future__ import annotations

import re

import orjson

from curate.config import validate_pipeline
from curate.planner import Plan, Segment
from curate.progress import WIDTH, ProgressEstimate, ProgressMonitor, ProgressWriter
from curate.run import run_pipeline
from curate.state import CorpusDir

SHARDS = [{"shard": "a.jsonl", "size": 1000}, {"shard": "b.jsonl", "size": 3000}]


def test_share_read_counts_finished_shards_whole_and_scales_the_others():
    est = ProgressEstimate("run-0001", SHARDS)
    # shard a finished: 1,100 text bytes for 1,000 file bytes; shard b has 1,650 text bytes read -> ~1,500 input
    sample = est.sample({0: {"docs": 10, "bytes": 1100, "done": True}, 1: {"docs": 5, "bytes": 1650}}, 1, 4, now=0.0)
    assert sample.input_bytes == 2500 and not sample.reading_done
    assert "reading  62%" in est.line(sample)


def test_compressed_inputs_wait_for_a_finished_shard_before_guessing():
    est = ProgressEstimate("run-0001", [{"shard": "a.jsonl.zst", "size": 100}, {"shard": "b.jsonl.zst", "size": 100}])
    sample = est.sample({0: {"docs": 3, "bytes": 400}, 1: {"docs": 3, "bytes": 400}}, 0, 2, now=0.0)
    assert sample.input_bytes == 0 and "ETA --:--" in est.line(sample)
    sample = est.sample({0: {"docs": 5, "bytes": 500, "done": True}, 1: {"docs": 3, "bytes": 250}}, 1, 2, now=1.0)
    assert sample.input_bytes == 150  # b: 250 text bytes at a's ratio of 5 text bytes per input byte


def test_rates_use_a_recent_window_and_eta_comes_from_input_bytes():
    est = ProgressEstimate("run-0001", [{"shard": "a.jsonl", "size": 10_000_000}], window=10.0)
    for t in range(0, 21):  # 100 docs and 100 KB per second for 20 s
        sample = est.sample({0: {"docs": 100 * t, "bytes": 100_000 * t}}, 0, 2, now=float(t))
    line = est.line(sample)
    assert "0.1 MB/s" in line and "100 docs/s" in line and "reading  20%" in line
    assert "ETA 1:20" in line  # 8 MB left at 0.1 MB/s
    for t in range(21, 40):  # reading has ended: nothing new arrives
        sample = est.sample({0: {"docs": 2000, "bytes": 2_000_000, "done": True}}, 1, 2, now=float(t))
    assert est.rates()[0] == 0.0 and "finishing" in est.line(sample) and "ETA" not in est.line(sample)


def test_line_fits_100_columns_and_names_no_segment():
    shards = [{"shard": f"s{i}.jsonl", "size": 10**12} for i in range(5000)]
    est = ProgressEstimate("run-9999", shards)
    records = {i: {"docs": 10**9, "bytes": 10**11} for i in range(5000)}
    est.sample({}, 0, 99999, now=0.0)
    line = est.line(est.sample(records, 12345, 99999, now=3600.0 * 99))
    assert len(line) <= WIDTH and line.startswith("run-9999  reading") and "segment" not in line
    assert re.search(r"\d+(\.\d)?[kMG] docs", line)


def test_shards_without_sizes_are_counted_in_shards():
    est = ProgressEstimate("run-0001", [{"shard": "repo.git", "heads": {}}, {"shard": "other.git", "heads": {}}])
    line = est.line(est.sample({0: {"docs": 7, "bytes": 70, "done": True}}, 1, 2, now=0.0))
    assert "reading 1/2 shards" in line and "ETA --:--" in line


def test_writer_and_monitor_share_the_files(tmp_path):
    corpus = CorpusDir(str(tmp_path))
    plan = Plan("run-0001", [Segment("segment-00", [], 2), Segment("dedup-index", [], 1, per_shard=False)])
    folder = corpus.path("runs", "run-0001", "progress")
    writer = ProgressWriter(folder, 1, interval=0.0)
    for _ in range(3):
        writer.tick(10)
    writer.finish()
    (tmp_path / "runs" / "run-0001" / "progress" / "00000.json").write_bytes(b"{not json")  # torn write: skipped
    (tmp_path / "runs" / "run-0001" / "exec" / "segment-00" / "completions").mkdir(parents=True)
    (tmp_path / "runs" / "run-0001" / "exec" / "segment-00" / "completions" / "00001").write_text("")
    monitor = ProgressMonitor(corpus, plan, SHARDS, enabled=False)
    assert monitor.records() == {1: {"docs": 3, "bytes": 30, "done": True}}
    assert monitor.tasks() == (1, 3)
    assert monitor.current_line().startswith("run-0001  reading")
    assert orjson.loads((tmp_path / "runs/run-0001/progress/00001.json").read_bytes())["done"] is True


def test_a_real_run_shows_lines_that_fit(default_input, tmp_path, monkeypatch):
    lines = []
    real = ProgressMonitor.current_line
    monkeypatch.setattr(ProgressMonitor, "current_line", lambda self: lines.append(real(self)) or lines[-1])
    monkeypatch.setattr(ProgressMonitor, "_loop", lambda self: [self.current_line() for _ in iter(
        lambda: self._stop.wait(0.05), True)])
    spec = {"name": "p", "inputs": [{"source": "jsonl", "with": {"paths": [str(default_input / "*.jsonl.zst")]}}],
            "output": {"dir": str(tmp_path / "out"), "max_file_mb": 0.1},  # several tasks: progress between them
            "steps": [{"uses": "code_heuristics"}]}
    resolved, errors = validate_pipeline(spec)
    assert not errors
    result = run_pipeline(resolved, workers=1, show_progress=True, echo=lambda m: None)
    assert result.status == "completed" and lines
    assert all(len(line) <= WIDTH and line.startswith(result.run_id) for line in lines), lines
    assert any(re.search(r"reading +[1-9]\d*%  [1-9][\d.]*k? docs", line) for line in lines), lines
