"""Labelling documents with the oracle: cache lookups, batched requests, one retry of unparsable answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from curate import PluginParams
from curate_plugins._quality.parse import expected_after_marker, expected_rating, parse_rating
from curate_plugins._quality.prompt import ANSWER_PREFIX, DEFAULT_PROMPT, PromptTemplate, content_sha256
from curate_plugins.lib.llm.backend import Backend
from curate_plugins.lib.llm.cache import Label, LabelCache
from curate_plugins.lib.llm.config import BackendConfig

RATING_TOKENS = tuple(str(i) for i in range(11))


class OracleSettings(PluginParams):
    backend: BackendConfig = Field(..., description="The oracle LLM backend (see docs/quality.md).")
    prompt: str = Field(DEFAULT_PROMPT, description="Prompt version shipped with curate (`seed_coder_v1`) or the "
                                                    "path of your own template (.txt); its file name is its version.")
    mode: Literal["generate", "expected"] = Field(
        "generate", description="`generate`: the model writes a justification and `Rating: [[X]]`, which is parsed "
                                "(unparsable: retried once, then `quality.error`). `expected`: the answer is "
                                "prefilled with `Rating: [[` and the score is the expected value over the "
                                "next-token digit probabilities (one token per file).")
    logprobs: int = Field(20, ge=0, le=20, description="Top log-probabilities requested per token (0: none). In "
                                                       "generate mode they give `quality.oracle_expected` too.")
    max_new_tokens: int = Field(256, ge=1, description="generate mode: answer length limit in tokens.")
    max_code_chars: int = Field(16000, ge=100, description="Longer files are truncated (with a note) in the prompt.")
    retry_temperature: float = Field(0.7, ge=0, description="Sampling temperature of the one retry of an "
                                                            "unparsable answer.")
    cache: str = Field(..., description="Label cache (SQLite file), keyed by content hash, prompt version, model.")
    retry_errors: bool = Field(False, description="Ask again for files whose cached answer was unparsable.")


@dataclass
class LabelStats:
    files: int = 0
    cache_hits: int = 0
    requests: int = 0
    retried: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors_by_kind: dict = field(default_factory=dict)


class Labeller:
    def __init__(self, settings: OracleSettings, backend: Backend, template: PromptTemplate,
                 cache: LabelCache):
        self.settings, self.backend, self.template, self.cache = settings, backend, template, cache
        self.stats = LabelStats()

    def label(self, docs: list) -> list[Label]:
        """One label per document, in order (from the cache where possible)."""
        shas = [content_sha256(doc.text) for doc in docs]
        known = self.cache.get_many(sorted(set(shas)), self.template.version, self.backend.model_id)
        if self.settings.retry_errors:
            known = {sha: lab for sha, lab in known.items() if lab.error is None}
        todo: dict[str, object] = {}
        for sha, doc in zip(shas, docs):
            if sha not in known and sha not in todo:
                todo[sha] = doc
        fresh = self._ask(list(todo.values())) if todo else []
        new = dict(zip(todo, fresh))
        self.cache.put_many([(sha, lab, todo[sha]) for sha, lab in new.items() if not lab.transient],
                            self.template.version, self.backend.model_id)
        self.stats.files += len(docs)
        self.stats.cache_hits += len(docs) - len(todo)
        return [known.get(sha) or new[sha] for sha in shas]

    def _prompts(self, docs) -> list[str]:
        return [self.template.render(d.text, d.metadata.get("path", ""), d.metadata.get("lang", ""),
                                     self.settings.max_code_chars) for d in docs]

    def _ask(self, docs) -> list[Label]:
        prompts = self._prompts(docs)
        if self.settings.mode == "expected" and self.backend.supports_prefill:
            labels = self._expected(prompts)
        else:
            labels = self._generate(prompts, docs)
        for label in labels:
            if label.error:
                self.stats.errors += 1
                kind = label.error.split(":")[0]
                self.stats.errors_by_kind[kind] = self.stats.errors_by_kind.get(kind, 0) + 1
        return labels

    def _call(self, prompts, **kwargs):
        self.stats.requests += len(prompts)
        completions = self.backend.complete(prompts, **kwargs)
        for c in completions:
            self.stats.prompt_tokens += c.prompt_tokens
            self.stats.completion_tokens += c.completion_tokens
        return completions

    def _expected(self, prompts) -> list[Label]:
        completions = self._call(prompts, max_tokens=1, logprobs=max(self.settings.logprobs, 1), prefill=ANSWER_PREFIX,
                                 score_tokens=RATING_TOKENS)
        labels = []
        for c in completions:
            if c.error:
                labels.append(Label(error=f"backend: {c.error}", attempts=1, transient=True))
                continue
            value = expected_rating(c.top_logprobs[0]) if c.top_logprobs else None
            error = None if value is not None else "no_digit: no rating digit among the top next tokens"
            labels.append(Label(expected=value, error=error, answer=c.text, attempts=1))
        return labels

    def _generate(self, prompts, docs) -> list[Label]:
        s = self.settings
        want_ev = s.logprobs if (s.mode == "expected" or s.logprobs) else 0
        labels = [self._read(c, doc, 1) for c, doc in
                  zip(self._call(prompts, max_tokens=s.max_new_tokens, logprobs=want_ev, score_tokens=RATING_TOKENS),
                      docs)]
        again = [i for i, lab in enumerate(labels) if lab.value is None and not lab.transient]
        if again:
            self.stats.retried += len(again)
            retry = self._call([prompts[i] for i in again], max_tokens=s.max_new_tokens, logprobs=want_ev,
                               temperature=s.retry_temperature, score_tokens=RATING_TOKENS)
            for i, c in zip(again, retry):
                labels[i] = self._read(c, docs[i], 2)
        return labels

    def _read(self, completion, doc, attempts: int) -> Label:
        if completion.error:
            return Label(error=f"backend: {completion.error}", attempts=attempts, transient=True)
        rating = parse_rating(completion.text, doc.text)
        expected = (expected_after_marker(completion.tokens, completion.top_logprobs)
                    if completion.top_logprobs else None)
        if self.settings.mode == "generate" and rating is None:
            expected = None  # an expected value without a stated rating is not an answer
        error = None if (rating is not None or expected is not None) else \
            f"unparsable: no rating in the answer after {attempts} attempt(s)"
        return Label(rating=rating, expected=expected, error=error, answer=completion.text, attempts=attempts)
