"""One interface over three backends: ``transformers`` (local, CPU), ``openai`` (HTTP) and ``vllm`` (offline engine).

``generate(prompts, sampling)`` returns, per prompt and in order, ``sampling.n`` completions: the generated text,
and when ``sampling.logprobs > 0`` the generated tokens with the chosen token's log-probability and the top
log-probabilities of each step. ``complete(...)`` is the one-completion form the quality labeller uses.

A prompt is either a string (sent as one user message when a chat template is used) or a list of chat
messages ``[{"role": "system" | "user" | "assistant", "content": ...}]``. A request that failed for good
carries ``error`` instead of raising, so one bad request never loses a batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from curate_plugins.lib.llm.config import BackendConfig, Sampling

Prompt = Union[str, list[dict]]  # noqa: UP007 - a runtime alias


@dataclass
class Completion:
    text: str = ""
    tokens: list[str] = field(default_factory=list)
    token_logprobs: list[float] = field(default_factory=list)  # log-probability of each generated token
    top_logprobs: list[dict[str, float]] = field(default_factory=list)  # per step: {token text: log-probability}
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens served from a prefix cache (vLLM)
    finish_reason: str = ""  # "stop" (end of sequence or a stop string) or "length"
    error: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in ("", None, [], 0) or k == "text"}

    @classmethod
    def from_dict(cls, data: dict) -> Completion:
        return cls(**data)


class Backend:
    #: can the answer be prefilled (raw-prompt APIs and local engines)?
    supports_prefill = True

    def __init__(self, config: BackendConfig):
        self.config = config

    @property
    def model_id(self) -> str:
        return f"{self.config.kind}:{self.config.model}"

    def generate(self, prompts: list[Prompt], sampling: Sampling, *, prefill: str = "",
                 score_tokens: tuple[str, ...] = ()) -> list[list[Completion]]:
        """``sampling.n`` completions per prompt. ``score_tokens``: tokens whose log-probability a backend with
        the full distribution at hand (transformers) always reports besides the top ``logprobs``."""
        raise NotImplementedError

    def complete(self, prompts: list[Prompt], *, max_tokens: int, temperature: float = 0.0, logprobs: int = 0,
                 prefill: str = "", score_tokens: tuple[str, ...] = ()) -> list[Completion]:
        sampling = Sampling(max_tokens=max_tokens, temperature=temperature, logprobs=logprobs, seed=self.config.seed)
        return [group[0] for group in self.generate(prompts, sampling, prefill=prefill, score_tokens=score_tokens)]

    def seed_of(self, sampling: Sampling) -> int:
        return self.config.seed if sampling.seed is None else sampling.seed

    def close(self) -> None:
        pass


def as_messages(prompt: Prompt) -> list[dict]:
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)


def apply_chat_template(tokenizer, prompt: Prompt, prefill: str, wanted: bool | None) -> str:
    """The text sent to a local engine: the prompt in the chat template when there is one, then the prefill."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if wanted and not has_template:
        raise ValueError("chat_template: true, but the tokenizer has no chat template")
    if has_template and wanted is not False:
        text = tokenizer.apply_chat_template(as_messages(prompt), tokenize=False, add_generation_prompt=True)
    elif isinstance(prompt, str):
        text = prompt
    else:  # chat messages without a template: plain role-prefixed turns, then the assistant's turn
        text = "".join(f"{m['role']}: {m['content']}\n\n" for m in prompt) + "assistant: "
    return text + prefill


def cut_at_stop(text: str, stop: list[str]) -> tuple[str, bool]:
    """The text up to the first stop string, and whether one was found."""
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return (text[:min(cuts)], True) if cuts else (text, False)


def make_backend(config: BackendConfig) -> Backend:
    if config.kind == "transformers":
        from curate_plugins.lib.llm.backend_transformers import TransformersBackend
        return TransformersBackend(config)
    if config.kind == "openai":
        from curate_plugins.lib.llm.backend_openai import OpenAIBackend
        return OpenAIBackend(config)
    from curate_plugins.lib.llm.backend_vllm import VllmBackend
    return VllmBackend(config)


BACKEND_REQUIREMENTS = {"transformers": {"torch": "curate[llm]", "transformers": "curate[llm]"},
                        "openai": {"httpx": "curate[quality]"}, "vllm": {"vllm": "curate[vllm]"}}
#: extra modules a `.gguf` / `pkg:` model needs to be converted by transformers
GGUF_REQUIREMENTS = {"gguf": "curate[llm]", "accelerate": "curate[llm]"}
