"""Verification sketches: what the stage keeps of a shingle set to check a candidate pair's Jaccard similarity.

A document's sketch is the ``k`` smallest of its shingle hashes, cut to 32 bits (a bottom-k sketch). For a
document with at most ``k`` distinct shingles the sketch is the whole set, and a pair of such documents is
verified exactly. Otherwise the similarity is estimated from the ``k`` smallest values of the union of the two
sketches: the share of them found in both (Broder's bottom-k estimator, unbiased, standard deviation
``sqrt(J (1 - J) / k)``). An estimated pair is accepted down to ``Z`` standard deviations below the threshold,
so a pair at the threshold is rejected with probability below 1%: verification keeps the recall of LSH and
removes its false positives, which lie well below the threshold.

At ``k = 512`` the sketches take 2 KB per document at most, about 0.13 bytes per input byte of code, against
0.7 bytes for the whole sets of 64-bit hashes, and a check costs one merge of two sorted arrays of at most
512 values.
"""

from __future__ import annotations

import math

import numpy as np

#: Standard deviations below the threshold down to which an estimated similarity is accepted: P(reject) at
#: J = threshold is Phi(-2.5) = 0.6%.
Z = 2.5


def sketch(shingle_set: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` smallest distinct 32-bit values of a document's sorted distinct shingle hashes (all of them
    when fewer), sorted, as uint32: the top 32 bits keep the order of the sorted 64-bit hashes."""
    values = (shingle_set[: 2 * k] >> np.uint64(32)).astype(np.uint32)
    values = values[np.concatenate(([True], values[1:] != values[:-1]))] if len(values) else values
    return values[:k]


def similarity(a: np.ndarray, b: np.ndarray, k: int) -> tuple[float, bool]:
    """``(Jaccard similarity, exact)`` of the documents behind two sketches: exact when both hold whole sets."""
    if len(a) == 0 and len(b) == 0:
        return 1.0, True
    exact = len(a) < k and len(b) < k
    union = np.union1d(a, b)
    if not exact:  # the k smallest of the union are the union's own bottom-k, all decidable in both sketches
        union = union[:k]
    both = np.count_nonzero(np.isin(union, a, assume_unique=True) & np.isin(union, b, assume_unique=True))
    return both / len(union), exact


def accepts(estimate: float, exact: bool, threshold: float, k: int) -> bool:
    """Whether a verified pair counts as a near-duplicate: at or above the threshold when exact, within ``Z``
    standard deviations of it when estimated."""
    if exact:
        return estimate >= threshold
    return estimate >= threshold - Z * math.sqrt(threshold * (1.0 - threshold) / k)
