"""Long-context repository packing in dependency order (Seed-Coder's repository-level data)."""

from __future__ import annotations

from typing import Literal

from datatrove.pipeline.base import PipelineStep
from pydantic import BaseModel, Field

from curate import BarrierJob, PluginMetadata, PluginParams, Stage, StageContext
from curate_plugins._repo_pack.pack import PackConfig
from curate_plugins._repo_pack.steps import EmitPacked, PackBuckets, RouteByRepo
from curate_plugins._repo_pack.tokens import check_tokenizer


class RepoPacker(Stage):
    """Turns the files of each repository into long-context sequences of at most `max_tokens` tokens, files
    in dependency order, as Seed-Coder builds its repository-level data (up to 32K tokens; repositories
    selected by the average quality of their files; mainstream languages concatenated in topological order
    of file dependencies, HTML/SQL/Shell in random order; very large repositories split into independent
    subgraphs).

    Dependencies come from tree-sitter queries on the parse of Python, Java, JavaScript/TypeScript, Go, Rust,
    C and C++ files (imports, `#include "..."`, Rust `mod`/`use crate::`, Go packages by folder; Java and Go
    files of one package also depend on the files defining the names they use), resolved to files of the
    repository; external imports are ignored. Order: dependencies first, ties by path, cycles condensed and
    ordered by path; files of other languages follow in an order shuffled with a seed per repository.
    A repository that does not fit is split into weakly connected components, packed first-fit; a component
    that does not fit into contiguous chunks of its order; a file larger than a sequence is split (or
    truncated), recorded in `pack.oversized`. Each file is preceded by `separator` (its `{path}` filled in).

    Every input file ends up in a sequence (`pack.files`, `pack.file_ids`) or in `excluded/` with a reason:
    `no_repo`, `no_path`, `duplicate_path`, `repo_too_few_files`, `repo_too_many_files`, `repo_low_quality`.
    Repositories are packed within one run: files of a repository that arrive in a later run are packed
    on their own.
    """

    namespace = "pack"

    class Metadata(PluginMetadata):
        class Oversized(BaseModel):
            path: str
            handling: str
            part: int
            parts: int
            chars: int

        index: int = Field(description="Index of this sequence among the repository's.")
        count: int = Field(description="Sequences the repository was packed into.")
        split: str = Field(description="How the repository was split (`whole` or the splitting rule).")
        tokens: int = Field(description="Tokens in the sequence.")
        max_tokens: int = Field(description="The token budget per sequence.")
        files: list[str] = Field(description="Paths of the files, in sequence order.")
        file_ids: list[str] = Field(description="Ids of the files, in sequence order.")
        ordered: list[bool] = Field(description="Per file: its language's dependencies were resolved.")
        edges: list[list[int]] = Field(description="Dependency edges between positions in the sequence.")
        cycles: int = Field(description="Dependency cycles broken.")
        imports: dict = Field(description="Per language: [internal imports, resolved imports].")
        repo_files: int = Field(description="Files of the repository.")
        tokenizer: str = Field(description="The tokenizer that counted tokens.")
        oversized: list[Oversized] = Field(description="Files larger than the budget and how they were handled.")
        avg_quality: float = Field(description="Mean quality score of the packed files, when they have one.")

    class Params(PluginParams):
        max_tokens: int = Field(32768, ge=64, description="Most tokens in one sequence (Seed-Coder: 32K).")
        separator: str = Field("<|file_sep|>{path}\n", description="Text put before each file; `{path}` is "
                               "replaced by the file path.")
        tokenizer: str = Field("builtin", description="Token counter: `builtin` (shipped code BPE, offline), "
                               "`tiktoken:NAME` (only if already in tiktoken's cache), or a tokenizer.json path.")
        oversized: Literal["split", "truncate"] = Field("split", description="A file larger than a sequence is "
                                                         "split into parts, or truncated to its first part.")
        seed: int = Field(0, description="Seed of the random order of files without dependency rules.")
        same_package: bool = Field(True, description="Java and Go: a file depends on the files of its package "
                                                     "that define the names it uses.")
        min_avg_quality: float | None = Field(None, description="Drop repositories whose files' average "
                                              "`quality_key` is below this (ignored when no file has a score).")
        quality_key: str = Field("quality.score", description="Metadata key of the file quality score.")
        min_files: int = Field(1, ge=1, description="Drop repositories with fewer files.")
        max_files: int | None = Field(None, ge=1, description="Drop repositories with more files.")
        repo_key: str = Field("repo", description="Metadata key naming the repository.")
        buckets: int | None = Field(None, ge=1, description="Repository buckets, one packing task each "
                                                             "(default: the number of input shards).")

    requires = {"tiktoken": "curate[packer]"}

    def check(self) -> list[str]:
        problem = check_tokenizer(self.params.tokenizer)
        problems = [f"tokenizer: {problem}"] if problem else []
        if "{path}" not in self.params.separator:
            problems.append("separator: must contain `{path}`")
        return problems

    def _config(self) -> PackConfig:
        p = self.params
        return PackConfig(max_tokens=p.max_tokens, separator=p.separator, tokenizer=p.tokenizer,
                          oversized=p.oversized, seed=p.seed, same_package=p.same_package,
                          min_avg_quality=p.min_avg_quality, quality_key=p.quality_key, min_files=p.min_files,
                          max_files=p.max_files)

    def _buckets(self, ctx: StageContext) -> int:
        return self.params.buckets or ctx.tasks

    def map_steps(self, ctx: StageContext) -> list[PipelineStep]:
        return [RouteByRepo(ctx.work_dir, self._buckets(ctx), self.params.repo_key)]

    def barrier_jobs(self, ctx: StageContext) -> list[BarrierJob]:
        step = PackBuckets(ctx.work_dir, ctx.tasks, self._config(), self.params.repo_key, ctx.step_id,
                           ctx.run_context.strict)
        return [BarrierJob([step], tasks=self._buckets(ctx), name="pack")]

    def reduce_steps(self, ctx: StageContext) -> list[PipelineStep]:
        return [EmitPacked(ctx.work_dir, self._buckets(ctx), ctx.tasks)]
