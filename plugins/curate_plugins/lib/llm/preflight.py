"""``preflight(config)``: what would make a backend fail, found in seconds, before any document is read.

Plugins call it from ``check()``, so ``curate validate`` and ``curate run`` report a server that does not
answer, a model it does not serve, a refused key, a missing package or a missing local model as one message
each, naming the backend key at fault, instead of retrying every request of a run with backoff.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from curate_plugins.lib.llm.backend import BACKEND_REQUIREMENTS, GGUF_REQUIREMENTS
from curate_plugins.lib.llm.config import BackendConfig
from curate_plugins.lib.llm.models import gguf_path, is_gguf_spec


def preflight(config: BackendConfig, *, path: str = "backend", probe: bool = True) -> list[str]:
    """Problems with ``config``, each starting with its key (``backend.base_url: ...``); empty when it is usable.

    ``probe``: ask an ``openai`` server for its models (``GET /models``), waiting at most
    ``config.preflight_timeout`` seconds; without it only local facts are checked.
    """
    problems = [f"{path}.kind: {config.kind} needs `{module}` (pip install '{req}')"
                for module, req in BACKEND_REQUIREMENTS[config.kind].items()
                if importlib.util.find_spec(module) is None]
    if config.kind in ("transformers", "vllm"):
        problems += _local_model_problems(config, path)
    elif probe and not problems:
        problems += _server_problems(config, path)
    return problems


def _local_model_problems(config: BackendConfig, path: str) -> list[str]:
    if is_gguf_spec(config.model):
        try:
            gguf_path(config.model)
        except FileNotFoundError as exc:
            return [f"{path}.model: {exc}"]
        return [f"{path}.model: a GGUF model needs `{module}` to be converted (pip install '{req}')"
                for module, req in GGUF_REQUIREMENTS.items() if importlib.util.find_spec(module) is None]
    model = Path(config.model)
    if model.is_dir():
        return [] if (model / "config.json").is_file() else [f"{path}.model: {config.model!r} has no config.json"]
    if config.kind == "vllm" and "/" in config.model and not config.model.startswith((".", "/")):
        return []  # a hub name: vLLM fetches it on the GPU machine
    return [f"{path}.model: {config.model!r} is not a local model directory (the {config.kind} backend never "
            f"downloads; use a directory, a .gguf file or pkg:<package>)"]


def _server_problems(config: BackendConfig, path: str) -> list[str]:
    import httpx

    url = config.base_url.rstrip("/") + "/models"
    key = os.environ.get(config.api_key_env)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.get(url, headers=headers, timeout=config.preflight_timeout)
    except httpx.TimeoutException:
        return [f"{path}.base_url: {config.base_url} did not answer within {config.preflight_timeout:g} s "
                f"(GET /models); is the server up?"]
    except httpx.HTTPError as exc:
        return [f"{path}.base_url: {config.base_url} does not answer ({type(exc).__name__}: {exc}); "
                f"is the server running?"]
    if response.status_code in (401, 403):
        where = f"${config.api_key_env}" + ("" if key else " (unset)")
        return [f"{path}.api_key_env: the server refused the key in {where} (HTTP {response.status_code})"]
    if response.status_code == 404:
        return []  # answers, but lists no models: the model name is checked by the first request
    if response.status_code != 200:
        return [f"{path}.base_url: GET {url} answered HTTP {response.status_code}: {response.text[:200]}"]
    try:
        served = [m.get("id") for m in response.json().get("data", [])]
    except (ValueError, AttributeError):
        return [f"{path}.base_url: GET {url} did not answer with an OpenAI model list"]
    if served and config.model not in served:
        return [f"{path}.model: {config.model!r} is not served by {config.base_url} (served: {', '.join(served)})"]
    return []
