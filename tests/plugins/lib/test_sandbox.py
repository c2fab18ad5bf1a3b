"""The sandbox's API: verdicts per test and per program, test styles, order, limits, isolation detection."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
from _sandbox_helpers import bwrap_missing

from curate_plugins.lib.sandbox import ExecJob, ExecResult, Sandbox, SandboxError, SandboxLimits
from curate_plugins.lib.sandbox import isolation as isolation_module
from curate_plugins.lib.sandbox.verdict import to_result

ADD = "def add(a, b):\n    return a + b\n"


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(SandboxLimits(timeout=2, workers=2)) as box:
        yield box


def statuses(result: ExecResult) -> list[str]:
    return [t.status for t in result.tests]


def test_verdicts_per_program_and_per_test(sandbox):
    jobs = [
        ExecJob(id="pass", code=ADD, tests=["assert add(1, 2) == 3", "assert add(-1, 1) == 0"]),
        ExecJob(id="fail", code=ADD, tests=["assert add(1, 2) == 3", "assert add(1, 2) == 4", "assert add(0, 0) == 0"]),
        ExecJob(id="raises", code=ADD, tests=["assert add(1, None) == 1"]),
        ExecJob(id="syntax", code="def add(a, b)\n    return a + b\n", tests=["assert add(1, 2) == 3"]),
        ExecJob(id="bad-test", code=ADD, tests=["assert add(1, 2) ==", "assert add(1, 2) == 3"]),
        ExecJob(id="no-tests", code=ADD),
    ]
    results = sandbox.run(jobs)
    assert [r.id for r in results] == [j.id for j in jobs]
    assert [r.status for r in results] == ["pass", "fail", "fail", "error", "fail", "pass"]
    assert statuses(results[1]) == ["pass", "fail", "pass"]  # every test runs; the first failure decides
    assert "AssertionError" in results[1].tests[1].message and results[1].tests[1].name == "assert add(1, 2) == 4"
    assert "TypeError" in results[2].tests[0].message
    assert statuses(results[3]) == ["skipped"] and "SyntaxError" in results[3].message
    assert statuses(results[4]) == ["error", "pass"] and "SyntaxError" in results[4].tests[0].message
    assert all(t.index == i for r in results[:2] for i, t in enumerate(r.tests))


def test_order_is_kept_across_workers(sandbox):
    jobs = [ExecJob(id=f"j{i}", code=f"import time\ntime.sleep({0.02 * (i % 3)})\nprint({i})") for i in range(24)]
    results = sandbox.run(jobs)
    assert [r.id for r in results] == [f"j{i}" for i in range(24)]
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(24)]


def test_pytest_style_tests(sandbox):
    tests = ['''
import pytest
from solution import add

def test_small():
    assert add(1, 1) == 2

def test_raises():
    with pytest.raises(TypeError):
        add(1, "x")

@pytest.mark.parametrize("a, b, total", [(1, 2, 3), (2, 2, 5), pytest.param(0, 0, 0, id="zeros")])
def test_table(a, b, total):
    assert add(a, b) == total

class TestAdd:
    def setup_method(self, method):
        self.base = 10

    def test_base(self):
        assert add(self.base, 1) == 11

def test_files(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    assert (tmp_path / "x.txt").read_text() == "hi"

@pytest.fixture
def pair():
    return (2, 3)

@pytest.fixture
def opened(pair, tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("open")
    yield pair
    path.write_text("closed")

def test_fixtures(opened, monkeypatch):
    monkeypatch.setattr("math.pi", 3)
    import math
    assert add(*opened) == 5 and math.pi == 3

def test_unknown_fixture(nonexistent):
    pass

def helper():
    return 1
''', "import math\nassert math.pi != 3 and add(2, 2) == 4"]
    result = sandbox.run([ExecJob(id="py", code=ADD, tests=tests)])[0]
    names = [t.name for t in result.tests]
    assert names == ["test_small", "test_raises", "test_table[0]", "test_table[1]", "test_table[2]",
                     "TestAdd.test_base", "test_files", "test_fixtures", "test_unknown_fixture", "import math"]
    assert statuses(result) == ["pass", "pass", "pass", "fail", "pass", "pass", "pass", "pass", "error", "pass"]
    assert "nonexistent" in result.tests[8].message  # a fixture nothing provides is named
    assert [t.index for t in result.tests] == [0] * 9 + [1]
    assert result.status == "fail"


def test_unittest_style_tests(sandbox):
    tests = ["""
