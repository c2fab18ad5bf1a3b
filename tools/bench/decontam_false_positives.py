"""False positives of ngram_decontaminate on clean real code: every blob ever committed to the repositories of
tests/data/repos (all files of all commits, not only HEAD), deduplicated by blob id.

Prints the number of distinct UTF-8 text blobs scanned, the number flagged, and every hit (repository, path,
matched items, matching text) for inspection. Also reports the same scan without the boilerplate guards.

    .venv/bin/python tools/bench/decontam_false_positives.py [--repos tests/data/repos]

Needs the core install only (the `bench` extra covers it).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path


def blobs(bundle: Path, workdir: Path):
    """(path, text) of every distinct text blob reachable from any ref of a bundle."""
    bare = workdir / bundle.stem
    subprocess.run(["git", "clone", "--quiet", "--bare", str(bundle), str(bare)], check=True)
    listing = subprocess.run(["git", "-C", str(bare), "rev-list", "--objects", "--all"], check=True,
                             capture_output=True, text=True).stdout.splitlines()
    paths = {}
    for line in listing:
        sha, _, path = line.partition(" ")
        if path:
            paths.setdefault(sha, path)
    proc = subprocess.run(["git", "-C", str(bare), "cat-file", "--batch"], input="\n".join(paths).encode() + b"\n",
                          check=True, capture_output=True)
    data, pos = proc.stdout, 0
    while pos < len(data):
        header_end = data.index(b"\n", pos)
        sha, kind, size = data[pos:header_end].split(b" ")
        body = data[header_end + 1: header_end + 1 + int(size)]
        pos = header_end + 1 + int(size) + 1
        if kind != b"blob" or b"\0" in body:
            continue
        try:
            yield paths[sha.decode()], body.decode("utf-8")
        except UnicodeDecodeError:
            continue


def held_out_files(folders: list[str], exclude: list[str]) -> list[tuple[str, str]]:
    import hashlib

    import orjson

    excluded = set()
    for shard in exclude:
        with open(shard, "rb") as handle:
            excluded.update(hashlib.sha1(orjson.loads(line)["text"].encode("utf-8", "surrogatepass")).digest()
                            for line in handle)
    docs, seen = [], set()
    for folder in folders:
        for path in sorted(Path(folder).rglob("*")):
            if path.suffix not in (".py", ".js", ".c", ".h") or not path.is_file() or path.is_symlink():
                continue
            try:
                text = path.read_text("utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).digest()
            if digest not in excluded and digest not in seen and len(text) < 2_000_000:
                seen.add(digest)
                docs.append((str(path), text))
    return docs


def scan(flt, docs):
    from curate.testing import apply_step, make_doc

    result = apply_step(flt, [make_doc(text, doc_id) for doc_id, text in docs])
    return [(d.id, d.metadata["decontam.items"], d.metadata["decontam.snippet"][:120])
            for d in result.kept if "decontam.items" in d.metadata]


def make_filter(index_dir: str, **params):
    from curate_plugins._decontam import benchmarks as bench
    from curate_plugins._decontam.index import ensure_part
    from curate_plugins.ngram_decontaminate import DecontaminationFilter, NgramDecontaminate, shape_of

    p = NgramDecontaminate.Params(action="annotate", **params)
    for name in p.benchmarks:
        ensure_part(bench.bundled(name), shape_of(p), index_dir)
    return DecontaminationFilter(index_dir, "fp", p)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repos", default=str(Path(__file__).resolve().parents[2] / "tests" / "data" / "repos"))
    ap.add_argument("--held-out", nargs="*", default=[], metavar="DIR",
                    help="Instead of the repositories: every *.py/*.js/*.c/*.h file under DIRs whose content is not "
                         "in --exclude (code held out from the reference corpus the guards were built from).")
    ap.add_argument("--exclude", nargs="*", default=[], metavar="JSONL", help="Reference corpus shards to exclude.")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.held_out:
            docs = held_out_files(args.held_out, args.exclude)
            args.repos = f"{', '.join(args.held_out)} minus {len(args.exclude)} reference shards"
        else:
            docs = []
            for bundle in sorted(Path(args.repos).glob("*.bundle")):
                docs += [(f"{bundle.stem}:{path}@{i}", text)
                         for i, (path, text) in enumerate(blobs(bundle, Path(tmp)))]
        mb = sum(len(t.encode("utf-8", "surrogatepass")) for _, t in docs) / 1e6
        guarded = scan(make_filter(f"{tmp}/guarded"), docs)
        bare = scan(make_filter(f"{tmp}/bare", min_distinct_words=1, boilerplate=[], word_frequencies=None,
                                max_items_per_ngram=10_000), docs)
    print(f"clean corpus: {len(docs):,} distinct text files ({mb:.1f} MB) from {args.repos}")
    print(f"flagged with the default guards: {len(guarded)} ({100 * len(guarded) / len(docs):.3f}%)")
    for hit in guarded:
        print("  ", hit)
    print(f"flagged without guards (min_distinct_words=1, no boilerplate list, no word frequencies, no template "
          f"cap): {len(bare)} ({100 * len(bare) / len(docs):.3f}%)")
    for hit in bare:
        print("  ", hit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
