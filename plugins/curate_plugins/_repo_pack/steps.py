"""The datatrove steps of `repo_packer`: route files to repository buckets, pack each bucket, emit.

- ``RouteByRepo`` (per input shard, before the barrier): writes each file to
  ``work/route/b<bucket>/r<rank>.jsonl.zst`` where ``bucket = xxh64(repo) % buckets``, then a manifest
  ``work/route/r<rank>.json`` with the count per bucket. Files of one repository spread over several shards
  all meet in one bucket. Documents are not passed on: the packed sequences replace them.
- ``PackBuckets`` (barrier job, one task per bucket): groups the bucket's files by repository and packs
  each repository; writes the sequences and the dropped files with their reason, and logs the time split
  and the share of internal references resolved per language.
- ``EmitPacked`` (per shard, after the barrier): rank r emits buckets r, r + shards, ...: the sequences go
  on, and each dropped file goes to ``excluded/`` with its reason, so every input file is accounted for.
"""

from __future__ import annotations

import traceback
from collections import defaultdict

import orjson
import xxhash
from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.logging import logger

from curate import (
    DocumentStep,
    JsonlZstShard,
    atomic_write_bytes,
    doc_to_record,
    iter_shard,
    language_for_path,
    read_bytes,
    record_to_doc,
    step_accounting,
    text_bytes,
)
from curate_plugins._repo_pack.pack import PackConfig, RepoFile, RepoPackerCore, RepoResult


def bucket_of(repo: str, buckets: int) -> int:
    return xxhash.xxh64_intdigest(repo.encode("utf-8", "surrogatepass")) % buckets


class RouteByRepo(DocumentStep):
    """Per shard: writes every file to the bucket of its repository; yields nothing."""

    name = "repo_packer.route"

    def __init__(self, work_dir: str, buckets: int, repo_key: str):
        super().__init__()
        self.work_dir, self.buckets, self.repo_key = work_dir, buckets, repo_key

    def run(self, data, rank: int = 0, world_size: int = 1):
        writers, counts = {}, defaultdict(int)
        try:
            with step_accounting(self.context, self.excluded, rank) as counters:
                self._route(data, rank, counters, writers, counts)
        finally:
            for writer in writers.values():
                writer.discard()
        return
        yield

    def _route(self, data, rank: int, counters, writers: dict, counts: dict) -> None:
        for doc in data or ():
            nbytes = text_bytes(doc.text)
            counters.seen(nbytes)
            repo = doc.metadata.get(self.repo_key)
            if not isinstance(repo, str) or not repo:
                counters.dropped("no_repo", nbytes)
                self._exclude(doc, "no_repo", rank)
                continue
            bucket = bucket_of(repo, self.buckets)
            if bucket not in writers:
                writers[bucket] = JsonlZstShard(f"{self.work_dir}/route/b{bucket:05d}/r{rank:05d}.jsonl.zst")
            writers[bucket].write(doc_to_record(doc))
            counts[bucket] += 1
        for bucket in sorted(writers):
            writers.pop(bucket).commit()
        atomic_write_bytes(f"{self.work_dir}/route/r{rank:05d}.json",
                           orjson.dumps(dict(counts), option=orjson.OPT_NON_STR_KEYS))


