"""The benchmark n-gram index: one immutable part per benchmark, merged into a probe structure per worker.

On disk, a part is an ``IndexStore`` part folder ``state/index/<step>/parts/<name>-<key>/`` holding
``part.npz`` and ``meta.json`` (written last: its presence marks the part complete). ``key`` fingerprints
everything the hashes depend on: the benchmark file's SHA-256, the fields used, ``n``, ``min_short`` and the
normaliser version. A run builds only the parts it does not find, so adding a benchmark later adds only that
benchmark's n-grams; each run's snapshot names the parts of its benchmark set.

A part holds the sorted unique n-gram hashes (uint64), a CSR map from each hash to the items containing it
(offsets int64 + item numbers uint32), and the whole-item hashes of items shorter than n words.

In memory (``MergedIndex``), every part's (hash, item) pairs are merged, the boilerplate n-grams are removed,
and a bitmap with 32 bits per n-gram is built over the hashes' low bits. Probing a document is then:
bitmap test for all its n-grams at once (one gather), binary search (``np.searchsorted``) only for the ~3% of
n-grams whose bit is set, and a Python loop only over the n-grams that really match.
Memory per benchmark n-gram: 8 B hash + 8 B CSR offset + 4 B item number + 4 to 8 B of bitmap (32 bits per
n-gram, rounded up to a power of two) = 24 to 28 B; an n-gram shared by several items adds 4 B per extra item.
On disk a part takes 20 B per n-gram (no bitmap). HumanEval + MBPP: 67,968 n-grams, 1.9 MB in memory.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np
import orjson

from curate import IndexStore, atomic_write_bytes, filesystem, read_bytes
from curate_plugins._decontam.benchmarks import BenchmarkSpec
from curate_plugins._decontam.normalize import NORMALISER_VERSION, Tokens


@dataclass
class IndexPart:
    name: str
    item_ids: list[str]
    hashes: np.ndarray  # uint64, sorted unique
    offsets: np.ndarray  # int64, len(hashes) + 1
    items: np.ndarray  # uint32 item numbers, CSR by hash
    short_lengths: np.ndarray  # int64 word count of each short item
    short_hashes: np.ndarray  # uint64 whole-item hash
    short_items: np.ndarray  # uint32
    meta: dict


@dataclass(frozen=True)
class Shape:
    """What the stored hashes depend on besides the benchmark file."""

    roles: tuple[str, ...]
    n: int
    min_short: int
    min_distinct_words: int
    word_frequencies: str | None = None  # "word<TAB>share of reference files" list, or None
    frequent_share: float = 0.05
    min_distinctive_words: int = 2

    def vocabulary(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted hashes of (every listed word, the words at least ``frequent_share`` of files contain)."""
        return word_hashes_of_file(self.word_frequencies, self.frequent_share)

    def frequencies_fingerprint(self) -> str | None:
        raw = read_bytes(self.word_frequencies) if self.word_frequencies else None
        return hashlib.sha256(raw).hexdigest() if raw is not None else None


