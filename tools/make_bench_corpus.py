#!/usr/bin/env python3
"""Build the benchmark corpus: real third-party source code that is already on any machine of this kind.

    python tools/make_bench_corpus.py [OUT] [--mb 150] [--shards 8]      # OUT defaults to out/bench-corpus
    python tools/make_bench_corpus.py out/big --mb 320 --shards 16 --copies 0.2 --grow

Sources, all written by third parties: the Python standard library and site-packages of the running
interpreter, C/C++ headers under /usr/include, and the JavaScript of Node.js's global modules (npm). Each
source gets a share of the size budget. It writes OUT/shard-XXXXX.jsonl (fields: id, text, path, repo,
lang), deterministic for a given machine image and interpreter, and prints a JSON summary. The shards are
written to a temporary folder and renamed into place, so an interrupted build never leaves a partial corpus.

Growing it (for scaling measurements, so that dedup still has work at every size):
- ``--copies SHARE``: that share of the corpus's bytes are copies of its own files, placed after their source:
  half exact copies, half near-duplicates (a few identifiers renamed, some comment lines rewritten, trailing
  spaces: Jaccard well above 0.7), so exact and near dedup drop about the same share at every size;
- ``--grow``: when the machine's sources hold less than ``--mb``, go over them again, each pass with every
  identifier of three letters or more (not keywords) consistently changed: valid code of the same shape and
  length that is neither an exact nor a near duplicate of the first pass (the forks that diverged).
Without them the corpus is exactly the one earlier versions built.

Benchmarks call ``ensure_corpus()``: it builds the corpus on first use and reuses it afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
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


def build(out: Path, mb: float = DEFAULT_MB, shards: int = 8, copies: float = 0.0, grow: bool = False) -> dict:
    """Write the corpus to ``out`` (replacing an earlier benchmark corpus there) and return its summary."""
    _check_replaceable(out)
    budget = mb * 1e6
    real = budget * (1 - copies)
    docs = [doc for root, repo, share in roots() if root.is_dir() for doc in documents(root, repo, real * share)]
    if grow:
        docs += list(grown(docs, real))
    if copies:
        docs = with_copies(docs, budget, random.Random(17))
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
    summary = {"dir": str(out), "docs": len(docs), "mb": round(sum(_size(d) for d in docs) / 1e6, 1),
               "shards": shards, "by_lang": dict(sorted(Counter(d["lang"] for d in docs).items()))}
    if copies or grow:
        kinds = Counter(d["id"].split("~")[1].rstrip("0123456789") if "~" in d["id"] else "real" for d in docs)
        summary["kinds"] = dict(sorted(kinds.items()))
    return summary


def _size(doc: dict) -> int:
    return len(doc["text"].encode())


# ---- growth: diverged forks and planted copies ----------------------------------------------------------

#: reserved words of Python, C, C++ and JavaScript, preprocessor directives and a few contextual words: never
#: renamed, so that renamed code still parses
_KEYWORD_TEXT = """
False None True and as assert async await break class continue def del elif else except finally for from global
if import in is lambda nonlocal not or pass raise return try while with yield match case type print self cls
auto char const default do double enum extern float goto inline int long register restrict short signed sizeof
static struct switch typedef union unsigned void volatile _Bool _Complex _Generic _Static_assert _Alignas
_Alignof _Atomic _Noreturn _Thread_local bool true false asm catch const_cast delete dynamic_cast explicit
export friend mutable namespace new operator private protected public reinterpret_cast static_cast template
this throw typeid typename using virtual wchar_t nullptr constexpr noexcept decltype override final alignas
alignof char8_t char16_t char32_t concept requires consteval constinit co_await co_return co_yield
thread_local static_assert function var let instanceof typeof extends super implements interface package
null undefined get set of arguments eval yield debugger define include ifdef ifndef endif undef pragma error
warning line defined elifdef elifndef include_next __attribute__ __declspec __asm__ __inline__ __restrict
__extension__ __typeof__ __volatile__ __const__ __signed__
"""
KEYWORDS = frozenset(_KEYWORD_TEXT.split())
#: identifiers of 3+ characters (string prefixes such as rb, u8 or L are shorter), not preceded by a backslash
#: (an escape sequence such as \x41 or \N{...})
RENAMABLE = re.compile(r"(?<![\\\w])[A-Za-z_][A-Za-z0-9_]{2,}(?!\w)")
#: a whole-line comment: ``#`` in Python, ``//`` in C, C++ and JavaScript (``#`` is a directive there)
COMMENT = {"python": re.compile(r"^(\s*)(#)(.*)$"), "other": re.compile(r"^(\s*)(//)(.*)$")}
WORDS = ["value", "item", "entry", "buffer", "result", "helper", "index", "count", "parse", "check", "state"]


def shifted(name: str, shift: int) -> str:
    """``name`` with each letter moved ``shift`` places in the alphabet (case kept; digits and _ unchanged)."""
    out = []
    for ch in name:
        if "a" <= ch <= "z":
            out.append(chr((ord(ch) - 97 + shift) % 26 + 97))
        elif "A" <= ch <= "Z":
            out.append(chr((ord(ch) - 65 + shift) % 26 + 65))
        else:
            out.append(ch)
    new = "".join(out)
    return new + "_" if new in KEYWORDS else new


def diverged(text: str, shift: int) -> str:
    """Every renamable identifier of ``text`` consistently changed: same shape and length, other tokens."""
    return RENAMABLE.sub(lambda m: m.group() if m.group() in KEYWORDS else shifted(m.group(), shift), text)


def grown(docs: list[dict], budget: float) -> Iterator[dict]:
    """Passes over ``docs`` with diverged identifiers (pass k shifts letters by k) until ``budget`` bytes."""
    used = sum(_size(d) for d in docs)
    for cycle in range(1, 26):
        for doc in docs:
            if used >= budget:
                return
            copy = {**doc, "id": f"{doc['id']}~fork{cycle}", "text": diverged(doc["text"], cycle),
                    "repo": f"{doc['repo']}-fork{cycle}"}
            used += _size(copy)
            yield copy


def near_copy(text: str, lang: str, rng: random.Random) -> str:
    """A near-duplicate: 1-2 identifiers renamed (not among the 10 most frequent), ~20% of whole-line comments
    rewritten, trailing spaces on ~5% of lines."""
    names = [n for n, _ in Counter(RENAMABLE.findall(text)).most_common(40) if n not in KEYWORDS][10:]
    comment = COMMENT["python" if lang == "python" else "other"]
    for old in rng.sample(names, min(len(names), rng.randint(1, 2))):
        text = re.sub(rf"(?<![\w\\]){re.escape(old)}(?!\w)", shifted(old, rng.randint(1, 25)), text)
    lines = text.split("\n")
    for i, line in enumerate(lines):
        match = comment.match(line)
        if match and rng.random() < 0.2:
            lines[i] = f"{match.group(1)}{match.group(2)} {' '.join(rng.choices(WORDS, k=rng.randint(3, 8)))}"
        elif rng.random() < 0.05 and not line.endswith("\\"):
            lines[i] = line + " "
    return "\n".join(lines)


def with_copies(docs: list[dict], budget: float, rng: random.Random) -> list[dict]:
    """``docs`` with copies of random documents (alternately exact and near) placed after their source, until
    ``budget`` bytes."""
    used, placed = sum(_size(d) for d in docs), []
    while used < budget and docs:
        source = rng.randrange(len(docs))
        doc, exact = docs[source], len(placed) % 2 == 0
        kind = "exact" if exact else "near"
        copy = {**doc, "id": f"{doc['id']}~{kind}{len(placed)}", "text": doc["text"] if exact else
                near_copy(doc["text"], doc["lang"], rng), "repo": f"{doc['repo']}-copy"}
        used += _size(copy)
        placed.append((rng.uniform(source + 0.5, len(docs)), copy))
    keyed = [(float(i), d) for i, d in enumerate(docs)] + placed
    return [d for _, d in sorted(keyed, key=lambda item: item[0])]


def ensure_corpus(path: str | Path | None = None, mb: float = DEFAULT_MB, **growth) -> Path:
    """The benchmark corpus at ``path`` (default out/bench-corpus), built first if it has no shards.
    ``growth``: ``shards``, ``copies`` and ``grow`` of ``build``, used only when it is built."""
    folder = Path(path) if path else DEFAULT_DIR
    if not list(folder.glob("*.jsonl")):
        print(f"building the benchmark corpus in {folder} ({mb:g} MB of real code on this machine)...",
              file=sys.stderr)
        print(json.dumps(build(folder, mb, **growth)), file=sys.stderr)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", default=str(DEFAULT_DIR), help="output folder (default: out/bench-corpus)")
    parser.add_argument("--mb", type=float, default=DEFAULT_MB, help="size budget in megabytes (default 150)")
    parser.add_argument("--shards", type=int, default=8, help="number of shard files (default 8)")
    parser.add_argument("--copies", type=float, default=0.0, help="share of the bytes that are exact or near "
                                                                 "copies of other files (default 0)")
    parser.add_argument("--grow", action="store_true", help="beyond what the machine holds, add passes with "
                                                            "consistently renamed identifiers")
    args = parser.parse_args(argv)
    if args.mb <= 0 or args.shards < 1:
        parser.error("--mb must be positive and --shards at least 1")
    if not 0 <= args.copies < 1:
        parser.error("--copies must be at least 0 and below 1")
    try:
        print(json.dumps(build(Path(args.out), args.mb, args.shards, args.copies, args.grow)))
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
