"""Write the extra reference corpus the bundled boilerplate list was built from: every .py file of a
site-packages folder except the packages held out for the false-positive measurement (default: sympy).

    .venv/bin/python tools/bench/decontam_reference.py OUT.jsonl [--site-packages DIR] [--hold-out sympy]
    curate benchmarks boilerplate out/bench-corpus/shard-0000*.jsonl OUT.jsonl -o boilerplate_ngrams.txt

Needs the core install only (the `bench` extra covers it).
"""

from __future__ import annotations

import argparse
import sys
import sysconfig
from pathlib import Path

import orjson


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--site-packages", default=sysconfig.get_paths()["purelib"])
    ap.add_argument("--hold-out", nargs="*", default=["sympy"])
    args = ap.parse_args()
    root, files, total = Path(args.site_packages), 0, 0
    with open(args.out, "wb") as out:
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root)
            if any(rel.parts[0].startswith(name) for name in args.hold_out) or path.is_symlink():
                continue
            try:
                text = path.read_text("utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            if len(text) <= 1_000_000:
                out.write(orjson.dumps({"id": str(rel), "text": text, "repo": rel.parts[0]}) + b"\n")
                files, total = files + 1, total + len(text)
    print(f"{files:,} files, {total / 1e6:.1f} MB written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
