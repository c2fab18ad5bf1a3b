"""The ``vllm`` backend: vLLM's offline ``LLM`` engine with batched generation, prefix caching (the rubric is a
shared prefix of every prompt) and a configurable tensor-parallel size. GPU only in practice (optional extra
``vllm``); request building is split out so it is tested on machines without vLLM.

Written against vLLM's documented API: ``LLM(model, tensor_parallel_size, enable_prefix_caching,
max_model_len, gpu_memory_utilization, dtype, seed)``, ``SamplingParams(max_tokens, temperature, seed,
logprobs)``, ``LLM.generate(prompts, sampling_params, use_tqdm=False)`` -> ``RequestOutput`` with
``prompt_token_ids`` and ``outputs[0].text / token_ids / logprobs`` (per token: {token id: ``Logprob``
with ``logprob`` and ``decoded_token``}).
"""

from __future__ import annotations

from curate_plugins._quality.backends import BackendConfig, Completion, OracleBackend, apply_chat_template


def engine_kwargs(config: BackendConfig) -> dict:
    kwargs = {"model": config.model, "tensor_parallel_size": config.tensor_parallel_size,
              "enable_prefix_caching": config.enable_prefix_caching,
              "gpu_memory_utilization": config.gpu_memory_utilization, "dtype": config.dtype, "seed": config.seed}
    if config.max_model_len:
        kwargs["max_model_len"] = config.max_model_len
    return kwargs


def sampling_kwargs(config: BackendConfig, max_tokens: int, temperature: float, logprobs: int) -> dict:
    kwargs = {"max_tokens": max_tokens, "temperature": temperature, "seed": config.seed}
    if logprobs:
        kwargs["logprobs"] = logprobs
    return kwargs


def to_completion(request_output) -> Completion:
    out = request_output.outputs[0]
    tokens, tops = [], []
    for token_id, step in zip(out.token_ids, out.logprobs or []):
        chosen = step.get(token_id)
        tokens.append(chosen.decoded_token if chosen is not None else "")
        tops.append({lp.decoded_token: lp.logprob for lp in step.values() if lp.decoded_token is not None})
    return Completion(text=out.text, tokens=tokens, top_logprobs=tops,
                      prompt_tokens=len(request_output.prompt_token_ids or ()), completion_tokens=len(out.token_ids))


class VllmBackend(OracleBackend):
    def __init__(self, config: BackendConfig):
        super().__init__(config)
        try:
            from vllm import LLM, SamplingParams
        except ImportError as exc:
            raise ImportError("backend kind 'vllm' needs vLLM: pip install 'curate[vllm]' on a CUDA machine "
                              "(or use kind 'openai' against `vllm serve`)") from exc
        self._sampling_params = SamplingParams
        self.llm = LLM(**engine_kwargs(config))
        self.tokenizer = self.llm.get_tokenizer()

    def build_prompts(self, prompts: list[str], prefill: str) -> list[str]:
        return [apply_chat_template(self.tokenizer, p, prefill, self.config.chat_template) for p in prompts]

    def complete(self, prompts, *, max_tokens, temperature=0.0, logprobs=0, prefill="", score_tokens=()):
        params = self._sampling_params(**sampling_kwargs(self.config, max_tokens, temperature, logprobs))
        outputs = self.llm.generate(self.build_prompts(prompts, prefill), params, use_tqdm=False)
        return [to_completion(o) for o in outputs]
