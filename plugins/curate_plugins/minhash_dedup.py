"""MinHash LSH near-deduplication at file or repository level, with a persistent incremental index."""

from __future__ import annotations

from typing import Literal

from datatrove.pipeline.base import PipelineStep
from pydantic import Field, model_validator

from curate import BarrierJob, Filter, IndexStore, PluginMetadata, PluginParams, Stage, StageContext
from curate_plugins._minhash.buckets import BucketMatcher
from curate_plugins._minhash.cluster import ClusterResolver
from curate_plugins._minhash.edges import EdgeVerifier
from curate_plugins._minhash.grouping import RepoGrouper
from curate_plugins._minhash.hashing import optimal_bands, recall_first_bands
from curate_plugins._minhash.index import MinHashIndex
from curate_plugins._minhash.order import KeepOrder
from curate_plugins._minhash.run import RunView
from curate_plugins._minhash.signing import SignatureWriter
from curate_plugins._minhash.work import load_npy


class MinhashDedup(Stage):
    """Drops near-duplicates found by MinHash LSH (Seed-Coder: near dedup at file level and at repository
    level, giving two corpus variants; parameters from BigCode's The Stack: 5-gram shingles over tokens split
    on non-identifier characters, 256 permutations, Jaccard 0.7; without verification BigCode's 25 bands ×
    10 rows, with ``verify`` a recall-first layout, 37 × 6 at the defaults, since verification removes the
    extra false positives).

    Each document's shingle set is signed with ``num_perm`` 64-bit-input MinHash functions; signatures are cut
    into ``bands`` × ``rows``; documents sharing any band key are candidates; ``verify`` checks a candidate
    pair's Jaccard similarity on bottom-k sketches of the shingle sets (exact for documents with fewer than
    ``sketch_size`` distinct shingles). Clusters are the connected components of the accepted pairs across
    all shards and runs. Documents are inserted in ``keep`` order (earlier runs first): a document with an
    accepted pair to one inserted before it is dropped with ``dedup.cluster`` and ``dedup.kept_id`` (the
    cluster's earliest member, which survives), ``dedup.match_id`` (the earliest document it matched
    directly) and, with ``verify``, ``dedup.jaccard`` (their similarity). ``level: repo`` treats a
    repository's files as one shingle set and drops duplicate repositories whole. Signatures, band keys,
    candidate pairs and edges are files between the stage's jobs, and the persistent index is a
    ``curate.IndexStore`` of compacted parts, so memory stays bounded and the jobs run unchanged on Ray or
    Slurm.
    """

    namespace = "dedup"

    class Metadata(PluginMetadata):
        kept_id: str = Field(description="Id of the cluster's keeper: the document (or repository) that "
                                         "survives.")
        cluster: int = Field(description="The keeper's global position: a cluster id stable across runs.")
        match_id: str = Field(description="Id of the earliest document this one was matched with directly.")
        jaccard: float = Field(description="Jaccard similarity with the match, from the verification sketches "
                                           "(with `verify`): exact for small documents, estimated above.")

    class Params(PluginParams):
        level: Literal["file", "repo"] = Field("file", description="`file`: compare single files; `repo`: one "
                                                                   "shingle set per repository, drop duplicate "
                                                                   "repositories whole.")
        num_perm: int = Field(256, ge=8, le=1024, description="Number of MinHash permutations.")
        ngram: int = Field(5, ge=1, le=64, description="Tokens per shingle (tokens: runs of identifier "
                                                       "characters).")
        threshold: float = Field(0.7, gt=0.0, lt=1.0, description="Jaccard similarity at or above which two "
                                                                  "documents are near-duplicates.")
        bands: int | None = Field(None, ge=1, description="LSH bands; derived with `rows` from threshold and "
                                                          "num_perm when both are unset. With verify: the "
                                                          "layout missing a pair at the threshold with "
                                                          "probability <= 1% with the fewest false positives "
                                                          "(37x6 at the defaults). Without: least false "
                                                          "positive + false negative probability mass, as "
                                                          "datasketch (25x10).")
        rows: int | None = Field(None, ge=1, description="Signature rows per band (see `bands`).")
        seed: int = Field(42, ge=0, description="Seed of the MinHash permutations.")
        keep: Literal["bigcode", "first", "metadata"] = Field(
            "bigcode", description="Which cluster member survives. `bigcode`: most `stars`, then a permissive "
                                   "`license`, then path/id order; `first`: input order; `metadata`: highest "
                                   "`keep_key`. Ties go to input order; earlier runs always win over later ones.")
        keep_key: str = Field("quality.score", description="Metadata key used when keep is `metadata`.")
        repo_key: str = Field("repo", description="Metadata key naming the repository (level: repo).")
        verify: bool = Field(True, description="Check each candidate pair's Jaccard similarity on the documents' "
                                               "bottom-k sketches (removes LSH false positives; the sketches are "
                                               "kept in the index).")
        sketch_size: int = Field(512, ge=16, le=1 << 16, description="Shingle hashes kept per document for "
                                                                     "verification (a bottom-k sketch): exact "
                                                                     "below this many distinct shingles, an "
                                                                     "estimate within 1/sqrt(k) above.")
        bucket_tasks: int = Field(1, ge=1, json_schema_extra={"affects_output": False},
                                  description="Tasks of the banding and verification jobs (each banding task owns "
                                              "every n-th band, each verification task a range of items; raise it "
                                              "on a cluster). Does not change the result.")

        @model_validator(mode="after")
        def _bands_fit(self):
            if (self.bands is None) != (self.rows is None):
                raise ValueError("give both `bands` and `rows`, or neither (they are then derived)")
            if self.bands is not None and self.bands * self.rows > self.num_perm:
                raise ValueError(f"bands × rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
            return self

    def band_layout(self) -> tuple[int, int]:
        p = self.params
        if p.bands is not None:
            return p.bands, p.rows
        if p.verify:
            return recall_first_bands(p.threshold, p.num_perm)
        return optimal_bands(p.threshold, p.num_perm)

    def index_settings(self) -> dict:
        """What the index snapshot records: entries are comparable only between runs with the same values of
        the hashing settings (the runner's lineage check and the stage both compare them)."""
        p = self.params
        bands, rows = self.band_layout()
        return {"level": p.level, "num_perm": p.num_perm, "ngram": p.ngram, "seed": p.seed, "bands": bands,
                "rows": rows, "threshold": p.threshold, "verify": p.verify,
                "sketch_size": p.sketch_size if p.verify else None, "format": "minhash-parts-1"}

    def _view(self, ctx: StageContext) -> RunView:
        p = self.params
        return RunView(ctx.work_dir, ctx.index_dir, ctx.run_id, ctx.tasks if p.level == "file" else 1, p.verify,
                       p.keep != "first", p.bucket_tasks, self.index_settings(), ctx.rebuild_index, ctx.base_parts())

    def map_steps(self, ctx: StageContext) -> list[PipelineStep]:
        return [SignatureWriter(ctx.work_dir, self.params, *self.band_layout())]

    def barrier_jobs(self, ctx: StageContext) -> list[BarrierJob]:
        p, view = self.params, self._view(ctx)
        bands, rows = self.band_layout()
        jobs = []
        if p.level == "repo":
            jobs.append(BarrierJob([RepoGrouper(ctx.work_dir, ctx.tasks, p, bands, rows)], 1, "group"))
        if p.keep != "first":
            jobs.append(BarrierJob([KeepOrder(view)], 1, "order"))
        bucket_tasks = min(p.bucket_tasks, bands)
        jobs.append(BarrierJob([BucketMatcher(view, bands)], bucket_tasks, "buckets"))
        jobs.append(BarrierJob([EdgeVerifier(view, p.threshold, p.sketch_size)], p.bucket_tasks, "verify"))
        jobs.append(BarrierJob([ClusterResolver(view, bucket_tasks)], 1, "cluster"))
        return jobs

    def reduce_steps(self, ctx: StageContext) -> list[PipelineStep]:
        return [DropNearDuplicates(ctx.work_dir, ctx.index_dir, ctx.run_id, self.params.level)]


class DropNearDuplicates(Filter):
    """Per shard, after the barrier: drops the documents the cluster job listed, naming cluster, keeper and
    match (ids read from this run's index snapshot)."""

    namespace, Metadata = MinhashDedup.namespace, MinhashDedup.Metadata

    def __init__(self, work_dir: str, index_dir: str, run_id: str, level: str):
        super().__init__()
        self.work_dir, self.index_dir, self.run_id, self.level = work_dir, index_dir, run_id, level

    def run(self, data, rank: int = 0, world_size: int = 1):
        self._index = None  # opened at the first drop: most shards of an incremental run drop nothing
        rows = load_npy(f"{self.work_dir}/drops/{0 if self.level == 'repo' else rank:05d}.npy", mmap=False)
        self._drops = {int(r[0]): r[1:].tolist() for r in rows}
        self._items = load_npy(f"{self.work_dir}/group/{rank:05d}.npy", mmap=False) if self.level == "repo" else None
        self._position = -1
        yield from super().run(data, rank, world_size)

    def filter(self, doc):
        self._position += 1
        item = self._position if self._items is None else int(self._items[self._position])
        entry = self._drops.get(item)
        if entry is None:
            return True
        keeper, match, score = entry
        if self._index is None:
            store = IndexStore(self.index_dir)
            self._index = MinHashIndex(store, store.parts(self.run_id))
        doc.metadata.update({"dedup.kept_id": self._index.doc_id(keeper), "dedup.cluster": keeper,
                             "dedup.match_id": self._index.doc_id(match)})
        if score >= 0:
            doc.metadata["dedup.jaccard"] = score / 10_000
        return False, "near_duplicate_repo" if self.level == "repo" else "near_duplicate"
