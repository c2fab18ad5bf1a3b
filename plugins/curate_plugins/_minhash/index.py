"""The persistent MinHash index of one stage, on ``curate.IndexStore``: immutable parts, one snapshot per run.

Every document (or repository) a run saw has a *global position*: its rank in keep order, counted over all
runs (a run's items come after every earlier run's items). A part covers a contiguous range of positions,
``[base, base + count)``: one run's items (level 0), or the items of several consecutive runs merged by
compaction (level L + 1 from ``fanout`` parts of level L). It is one file (``partfile.py``) with::

    keys         uint64, sorted: the LSH band keys of every item and band (keys are salted with their band)
    items        uint32 or int64: the item of each key, as position - base (ascending within a key)
    ids, ids_off       the items' ids (UTF-8 bytes and boundaries)
    roots        int64: each item's cluster keeper (position) when its run finished
    merges       int64 (k, 2): (old keeper, new keeper) for the clusters its runs joined together
    sketch, sketch_off  verification sketches (uint32) and boundaries, when ``verify`` is on
    meta: base, count, runs, level, verify

A run reads the committed snapshot's parts, looks up only its own band keys (binary search in memory-mapped
sorted arrays: O(new keys × log) per part, O(fanout × log(runs)) parts) and reads the entries of the items it
matched, so its cost grows with the new data, not with the corpus. Compaction merges key ranges chunk by
chunk, so memory stays bounded however large the parts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from curate import IndexPart, IndexStore, filesystem
from curate_plugins._minhash.partfile import PartFile, PartWriter

#: Parts of one level merged into one part of the next level.
FANOUT = 4
#: Entries (key, item) handled at once when keys are merged: bounds the memory of the buckets job and of the
#: part writer (about 50 MB).
CHUNK_ENTRIES = 1 << 20
#: Index settings that must not change between runs: entries made under other settings are not comparable.
COMPARABLE = ("level", "num_perm", "ngram", "seed", "bands", "rows", "sketch_size")


class IndexSettingsError(ValueError):
    pass


def key_bounds(total: int) -> list[tuple[int, int | None]]:
    """Split the uint64 key space into key ranges of about ``CHUNK_ENTRIES`` entries each (keys are uniform)."""
    chunks = max(1, math.ceil(total / CHUNK_ENTRIES))
    edges = [i * (1 << 64) // chunks for i in range(chunks)]
    return [(lo, edges[i + 1] if i + 1 < chunks else None) for i, lo in enumerate(edges)]


def key_slice(keys: np.ndarray, lo: int, hi: int | None) -> slice:
    start = int(np.searchsorted(keys, np.uint64(lo), side="left")) if lo else 0
    stop = int(np.searchsorted(keys, np.uint64(hi), side="left")) if hi is not None else len(keys)
    return slice(start, stop)


def merged_chunks(sources: list[Callable[[int, int | None], tuple[np.ndarray, np.ndarray]]],
                  total: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Sorted ``(keys, positions)`` over all sources, one key range at a time; each source returns its
    sorted keys and their positions within a key range."""
    for lo, hi in key_bounds(total):
        pieces = [source(lo, hi) for source in sources]
        keys = np.concatenate([k for k, _ in pieces]) if pieces else np.empty(0, dtype=np.uint64)
        positions = np.concatenate([p for _, p in pieces]) if pieces else np.empty(0, dtype=np.int64)
        order = np.lexsort((positions, keys))
        yield keys[order], positions[order]


def item_dtype(count: int):
    return np.uint32 if count < (1 << 32) else np.int64


