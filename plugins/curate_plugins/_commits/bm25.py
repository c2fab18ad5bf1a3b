"""An incremental BM25 index over the files of a snapshot, scored with bm25s' Lucene formulas.

bm25s builds a static sparse matrix; rebuilding it for every commit's snapshot would cost a full
tokenisation of the repository per commit. Here the index is kept up to date by applying each commit's
file changes (postings of the removed blob out, of the added blob in), blobs are tokenised once and
cached by blob id, and a query is scored with ``bm25s.scoring``'s Lucene idf and tf functions (bm25s'
default method). ``tests/plugins/test_commit_to_change_prediction.py`` checks that the scores equal a
``bm25s.BM25`` index built from scratch over the same snapshot.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter, _count_elements  # the C counting loop behind Counter

import numpy as np
from bm25s.scoring import _score_idf_lucene, _score_tfc_lucene
from bm25s.stopwords import STOPWORDS_EN

#: Sub-words of identifiers: ``parseHTTPRequest_v2`` -> parse, http, request, v2 (lower-cased afterwards).
_SUBWORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
#: Words are runs of ASCII letters and digits: every other byte (UTF-8 bytes of other characters included)
#: becomes a space, and ``bytes.split`` cuts there, several times faster than a regular expression.
_WORD_BYTES = bytes(c if chr(c).isascii() and chr(c).isalnum() else 32 for c in range(256))
STOPWORDS = frozenset(STOPWORDS_EN)
_SPLIT_CACHE: dict[bytes, tuple[str, ...]] = {}


def _subwords(word: bytes) -> tuple[str, ...]:
    """The terms of one word (cached)."""
    if len(_SPLIT_CACHE) > 500_000:
        _SPLIT_CACHE.clear()
    parts = tuple(p for p in (s.lower() for s in _SUBWORD.findall(word.decode("ascii")) if len(s) > 1)
                  if p not in STOPWORDS)
    _SPLIT_CACHE[word] = parts
    return parts


def _words(text: str | bytes) -> list[bytes]:
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    return data.translate(_WORD_BYTES).split()


def tokenize(text: str | bytes) -> Counter:
    """Lower-cased identifier sub-words of two or more characters, English stop words removed, counted.

    Words are counted first and each distinct word is split once (cached): same result, less regex work.
    ``text`` may be the raw bytes of a file: invalid UTF-8 separates words as its replacement would."""
    return _terms_of(_word_counts(text))


def _word_counts(text: str | bytes) -> dict[bytes, int]:
    words: dict[bytes, int] = {}
    _count_elements(words, _words(text))
    return words


def _terms_of(words: dict[bytes, int]) -> Counter:
    """Term counts of counted words (counts may be negative: a delta; words counted 0 are skipped)."""
    out: Counter = Counter()
    get, cache = out.get, _SPLIT_CACHE
    for word, count in words.items():
        if not count:
            continue
        parts = cache.get(word)
        for part in parts if parts is not None else _subwords(word):
            out[part] = get(part, 0) + count
    return out


def query_terms(text: str) -> list[str]:
    """The terms of ``tokenize`` as a list (a query needs no counts)."""
    cache = _SPLIT_CACHE
    out: list[str] = []
    for word in _words(text):
        parts = cache.get(word)
        out += parts if parts is not None else _subwords(word)  # () for a stop word: cached too
    return out


def path_text(path: str) -> str:
    return path.replace("/", " ").replace(".", " ").replace("-", " ")


def diff_delta(hunks: str) -> Counter:
    """Term counts of the ``+`` lines minus those of the ``-`` lines of a file's diff hunks.

    Adding it to the old version's counts gives the new version's exactly, because no token spans a line end.
    Words are subtracted before they are split, so an edited line costs only the words it changed. One pass
    over the lines: each changed line is cut into words as ``_words`` cuts a text."""
    added: dict[bytes, int] = {}
    removed: dict[bytes, int] = {}
    table = _WORD_BYTES
    for line in hunks.encode("utf-8", "surrogatepass").split(b"\n"):
        sign = line[:1]
        if sign == b"+":
            _count_elements(added, line[1:].translate(table).split())
        elif sign == b"-":
            _count_elements(removed, line[1:].translate(table).split())
    get = added.get
    for word, count in removed.items():
        added[word] = get(word, 0) - count
    return _terms_of(added)


def apply_delta(base: Counter, delta: Counter) -> Counter | None:
    """``base + delta`` without zero counts; None if a count would go negative (the diff did not fit)."""
    out = Counter(base)
    for term, change in delta.items():
        if change:
            value = out.get(term, 0) + change
            if value > 0:
                out[term] = value
            elif value == 0:
                del out[term]
            else:
                return None
    return out


class IncrementalBM25:
    """BM25 (Lucene variant) over documents that are added, changed and removed one at a time.

    Documents live in integer slots. A query's short postings (the usual case: a repository's index holds
    tens of files) are scored in plain Python, long ones with numpy over the slots; both compute bm25s' Lucene
    formulas with the same float operations in the same order, so the scores do not depend on the path."""

    def __init__(self, k1: float = 1.5, b: float = 0.75):
        self.k1, self.b = k1, b
        self.postings: dict[str, dict[int, int]] = {}  # term -> {slot: term frequency}
        self.lengths: dict[str, int] = {}  # doc id -> length in terms
        self.terms: dict[str, set[str]] = {}
        self.slots: dict[str, int] = {}
        self.ids: list[str | None] = []
        self._free: list[int] = []
        self._length_of_slot: list[int] = []
        self.total = 0

    def __len__(self) -> int:
        return len(self.lengths)

    def _slot(self, doc_id: str) -> int:
        slot = self._free.pop() if self._free else len(self.ids)
        if slot == len(self.ids):
            self.ids.append(doc_id)
            self._length_of_slot.append(0)
        else:
            self.ids[slot] = doc_id
        self.slots[doc_id] = slot
        return slot

    def add(self, doc_id: str, counts: Counter, extra: Counter | None = None) -> None:
        """Index a document whose term counts are ``counts`` + ``extra`` (e.g. its content and its path)."""
        if doc_id in self.lengths:
            self.remove(doc_id)
        slot = self._slot(doc_id)
        postings = self.postings
        for term, tf in counts.items():
            bucket = postings.get(term)
            if bucket is None:
                postings[term] = {slot: tf}
            else:
                bucket[slot] = tf
        length = sum(counts.values())
        terms = set(counts)
        if extra:
            for term, tf in extra.items():
                bucket = postings.setdefault(term, {})
                bucket[slot] = bucket.get(slot, 0) + tf
            length += sum(extra.values())
            terms.update(extra)
        self._set_length(doc_id, length)
        self.terms[doc_id] = terms

    def _set_length(self, doc_id: str, length: int) -> None:
        self.total += length - self.lengths.get(doc_id, 0)
        self.lengths[doc_id] = length
        self._length_of_slot[self.slots[doc_id]] = length

    def update(self, doc_id: str, delta: Counter) -> None:
        """Change an indexed document's term counts by ``delta`` (which must not make a count negative)."""
        postings, terms, slot = self.postings, self.terms[doc_id], self.slots[doc_id]
        change = 0
        for term, diff in delta.items():
            if not diff:
                continue
            change += diff
            bucket = postings.get(term)
            value = (bucket.get(slot, 0) if bucket else 0) + diff
            if value > 0:
                if bucket is None:
                    postings[term] = {slot: value}
                else:
                    bucket[slot] = value
                terms.add(term)
            elif bucket is not None:
                bucket.pop(slot, None)
                if not bucket:
                    del postings[term]
                terms.discard(term)
        self._set_length(doc_id, self.lengths[doc_id] + change)

    def remove(self, doc_id: str) -> None:
        length = self.lengths.pop(doc_id, None)
        if length is None:
            return
        self.total -= length
        slot = self.slots.pop(doc_id)
        postings = self.postings
        for term in self.terms.pop(doc_id):
            bucket = postings[term]
            del bucket[slot]
            if not bucket:
                del postings[term]
        self.ids[slot] = None
        self._length_of_slot[slot] = 0
        self._free.append(slot)

    def scores(self, query_terms) -> dict[str, float]:
        """doc id -> BM25 score for the unique terms of the query (documents matching no term are absent)."""
        return {self.ids[slot]: score for slot, score in self._score_slots(query_terms).items()}

    def top(self, query_terms, k: int) -> list[tuple[str, float]]:
        """The ``k`` best documents, best first; ties go to the smaller doc id."""
        if k <= 0:
            return []
        ids = self.ids
        return heapq.nsmallest(k, ((ids[slot], score) for slot, score in self._score_slots(query_terms).items()),
                               key=lambda x: (-x[1], x[0]))

    def _score_slots(self, query_terms) -> dict[int, float]:
        """slot -> score of the documents matching a term of the query."""
        n = len(self.lengths)
        if not n:
            return {}
        avg = self.total / n
        small: dict[int, float] = {}  # sums of the short postings' terms
        lengths, k1, b = self._length_of_slot, self.k1, self.b
        dense = None  # sums of the long postings' terms, per slot (numpy)
        for term in sorted(set(query_terms)):  # a fixed order: float sums do not depend on the hash seed
            bucket = self.postings.get(term)
            if not bucket:
                continue
            idf = _score_idf_lucene(len(bucket), n)
            if len(bucket) < 48:
                get = small.get
                for slot, tf in bucket.items():  # = idf * _score_tfc_lucene(tf, length, avg, k1, b)
                    small[slot] = get(slot, 0.0) + idf * tf / (k1 * ((1 - b) + b * lengths[slot] / avg) + tf)
                continue
            if dense is None:
                dense, matched = np.zeros(len(lengths)), np.zeros(len(lengths), bool)
                length_array = np.array(lengths, float)
            slots = np.fromiter(bucket.keys(), np.int64, len(bucket))
            tf = np.fromiter(bucket.values(), np.float64, len(bucket))
            dense[slots] += idf * _score_tfc_lucene(tf, length_array[slots], avg, k1, b)
            matched[slots] = True
        if dense is None:
            return small
        scores = dict(zip(np.flatnonzero(matched).tolist(), dense[matched].tolist()))
        for slot, value in small.items():
            scores[slot] = scores.get(slot, 0.0) + value
        return scores
