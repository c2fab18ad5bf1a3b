"""Build the list of benchmark n-grams that also occur in a reference corpus of ordinary code."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from curate import iter_shard
from curate_plugins._decontam import benchmarks as bench
from curate_plugins._decontam.index import MergedIndex, Shape, build_part
from curate_plugins._decontam.normalize import Tokens, ngram_hashes


def scan_reference(paths: list[str], names: list[str] | None, n: int, text_field: str,
                   shape_params: dict) -> tuple[dict[str, set[str]], int]:
    """Map each benchmark n-gram found in the reference documents to the set of (content hashes of) documents
    containing it. Identical documents count once."""
    shape = Shape(("prompt", "solution", "tests"), n, n, **shape_params)
    specs = [bench.bundled(name) for name in (names or bench.bundled_names())]
    parts = [build_part(spec, shape) for spec in specs]
    index = MergedIndex(parts, n)
    texts = _ngram_texts(specs, shape.roles, n)
    found: dict[str, set[str]] = {}
    seen: set[bytes] = set()
    for path in paths:
        for record in iter_shard(path):
            text = record.get(text_field) or ""
            digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).digest()
            if digest in seen:
                continue
            seen.add(digest)
            for value in _matching_hashes(index, Tokens(text)):
                found.setdefault(texts[value], set()).add(digest.hex())
    return found, len(seen)


def _matching_hashes(index: MergedIndex, tokens: Tokens) -> list[int]:
    match = index.probe(tokens)
    if match is None:
        return []
    grams = tokens.ngram_hashes(index.n)
    return np.unique(grams[np.isin(grams, index.hashes)]).tolist()


def _ngram_texts(specs, roles, n: int) -> dict[int, str]:
    """hash -> the n-gram as space-separated normalised words."""
    texts = {}
    for spec in specs:
        for _, text in spec.items(list(roles)):
            tokens = Tokens(text)
            hashes = ngram_hashes(tokens.hashes, n).tolist()
            spans = [tokens.snippet(i, 1) for i in range(len(tokens))]
            for i, value in enumerate(hashes):
                texts.setdefault(value, " ".join(spans[i:i + n]))
    return texts


def write_list(output: Path, kept: dict[str, set[str]], reference: list[str], scanned: int, n: int,
               min_docs: int, note: str = "") -> None:
    header = [
        "# Benchmark n-grams that ngram_decontaminate ignores as boilerplate.",
        f"# Built by `curate benchmarks boilerplate` (n={n}, min-docs={min_docs}): every {n}-gram of the bundled",
        "# benchmarks that occurs in at least min-docs distinct documents of a reference corpus of ordinary",
        f"# third-party code ({scanned:,} distinct documents): {', '.join(Path(p).name for p in reference)}.",
        *([f"# Reference corpus: {note}"] if note else []),
        "# One n-gram per line: normalised words separated by one space, then a tab and the document count.",
    ]
    lines = [f"{gram}\t{len(docs)}" for gram, docs in sorted(kept.items(), key=lambda kv: (-len(kv[1]), kv[0]))]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(header + lines) + "\n", encoding="utf-8")


def word_frequencies(paths: list[str], text_field: str, min_share: float) -> tuple[list[tuple[str, float]], int]:
    """Words (not numbers, longer than one character) found in at least ``min_share`` of the distinct reference
    documents, with that share."""
    from collections import Counter

    from curate_plugins._decontam.normalize import words

    frequency: Counter = Counter()
    seen: set[bytes] = set()
    for path in paths:
        for record in iter_shard(path):
            text = record.get(text_field) or ""
            digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).digest()
            if digest not in seen:
                seen.add(digest)
                frequency.update(set(words(text)))
    total = max(len(seen), 1)
    kept = sorted((w, c / total) for w, c in frequency.items()
                  if c >= min_share * total and len(w) > 1 and not w[0].isdigit())
    return kept, len(seen)