def word_hashes_of_file(path: str, frequent_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Read a word-frequency list (``word<TAB>share`` per line, '#' lines are comments)."""
    raw = read_bytes(path)
    if raw is None:
        raise FileNotFoundError(f"word-frequency list not found: {path}")
    known, frequent = [], []
    for line in raw.decode("utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        word, _, share = line.partition("\t")
        known.append(word)
        if share and float(share) >= frequent_share:
            frequent.append(word)
    return np.unique(Tokens("\n".join(known)).hashes), np.unique(Tokens("\n".join(frequent)).hashes)


def indexable_windows(tokens: Tokens, length: int, shape: Shape, vocabulary) -> np.ndarray:
    """Which windows of ``length`` words are specific enough to index (the boilerplate guard 1): at least
    ``min_distinct_words`` distinct informative words of which ``min_distinctive_words`` are not frequent in
    ordinary code - or any rare word (one absent from the word-frequency list)."""
    keep = tokens.informative_counts(length) >= min(shape.min_distinct_words, length)
    if vocabulary is None:
        return keep
    known, frequent = vocabulary
    keep &= tokens.informative_counts(length, frequent) >= min(shape.min_distinctive_words, length)
    return keep | tokens.rare_word_windows(length, known)


def part_key(spec: BenchmarkSpec, shape: Shape) -> str:
    fields = {r: spec.fields[r] for r in sorted(shape.roles) if r in spec.fields}
    fingerprint = {"name": spec.name, "sha256": spec.sha256(), "id": spec.id_field, "fields": fields, "n": shape.n,
                   "min_short": shape.min_short, "min_distinct_words": shape.min_distinct_words,
                   "word_frequencies": shape.frequencies_fingerprint(), "frequent_share": shape.frequent_share,
                   "min_distinctive_words": shape.min_distinctive_words,
                   "normaliser": NORMALISER_VERSION}
    return hashlib.sha256(orjson.dumps(fingerprint, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def build_part(spec: BenchmarkSpec, shape: Shape) -> IndexPart:
    n = shape.n
    item_ids, pair_hashes, pair_items = [], [], []
    short = ([], [], [])
    skipped, uninformative = [], 0
    vocabulary = shape.vocabulary() if shape.word_frequencies else None
    for number, (item_id, text) in enumerate(spec.items(list(shape.roles))):
        item_ids.append(item_id)
        tokens = Tokens(text)
        length = min(len(tokens), n)
        if length < shape.min_short:
            skipped.append(item_id)
            continue
        informative = indexable_windows(tokens, length, shape, vocabulary)
        grams = tokens.ngram_hashes(length)
        uninformative += int(np.count_nonzero(~informative))
        grams = np.unique(grams[informative])
        if length == n:
            pair_hashes.append(grams)
            pair_items.append(np.full(len(grams), number, dtype=np.uint32))
        elif len(grams):
            short[0].append(length)
            short[1].append(grams[0])
            short[2].append(number)
        else:
            skipped.append(item_id)
    hashes, offsets, items = _csr(_concat(pair_hashes, np.uint64), _concat(pair_items, np.uint32))
    meta = {"name": spec.name, "path": spec.path, "licence": spec.licence, "items": len(item_ids),
            "ngrams": int(len(hashes)), "short_items": len(short[0]), "skipped_items": skipped, "n": n,
            "uninformative_windows": uninformative, "roles": sorted(shape.roles),
            "min_distinct_words": shape.min_distinct_words, "normaliser": NORMALISER_VERSION}
    return IndexPart(spec.name, item_ids, hashes, offsets, items, np.asarray(short[0], dtype=np.int64),
                     np.asarray(short[1], dtype=np.uint64), np.asarray(short[2], dtype=np.uint32), meta)


def _concat(arrays: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.empty(0, dtype=dtype)


def _csr(hashes: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort (hash, item) pairs; return unique hashes, offsets into the item array, and the items."""
    order = np.lexsort((items, hashes))
    hashes, items = hashes[order], items[order]
    unique, starts = np.unique(hashes, return_index=True)
    offsets = np.append(starts, len(hashes)).astype(np.int64)
    return unique, offsets, items


def part_name(name: str, key: str) -> str:
    return f"{name}-{key}"


def _paths(index_dir: str, name: str, key: str) -> tuple[str, str]:
    folder = IndexStore(index_dir).part_path(part_name(name, key))
    return f"{folder}/part.npz", f"{folder}/meta.json"


def save_part(part: IndexPart, index_dir: str, key: str) -> None:
    npz_path, meta_path = _paths(index_dir, part.name, key)
    buffer = io.BytesIO()
    np.savez(buffer, hashes=part.hashes, offsets=part.offsets, items=part.items, short_lengths=part.short_lengths,
             short_hashes=part.short_hashes, short_items=part.short_items)
    atomic_write_bytes(npz_path, buffer.getvalue())
    atomic_write_bytes(meta_path, orjson.dumps({**part.meta, "key": key, "item_ids": part.item_ids}))


def load_part(index_dir: str, name: str, key: str) -> IndexPart | None:
    npz_path, meta_path = _paths(index_dir, name, key)
    raw_meta = read_bytes(meta_path)
    if raw_meta is None:
        return None
    meta = orjson.loads(raw_meta)
    arrays = np.load(io.BytesIO(read_bytes(npz_path)), allow_pickle=False)
    return IndexPart(name, meta.pop("item_ids"), arrays["hashes"], arrays["offsets"], arrays["items"],
                     arrays["short_lengths"], arrays["short_hashes"], arrays["short_items"], meta)


def list_parts(index_dir: str) -> list[dict]:
    """Metadata of every complete part stored in ``index_dir`` (for reports)."""
    fs, folder = filesystem(f"{index_dir}/parts")
    if not fs.exists(folder):
        return []
    metas = []
    for path in sorted(fs.glob(f"{folder}/*/meta.json")):
        with fs.open(path, "rb") as handle:
            meta = orjson.loads(handle.read())
        meta.pop("item_ids", None)
        metas.append(meta)
    return metas


def ensure_part(spec: BenchmarkSpec, shape: Shape, index_dir: str) -> tuple[str, bool]:
    """Build and store the part of ``spec`` unless it is already stored. Returns (key, built now)."""
    key = part_key(spec, shape)
    _, meta_path = _paths(index_dir, spec.name, key)
    if read_bytes(meta_path) is not None:
        return key, False
    save_part(build_part(spec, shape), index_dir, key)
    return key, True


@dataclass
class Match:
    """What one document matched: per global item number, the distinct matching n-grams (or 1 for a short
    item), and the word position of the first match."""

    counts: dict[int, int]
    distinct: int  # distinct matching n-grams (and short items) in the document
    first_word: int
    first_length: int


class MergedIndex:
    def __init__(self, parts: list[IndexPart], n: int, ignored: np.ndarray | None = None,
                 max_items: int | None = None):
        self.n = n
        self.item_names: list[tuple[str, str]] = []
        pair_hashes, pair_items, short = [], [], []
        for part in parts:
            base = len(self.item_names)
            self.item_names += [(part.name, item_id) for item_id in part.item_ids]
            counts = np.diff(part.offsets)
            pair_hashes.append(np.repeat(part.hashes, counts))
            pair_items.append(part.items.astype(np.int64) + base)
            short.append((part.short_lengths, part.short_hashes, part.short_items.astype(np.int64) + base))
        hashes, items = _concat(pair_hashes, np.uint64), _concat(pair_items, np.uint32)
        ignored = np.empty(0, dtype=np.uint64) if ignored is None else ignored
        keep = ~np.isin(hashes, ignored)
        self.ignored_ngrams = int(len(np.unique(hashes[~keep])))
        self.hashes, self.offsets, self.items = _drop_templates(*_csr(hashes[keep], items[keep]), max_items)
        self.bits, self.bitmap = _bitmap(self.hashes)
        self.short = _short_tables(short, ignored)
        self.short_items = {int(i) for _, items in self.short.values() for i in items.tolist()}

    def __len__(self) -> int:
        return len(self.hashes)

    def probe_many(self, tokens: list[Tokens]) -> list[Match | None]:
        """``probe`` for a batch: one bitmap test over the n-grams of all documents; the exact lookup runs only
        for the documents that have a candidate n-gram."""
        grams = [t.ngram_hashes(self.n) for t in tokens]
        candidates = self._candidates(grams)
        return [self.probe(t, g if c else _NO_GRAMS) for t, g, c in zip(tokens, grams, candidates)]

    def _candidates(self, grams: list[np.ndarray]) -> list[int]:
        sizes = [len(g) for g in grams]
        if not len(self.hashes) or not sum(sizes):
            return [0] * len(grams)
        slot = np.concatenate(grams) & np.uint64(self.bits - 1)
        flags = (self.bitmap[slot >> np.uint64(3)] >> (slot & np.uint64(7)).astype(np.uint8)) & 1
        running = np.concatenate(([0], np.cumsum(flags)))
        ends = np.cumsum(sizes)
        return (running[ends] - running[ends - sizes]).tolist()

    def probe(self, tokens: Tokens, grams: np.ndarray | None = None) -> Match | None:
        counts: dict[int, int] = {}
        first, distinct = None, 0
        grams = tokens.ngram_hashes(self.n) if grams is None else grams
        if len(grams) and len(self.hashes):
            first, distinct = self._probe_ngrams(grams, counts)
        first_short, short_hits = self._probe_short(tokens, counts)
        if not counts:
            return None
        word, length = min(f for f in (first, first_short) if f is not None)
        return Match(counts, distinct + short_hits, word, length)

    def is_short(self, item: int) -> bool:
        return item in self.short_items

    def _probe_ngrams(self, grams: np.ndarray, counts: dict[int, int]) -> tuple[tuple[int, int] | None, int]:
        slot = grams & np.uint64(self.bits - 1)
        maybe = np.flatnonzero((self.bitmap[slot >> np.uint64(3)] >> (slot & np.uint64(7)).astype(np.uint8)) & 1)
        if not len(maybe):
            return None, 0
        values = grams[maybe]
        where = np.minimum(np.searchsorted(self.hashes, values), len(self.hashes) - 1)
        hit = self.hashes[where] == values
        if not hit.any():
            return None, 0
        found = np.unique(where[hit])
        for index in found.tolist():
            for item in self.items[self.offsets[index]:self.offsets[index + 1]].tolist():
                counts[item] = counts.get(item, 0) + 1
        return (int(maybe[hit][0]), self.n), len(found)

    def _probe_short(self, tokens: Tokens, counts: dict[int, int]) -> tuple[tuple[int, int] | None, int]:
        first, hits = None, 0
        for length, (hashes, items) in self.short.items():
            grams = tokens.ngram_hashes(length)
            if not len(grams):
                continue
            present = np.isin(hashes, grams)
            for position in np.flatnonzero(present).tolist():
                counts[int(items[position])] = counts.get(int(items[position]), 0) + 1
                hits += 1
            if present.any():
                word = int(np.flatnonzero(np.isin(grams, hashes[present]))[0])
                first = min(first or (word, length), (word, length))
        return first, hits


_NO_GRAMS = np.empty(0, dtype=np.uint64)


def _drop_templates(hashes: np.ndarray, offsets: np.ndarray, items: np.ndarray, max_items: int | None):
    """Remove n-grams found in more than ``max_items`` benchmark items: a benchmark's template (HumanEval's
    ``METADATA = {...} def check(candidate): assert candidate(``), which says nothing about which item leaked."""
    if max_items is None:
        return hashes, offsets, items
    per_hash = np.diff(offsets)
    keep = per_hash <= max_items
    if keep.all():
        return hashes, offsets, items
    return _csr(np.repeat(hashes, per_hash)[np.repeat(keep, per_hash)], items[np.repeat(keep, per_hash)])


def _bitmap(hashes: np.ndarray) -> tuple[int, np.ndarray]:
    bits = 1 << max(16, int(32 * max(len(hashes), 1) - 1).bit_length())
    bitmap = np.zeros(bits // 8, dtype=np.uint8)
    slot = hashes & np.uint64(bits - 1)
    np.bitwise_or.at(bitmap, (slot >> np.uint64(3)).astype(np.int64), (1 << (slot & np.uint64(7))).astype(np.uint8))
    return bits, bitmap


def _short_tables(short, ignored: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    tables: dict[int, tuple[list, list]] = {}
    for lengths, hashes, items in short:
        for length, value, item in zip(lengths.tolist(), hashes.tolist(), items.tolist()):
            tables.setdefault(length, ([], []))
            tables[length][0].append(value)
            tables[length][1].append(item)
    out = {}
    for length, (values, items) in sorted(tables.items()):
        values_arr = np.asarray(values, dtype=np.uint64)
        keep = ~np.isin(values_arr, ignored)
        out[length] = (values_arr[keep], np.asarray(items, dtype=np.int64)[keep])
    return out


def boilerplate_hashes(paths: list[str], n: int) -> np.ndarray:
    """Hashes of the n-grams listed in boilerplate files: one per line, words separated by spaces, optionally a
    tab and a count after them; lines starting with '#' are comments. A line of another length than ``n``
    can only match a short benchmark item of that length."""
    values = []
    for path in paths:
        raw = read_bytes(path)
        if raw is None:
            raise FileNotFoundError(f"boilerplate n-gram file not found: {path}")
        for line in raw.decode("utf-8").splitlines():
            gram = line.split("\t", 1)[0]
            if gram.strip() and not line.startswith("#"):
                tokens = Tokens(gram)
                if len(tokens):
                    values.append(tokens.ngram_hashes(len(tokens))[0])
    return np.unique(np.asarray(values, dtype=np.uint64))
