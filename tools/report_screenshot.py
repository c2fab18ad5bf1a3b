#!/usr/bin/env python3
"""Screenshot of the HTML corpus report, taken in headless Chromium (Debian package `chromium`).

    python tools/report_screenshot.py                       # build the showcase corpus, write docs/report.png
    python tools/report_screenshot.py --corpus out/github-files --out /tmp/report.png

The showcase corpus (out/report-showcase/) is the main job followed by Seed-Coder's quality filter, run in two
incremental runs over the embedded input (four repositories, then the other three): language -> exact dedup
-> heuristics -> tree-sitter syntax -> oracle labels -> distilled scorer -> `quality.score` -> drop the
bottom 10%. The oracle is the local proxy-rubric server (curate_plugins._quality.proxy_server), because no
LLM runs offline here: its ratings are a rubric of surface signals, not an LLM's judgement.

The page is rendered at a fixed width with a tall window, then the empty bottom is trimmed and the PNG is
reduced to a 256-colour palette so that it stays small enough to commit.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]
REPOS = ["DaveGamble__cJSON", "dtolnay__anyhow", "jarro2783__cxxopts", "pallets__itsdangerous", "spf13__pflag",
         "square__javapoet", "tj__commander.js"]


class ScreenshotError(Exception):
    """Chromium is missing or did not produce the picture."""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise ScreenshotError("headless Chromium is not installed (Debian: apt-get install chromium)")


def screenshot(html: Path, png: Path, width: int = 1100, height: int = 9000, timeout: float = 120) -> Path:
    """Render ``html`` in headless Chromium and save a trimmed, palette-reduced PNG at ``png``."""
    with tempfile.TemporaryDirectory(prefix="curate-chromium-") as profile:
        raw = Path(profile) / "raw.png"
        proc = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}/user",
                               f"--window-size={width},{height}", f"--screenshot={raw}", html.resolve().as_uri()],
                              capture_output=True, text=True, timeout=timeout)
        if not raw.is_file():
            raise ScreenshotError(f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}")
        png.parent.mkdir(parents=True, exist_ok=True)
        _trim_and_save(raw, png)
    return png


def _trim_and_save(raw: Path, png: Path, margin: int = 24) -> None:
    from PIL import Image, ImageChops

    image = Image.open(raw).convert("RGB")
    background = Image.new("RGB", image.size, image.getpixel((image.width - 1, image.height - 1)))
    box = ImageChops.difference(image, background).getbbox()
    if box:
        image = image.crop((0, 0, image.width, min(image.height, box[3] + margin)))
    _save_small(image, png)


def _save_small(image, png: Path) -> None:
    from PIL import Image

    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(png, optimize=True)


def save_top(png: Path, top: Path, height: int) -> Path:
    """The first ``height`` pixels of a screenshot (the README shows the top of the page, linking the whole)."""
    from PIL import Image

    image = Image.open(png).convert("RGB")
    _save_small(image.crop((0, 0, image.width, min(height, image.height))), top)
    return top


@contextmanager
def proxy_oracle():
    """The local OpenAI-compatible proxy-rubric server; yields its /v1 base URL."""
    from curate_plugins._quality.proxy_server import serving

    with ExitStack() as stack:
        try:
            base_url = stack.enter_context(serving())
        except RuntimeError as exc:
            raise ScreenshotError(str(exc)) from None
        yield base_url


def showcase_pipeline(shards: list[str], out: Path, base_url: str) -> dict:
    labels = out / "labels"
    return {
        "name": "github-files-quality",
        "inputs": [{"source": "jsonl", "with": {"paths": shards}}],
        "output": {"dir": str(out / "corpus")},
        "steps": [
            {"uses": "language_from_extension"}, {"uses": "exact_dedup"}, {"uses": "code_heuristics"},
            {"uses": "treesitter_syntax"},
            {"uses": "llm_quality", "with": {"sample_fraction": 0.3, "cache": str(labels / "labels.sqlite"),
                                             "backend": {"kind": "openai", "model": "proxy-rubric",
                                                         "base_url": base_url, "api": "completions"}}},
            {"uses": "train_quality_scorer", "with": {"cache": str(labels / "labels.sqlite"),
                                                      "out": str(labels / "scorer")}},
            {"uses": "quality_scorer", "with": {"model": str(labels / "scorer")}},
            {"uses": "drop_bottom_fraction", "with": {"key": "quality.score", "fraction": 0.1, "group_by": "lang"}},
        ],
    }


def build_showcase(out: Path) -> Path:
    """Two incremental runs of the showcase pipeline into ``out/corpus`` (replaced); returns the corpus."""
    from curate.testing import run_pipeline_dict

    shutil.rmtree(out, ignore_errors=True)
    shards = [str(REPO / "examples" / "data" / "github" / f"{name}.jsonl.zst") for name in REPOS]
    with proxy_oracle() as base_url:
        for batch in (shards[:4], shards):
            run_pipeline_dict(showcase_pipeline(batch, out, base_url), workers=2)
    return out / "corpus"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=None, help="screenshot this corpus instead of building the showcase")
    parser.add_argument("--out", default=str(REPO / "docs" / "report.png"), help="PNG to write (docs/report.png)")
    parser.add_argument("--html", default=None, help="also keep the HTML page here")
    parser.add_argument("--width", type=int, default=1100)
    parser.add_argument("--top", type=int, default=1480, help="also write the page's first TOP pixels to "
                                                              "OUT with a -top suffix (0: no)")
    args = parser.parse_args(argv)
    from curate.report import corpus_facts
    from curate.report_html import write_html

    corpus = Path(args.corpus) if args.corpus else build_showcase(REPO / "out" / "report-showcase")
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(args.html) if args.html else Path(tmp) / "report.html"
        facts = corpus_facts(str(corpus))
        facts["corpus"] = corpus.name if args.corpus is None else facts["corpus"]
        write_html(facts, str(html))
        try:
            png = screenshot(html, Path(args.out), width=args.width)
        except ScreenshotError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print(f"{png} ({png.stat().st_size / 1e3:.0f} KB)")
    if args.top:
        top = save_top(png, png.with_name(f"{png.stem}-top{png.suffix}"), args.top)
        print(f"{top} ({top.stat().st_size / 1e3:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
