"""What every barrier job of one ``minhash_dedup`` run needs to know: its files, its index, its positions."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from curate import IndexPart, IndexStore
from curate_plugins._minhash.index import MinHashIndex, check_settings
from curate_plugins._minhash.work import Positions, shard_counts

#: Items per partition of the verify job (its candidate pairs are held in memory at once).
ITEMS_PER_PARTITION = 1 << 20


@dataclass
class RunView:
    """Picklable description of one run of the stage; ``load()`` opens its index and positions."""

    work_dir: str
    index_dir: str
    run_id: str
    parts: int  # shards of items (1 at repository level, after grouping)
    verify: bool
    ordered: bool  # positions come from the ``order`` job (keep rules other than ``first``)
    partitions: int  # tasks of the verify job (each handles every n-th partition of positions)
    settings: dict = field(default_factory=dict)
    rebuild: bool = False  # the runner rebuilds this index from the corpus: start from an empty one
    #: the committed parts this run starts from (``ctx.base_parts()``: none when the runner rebuilds the index);
    #: the runner commits the snapshot this run stages when it publishes the run
    base_parts: list = field(default_factory=list)

    def load(self) -> LoadedRun:
        return LoadedRun(self)


class LoadedRun:
    def __init__(self, view: RunView):
        self.view = view
        self.work_dir, self.run_id, self.parts, self.verify = view.work_dir, view.run_id, view.parts, view.verify
        self.settings = view.settings
        self.store = IndexStore(view.index_dir)
        if not view.rebuild:
            check_settings(self.store, view.settings)
        self.committed: list[IndexPart] = list(view.base_parts)
        self.base = sum(int(p.meta["count"]) for p in self.committed)
        self.counts = shard_counts(view.work_dir, view.parts)
        self.positions = Positions(view.work_dir, self.base, self.counts, view.ordered)
        # at least one partition of the verify job per ITEMS_PER_PARTITION items: bounds a verify task's memory
        self.partitions = max(view.partitions, -(-self.positions.total // ITEMS_PER_PARTITION))
        self._index: MinHashIndex | None = None

    def index(self) -> MinHashIndex:
        """The committed index: every earlier run's items."""
        if self._index is None:
            self._index = MinHashIndex(self.store, self.committed)
        return self._index

    def partition_of(self, positions: np.ndarray) -> np.ndarray:
        """The verify partition of each of this run's positions (contiguous ranges of positions)."""
        total = max(1, self.positions.total)
        return (np.asarray(positions, dtype=np.int64) - self.base) * self.partitions // total