class PartContent:
    """What a new part holds, as streams, so that it is written with bounded memory."""

    def __init__(self, base: int, count: int, runs: list[str], level: int, verify: bool):
        self.base, self.count, self.runs, self.level, self.verify = base, count, runs, level, verify

    def write(self, path: str, key_chunks: Iterable[tuple[np.ndarray, np.ndarray]],
              ids: Iterable[tuple[np.ndarray, np.ndarray]], roots: Iterable[np.ndarray],
              sketches: Iterable[tuple[np.ndarray, np.ndarray]] | None, merges: np.ndarray) -> int:
        """Write the part; ``ids`` and ``sketches`` yield ``(values, lengths)`` chunks in position order."""
        writer = PartWriter(path)
        keys, items = writer.section("keys", np.uint64), writer.section("items", item_dtype(self.count))
        entries = 0
        for chunk_keys, positions in key_chunks:
            keys.append(chunk_keys)
            items.append(positions - self.base)
            entries += len(chunk_keys)
        _blob_sections(writer, "ids", np.uint8, ids)
        root_section = writer.section("roots", np.int64)
        for chunk in roots:
            root_section.append(chunk)
        if self.verify:
            _blob_sections(writer, "sketch", np.uint32, sketches or ())
        writer.array("merges", np.asarray(merges, dtype=np.int64).reshape(-1, 2))
        meta = {"base": self.base, "count": self.count, "runs": self.runs, "level": self.level,
                "verify": self.verify, "entries": entries}
        return writer.close(meta)


def _blob_sections(writer: PartWriter, name: str, dtype, chunks) -> None:
    values, offsets = writer.section(name, dtype), writer.section(f"{name}_off", np.int64)
    offsets.append(np.zeros(1, dtype=np.int64))
    carry = 0
    for chunk, lengths in chunks:
        values.append(chunk)
        ends = carry + np.cumsum(np.asarray(lengths, dtype=np.int64))
        offsets.append(ends)
        carry = int(ends[-1]) if len(ends) else carry


class Part:
    """One part, open for reading."""

    def __init__(self, store: IndexStore, info: IndexPart):
        self.info, self.file = info, PartFile(store.part_path(info.name))
        self.base, self.count = int(self.file.meta["base"]), int(self.file.meta["count"])
        self.verify = bool(self.file.meta["verify"])

    def keys(self) -> np.ndarray:
        return self.file["keys"]

    def slice(self, lo: int, hi: int | None) -> tuple[np.ndarray, np.ndarray]:
        keys = self.file["keys"]
        s = key_slice(keys, lo, hi)
        return np.asarray(keys[s]), self.base + np.asarray(self.file["items"][s], dtype=np.int64)

    def blob(self, name: str, local: int) -> np.ndarray:
        offsets = self.file[f"{name}_off"]
        return np.asarray(self.file[name][int(offsets[local]):int(offsets[local + 1])])

    def blob_chunks(self, name: str, rows: int = 1 << 16) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        offsets = np.asarray(self.file[f"{name}_off"], dtype=np.int64)
        for start in range(0, self.count, rows):
            stop = min(start + rows, self.count)
            yield (np.asarray(self.file[name][offsets[start]:offsets[stop]]),
                   np.diff(offsets[start:stop + 1]))


