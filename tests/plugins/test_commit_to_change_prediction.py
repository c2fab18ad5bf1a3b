"""commit_to_change_prediction on real repositories: targets equal `git show`, BM25 equals bm25s, skips,
budgets, and pipelines/commits.yaml end to end."""

from __future__ import annotations

import copy
import json
import random
import shutil

import bm25s
import numpy as np
import pygit2
import pytest
from _commits_helpers import bare_clone, git_show

from curate import Reject
from curate.testing import apply_step, make_doc, read_corpus, read_excluded, run_cli
from curate_plugins._commits.bm25 import IncrementalBM25, path_text, tokenize
from curate_plugins._commits.snapshot import IndexRules, SnapshotPool
from curate_plugins.commit_to_change_prediction import CommitToChangePrediction
from curate_plugins.git_commits import GitCommits

REPOS = ["spf13__pflag", "jarro2783__cxxopts", "pallets__itsdangerous"]  # Go, C++, Python


@pytest.fixture(scope="module")
def repos(bundles, tmp_path_factory):
    """name -> (bare git dir, commit documents oldest first)."""
    root = tmp_path_factory.mktemp("bare")
    out = {}
    for name in REPOS:
        git_dir = bare_clone(bundles[name], root / f"{name}.git")
        source = GitCommits({"paths": [git_dir]})
        out[name] = (git_dir, [d for d in source.read_shard(git_dir) if not isinstance(d, Reject)])
    return out


def transform(docs, **params):
    return apply_step(CommitToChangePrediction(params), copy.deepcopy(docs))


def split_target(sample, context=3):
    """(listed paths, {path: hunks}) parsed from a sample rendered with the default templates."""
    meta = sample.metadata
    target = sample.text[meta["change.target_start"]:]
    listed = target.split("<changed_paths>\n", 1)[1].split("\n</changed_paths>", 1)[0].split("\n")
    body = target.split("<changes>\n", 1)[1].rsplit("</changes>\n", 1)[0]
    heads = []
    for change in meta["change.files"]:
        old = "/dev/null" if change["status"] == "A" else "a/" + change["old_path"]
        new = "/dev/null" if change["status"] == "D" else "b/" + change["path"]
        head = f"--- {old}\n+++ {new}\n"
        heads.append((change["path"], body.index(head, heads[-1][1] if heads else 0), len(head)))
    hunks = {}
    for i, (path, start, size) in enumerate(heads):
        end = heads[i + 1][1] if i + 1 < len(heads) else len(body)
        hunks[path] = body[start + size:end]
    return listed, hunks


@pytest.mark.parametrize("name", REPOS)
def test_targets_match_git_show(name, repos):
    git_dir, docs = repos[name]
    result = transform(docs)
    assert len(result.kept) + len(result.dropped) == len(docs)
    assert len(result.kept) > 0.6 * len(docs)
    checked = 0
    for sample in result.kept[::5]:
        expected = {e["path"]: e for e in git_show(git_dir, sample.metadata["commit.sha"])}
        listed, hunks = split_target(sample)
        paths = sample.metadata["change.paths"]
        assert set(paths) | set(sample.metadata["change.omitted_files"]) == set(expected)
        assert len(listed) == len(paths)
        for path in paths:
            assert hunks[path] == expected[path]["hunks"], (sample.id, path)
        checked += 1
    assert checked >= 20


def test_other_context_lines_rediff_like_git_show(repos):
    git_dir, docs = repos["jarro2783__cxxopts"]
    result = transform(docs[100:160], context_lines=1)
    assert result.kept
    for sample in result.kept[::3]:
        expected = {e["path"]: e for e in git_show(git_dir, sample.metadata["commit.sha"], context=1)}
        _, hunks = split_target(sample)
        for path, text in hunks.items():
            assert text == expected[path]["hunks"]


