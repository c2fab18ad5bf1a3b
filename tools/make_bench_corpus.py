#!/usr/bin/env python3
"""Build the benchmark corpus: real third-party source code that is already on any machine of this kind.

    python tools/make_bench_corpus.py [OUT] [--mb 150] [--shards 8]      # OUT defaults to out/bench-corpus

Sources, all written by third parties: the Python standard library and site-packages of the running
interpreter, C/C++ headers under /usr/include, and the JavaScript of Node.js's global modules (npm). Each
source gets a share of the size budget. It writes OUT/shard-XXXXX.jsonl (fields: id, text, path, repo,
lang), deterministic for a given machine image and interpreter, and prints a JSON summary. The shards are
written to a temporary folder and renamed into place, so an interrupted build never leaves a partial corpus.

Benchmarks call ``ensure_corpus()``: it builds the corpus on first use and reuses it afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import sysconfig
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DIR = REPO / "out" / "bench-corpus"
DEFAULT_MB = 150.0
LANG = {".py": "python", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".hpp": "cpp", ".hh": "cpp",
        ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript"}
MAX_CHARS = 2_000_000
#: repo labels whose documents are grouped by their first path component (the package)
GROUPED = ("site-packages", "node_modules", "system-include")


def roots() -> Iterator[tuple[Path, str, float]]:
    """(root folder, repo label, share of the size budget) of every source, in order."""
    paths = sysconfig.get_paths()
    yield Path(paths["stdlib"]), "cpython-stdlib", 0.35
    yield Path(paths["purelib"]), "site-packages", 0.25
    yield Path("/usr/include"), "system-include", 0.30
    for node_lib in ("/usr/lib/node_modules", "/usr/local/lib/node_modules"):
        yield Path(node_lib), "node_modules", 0.05


def documents(root: Path, repo: str, budget: float) -> Iterator[dict]:
    """UTF-8 source files under ``root`` in sorted order until ``budget`` bytes are reached."""
    used = 0
    for path in sorted(root.rglob("*")):
        lang = LANG.get(path.suffix)
        if not lang or path.is_symlink() or not path.is_file():
            continue
        try:
            text = path.read_text("utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if not text.strip() or len(text) > MAX_CHARS:
            continue
        rel = path.relative_to(root).as_posix()
        package = rel.split("/")[0] if repo in GROUPED else ""
        yield {"id": hashlib.sha1(f"{repo}/{rel}".encode()).hexdigest()[:16], "text": text, "path": rel,
               "repo": f"{repo}/{package}".rstrip("/"), "lang": lang}
        used += len(text.encode())
        if used >= budget:
            return


class CorpusError(Exception):
    """The output folder holds something other than a benchmark corpus."""


def _check_replaceable(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(not p.name.startswith("shard-") for p in out.iterdir())):
        raise CorpusError(f"{out} exists and is not a benchmark corpus (only shard-*.jsonl files); "
                          "choose another folder")


def build(out: Path, mb: float = DEFAULT_MB, shards: int = 8) -> dict:
    """Write the corpus to ``out`` (replacing an earlier benchmark corpus there) and return its summary."""
    _check_replaceable(out)
    budget = mb * 1e6
    docs = [doc for root, repo, share in roots() if root.is_dir() for doc in documents(root, repo, budget * share)]
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with ExitStack() as stack:
        handles = [stack.enter_context(open(tmp / f"shard-{i:05d}.jsonl", "w", encoding="utf-8"))
                   for i in range(shards)]
        for i, doc in enumerate(docs):
            handles[i % shards].write(json.dumps(doc) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return {"dir": str(out), "docs": len(docs), "mb": round(sum(len(d["text"].encode()) for d in docs) / 1e6, 1),
            "shards": shards, "by_lang": dict(sorted(Counter(d["lang"] for d in docs).items()))}


def ensure_corpus(path: str | Path | None = None, mb: float = DEFAULT_MB) -> Path:
    """The benchmark corpus at ``path`` (default out/bench-corpus), built first if it has no shards."""
    folder = Path(path) if path else DEFAULT_DIR
    if not list(folder.glob("*.jsonl")):
        print(f"building the benchmark corpus in {folder} ({mb:g} MB of real code on this machine)...",
              file=sys.stderr)
        print(json.dumps(build(folder, mb)), file=sys.stderr)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", default=str(DEFAULT_DIR), help="output folder (default: out/bench-corpus)")
    parser.add_argument("--mb", type=float, default=DEFAULT_MB, help="size budget in megabytes (default 150)")
    parser.add_argument("--shards", type=int, default=8, help="number of shard files (default 8)")
    args = parser.parse_args(argv)
    if args.mb <= 0 or args.shards < 1:
        parser.error("--mb must be positive and --shards at least 1")
    try:
        print(json.dumps(build(Path(args.out), args.mb, args.shards)))
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
