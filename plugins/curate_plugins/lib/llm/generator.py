"""Generating with a backend: cache lookups, chunked requests (each chunk cached as soon as it is answered, so a
crash loses at most one chunk), and retries of requests that failed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson

from curate_plugins.lib.llm.backend import Backend, Completion, Prompt, as_messages
from curate_plugins.lib.llm.cache import CompletionCache
from curate_plugins.lib.llm.config import Sampling


def prompt_sha256(prompt: Prompt) -> str:
    """Content key of a prompt: the SHA-256 of its chat messages (a string is one user message)."""
    return hashlib.sha256(orjson.dumps(as_messages(prompt), option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass
class GenerationStats:
    prompts: int = 0
    cache_hits: int = 0
    requests: int = 0
    retried: int = 0
    errors: int = 0
    completions: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Generator:
    """``generate(prompts, sampling)``: ``sampling.n`` completions per prompt, from the cache when the same prompt
    (content), prompt version, model and sampling were answered before."""

    def __init__(self, backend: Backend, cache: CompletionCache | None, prompt_version: str, *, retries: int = 1,
                 chunk: int = 64):
        self.backend, self.cache, self.prompt_version = backend, cache, prompt_version
        self.retries, self.chunk = retries, chunk
        self.stats = GenerationStats()

    def generate(self, prompts: list[Prompt], sampling: Sampling) -> list[list[Completion]]:
        if sampling.seed is None:
            sampling = sampling.model_copy(update={"seed": self.backend.config.seed})
        key = sampling.cache_key()
        shas = [prompt_sha256(p) for p in prompts]
        known: dict[str, list[Completion]] = {}
        if self.cache is not None:
            rows = self.cache.get_many(sorted(set(shas)), self.prompt_version, self.backend.model_id, key)
            known = {sha: [Completion.from_dict(c) for c in value] for sha, value in rows.items()}
        todo = {sha: p for sha, p in zip(shas, prompts) if sha not in known}
        self.stats.prompts += len(prompts)
        self.stats.cache_hits += sum(1 for sha in shas if sha in known)
        items = list(todo.items())
        for start in range(0, len(items), self.chunk):
            answered = self._ask(items[start:start + self.chunk], sampling)
            known.update(answered)
            good = {sha: [c.to_dict() for c in group] for sha, group in answered.items()
                    if not any(c.error for c in group)}
            if self.cache is not None and good:
                self.cache.put_many(good, self.prompt_version, self.backend.model_id, key)
        return [known[sha] for sha in shas]

    def _ask(self, items: list[tuple[str, Prompt]], sampling: Sampling) -> dict[str, list[Completion]]:
        out: dict[str, list[Completion]] = {}
        pending = items
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats.retried += len(pending)
            groups = self._call([p for _, p in pending], sampling)
            failed = []
            for (sha, prompt), group in zip(pending, groups):
                out[sha] = group
                if any(c.error for c in group):
                    failed.append((sha, prompt))
            pending = failed
            if not pending:
                break
        self.stats.errors += len(pending)
        return out

    def _call(self, prompts: list[Prompt], sampling: Sampling) -> list[list[Completion]]:
        self.stats.requests += len(prompts)
        groups = self.backend.generate(prompts, sampling)
        for group in groups:
            self.stats.completions += len(group)
            for c in group:
                self.stats.prompt_tokens += c.prompt_tokens
                self.stats.completion_tokens += c.completion_tokens
        return groups
