"""Shared by the quality tests: a real local OpenAI-compatible server process, and the tiny random Llama."""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager

import httpx


@contextmanager
def proxy_server(*args: str):
    """Start ``curate_plugins._quality.proxy_server`` on 127.0.0.1 (free port); yields its /v1 base URL."""
    proc = subprocess.Popen([sys.executable, "-m", "curate_plugins._quality.proxy_server", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"server did not start: {line!r} {proc.stderr.read()}")
        yield f"http://127.0.0.1:{int(line.split()[1])}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def server_stats(base_url: str) -> dict:
    return httpx.get(f"{base_url}/stats", timeout=10).json()
