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

from curate_plugins._minhash.hashing import sorted_unique

#: Standard deviations below the threshold down to which an estimated similarity is accepted: P(reject) at
#: J = threshold is Phi(-2.5) = 0.6%.
Z = 2.5


def sketch(shingles: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` smallest distinct values (all of them when fewer) of the top 32 bits of a document's shingle
    hashes (any order, repeats allowed), sorted, as uint32."""
    top = (np.asarray(shingles, dtype=np.uint64) >> np.uint64(32)).astype(np.uint32)
    if len(top) > 4 * k:  # the 4k smallest values hold the k smallest distinct ones, unless repeats abound
        values = sorted_unique(np.partition(top, 4 * k)[:4 * k])
        if len(values) >= k:
            return values[:k]
    return sorted_unique(top)[:k]


def similarity(a: np.ndarray, b: np.ndarray, k: int) -> tuple[float, bool]:
    """``(Jaccard similarity, exact)`` of the documents behind two sketches: exact when both hold whole sets."""
    if len(a) == 0 and len(b) == 0:
        return 1.0, True
    exact = len(a) < k and len(b) < k
    if len(a) == len(b) and np.array_equal(a, b):
        return 1.0, exact
    merged = np.sort(np.concatenate((a, b)))
    repeated = merged[1:] == merged[:-1]  # each value in both sketches appears twice
    if exact:
        both = int(np.count_nonzero(repeated))
        return both / (len(merged) - both), True
    union = merged[np.concatenate(([True], ~repeated))]
    # the k smallest of the union are the union's own bottom-k, and each of them is decidable in both sketches
    limit = union[min(k, len(union)) - 1]
    both = int(np.count_nonzero(merged[1:][repeated] <= limit))
    return both / min(k, len(union)), False


def accepts(estimate: float, exact: bool, threshold: float, k: int) -> bool:
    """Whether a verified pair counts as a near-duplicate: at or above the threshold when exact, within ``Z``
    standard deviations of it when estimated."""
    if exact:
        return estimate >= threshold
    return estimate >= threshold - Z * math.sqrt(threshold * (1.0 - threshold) / k)
