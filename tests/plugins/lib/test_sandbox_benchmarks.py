"""Known verdicts on real data: the bundled HumanEval and MBPP solutions pass their real tests, mutants fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.bench_sandbox import load_checks, mutant

from curate_plugins.lib.sandbox import ExecJob, Sandbox, SandboxLimits

DATA = Path(__file__).resolve().parents[3] / "plugins" / "curate_plugins" / "_decontam" / "data"
SLOW = {"mbpp/123"}  # amicable numbers up to 9999: seconds of pure Python, longer than these tests' limit


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(SandboxLimits(timeout=10, workers=2)) as box:
        yield box


def humaneval_jobs(solution_of) -> list[ExecJob]:
    rows = [json.loads(line) for line in (DATA / "humaneval.jsonl").read_text().splitlines() if line.strip()]
    return [ExecJob(id=row["task_id"], code=row["prompt"] + solution_of(row),
                    tests=[row["test"] + f"\ncheck({row['entry_point']})\n"]) for row in rows]


def test_every_humaneval_canonical_solution_passes(sandbox):
    results = sandbox.run(humaneval_jobs(lambda row: row["canonical_solution"]))
    assert len(results) == 164
    assert [r.id for r in results if r.status != "pass"] == []


def test_humaneval_solutions_that_return_nothing_fail(sandbox):
    results = sandbox.run(humaneval_jobs(lambda row: "    return None\n"))
    assert {r.status for r in results} == {"fail"}


def test_mbpp_solutions_pass_and_their_mutants_fail(sandbox):
    checks = [c for c in load_checks(None, False) if c["id"] not in SLOW]
    with_setup = [c for c in checks if c["setup"]]
    sample = checks[:60] + with_setup  # includes the two whose test_setup_code builds trees from the solution
    jobs = [ExecJob(id=c["id"], code=c["code"], tests=c["tests"], setup=c["setup"]) for c in sample]
    assert [r.id for r in sandbox.run(jobs) if r.status != "pass"] == []
    mutants = [ExecJob(id=c["id"], code=mutant(c["code"]), tests=c["tests"], setup=c["setup"])
               for c in sample if mutant(c["code"])]
    verdicts = sandbox.run(mutants)
    failing = [r for r in verdicts if r.status == "fail"]
    assert len(failing) >= 0.8 * len(mutants)  # a mutant whose changed value no test checks may still pass
    assert all(any(t.status in ("fail", "error") for t in r.tests) for r in failing)
