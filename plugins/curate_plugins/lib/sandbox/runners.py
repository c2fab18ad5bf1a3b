"""Per-language runners: how one ExecJob becomes a request for the sandbox's zygote.

A runner either runs the program inside the zygote's forked child (Python: warm, no exec) or names a command
that the child execs after the limits are applied (``argv``), with the files it needs written into the fresh work
directory. Every runner reports through the same protocol: JSON lines on file descriptor 3 (see ``_harness.py``).
To add a language: subclass ``Runner``, write a harness that speaks that protocol, and register it in ``RUNNERS``.
"""

from __future__ import annotations

import json
import shutil

from curate_plugins.lib.sandbox.api import ExecJob, SandboxLimits
from curate_plugins.lib.sandbox.isolation import PACKAGE_DIR


class Runner:
    language = ""
    aliases: tuple[str, ...] = ()

    def unavailable(self) -> str | None:
        """Why this language cannot run here, or None."""
        return None

    def request(self, job: ExecJob, limits: SandboxLimits) -> dict:
        """The zygote request for ``job``: ``code``/``setup``/``tests`` for in-process Python, or ``argv`` (+
        ``files`` written into the work directory, ``memory_rlimit``) for a command; ``tests`` always."""
        raise NotImplementedError

    def binaries(self) -> tuple[str, ...]:
        """Host paths the sandbox must show for this runner."""
        return ()


class PythonRunner(Runner):
    """In the zygote's forked child: the warm interpreter execs the code and tests (``_harness.py``)."""

    language = "python"
    aliases = ("py", "python3")

    def request(self, job: ExecJob, limits: SandboxLimits) -> dict:
        return {"code": job.code, "setup": job.setup, "tests": list(job.tests), "test_timeout": limits.test_timeout}


class NodeRunner(Runner):
    """JavaScript through node: ``harness.js`` runs the code then each test (statements using ``assert``, or
    ``test("name", fn)`` calls) in one V8 context. V8 reserves far more address space than it uses, so the memory
    limit is RLIMIT_DATA plus ``--max-old-space-size`` instead of RLIMIT_AS."""

    language = "javascript"
    aliases = ("js", "node")

    @property
    def node(self) -> str | None:
        return shutil.which("node")

    def unavailable(self) -> str | None:
        return None if self.node else "node not found on PATH"

    def binaries(self) -> tuple[str, ...]:
        return (self.node,) if self.node else ()

    def request(self, job: ExecJob, limits: SandboxLimits) -> dict:
        heap = max(32, limits.memory_mb * 3 // 4)
        payload = {"code": job.code, "setup": job.setup, "tests": list(job.tests)}
        return {"argv": [self.node, f"--max-old-space-size={heap}",
                         str(PACKAGE_DIR / "harness.js"), "job.json"],
                "files": {"job.json": json.dumps(payload)}, "memory_rlimit": "DATA", "tests": list(job.tests)}


RUNNERS: dict[str, Runner] = {}
for _runner in (PythonRunner(), NodeRunner()):
    for _name in (_runner.language, *_runner.aliases):
        RUNNERS[_name] = _runner


def runner_for(language: str) -> Runner | None:
    return RUNNERS.get((language or "python").lower())


def languages() -> list[str]:
    return sorted({r.language for r in RUNNERS.values()})