def test_incremental_bm25_equals_bm25s_from_scratch(repos):
    git_dir, docs = repos["pallets__itsdangerous"]
    repo = pygit2.Repository(git_dir)
    pool = SnapshotPool(repo, IndexRules(200_000, None))
    snapshot = pool.primary
    plugin = CommitToChangePrediction()
    plugin.ensure_setup()
    plugin._state = ("x", pool)
    compared = 0
    for i, doc in enumerate(docs):
        plugin._learn(doc)
        snapshot.move_to(doc.metadata["commit.sha"])
        if i % 60 != 59:
            continue
        paths = sorted(snapshot.index.lengths)
        corpus = [list((tokenize(snapshot.text_of(p)) + tokenize(path_text(p))).elements()) for p in paths]
        reference = bm25s.BM25(k1=1.5, b=0.75, method="lucene", dtype="float64")
        reference.index(corpus, show_progress=False)
        vocab = set(reference.vocab_dict)
        query = sorted(set(tokenize(doc.metadata["commit.message"] + " " + path_text(" ".join(
            f["path"] for f in doc.metadata["commit.files"])))) & vocab)
        expected = reference.get_scores(query)
        ours = snapshot.index.scores(query)
        assert np.allclose([ours.get(p, 0.0) for p in paths], expected, rtol=1e-6, atol=1e-9)
        compared += 1
    assert compared >= 5


