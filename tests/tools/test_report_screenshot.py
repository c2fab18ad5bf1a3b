"""tools/report_screenshot.py: the HTML report rendered by headless Chromium into a trimmed PNG."""

from __future__ import annotations

import shutil

import pytest
import report_screenshot as shot
from PIL import Image

from curate.report import corpus_facts
from curate.report_html import write_html
from curate.testing import run_pipeline_dict


@pytest.fixture(scope="module")
def page(default_input, tmp_path_factory):
    root = tmp_path_factory.mktemp("shot")
    shard = str(default_input / "spf13__pflag.jsonl.zst")
    run_pipeline_dict({"name": "one-repo", "output": {"dir": str(root / "corpus")},
                       "inputs": [{"source": "jsonl", "with": {"paths": [shard]}}],
                       "steps": [{"uses": "language_from_extension"}, {"uses": "code_heuristics"}]})
    html = root / "report.html"
    write_html(corpus_facts(str(root / "corpus")), str(html))
    return html


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium is not installed (.ci/run installs it)")
def test_chromium_renders_the_report_into_a_trimmed_png(page, tmp_path):
    png = shot.screenshot(page, tmp_path / "report.png", width=900, height=6000)
    image = Image.open(png)
    assert image.width == 900 and 1500 < image.height < 6000  # trimmed to the page, not the window
    colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is not None and len(colours) > 20  # charts and text, not a blank page
    blue = sum(count for count, (r, g, b) in colours if b > 150 and r < 90)  # the bars (#2f6db5)
    assert blue > 2000


def test_a_missing_chromium_is_a_clear_error(page, tmp_path, monkeypatch):
    monkeypatch.setattr(shot.shutil, "which", lambda name: None)
    with pytest.raises(shot.ScreenshotError, match="apt-get install chromium"):
        shot.screenshot(page, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
