"""`html_extract` on real pages: code blocks keep their line breaks and indentation; code markup is marked."""

from __future__ import annotations

import json

import pytest
from resiliparse.parse.html import HTMLTree

from curate.plugin import Reject
from curate.testing import apply_step, make_doc
from curate_plugins.html_extract import HtmlExtract
from curate_plugins.warc import WarcSource


@pytest.fixture(scope="module")
def pages(fixture_data):
    """(manifest row, html document) for every page of tests/data/web."""
    web = fixture_data / "web"
    manifest = {row["warc_record_id"]: row for row in map(json.loads, (web / "manifest.jsonl").open())}
    warc = str(web / "pages.warc.gz")
    docs = [d for d in WarcSource(paths=[warc]).read_shard(warc) if not isinstance(d, Reject)]
    return [(manifest[d.id], d) for d in docs]


@pytest.fixture(scope="module")
def extracted(pages):
    html = {doc.id: doc.text for _, doc in pages}
    result = apply_step(HtmlExtract(), [make_doc(doc.text, doc.id) for _, doc in pages])
    assert result.dropped == []
    return {doc.id: (html[doc.id], doc) for doc in result.kept}


def indented_code_lines(html: str) -> list[str]:
    tree = HTMLTree.parse(html)
    return [line.rstrip() for pre in tree.document.get_elements_by_tag_name("pre")
            for line in pre.text.split("\n") if line[:1] in (" ", "\t") and len(line.strip()) > 10]


def test_indented_code_lines_survive_verbatim(extracted):
    lines = found = 0
    for html, doc in extracted.values():
        for line in indented_code_lines(html):
            lines += 1
            found += line in doc.text
    assert lines > 2000  # the real pages hold thousands of indented lines inside <pre>
    assert found / lines >= 0.99, f"only {found} of {lines} indented code lines survived"


def test_a_python_docs_block_keeps_its_structure(pages, extracted):
    row = next(row for row, _ in pages if row["source"].get("path", "").endswith("/tutorial/controlflow.html"))
    text = extracted[row["warc_record_id"]][1].text
    assert "def fib(n):    # write Fibonacci series up to n\n" in text
    assert '\n...     """Print a Fibonacci series up to n."""\n...     a, b = 0, 1\n' in text


def test_code_markup_is_marked_and_counted(pages, extracted):
    by_label = {"code": [], "non-code": []}
    for row, _ in pages:
        doc = extracted[row["warc_record_id"]][1]
        by_label[row["label"]].append(doc.metadata)
        if doc.metadata["web.code_blocks"]:
            assert doc.metadata["web.has_code_markup"] is True
    code_marked = sum(m["web.has_code_markup"] for m in by_label["code"])
    other_marked = sum(m["web.has_code_markup"] for m in by_label["non-code"])
    assert code_marked >= 0.9 * len(by_label["code"]) and other_marked <= 0.05 * len(by_label["non-code"])
    assert sum(m["web.code_blocks"] for m in by_label["code"]) > 100


def test_page_without_text_is_dropped_with_reason():
    result = apply_step(HtmlExtract(), [make_doc("<html><head><script>var x = 1;</script></head><body></body></html>",
                                                 "empty"), make_doc("<p>Hello <code>x = 1</code> there</p>", "p")])
    assert result.reasons == {"empty": "no_text"}
    kept = result.kept[0]
    assert kept.metadata == {"web.has_code_markup": True, "web.code_blocks": 0, "web.code_tags": 1}
    assert "x = 1" in kept.text
