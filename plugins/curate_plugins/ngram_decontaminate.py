"""Benchmark decontamination by shared word n-grams (Seed-Coder: any 10-gram shared with a benchmark)."""

from __future__ import annotations

from typing import Literal

import orjson
from datatrove.pipeline.base import PipelineStep
from pydantic import Field, field_validator

from curate import BarrierJob, Filter, IndexStore, PluginMetadata, PluginParams, Stage, StageContext, atomic_write_bytes
from curate import IndexPart as StorePart
from curate_plugins._decontam import benchmarks as bench
from curate_plugins._decontam.index import (
    MergedIndex,
    Shape,
    boilerplate_hashes,
    ensure_part,
    load_part,
    part_key,
    part_name,
)
from curate_plugins._decontam.normalize import Tokens


class UserBenchmark(PluginParams):
    """A benchmark given as a JSON Lines file, one item per line."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9_.-]+$", description="Name used in metadata and reports.")
    path: str = Field(..., description="JSONL file, one benchmark item per line.")
    id_field: str = Field("id", description="Field holding the item id.")
    prompt: str | None = Field("prompt", description="Field holding the prompt/question (null: none).")
    solution: str | None = Field("solution", description="Field holding the reference solution (null: none).")
    tests: str | None = Field("tests", description="Field holding the tests (string or list of strings; null: none).")

    def spec(self) -> bench.BenchmarkSpec:
        fields = {role: getattr(self, role) for role in bench.ROLES if getattr(self, role)}
        return bench.BenchmarkSpec(self.name, self.path, self.id_field, fields)


class NgramDecontaminate(Stage):
    """Flags every document that shares any word n-gram (default n=10) with a benchmark item, as Seed-Coder
    does for all its training data (pretraining and post-training) against HumanEval, MBPP and other key
    benchmarks. With ``action: drop`` a flagged document is dropped with reason ``contaminated:<benchmark>``;
    with ``action: annotate`` it is kept. Either way it records ``decontam.items`` (``benchmark/item id``),
    ``decontam.item_ngrams`` (distinct matching n-grams per item), ``decontam.benchmarks``, ``decontam.ngrams``
    and ``decontam.snippet`` (the first matching text).

    Words are the lowercased runs of identifier characters, so reindenting, reformatting and punctuation do not
    hide a leak. Benchmark items shorter than n words are matched as an exact normalised word sequence. Three
    guards keep boilerplate from flagging files: n-grams with fewer than ``min_distinct_words`` distinct
    informative words, or fewer than ``min_distinctive_words`` that are not frequent in ordinary code (number
    runs, ``for i in range(len(l)): for j in range(i + 1, len(l))``), are not indexed unless they hold a rare
    word (one absent from ``word_frequencies``, such as a benchmark's function name); n-grams listed in
    ``boilerplate`` files (by default, those found in a reference corpus of third-party code) are ignored; and
    so are a benchmark's template n-grams, shared by more than ``max_items_per_ngram`` items. The benchmark
    index is built once into ``state/index/<step id>/`` (an ``IndexStore``: one part per benchmark) and reused;
    adding a benchmark builds only its own part, and the corpus refuses a changed ``n`` or benchmark set
    unless asked (see ``curate run --help``). Every flagged document is listed in an audit
    (``curate decontam-report``, ``curate report``), kept with its run.
    """

    barrier_reads_run = False  # the index is built from benchmark files only: no cut, no scratch copy

    namespace = "decontam"

    class Metadata(PluginMetadata):
        items: list[str] = Field(description="Matched benchmark items, `benchmark/item id`, most n-grams first.")
        item_ngrams: list[int] = Field(description="Distinct matching n-grams per item (same order).")
        benchmarks: list[str] = Field(description="Benchmarks matched.")
        ngrams: int = Field(description="Distinct matching n-grams in all.")
        snippet: str = Field(description="The first matching text (300 characters at most).")

    class Params(PluginParams):
        n: int = Field(10, ge=3, le=64, description="Words per n-gram (Seed-Coder: 10).")
        benchmarks: list[str | UserBenchmark] = Field(
            default_factory=lambda: ["humaneval", "mbpp"],
            description="Bundled benchmark names (`curate benchmarks list`) or user JSONL benchmarks "
                        "{name, path, id_field, prompt, solution, tests}.")
        fields: list[Literal["prompt", "solution", "tests"]] = Field(
            default_factory=lambda: ["prompt", "solution", "tests"],
            description="Which parts of each benchmark item are indexed.")
        min_short: int = Field(4, ge=1, description="Items shorter than n words but at least this long are matched "
                                                   "as an exact normalised word sequence; shorter ones are listed "
                                                   "as skipped in the index metadata.")
        min_distinct_words: int = Field(
            4, ge=1, description="Ignore benchmark n-grams with fewer distinct informative words (not a number, "
                                 "longer than one character): number runs, single-letter lists (unless rare).")
        word_frequencies: str | None = Field(
            "bundled", description="`word<TAB>share` list of the words of ordinary code and the share of files holding "
                                   "them (`bundled`: words in >= 0.5% of a reference corpus's files). Used by the "
                                   "specificity rule (see min_distinctive_words). null: only min_distinct_words.")
        frequent_share: float = Field(0.1, gt=0, le=1, description="Words in at least this share of reference files "
                                                                    "(`for`, `range`, `self`, `value`) are frequent.")
        min_distinctive_words: int = Field(
            0, ge=0, description="An n-gram is indexed if it has min_distinct_words informative words of which this "
                                 "many are not frequent, or if it has any rare word (not in word_frequencies, such "
                                 "as a benchmark's function name `count_ways`).")
        boilerplate: list[str] = Field(
            default_factory=lambda: ["bundled"],
            description="Files of n-grams to ignore, one normalised n-gram per line; `bundled` is the shipped list "
                        "(benchmark 10-grams found in a reference corpus of third-party code). [] disables it.")
        max_items_per_ngram: int = Field(
            5, ge=1, description="Ignore n-grams shared by more items than this: a benchmark's template (HumanEval's "
                                 "`def check(candidate): assert candidate(`), not any one item's content.")
        min_ngrams: int = Field(1, ge=1, description="Distinct matching n-grams an item needs to flag a document "
                                                    "(Seed-Coder: 1).")
        action: Literal["drop", "annotate"] = Field("drop", description="Drop flagged documents, or only annotate.")

        @field_validator("benchmarks")
        @classmethod
        def _known_names(cls, value):
            for entry in value:
                if isinstance(entry, str) and entry not in bench.bundled_names():
                    raise ValueError(f"unknown bundled benchmark '{entry}'; bundled: "
                                     f"{', '.join(bench.bundled_names())} (or give {{name, path, ...}})")
            names = [e if isinstance(e, str) else e.name for e in value]
            if len(set(names)) != len(names):
                raise ValueError(f"benchmark names must be unique: {names}")
            return value

    def check(self) -> list[str]:
        problems = []
        for spec in benchmark_specs(self.params):
            try:
                open(spec.path, "rb").close()
            except OSError as exc:
                problems.append(f"benchmark '{spec.name}': cannot read {spec.path}: {exc.strerror}")
        extra = [shape_of(self.params).word_frequencies] if self.params.word_frequencies else []
        for path in boilerplate_paths(self.params) + extra:
            try:
                open(path, "rb").close()
            except OSError as exc:
                problems.append(f"boilerplate file {path}: {exc.strerror}")
        return problems

    def index_settings(self) -> dict:
        """The n-gram length and, per benchmark, the key of its part (its file's SHA-256 and every hashing
        parameter): a different benchmark set or ``n`` is a different index."""
        shape = shape_of(self.params)
        return {"n": self.params.n, "benchmarks": {s.name: part_key(s, shape) for s in benchmark_specs(self.params)}}

    def barrier_jobs(self, ctx: StageContext) -> list[BarrierJob]:
        job = BuildBenchmarkIndex(ctx.index_dir, ctx.run_id, self.params, f"{ctx.record_dir}/audit")
        return [BarrierJob([job], tasks=1, name="index")]

    def reduce_steps(self, ctx: StageContext) -> list[PipelineStep]:
        return [DecontaminationFilter(ctx.index_dir, ctx.run_id, self.params, f"{ctx.record_dir}/audit")]

    @classmethod
    def report_section(cls, corpus, run_id: str, console) -> None:
        from curate_plugins._decontam.audit import print_report_section

        print_report_section(corpus, run_id, console)


def benchmark_specs(params) -> list[bench.BenchmarkSpec]:
    return [bench.bundled(b) if isinstance(b, str) else b.spec() for b in params.benchmarks]


def boilerplate_paths(params) -> list[str]:
    return [bench.bundled_boilerplate_path() if p == "bundled" else p for p in params.boilerplate]


def shape_of(params) -> Shape:
    words = bench.bundled_word_frequencies_path() if params.word_frequencies == "bundled" else params.word_frequencies
    return Shape(tuple(sorted(params.fields)), params.n, params.min_short, params.min_distinct_words, words,
                 params.frequent_share, params.min_distinctive_words)


class BuildBenchmarkIndex(PipelineStep):
    """One task: build the index part of every benchmark not yet stored, and stage the run's snapshot (the
    parts of its benchmark set)."""

    type = "curate"
    name = "ngram_decontaminate.index"

    def __init__(self, index_dir: str, run_id: str, params, audit_dir: str):
        super().__init__()
        self.index_dir, self.run_id, self.params, self.audit_dir = index_dir, run_id, params, audit_dir

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        shape = shape_of(self.params)
        built, parts = {}, []
        for spec in benchmark_specs(self.params):
            key, fresh = ensure_part(spec, shape, self.index_dir)
            built[spec.name] = {"key": key, "built_now": fresh, "licence": spec.licence, "path": spec.path}
            parts.append(StorePart(part_name(spec.name, key), (self.run_id,), meta={"benchmark": spec.name}))
            self.stat_update("built" if fresh else "reused")
        settings = {"n": self.params.n, "benchmarks": {name: entry["key"] for name, entry in built.items()}}
        IndexStore(self.index_dir).stage(self.run_id, parts, settings)  # = index_settings(), keys already computed
        atomic_write_bytes(f"{self.audit_dir}/benchmarks.json",
                           orjson.dumps({"benchmarks": built, "params": self.params.model_dump(mode="json")}))
        return
        yield


class DecontaminationFilter(Filter):
    """Per shard: probe every document's n-grams in the merged benchmark index; annotate or drop; audit."""

    default_batch_size = 64
    namespace, Metadata = NgramDecontaminate.namespace, NgramDecontaminate.Metadata

    _lazy_attributes = ("_index",)

    def __init__(self, index_dir: str, run_id: str, params, audit_dir: str | None = None):
        super().__init__()
        self.index_dir, self.run_id, self.decontam = index_dir, run_id, params
        self.audit_dir = audit_dir or f"{index_dir}/audit/{run_id}"

    def setup(self) -> None:
        shape = shape_of(self.decontam)
        parts = []
        for spec in benchmark_specs(self.decontam):
            part = load_part(self.index_dir, spec.name, part_key(spec, shape))
            if part is None:
                raise RuntimeError(f"benchmark index part for '{spec.name}' missing in {self.index_dir}")
            parts.append(part)
        ignored = boilerplate_hashes(boilerplate_paths(self.decontam), self.decontam.n)
        self._index = MergedIndex(parts, self.decontam.n, ignored, self.decontam.max_items_per_ngram)

    def run(self, data, rank: int = 0, world_size: int = 1):
        self._audit = []
        yield from super().run(data, rank, world_size)
        payload = b"".join(orjson.dumps(entry) + b"\n" for entry in self._audit)
        atomic_write_bytes(f"{self.audit_dir}/{rank:05d}.jsonl", payload)

    def filter(self, doc):
        return self.filter_batch([doc])[0]

    def filter_batch(self, batch):
        tokens = [Tokens(doc.text) for doc in batch]
        return [self._verdict(doc, t, match) for doc, t, match in zip(batch, tokens, self._index.probe_many(tokens))]

    def _verdict(self, doc, tokens: Tokens, match):
        if match is None:
            return True
        flagged = sorted(((count, item) for item, count in match.counts.items()
                          if count >= self.decontam.min_ngrams or self._index.is_short(item)), reverse=True)
        if not flagged:
            return True
        names = [self._index.item_names[item] for _, item in flagged]
        benchmarks = sorted({name for name, _ in names})
        doc.metadata.update({
            "decontam.items": [f"{name}/{item_id}" for name, item_id in names],
            "decontam.item_ngrams": [count for count, _ in flagged],
            "decontam.benchmarks": benchmarks,
            "decontam.ngrams": match.distinct,
            "decontam.snippet": tokens.snippet(match.first_word, match.first_length)[:300],
        })
        self._audit.append({"id": doc.id, "path": doc.metadata.get("path"), "repo": doc.metadata.get("repo"),
                            "items": doc.metadata["decontam.items"], "ngrams": doc.metadata["decontam.item_ngrams"],
                            "action": self.decontam.action})
        if self.decontam.action == "annotate":
            return True
        top = names[0][0]
        return False, f"contaminated:{top}"
