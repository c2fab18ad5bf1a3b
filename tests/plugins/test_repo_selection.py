"""repo_selection: Seed-Coder's repository thresholds on real histories, a drop reason each."""

from __future__ import annotations

import json

import pytest

from curate import Reject
from curate.testing import apply_step
from curate_plugins.git_commits import GitCommits
from curate_plugins.repo_selection import RepoSelection


@pytest.fixture(scope="module")
def first_commits(bundles):
    """The first commit document of each fixture repository (carrying its whole-history activity)."""
    out = {}
    for name, bundle in bundles.items():
        source = GitCommits({"paths": [str(bundle)]})
        out[name] = next(d for d in source.read_shard(str(bundle)) if not isinstance(d, Reject))
    return out


def test_activity_is_computed_from_history(first_commits):
    pflag = first_commits["spf13__pflag"].metadata
    assert pflag["activity.commits"] == 390  # tests/data/README.md: commits on branch
    assert 100 < pflag["activity.active_days"] <= 390
    assert pflag["activity.first_time"] < pflag["activity.last_time"]


def test_each_rule_has_its_reason(first_commits, tmp_path):
    meta = tmp_path / "repos.jsonl"
    rows = [{"repo": "spf13/pflag", "stars": 2500, "forks": 300}, {"repo": "dtolnay/anyhow", "stars": 99, "forks": 200},
            {"repo": "DaveGamble/cJSON", "stars": 10000, "forks": 9}]
    meta.write_text("".join(json.dumps(r) + "\n" for r in rows))
    docs = list(first_commits.values())
    result = apply_step(RepoSelection(metadata_file=str(meta), min_commits=500, min_active_days=300), docs)
    by_repo = {d.metadata["repo"]: d.metadata["drop.reason"] for d in result.dropped}
    assert by_repo["dtolnay/anyhow"] == "few_stars"
    assert by_repo["DaveGamble/cJSON"] == "few_forks"
    assert by_repo["spf13/pflag"] == "few_commits"  # 390 < 500
    assert by_repo["jarro2783/cxxopts"] == "few_commits"  # 443, no metadata: star/fork rules skipped
    kept = {d.metadata["repo"] for d in result.kept}
    active = {d.metadata["repo"]: d.metadata["activity.active_days"] for d in docs}
    assert all(active[r] >= 300 for r in kept)
    assert all(reason == "few_active_days" for repo, reason in by_repo.items()
               if reason not in ("few_stars", "few_forks", "few_commits"))
    strict = apply_step(RepoSelection(metadata_file=str(meta), require_metadata=True), docs)
    assert {d.metadata["drop.reason"] for d in strict.dropped if d.metadata["repo"] == "tj/commander.js"} == \
        {"no_repo_metadata"}


def test_defaults_are_seed_coder_and_keep_fixture_histories(first_commits):
    params = RepoSelection.Params()
    assert (params.min_stars, params.min_forks, params.min_commits, params.min_active_days) == (100, 10, 100, 100)
    result = apply_step(RepoSelection(), list(first_commits.values()))
    assert {d.metadata["repo"]: d.metadata["drop.reason"] for d in result.dropped} == {}


def test_bad_metadata_file_names_the_line(tmp_path, first_commits):
    meta = tmp_path / "bad.jsonl"
    meta.write_text('{"repo": "a/b", "stars": 1}\n{not json\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        apply_step(RepoSelection(metadata_file=str(meta)), [first_commits["spf13__pflag"]])
    assert RepoSelection(metadata_file=str(tmp_path / "missing.jsonl")).check()
