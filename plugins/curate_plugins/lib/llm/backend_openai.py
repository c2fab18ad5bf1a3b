"""The ``openai`` backend: any OpenAI-compatible server, with a concurrency limit, timeouts, retries with
exponential backoff and jitter, and rate-limit handling (HTTP 429 and ``Retry-After``)."""

from __future__ import annotations

import asyncio
import os
import random

import httpx

from curate_plugins.lib.llm.backend import Backend, Completion, Prompt, as_messages
from curate_plugins.lib.llm.config import BackendConfig, Sampling

RETRYABLE_STATUS = {408, 409, 429}


class OpenAIBackend(Backend):
    def __init__(self, config: BackendConfig):
        super().__init__(config)
        self.supports_prefill = config.api == "completions"
        self._random = random.Random(config.seed)
        self.requests_sent = 0
        self.retries = 0

    def generate(self, prompts, sampling: Sampling, *, prefill="", score_tokens=()):
        if prefill and not self.supports_prefill:
            raise ValueError("a prefilled answer needs api: completions")
        return asyncio.run(self._generate_all(prompts, sampling, prefill))

    async def _generate_all(self, prompts, sampling, prefill):
        cfg = self.config
        key = os.environ.get(cfg.api_key_env)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        limits = httpx.Limits(max_connections=cfg.concurrency, max_keepalive_connections=cfg.concurrency)
        semaphore = asyncio.Semaphore(cfg.concurrency)
        async with httpx.AsyncClient(base_url=cfg.base_url.rstrip("/"), headers=headers, limits=limits,
                                     timeout=httpx.Timeout(cfg.timeout)) as client:
            return list(await asyncio.gather(*(self._samples(client, semaphore, p, sampling, prefill)
                                               for p in prompts)))

    async def _samples(self, client, semaphore, prompt, sampling, prefill) -> list[Completion]:
        """``n`` completions: asked in one request; a server that returns fewer choices (llama.cpp's ignores
        ``n``) is asked again for the missing ones, each with its own seed."""
        body = self.request_body(prompt, sampling, prefill)
        got = await self._request(client, semaphore, body)
        while len(got) < sampling.n and not got[-1].error:
            more = dict(body, n=sampling.n - len(got), seed=body["seed"] + len(got))
            got += await self._request(client, semaphore, more)
        return got[:sampling.n] if not got[-1].error else [got[-1]] * sampling.n

    def request_body(self, prompt: Prompt, sampling: Sampling, prefill: str = "") -> dict:
        body: dict = {"model": self.config.model, "max_tokens": sampling.max_tokens,
                      "temperature": sampling.temperature, "seed": self.seed_of(sampling)}
        if sampling.n > 1:
            body["n"] = sampling.n
        if sampling.top_p < 1:
            body["top_p"] = sampling.top_p
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if self.config.api == "chat":
            body["messages"] = as_messages(prompt)
            if sampling.logprobs:
                body.update(logprobs=True, top_logprobs=min(sampling.logprobs, 20))
        else:
            if not isinstance(prompt, str):
                raise ValueError("chat messages need api: chat (the completions API takes one raw prompt)")
            body["prompt"] = prompt + prefill
            if sampling.logprobs:
                body["logprobs"] = min(sampling.logprobs, 20)
        return body

    async def _request(self, client: httpx.AsyncClient, semaphore: asyncio.Semaphore, body: dict) -> list[Completion]:
        cfg = self.config
        path = "/chat/completions" if cfg.api == "chat" else "/completions"
        problem = ""
        for attempt in range(cfg.max_retries + 1):
            delay = None
            async with semaphore:
                self.requests_sent += 1
                try:
                    response = await client.post(path, json=body)
                except (httpx.TimeoutException, httpx.TransportError) as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                else:
                    if response.status_code == 200:
                        return self.parse_response(response.json())
                    problem = f"HTTP {response.status_code}: {response.text[:300]}"
                    if response.status_code not in RETRYABLE_STATUS and response.status_code < 500:
                        return [Completion(error=problem)]
                    delay = _retry_after(response)
            if attempt < cfg.max_retries:
                self.retries += 1
                await asyncio.sleep(self._delay(attempt, delay))
        return [Completion(error=f"gave up after {cfg.max_retries + 1} attempts; last: {problem}")]

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.config.max_backoff)
        base = self.config.backoff * (2 ** attempt)
        return min(base * (1 + 0.25 * self._random.random()), self.config.max_backoff)

    def parse_response(self, payload: dict) -> list[Completion]:
        usage = payload.get("usage") or {}
        choices = sorted(payload.get("choices") or [{}], key=lambda c: c.get("index", 0))
        out = [self._parse_choice(choice) for choice in choices]
        out[0].prompt_tokens = int(usage.get("prompt_tokens", 0))  # usage covers the whole request
        out[0].completion_tokens = int(usage.get("completion_tokens", 0))
        return out

    def _parse_choice(self, choice: dict) -> Completion:
        tokens, chosen, tops = [], [], []
        if self.config.api == "chat":
            text = (choice.get("message") or {}).get("content") or ""
            for item in (choice.get("logprobs") or {}).get("content") or []:
                tokens.append(item["token"])
                chosen.append(item.get("logprob"))
                tops.append({t["token"]: t["logprob"] for t in item.get("top_logprobs") or []})
        else:
            text = choice.get("text") or ""
            logprobs = choice.get("logprobs") or {}
            tokens = list(logprobs.get("tokens") or [])
            chosen = list(logprobs.get("token_logprobs") or [])
            tops = [dict(t or {}) for t in logprobs.get("top_logprobs") or []]
        return Completion(text=text, tokens=tokens, token_logprobs=[float(v) for v in chosen if v is not None],
                          top_logprobs=tops, finish_reason=choice.get("finish_reason") or "")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
