"""Exact deduplication by SHA-256 of the content, with a persistent index for incremental runs."""

from __future__ import annotations

import hashlib
from typing import Literal

import numpy as np
import orjson
from datatrove.pipeline.base import PipelineStep
from pydantic import Field

from curate import BarrierJob, PluginMetadata, PluginParams, Stage, StageContext, atomic_write_bytes, read_bytes
from curate_plugins.lib.dedup_index import DropListed, KeyIndex, priority_of


class ExactDedup(Stage):
    """Keeps one copy of each exact duplicate, comparing the SHA-256 of the content (Seed-Coder: exact
    dedup by SHA-256 at file level and at repository level). ``level: repo`` drops every file of a
    repository whose set of file contents equals an earlier repository's.

    Which copy survives is deterministic: the lowest ``keep`` priority, then input order (shard path, then
    position). Across runs the copy already in the corpus always wins: a later batch never retracts output,
    so with ``keep: first`` running A then B keeps exactly what one run over A+B keeps. The index of kept
    hashes is an ``IndexStore`` in ``state/index/<step id>/``: one part per run, merged size-tiered every
    ``compaction_fanout`` parts, so a run costs O(new data) plus O(log runs) parts to search, and a new batch
    is looked up by binary search on memory-mapped sorted arrays. A rolled-back run's part leaves the index.
    """

    namespace = "dedup"

    class Metadata(PluginMetadata):
        kept_id: str = Field(description="Id of the copy that was kept (on dropped duplicates).")

    class Params(PluginParams):
        level: Literal["file", "repo"] = Field("file", description="Compare single files, or whole repositories "
                                                                   "(the multiset of their file contents).")
        keep: Literal["first", "stars", "metadata"] = Field(
            "first", description="Which duplicate survives: `first` in input order; `stars`: most repository "
                                 "stars; `metadata`: highest value of `keep_key`. Ties go to input order.")
        keep_key: str = Field("quality.score", description="Metadata key used when keep is `metadata`.")
        repo_key: str = Field("repo", description="Metadata key naming the repository (level: repo).")
        compaction_fanout: int = Field(4, ge=2, le=64, json_schema_extra={"affects_output": False},
                                       description="Merge this many index parts of one level into one part of the "
                                                   "next: a corpus of R runs keeps about fanout * log(R) parts.")

    def index_settings(self) -> dict:
        return {"level": self.params.level, "key": "sha256-128"}

    def map_steps(self, ctx: StageContext) -> list[PipelineStep]:
        return [ContentHasher(ctx.work_dir, self.params)]

    def barrier_jobs(self, ctx: StageContext) -> list[BarrierJob]:
        return [BarrierJob([DuplicateResolver(ctx, self.params)], tasks=1, name="resolve")]

    def reduce_steps(self, ctx: StageContext) -> list[PipelineStep]:
        return [DropListedDuplicates(ctx.work_dir, self.params.level)]


class ContentHasher(PipelineStep):
    """Per shard: the 128-bit prefix of each document's SHA-256, its keep priority, id and repository."""

    type = "curate"
    name = "exact_dedup.hash"

    def __init__(self, work_dir: str, params):
        super().__init__()
        self.work_dir, self.params = work_dir, params

    def run(self, data, rank: int = 0, world_size: int = 1):
        digests, priorities, ids, repos = [], [], [], []
        for doc in data or ():
            digests.append(hashlib.sha256(doc.text.encode("utf-8", "surrogatepass")).digest()[:16])
            priorities.append(priority_of(doc, self.params.keep, self.params.keep_key))
            ids.append(doc.id)
            repos.append(str(doc.metadata.get(self.params.repo_key, "")))
            yield doc
        payload = {"digests": b"".join(digests).hex(), "priorities": priorities, "ids": ids, "repos": repos}
        atomic_write_bytes(f"{self.work_dir}/hashes/{rank:05d}.json", orjson.dumps(payload))