class PackBuckets(PipelineStep):
    """Barrier job task ``rank`` packs bucket ``rank``: every repository routed there, in name order."""

    type = "curate"
    name = "repo_packer.pack"

    def __init__(self, work_dir: str, shards: int, cfg: PackConfig, repo_key: str, step_id: str,
                 strict: bool = False):
        super().__init__()
        self.work_dir, self.shards, self.cfg, self.repo_key, self.step_id = work_dir, shards, cfg, repo_key, step_id
        self.strict = strict

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        core = RepoPackerCore(self.cfg)
        with core.timer("read"):
            repos = self._read_bucket(rank)
        packed = JsonlZstShard(f"{self.work_dir}/packed/b{rank:05d}.jsonl.zst")
        dropped = JsonlZstShard(f"{self.work_dir}/dropped/b{rank:05d}.jsonl.zst")
        stats = {"repos": 0, "files": 0, "bytes": 0, "sequences": 0, "counts": defaultdict(lambda: [0, 0, 0])}
        try:
            for repo in sorted(repos):
                files = repos.pop(repo)
                result = self._pack_one(core, repo, files)
                with core.timer("write"):
                    self._write(result, packed, dropped, stats, files)
        except BaseException:
            packed.discard()
            dropped.discard()
            raise
        packed.commit()
        dropped.commit()
        seconds = ", ".join(f"{k} {v:.2f}s" for k, v in sorted(core.timer.seconds.items()))
        resolved = ", ".join(f"{lang} {c[1]}/{c[0]}" for lang, c in sorted(stats["counts"].items()) if c[0])
        logger.info(f"repo_packer bucket {rank}: {stats['repos']} repositories, {stats['files']} files, "
                    f"{stats['bytes'] / 1e6:.1f} MB -> {stats['sequences']} sequences; time {seconds}; "
                    f"internal references resolved: {resolved or '-'}")
        return
        yield

    def _pack_one(self, core: RepoPackerCore, repo: str, files: list[RepoFile]) -> RepoResult:
        """Pack one repository; an unexpected error drops its files with the error as reason (unless strict)."""
        try:
            return core.pack(repo, files)
        except Exception as exc:  # noqa: BLE001 - one bad repository must not stop the run
            if self.strict:
                raise
            message = "".join(traceback.format_exception_only(exc)).strip()[:2000]
            for f in files:
                f.metadata["drop.error"] = f"repository {repo}: {message}"
            return RepoResult(dropped=[(f, f"error:{type(exc).__name__}") for f in files])

    def _read_bucket(self, bucket: int) -> dict[str, list[RepoFile]]:
        repos: dict[str, list[RepoFile]] = defaultdict(list)
        for shard in range(self.shards):
            raw = read_bytes(f"{self.work_dir}/route/r{shard:05d}.json")
            if raw is None:
                raise FileNotFoundError(f"{self.work_dir}/route/r{shard:05d}.json: the route step of shard "
                                        f"{shard} did not finish")
            manifest = orjson.loads(raw)
            if not manifest.get(str(bucket)):
                continue
            for rec in iter_shard(f"{self.work_dir}/route/b{bucket:05d}/r{shard:05d}.jsonl.zst"):
                meta = rec.get("metadata") or {}
                path = str(meta.get("path") or "")
                lang = meta.get("lang") or language_for_path(path)
                repos[meta[self.repo_key]].append(RepoFile(rec["id"], path, lang, rec["text"], meta))
        return repos

    def _write(self, result, packed, dropped, stats, files) -> None:
        stats["repos"] += bool(result.sequences)
        stats["files"] += len(files)
        stats["bytes"] += sum(text_bytes(f.text) for f in files)
        stats["sequences"] += len(result.sequences)
        for lang, (internal, resolved, external) in result.counts.items():
            entry = stats["counts"][lang]
            entry[0] += internal
            entry[1] += resolved
            entry[2] += external
        for record in result.sequences:
            packed.write(record)
        for f, reason in result.dropped:
            meta = {**f.metadata, "drop.reason": reason, "drop.step": self.step_id}
            dropped.write({"id": f.id, "text": f.text, "metadata": meta})


class EmitPacked(DocumentStep):
    """Per shard, after the barrier: emits the sequences of buckets ``rank, rank + shards, ...`` and
    records their dropped files in ``excluded/``."""

    name = "repo_packer.emit"

    def __init__(self, work_dir: str, buckets: int, shards: int):
        super().__init__()
        self.work_dir, self.buckets, self.shards = work_dir, buckets, shards

    def run(self, data, rank: int = 0, world_size: int = 1):
        with step_accounting(self.context, self.excluded, rank) as counters:
            for doc in data or ():  # nothing is expected: the route step keeps documents out of the scratch
                counters.kept(text_bytes(doc.text))
                yield doc
            for bucket in range(rank, self.buckets, self.shards):
                for rec in iter_shard(f"{self.work_dir}/dropped/b{bucket:05d}.jsonl.zst"):
                    doc = record_to_doc(rec)
                    counters.dropped(doc.metadata["drop.reason"], text_bytes(doc.text))
                    if self.excluded is not None:
                        self.excluded.write(doc, rank)
                for rec in iter_shard(f"{self.work_dir}/packed/b{bucket:05d}.jsonl.zst"):
                    doc = Document(text=rec["text"], id=rec["id"], metadata=rec["metadata"])
                    counters.kept(text_bytes(doc.text))
                    yield doc
