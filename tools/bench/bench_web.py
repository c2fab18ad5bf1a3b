"""Benchmark: WARC read -> HTML extraction -> fastText classification, curate vs datatrove, on the same pages.

First, the two choices behind the plugins: FastWARC vs warcio (parsing speed), and Resiliparse vs trafilatura
(indented lines of <pre> blocks kept verbatim). Then the end-to-end comparison:

ours:      `warc` source (FastWARC) -> `html_extract` (Resiliparse) -> `fasttext_classifier`
reference: datatrove WarcReader (warcio) -> Trafilatura -> FastTextClassifierFilter

Both classify with the same fastText model (trained by `curate train fasttext`; by default the shipped
models/web-code/model.ftz) and read the same WARC (by default the 127 real pages of tests/data/web).
Runs are interleaved (ours, reference, ours, ...) because the machine is shared and timings are noisy.
Rates are per core: one process each. datatrove's extractor runs Trafilatura in a sandbox subprocess, so its CPU
time includes that child's. MB are MB of HTML payload.

    python tools/bench/bench_web.py [--warc PATH] [--model PATH] [--repeat 3]

Needs the `bench` extra (`pip install -e '.[bench]'`: the web family, trafilatura and datatrove's io extra).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def html_megabytes(warc: str) -> tuple[int, float]:
    from curate.plugin import Reject
    from curate_plugins.warc import WarcSource

    docs = [d for d in WarcSource(paths=[warc]).read_shard(warc) if not isinstance(d, Reject)]
    return len(docs), sum(d.metadata["web.bytes"] for d in docs) / 1e6


def run_ours(warc: str, model: str, threshold: float) -> int:
    from curate.plugin import Reject
    from curate_plugins.fasttext_classifier import FasttextClassifier
    from curate_plugins.html_extract import HtmlExtract
    from curate_plugins.warc import WarcSource

    docs = (d for d in WarcSource(paths=[warc]).read_shard(warc) if not isinstance(d, Reject))
    extracted = HtmlExtract().run(docs)
    kept = FasttextClassifier(model=model, threshold=threshold, keep_if_key=None).run(extracted)
    return sum(1 for _ in kept)


def run_reference(warc: str, model: str, threshold: float) -> int:
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import FastTextClassifierFilter
    from datatrove.pipeline.readers import WarcReader

    path = Path(warc)
    docs = WarcReader(str(path.parent), glob_pattern=path.name).run()
    extracted = Trafilatura(favour_precision=True, timeout=120).run(docs)
    kept = FastTextClassifierFilter(model, keep_labels=("pos", threshold)).run(extracted)
    return sum(1 for _ in kept)


def compare_parsers(warc: str, repeat: int) -> None:
    """FastWARC vs warcio: read every response payload of the file (what chose FastWARC for `warc`)."""
    import warcio
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    def fastwarc_read():
        with open(warc, "rb") as handle:
            return sum(len(r.reader.read()) for r in ArchiveIterator(handle, record_types=WarcRecordType.response))

    def warcio_read():
        with open(warc, "rb") as handle:
            return sum(len(r.content_stream().read()) for r in warcio.ArchiveIterator(handle)
                       if r.rec_type == "response")

    best = {}
    for _ in range(repeat):
        for name, fn in (("fastwarc", fastwarc_read), ("warcio", warcio_read)):
            wall, _, nbytes = timed(fn)
            best[name] = min(best.get(name, wall), wall)
    print(f"WARC parsing ({nbytes / 1e6:.1f} MB payload): fastwarc {nbytes / 1e6 / best['fastwarc']:.0f} MB/s, "
          f"warcio {nbytes / 1e6 / best['warcio']:.0f} MB/s, ratio {best['warcio'] / best['fastwarc']:.1f}x")


def compare_extractors(warc: str) -> None:
    """Share of indented lines of <pre> blocks found verbatim in the text, Resiliparse vs trafilatura."""
    import trafilatura
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    from curate.plugin import Reject
    from curate_plugins.warc import WarcSource

    pages = [d.text for d in WarcSource(paths=[warc]).read_shard(warc) if not isinstance(d, Reject)]
    extractors = {"resiliparse": lambda h: extract_plain_text(h, preserve_formatting=True, main_content=True),
                  "trafilatura": lambda h: trafilatura.extract(h, include_formatting=True, favor_recall=True) or ""}
    found, seconds, total = {name: 0 for name in extractors}, {name: 0.0 for name in extractors}, 0
    for html in pages:
        lines = [ln.rstrip() for pre in HTMLTree.parse(html).document.get_elements_by_tag_name("pre")
                 for ln in pre.text.split("\n") if ln[:1] in (" ", "\t") and len(ln.strip()) > 10]
        total += len(lines)
        for name, extract in extractors.items():
            wall, _, text = timed(extract, html)
            seconds[name] += wall
            found[name] += sum(line in text for line in lines)
    print("indented <pre> lines kept verbatim: " + ", ".join(
        f"{name} {found[name]}/{total} ({seconds[name]:.1f} s)" for name in extractors))


def timed(fn, *args) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of this process and finished children, result)."""
    before = _cpu()
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, _cpu() - before, result


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warc", default=str(REPO / "tests" / "data" / "web" / "pages.warc.gz"))
    parser.add_argument("--model", default=str(REPO / "models" / "web-code" / "model.ftz"))
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-extractor-check", action="store_true",
                        help="Skip the Resiliparse vs trafilatura code-indentation comparison.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        warc = str(Path(tmp) / Path(args.warc).name)  # a folder of its own: WarcReader reads a folder
        shutil.copyfile(args.warc, warc)
        pages, mb = html_megabytes(warc)
        print(f"{pages} pages, {mb:.1f} MB of HTML ({Path(args.warc).name}); model {args.model}")
        compare_parsers(warc, args.repeat)
        if not args.skip_extractor_check:
            compare_extractors(warc)
        results = {"ours": [], "reference": []}
        for round_no in range(args.repeat):
            for name, fn in (("ours", run_ours), ("reference", run_reference)):
                wall, cpu, kept = timed(fn, warc, args.model, args.threshold)
                results[name].append((wall, cpu))
                print(f"  round {round_no + 1} {name:9s}: {wall:6.2f} s wall, {cpu:6.2f} s CPU, kept {kept}")
    report(results, pages, mb)


def report(results: dict, pages: int, mb: float) -> None:
    best = {name: (min(w for w, _ in runs), min(c for _, c in runs)) for name, runs in results.items()}
    print(f"\n{'':10s} {'pages/s (wall)':>15s} {'MB/s (wall)':>12s} {'pages/s (CPU)':>14s} {'MB/s (CPU)':>11s}")
    for name, (wall, cpu) in best.items():
        print(f"{name:10s} {pages / wall:15.1f} {mb / wall:12.2f} {pages / cpu:14.1f} {mb / cpu:11.2f}")
    ratio_wall = best["reference"][0] / best["ours"][0]
    ratio_cpu = best["reference"][1] / best["ours"][1]
    print(f"\nours / reference throughput: {ratio_wall:.1f}x (wall), {ratio_cpu:.1f}x (CPU); best of "
          f"{len(results['ours'])} interleaved runs, one process each, on a shared machine (noisy).")


if __name__ == "__main__":
    main()