class DuplicateResolver(PipelineStep):
    """One task over all shards: choose the keeper of each duplicate group, check the corpus index, write
    the per-shard drop lists, then add the kept hashes of this run to the index."""

    type = "curate"
    name = "exact_dedup.resolve"

    def __init__(self, ctx: StageContext, params):
        super().__init__()
        self.ctx, self.params = ctx, params

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        shards = [orjson.loads(read_bytes(f"{self.ctx.work_dir}/hashes/{r:05d}.json")) for r in range(self.ctx.tasks)]
        items = _flatten(shards)
        if self.params.level == "repo":
            items = _repo_items(items)
        store = self.ctx.index_store()
        index = KeyIndex(store, self.ctx.base_parts())
        drops, kept_keys, kept_ids = _resolve(items, index.lookup(items["keys"]))
        for r in range(self.ctx.tasks):
            atomic_write_bytes(f"{self.ctx.work_dir}/drops/{r:05d}.json", orjson.dumps(drops.get(r, {}),
                                                                                    option=orjson.OPT_NON_STR_KEYS))
        index.add(self.ctx.run_id, kept_keys, kept_ids)
        index.compact(self.ctx.run_id, self.params.compaction_fanout)
        store.stage(self.ctx.run_id, index.parts, ExactDedup(self.params).index_settings())
        return
        yield


def _flatten(shards: list[dict]) -> dict:
    keys, prio, ranks, pos, ids, repos = [], [], [], [], [], []
    for r, shard in enumerate(shards):
        n = len(shard["ids"])
        keys.append(np.frombuffer(bytes.fromhex(shard["digests"]), dtype="S16") if n else np.empty(0, "S16"))
        prio.extend(shard["priorities"])
        ranks.extend([r] * n)
        pos.extend(range(n))
        ids.extend(shard["ids"])
        repos.extend(shard["repos"])
    return {"keys": np.concatenate(keys) if keys else np.empty(0, "S16"), "prio": np.asarray(prio, dtype=float),
            "rank": np.asarray(ranks, dtype=np.int64), "pos": np.asarray(pos, dtype=np.int64), "ids": ids,
            "repos": repos, "members": None}


def _repo_items(files: dict) -> dict:
    """Collapse files into one item per repository whose key is the hash of its sorted file hashes."""
    groups: dict[str, list[int]] = {}
    for i, repo in enumerate(files["repos"]):
        groups.setdefault(repo, []).append(i)
    keys, prio, ranks, pos, ids, members = [], [], [], [], [], []
    for repo in sorted(groups):
        idx = groups[repo]
        keys.append(hashlib.sha256(b"".join(sorted(files["keys"][idx].tolist()))).digest()[:16])
        prio.append(min(files["prio"][idx]))
        first = min(idx, key=lambda i: (files["rank"][i], files["pos"][i]))
        ranks.append(files["rank"][first])
        pos.append(files["pos"][first])
        ids.append(repo)
        members.append(idx)
    return {"keys": np.frombuffer(b"".join(keys), dtype="S16") if keys else np.empty(0, "S16"),
            "prio": np.asarray(prio, dtype=float), "rank": np.asarray(ranks, dtype=np.int64),
            "pos": np.asarray(pos, dtype=np.int64), "ids": ids, "repos": ids, "members": members, "files": files}


def _resolve(items: dict, old_keepers: dict[bytes, str]) -> tuple[dict[int, dict], np.ndarray, list[str]]:
    """Return the drop lists per rank ({position: kept id}), and the keys and ids kept in this run.
    ``old_keepers``: the id already in the corpus for each key of this run that the index holds."""
    keys = items["keys"]
    order = np.lexsort((items["pos"], items["rank"], items["prio"], keys))
    drops: dict[int, dict] = {}
    kept = []
    previous_key, keeper_id = None, None
    for i in order.tolist():
        key = keys[i]
        if key != previous_key:
            previous_key = key
            keeper_id = old_keepers.get(bytes(key).ljust(16, b"\0"))
            if keeper_id is None:
                keeper_id = items["ids"][i]
                kept.append(i)
                continue
        _record_drop(items, i, keeper_id, drops)
    kept_keys = keys[np.asarray(kept, dtype=np.int64)] if kept else np.empty(0, "S16")
    return drops, kept_keys, [items["ids"][i] for i in kept]


def _record_drop(items: dict, i: int, keeper_id: str, drops: dict) -> None:
    if items["members"] is None:
        drops.setdefault(int(items["rank"][i]), {})[int(items["pos"][i])] = keeper_id
        return
    files = items["files"]
    for f in items["members"][i]:
        drops.setdefault(int(files["rank"][f]), {})[int(files["pos"][f])] = keeper_id


class DropListedDuplicates(DropListed):
    """Per shard, after the barrier: drops the documents the resolver listed, recording the kept copy."""

    def drop(self, doc, kept_id) -> str:
        doc.metadata["dedup.kept_id"] = kept_id
        return "exact_duplicate_repo" if self.level == "repo" else "exact_duplicate"
