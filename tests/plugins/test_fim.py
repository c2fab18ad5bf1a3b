"""fim: SPM/PSM rewriting on real files; the three parts reassemble the original exactly; rate; determinism."""

from __future__ import annotations

import glob

import pytest
from pydantic import ValidationError

from curate.io import iter_shard
from curate.testing import apply_step, make_doc
from curate_plugins.fim import Fim, fim_parts


@pytest.fixture(scope="module")
def real_docs(repo_root):
    """The files of seven real repositories (examples/data/github), as documents."""
    recs = [r for p in sorted(glob.glob(str(repo_root / "examples/data/github/*.jsonl.zst"))) for r in iter_shard(p)]
    assert len(recs) > 500
    return recs


def _docs(recs):
    return [make_doc(r["text"], r["id"], path=r["path"]) for r in recs]


@pytest.mark.parametrize("fmt", ["spm", "psm"])
def test_prefix_middle_suffix_reassemble_the_original(fmt, real_docs):
    out = apply_step(Fim({"rate": 1.0, "format": fmt}), _docs(real_docs))
    assert not out.dropped and len(out.kept) == len(real_docs)
    first = {"spm": "<|fim_suffix|>", "psm": "<|fim_prefix|>"}[fmt]
    for original, doc in zip(real_docs, out.kept):
        if not original["text"]:  # an empty file has nothing to split
            assert doc.metadata["fim.applied"] is False and doc.text == ""
            continue
        assert doc.metadata["fim.applied"] and doc.metadata["fim.format"] == fmt
        assert doc.text.startswith(first)
        prefix, middle, suffix = fim_parts(doc.text, doc.metadata)
        assert prefix + middle + suffix == original["text"]


def test_spm_layout_matches_seed_coder():
    doc = apply_step(Fim({"rate": 1.0, "seed": 3}), [make_doc("abcdefghij" * 3, "x")]).kept[0]
    prefix, middle, suffix = fim_parts(doc.text, doc.metadata)
    assert doc.text == f"<|fim_suffix|>{suffix}<|fim_prefix|>{prefix}<|fim_middle|>{middle}"


def test_custom_sentinels_even_when_the_text_contains_them():
    params = {"rate": 1.0, "prefix_token": "<PRE>", "middle_token": "<MID>", "suffix_token": "<SUF>"}
    text = "x = '<PRE><MID><SUF>'\n" * 20
    docs = [make_doc(text, f"d{i}") for i in range(50)]
    for doc in apply_step(Fim(params), docs).kept:
        assert doc.text.startswith("<SUF>")
        assert "".join(fim_parts(doc.text, doc.metadata, Fim.Params(**params))) == text


def test_rate_is_respected(real_docs):
    docs = [make_doc(r["text"], f"{r['id']}#{k}") for k in range(3) for r in real_docs]  # ~2,200 ids
    for rate in (0.5, 0.1):
        applied = sum(d.metadata["fim.applied"] for d in apply_step(Fim({"rate": rate}), docs).kept)
        share = applied / len(docs)
        assert abs(share - rate) < 5 * (rate * (1 - rate) / len(docs)) ** 0.5, (rate, share)
    assert not any(d.metadata["fim.applied"] for d in apply_step(Fim({"rate": 0.0}), _docs(real_docs)).kept)


def test_split_is_deterministic_per_document_id_and_seed(real_docs):
    a = [d.text for d in apply_step(Fim({"rate": 0.5}), _docs(real_docs)).kept]
    b = [d.text for d in apply_step(Fim({"rate": 0.5}), list(reversed(_docs(real_docs)))).kept]
    assert a == list(reversed(b))  # depends on the id, not on the position in the stream
    c = [d.text for d in apply_step(Fim({"rate": 0.5, "seed": 1}), _docs(real_docs)).kept]
    assert a != c


def test_split_points_cover_the_whole_text():
    docs = [make_doc("0123456789", f"id{i}") for i in range(400)]
    splits = {(d.metadata["fim.prefix_chars"], d.metadata["fim.middle_chars"])
              for d in apply_step(Fim({"rate": 1.0}), docs).kept}
    assert any(p == 0 for p, _ in splits) and any(p + m == 10 for p, m in splits)  # both ends reachable
    assert len(splits) > 30


def test_mixed_spm_psm_and_short_documents():
    docs = [make_doc("some code here\n" * 5, f"id{i}") for i in range(300)] + [make_doc("", "empty")]
    kept = apply_step(Fim({"rate": 1.0, "spm_rate": 0.5}), docs).kept
    formats = {d.metadata.get("fim.format") for d in kept if d.metadata["fim.applied"]}
    assert formats == {"spm", "psm"}
    assert kept[-1].text == "" and kept[-1].metadata["fim.applied"] is False


def test_sentinels_must_differ():
    with pytest.raises(ValidationError, match="three different"):
        Fim({"prefix_token": "<X>", "middle_token": "<X>"})
