"""The decisions of the three methods, as pure functions of execution results.

- ``difficulty``: KodCode's label from the pass rate over attempts;
- ``mutual_scores``: CodeDPO's PageRank-style scores of code and tests over a pass matrix;
- ``correctness_pair`` / ``efficiency_pair``: CodeDPO's two kinds of preference pairs;
- ``acecoder_pairs``: AceCoder's pairs from pass rates.
"""

from __future__ import annotations

from collections.abc import Sequence


def difficulty(passes: int, attempts: int) -> str:
    """KodCode: ``easy`` when the pass rate is above 2/3, ``hard`` below 1/3, ``medium`` in between
    (both bounds included), ``unsolved`` when nothing passed."""
    if passes <= 0 or attempts <= 0:
        return "unsolved"
    rate = passes / attempts
    if rate > 2 / 3:
        return "easy"
    if rate < 1 / 3:
        return "hard"
    return "medium"


def mutual_scores(matrix: Sequence[Sequence[int]], damping: float = 0.85, iterations: int = 10,
                  initial: float = 1.0, normalize: bool = True) -> tuple[list[float], list[float]]:
    """Scores of N codes and M tests from the pass matrix ``matrix[i][j]`` (1: code i passes test j).

    CodeDPO: every score starts at ``initial``; each iteration, simultaneously,
    ``code_i = (1 - d) * code_i + d * sum_j test_j * pass_ij`` and ``test_j = (1 - d) * test_j + d * sum_i code_i *
    pass_ij``. With ``normalize`` the sums are divided by the number of tests (codes), so a code passing every
    test of score 1 keeps score 1 and scores stay in [0, initial]; without it they grow with N and M (the ranking
    within one problem is what the pairs use).
    """
    n = len(matrix)
    m = len(matrix[0]) if n else 0
    code = [float(initial)] * n
    test = [float(initial)] * m
    for _ in range(iterations):
        code_sum = [sum(test[j] for j in range(m) if matrix[i][j]) for i in range(n)]
        test_sum = [sum(code[i] for i in range(n) if matrix[i][j]) for j in range(m)]
        if normalize:
            code_sum = [s / m for s in code_sum] if m else code_sum
            test_sum = [s / n for s in test_sum] if n else test_sum
        code = [(1 - damping) * c + damping * s for c, s in zip(code, code_sum)]
        test = [(1 - damping) * t + damping * s for t, s in zip(test, test_sum)]
    return code, test


def correctness_pair(scores: Sequence[float], codes: Sequence[str]) -> tuple[int, int] | None:
    """(top, bottom): the highest-scored code against the lowest-scored one, first index on ties. None when the
    scores do not separate them or the two codes are the same text."""
    if len(scores) < 2:
        return None
    top = max(range(len(scores)), key=lambda i: (scores[i], -i))
    bottom = min(range(len(scores)), key=lambda i: (scores[i], i))
    if scores[top] <= scores[bottom] or _same(codes[top], codes[bottom]):
        return None
    return top, bottom


def trusted_tests(matrix: Sequence[Sequence[int]], top: int) -> list[int]:
    """CodeDPO: the tests the top-scored code passes."""
    return [j for j, passed in enumerate(matrix[top]) if passed]


def efficiency_pair(matrix: Sequence[Sequence[int]], seconds: dict[int, float], trusted: Sequence[int],
                    codes: Sequence[str], min_ratio: float, min_gap: float) -> tuple[int, int] | None:
    """(fast, slow) among the correct codes (passing every trusted test) that were timed (``seconds``: code index ->
    run time on the trusted tests). None unless the slow one takes ``min_ratio`` times as long as the fast one,
    and at least ``min_gap`` seconds more: timing noise alone never makes a pair."""
    if not trusted:
        return None
    correct = [i for i in seconds if all(matrix[i][j] for j in trusted)]
    if len(correct) < 2:
        return None
    fast = min(correct, key=lambda i: (seconds[i], i))
    slow = max(correct, key=lambda i: (seconds[i], -i))
    if _same(codes[fast], codes[slow]):
        return None
    if seconds[slow] < seconds[fast] * min_ratio or seconds[slow] - seconds[fast] < min_gap:
        return None
    return fast, slow


def acecoder_pairs(rates: Sequence[float], codes: Sequence[str], chosen_above: float = 0.8, min_gap: float = 0.4,
                   rejected_above: float = 0.0) -> list[tuple[int, int]]:
    """AceCoder: every (i, j) with s_i > ``chosen_above``, s_i - s_j >= ``min_gap`` and s_j > ``rejected_above``,
    best chosen first; pairs of identical code are skipped."""
    pairs = []
    for i in sorted(range(len(rates)), key=lambda k: (-rates[k], k)):
        if rates[i] <= chosen_above:
            continue
        for j in sorted(range(len(rates)), key=lambda k: (rates[k], k)):
            if rates[j] > rejected_above and rates[i] - rates[j] >= min_gap - 1e-12 and not _same(codes[i], codes[j]):
                pairs.append((i, j))
    return pairs


def _same(a: str, b: str) -> bool:
    return a.strip() == b.strip()