import unittest
from solution import add

class AddTests(unittest.TestCase):
    def setUp(self):
        self.base = 1

    def test_ok(self):
        self.assertEqual(add(self.base, 1), 2)

    def test_wrong(self):
        self.assertEqual(add(self.base, 1), 3)

    def helper(self):
        raise AssertionError("not a test")
"""]
    result = sandbox.run([ExecJob(id="ut", code=ADD, tests=tests)])[0]
    assert [(t.name, t.status) for t in result.tests] == [("AddTests.test_ok", "pass"), ("AddTests.test_wrong", "fail")]
    assert "3 != 2" in result.tests[1].message or "2 != 3" in result.tests[1].message


def test_test_helpers_do_not_clobber_the_solution(sandbox):
    tests = ["def add(a, b):\n    return 0\n\ndef test_uses_own_helper():\n    assert add(1, 2) == 0\n",
             "assert add(1, 2) == 3"]
    result = sandbox.run([ExecJob(id="shadow", code=ADD, tests=tests)])[0]
    assert result.status == "pass", result


def test_setup_runs_after_the_code(sandbox):
    """MBPP's test_setup_code builds objects from the solution's classes."""
    code = "class Node:\n    def __init__(self, v):\n        self.v = v\n\ndef value(n):\n    return n.v\n"
    result = sandbox.run([ExecJob(id="setup", code=code, setup="root = Node(7)", tests=["assert value(root) == 7"])])
    assert result[0].status == "pass", result[0]
    broken = sandbox.run([ExecJob(id="bad-setup", code=code, setup="root = Nod(7)", tests=["assert True"])])[0]
    assert broken.status == "error" and "NameError" in broken.message


def test_per_test_timing(sandbox):
    result = sandbox.run([ExecJob(id="timed", code="import time\n", tests=["time.sleep(0.3)", "assert 1"])])[0]
    slow, fast = result.tests
    assert slow.seconds >= 0.3 and fast.seconds < slow.seconds
    assert result.seconds >= slow.seconds


def test_test_timeout_marks_one_test_and_goes_on():
    with Sandbox(SandboxLimits(timeout=5, test_timeout=0.3, workers=1)) as box:
        code = "def f(x):\n    while x:\n        pass\n    return x\n"
        result = box.run([ExecJob(id="t", code=code, tests=["assert f(0) == 0", "assert f(1) == 1",
                                                           "assert f(0) == 0"])])[0]
    assert statuses(result) == ["pass", "timeout", "pass"]
    assert result.status == "timeout"


def test_output_is_captured_and_capped():
    with Sandbox(SandboxLimits(timeout=5, max_output_bytes=1000, workers=1)) as box:
        result = box.run([ExecJob(id="o", code="import sys\nprint('x' * 5000)\nprint('oops', file=sys.stderr)",
                                  tests=["assert True"])])[0]
    assert result.status == "pass"
    assert result.stdout.startswith("x" * 1000) and "[... 4001 more bytes dropped]" in result.stdout
    assert result.stderr == "oops\n"


def test_programs_get_a_fresh_directory_and_clean_state(sandbox):
    code = "import os\nprint(os.getcwd(), sorted(os.listdir('.')))\nopen('left.txt', 'w').write('x')\nimport json\n" \
           "json.loads = None\n"
    first, second = sandbox.run([ExecJob(id="a", code=code), ExecJob(id="b", code=code)])
    assert first.stdout.split()[1:] == ["[]"] and second.stdout.split()[1:] == ["[]"]
    after = sandbox.run([ExecJob(id="c", code="import json\nassert json.loads('1') == 1")])[0]
    assert after.status == "pass"  # a program's changes to modules never reach the next program


def test_unsupported_language_is_an_error_result(sandbox):
    result = sandbox.run([ExecJob(id="c", code="int main(){}", language="cobol", tests=["x"])])[0]
    assert result.status == "error" and "unsupported language 'cobol'" in result.message
    assert statuses(result) == ["skipped"]


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_javascript_through_node(sandbox):
    code = "function add(a, b) { return a + b; }\nconsole.log('hi');\n"
    tests = ["assert.strictEqual(add(1, 2), 3)", "assert.strictEqual(add(1, 2), 4)",
             "test('async ok', async () => { await new Promise(r => setTimeout(r, 5)); assert.ok(add(1, 1) === 2); });"
             "\ntest('throws', () => { null.x; });"]
    result = sandbox.run([ExecJob(id="js", code=code, tests=tests, language="javascript"),
                          ExecJob(id="js-syntax", code="function (", language="js")])
    assert result[0].status == "fail" and result[0].stdout == "hi\n"
    assert [(t.name, t.status) for t in result[0].tests] == [
        ("assert.strictEqual(add(1, 2), 3)", "pass"), ("assert.strictEqual(add(1, 2), 4)", "fail"),
        ("async ok", "pass"), ("throws", "error")]
    assert result[1].status == "error" and "SyntaxError" in result[1].message


def test_isolation_is_detected_and_described(sandbox):
    iso = sandbox.isolation
    assert iso["mode"] in ("bwrap", "rlimit")
    assert iso["limits"]["timeout_s"] == 2 and iso["limits"]["memory_mb"] == 2048
    if bwrap_missing():
        assert iso["mode"] == "rlimit" and iso["fallback_reason"]
    else:
        assert iso["mode"] == "bwrap" and iso["network"].startswith("none") and iso["pid_namespace"] is True
    json.dumps(iso)  # goes into run summaries as it is


def test_missing_bubblewrap_falls_back_and_says_why(monkeypatch):
    monkeypatch.setattr(isolation_module.shutil, "which", lambda name: None)
    isolation_module.probe_bwrap.cache_clear()
    try:
        box = Sandbox(SandboxLimits(workers=1))
        assert box.mode == "rlimit" and "bwrap not found" in box.isolation["fallback_reason"]
        netns = isolation_module.probe_netns(sys.executable)  # as root: an empty network namespace instead
        assert box.isolation["network"].startswith("none: own network namespace" if netns else "NOT isolated")
        with pytest.raises(SandboxError, match="bwrap not found"):
            Sandbox(SandboxLimits(isolation="bwrap"))
        assert box.run([ExecJob(id="x", code=ADD, tests=["assert add(1, 1) == 2"])])[0].status == "pass"
        box.close()
    finally:
        isolation_module.probe_bwrap.cache_clear()


def test_limits_are_validated():
    with pytest.raises(ValueError):
        SandboxLimits(timout=3)
    with pytest.raises(ValueError):
        SandboxLimits(timeout=0)
    assert SandboxLimits(timeout=2.5).cpu_seconds() == 3


def test_result_records_round_trip(sandbox):
    result = sandbox.run([ExecJob(id="r", code=ADD, tests=["assert add(1, 2) == 3"])])[0]
    assert ExecResult.from_record(json.loads(json.dumps(result.to_record()))) == result


@pytest.mark.parametrize(("raw", "status", "tests"), [
    ({"results": "", "killed": "timeout", "exit_code": -9, "seconds": 2.0}, "timeout", ["skipped"]),
    ({"results": '{"e": "code", "status": "ok"}\n{"e": "start", "i": 0, "name": "a"}\n', "killed": None,
      "exit_code": -11, "seconds": 0.1}, "error", ["error"]),
    ({"results": '{"e": "code", "status": "ok"}\n{"e": "start", "i": 0, "name": "a"}\n', "killed": None,
      "exit_code": -24, "seconds": 3.0}, "timeout", ["timeout"]),  # SIGXCPU: the CPU limit
    ({"results": '{"e": "code", "status": "ok"}\nnot json\n{"e": "start", "i": 0, "name": "a"}\n{"e": "test", "i": 0, '
                 '"name": "a", "status": "pass", "seconds": 0.1}\n{"e": "done"}\n', "killed": None, "exit_code": 0,
      "seconds": 0.2}, "pass", ["pass"]),
    # what the harness never writes: a result without its start, a test out of range, done twice
    ({"results": '{"e": "code", "status": "ok"}\n{"e": "test", "i": 0, "name": "a", "status": "pass", '
                 '"seconds": 0.1}\n{"e": "done"}\n', "killed": None, "exit_code": 0, "seconds": 0.2},
     "error", ["skipped"]),
    ({"results": '{"e": "code", "status": "ok"}\n{"e": "start", "i": 3, "name": "a"}\n{"e": "test", "i": 3, '
                 '"name": "a", "status": "pass", "seconds": 0.1}\n{"e": "done"}\n', "killed": None, "exit_code": 0,
      "seconds": 0.2}, "error", ["skipped"]),
    ({"results": '{"e": "code", "status": "error"}\n{"e": "done"}\n{"e": "done"}\n', "killed": None, "exit_code": 0,
      "seconds": 0.2}, "error", ["skipped"]),
])
def test_verdict_from_what_the_zygote_saw(raw, status, tests):
    result = to_result(ExecJob(id="v", code="", tests=["assert a"]), raw, SandboxLimits())
    assert result.status == status and statuses(result) == tests


def test_a_pickled_sandbox_starts_its_own_workers(sandbox):
    import pickle

    copy = pickle.loads(pickle.dumps(sandbox))
    try:
        assert copy.limits == sandbox.limits and copy.isolation["mode"] == sandbox.isolation["mode"]
        assert copy.run([ExecJob(id="p", code=ADD, tests=["assert add(1, 1) == 2"])])[0].status == "pass"
    finally:
        copy.close()


def test_odd_sources_are_errors_not_crashes(sandbox):
    results = sandbox.run([ExecJob(id="nul", code="x = 1\0"), ExecJob(id="surrogate", code="x = '\ud800'\nprint(x)"),
                           ExecJob(id="huge", code="x = 1\n" * 20_000, tests=["assert x == 1"] * 200)])
    assert results[0].status == "error" and "null" in results[0].message
    assert results[1].status in ("pass", "error")
    assert results[2].status == "pass" and len(results[2].tests) == 200


def test_an_interpreter_under_tmp_stays_visible(tmp_path):
    """A checkout or venv under /tmp (where CI may clone) is re-exposed inside the sandbox's private /tmp."""
    import subprocess

    if bwrap_missing():
        pytest.skip(f"bubblewrap does not work here: {bwrap_missing()}")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "v")], check=True)
    python = str(tmp_path / "v" / "bin" / "python")
    with Sandbox(SandboxLimits(python=python, workers=1, isolation="bwrap")) as box:
        code = "import sys, os\nprint(sys.prefix)\nopen('/tmp/left-behind', 'w').write('x')\n"
        listing = "import os\nprint(os.listdir('/tmp'))"
        first, second = box.run([ExecJob(id="a", code=code), ExecJob(id="b", code=listing)])
    assert first.status == "pass" and first.stdout.strip() == str(tmp_path / "v")
    assert "left-behind" not in second.stdout


def test_sandbox_runs_from_any_working_directory(tmp_path, monkeypatch, sandbox):
    monkeypatch.chdir(tmp_path)
    assert sandbox.run([ExecJob(id="cwd", code=ADD, tests=["assert add(2, 2) == 4"])])[0].status == "pass"
    assert sys.executable