def test_skips_have_their_own_reasons(repos):
    _, docs = repos["spf13__pflag"]
    base = next(d for d in docs if len(d.metadata["commit.files"]) >= 2 and len(d.metadata["commit.parents"]) == 1
                and len(d.text) < 8000 and all(not f["binary"] for f in d.metadata["commit.files"]))
    cases = {}

    def case(reason, **meta):
        doc = copy.deepcopy(base)
        doc.id = reason
        doc.metadata.update(meta)
        cases[reason] = doc

    case("merge_commit", **{"commit.parents": base.metadata["commit.parents"] * 2})
    case("empty_message", **{"commit.message": "  \n"})
    case("automated_message", **{"commit.author": "dependabot[bot]"})
    lock = [dict(f, path="web/package-lock.json") for f in base.metadata["commit.files"]]
    case("only_lockfile", **{"commit.files": lock})
    binary = [dict(f, binary=True) for f in base.metadata["commit.files"]]
    case("only_binary", **{"commit.files": binary})
    case("only_non_code", **{"commit.files": [binary[0], lock[1]]})
    case("no_changes", **{"commit.files": []})
    result = apply_step(CommitToChangePrediction(), list(cases.values()))
    assert result.reasons == {reason: reason for reason in cases}
    size = len(base.text)
    assert apply_step(CommitToChangePrediction(max_target_bytes=size // 4), [copy.deepcopy(base)]).reasons == \
        {base.id: "diff_too_large"}
    assert apply_step(CommitToChangePrediction(max_changed_files=1), [copy.deepcopy(base)]).reasons == \
        {base.id: "too_many_files"}
    assert apply_step(CommitToChangePrediction(max_sample_bytes=size // 2), [copy.deepcopy(base)]).reasons == \
        {base.id: "sample_too_large"}
    assert apply_step(CommitToChangePrediction(bot_patterns=[]), [cases["automated_message"]]).kept


def test_templates_are_checked_and_foreign_documents_dropped():
    assert CommitToChangePrediction().check() == []
    problems = CommitToChangePrediction(input_template="{message}{diff}", diff_template="{hunks").check()
    assert any("input_template: unknown placeholder(s) ['diff']" in p for p in problems)
    assert any(p.startswith("diff_template:") for p in problems)
    assert apply_step(CommitToChangePrediction(), [make_doc("print(1)", "a.py")]).reasons == {"a.py": "not_a_commit"}


def test_budgets_truncate_with_markers(repos):
    _, docs = repos["pallets__itsdangerous"]
    result = transform(docs[-80:], max_readme_bytes=600, max_file_bytes=700, max_tree_bytes=300,
                       max_context_bytes=2500, max_sample_bytes=12000, min_file_bytes=200)
    assert result.kept
    for sample in result.kept:
        assert len(sample.text.encode()) <= 12000
        inputs = sample.text[:sample.metadata["change.target_start"]]
        assert len(inputs.encode()) <= 12000
        truncated = sample.metadata["change.truncated"]
        assert inputs.count("[... truncated ") == len([t for t in truncated if not t.startswith("omitted:")])
    assert any("readme" in s.metadata["change.truncated"] for s in result.kept)
    assert any(t.startswith("file:") for s in result.kept for t in s.metadata["change.truncated"])


def test_retrieval_finds_changed_files_and_context_is_the_pre_commit_snapshot(repos):
    git_dir, docs = repos["jarro2783__cxxopts"]
    result = transform(docs)
    with_targets = [s for s in result.kept if s.metadata["change.retrieval_targets"]]
    hit_rate = sum(1 for s in with_targets if s.metadata["change.retrieval_hits"]) / len(with_targets)
    assert hit_rate > 0.5
    repo = pygit2.Repository(git_dir)
    sample = next(s for s in reversed(with_targets) if s.metadata["change.context_files"])
    parent = repo[sample.metadata["commit.parents"][0]]
    path = sample.metadata["change.context_files"][0]
    content = parent.tree[path].data.decode("utf-8", "replace")
    block = sample.text.split(f'<file path="{path}">\n', 1)[1].split("\n</file>", 1)[0]
    assert content.startswith(block.split("\n[... truncated ")[0])
    assert "<readme path=\"README.md\">" in sample.text


def test_commits_pipeline_end_to_end(repo_root, bundles, tmp_path):
    yaml_path = tmp_path / "commits.yaml"
    shutil.copy(repo_root / "pipelines" / "commits.yaml", yaml_path)
    meta = tmp_path / "stars.jsonl"
    meta.write_text(json.dumps({"repo": "spf13/pflag", "stars": 2500, "forks": 350}) + "\n" +
                    json.dumps({"repo": "jarro2783/cxxopts", "stars": 50, "forks": 500}) + "\n")
    out = tmp_path / "out"
    paths = json.dumps([str(bundles["spf13__pflag"]), str(bundles["jarro2783__cxxopts"])])
    run_cli("run", yaml_path, "-o", out, "--set", f"inputs[0].with.paths={paths}",
            "--set", f"steps[0].with.metadata_file={meta}", "--set", "executor.workers=1",
            "--set", "output.keep_excluded=true")
    samples = read_corpus(out)
    excluded = read_excluded(out)
    reasons = {r["metadata"]["drop.reason"] for r in excluded}
    assert samples and {s["metadata"]["repo"] for s in samples} == {"spf13/pflag"}
    assert {"merge_commit", "few_stars"} <= reasons
    assert all(r["metadata"]["drop.reason"] == "few_stars" for r in excluded
               if r["metadata"].get("repo") == "jarro2783/cxxopts" and r["metadata"]["drop.step"] != "source")
    assert all(s["text"].startswith("<commit_message>\n") for s in samples)
    again = run_cli("run", yaml_path, "-o", out, "--set", f"inputs[0].with.paths={paths}",
                    "--set", f"steps[0].with.metadata_file={meta}", "--set", "executor.workers=1",
                    "--set", "output.keep_excluded=true")
    assert "nothing to do" in again.stdout + again.stderr


def test_scores_do_not_depend_on_the_order_of_query_terms(repos):
    """Float sums in a fixed term order: the same ranking in every process (sets iterate by hash seed)."""
    git_dir, _ = repos["pallets__itsdangerous"]
    repo = pygit2.Repository(git_dir)
    index = IncrementalBM25()
    stack = [("", repo.revparse_single("HEAD").peel(pygit2.Tree))]
    while stack:
        prefix, tree = stack.pop()
        for entry in tree:
            if entry.type_str == "tree":
                stack.append((f"{prefix}{entry.name}/", repo[entry.id]))
            elif not repo[entry.id].is_binary:
                text = repo[entry.id].data.decode("utf-8", "replace")
                index.add(prefix + entry.name, tokenize(text), tokenize(path_text(prefix + entry.name)))
    terms = sorted(index.postings)
    rng = random.Random(0)
    for _ in range(50):
        query = rng.sample(terms, 12)
        assert index.scores(query) == index.scores(list(reversed(query)))
