"""Shingles, MinHash signatures and LSH band keys, vectorised with numpy over a batch of documents
(signatures by ``rensa``).

Tokens are the maximal runs of identifier characters: ASCII letters, digits and ``_``, and any non-ASCII
character (so Unicode identifiers stay whole). ASCII punctuation, operators and whitespace only separate
tokens (BigCode's ``NON_ALPHA`` split). A shingle is ``ngram`` consecutive tokens of one document.

No token or shingle string is ever built. A batch of documents is one UTF-8 byte string: ``bytes.translate``
marks identifier bytes, and the token boundaries are where the mark changes. A token's 64-bit hash folds its
bytes in 8-byte words, read straight from the byte string at the token's offset (one gather per word, most
tokens need one), with splitmix64's finaliser and the token's length; a shingle's hash is a polynomial of its
token hashes, finalised the same way. About 200 MB/s per core for shingle hashes, against 50 MB/s for
splitting into ``bytes`` tokens and hashing them one by one.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from rensa import RMinHash

_IDENTIFIER_BYTES = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") | set(range(128, 256))
_SEPARATE = bytes(b if b in _IDENTIFIER_BYTES else 0x20 for b in range(256))
_MARK = bytes(1 if b in _IDENTIFIER_BYTES else 0 for b in range(256))
_LOW_BYTES = np.asarray([(1 << (8 * i)) - 1 for i in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
_MULT = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_LENGTH = np.uint64(0x165667B19E3779F9)
_EMPTY = np.empty(0, dtype=np.uint64)


def tokens(text: str) -> list[bytes]:
    """The document's tokens as UTF-8 bytes, in order (the same tokens the batch hasher finds)."""
    return text.encode("utf-8", "surrogatepass").translate(_SEPARATE).split()


def _finalise(x: np.ndarray) -> np.ndarray:
    """splitmix64's output function: a bijective 64-bit mixer."""
    x = x ^ (x >> np.uint64(30))
    x = x * _MIX1
    x = x ^ (x >> np.uint64(27))
    x = x * _MIX2
    return x ^ (x >> np.uint64(31))


def _fold(x: np.ndarray) -> np.ndarray:
    """A cheap non-linear step between two words of a long token (a xorshift and a multiplication)."""
    return (x ^ (x >> np.uint64(31))) * _MIX1


def token_hashes(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(hashes, document)``: the 64-bit hash of every token of the batch in order, and the index of the
    document it belongs to."""
    encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
    raw = b" " + b" ".join(encoded) + b" "  # the spaces keep documents' tokens apart and frame the batch
    marks = np.frombuffer(raw.translate(_MARK), dtype=np.int8)
    edges = np.flatnonzero(marks[1:] != marks[:-1]) + 1
    starts, ends = edges[0::2], edges[1::2]
    if not len(starts):
        return _EMPTY, np.empty(0, dtype=np.int64)
    lengths = ends - starts
    padded = raw + bytes(8)
    words = np.ndarray((len(raw) + 1,), dtype="<u8", buffer=padded, strides=(1,))  # 8 bytes from every offset
    with np.errstate(over="ignore"):
        hashes = words[starts] & _LOW_BYTES[np.minimum(lengths, 8)]
        longer, offset = np.flatnonzero(lengths > 8), 8
        while len(longer):  # tokens longer than 8 bytes: fold in one more word each round
            rest = lengths[longer] - offset
            tail = words[starts[longer] + offset] & _LOW_BYTES[np.minimum(rest, 8)]
            hashes[longer] = _fold(hashes[longer]) + tail
            longer, offset = longer[rest > 8], offset + 8
        hashes = _finalise(hashes + lengths.astype(np.uint64) * _LENGTH)
    sizes = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    doc_starts = np.concatenate(([1], np.cumsum(sizes[:-1] + 1) + 1))  # offsets in raw
    per_doc = np.diff(np.searchsorted(starts, doc_starts), append=len(starts))
    return hashes, np.repeat(np.arange(len(texts), dtype=np.int64), per_doc)


def batch_shingles(texts: list[str], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """``(hashes, offsets)``: the 64-bit hashes of every document's token ``ngram``-grams (with repeats, in
    text order), document i's at ``hashes[offsets[i]:offsets[i + 1]]``. A document shorter than ``ngram``
    tokens has one shingle made of all its tokens; one without tokens has none."""
    words, doc = token_hashes(texts)
    counts = np.bincount(doc, minlength=len(texts))
    count = max(len(words) - ngram + 1, 0)
    with np.errstate(over="ignore"):
        acc = words[:count].copy()
        for j in range(1, ngram):
            acc *= _MULT
            acc += words[j:j + count]
        valid = doc[:count] == doc[ngram - 1:ngram - 1 + count]
        hashes, owner = _finalise(acc)[valid], doc[:count][valid]
        short = np.flatnonzero((counts > 0) & (counts < ngram))
        if len(short):  # one shingle of all its tokens each
            first = np.concatenate(([0], np.cumsum(counts)))[short]
            extra = np.empty(len(short), dtype=np.uint64)
            for i, (start, size) in enumerate(zip(first.tolist(), counts[short].tolist())):
                value = words[start].copy()
                for j in range(1, size):
                    value = value * _MULT + words[start + j]
                extra[i] = value
            hashes, owner = np.concatenate((hashes, _finalise(extra))), np.concatenate((owner, short))
            order = np.argsort(owner, kind="stable")
            hashes, owner = hashes[order], owner[order]
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=len(texts)), out=offsets[1:])
    return hashes, offsets


def shingle_hashes(text: str, ngram: int) -> np.ndarray:
    """The 64-bit hashes of one document's token ``ngram``-grams (with repeats, in text order)."""
    return batch_shingles([text], ngram)[0]


