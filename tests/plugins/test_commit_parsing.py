"""git_commits on real history whose file bytes break naive parsers, and `.gitattributes` binary marks.

The fixture is real: the first 39 commits of mitsuhiko/deser, whose commit aef0611 adds a real Adobe
Illustrator file (1.2 MB, no NUL in its first 8,000 bytes, so git diffs it as text; 4,653 bytes 0x1E in it).
Before the fix this history crashed the run (`ValueError: not enough values to unpack`), and so did a rerun.
"""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pygit2
import pytest
from _commits_helpers import bare_clone, git_show, non_merge_commits

from curate import Reject
from curate.testing import apply_step, read_corpus, read_excluded, run_pipeline_dict
from curate_plugins._commits.attributes import rebase_line
from curate_plugins._commits.history import _records, log_commits
from curate_plugins.commit_to_change_prediction import CommitToChangePrediction
from curate_plugins.git_commits import GitCommits

DESER = Path(__file__).resolve().parents[1] / "data" / "git_tricky" / "mitsuhiko__deser.bundle"
AI_COMMIT = "aef06112e0e1752b3692792531aa7afe4e02c928"
AI_PATH = "artwork/logo.ai"
FIXED = {"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.org", "GIT_AUTHOR_DATE": "1700000000 +0000",
         "GIT_COMMITTER_NAME": "A", "GIT_COMMITTER_EMAIL": "a@example.org", "GIT_COMMITTER_DATE": "1700000000 +0000",
         "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


@pytest.fixture(scope="module")
def deser(tmp_path_factory) -> str:
    return bare_clone(DESER, tmp_path_factory.mktemp("deser") / "deser.git")


def read(path, **params) -> list:
    source = GitCommits({"paths": [str(path)], **params})
    return [d for d in source.read_shard(source.list_shards()[0]) if not isinstance(d, Reject)]


def test_illustrator_file_diffed_as_text_is_one_file_of_its_commit(deser):
    docs = read(deser)
    assert [d.metadata["commit.sha"] for d in docs] == non_merge_commits(deser)
    doc = next(d for d in docs if d.metadata["commit.sha"] == AI_COMMIT)
    expected = git_show(deser, AI_COMMIT)
    files = doc.metadata["commit.files"]
    assert [(f["status"], f["path"], f["binary"]) for f in files] == [(e["status"], e["path"], e["binary"])
                                                                      for e in expected]
    assert [f["path"] for f in files] == ["README.md", AI_PATH, "artwork/logo.svg"]
    for f, e in zip(files, expected):
        section = doc.text[f["start"]:f["end"]]
        assert section[section.find("\n@@ ") + 1:] == e["hunks"]
    ai = next(f for f in files if f["path"] == AI_PATH)
    assert doc.text[ai["start"]:ai["end"]].count("\x1e") > 4000  # the bytes that broke the old parser
    show = subprocess.run(["git", "--git-dir", deser, "show", "-s", "--format=%B", AI_COMMIT], capture_output=True,
                          check=True).stdout.decode()
    assert doc.metadata["commit.message"] == show.rstrip("\n")


def test_a_run_and_its_rerun_get_past_it(tmp_path):
    pipeline = {"name": "commits", "inputs": [{"source": "git_commits", "with": {"paths": [str(DESER)]}}],
                "output": {"dir": str(tmp_path / "out")}, "executor": {"kind": "local", "workers": 1},
                "steps": [{"uses": "commit_to_change_prediction"}]}
    first = run_pipeline_dict(pipeline)
    kept = read_corpus(tmp_path / "out", first.run_id)
    excluded = read_excluded(tmp_path / "out", first.run_id)
    assert len(kept) + len(excluded) == 39  # every commit accounted for
    ai = next(r for r in kept + excluded if r["metadata"]["commit.sha"] == AI_COMMIT)
    assert ai["metadata"].get("drop.reason") == "diff_too_large"  # git said text: 5,766 lines of PDF
    assert run_pipeline_dict(pipeline).status == "nothing-to-do"


def test_chunk_boundaries_do_not_change_records(deser):
    def records(chunk, include):
        return [(c.sha, c.patch, [f.as_dict() for f in c.files]) for c in log_commits(deser, include, [], chunk=chunk)]

    whole = records(1 << 20, [AI_COMMIT])
    assert records(4093, [AI_COMMIT]) == whole
    early = non_merge_commits(deser)[9]
    assert records(7, [early]) == records(1 << 20, [early])


def test_a_false_commit_start_stays_inside_its_record(deser):
    repo = pygit2.Repository(deser)
    first, second = non_merge_commits(deser)[:2]
    patch = (b"diff --git a/x b/x\n+a\n\x1enot a commit\n+b\n\x1e" + b"0" * 40 + b"\n+c\n\x1e" + b"f" * 64
             + b"\n+d\n")
    stream = b"\x1e" + first.encode() + b"\n\n" + patch + b"\x1e" + second.encode() + b"\n"
    for chunk in (1, 5, 1 << 20):
        out = [(str(commit.id), raw) for commit, raw in _records(io.BytesIO(stream), repo, chunk)]
        assert out == [(first, patch), (second, b"")]


def _commit_all(work: Path, message: str) -> None:
    env = {**os.environ, **FIXED}
    subprocess.run(["git", "-C", str(work), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(work), "commit", "-q", "-m", message], check=True, env=env)


ATTRIBUTES = [(".gitattributes", b"*.ai binary\n"), ("artwork/.gitattributes", b"*.ai -diff\n"),
              (".gitattributes", b"# art\n/artwork/*.ai binary\n")]


@pytest.fixture(scope="module", params=ATTRIBUTES, ids=["root", "nested", "anchored"])
def attributed(request, deser, tmp_path_factory):
    """A history made of real files: commit 1 adds deser's logo.ai and README next to a `.gitattributes`
    marking `*.ai` binary; commit 2 adds deser's logo.svg and changes the README."""
    where, rule = request.param
    work = tmp_path_factory.mktemp("attributed") / "work"
    env = {**os.environ, **FIXED}
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True, env=env)

    def put(path, data):
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_bytes(data)

    def blob(path):
        return subprocess.run(["git", "--git-dir", deser, "show", f"{AI_COMMIT}:{path}"], capture_output=True,
                              check=True).stdout

    put(where, rule)
    put(AI_PATH, blob(AI_PATH))
    put("README.md", blob("README.md"))
    _commit_all(work, "Add the logo")
    put("artwork/logo.svg", blob("artwork/logo.svg"))
    put("README.md", blob("README.md") + b"\nSee the artwork folder.\n")
    _commit_all(work, "Add the SVG logo")
    return work, bare_clone(work, work.parent / "bare.git")


