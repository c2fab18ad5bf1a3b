"""Shared by the quality tests: a real local OpenAI-compatible server process, and the tiny random Llama."""

from __future__ import annotations

import httpx

from curate_plugins._quality.proxy_server import serving


def proxy_server(*args: str):
    """Start ``curate_plugins._quality.proxy_server`` on 127.0.0.1 (free port); yields its /v1 base URL."""
    return serving(*args)


def server_stats(base_url: str) -> dict:
    return httpx.get(f"{base_url}/stats", timeout=10).json()
