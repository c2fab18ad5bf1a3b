"""tools/make_bench_corpus.py: a deterministic corpus of real code already on the machine, never written over
a folder that is not one."""

from __future__ import annotations

import json
import re
import sysconfig
from pathlib import Path

import make_bench_corpus as mbc
import pytest

STDLIB = Path(sysconfig.get_paths()["stdlib"])


@pytest.fixture
def small_roots(monkeypatch):
    """Two real folders of the standard library instead of whole trees, so that the tests stay fast."""
    monkeypatch.setattr(mbc, "roots", lambda: iter([(STDLIB / "asyncio", "cpython-stdlib", 0.35),
                                                     (STDLIB / "email", "site-packages", 0.65)]))


def shard_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.glob("shard-*.jsonl"))}


def test_builds_real_code_deterministically_within_the_budget(small_roots, tmp_path):
    summary = mbc.build(tmp_path / "a", mb=0.3, shards=3)
    again = mbc.build(tmp_path / "b", mb=0.3, shards=3)
    assert shard_bytes(tmp_path / "a") == shard_bytes(tmp_path / "b") and len(shard_bytes(tmp_path / "a")) == 3
    docs = [json.loads(line) for f in sorted((tmp_path / "a").glob("shard-*.jsonl")) for line in f.open()]
    assert summary == {**again, "dir": str(tmp_path / "a")} and summary["docs"] == len(docs)
    repos = {d["repo"] for d in docs}
    assert "cpython-stdlib" in repos and any(r.startswith("site-packages/") for r in repos)  # grouped by package
    assert {d["lang"] for d in docs} == {"python"}
    assert all(set(d) == {"id", "text", "path", "repo", "lang"} and d["text"].strip() for d in docs)
    assert len({d["id"] for d in docs}) == len(docs)
    # each source stops at its share of the budget: at most one file past it
    stdlib = [len(d["text"].encode()) for d in docs if d["repo"] == "cpython-stdlib"]
    assert sum(stdlib) - max(stdlib) < 0.35 * 0.3e6 <= sum(stdlib)


def test_refuses_to_replace_a_folder_that_is_not_a_corpus(small_roots, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(mbc.CorpusError, match="not a benchmark corpus"):
        mbc.build(tmp_path, mb=0.1)
    assert mbc.main([str(tmp_path), "--mb", "0.1"]) == 2
    assert "choose another folder" in capsys.readouterr().err and (tmp_path / "notes.txt").read_text() == "mine"


def test_ensure_corpus_builds_once_then_reuses(small_roots, tmp_path, monkeypatch):
    calls = []
    real_build = mbc.build
    monkeypatch.setattr(mbc, "build", lambda out, mb: calls.append(mb) or real_build(out, mb, 2))
    folder = mbc.ensure_corpus(tmp_path / "bench", mb=0.2)
    assert mbc.ensure_corpus(folder, mb=0.2) == folder and calls == [0.2]
    assert mbc.DEFAULT_DIR.relative_to(mbc.REPO).as_posix() == "out/bench-corpus"



def test_the_real_sources_are_the_interpreter_and_system_code():
    sources = list(mbc.roots())
    assert [label for _, label, _ in sources][:3] == ["cpython-stdlib", "site-packages", "system-include"]
    assert sources[0][0] == STDLIB and abs(sum(share for _, _, share in sources[:4]) - 0.95) < 1e-9


def test_grows_with_diverged_forks_and_planted_copies(small_roots, tmp_path):
    """Beyond the sources (0.87 MB here), forks with renamed identifiers: valid code of the same size that is
    no duplicate; and a share of exact and near copies placed after their source, so dedup has work."""
    from curate_plugins._minhash.hashing import jaccard, shingle_set
    from curate_plugins.lib.treesitter import parse_document

    summary = mbc.build(tmp_path / "g", mb=1.5, shards=2, copies=0.2, grow=True)
    assert mbc.build(tmp_path / "again", mb=1.5, shards=2, copies=0.2, grow=True)["kinds"] == summary["kinds"]
    assert shard_bytes(tmp_path / "g") == shard_bytes(tmp_path / "again")
    assert set(summary["kinds"]) == {"real", "fork", "exact", "near"} and 1.5 <= summary["mb"] < 1.7
    docs = [json.loads(line) for f in sorted((tmp_path / "g").glob("shard-*.jsonl")) for line in f.open()]
    by_id = {d["id"]: d for d in docs}
    assert len(by_id) == len(docs)
    copies = sum(len(d["text"].encode()) for d in docs if "~exact" in d["id"] or "~near" in d["id"])
    assert 0.18 < copies / 1.5e6 < 0.25
    source = {d["id"]: by_id[d["id"].rsplit("~", 1)[0]] for d in docs if "~" in d["id"]}
    forks = [d for d in docs if re.fullmatch(r"[0-9a-f]+~fork\d+", d["id"])][:40]
    for fork in forks:
        original = source[fork["id"]]["text"]
        assert abs(len(fork["text"]) - len(original)) <= len(original) // 100 and fork["text"] != original
        assert parse_document(fork["text"], "python").errors.count == parse_document(original, "python").errors.count
        if len(original) > 2000:
            assert jaccard(shingle_set(fork["text"], 5), shingle_set(original, 5)) < 0.3
    position = {json.loads(line)["id"]: j * 2 + s for s, f in enumerate(sorted((tmp_path / "g").glob("shard-*")))
                for j, line in enumerate(f.open())}  # documents are dealt round-robin to the shards
    assert all(position[i] > position[s["id"]] for i, s in source.items())
    near = [d for d in docs if "~near" in d["id"] and len(d["text"]) > 2000]
    similar = [jaccard(shingle_set(d["text"], 5), shingle_set(source[d["id"]]["text"], 5)) for d in near]
    assert near and sum(j >= 0.7 for j in similar) / len(similar) > 0.8
    assert all(d["text"] == source[d["id"]]["text"] for d in docs if "~exact" in d["id"])
