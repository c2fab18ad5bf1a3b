"""The single-process clustering ``minhash_dedup`` used before its clustering was bounded: insert items in
keep order, union each accepted pair in a dict union-find (an earlier cluster's keeper starts as its own set),
and record an item's root after its own pairs. The benchmark (``--clustering-check``) and the tests compare
the bounded, external-memory clustering with it."""

from __future__ import annotations


def sequential_clusters(edges, old_roots=()) -> tuple[dict, dict, dict]:
    """``edges``: accepted ``(earlier, later)`` pairs. Returns (keeper at insertion and (earliest) match of
    every later item, final root of every node)."""
    parent = {r: r for r in old_roots}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    keepers, matches = {}, {}
    for earlier, later in sorted(map(tuple, edges), key=lambda e: (e[1], e[0])):
        a, b = find(earlier), find(later)
        if a != b:
            parent[max(a, b)] = min(a, b)
        keepers[later] = find(later)  # the last pair of an item sets its root after all its pairs
        matches.setdefault(later, earlier)
    return keepers, matches, {x: find(x) for x in list(parent)}
