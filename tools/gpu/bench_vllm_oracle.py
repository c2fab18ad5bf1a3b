"""Oracle throughput on a GPU with the `vllm` backend: files/s, prompt tokens/s and generated tokens/s.

Run it on a machine with a CUDA GPU and `pip install 'curate[vllm]'` (not exercised by CI, which has no GPU):

    python tools/gpu/bench_vllm_oracle.py --model Qwen/Qwen2.5-Coder-7B-Instruct --tp 1 \
        --inputs 'examples/data/github/*.jsonl.zst' --files 2000 --mode generate

It labels --files files through the same Labeller the `llm_quality` plugin uses (prompt seed_coder_v1, prefix
caching on, a throwaway label cache so nothing is a cache hit), once in the chosen mode, and prints the
throughput, the share of answers that could not be parsed, and the rating histogram.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="hub name or local directory of the oracle model")
    parser.add_argument("--tp", type=int, default=1, help="tensor-parallel size (GPUs per replica)")
    parser.add_argument("--inputs", nargs="+", default=["examples/data/github/*.jsonl.zst"])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--mode", choices=["generate", "expected"], default="generate")
    parser.add_argument("--batch-size", type=int, default=256, help="prompts handed to the engine per call")
    parser.add_argument("--max-model-len", type=int, default=8192)
    parser.add_argument("--max-code-chars", type=int, default=16000)
    parser.add_argument("--no-prefix-caching", action="store_true")
    args = parser.parse_args()

    from curate_plugins._quality.cli import _documents
    from curate_plugins._quality.labeller import Labeller, OracleSettings
    from curate_plugins._quality.prompt import load_prompt
    from curate_plugins.lib.llm.backend import make_backend
    from curate_plugins.lib.llm.cache import LabelCache
    from curate_plugins.lib.llm.config import BackendConfig

    docs = []
    for doc in _documents(args.inputs, "text"):
        docs.append(doc)
        if len(docs) >= args.files:
            break
    cache = tempfile.mkdtemp(prefix="vllm-bench-") + "/labels.sqlite"
    settings = OracleSettings(
        backend=BackendConfig(kind="vllm", model=args.model, tensor_parallel_size=args.tp,
                              batch_size=args.batch_size, max_model_len=args.max_model_len,
                              enable_prefix_caching=not args.no_prefix_caching),
        mode=args.mode, cache=cache, max_code_chars=args.max_code_chars)
    started = time.perf_counter()
    backend = make_backend(settings.backend)
    load_seconds = time.perf_counter() - started
    labeller = Labeller(settings, backend, load_prompt(settings.prompt), LabelCache(cache))
    started = time.perf_counter()
    labels = []
    for start in range(0, len(docs), args.batch_size):
        labels += labeller.label(docs[start:start + args.batch_size])
    seconds = time.perf_counter() - started
    s = labeller.stats
    ratings = Counter(round(x.value) for x in labels if x.value is not None)
    print(json.dumps({
        "model": args.model, "tensor_parallel_size": args.tp, "mode": args.mode, "files": len(docs),
        "engine_load_seconds": round(load_seconds, 1), "seconds": round(seconds, 2),
        "files_per_s": round(len(docs) / seconds, 2),
        "prompt_tokens_per_s": round(s.prompt_tokens / seconds, 1),
        "generated_tokens_per_s": round(s.completion_tokens / seconds, 1),
        "retried": s.retried, "errors": s.errors, "errors_by_kind": s.errors_by_kind,
        "rating_histogram": dict(sorted(ratings.items())),
    }, indent=1))


if __name__ == "__main__":
    main()
