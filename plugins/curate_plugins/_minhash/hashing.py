"""Shingles, MinHash signatures and LSH band keys, vectorised with numpy (signatures by ``rensa``).

Tokens are the maximal runs of identifier characters: ASCII letters, digits and ``_``, and any non-ASCII
character (so Unicode identifiers stay whole). ASCII punctuation, operators and whitespace only separate
tokens (BigCode's ``NON_ALPHA`` split). Splitting is a ``bytes.translate`` plus ``split``, about 100 MB/s. A
shingle is ``ngram`` consecutive tokens; each token is hashed to 64 bits (rensa's fixed-key token hash) and a
shingle's 64-bit hash is a polynomial of its token hashes followed by a 64-bit finaliser, so no shingle string is
ever built.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from rensa import RMinHash

_IDENTIFIER_BYTES = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") | set(range(128, 256))
_SEPARATE = bytes(b if b in _IDENTIFIER_BYTES else 0x20 for b in range(256))
_MULT = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_EMPTY = np.empty(0, dtype=np.uint64)


def tokens(text: str) -> list[bytes]:
    """The document's tokens as UTF-8 bytes, in order."""
    return text.encode("utf-8", "surrogatepass").translate(_SEPARATE).split()


def _finalise(x: np.ndarray) -> np.ndarray:
    """splitmix64's output function: a bijective 64-bit mixer."""
    x = x ^ (x >> np.uint64(30))
    x = x * _MIX1
    x = x ^ (x >> np.uint64(27))
    x = x * _MIX2
    return x ^ (x >> np.uint64(31))


def shingle_hashes(text: str, ngram: int) -> np.ndarray:
    """The 64-bit hashes of the document's token ``ngram``-grams (with repeats, in text order).

    A document shorter than ``ngram`` tokens has one shingle made of all its tokens; an empty one has none.
    """
    words = tokens(text)
    if not words:
        return _EMPTY
    token_hashes = np.asarray(RMinHash.hash_token_sets((words,))[0], dtype=np.uint64)
    width = min(ngram, len(words))
    count = len(words) - width + 1
    with np.errstate(over="ignore"):
        acc = token_hashes[:count].copy()
        for j in range(1, width):
            acc *= _MULT
            acc += token_hashes[j:j + count]
        return _finalise(acc)


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
        offsets = np.zeros(len(shingle_arrays) + 1, dtype=np.uint64)
        np.cumsum(lengths, out=offsets[1:])
        flat = np.concatenate(shingle_arrays) if lengths.sum() else _EMPTY
        matrix = RMinHash.digest_matrix_from_flat_token_hashes(flat, offsets, self.num_perm, self.seed)
        return np.array(matrix.to_rows(), dtype=np.uint32).reshape(len(shingle_arrays), self.num_perm)


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