def shingle_set(text: str, ngram: int) -> np.ndarray:
    """Sorted distinct shingle hashes: the set whose Jaccard similarity MinHash estimates."""
    return sorted_unique(shingle_hashes(text, ngram))


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` for uint64 by sort and mask: about 10x faster than numpy 2's hash-based unique here."""
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if len(values) else values


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted distinct hash arrays."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


class Signer:
    """MinHash signatures of many documents at once: ``rensa``'s RMinHash over our 64-bit shingle hashes.

    ``rensa`` permutes 64-bit inputs with ``num_perm`` seeded hash functions and keeps the minimum of each,
    like datasketch (the test cross-checks the Jaccard estimates of the two).
    """

    def __init__(self, num_perm: int, seed: int):
        self.num_perm, self.seed = num_perm, seed

    def signatures(self, shingle_arrays: list[np.ndarray]) -> np.ndarray:
        """A (documents × num_perm) uint32 matrix. A document with no shingle gets all-max values."""
        if not shingle_arrays:
            return np.empty((0, self.num_perm), dtype=np.uint32)
        lengths = np.fromiter((len(a) for a in shingle_arrays), dtype=np.int64, count=len(shingle_arrays))
        offsets = np.zeros(len(shingle_arrays) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return self.signatures_flat(np.concatenate(shingle_arrays) if lengths.sum() else _EMPTY, offsets)

    def signatures_flat(self, hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Signatures of documents given as one flat array of shingle hashes and their boundaries."""
        documents = len(offsets) - 1
        if documents <= 0:
            return np.empty((0, self.num_perm), dtype=np.uint32)
        matrix = RMinHash.digest_matrix_from_flat_token_hashes(np.ascontiguousarray(hashes, dtype=np.uint64),
                                                               np.asarray(offsets, dtype=np.uint64),
                                                               self.num_perm, self.seed)
        return np.array(matrix.to_rows(), dtype=np.uint32).reshape(documents, self.num_perm)


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(documents × bands) uint64 keys: each band's ``rows`` values hashed together with the band number,
    so keys of different bands never meet."""
    n = signatures.shape[0]
    values = signatures[:, : bands * rows].astype(np.uint64).reshape(n, bands, rows)
    with np.errstate(over="ignore"):
        acc = np.broadcast_to(np.arange(1, bands + 1, dtype=np.uint64) * _MIX2, (n, bands)).copy()
        for r in range(rows):
            acc *= _MULT
            acc += values[:, :, r]
        return _finalise(acc)


#: With verification, the derived layout misses a pair at exactly the threshold with at most this probability.
RECALL_FIRST_MISS = 0.01


def miss_probability(similarity: float, bands: int, rows: int) -> float:
    """Probability that LSH never makes a pair of this Jaccard similarity a candidate."""
    return (1.0 - similarity ** rows) ** bands


@lru_cache(maxsize=64)
def recall_first_bands(threshold: float, num_perm: int, miss: float = RECALL_FIRST_MISS) -> tuple[int, int]:
    """The layout for verified LSH: among the (bands, rows) with bands × rows ≤ num_perm that miss a pair at
    the threshold with probability ≤ ``miss``, the one with the least false-positive probability mass below
    the threshold (each false positive costs one verification). When no layout reaches ``miss``, the one that
    misses least."""
    integrate = getattr(np, "trapezoid", None) or np.trapz  # numpy 2 renamed trapz
    below = np.linspace(0.0, threshold, 201)
    best, best_cost = None, math.inf
    for rows in range(1, num_perm + 1):
        p = threshold ** rows
        if p <= 0.0:
            break
        bands = 1 if p >= 1.0 else max(1, math.ceil(math.log(miss) / math.log1p(-p)))
        if bands * rows > num_perm:
            continue
        cost = integrate(1.0 - (1.0 - below ** rows) ** bands, below)
        if cost < best_cost:
            best, best_cost = (bands, rows), cost
    if best is None:
        best = min(((num_perm // r, r) for r in range(1, num_perm + 1)),
                   key=lambda layout: miss_probability(threshold, *layout))
    return best


@lru_cache(maxsize=64)
def optimal_bands(threshold: float, num_perm: int, false_negative_weight: float = 0.5) -> tuple[int, int]:
    """The (bands, rows) with bands × rows ≤ num_perm minimising the weighted false positive and false
    negative probability mass around ``threshold`` (datasketch's ``_optimal_param``)."""
    best, best_error = (1, 1), math.inf
    integrate = getattr(np, "trapezoid", None) or np.trapz  # numpy 2 renamed trapz
    below, above = np.linspace(0.0, threshold, 201), np.linspace(threshold, 1.0, 201)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = integrate(1.0 - (1.0 - below ** r) ** b, below)
            fn = integrate((1.0 - above ** r) ** b, above)
            error = (1.0 - false_negative_weight) * fp + false_negative_weight * fn
            if error < best_error:
                best, best_error = (b, r), error
    return best
