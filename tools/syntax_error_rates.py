"""Syntax-error rates per language over real code, as `treesitter_syntax` sees it.

    python tools/syntax_error_rates.py tests/data/repos/*.bundle            # git bundles (files at HEAD)
    python tools/syntax_error_rates.py out/bench-corpus/*.jsonl --inject      # JSONL (text, path[, lang])
    python tools/syntax_error_rates.py DIR --json rates.json --dump files.jsonl --sample 5   # every 5th file

Per language it prints the files parsed, the files with any ERROR/MISSING node under the language's own
grammar (``raw``), the files with any error as the plugin sees them (`.h` grammar choice, strict Python 3
rules, Rust macro bodies ignored: ``any error``), and the files the plugin's default policy drops
(``dropped``), each with its share. ``--inject`` also cuts real
breakages into every file (truncation, unbalanced brace or paren, Python 2 print) and prints the share the
default policy catches. Non-UTF-8 and binary files are counted apart, not parsed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from multiprocessing import Pool
from pathlib import Path

import orjson
from syntax_breakage import breakages_for

from curate.langmap import language_for_path
from curate_plugins.lib.treesitter import ParseTimeout, grammar_for, parse_document
from curate_plugins.treesitter_syntax import TreesitterSyntax, should_drop

DEFAULTS = TreesitterSyntax.Params()
DEFAULT_LANGS = TreesitterSyntax(DEFAULTS)._checked_langs()  # markup, config and data: not checked by default
SKIP_DIRS = {".git", "node_modules", "vendor", "third_party"}


def iter_inputs(paths: list[str], tmp: str):
    """(source name, path, text or None for non-UTF-8, lang or None) for every file of every input."""
    for raw in paths:
        path = Path(raw)
        if path.suffix == ".bundle":
            target = Path(tmp) / path.stem
            subprocess.run(["git", "clone", "--quiet", str(path), str(target)], check=True, capture_output=True)
            yield from iter_directory(target, path.stem)
        elif path.is_dir():
            yield from iter_directory(path, path.name)
        else:
            with open(path, "rb") as handle:
                for line in handle:
                    rec = orjson.loads(line)
                    yield rec.get("repo", path.name), rec["path"], rec["text"], rec.get("lang")


def iter_directory(root: Path, name: str):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for filename in sorted(filenames):
            file = Path(dirpath) / filename
            data = file.read_bytes()
            if b"\0" in data[:8192]:
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            yield name, str(file.relative_to(root)), text, None


def measure(item) -> dict | None:
    source, path, text, lang = item
    lang = lang or language_for_path(path, text.split("\n", 1)[0] if text and text.startswith("#!") else None)
    if grammar_for(lang, path) is None:
        return None
    rec = {"source": source, "path": path, "lang": lang}
    if text is None:
        return {**rec, "non_utf8": True}
    if len(text.encode()) > DEFAULTS.max_bytes:
        return {**rec, "too_large": True}
    rec.update(check(text, lang, path))
    raw = parse_document(text, lang, path, DEFAULTS.timeout_s, try_alternatives=False)
    rec["raw_error"] = bool(raw.tree.root_node.has_error)
    for name, breaker in breakages_for(lang).items():
        broken = breaker(text, lang, path) if INJECT else None
        if broken is not None:
            rec[f"inject.{name}"] = check(broken, lang, path)["dropped"]
    return rec


def check(text: str, lang: str, path: str) -> dict:
    """What the plugin with default parameters decides (the other grammar of a .h file is tried, as there,
    only when the first parse would be dropped)."""
    max_ratio = DEFAULTS.max_error_ratio_by_lang.get(lang, DEFAULTS.max_error_ratio)

    def rejected(errors, size):
        return should_drop(errors, size, max_ratio, DEFAULTS.drop_eof_errors, DEFAULTS.drop_brace_errors)

    try:
        parsed = parse_document(text, lang, path, DEFAULTS.timeout_s, try_alternatives=rejected)
    except ParseTimeout:
        return {"timeout": True, "dropped": True}
    errors = parsed.errors
    return {"grammar": parsed.grammar, "errors": errors.count, "ratio": round(errors.ratio(len(parsed.source)), 5),
            "eof": errors.error_at_eof, "any_error": errors.count > 0, "missing_closers": errors.missing_closers,
            "brace_errors": errors.brace_errors, "brace_imbalance": errors.brace_imbalance,
            "bracket_imbalance": errors.bracket_imbalance,
            "error_bytes": errors.error_bytes,
            "dropped": lang in DEFAULT_LANGS and rejected(errors, len(parsed.source))}


def summarise(records: list[dict]) -> dict[str, dict]:
    table: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    for rec in records:
        row = table[rec["lang"]]
        if rec.get("non_utf8") or rec.get("too_large"):
            row["skipped"] += 1
            continue
        row["files"] += 1
        for key in ("raw_error", "any_error", "dropped", "timeout"):
            row[key] += bool(rec.get(key))
        for key, caught in rec.items():
            if key.startswith("inject."):
                row[key + ".n"] += 1
                row[key + ".caught"] += bool(caught)
    return {lang: dict(row) for lang, row in sorted(table.items(), key=lambda kv: -kv[1]["files"])}


def print_table(table: dict[str, dict]) -> None:
    pct = lambda a, b: f"{a:>5} {100 * a / b:6.2f}%" if b else f"{a:>5}    -   "  # noqa: E731
    print(f"{'lang':<14}{'files':>7} {'raw error':>14} {'any error':>14} {'dropped':>14}  injected breakage caught")
    total = defaultdict(int)
    for lang, row in table.items():
        n = row.get("files", 0)
        for key in ("files", "raw_error", "any_error", "dropped"):
            total[key] += row.get(key, 0)
        injected = "  ".join(f"{k[7:-2]} {row[k[:-2] + '.caught']}/{row[k]}" for k in sorted(row)
                             if k.startswith("inject.") and k.endswith(".n"))
        mark = "" if lang in DEFAULT_LANGS else "*"
        print(f"{lang + mark:<14}{n:>7} {pct(row.get('raw_error', 0), n)} {pct(row.get('any_error', 0), n)} "
              f"{pct(row.get('dropped', 0), n)}  {injected}")
    n = total["files"]
    print(f"{'ALL':<14}{n:>7} {pct(total['raw_error'], n)} {pct(total['any_error'], n)} {pct(total['dropped'], n)}")
    print("* not checked by default (markup, config, data): `dropped` and `caught` apply only if listed in `langs`")


INJECT = False


def _init(inject: bool) -> None:
    global INJECT
    INJECT = inject


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="git bundles, directories or JSONL files")
    parser.add_argument("--inject", action="store_true", help="also measure injected breakages")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--sample", type=int, default=1, help="measure every N-th file only")
    parser.add_argument("--json", help="write the per-language table here")
    parser.add_argument("--dump", help="write one JSON line per file here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, Pool(args.workers, _init, (args.inject,)) as pool:
        items = (item for i, item in enumerate(iter_inputs(args.inputs, tmp)) if i % args.sample == 0)
        records = [r for r in pool.imap(measure, items, chunksize=16) if r]
    table = summarise(records)
    print_table(table)
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=1))
    if args.dump:
        with open(args.dump, "w") as out:
            for rec in records:
                out.write(json.dumps(rec) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
