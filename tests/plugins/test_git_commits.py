"""git_commits: records checked against `git show` on the real repositories, merges, incremental runs."""

from __future__ import annotations

import subprocess

import pytest
from _commits_helpers import bare_clone, git_show, non_merge_commits

from curate import Reject
from curate.testing import read_corpus, read_excluded, run_pipeline_dict
from curate_plugins.git_commits import GitCommits

CHECKED = ["spf13__pflag", "jarro2783__cxxopts", "pallets__itsdangerous", "DaveGamble__cJSON", "dtolnay__anyhow",
           "square__javapoet", "tj__commander.js"]


@pytest.fixture(scope="module")
def bare(bundles, tmp_path_factory):
    root = tmp_path_factory.mktemp("bare")
    return {name: bare_clone(bundles[name], root / f"{name}.git") for name in CHECKED[:3]}


def read(path, **params):
    source = GitCommits({"paths": [str(path)], **params})
    return list(source.read_shard(source.list_shards()[0]))


@pytest.mark.parametrize("name", CHECKED[:3])
def test_records_match_git_show(name, bare):
    git_dir = bare[name]
    items = read(git_dir)
    docs = [d for d in items if not isinstance(d, Reject)]
    assert [d.metadata["commit.sha"] for d in docs] == non_merge_commits(git_dir)
    for doc in docs[::7]:
        expected = git_show(git_dir, doc.metadata["commit.sha"])
        files = doc.metadata["commit.files"]
        assert [(f["status"], f["path"]) for f in files] == [(e["status"], e["path"]) for e in expected]
        for f, e in zip(files, expected):
            section = doc.text[f["start"]:f["end"]]
            at = section.find("\n@@ ")
            assert (section[at + 1:] if at >= 0 else "") == e["hunks"]
            assert f["binary"] == e["binary"]
            if f["status"] in "RC":
                assert f["old_path"] == e["old"]
        meta = doc.metadata
        show = subprocess.run(["git", "--git-dir", git_dir, "show", "-s", "--format=%P%x00%at%x00%B",
                               meta["commit.sha"]], capture_output=True, check=True).stdout.decode().split("\0")
        assert meta["commit.parents"] == show[0].split()
        assert meta["commit.author_time"] == int(show[1])
        assert meta["commit.message"] == show[2].rstrip("\n")


def test_blobs_are_the_real_old_and_new_contents(bare):
    git_dir = bare["jarro2783__cxxopts"]
    doc = next(d for d in read(git_dir) if not isinstance(d, Reject) and
               any(f["status"] == "M" for f in d.metadata["commit.files"]))
    change = next(f for f in doc.metadata["commit.files"] if f["status"] == "M")
    parent = doc.metadata["commit.parents"][0]

    def blob_at(rev):
        return subprocess.run(["git", "--git-dir", git_dir, "rev-parse", f"{rev}:{change['path']}"],
                              capture_output=True, text=True, check=True).stdout.strip()

    assert (change["old_blob"], change["new_blob"]) == (blob_at(parent), blob_at(doc.metadata["commit.sha"]))


def test_every_bundle_reads_and_merges_are_rejected_with_reason(bundles):
    for name in ("spf13__pflag", "square__javapoet"):
        items = read(bundles[name])
        merges = [i for i in items if isinstance(i, Reject)]
        assert {m.reason for m in merges} == {"merge_commit"}
        docs = [d for d in items if not isinstance(d, Reject)]
        assert all(len(d.metadata["commit.parents"]) <= 1 for d in docs)
        assert docs[0].metadata["activity.commits"] == len(items)  # every commit of the branch, merges included
        assert docs[0].metadata["repo"] == name.replace("__", "/")


def test_working_copy_and_branch_selection(bundles, tmp_path):
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "--quiet", str(bundles["spf13__pflag"]), str(work)], check=True)
    docs = [d for d in read(work) if not isinstance(d, Reject)]
    assert [d.metadata["commit.sha"] for d in docs] == non_merge_commits(work / ".git")
    assert {d.metadata["commit.branch"] for d in docs} == {"master"}
    with pytest.raises(RuntimeError, match="branch 'nope' not found"):
        read(work, branches=["nope"])


def _pipeline(path, out):
    return {"name": "commits-incremental", "inputs": [{"source": "git_commits", "with": {"paths": [str(path)]}}],
            "output": {"dir": str(out)}, "executor": {"kind": "local", "workers": 1}, "steps": []}


def test_incremental_run_reads_only_new_commits(bundles, tmp_path):
    git_dir = bare_clone(bundles["jarro2783__cxxopts"], tmp_path / "cxxopts.git")
    head = subprocess.run(["git", "--git-dir", git_dir, "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    branch = subprocess.run(["git", "--git-dir", git_dir, "symbolic-ref", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    everything = non_merge_commits(git_dir)
    old = everything[-40]
    subprocess.run(["git", "--git-dir", git_dir, "update-ref", branch, old], check=True)
    out = tmp_path / "out"
    first = run_pipeline_dict(_pipeline(git_dir, out))
    first_shas = [r["metadata"]["commit.sha"] for r in read_corpus(out, first.run_id)]
    assert first_shas == non_merge_commits(git_dir)

    subprocess.run(["git", "--git-dir", git_dir, "update-ref", branch, head], check=True)
    second = run_pipeline_dict(_pipeline(git_dir, out))
    new = [r["metadata"]["commit.sha"] for r in read_corpus(out, second.run_id)]
    expected_new = subprocess.run(["git", "--git-dir", git_dir, "rev-list", "--no-merges", "--reverse", "--topo-order",
                                   head, f"^{old}"], capture_output=True, text=True).stdout.split()
    assert new == expected_new and len(new) >= 39
    assert set(first_shas) | set(new) == set(everything) and not set(first_shas) & set(new)
    merges = [r for r in read_excluded(out, second.run_id) if r["metadata"]["drop.reason"] == "merge_commit"]
    assert all(r["metadata"]["commit.sha"] not in first_shas for r in merges)
    assert run_pipeline_dict(_pipeline(git_dir, out)).status == "nothing-to-do"
