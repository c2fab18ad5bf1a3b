"""Connected components of the accepted edges, in external memory: the cluster of every item.

Nodes are this run's items and the clusters of earlier runs its items joined: an edge to an index entry is an
edge to that entry's keeper (the entry already belongs to the keeper's cluster). Node ids are dense and
ordered like positions: the ``m`` earlier keepers touched, ascending, then this run's ``n`` items; so the
smallest id of a component is its earliest member, the keeper.

The labels (``m + n`` int64) and the compressed edges live in memory-mapped files, and every pass reads the
edges in chunks, so memory is bounded by the chunk size whatever the number of items. Each round hooks, for
every edge whose endpoints have different roots, the larger root under the smaller one, then compresses every
label to its root (pointer jumping). Rounds repeat until no edge joins two trees; the result is, for every
node, the smallest id in its component (labels only decrease and only ever point to smaller ids).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

#: Rows handled at once in every pass.
CHUNK = 1 << 20


def _memmap(folder: str, name: str, shape: tuple, dtype=np.int64) -> np.ndarray:
    if shape[0] == 0:
        return np.zeros(shape, dtype=dtype)
    return np.lib.format.open_memmap(os.path.join(folder, f"{name}.npy"), mode="w+", dtype=dtype, shape=shape)


def _roots(labels: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """The root of each node (follow labels until they point to themselves)."""
    current = np.asarray(labels[nodes])
    while True:
        parent = np.asarray(labels[current])
        if np.array_equal(parent, current):
            return current
        current = parent


class Components:
    """Union-find over this run's items and the earlier keepers they touch, in files under ``folder``."""

    def __init__(self, folder: str, base: int, count: int, old_keepers: np.ndarray):
        self.folder, self.base, self.count = folder, base, count
        self.old = np.asarray(old_keepers, dtype=np.int64)  # sorted, distinct
        self.m = len(self.old)
        self.labels = _memmap(folder, "labels", (self.m + count,))
        for start in range(0, len(self.labels), CHUNK):
            stop = min(start + CHUNK, len(self.labels))
            self.labels[start:stop] = np.arange(start, stop, dtype=np.int64)

    def node(self, positions: np.ndarray, keepers: np.ndarray) -> np.ndarray:
        """Node ids of positions: this run's items directly, earlier entries through their ``keepers``."""
        positions = np.asarray(positions, dtype=np.int64)
        new = positions >= self.base
        return np.where(new, self.m + positions - self.base, np.searchsorted(self.old, keepers))

    def position(self, nodes: np.ndarray) -> np.ndarray:
        nodes = np.asarray(nodes, dtype=np.int64)
        return np.where(nodes < self.m, self.old[np.minimum(nodes, max(self.m - 1, 0))] if self.m else 0,
                        self.base + nodes - self.m)

    def solve(self, edge_chunks) -> int:
        """Components of the edges (a callable returning fresh chunks of ``(u, v)`` node-id rows each
        round); returns the number of rounds."""
        rounds = 0
        while True:
            rounds += 1
            joined = False
            for edges in edge_chunks():
                if not len(edges):
                    continue
                ru, rv = _roots(self.labels, edges[:, 0]), _roots(self.labels, edges[:, 1])
                apart = ru != rv
                if apart.any():
                    joined = True
                    np.minimum.at(self.labels, np.maximum(ru, rv)[apart], np.minimum(ru, rv)[apart])
            self._compress()
            if not joined:
                return rounds

    def _compress(self) -> None:
        for start in range(0, len(self.labels), CHUNK):
            stop = min(start + CHUNK, len(self.labels))
            self.labels[start:stop] = _roots(self.labels, np.arange(start, stop, dtype=np.int64))

    def insertion_keepers(self, edge_chunks, folder: str) -> np.ndarray:
        """For each of this run's items, its cluster's keeper (position) at the moment it was inserted, -1
        for items without an accepted edge: the keeper a single sequential pass in keep order records, which
        a later item that bridges two clusters does not change (so A then B gives what A + B gives).

        Clusters evolve independently, so the edges are split by final component into files of about
        ``CHUNK`` rows, and each file is replayed in keep order with a small union-find: memory is bounded by
        the largest file, and every file could be replayed by another task."""
        keepers = _memmap(folder, "keepers", (self.count,))
        keepers[:] = -1
        total = sum(len(c) for c in edge_chunks())
        buckets = max(1, -(-total // CHUNK))
        handles = [open(os.path.join(folder, f"bucket-{b}.bin"), "wb") for b in range(buckets)]  # noqa: SIM115
        try:
            for edges in edge_chunks():
                labels = np.asarray(self.labels[edges[:, 1]])
                rows = np.stack([labels, edges[:, 1], edges[:, 0]], axis=1)
                which = labels % buckets
                for b in np.unique(which).tolist():
                    handles[b].write(np.ascontiguousarray(rows[which == b]).tobytes())
        finally:
            for handle in handles:
                handle.close()
        for b in range(buckets):
            rows = np.fromfile(os.path.join(folder, f"bucket-{b}.bin"), dtype=np.int64).reshape(-1, 3)
            rows = rows[np.lexsort((rows[:, 2], rows[:, 1], rows[:, 0]))]
            self._replay(rows, keepers)
        return keepers

    def _replay(self, rows: np.ndarray, keepers: np.ndarray) -> None:
        """Sequential union-find over ``(component, later, earlier)`` rows sorted by component, later,
        earlier; records each later item's root after its own edges."""
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            root = x
            while parent.get(root, root) != root:
                root = parent[root]
            while parent.get(x, x) != root:
                parent[x], x = root, parent[x]
            return root

        later_items = rows[:, 1].tolist()
        for i, (later, earlier) in enumerate(zip(later_items, rows[:, 2].tolist())):
            a, b = find(earlier), find(later)
            if a != b:
                parent[max(a, b)] = min(a, b)
            if i + 1 == len(later_items) or later_items[i + 1] != later:
                keepers[later - self.m] = self.position(np.asarray([find(later)]))[0]

    def keeper_of_items(self) -> Iterator[np.ndarray]:
        """The keeper position of each of this run's items, in position order, chunk by chunk."""
        for start in range(self.m, self.m + self.count, CHUNK):
            stop = min(start + CHUNK, self.m + self.count)
            yield self.position(np.asarray(self.labels[start:stop]))

    def merges(self) -> np.ndarray:
        """``(old keeper, new keeper)`` for every earlier cluster this run joined to an earlier one."""
        if not self.m:
            return np.empty((0, 2), dtype=np.int64)
        final = self.position(np.asarray(self.labels[:self.m]))
        moved = final != self.old
        return np.stack([self.old[moved], final[moved]], axis=1)
