"""Loopback servers that speak the real wire formats of OpenAI, Anthropic,
Gemini and local OpenAI-compatible servers (Ollama, llama.cpp, vLLM).

They are real HTTP servers on 127.0.0.1 (random port, one thread per
connection, keep-alive, chunked SSE), so the provider code under test runs its
real network path. Each server:

* answers deterministically: the answer text is `answer_for(last user text)`
  (or whatever `server.responder(question, request)` returns), token usage is
  a word count, so callers can check that answers map to questions;
* records every request (`server.requests`: method, path, query, lower-cased
  headers, JSON body) and lets tests wait for them without sleeping
  (`server.wait_for_requests(n)`);
* can be scripted: `server.enqueue(reply, ...)` queues replies (errors, drops,
  slow replies, refusals, malformed JSON...) that are used before normal ones;
* has a per-request latency (`latency=0.2` for benchmarks) and serves many
  concurrent requests (>= 64 at once).

Use as pytest fixtures (`openai_server`, `anthropic_server`, `gemini_server`,
`ollama_server`, `llamacpp_server`, `vllm_server`, and `provider_server`
parametrised over the four providers), as a context manager
(`with OpenAIServer(latency=0.2) as srv: ...`), or as a separate process:
`python -m tests.core.provider_servers openai --latency 0.2` prints the base
URL and serves until stdin closes.

Example:

    def test_retry(openai_server):
        openai_server.enqueue(openai_server.rate_limited(retry_after_ms=200))
        provider = make_provider(config_for(openai_server), openai_server.api_key)
        ...
        assert len(openai_server.requests) == 2
"""

from __future__ import annotations

import argparse
import email.utils
import hashlib
import itertools
import json
import re
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest

from healthqa.domain import ModelConfig

API_KEY = "sk-test-loopback-0123456789abcdef"
REASONING_TOKENS = 64  # reported when the request asked for reasoning
REFUSAL_TEXT = "I can't help with that."


def answer_for(question: str) -> str:
    """The answer every server gives to a conversation whose last user text is `question`."""
    digest = hashlib.sha256(question.encode()).hexdigest()[:12]
    return f"Answer {digest}: rest, drink fluids and see a clinician if it gets worse."


def count_tokens(text: str) -> int:
    """The servers' token count: words. Deterministic and easy to check."""
    return len(text.split())


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    json: Any  # parsed body, or None


