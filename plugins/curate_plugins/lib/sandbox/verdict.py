"""Turns what the zygote observed (events, exit status, why it killed) into an ExecResult."""

from __future__ import annotations

import json
import signal
from dataclasses import replace

from curate_plugins.lib.sandbox._harness import label
from curate_plugins.lib.sandbox._zygote import CHILD_SETUP_FAILED
from curate_plugins.lib.sandbox.api import ExecJob, ExecResult, TestResult

TEST_TO_RUN = {"fail": "fail", "error": "fail", "timeout": "timeout", "memory": "memory"}


def _events(text: str) -> list[dict]:
    events = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def _end(raw: dict, limits) -> tuple[str, str]:
    """(status for whatever was cut short, message) from how the program ended."""
    killed, code = raw.get("killed"), raw.get("exit_code")
    if killed == "timeout":
        return "timeout", f"wall-clock limit of {limits.timeout:g} s reached"
    if killed == "output":
        return "error", f"killed: wrote more than {limits.output_limit_bytes} bytes to stdout and stderr"
    if killed == "results":
        return "error", "killed: flooded the sandbox's result channel"
    if code == -signal.SIGXCPU:
        return "timeout", f"CPU-time limit of {limits.cpu_seconds()} s reached"
    if code == -signal.SIGXFSZ:
        return "error", f"killed: wrote a file larger than {limits.max_file_bytes} bytes"
    if code == CHILD_SETUP_FAILED:
        return "error", "the sandbox could not start the program: " + raw.get("stderr", "")[-300:]
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        return "error", f"killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
    return "error", f"the program exited (code {code}) before all its tests were reported"


def tampering(events: list[dict], tests: int) -> str | None:
    """What is wrong with an event sequence the harness cannot have written, or None. The harness writes one
    ``code`` event first, then a ``start`` and a ``test`` event per test case in test order, every test reported,
    and ``done`` last; a program that writes its own results to the channel breaks this unless it also knows its
    tests (see docs/sandbox.md, Known limits)."""
    kinds = [e.get("e") for e in events]
    if not events:
        return None
    if kinds[0] != "code" or kinds.count("code") > 1:
        return "the code event is not first or not alone"
    if "done" in kinds and (kinds.count("done") > 1 or kinds[-1] != "done"):
        return "events after done"
    if events[0].get("status") != "ok" and len(events) > 1 + kinds.count("done"):
        return "test events after code that did not run"
    last_index = -1
    for previous, event in zip(events, events[1:]):
        if event.get("e") == "test" and (previous.get("e") != "start" or previous.get("i") != event.get("i")
                                         or previous.get("name") != event.get("name")):
            return "a test result without its start"
        if event.get("e") in ("start", "test"):
            index = event.get("i")
            if not isinstance(index, int) or not last_index <= index < tests:
                return f"test index {index!r} out of order or range"
            last_index = index
    reported = {e.get("i") for e in events if e.get("e") == "test"}
    if kinds[-1] == "done" and events[0].get("status") == "ok" and reported != set(range(tests)):
        return f"done with {len(reported)} of {tests} tests reported"
    return None


def to_result(job: ExecJob, raw: dict, limits) -> ExecResult:
    events = _events(raw.get("results", ""))
    if raw.get("killed") == "results":  # whatever the channel holds is not the harness's report
        return _no_verdict(job, raw, _end(raw, limits)[1])
    problem = tampering(events, len(job.tests))
    if problem is not None:
        return _no_verdict(job, raw, f"the program wrote to the sandbox's result channel ({problem}); no verdict")
    code_event = next((e for e in events if e.get("e") == "code"), None)
    done = any(e.get("e") == "done" for e in events)
    tests, running = [], None
    for event in events:
        if event.get("e") == "start":
            running = event
        elif event.get("e") == "test":
            tests.append(TestResult(name=str(event.get("name", "")), status=str(event.get("status", "error")),
                                    seconds=float(event.get("seconds", 0.0)), index=int(event.get("i", 0)),
                                    message=str(event.get("message", ""))[:2000]))
            running = None
    cut_status, message = ("pass", "") if done else _end(raw, limits)
    reported = list(tests)
    if not done and code_event is not None and code_event.get("status") == "ok" and running is not None:
        spent = max(0.0, float(raw.get("seconds", 0.0)) - sum(t.seconds for t in tests))
        tests.append(TestResult(name=str(running.get("name", "")), status=cut_status, seconds=round(spent, 6),
                                index=int(running.get("i", 0)), message=message))
    seen = {t.index for t in tests}  # every test gets at least one result: "skipped" if it never ran
    tests += [TestResult(name=label(source), status="skipped", seconds=0.0, index=i)
              for i, source in enumerate(job.tests) if i not in seen]
    status = _status(code_event, reported, cut_status)
    if code_event is not None and code_event.get("status") != "ok":
        message = str(code_event.get("message", ""))
    return ExecResult(id=job.id, status=status, tests=tests, stdout=_clip(raw, "stdout"), stderr=_clip(raw, "stderr"),
                      seconds=float(raw.get("seconds", 0.0)), message=message)


def _no_verdict(job: ExecJob, raw: dict, message: str) -> ExecResult:
    result = error_result(job, message, float(raw.get("seconds", 0.0)))
    return replace(result, stdout=_clip(raw, "stdout"), stderr=_clip(raw, "stderr"))


def _status(code_event: dict | None, reported: list[TestResult], cut_status: str) -> str:
    """The first test that did not pass decides, as in one sequential program; ``cut_status`` ("pass" when the
    harness reported everything) covers a run that ended before its tests did."""
    if code_event is None:
        return cut_status if cut_status in ("timeout", "memory") else "error"
    if code_event.get("status") != "ok":
        return str(code_event["status"]) if code_event["status"] in ("timeout", "memory") else "error"
    for test in reported:
        if test.status != "pass":
            return TEST_TO_RUN.get(test.status, "fail")
    return cut_status


def _clip(raw: dict, stream: str) -> str:
    text, total = raw.get(stream, ""), raw.get(f"{stream}_bytes", 0)
    kept = len(text.encode("utf-8", "replace"))
    return text if total <= kept else f"{text}\n[... {total - kept} more bytes dropped]"


def error_result(job: ExecJob, message: str, seconds: float = 0.0) -> ExecResult:
    tests = [TestResult(name=label(source), status="skipped", seconds=0.0, index=i) for i, source in
             enumerate(job.tests)]
    return ExecResult(id=job.id, status="error", tests=tests, seconds=seconds, message=message)
