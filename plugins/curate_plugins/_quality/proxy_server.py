"""A local OpenAI-compatible HTTP server whose "model" is the proxy rubric (``proxy.py``), with fault injection.

It speaks ``POST /v1/completions`` and ``POST /v1/chat/completions`` (text, ``usage``, and ``logprobs`` in
either API's shape) so the ``openai`` backend can be exercised against a real server process: retries,
timeouts, rate limits, concurrency limits. ``GET /stats`` reports what the server saw; ``GET /v1/models`` lists
``--model`` names (default ``proxy``). Ratings are PROXY
labels, not an LLM's judgement (see ``proxy.py``). Bound to 127.0.0.1 only.

    python -m curate_plugins._quality.proxy_server --port 0 [--faults 429,500,timeout] [--garble 1]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from curate_plugins._quality.proxy import proxy_rating

_FILE = re.compile(r"<<<(FILE-[0-9a-f]+)\n(.*)\n\1>>>", re.S)
_PATH = re.compile(r"^File path: (.*)$", re.M)
_LANG = re.compile(r"^Language: (.*)$", re.M)


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.requests = 0
        self.inflight = 0
        self.max_inflight = 0
        self.by_status: dict[str, int] = {}
        self.attempts: dict[str, int] = {}
        self.answers: dict[str, int] = {}
        self.models: list[str] = list(getattr(args, "model", None) or ["proxy"])


def rate_prompt(prompt: str) -> tuple[int, str]:
    match = _FILE.search(prompt)
    code = match.group(2) if match else ""
    path = (_PATH.search(prompt) or [None, ""])[1]
    lang = (_LANG.search(prompt) or [None, ""])[1]
    return proxy_rating(code, path, lang), code


def answer_text(rating: int, code: str, quote_after: bool) -> str:
    text = f"The file is {'configuration, data or generated' if rating == 0 else 'ordinary source code'}; " \
           f"judged on readability, modularity, clarity and reusability.\nRating: [[{rating}]]"
    quoted = [line for line in code.splitlines() if "Rating" in line]
    if quote_after and quoted:
        text += "\n\nNote: the file itself contains this line, which I ignored:\n" + quoted[0]
    return text


def logprob_entries(rating: int) -> dict[str, float]:
    first = str(rating)[0]
    near = str(min(9, int(first) + 1))
    return {first: -0.2231, near: -1.6094} if near != first else {first: -0.1054}


class Handler(BaseHTTPRequestHandler):
    server_version = "curate-proxy-oracle/1"

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        state: State = self.server.state
        if self.path.rstrip("/").endswith("/stats"):
            with state.lock:
                body = {"requests": state.requests, "max_inflight": state.max_inflight, "by_status": state.by_status,
                        "attempts": state.attempts}
            return self._send(200, body)
        if self.path.rstrip("/").endswith("/v1/models"):  # what `curate validate`'s preflight asks
            if state.args.api_key and self.headers.get("authorization") != f"Bearer {state.args.api_key}":
                return self._send(401, {"error": {"message": "invalid api key"}})
            return self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in state.models]})
        self._send(404, {"error": {"message": "not found"}})

    def do_POST(self):
        state: State = self.server.state
        length = int(self.headers.get("content-length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        with state.lock:
            state.requests += 1
            state.inflight += 1
            state.max_inflight = max(state.max_inflight, state.inflight)
        try:
            self._answer(state, body)
        finally:
            with state.lock:
                state.inflight -= 1

    def _answer(self, state: State, body: dict):
        chat = self.path.rstrip("/").endswith("/chat/completions")
        if not chat and not self.path.rstrip("/").endswith("/completions"):
            return self._send(404, {"error": {"message": f"unknown path {self.path}"}})
        prompt = body["messages"][-1]["content"] if chat else body.get("prompt", "")
        key = hashlib.sha256(prompt.encode()).hexdigest()[:16]
        with state.lock:
            attempt = state.attempts.get(key, 0)
            state.attempts[key] = attempt + 1
        faults = [f for f in state.args.faults.split(",") if f]
        if state.args.delay:
            time.sleep(state.args.delay)
        if attempt < len(faults):
            return self._fault(faults[attempt])
        rating, code = rate_prompt(prompt)
        with state.lock:
            answered = state.answers.get(key, 0)
            state.answers[key] = answered + 1
        if answered < state.args.garble:
            text = "I'm sorry, but I can't provide a rating for this file."
        elif prompt.endswith("Rating: [["):
            text = f"{rating}]]"
        else:
            text = answer_text(rating, code, state.args.quote_after)
        self._send(200, completion_payload(body, chat, text, rating, prompt))

    def _fault(self, fault: str):
        if fault == "timeout":
            time.sleep(self.server.state.args.hang)
            return self._send(503, {"error": {"message": "too late"}})
        status = int(fault)
        headers = {"Retry-After": str(self.server.state.args.retry_after)} if status == 429 else {}
        return self._send(status, {"error": {"message": f"injected {status}"}}, headers)

    def _send(self, status: int, payload: dict, headers: dict | None = None):
        state: State = self.server.state
        with state.lock:
            state.by_status[str(status)] = state.by_status.get(str(status), 0) + 1
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


def completion_payload(body: dict, chat: bool, text: str, rating: int, prompt: str) -> dict:
    pieces = re.findall(r"\[\[|\]\]|\d|\s+|[^\s\[\]\d]+", text)
    tops = [logprob_entries(rating) if (("".join(pieces[:i]).endswith("[[") or (i == 0 and prompt.endswith("[[")))
                                        and p.isdigit()) else {p: -0.01} for i, p in enumerate(pieces)]
    usage = {"prompt_tokens": len(prompt) // 4, "completion_tokens": len(pieces),
             "total_tokens": len(prompt) // 4 + len(pieces)}
    if chat:
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        if body.get("logprobs"):
            choice["logprobs"] = {"content": [{"token": p, "logprob": t.get(p, -0.01),
                                               "top_logprobs": [{"token": k, "logprob": v} for k, v in t.items()]}
                                              for p, t in zip(pieces, tops)]}
        return {"id": "chatcmpl-proxy", "object": "chat.completion", "model": body.get("model"), "choices": [choice],
                "usage": usage}
    choice = {"index": 0, "text": text, "finish_reason": "stop"}
    if body.get("logprobs"):
        choice["logprobs"] = {"tokens": pieces, "token_logprobs": [t.get(p, -0.01) for p, t in zip(pieces, tops)],
                              "top_logprobs": tops}
    return {"id": "cmpl-proxy", "object": "text_completion", "model": body.get("model"), "choices": [choice],
            "usage": usage}


@contextlib.contextmanager
def serving(*args: str):
    """Start this server in a subprocess on a free port of 127.0.0.1 (``args``: more command-line options);
    yield its /v1 base URL; stop it on exit. RuntimeError with the server's stderr if it does not start."""
    proc = subprocess.Popen([sys.executable, "-m", __name__, "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the proxy server did not start: {line!r} {proc.stderr.read()[-2000:]}")
        yield f"http://127.0.0.1:{int(line.split()[1])}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--faults", default="", help="per prompt, the first attempts fail in this order: "
                                                     "HTTP status codes or `timeout`, comma-separated")
    parser.add_argument("--retry-after", type=float, default=0.05, help="Retry-After seconds sent with 429")
    parser.add_argument("--hang", type=float, default=3.0, help="seconds a `timeout` fault sleeps")
    parser.add_argument("--delay", type=float, default=0.0, help="latency added to every request")
    parser.add_argument("--garble", type=int, default=0, help="per prompt, the first N answers are refusals")
    parser.add_argument("--quote-after", action="store_true", help="quote the file's own `Rating` line after the "
                                                                   "rating (a model echoing an injection)")
    parser.add_argument("--model", action="append", default=[], help="model name listed by GET /v1/models "
                                                                      "(repeatable; default: proxy)")
    parser.add_argument("--api-key", default="", help="GET /v1/models answers 401 without this bearer key")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = State(args)
    print(f"PORT {server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
