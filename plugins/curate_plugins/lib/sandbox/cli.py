"""``curate exec IN.jsonl -o OUT.jsonl``: run untrusted programs and their tests in the sandbox.

Each input line is ``{"id", "code", "tests": [...], "language"?, "setup"?}``; each produces exactly one output
line, in input order: ``{"id", "status", "tests": [{"name", "status", "seconds", "index", "message"}], "stdout",
"stderr", "seconds", "message"}``. A line that is not such a record gets ``status: "error"`` and a message naming
the line, so nothing is silently dropped.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator

import click
import orjson

CHUNK = 512


def parse_line(number: int, raw: bytes):
    """An ExecJob, or (id, message) for a line that cannot be one."""
    from curate_plugins.lib.sandbox.api import ExecJob

    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return f"line {number}", f"line {number}: not valid JSON ({exc})"
    if not isinstance(record, dict):
        return f"line {number}", f"line {number}: expected a JSON object, got {type(record).__name__}"
    job_id = str(record.get("id", f"line {number}"))
    problems = []
    if not isinstance(record.get("code"), str):
        problems.append("`code` must be a string")
    tests = record.get("tests", [])
    if isinstance(tests, str):
        tests = [tests]
    if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
        problems.append("`tests` must be a list of strings")
    for key in ("language", "setup"):
        if key in record and not isinstance(record[key], str):
            problems.append(f"`{key}` must be a string")
    unknown = sorted(set(record) - {"id", "code", "tests", "language", "setup"})
    if unknown:
        problems.append(f"unknown field(s) {', '.join(unknown)} (expected id, code, tests, language, setup)")
    if problems:
        return job_id, f"line {number}: " + "; ".join(problems)
    return ExecJob(id=job_id, code=record["code"], tests=tests, language=record.get("language") or "python",
                   setup=record.get("setup") or "")


def read_jobs(path: str) -> Iterator[tuple[int, object]]:
    with click.open_file(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if raw.strip():
                yield number, parse_line(number, raw)


def chunks(items: Iterator, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@click.command("exec")
@click.argument("inputs", metavar="IN.jsonl", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Output JSONL, one result per input line (`-` for stdout).")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Wall-clock seconds per program.")
@click.option("--test-timeout", type=float, default=None, help="Seconds per test (default: none).")
@click.option("--memory-mb", type=int, default=2048, show_default=True, help="Memory limit per program process.")
@click.option("--max-processes", type=int, default=64, show_default=True, help="Processes/threads per program.")
@click.option("--workers", type=int, default=None, help="Programs at once (default: usable cores).")
@click.option("--isolation", type=click.Choice(["auto", "bwrap", "rlimit"]), default="auto", show_default=True,
              help="bwrap: require bubblewrap; rlimit: limits only; auto: bubblewrap where it works.")
def exec_command(inputs, output, timeout, test_timeout, memory_mb, max_processes, workers, isolation):
    """Run the programs in IN.jsonl ({id, code, tests, language?, setup?} per line) in the sandbox; write one
    result per line (status pass|fail|timeout|memory|error, per-test status and seconds, stdout, stderr)."""
    from pydantic import ValidationError

    from curate_plugins.lib.sandbox import ExecJob, Sandbox, SandboxError, SandboxLimits
    from curate_plugins.lib.sandbox.verdict import error_result

    try:
        limits = SandboxLimits(timeout=timeout, test_timeout=test_timeout, memory_mb=memory_mb,
                               max_processes=max_processes, workers=workers, isolation=isolation)
        sandbox = Sandbox(limits)
    except ValidationError as exc:
        problems = "; ".join(f"--{'-'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}" for e in exc.errors())
        raise click.UsageError(problems) from None
    except SandboxError as exc:
        raise click.ClickException(str(exc)) from None
    _print_isolation(sandbox.isolation)
    counts: Counter = Counter()
    start = time.perf_counter()
    target = output if output == "-" else f"{output}.tmp-{os.getpid()}"
    with sandbox, click.open_file(target, "wb") as out:
        for chunk in chunks(read_jobs(inputs), CHUNK):
            jobs = [job for _, job in chunk if not isinstance(job, tuple)]
            ran = iter(sandbox.run(jobs))
            for _, job in chunk:
                bad = isinstance(job, tuple)
                result = error_result(ExecJob(id=job[0], code=""), job[1]) if bad else next(ran)
                counts[result.status] += 1
                out.write(orjson.dumps(result.to_record()) + b"\n")
    if output != "-":
        os.replace(target, output)
    seconds = time.perf_counter() - start
    total = sum(counts.values())
    summary = ", ".join(f"{counts[s]} {s}" for s in ("pass", "fail", "timeout", "memory", "error"))
    click.echo(f"{total} programs in {seconds:.1f} s ({total / max(seconds, 1e-9):.1f}/s): {summary}"
               + (f" -> {output}" if output != "-" else ""), err=True)


def _print_isolation(iso: dict) -> None:
    echo = lambda text: click.echo(text, err=True)  # noqa: E731 - results may go to stdout
    mode = f"{iso['mode']} ({iso['tool']})" if iso["tool"] else f"{iso['mode']} (fallback: {iso['fallback_reason']})"
    echo(f"sandbox isolation: {mode}")
    for key in ("network", "filesystem", "user", "process_cap", "environment", "imports"):
        echo(f"  {key}: {iso[key]}")
    limits = iso["limits"]
    echo(f"  limits: {limits['timeout_s']:g} s wall, {limits['cpu_s']} s CPU, {limits['memory_mb']} MiB, "
         f"{limits['processes']} processes, {limits['output_kept_bytes']} output bytes kept per stream")
    if iso["mode"] != "bwrap":
        echo("  WARNING: without bubblewrap, programs share the host's network and file system")
