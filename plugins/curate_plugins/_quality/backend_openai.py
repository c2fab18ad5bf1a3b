"""The ``openai`` backend: any OpenAI-compatible server, with a concurrency limit, timeouts, retries with
exponential backoff and jitter, and rate-limit handling (HTTP 429 and ``Retry-After``)."""

from __future__ import annotations

import asyncio
import os
import random

import httpx

from curate_plugins._quality.backends import BackendConfig, Completion, OracleBackend

RETRYABLE_STATUS = {408, 409, 429}


class OpenAIBackend(OracleBackend):
    def __init__(self, config: BackendConfig):
        super().__init__(config)
        self.supports_prefill = config.api == "completions"
        self._random = random.Random(config.seed)
        self.requests_sent = 0
        self.retries = 0

    def complete(self, prompts, *, max_tokens, temperature=0.0, logprobs=0, prefill="", score_tokens=()):
        if prefill and not self.supports_prefill:
            raise ValueError("a prefilled answer needs api: completions")
        return asyncio.run(self._complete_all(prompts, max_tokens, temperature, logprobs, prefill))

    async def _complete_all(self, prompts, max_tokens, temperature, logprobs, prefill):
        cfg = self.config
        key = os.environ.get(cfg.api_key_env)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        limits = httpx.Limits(max_connections=cfg.concurrency, max_keepalive_connections=cfg.concurrency)
        semaphore = asyncio.Semaphore(cfg.concurrency)
        async with httpx.AsyncClient(base_url=cfg.base_url.rstrip("/"), headers=headers, limits=limits,
                                     timeout=httpx.Timeout(cfg.timeout)) as client:
            bodies = [self.request_body(p, max_tokens, temperature, logprobs, prefill) for p in prompts]
            return list(await asyncio.gather(*(self._request(client, semaphore, body) for body in bodies)))

    def request_body(self, prompt: str, max_tokens: int, temperature: float, logprobs: int, prefill: str) -> dict:
        body: dict = {"model": self.config.model, "max_tokens": max_tokens, "temperature": temperature,
                      "seed": self.config.seed}
        if self.config.api == "chat":
            body["messages"] = [{"role": "user", "content": prompt}]
            if logprobs:
                body.update(logprobs=True, top_logprobs=min(logprobs, 20))
        else:
            body["prompt"] = prompt + prefill
            if logprobs:
                body["logprobs"] = min(logprobs, 20)
        return body

    async def _request(self, client: httpx.AsyncClient, semaphore: asyncio.Semaphore, body: dict) -> Completion:
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
                        return Completion(error=problem)
                    delay = _retry_after(response)
            if attempt < cfg.max_retries:
                self.retries += 1
                await asyncio.sleep(self._delay(attempt, delay))
        return Completion(error=f"gave up after {cfg.max_retries + 1} attempts; last: {problem}")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.config.max_backoff)
        base = self.config.backoff * (2 ** attempt)
        return min(base * (1 + 0.25 * self._random.random()), self.config.max_backoff)

    def parse_response(self, payload: dict) -> Completion:
        choice = payload["choices"][0]
        usage = payload.get("usage") or {}
        tokens, tops = [], []
        if self.config.api == "chat":
            text = (choice.get("message") or {}).get("content") or ""
            for item in (choice.get("logprobs") or {}).get("content") or []:
                tokens.append(item["token"])
                tops.append({t["token"]: t["logprob"] for t in item.get("top_logprobs") or []})
        else:
            text = choice.get("text") or ""
            logprobs = choice.get("logprobs") or {}
            tokens = list(logprobs.get("tokens") or [])
            tops = [dict(t or {}) for t in logprobs.get("top_logprobs") or []]
        return Completion(text=text, tokens=tokens, top_logprobs=tops, prompt_tokens=int(usage.get("prompt_tokens", 0)),
                          completion_tokens=int(usage.get("completion_tokens", 0)))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
