"""MinHash LSH near-deduplication at file or repository level, with a persistent incremental index."""

from __future__ import annotations

from typing import Literal

from datatrove.pipeline.base import PipelineStep
from pydantic import Field, model_validator

from curate import BarrierJob, PluginMetadata, PluginParams, Stage, StageContext
from curate_plugins._minhash.buckets import BucketMatcher
from curate_plugins._minhash.cluster import ClusterResolver
from curate_plugins._minhash.grouping import RepoGrouper
from curate_plugins._minhash.hashing import optimal_bands
from curate_plugins._minhash.signing import SignatureWriter
from curate_plugins.lib.dedup_index import DropListed

#: With verification a false positive costs one exact Jaccard check, a false negative a missed duplicate.
VERIFIED_FALSE_NEGATIVE_WEIGHT = 0.9


class MinhashDedup(Stage):
    """Drops near-duplicates found by MinHash LSH (Seed-Coder: near dedup at file level and at repository
    level, giving two corpus variants; parameters from BigCode's The Stack: 5-gram shingles over tokens split
    on non-identifier characters, 256 permutations, Jaccard 0.7, 25 bands × 10 rows; with ``verify`` the
    layout favours recall, 32 × 8, since verification removes the extra false positives exactly).

    Each document's shingle set is signed with ``num_perm`` 64-bit-input MinHash functions; signatures are cut
    into ``bands`` × ``rows``; documents sharing any band key are candidates; ``verify`` checks a candidate
    pair's exact Jaccard similarity of shingle sets. Clusters are union-find connected components across all
    shards and runs. Documents are inserted in ``keep`` order (earlier runs first): a document with a
    confirmed edge to one inserted before it is dropped with ``dedup.cluster`` and ``dedup.kept_id`` (the
    cluster's earliest member, which survives), ``dedup.match_id`` (the earlier document it matched directly)
    and, with ``verify``, ``dedup.jaccard`` (their exact Jaccard similarity). ``level: repo`` treats a
    repository's files as one shingle set and drops duplicate repositories whole. Signatures, bucket keys and
    candidate pairs are files between the stage's jobs, so memory stays bounded and the jobs run unchanged on Ray
    or Slurm.
    """

    namespace = "dedup"

    class Metadata(PluginMetadata):
        kept_id: str = Field(description="Id of the document kept for the cluster (on dropped near-duplicates).")
        cluster: int = Field(description="Number of the near-duplicate cluster.")
        match_id: str = Field(description="Id of the document this one matched.")
        jaccard: float = Field(description="Estimated Jaccard similarity with the matched document.")

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
                                                          "num_perm when both are unset: least false positive "
                                                          "+ false negative probability mass, weighted 1:9 "
                                                          "with verify (it removes false positives exactly; "
                                                          "32x8 at the defaults), 1:1 without (25x10).")
        rows: int | None = Field(None, ge=1, description="Signature rows per band (see `bands`).")
        seed: int = Field(42, ge=0, description="Seed of the MinHash permutations.")
        keep: Literal["bigcode", "first", "metadata"] = Field(
            "bigcode", description="Which cluster member survives. `bigcode`: most `stars`, then a permissive "
                                   "`license`, then path/id order; `first`: input order; `metadata`: highest "
                                   "`keep_key`. Ties go to input order; earlier runs always win over later ones.")
        keep_key: str = Field("quality.score", description="Metadata key used when keep is `metadata`.")
        repo_key: str = Field("repo", description="Metadata key naming the repository (level: repo).")
        verify: bool = Field(True, description="Check each candidate pair's exact Jaccard similarity of shingle "
                                               "sets (removes LSH false positives; stores shingle sets in the "
                                               "work and index directories).")
        bucket_tasks: int = Field(1, ge=1, description="Tasks of the banding job (each owns every n-th band; "
                                                       "raise it on a cluster, one task suffices locally).")

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
        return optimal_bands(p.threshold, p.num_perm, VERIFIED_FALSE_NEGATIVE_WEIGHT if p.verify else 0.5)

    def index_namespace(self) -> str:
        """Index entries are only comparable between runs with the same hashing parameters."""
        p = self.params
        bands, rows = self.band_layout()
        return f"minhash-{p.level}-p{p.num_perm}-n{p.ngram}-b{bands}x{rows}-s{p.seed}"

    def _parts(self, ctx: StageContext) -> int:
        return ctx.tasks if self.params.level == "file" else 1

    def map_steps(self, ctx: StageContext) -> list[PipelineStep]:
        return [SignatureWriter(ctx.work_dir, self.params, *self.band_layout())]

    def barrier_jobs(self, ctx: StageContext) -> list[BarrierJob]:
        bands, rows = self.band_layout()
        jobs = []
        if self.params.level == "repo":
            jobs.append(BarrierJob([RepoGrouper(ctx.work_dir, ctx.tasks, self.params, bands, rows)], 1, "group"))
        tasks = min(self.params.bucket_tasks, bands)
        jobs.append(BarrierJob([BucketMatcher(ctx, self.index_namespace(), self._parts(ctx), bands)], tasks,
                               "buckets"))
        jobs.append(BarrierJob([ClusterResolver(ctx, self.index_namespace(), self._parts(ctx), tasks, self.params)], 1,
                               "cluster"))
        return jobs

    def reduce_steps(self, ctx: StageContext) -> list[PipelineStep]:
        return [DropNearDuplicates(ctx.work_dir, self.params.level)]


class DropNearDuplicates(DropListed):
    """Per shard, after the barrier: drops the documents the cluster job listed, naming cluster and keeper."""

    def drop(self, doc, entry) -> str:
        kept_id, cluster, match_id, similarity = entry
        doc.metadata.update({"dedup.kept_id": kept_id, "dedup.cluster": cluster, "dedup.match_id": match_id})
        if similarity is not None:
            doc.metadata["dedup.jaccard"] = similarity
        return "near_duplicate_repo" if self.level == "repo" else "near_duplicate"
