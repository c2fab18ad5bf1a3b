"""tools/make_bench_corpus.py: a deterministic corpus of real code already on the machine, never written over
a folder that is not one."""

from __future__ import annotations

import json
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