@dataclass
class Reply:
    """A scripted reply. `body` is JSON-encoded unless bytes/str; `events`
    (raw SSE blocks) make it a chunked event stream; `drop` closes the
    connection without a reply (or, with events, in the middle of the stream)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False
    events: list[str] | None = None


# A queued entry is a Reply, or a function of the request returning one (so a
# script can vary with the request, e.g. "normal answer but slow").
Script = Reply | Callable[[Recorded], Reply]


# An SSE event carrying a non-empty piece of answer text, in any of the formats.
_TEXT_PIECE = re.compile(r'"(?:content|text)": "[^"]')


def sse(data: Any, event: str | None = None) -> str:
    payload = data if isinstance(data, str) else json.dumps(data)
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


def _pieces(text: str, n: int = 3) -> list[str]:
    """Split an answer into a few stream deltas that join back exactly."""
    words = text.split(" ")
    size = max(1, -(-len(words) // n))
    chunks = [" ".join(words[i:i + size]) for i in range(0, len(words), size)]
    return [c if i == len(chunks) - 1 else c + " " for i, c in enumerate(chunks)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real APIs
    disable_nagle_algorithm = True  # headers and body go out in separate writes; don't wait 40 ms between them
    server: "_HTTPServer"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self.server.owner._handle(self)

    do_POST = do_DELETE = do_GET

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, TimeoutError, OSError):
            pass  # the client went away (timeouts, dropped connections): normal in tests


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 512  # many concurrent connects must not overflow the backlog
    owner: "LoopbackServer"


class LoopbackServer:
    """Shared machinery; subclasses speak one provider's wire format."""

    kind: str  # ModelConfig.provider
    model = "loopback-model"
    models = ("loopback-model", "loopback-model-mini")
    base_path = ""  # added to the root URL to form the SDK-style base URL

    def __init__(self, *, latency: float = 0.0, api_key: str | None = API_KEY) -> None:
        self.latency = latency
        self.api_key = api_key  # None: accept any or no key
        # Parameters this server's model refuses whatever its name, the way the real API
        # refuses them for some families (e.g. {"temperature"}, {"MEDIUM"} thinking level),
        # so tests can show an unknown model being retried and remembered.
        self.refuses: set[str] = set()
        # Input tokens to report as read from (and, Anthropic, written to) the prompt cache.
        self.cached_tokens = 0
        self.cache_write_tokens = 0
        self.requests: list[Recorded] = []
        self.failures: list[Exception] = []  # exceptions raised while answering (tests may assert it is empty)
        self.responder: Callable[[str, Recorded], str] = lambda question, request: answer_for(question)
        self._script: deque[Script] = deque()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._http: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------

    def start(self) -> "LoopbackServer":
        self._http = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._http.owner = self
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.01},
                                        name=f"{self.kind}-loopback", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers waiting out a delay
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._thread.join(timeout=5)
            self._http = None

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._http is not None, "server not started"
        return self._http.server_address[1]

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What goes in ModelConfig.base_url (as the provider's SDK spells it)."""
        return self.root_url + self.base_path

    # ---- scripting and inspection ------------------------------------------------

    def enqueue(self, *replies: Script) -> None:
        """Replies to use, in order, before normal answers resume."""
        with self._lock:
            self._script.extend(replies)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[Recorded]:
        """Block until at least `n` requests have arrived; return them."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.requests) >= n, timeout):
                raise TimeoutError(f"{len(self.requests)} of {n} requests arrived within {timeout} s")
            return list(self.requests)

    @property
    def last(self) -> Recorded:
        return self.requests[-1]

    def drop(self) -> Reply:
        """Close the connection without answering."""
        return Reply(drop=True)

    def slow(self, seconds: float) -> Script:
        """The normal answer, after `seconds` (use to pass a client timeout)."""
        def render(request: Recorded) -> Reply:
            reply = self._normal(request)
            reply.delay = seconds
            return reply
        return render

    def malformed(self) -> Reply:
        return Reply(200, b'{"id": "broken", "choices": [', {"content-type": "application/json"})

    def mid_stream_drop(self, *, before_text: bool = False) -> Script:
        """A stream that loses its connection just after the first piece of
        answer text (or, with before_text, just before it)."""
        def render(request: Recorded) -> Reply:
            reply = self._normal(request)
            events = reply.events or []
            first = next(i for i, e in enumerate(events) if _TEXT_PIECE.search(e))
            reply.events, reply.drop = events[:first if before_text else first + 1], True
            return reply
        return render

    def server_error(self, status: int = 500, **headers: str) -> Reply:
        raise NotImplementedError

    def rate_limited(self, *, retry_after: float | None = None, retry_after_ms: int | None = None,
                     http_date_in: float | None = None) -> Reply:
        """A 429 with the given wait hint headers (none: the client must back off)."""
        raise NotImplementedError

    @staticmethod
    def wait_headers(retry_after: float | None, retry_after_ms: int | None,
                     http_date_in: float | None) -> dict[str, str]:
        headers = {}
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        if retry_after_ms is not None:
            headers["retry-after-ms"] = str(retry_after_ms)
        if http_date_in is not None:
            headers["retry-after"] = email.utils.formatdate(time.time() + http_date_in, usegmt=True)
        return headers

    # ---- request handling ------------------------------------------------------

    def _handle(self, h: _Handler) -> None:
        url = urlsplit(h.path)
        length = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = Recorded(h.command, url.path, dict(parse_qsl(url.query)),
                           {k.lower(): v for k, v in h.headers.items()}, body)
        with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()
        try:
            reply = self._auth_error(request)
            if reply is None:
                with self._lock:
                    script = self._script.popleft() if self._script else None
                if script is not None:
                    reply = script(request) if callable(script) else script
                else:
                    reply = self._route(request)
        except Exception as exc:  # a bug in the mock (or a body it cannot read): say so loudly
            self.failures.append(exc)
            reply = Reply(500, {"error": {"message": f"loopback server failure: {exc!r}", "type": "mock_error"}})
        self._send(h, reply)

    def _send(self, h: _Handler, reply: Reply) -> None:
        wait = self.latency + reply.delay
        if wait and self._stopping.wait(wait):
            h.close_connection = True
            return
        if reply.drop and reply.events is None:
            self._kill(h)
            return
        h.send_response(reply.status)
        for name, value in self._common_headers().items():
            h.send_header(name, value)
        for name, value in reply.headers.items():
            h.send_header(name, value)
        if reply.events is not None:
            h.send_header("content-type", "text/event-stream")
            h.send_header("transfer-encoding", "chunked")
            h.end_headers()
            for event in reply.events:
                data = event.encode()
                h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                h.wfile.flush()
            if reply.drop:
                self._kill(h)
                return
            h.wfile.write(b"0\r\n\r\n")
            return
        if isinstance(reply.body, bytes):
            data = reply.body
        elif isinstance(reply.body, str):
            data = reply.body.encode()
        else:
            data = json.dumps(reply.body).encode()
        if not any(k.lower() == "content-type" for k in reply.headers):
            h.send_header("content-type", "application/json")
        h.send_header("content-length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    @staticmethod
    def _kill(h: _Handler) -> None:
        h.close_connection = True
        h.wfile.flush()
        try:
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _common_headers(self) -> dict[str, str]:
        return {}

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    # ---- what subclasses provide -----------------------------------------------

    def _auth_error(self, request: Recorded) -> Reply | None:
        raise NotImplementedError

    def _route(self, request: Recorded) -> Reply:
        raise NotImplementedError

    def _normal(self, request: Recorded) -> Reply:
        """The normal success reply to a generation request (stream or not)."""
        raise NotImplementedError


# ============================================================================ OpenAI


def _openai_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(p.get("text", "") for p in content or () if p.get("type") == "text")


class OpenAIServer(LoopbackServer):
    """POST /v1/chat/completions, GET /v1/models, OpenAI errors and SSE."""

    kind = "openai"
    model = "gpt-loopback"
    models = ("gpt-loopback", "gpt-loopback-mini")
    base_path = "/v1"
    owned_by = "openai"
    # Reasoning models refuse max_tokens and a non-default temperature (spec 2.2).
    strict_reasoning = True

    def __init__(self, *, latency: float = 0.0, api_key: str | None = API_KEY) -> None:
        super().__init__(latency=latency, api_key=api_key)
        self.refuse_next_with: str | None = None

    # error bodies ------------------------------------------------------------
    def error(self, status: int, message: str, type_: str, code: str | None = None,
              headers: dict[str, str] | None = None) -> Reply:
        body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
        return Reply(status, body, headers or {})

    def server_error(self, status: int = 500, **headers: str) -> Reply:
        return self.error(status, "The server had an error while processing your request.", "server_error",
                          headers=headers)

    def rate_limited(self, *, retry_after=None, retry_after_ms=None, http_date_in=None) -> Reply:
        headers = self.wait_headers(retry_after, retry_after_ms, http_date_in)
        headers.update({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s"})
        return self.error(429, f"Rate limit reached for {self.model} on requests per min (RPM): Limit 3, "
                          "Used 3, Requested 1. Please try again in 20s.", "requests", "rate_limit_exceeded", headers)

    def insufficient_quota(self) -> Reply:
        return self.error(429, "You exceeded your current quota, please check your plan and billing details.",
                          "insufficient_quota", "insufficient_quota")

    def unauthorized(self, key: str = "") -> Reply:
        masked = f"{key[:3]}*****{key[-4:]}" if key else ""
        return self.error(401, f"Incorrect API key provided: {masked}. You can find your API key at "
                          "https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key")

    def bad_request(self, message: str, param: str | None = None, code: str = "unsupported_parameter") -> Reply:
        reply = self.error(400, message, "invalid_request_error", code)
        if isinstance(reply.body.get("error"), dict) and "param" in reply.body["error"]:
            reply.body["error"]["param"] = param
        return reply

    def unsupported_parameter(self, param: str) -> Reply:
        """The real API's refusal of a parameter the model does not take."""
        return self.bad_request(f"Unsupported parameter: '{param}' is not supported with this model.", param)

    def not_found(self, what: str) -> Reply:
        return self.error(404, f"The model `{what}` does not exist or you do not have access to it.",
                          "invalid_request_error", "model_not_found")

    def refusal(self) -> Script:
        return lambda request: self._normal(request, refusal=True)

    def content_filter(self) -> Script:
        return lambda request: self._normal(request, finish="content_filter", text="")

    def stream_error(self) -> Script:
        """A 200 stream that fails after its first piece with an error data line."""
        def render(request: Recorded) -> Reply:
            reply = self._normal(request)
            err = {"error": {"message": "The server had an error while processing your request.",
                             "type": "server_error", "param": None, "code": None}}
            reply.events = reply.events[:2] + [sse(err)]
            return reply
        return render

    # protocol ----------------------------------------------------------------
    def _common_headers(self) -> dict[str, str]:
        return {"x-request-id": self._next_id("req_"), "openai-processing-ms": "5",
                "x-ratelimit-limit-requests": "10000", "x-ratelimit-remaining-requests": "9999",
                "x-ratelimit-reset-requests": "6ms"}

    def _auth_error(self, request: Recorded) -> Reply | None:
        if self.api_key is None:
            return None
        given = request.headers.get("authorization", "")
        if given != f"Bearer {self.api_key}":
            return self.unauthorized(given.removeprefix("Bearer "))
        return None

    def _route(self, request: Recorded) -> Reply:
        if request.method == "GET" and request.path == "/v1/models":
            return Reply(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 1700000000, "owned_by": self.owned_by} for m in self.models]})
        if request.method == "POST" and request.path == "/v1/chat/completions":
            return self._validate(request.json) or self._normal(request)
        return self.error(404, f"Invalid URL ({request.method} {request.path})", "invalid_request_error")

    def _validate(self, body: Any) -> Reply | None:
        if not isinstance(body, dict) or "model" not in body or not body.get("messages"):
            return self.bad_request("you must provide a model parameter and messages", "messages")
        for m in body["messages"]:
            if m.get("role") not in ("system", "developer", "user", "assistant", "tool"):
                return self.bad_request(f"Invalid value: '{m.get('role')}'.", "messages.role")
        for param in ("temperature", "reasoning_effort"):
            if param in self.refuses and param in body:
                return self.unsupported_parameter(param)
        model = str(body["model"])
        reasoning = body.get("reasoning_effort") not in (None, "none")
        # Families, as the real API treats them: o-series and GPT-5 take only the default
        # temperature (GPT-5.1+ only while reasoning); GPT-4 models have no reasoning_effort.
        only_default_temperature = re.match(r"o\d|gpt-5(?!\.)", model) or (re.match(r"gpt-5\.", model) and reasoning)
        if only_default_temperature and body.get("temperature") not in (None, 1):
            return self.bad_request(f"Unsupported value: 'temperature' does not support {body['temperature']} with "
                                    "this model. Only the default (1) value is supported.", "temperature",
                                    "unsupported_value")
        if re.match(r"gpt-4|gpt-3\.5", model) and "reasoning_effort" in body:
            return self.unsupported_parameter("reasoning_effort")
        if self.strict_reasoning and body.get("reasoning_effort"):
            if "max_tokens" in body:
                return self.bad_request("Unsupported parameter: 'max_tokens' is not supported with this model. "
                                        "Use 'max_completion_tokens' instead.", "max_tokens")
            if body.get("temperature") not in (None, 1):
                return self.bad_request("Unsupported value: 'temperature' does not support "
                                        f"{body['temperature']} with this model.", "temperature", "unsupported_value")
        return None

    def _cap(self, body: dict) -> int | None:
        return body.get("max_completion_tokens") or body.get("max_tokens")

    def _reasoning_asked(self, body: dict) -> bool:
        return body.get("reasoning_effort") not in (None, "none")

    def _question(self, body: dict) -> str:
        users = [m for m in body["messages"] if m.get("role") == "user"]
        return _openai_text(users[-1]["content"]) if users else ""

    def _input_tokens(self, body: dict) -> int:
        return sum(count_tokens(_openai_text(m.get("content"))) for m in body["messages"])

    def _compose(self, request: Recorded, text: str | None, finish: str | None) -> tuple[str, str, int, int]:
        """(text, finish_reason, visible output tokens, reasoning tokens), honouring the token cap."""
        body = request.json
        if text is None:
            text = self.responder(self._question(body), request)
        reasoning = REASONING_TOKENS if self._reasoning_asked(body) else 0
        cap = self._cap(body)
        words = text.split(" ")
        if cap is not None and count_tokens(text) > cap:
            text, finish = " ".join(words[:cap]), "length"
        return text, finish or "stop", count_tokens(text), reasoning

    def _usage(self, body: dict, out: int, reasoning: int) -> dict:
        usage = {"prompt_tokens": self._input_tokens(body), "completion_tokens": out + reasoning,
                 "total_tokens": self._input_tokens(body) + out + reasoning}
        # prompt_tokens includes the cached ones.
        usage["prompt_tokens_details"] = {"cached_tokens": min(self.cached_tokens, usage["prompt_tokens"]),
                                          "audio_tokens": 0}
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
        return usage

    def _normal(self, request: Recorded, *, refusal: bool = False, finish: str | None = None,
                text: str | None = None) -> Reply:
        body = request.json
        text, finish, out, reasoning = self._compose(request, text, finish)
        rid, model = self._next_id("chatcmpl-"), self._served_model(body["model"])
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
        if refusal:
            message.update(content=None, refusal=REFUSAL_TEXT)
        usage = self._usage(body, out, reasoning)
        if not body.get("stream"):
            return Reply(200, {"id": rid, "object": "chat.completion", "created": 1760000000, "model": model,
                               "system_fingerprint": "fp_loopback", "choices": [
                                   {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                               "usage": usage})
        head = {"id": rid, "object": "chat.completion.chunk", "created": 1760000000, "model": model,
                "system_fingerprint": "fp_loopback"}

        def chunk(delta: dict, finish_reason: str | None = None) -> str:
            return sse({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
                        "usage": None})

        events = [chunk({"role": "assistant", "content": ""})]
        events += self._reasoning_chunks(chunk, reasoning)
        if refusal:
            events.append(chunk({"refusal": REFUSAL_TEXT}))
        else:
            events += [chunk({"content": piece}) for piece in _pieces(text) if piece]
        events.append(chunk({}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(sse({**head, "choices": [], "usage": usage}))
        events.append(sse("[DONE]"))
        return Reply(200, events=events)

    def _reasoning_chunks(self, chunk: Callable[..., str], reasoning: int) -> list[str]:
        return []  # OpenAI does not stream reasoning text on Chat Completions

    def _served_model(self, requested: str) -> str:
        return f"{requested}-2026-01-01"  # OpenAI answers with the dated snapshot


class OpenAICompatServer(OpenAIServer):
    """A local OpenAI-compatible server. `flavor` picks Ollama, llama.cpp or
    vLLM details: which token cap is read, where reasoning text goes, error shape."""

    kind = "openai-compatible"
    model = "llama3.2:latest"
    models = ("llama3.2:latest", "qwen3:8b")
    strict_reasoning = False
    REASONING_FIELD = {"ollama": "reasoning", "llamacpp": "reasoning_content", "vllm": "reasoning"}

    def __init__(self, *, flavor: str = "ollama", latency: float = 0.0, api_key: str | None = None) -> None:
        super().__init__(latency=latency, api_key=api_key)
        if flavor not in self.REASONING_FIELD:
            raise ValueError(f"unknown flavor {flavor!r}")
        self.flavor = flavor
        self.owned_by = {"ollama": "library", "llamacpp": "llamacpp", "vllm": "vllm"}[flavor]

    def error(self, status: int, message: str, type_: str, code: str | None = None,
              headers: dict[str, str] | None = None) -> Reply:
        if self.flavor == "ollama":
            type_ = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
            return Reply(status, {"error": {"message": message, "type": type_, "param": None, "code": None}},
                         headers or {})
        if self.flavor == "llamacpp":
            return Reply(status, {"error": {"code": status, "message": message, "type": type_}}, headers or {})
        return Reply(status, {"error": {"message": message, "type": type_, "param": None, "code": status}},
                     headers or {})

    def busy(self) -> Reply:
        """Ollama's reply when its queue is full."""
        return self.error(503, "server busy, please try again.  maximum pending requests exceeded", "api_error")

    def _common_headers(self) -> dict[str, str]:
        return {}

    def _served_model(self, requested: str) -> str:
        return requested

    def _cap(self, body: dict) -> int | None:
        if self.flavor == "ollama":  # Ollama reads only max_tokens (spec 5.1)
            return body.get("max_tokens")
        return body.get("max_completion_tokens") or body.get("max_tokens")

    def _usage(self, body: dict, out: int, reasoning: int) -> dict:
        inputs = self._input_tokens(body)
        return {"prompt_tokens": inputs, "completion_tokens": out + reasoning,
                "total_tokens": inputs + out + reasoning}

    def _normal(self, request: Recorded, **kwargs: Any) -> Reply:
        reply = super()._normal(request, **kwargs)
        if isinstance(reply.body, dict) and self._reasoning_asked(request.json):
            # Reasoning text comes back beside the answer, never inside it.
            reply.body["choices"][0]["message"][self.REASONING_FIELD[self.flavor]] = "Thinking it over."
        return reply

    def _reasoning_chunks(self, chunk: Callable[..., str], reasoning: int) -> list[str]:
        return [chunk({self.REASONING_FIELD[self.flavor]: "Thinking it over."})] if reasoning else []


# ========================================================================= Anthropic


def _anthropic_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(b.get("text", "") for b in content or () if b.get("type") == "text")


def _claude_version(model: str) -> tuple[str, int, int]:
    """(family, major, minor) of a 'claude-<family>-<major>[-<minor>]' or 'claude-<major>-<minor>-<family>'
    id; ("", 0, 0) for other names (which the server treats leniently)."""
    match = re.search(r"claude-(opus|sonnet|haiku|fable|mythos)-(\d+)(?:-(\d{1,2})(?!\d))?", model)
    if match:
        return match.group(1), int(match.group(2)), int(match.group(3) or 0)
    match = re.search(r"claude-(\d)(?:-(\d))?-(opus|sonnet|haiku)", model)
    if match:
        return match.group(3), int(match.group(1)), int(match.group(2) or 0)
    return "", 0, 0


def _claude_refuses(model: str) -> set[str]:
    """What the real API refuses per family (Anthropic's migration guides, Dec 2026):
    budget_tokens from Opus 4.7, any 4.7+ and Claude 5 (Fable/Mythos: also thinking
    disabled); temperature from Opus 4.7 and Claude 5; adaptive before 4.6."""
    family, major, minor = _claude_version(model)
    if not family:
        return set()
    version = (major, minor)
    refused = set()
    if version >= (4, 7) or family in ("fable", "mythos"):
        refused.add("thinking.enabled")
    if family in ("fable", "mythos"):
        refused.add("thinking.disabled")
    if version >= (5, 0) or (family == "opus" and version >= (4, 7)) or family in ("fable", "mythos"):
        refused.add("temperature")
    if version < (4, 6) or (version < (4, 7) and family == "haiku"):
        refused.add("thinking.adaptive")
    return refused


class AnthropicServer(LoopbackServer):
    """POST /v1/messages, GET /v1/models, Anthropic errors and named SSE events."""

    kind = "anthropic"
    model = "claude-loopback"
    models = ("claude-loopback", "claude-loopback-haiku", "claude-loopback-opus")
    page_size = 2  # models are paged so clients must follow has_more

    def error(self, status: int, type_: str, message: str, headers: dict[str, str] | None = None,
              **extra: Any) -> Reply:
        error: dict[str, Any] = {"type": type_, "message": message, **extra}
        return Reply(status, {"type": "error", "error": error, "request_id": self._next_id("req_")}, headers or {})

    def server_error(self, status: int = 500, **headers: str) -> Reply:
        return self.error(status, "api_error", "Internal server error", headers)

    def overloaded(self, **headers: str) -> Reply:
        return self.error(529, "overloaded_error", "Overloaded", headers)

    def rate_limited(self, *, retry_after=None, retry_after_ms=None, http_date_in=None) -> Reply:
        headers = self.wait_headers(retry_after, retry_after_ms, http_date_in)
        return self.error(429, "rate_limit_error", "This request would exceed the rate limit for your "
                          "organization of 50 requests per minute.", headers)

    def spend_limit(self) -> Reply:
        """The monthly spend cap: a 429 that retrying cannot fix (no retry-after)."""
        return self.error(429, "rate_limit_error", "You have reached your specified API usage limits.",
                          details={"error_code": "enforced_spend_limit_reached"})

    def refusal(self) -> Script:
        return lambda request: self._normal(request, stop_reason="refusal", text="")

    def stream_error(self) -> Script:
        """A 200 stream that fails with `event: error` overloaded_error after some text."""
        def render(request: Recorded) -> Reply:
            reply = self._normal(request)
            text_at = next(i for i, e in enumerate(reply.events) if "text_delta" in e)
            reply.events = reply.events[:text_at + 1] + [sse(
                {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "error")]
            return reply
        return render

    def _common_headers(self) -> dict[str, str]:
        return {"request-id": self._next_id("req_"), "anthropic-ratelimit-requests-limit": "50",
                "anthropic-ratelimit-requests-remaining": "49",
                "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:00Z"}

    def _auth_error(self, request: Recorded) -> Reply | None:
        if "anthropic-version" not in request.headers:
            return self.error(400, "invalid_request_error", "anthropic-version: header is required")
        if self.api_key is not None and request.headers.get("x-api-key") != self.api_key:
            return self.error(401, "authentication_error", "invalid x-api-key")
        return None

    def _route(self, request: Recorded) -> Reply:
        if request.method == "GET" and request.path == "/v1/models":
            after = request.query.get("after_id")
            start = self.models.index(after) + 1 if after in self.models else 0
            limit = min(int(request.query.get("limit", 20)), self.page_size)
            page = self.models[start:start + limit]
            return Reply(200, {"data": [{"type": "model", "id": m, "display_name": m.title(),
                                         "created_at": "2025-01-01T00:00:00Z"} for m in page],
                               "has_more": start + limit < len(self.models),
                               "first_id": page[0] if page else None, "last_id": page[-1] if page else None})
        if request.method == "POST" and request.path == "/v1/messages":
            return self._validate(request.json) or self._normal(request)
        return self.error(404, "not_found_error", f"Not found: {request.path}")

    def _validate(self, body: Any) -> Reply | None:
        def bad(message: str) -> Reply:
            return self.error(400, "invalid_request_error", message)
        if not isinstance(body, dict) or "model" not in body or "messages" not in body:
            return bad("model: Field required")
        if "max_tokens" not in body:
            return bad("max_tokens: Field required")
        for m in body["messages"]:
            if m.get("role") not in ("user", "assistant"):
                return bad(f"messages: Unexpected role \"{m.get('role')}\". The Messages API accepts a top-level "
                           "`system` parameter, not \"system\" as an input message role.")
        thinking = body.get("thinking") or {}
        refused = _claude_refuses(body["model"]) | self.refuses
        if "temperature" in body and "temperature" in refused:
            return bad("`temperature` is deprecated for this model.")
        if thinking.get("type") == "enabled" and "thinking.enabled" in refused:
            return bad('"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" '
                       'and "output_config.effort" to control thinking behavior.')
        if thinking.get("type") == "disabled" and "thinking.disabled" in refused:
            return bad('"thinking.type.disabled" is not supported for this model. Thinking is always on.')
        if thinking.get("type") == "adaptive" and "thinking.adaptive" in refused:
            return bad("adaptive thinking is not supported on this model")
        if thinking.get("type") == "adaptive" and (body.get("output_config") or {}).get("effort") not in (
                None, "low", "medium", "high", "xhigh", "max"):
            return bad("output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'")
        if thinking.get("type") == "enabled":
            budget = thinking.get("budget_tokens", 0)
            if budget < 1024:
                return bad("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
            if budget >= body["max_tokens"]:
                return bad("`max_tokens` must be greater than `thinking.budget_tokens`.")
            if body.get("temperature") not in (None, 1):
                return bad("`temperature` may only be set to 1 when thinking is enabled.")
        return None

    def _normal(self, request: Recorded, *, stop_reason: str = "end_turn", text: str | None = None) -> Reply:
        body = request.json
        users = [m for m in body["messages"] if m["role"] == "user"]
        if text is None:
            text = self.responder(_anthropic_text(users[-1]["content"]) if users else "", request)
        if count_tokens(text) > body["max_tokens"]:
            text, stop_reason = " ".join(text.split(" ")[:body["max_tokens"]]), "max_tokens"
        thinking = (body.get("thinking") or {}).get("type") in ("enabled", "adaptive")
        system = body.get("system") or ""
        inputs = count_tokens(system if isinstance(system, str) else _anthropic_text(system))
        inputs += sum(count_tokens(_anthropic_text(m["content"])) for m in body["messages"])
        out = count_tokens(text) + (REASONING_TOKENS if thinking else 0)
        # input_tokens counts only what was neither read from nor written to the cache.
        read = min(self.cached_tokens, inputs)
        write = min(self.cache_write_tokens, inputs - read)
        usage: dict[str, Any] = {"input_tokens": inputs - read - write, "output_tokens": out,
                                 "cache_creation_input_tokens": write, "cache_read_input_tokens": read,
                                 "service_tier": "standard"}
        if thinking:  # the newest API's optional breakdown
            usage["output_tokens_details"] = {"thinking_tokens": REASONING_TOKENS}
        mid = self._next_id("msg_")
        content: list[dict] = []
        if thinking:
            content.append({"type": "thinking", "thinking": "Let me think.", "signature": "sig"})
        if text:
            content.append({"type": "text", "text": text})
        message = {"id": mid, "type": "message", "role": "assistant", "model": body["model"], "content": content,
                   "stop_reason": stop_reason, "stop_sequence": None, "usage": usage}
        if not body.get("stream"):
            return Reply(200, message)
        start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
        events = [sse({"type": "message_start", "message": start}, "message_start")]
        index = 0
        if thinking:
            events += [
                sse({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
                    "content_block_start"),
                sse({"type": "content_block_delta", "index": 0,
                     "delta": {"type": "thinking_delta", "thinking": "Let me think."}}, "content_block_delta"),
                sse({"type": "content_block_delta", "index": 0,
                     "delta": {"type": "signature_delta", "signature": "sig"}}, "content_block_delta"),
                sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            ]
            index = 1
        events.append(sse({"type": "ping"}, "ping"))
        if text:
            events.append(sse({"type": "content_block_start", "index": index,
                               "content_block": {"type": "text", "text": ""}}, "content_block_start"))
            events += [sse({"type": "content_block_delta", "index": index,
                            "delta": {"type": "text_delta", "text": piece}}, "content_block_delta")
                       for piece in _pieces(text)]
            events.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
        final_usage = {k: v for k, v in usage.items() if k in ("output_tokens", "output_tokens_details")}
        events.append(sse({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                           "usage": final_usage}, "message_delta"))
        events.append(sse({"type": "message_stop"}, "message_stop"))
        return Reply(200, events=events)


# ============================================================================ Gemini


def _gemini_get(obj: dict, camel: str, snake: str) -> Any:
    """The server accepts both proto-JSON spellings (spec 4.2)."""
    return obj.get(camel, obj.get(snake))


def _gemini_text(content: dict) -> str:
    return "\n".join(p["text"] for p in content.get("parts") or () if "text" in p)


class GeminiServer(LoopbackServer):
    """POST /v1beta/models/{m}:generateContent and :streamGenerateContent?alt=sse,
    GET /v1beta/models, Google RPC errors (bad key is a 400, waits in RetryInfo)."""

    kind = "gemini"
    model = "gemini-loopback"
    models = ("gemini-loopback", "gemini-loopback-lite", "embedding-loopback")
    page_size = 2

    def error(self, status: int, grpc_status: str, message: str, details: list | None = None,
              headers: dict[str, str] | None = None) -> Reply:
        return Reply(status, {"error": {"code": status, "message": message, "status": grpc_status,
                                        "details": details or []}}, headers or {})

    def server_error(self, status: int = 500, **headers: str) -> Reply:
        grpc = {500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}.get(status, "UNKNOWN")
        return self.error(status, grpc, "An internal error has occurred.", headers=headers)

    def unavailable(self) -> Reply:
        return self.error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")

    def resource_exhausted(self, retry_delay: str | None = "37s", *, per_day: bool = False) -> Reply:
        quota = "GenerateRequestsPerDayPerProjectPerModel" if per_day else "GenerateRequestsPerMinutePerProjectPerModel"
        details: list[dict] = [{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                                "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_requests",
                                                "quotaId": quota}]}]
        if retry_delay is not None:
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
        details.append({"@type": "type.googleapis.com/google.rpc.Help",
                        "links": [{"description": "Learn more", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]})
        return self.error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and "
                          "billing details.", details)

    def rate_limited(self, *, retry_after=None, retry_after_ms=None, http_date_in=None) -> Reply:
        reply = self.resource_exhausted(None)
        reply.headers.update(self.wait_headers(retry_after, retry_after_ms, http_date_in))
        return reply

    def safety_block(self) -> Reply:
        """The prompt was blocked: HTTP 200, no candidates, promptFeedback.blockReason."""
        return Reply(200, {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]},
            "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}, "modelVersion": self.model,
            "responseId": self._next_id("resp")})

    def safety_finish(self) -> Script:
        """A candidate stopped by the safety filter (finishReason SAFETY, no text)."""
        return lambda request: self._normal(request, finish="SAFETY", text="")

    def stream_error(self) -> Script:
        def render(request: Recorded) -> Reply:
            reply = self._normal(request)
            err = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
            reply.events = reply.events[:1] + [sse(err)]
            return reply
        return render

    def _auth_error(self, request: Recorded) -> Reply | None:
        if self.api_key is None:
            return None
        given = request.headers.get("x-goog-api-key") or request.query.get("key")
        if given != self.api_key:
            return self.error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                 "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}])
        return None

    def _route(self, request: Recorded) -> Reply:
        path = request.path
        if request.method == "GET" and path == "/v1beta/models":
            start = int(request.query.get("pageToken") or 0)
            size = min(int(request.query.get("pageSize", 50)), self.page_size)
            page = self.models[start:start + size]
            body: dict[str, Any] = {"models": [{
                "name": f"models/{m}", "version": "001", "displayName": m, "inputTokenLimit": 1048576,
                "outputTokenLimit": 65536, "thinking": True,
                "supportedGenerationMethods": ["embedContent"] if m.startswith("embedding")
                else ["generateContent", "countTokens"]} for m in page]}
            if start + size < len(self.models):
                body["nextPageToken"] = str(start + size)
            return Reply(200, body)
        if request.method == "POST" and path.startswith("/v1beta/models/") and ":" in path:
            model, _, method = path.removeprefix("/v1beta/models/").partition(":")
            if method == "generateContent" or (method == "streamGenerateContent" and request.query.get("alt") == "sse"):
                return self._validate(request.json, model) or self._normal(request)
        return self.error(404, "NOT_FOUND", f"Requested entity was not found: {path}")

    def _validate(self, body: Any, model: str = "") -> Reply | None:
        def bad(message: str) -> Reply:
            return self.error(400, "INVALID_ARGUMENT", message)
        if not isinstance(body, dict) or not body.get("contents"):
            return bad("* GenerateContentRequest.contents: contents is not specified")
        for c in body["contents"]:
            if c.get("role", "user") not in ("user", "model"):
                return bad(f"Please use a valid role: user, model. Got {c.get('role')!r}.")
        config = _gemini_get(body, "generationConfig", "generation_config") or {}
        thinking = _gemini_get(config, "thinkingConfig", "thinking_config") or {}
        if "thinkingBudget" in thinking and "thinkingLevel" in thinking:
            return bad("thinking_budget and thinking_level cannot be set at the same time.")
        if thinking.get("thinkingLevel") not in (None, "MINIMAL", "LOW", "MEDIUM", "HIGH"):
            return bad(f"Invalid value at 'generation_config.thinking_config.thinking_level' "
                       f"({thinking['thinkingLevel']!r})")
        if "temperature" in config and "temperature" in self.refuses:
            return bad("temperature is not supported for this model.")
        level = thinking.get("thinkingLevel")
        version = re.search(r"gemini-(\d+)(?:\.(\d+))?", model)
        major_minor = (int(version.group(1)), int(version.group(2) or 0)) if version else None
        # Gemini 3 Pro takes LOW and HIGH only (MEDIUM came with 3.1 Pro); Flash all four.
        pro_3_0 = major_minor == (3, 0) and "-pro" in model
        if level and (level in self.refuses or (pro_3_0 and level in ("MINIMAL", "MEDIUM"))):
            return bad(f"Thinking level {level} is not supported for this model. "
                       "Please retry with other thinking level.")
        if level and major_minor is not None and major_minor < (3, 0):
            return bad("Thinking level is not supported for this model.")
        if "thinkingBudget" in thinking and major_minor is not None and major_minor < (2, 5):
            return bad("Thinking is not supported for this model.")
        return None

    def _normal(self, request: Recorded, *, finish: str = "STOP", text: str | None = None) -> Reply:
        body = request.json
        users = [c for c in body["contents"] if c.get("role", "user") == "user"]
        if text is None:
            text = self.responder(_gemini_text(users[-1]) if users else "", request)
        config = _gemini_get(body, "generationConfig", "generation_config") or {}
        cap = _gemini_get(config, "maxOutputTokens", "max_output_tokens")
        thinking = _gemini_get(config, "thinkingConfig", "thinking_config") or {}
        budget = thinking.get("thinkingBudget", thinking.get("thinking_budget", 0))
        thoughts = REASONING_TOKENS if budget else 0
        if cap is not None and budget and budget >= cap:
            # Thoughts count in maxOutputTokens: a budget as large as the cap thinks it all away.
            text, finish, thoughts = "", "MAX_TOKENS", cap
        if cap is not None and count_tokens(text) > cap:
            text, finish = " ".join(text.split(" ")[:cap]), "MAX_TOKENS"
        system = _gemini_get(body, "systemInstruction", "system_instruction")
        inputs = sum(count_tokens(_gemini_text(c)) for c in body["contents"])
        inputs += count_tokens(_gemini_text(system)) if system else 0
        usage = {"promptTokenCount": inputs, "candidatesTokenCount": count_tokens(text),
                 "totalTokenCount": inputs + count_tokens(text) + thoughts}
        if self.cached_tokens:  # part of promptTokenCount
            usage["cachedContentTokenCount"] = min(self.cached_tokens, inputs)
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        rid = self._next_id("resp")
        parts: list[dict] = []
        if thoughts and thinking.get("includeThoughts"):
            parts.append({"text": "Thinking it over.", "thought": True})
        if text:
            parts.append({"text": text})
        ratings = [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT",
                    "probability": "HIGH" if finish == "SAFETY" else "NEGLIGIBLE"}]
        if request.query.get("alt") != "sse":
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "finishReason": finish,
                                         "index": 0, "safetyRatings": ratings}
            if not parts:  # a blocked or cut-off candidate has no parts
                candidate["content"] = {"role": "model"}
            return Reply(200, {"candidates": [candidate], "usageMetadata": usage,
                               "modelVersion": f"{body.get('model', self.model)}-001", "responseId": rid})
        pieces = _pieces(text) if text else [""]
        events = []
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            candidate = {"content": {"role": "model", "parts": [{"text": piece}] if piece else []}, "index": 0}
            if last:
                candidate.update(finishReason=finish, safetyRatings=ratings)
            chunk_usage = usage if last else {"promptTokenCount": inputs, "totalTokenCount": inputs}
            events.append(sse({"candidates": [candidate], "usageMetadata": chunk_usage,
                               "modelVersion": f"{self.model}-001", "responseId": rid}))
        return Reply(200, events=events)


# ==================================================================== helpers, fixtures

SERVERS: dict[str, type[LoopbackServer]] = {
    "openai": OpenAIServer, "anthropic": AnthropicServer, "gemini": GeminiServer,
    "openai-compatible": OpenAICompatServer,
}


def config_for(server: LoopbackServer, **overrides: Any) -> ModelConfig:
    """A ModelConfig that points at `server` (pass the key as `server.api_key`)."""
    fields: dict[str, Any] = {"name": f"{server.kind}-loopback", "provider": server.kind,
                              "model": server.model, "base_url": server.base_url}
    fields.update(overrides)
    return ModelConfig(**fields)


def _serve(server: LoopbackServer) -> Iterator[LoopbackServer]:
    with server:
        yield server


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    yield from _serve(OpenAIServer())


@pytest.fixture
def anthropic_server() -> Iterator[AnthropicServer]:
    yield from _serve(AnthropicServer())


@pytest.fixture
def gemini_server() -> Iterator[GeminiServer]:
    yield from _serve(GeminiServer())


@pytest.fixture
def ollama_server() -> Iterator[OpenAICompatServer]:
    yield from _serve(OpenAICompatServer(flavor="ollama"))


@pytest.fixture
def llamacpp_server() -> Iterator[OpenAICompatServer]:
    yield from _serve(OpenAICompatServer(flavor="llamacpp"))


@pytest.fixture
def vllm_server() -> Iterator[OpenAICompatServer]:
    yield from _serve(OpenAICompatServer(flavor="vllm"))


@pytest.fixture(params=list(SERVERS))
def provider_server(request: pytest.FixtureRequest) -> Iterator[LoopbackServer]:
    """Each of the four providers' servers in turn (compat = Ollama flavour)."""
    yield from _serve(SERVERS[request.param]())


def main(argv: list[str] | None = None) -> None:
    """Serve in a separate process (benchmarks): prints the base URL, stops when stdin closes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=list(SERVERS))
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--flavor", default="ollama", help="for openai-compatible: ollama, llamacpp, vllm")
    args = parser.parse_args(argv)
    extra = {"flavor": args.flavor} if args.kind == "openai-compatible" else {}
    with SERVERS[args.kind](latency=args.latency, **extra) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
