"""Run untrusted code: ``Sandbox(limits).run(jobs) -> results``, parallel, order-preserving, with per-test verdicts.

Isolation is detected at start-up (``Sandbox.isolation``): bubblewrap namespaces where they work here, resource
limits, process groups and unprivileged uids always. See docs/sandbox.md.
"""

from curate_plugins.lib.sandbox.api import STATUSES, ExecJob, ExecResult, SandboxLimits, TestResult
from curate_plugins.lib.sandbox.runners import languages
from curate_plugins.lib.sandbox.sandbox import Sandbox, SandboxError

__all__ = ["STATUSES", "ExecJob", "ExecResult", "Sandbox", "SandboxError", "SandboxLimits", "TestResult", "languages"]
