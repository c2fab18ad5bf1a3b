"""Reading code out of real model answers: fenced blocks, or bare code; then solution and tests told apart.

Answers come fenced (```python ... ```), fenced without a language, with prose around, or unfenced; tests come
as pytest functions, ``Test*`` classes or bare ``assert`` lines, with ``import pytest`` and
``from solution import f`` lines. The rule: parse every block with ``ast``; top-level ``test_*`` functions,
``Test*`` classes and ``assert`` statements are tests; calls that only run tests (``test_add()``,
``pytest.main()``, an ``if __name__ == "__main__":`` block of those) are dropped, since the sandbox runs every
test; everything else is the solution. Imports found in a
test block are repeated in front of each test, so each test runs on its own in the sandbox. Code that does not
parse is not code: the answer is unparsable.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_NON_PYTHON = {"text", "bash", "sh", "shell", "console", "json", "yaml", "output", "plaintext", "javascript", "js"}


@dataclass
class Split:
    solution: str = ""
    tests: list[str] = field(default_factory=list)
    problem: str = ""  # why nothing usable was found

    @property
    def ok(self) -> bool:
        return not self.problem


def code_blocks(answer: str) -> list[str]:
    """The Python code blocks of an answer; an answer without fences that parses as Python is one block."""
    blocks = [body for lang, body in _FENCE.findall(answer or "") if lang.lower() not in _NON_PYTHON]
    if blocks:
        return [b.strip("\n") for b in blocks if b.strip()]
    text = (answer or "").strip()
    return [text] if text and _parses(text) else []


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _is_test(node: ast.stmt) -> bool:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return node.name.startswith("test")
    if isinstance(node, ast.ClassDef):
        return node.name.startswith("Test")
    return isinstance(node, ast.Assert)


def _is_import(node: ast.stmt) -> bool:
    return isinstance(node, ast.Import | ast.ImportFrom)


def split_solution_and_tests(answer: str) -> Split:
    """Solution code and test items from one answer that holds both (KodCode's solution + tests)."""
    solution_parts: list[str] = []
    tests: list[str] = []
    parsed_any = False
    for block in code_blocks(answer):
        try:
            tree = ast.parse(block)
        except (SyntaxError, ValueError):
            continue
        parsed_any = True
        nodes = tree.body
        has_tests = any(_is_test(n) for n in nodes)
        imports = [ast.get_source_segment(block, n) for n in nodes if _is_import(n) and has_tests]
        rest = []
        for node in nodes:
            source = ast.get_source_segment(block, node) or ""
            if _is_test(node):
                tests.append("\n".join([*imports, _decorated(block, node)]) if imports else _decorated(block, node))
            elif not (has_tests and _is_import(node)) and not _is_harness(node):
                rest.append(_decorated(block, node) if hasattr(node, "decorator_list") else source)
        if rest:
            solution_parts.append("\n\n".join(rest))
    if not parsed_any:
        return Split(problem="unparsable: no Python code in the answer")
    if not solution_parts:
        return Split(tests=tests, problem="no_solution: the answer has tests but no solution code")
    return Split(solution="\n\n".join(solution_parts) + "\n", tests=tests)


def _is_harness(node: ast.stmt) -> bool:
    """A statement that only runs tests: ``test_x()``, ``pytest.main()``, ``unittest.main()``, ``print(test_x())``,
    or an ``if __name__ == "__main__":`` block made of those."""
    if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
        return all(_is_harness(n) for n in node.body)
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return False
    call = node.value
    if isinstance(call.func, ast.Name) and call.func.id == "print" and call.args:
        return all(isinstance(a, ast.Call) and _runs_tests(a) for a in call.args)
    return _runs_tests(call)


def _runs_tests(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id.startswith("test")
    return isinstance(func, ast.Attribute) and func.attr == "main" and isinstance(func.value, ast.Name) and \
        func.value.id in ("pytest", "unittest")


def _decorated(block: str, node: ast.stmt) -> str:
    """A definition's source including its decorators (``ast.get_source_segment`` starts at ``def``)."""
    decorators = getattr(node, "decorator_list", None)
    lines = block.splitlines()
    start = min([d.lineno for d in decorators] + [node.lineno]) if decorators else node.lineno
    return "\n".join(lines[start - 1:node.end_lineno])


def solution_code(answer: str) -> str | None:
    """The solution in an answer that should hold only a solution (tests in it are ignored); None if no code."""
    split = split_solution_and_tests(answer)
    return split.solution if split.solution else None


def assert_tests(answer: str) -> list[str]:
    """Every top-level ``assert`` statement (and test function) in an answer's code, one test item each."""
    return split_solution_and_tests(answer).tests


def has_assertion(test: str) -> bool:
    """A test that can fail: it asserts, or expects an exception (``pytest.raises``, ``assertRaises``...), in the
    code the test runs: an assert inside a function the test only defines (never calls) does not count."""
    try:
        tree = ast.parse(test)
    except (SyntaxError, ValueError):
        return False
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            if any(_asserts(m.body) for m in node.body if isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef)):
                return True
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if _asserts(node.body):
                return True
        elif _asserts([node]):
            return True
    return False


def _asserts(statements: list[ast.stmt]) -> bool:
    """Whether these statements assert, not counting the bodies of functions and classes they only define."""
    todo: list[ast.AST] = list(statements)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Attribute) and (node.attr == "raises" or node.attr.startswith("assert")):
            return True
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            todo.extend(ast.iter_child_nodes(node))
    return False


def render_code(code: str) -> str:
    return f"```python\n{code.strip()}\n```"