def test_gitattributes_binary_is_respected(attributed):
    work, bare = attributed
    first = non_merge_commits(bare)[0]
    in_checkout = subprocess.run(["git", "-C", str(work), "show", "--full-index", "--format=", first, "--", AI_PATH],
                                 capture_output=True, check=True).stdout.decode()
    assert "Binary files /dev/null and b/artwork/logo.ai differ" in in_checkout  # git in the working copy
    bare_show = subprocess.run(["git", "--git-dir", bare, "show", "--format=", first, "--", AI_PATH],
                               capture_output=True, check=True, cwd=bare).stdout.decode("utf-8", "replace")
    assert "@@ -0,0 +1,5766 @@" in bare_show  # a bare repository alone ignores .gitattributes
    docs = read(bare)
    assert [d.metadata["commit.message"] for d in docs] == ["Add the logo", "Add the SVG logo"]
    ai = next(f for f in docs[0].metadata["commit.files"] if f["path"] == AI_PATH)
    assert ai["binary"] and ai["status"] == "A"
    assert docs[0].text[ai["start"]:ai["end"]] == in_checkout
    sample = apply_step(CommitToChangePrediction({}), docs)
    first_sample = next(d for d in sample.kept if d.id.endswith(first))
    assert first_sample.metadata["change.omitted_files"] == {AI_PATH: "binary"}
    assert AI_PATH not in first_sample.metadata["change.paths"] and "README.md" in first_sample.metadata["change.paths"]
    assert AI_PATH not in first_sample.text


@pytest.mark.parametrize(("line", "prefix", "expected"), [
    (b"*.ai binary", b"", b"*.ai binary"),
    (b"*.ai binary", b"artwork/", b"artwork/**/*.ai binary"),
    (b"/x/*.ai -diff", b"artwork/", b"artwork/x/*.ai -diff"),
    (b"x/*.ai -diff", b"a/b/", b"a/b/x/*.ai -diff"),
    (b"[attr]art binary", b"", b"[attr]art binary"),
    (b"[attr]art binary", b"artwork/", None),
    (b"# comment", b"", None),
    (b"", b"artwork/", None),
])
def test_nested_attribute_rules_are_rebased_to_the_root(line, prefix, expected):
    assert rebase_line(line, prefix) == expected
