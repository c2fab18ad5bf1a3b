"""Synthetic-data throughput on one GPU: generated samples/s (vLLM) and executions/s (sandbox), with a 7B coder.

Run it as it is on a machine with one CUDA GPU and `pip install -e '.[vllm]'` (not run by CI: no GPU there):

    python tools/gpu/bench_synth.py                       # Qwen/Qwen2.5-Coder-7B-Instruct, 200 MBPP problems
    python tools/gpu/bench_synth.py --model /models/coder-7b --problems 500 --samples 16

What it does, through the same code the plugins use (curate_plugins.lib.llm, curate_plugins.lib.sandbox):
1. generation: for --problems MBPP problems (bundled, CC-BY-4.0) it samples --samples solutions each with the
   `vllm` backend (CodeDPO/AceCoder-style prompts, temperature 0.8, prefix caching on) -> samples/s and
   generated tokens/s;
2. execution: every sampled solution runs against its problem's 3 MBPP tests in the sandbox (all cores) ->
   executions/s, and the pass rate of the model (a sanity check: a 7B coder passes most of MBPP);
3. prints one JSON object with both rates, the GPU name, the load (`uptime`) and the sandbox isolation.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

MBPP = Path(__file__).resolve().parents[2] / "plugins" / "curate_plugins" / "_decontam" / "data" / "mbpp.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="Qwen/Qwen2.5-Coder-7B-Instruct", help="hub name or local directory")
    parser.add_argument("--problems", type=int, default=200, help="MBPP problems (of 974)")
    parser.add_argument("--samples", type=int, default=16, help="solutions sampled per problem (AceCoder: 16)")
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--max-model-len", type=int, default=4096)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    parser.add_argument("--workers", type=int, default=None, help="sandbox workers (default: all cores)")
    args = parser.parse_args()

    from curate_plugins._synth import prompts
    from curate_plugins._synth.extract import solution_code
    from curate_plugins.lib.llm.backend import make_backend
    from curate_plugins.lib.llm.config import BackendConfig, Sampling
    from curate_plugins.lib.sandbox import ExecJob, Sandbox, SandboxLimits

    problems = [json.loads(line) for line in MBPP.read_text().splitlines() if line.strip()][: args.problems]
    chats = [prompts.chat(prompts.CODEDPO_SOLUTION.format(question=f"{p['text']}\nIt must pass: {p['test_list'][0]}"))
             for p in problems]
    started = time.perf_counter()
    backend = make_backend(BackendConfig(kind="vllm", model=args.model, max_model_len=args.max_model_len,
                                         gpu_memory_utilization=args.gpu_memory_utilization, batch_size=len(chats)))
    engine_seconds = time.perf_counter() - started
    sampling = Sampling(n=args.samples, temperature=0.8, top_p=0.95, max_tokens=args.max_tokens, seed=0)
    started = time.perf_counter()
    groups = backend.generate(chats, sampling)
    generate_seconds = time.perf_counter() - started
    samples = sum(len(g) for g in groups)
    tokens = sum(c.completion_tokens for g in groups for c in g)

    jobs = [ExecJob(id=f"{p['task_id']}#{k}", code=solution_code(c.text) or "", tests=p["test_list"],
                    setup=p.get("test_setup_code") or "")
            for p, group in zip(problems, groups) for k, c in enumerate(group)]
    with Sandbox(SandboxLimits(timeout=10.0, workers=args.workers)) as sandbox:
        sandbox.run(jobs[: min(len(jobs), 32)])  # warm the interpreters
        started = time.perf_counter()
        results = sandbox.run(jobs)
        execute_seconds = time.perf_counter() - started
        isolation = sandbox.isolation
    print(json.dumps({
        "model": args.model, "gpu": _gpu_name(), "load": os.getloadavg(), "cores": os.cpu_count(),
        "problems": len(problems), "samples": samples, "engine_start_seconds": round(engine_seconds, 1),
        "generate_seconds": round(generate_seconds, 1), "samples_per_second": round(samples / generate_seconds, 2),
        "generated_tokens_per_second": round(tokens / generate_seconds, 1),
        "executions": len(jobs), "execute_seconds": round(execute_seconds, 2),
        "executions_per_second": round(len(jobs) / execute_seconds, 1),
        "pass_rate": round(sum(r.passed for r in results) / max(1, len(results)), 3),
        "statuses": {s: sum(r.status == s for r in results) for s in ("pass", "fail", "timeout", "memory", "error")},
        "isolation": isolation.get("mode"),
    }, indent=1))


def _gpu_name() -> str:
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "none found"


if __name__ == "__main__":
    main()
