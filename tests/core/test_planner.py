"""The planner cuts a pipeline into datatrove jobs at Stage barriers, with the same task count per shard job."""

from __future__ import annotations

from curate.config import validate_pipeline
from curate.planner import ShardAssignment, build_plan, group_shards
from curate.state import CorpusDir


def _plan(tmp_path, default_input, steps):
    raw = {"name": "p", "inputs": [{"source": "jsonl", "with": {"paths": [str(default_input / "*.jsonl.zst")]}}],
           "output": {"dir": str(tmp_path / "out")}, "steps": steps}
    resolved, errors = validate_pipeline(raw)
    assert errors == []
    shards = [ShardAssignment(0, s) for s in resolved.inputs[0].cls(resolved.inputs[0].params).list_shards()]
    return build_plan(resolved, CorpusDir(str(tmp_path / "out")), "run-0001", 1, shards, [])


def test_a_stage_cuts_the_pipeline_and_every_shard_job_has_one_task_per_shard(tmp_path, default_input):
    plan = _plan(tmp_path, default_input, [{"uses": "language_from_extension"}, {"uses": "exact_dedup"},
                                           {"uses": "code_heuristics"}, {"uses": "minhash_dedup"}])
    per_shard = [s for s in plan.segments if s.per_shard]
    assert [s.name for s in per_shard] == ["segment-00", "segment-01", "segment-02"]
    assert {s.tasks for s in per_shard} == {7}
    assert plan.segments[1].name == "exact_dedup-resolve" and plan.segments[1].tasks == 1
    # each per-shard job after a barrier reads the scratch shards the job before it wrote
    assert type(per_shard[1].steps[0]).__name__ == "ShardReader"
    assert per_shard[1].steps[0].writer is per_shard[0].steps[-1]


def test_a_stage_whose_barrier_reads_nothing_of_the_run_does_not_cut(tmp_path, default_input):
    plan = _plan(tmp_path, default_input, [{"uses": "language_from_extension"}, {"uses": "ngram_decontaminate"}])
    assert [s.name for s in plan.segments] == ["ngram_decontaminate-index", "segment-00"]
    assert not any(type(step).__name__ == "ShardReader" for step in plan.segments[1].steps)


def test_small_shards_share_a_task_and_big_ones_have_their_own():
    shards = [ShardAssignment(0, f"s{i}", size=size) for i, size in enumerate([10, 20, 30, 100, 5, 5, None, 1])]
    groups = group_shards(shards, target_bytes=60)
    assert [[s.shard for s in g] for g in groups] == [["s0", "s1", "s2"], ["s3"], ["s4", "s5"], ["s6"], ["s7"]]
    assert group_shards(shards, target_bytes=60) == groups  # a resumed run regroups identically


def test_every_per_shard_segment_has_the_task_count_of_the_groups(tmp_path, default_input):
    raw = {"name": "p", "inputs": [{"source": "jsonl", "with": {"paths": [str(default_input / "*.jsonl.zst")]}}],
           "output": {"dir": str(tmp_path / "out"), "max_file_mb": 0.2},
           "steps": [{"uses": "exact_dedup"}, {"uses": "code_heuristics"}]}
    resolved, errors = validate_pipeline(raw)
    assert errors == []
    source = resolved.inputs[0].cls(resolved.inputs[0].params)
    shards = [ShardAssignment(0, s, size=(default_input / s).stat().st_size) for s in source.list_shards()]
    plan = build_plan(resolved, CorpusDir(str(tmp_path / "out")), "run-0001", 1, shards, [])
    groups = group_shards(shards, 200_000)
    assert 1 < len(groups) < len(shards)
    assert {s.tasks for s in plan.segments if s.per_shard} == {len(groups)}