class MinHashIndex:
    """The parts of one snapshot, ordered by position; lookups by band key and by position."""

    def __init__(self, store: IndexStore, parts: list[IndexPart]):
        self.store = store
        self.parts = sorted((Part(store, p) for p in parts), key=lambda p: p.base)
        self.bases = np.asarray([p.base for p in self.parts], dtype=np.int64)
        self.size = sum(p.count for p in self.parts)
        self._merges: dict[int, int] | None = None

    def bucket_ends(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of the first and last index entries sharing each key (-1 where none)."""
        first = np.full(len(keys), -1, dtype=np.int64)
        last = np.full(len(keys), -1, dtype=np.int64)
        for part in self.parts:  # in position order: the first part with a key holds its first entry
            part_keys = part.keys()
            lo = np.searchsorted(part_keys, keys, side="left")
            hi = np.searchsorted(part_keys, keys, side="right")
            found = np.flatnonzero(hi > lo)
            if not len(found):
                continue
            items = part.file["items"]
            head = part.base + np.asarray(items[lo[found]], dtype=np.int64)
            tail = part.base + np.asarray(items[hi[found] - 1], dtype=np.int64)
            unset = first[found] < 0
            first[found[unset]] = head[unset]
            last[found] = tail
        return first, last

    def part_of(self, position: int) -> Part:
        return self.parts[int(np.searchsorted(self.bases, position, side="right")) - 1]

    def doc_id(self, position: int) -> str:
        part = self.part_of(position)
        return part.blob("ids", position - part.base).tobytes().decode("utf-8", "surrogatepass")

    def sketch(self, position: int) -> np.ndarray | None:
        """The entry's verification sketch, or None when its run did not keep sketches (verify off)."""
        part = self.part_of(position)
        return part.blob("sketch", position - part.base) if part.verify else None

    def merges(self) -> dict[int, int]:
        """Keeper -> newer keeper, over every part (small: one entry per pair of clusters ever joined)."""
        if self._merges is None:
            self._merges = {}
            for part in self.parts:
                for old, new in np.asarray(part.file["merges"]).reshape(-1, 2).tolist():
                    self._merges[old] = new
        return self._merges

    def roots(self, positions: np.ndarray) -> np.ndarray:
        """The current cluster keeper of each index position."""
        positions = np.asarray(positions, dtype=np.int64)
        out = np.empty(len(positions), dtype=np.int64)
        which = np.searchsorted(self.bases, positions, side="right") - 1
        for i, part in enumerate(self.parts):
            mine = which == i
            if mine.any():
                out[mine] = np.asarray(part.file["roots"], dtype=np.int64)[positions[mine] - part.base]
        merges = self.merges()
        if merges:
            out = np.asarray([_follow(merges, int(r)) for r in out.tolist()], dtype=np.int64)
        return out


def _follow(merges: dict[int, int], root: int) -> int:
    while root in merges:
        root = merges[root]
    return root


def merge_parts(store: IndexStore, group: list[IndexPart], name: str) -> IndexPart:
    """Compaction: one part of the next level holding the entries of ``group`` (consecutive parts)."""
    parts = sorted((Part(store, p) for p in group), key=lambda p: p.base)
    base, count = parts[0].base, sum(p.count for p in parts)
    verify = all(p.verify for p in parts)
    runs = [r for p in parts for r in p.file.meta["runs"]]
    content = PartContent(base, count, runs, max(p.level for p in group) + 1, verify)
    entries = sum(int(p.file.meta["entries"]) for p in parts)
    merges = np.concatenate([np.asarray(p.file["merges"]).reshape(-1, 2) for p in parts])
    nbytes = content.write(
        store.part_path(name), merged_chunks([p.slice for p in parts], entries),
        (chunk for p in parts for chunk in p.blob_chunks("ids")),
        (np.asarray(p.file["roots"]) for p in parts),
        (chunk for p in parts for chunk in p.blob_chunks("sketch")) if verify else None, merges)
    return IndexPart(name, tuple(runs), level=content.level, entries=entries, nbytes=nbytes,
                     meta={"base": base, "count": count})


def compact(store: IndexStore, parts: list[IndexPart], run_id: str) -> list[IndexPart]:
    """Merge size-tiered groups (``IndexStore.plan_compaction``) until none is left; the merged parts are new
    files named after this run, the old ones stay for rollback until ``gc``."""
    merged = 0
    parts = sorted(parts, key=lambda p: p.meta["base"])
    while groups := store.plan_compaction(parts, FANOUT):
        for group in groups:
            merged += 1
            new = merge_parts(store, group, f"{run_id}-L{group[0].level + 1}-{merged}.mhp")
            parts = sorted([p for p in parts if p not in group] + [new], key=lambda p: p.meta["base"])
    return parts


def check_settings(store: IndexStore, settings: dict) -> None:
    """Refuse to extend an index built with other hashing settings, or by an older version of the stage (one
    file set per run): its entries would not be comparable, and ignoring them would silently stop deduplicating
    against the corpus already built."""
    fs, root = filesystem(store.root)
    names = [n.rsplit("/", 1)[-1] for n in fs.ls(root, detail=False)] if fs.exists(root) else []
    legacy = [n for n in names if ".minhash-" in n and n.endswith(".done")]
    if legacy:
        raise IndexSettingsError(
            f"minhash_dedup: {store.root} holds an index written by an older curate ({legacy[0]}, one file set per "
            "run); this version keeps compacted parts. Build the corpus again into a new output.dir.")
    snap = store.current()
    if snap is None or not snap.parts:
        return
    old = snap.settings or {}
    changed = [f"{k}: {old.get(k)!r} -> {settings.get(k)!r}" for k in COMPARABLE if old.get(k) != settings.get(k)]
    if changed:
        raise IndexSettingsError(
            f"minhash_dedup: the index in {store.root} was built by {snap.run_id} with other settings "
            f"({'; '.join(changed)}); its entries cannot be compared with this run's. Restore those settings, "
            "or write to a new output.dir.")
