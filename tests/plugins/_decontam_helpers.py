"""Plant benchmark problems into real code files, altered five ways (recall test of ngram_decontaminate)."""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import re
import tokenize
import warnings

import orjson

ALTERATIONS = ("verbatim", "reindented", "comments_stripped", "renamed_variables", "solution_only")


def load_problems(data_dir) -> list[dict]:
    """Every HumanEval and MBPP item as {bench, id, full, solution} (full = prompt, solution and tests)."""
    problems = []
    for line in (data_dir / "humaneval.jsonl").read_bytes().splitlines():
        r = orjson.loads(line)
        problems.append({"bench": "humaneval", "id": r["task_id"], "solution": r["canonical_solution"],
                         "full": r["prompt"] + r["canonical_solution"] + "\n" + r["test"]
                         + f"\ncheck({r['entry_point']})\n"})
    for line in (data_dir / "mbpp.jsonl").read_bytes().splitlines():
        r = orjson.loads(line)
        code = r["code"].replace("\r\n", "\n")
        problems.append({"bench": "mbpp", "id": str(r["task_id"]), "solution": code,
                         "full": f'"""{r["text"]}"""\n{code}\n' + "\n".join(r["test_list"]) + "\n"})
    return problems


def alter(problem: dict, how: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, SyntaxWarning))  # old escapes in MBPP code
        return _alter(problem, how)


def _alter(problem: dict, how: str) -> str:
    if how == "verbatim":
        return problem["full"]
    if how == "reindented":
        return reindent(problem["full"])
    if how == "comments_stripped":
        return strip_comments(problem["full"])
    if how == "renamed_variables":
        return rename_variables(problem["full"])
    if how == "solution_only":
        return problem["solution"]
    raise ValueError(how)


def reindent(code: str) -> str:
    """Tabs become 4 spaces, every indent is doubled, the block is nested one level deeper, CRLF endings."""
    out = []
    for line in code.replace("\r\n", "\n").split("\n"):
        stripped = line.lstrip(" \t")
        lead = line[: len(line) - len(stripped)].replace("\t", "    ")
        out.append(("    " + lead * 2 + stripped) if stripped else "")
    return "\r\n".join(out)


def strip_comments(code: str) -> str:
    """Remove every # comment and every docstring (module, class and function)."""
    code = code.replace("\r\n", "\n")
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return re.sub(r"#[^\n]*", "", code)
    drop = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            value = first.value if isinstance(first, ast.Expr) else None
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                drop.update(range(first.lineno, first.end_lineno + 1))
    lines = [line for i, line in enumerate(code.split("\n"), start=1) if i not in drop]
    return _drop_comment_tokens("\n".join(lines))


def _drop_comment_tokens(code: str) -> str:
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return re.sub(r"#[^\n]*", "", code)
    lines = code.split("\n")
    for tok in reversed(tokens):
        if tok.type == tokenize.COMMENT:
            row, col = tok.start
            lines[row - 1] = lines[row - 1][:col].rstrip()
    return "\n".join(lines)


_KEEP = set(dir(builtins)) | set(keyword.kwlist) | {"self", "cls", "candidate", "check"}


def rename_variables(code: str) -> str:
    """Consistently rename every function parameter and local variable (not function names, attributes,
    strings or docstrings), as a copier hiding the source would."""
    code = code.replace("\r\n", "\n")
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    local = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            local.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            local.add(node.id)
    functions = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    mapping = {name: f"renamed_{i}" for i, name in enumerate(sorted(local - functions - _KEEP))}
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            out.append(tok._replace(string=mapping.get(tok.string, tok.string)) if tok.type == tokenize.NAME else tok)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return code
    return tokenize.untokenize(out)


def plant(host: str, block: str) -> str:
    """Insert ``block`` at the line boundary nearest the middle of ``host``."""
    middle = host.find("\n", len(host) // 2)
    cut = len(host) if middle < 0 else middle + 1
    return host[:cut] + "\n" + block + "\n" + host[cut:]
