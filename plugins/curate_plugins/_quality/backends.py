"""One interface over three oracle backends: ``transformers`` (CPU), ``openai`` (HTTP) and ``vllm`` (offline).

``complete(prompts, ...)`` returns one ``Completion`` per prompt, in order: the generated text, and when
``logprobs > 0`` the generated tokens with their top log-probabilities (used for expected-value scores).
A request that failed for good carries ``error`` instead of raising, so one bad request never loses a batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from curate import PluginParams


class BackendConfig(PluginParams):
    kind: Literal["transformers", "openai", "vllm"] = Field(
        "openai", description="`transformers` (local model, CPU), `openai` (any OpenAI-compatible server: "
                              "vllm serve, SGLang, llama.cpp server, hosted APIs) or `vllm` (offline engine, GPU).")
    model: str = Field(..., description="transformers/vllm: a local model directory (or a hub name for vllm); "
                                        "openai: the served model name.")
    chat_template: bool | None = Field(None, description="Wrap the prompt in the tokenizer's chat template "
                                                         "(None: when the tokenizer has one). openai: see `api`.")
    batch_size: int = Field(16, ge=1, description="Prompts per generate call (transformers) or per batch handed "
                                                  "to the engine/server by the labeller.")
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
    # vllm
    tensor_parallel_size: int = Field(1, ge=1, description="vllm: GPUs per model replica.")
    enable_prefix_caching: bool = Field(True, description="vllm: reuse the KV cache of the shared rubric prefix.")
    max_model_len: int | None = Field(None, ge=1, description="vllm: context length (None: the model's).")
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="vllm: share of GPU memory for the engine.")
    seed: int = Field(0, description="Sampling seed (retries sample with temperature > 0).")


@dataclass
class Completion:
    text: str = ""
    tokens: list[str] = field(default_factory=list)
    top_logprobs: list[dict[str, float]] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None


class OracleBackend:
    #: can the answer be prefilled with ``Rating: [[`` (raw-prompt APIs)?
    supports_prefill = True

    def __init__(self, config: BackendConfig):
        self.config = config

    @property
    def model_id(self) -> str:
        return f"{self.config.kind}:{self.config.model}"

    def complete(self, prompts: list[str], *, max_tokens: int, temperature: float = 0.0, logprobs: int = 0,
                 prefill: str = "", score_tokens: tuple[str, ...] = ()) -> list[Completion]:
        """``score_tokens``: tokens whose log-probability a backend with the full distribution at hand
        (transformers) always reports besides the top ``logprobs``; servers report their top-k only."""
        raise NotImplementedError

    def close(self) -> None:
        pass


def apply_chat_template(tokenizer, prompt: str, prefill: str, wanted: bool | None) -> str:
    """The text sent to a local engine: the prompt in the chat template when there is one, then the prefill."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if wanted and not has_template:
        raise ValueError("chat_template: true, but the tokenizer has no chat template")
    if has_template and wanted is not False:
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                               add_generation_prompt=True)
    return prompt + prefill


def make_backend(config: BackendConfig) -> OracleBackend:
    if config.kind == "transformers":
        from curate_plugins._quality.backend_transformers import TransformersBackend
        return TransformersBackend(config)
    if config.kind == "openai":
        from curate_plugins._quality.backend_openai import OpenAIBackend
        return OpenAIBackend(config)
    from curate_plugins._quality.backend_vllm import VllmBackend
    return VllmBackend(config)


BACKEND_REQUIREMENTS = {"transformers": {"torch": "curate[llm]", "transformers": "curate[llm]"},
                        "openai": {"httpx": "curate[quality]"}, "vllm": {"vllm": "curate[vllm]"}}
