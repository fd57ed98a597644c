"""Loopback servers for the three batch APIs (docs/batch-apis.md), built on
the interactive servers of provider_servers.py: same auth checks, error
bodies and per-request answers (a batch result body is the interactive
server's normal reply to the same request).

Each batch walks a plan of states, one step per poll of the batch:
validating → in_progress → finalizing → completed by default (`instant=True`:
completed at once). Scripting:

* `server.plans.append([...])`: the next created batch follows this plan
  instead, ending in completed / expired / failed (`fail_errors` say why);
  a cancel call moves a live batch to cancelling, then cancelled.
* `server.finish_fraction`: share of requests that finished when a batch
  expires or is cancelled (the rest come back expired / cancelled).
* `server.request_error = fn(custom_id) -> message | None`: that request errors.
* `server.extra_lines`: raw result lines added to the next results (e.g. an
  unknown custom_id).
* `server.cut_downloads = n`: the next n downloads lose their connection half-way.
* `server.results_gone = n`: the next n result downloads answer 404 (results no longer kept).
* `server.reject_create = Reply`: the next create call is refused with it.
* `server.lose_create_reply = True`: the next create call makes its batch but the
  reply is lost (the connection drops).
* `server.max_request_bytes`: a larger upload / create body is refused as too large.

Results always come back in a shuffled order. Counters: `uploads` (input
files or create bodies received), `creates`, `polls`, `downloads`,
`cancels`; `submitted_ids` lists every custom_id ever submitted.
"""

from __future__ import annotations

import datetime as _dt
import json
import random
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest

from .provider_servers import (AnthropicServer, GeminiServer, OpenAIServer, Recorded, Reply, _Handler,
                               LoopbackServer)

TERMINAL = ("completed", "expired", "failed", "cancelled")
DEFAULT_PLAN = ["validating", "in_progress", "finalizing", "completed"]


@dataclass
class CutReply(Reply):
    """A reply whose connection is lost after `cut_at` bytes of the body."""

    cut_at: int = 0


@dataclass
class FakeBatch:
    id: str
    model: str
    results: list[tuple[str, dict | None, str | None]]  # custom_id, success body, error message
    plan: list[str]
    state: str
    created: float
    ended: float | None = None
    cancel_asked: bool = False
    fail_errors: list[dict] = field(default_factory=list)
    lines: list[bytes] | None = None  # result lines, made when the batch ends
    finished: int = 0  # requests that finished (the rest expired / were cancelled)
    counts: dict[str, int] = field(default_factory=dict)
    input_kind: str = "inline"
    size: int = 0  # requests submitted


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


class _BatchBook:
    """The batch bookkeeping every batch server shares (mixed into a LoopbackServer subclass)."""

    def _init_book(self, instant: bool) -> None:
        self.instant = instant
        self.plans: list[list[str]] = []
        self.batches: dict[str, FakeBatch] = {}
        self.files: dict[str, bytes] = {}
        self.finish_fraction = 0.5
        self.request_error: Callable[[str], str | None] = lambda custom_id: None
        self.extra_lines: list[bytes] = []
        self.cut_downloads = 0
        self.results_gone = 0  # this many result downloads answer 404 (no longer kept)
        self.reject_create: Reply | None = None
        self.lose_create_reply = False  # the next create makes the batch, then drops the connection
        self.max_request_bytes = 300 * 1000 * 1000
        self.fail_errors: list[dict] = [{"code": "invalid_request", "message": "invalid input", "line": 1}]
        self.uploads = self.creates = self.polls = self.downloads = self.cancels = 0
        self.poll_times: list[float] = []
        self.submitted_ids: list[str] = []
        self._book_lock = threading.Lock()
        self._random = random.Random(13)

    # -- lifecycle -----------------------------------------------------------

    def _new_batch(self, batch_id: str, model: str, requests: list[tuple[str, dict]]) -> FakeBatch:
        """Answer every request now (the interactive server's normal reply) and keep only the replies."""
        results = []
        for custom_id, body in requests:
            error = self.request_error(custom_id) or self._refusal(body, model)
            results.append((custom_id, None if error else self._answer_body(body), error))
        with self._book_lock:
            plan = list(self.plans.pop(0)) if self.plans else (["completed"] if self.instant else list(DEFAULT_PLAN))
            batch = FakeBatch(batch_id, model, results, plan[1:], plan[0], time.time(),
                              fail_errors=list(self.fail_errors), size=len(requests))
            self.batches[batch_id] = batch
            self.creates += 1
            self.submitted_ids += [c for c, _ in requests]
            if batch.state in TERMINAL:
                self._end(batch)
        return batch

    def _step(self, batch: FakeBatch) -> FakeBatch:
        """One poll: the batch moves one state along its plan."""
        with self._book_lock:
            self.polls += 1
            self.poll_times.append(time.monotonic())
            if batch.state not in TERMINAL:
                if batch.cancel_asked:
                    batch.state = "cancelled" if batch.state == "cancelling" else "cancelling"
                elif batch.plan:
                    batch.state = batch.plan.pop(0)
                if batch.state in TERMINAL:
                    self._end(batch)
        return batch

    def _cancel(self, batch: FakeBatch) -> FakeBatch:
        with self._book_lock:
            self.cancels += 1
            if batch.state not in TERMINAL:
                batch.cancel_asked = True
                batch.state = "cancelling"
        return batch

    def _end(self, batch: FakeBatch) -> None:
        batch.ended = time.time()
        if batch.state == "failed":
            batch.lines, batch.finished = [], 0
            return
        everything = batch.state == "completed"
        batch.finished = len(batch.results) if everything else int(len(batch.results) * self.finish_fraction)
        lines: list[bytes] = []
        counts = {"succeeded": 0, "errored": 0, "expired": 0, "cancelled": 0}
        for i, (custom_id, body, error) in enumerate(batch.results):
            if i >= batch.finished:
                kind = "expired" if batch.state == "expired" else "cancelled"
                lines.append(self._not_run_line(custom_id, kind))
                counts[kind] += 1
            elif error:
                lines.append(self._error_line(custom_id, error))
                counts["errored"] += 1
            else:
                lines.append(self._success_line(custom_id, body))
                counts["succeeded"] += 1
        self._random.shuffle(lines)  # real batches return results in any order
        lines += self.extra_lines
        self.extra_lines = []
        batch.lines, batch.counts = lines, counts
        batch.results = []  # the lines hold everything now

    def _download(self, data: bytes) -> Reply:
        if self.results_gone > 0:
            self.results_gone -= 1
            return self._gone()
        with self._book_lock:
            self.downloads += 1
            cut = self.cut_downloads > 0
            self.cut_downloads -= cut
        headers = {"content-type": "application/octet-stream"}
        if cut:
            return CutReply(200, data, headers, cut_at=len(data) // 2)
        return Reply(200, data, headers)

    # -- hooks ---------------------------------------------------------------

    def _answer_body(self, body: dict) -> dict:
        return self._normal(Recorded("POST", "", {}, {}, body)).body

    def _refusal(self, body: dict, model: str) -> Reply | None:
        """The interactive server's 400 for this request, if it refuses it. Batch services check
        a request's parameters when they run it, not when the batch is created ("validation of
        the params object for each request is performed asynchronously", Anthropic's batch
        guide; OpenAI's error file; Gemini's per-request status): the refusal comes back as
        that request's errored line."""
        return self._validate(body)

    def _success_line(self, custom_id: str, body: dict) -> bytes:
        raise NotImplementedError

    def _error_line(self, custom_id: str, error: str | Reply) -> bytes:
        """An errored line: a scripted message, or the interactive server's refusal as it is."""
        raise NotImplementedError

    def _not_run_line(self, custom_id: str, kind: str) -> bytes:
        raise NotImplementedError


def _dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _handle_raw(server: LoopbackServer, h: _Handler) -> None:
    """LoopbackServer._handle, keeping the raw body for uploads (multipart,
    JSONL) and not recording big bodies (a 200 MB upload is not kept twice)."""
    url = urlsplit(h.path)
    length = int(h.headers.get("content-length") or 0)
    raw = h.rfile.read(length) if length else b""
    body = None
    if raw and len(raw) < 1_000_000 and "json" in (h.headers.get("content-type") or "json"):
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
    request = Recorded(h.command, url.path, dict(parse_qsl(url.query)),
                       {k.lower(): v for k, v in h.headers.items()}, body)
    with server._arrived:
        server.requests.append(request)
        server._arrived.notify_all()
    try:
        reply = server._auth_error(request)
        if reply is None:
            with server._lock:
                script = server._script.popleft() if server._script else None
            if script is not None:
                reply = script(request) if callable(script) else script
            else:
                creates = server.creates
                reply = server._route_raw(request, raw)
                if server.lose_create_reply and server.creates > creates:
                    server.lose_create_reply = False
                    reply = Reply(drop=True)
    except Exception as exc:  # a bug in the mock: say so loudly
        server.failures.append(exc)
        reply = Reply(500, {"error": {"message": f"loopback server failure: {exc!r}", "type": "mock_error"}})
    if isinstance(reply, CutReply):
        _send_cut(server, h, reply)
    else:
        server._send(h, reply)


def _send_cut(server: LoopbackServer, h: _Handler, reply: CutReply) -> None:
    h.send_response(reply.status)
    for name, value in reply.headers.items():
        h.send_header(name, value)
    h.send_header("content-length", str(len(reply.body)))
    h.end_headers()
    h.wfile.write(reply.body[:reply.cut_at])
    server._kill(h)


def _json_body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


# ============================================================================ OpenAI


def _multipart(raw: bytes, content_type: str) -> dict[str, bytes]:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        return {}
    fields = {}
    for part in raw.split(b"--" + match.group(1).encode()):
        head, sep, value = part.partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]+)"', head)
        if sep and name:
            fields[name.group(1).decode()] = value.removesuffix(b"\r\n")
    return fields


class OpenAIBatchServer(_BatchBook, OpenAIServer):
    """/v1/files (purpose batch), /v1/batches, /v1/files/{id}/content, on top of chat completions."""

    def __init__(self, *, instant: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._init_book(instant)
        self.max_request_bytes = 200 * 1000 * 1000

    def _handle(self, h: _Handler) -> None:
        _handle_raw(self, h)

    def _route_raw(self, request: Recorded, raw: bytes) -> Reply:
        path, method = request.path, request.method
        if method == "POST" and path == "/v1/files":
            return self._upload(request, raw)
        if method == "GET" and (m := re.fullmatch(r"/v1/files/([^/]+)/content", path)):
            data = self.files.get(m.group(1))
            if data is None:
                return self.error(404, f"No such File object: {m.group(1)}", "invalid_request_error")
            if m.group(1).startswith("file-out-") or m.group(1).startswith("file-err-"):
                return self._download(data)
            return Reply(200, data, {"content-type": "application/octet-stream"})
        if method == "POST" and path == "/v1/batches":
            return self._create(request)
        if method == "GET" and path == "/v1/batches":
            newest = sorted(self.batches.values(), key=lambda b: b.created, reverse=True)
            limit = int(request.query.get("limit", 20))
            after = request.query.get("after")
            if after:
                ids = [b.id for b in newest]
                newest = newest[ids.index(after) + 1:] if after in ids else []
            page = newest[:limit]
            return Reply(200, {"object": "list", "data": [self._object(b) for b in page],
                               "first_id": page[0].id if page else None, "last_id": page[-1].id if page else None,
                               "has_more": len(newest) > limit})
        if m := re.fullmatch(r"/v1/batches/([^/]+)(/cancel)?", path):
            batch = self.batches.get(m.group(1))
            if batch is None:
                return self.error(404, f"No batch found with id '{m.group(1)}'.", "invalid_request_error")
            if method == "POST" and m.group(2):
                return Reply(200, self._object(self._cancel(batch)))
            if method == "GET" and not m.group(2):
                return Reply(200, self._object(self._step(batch)))
        return self._route(request)

    def _upload(self, request: Recorded, raw: bytes) -> Reply:
        if len(raw) > self.max_request_bytes:
            return self.error(413, f"File is too large: {len(raw)} bytes; the limit is {self.max_request_bytes}.",
                              "invalid_request_error", "file_too_large")
        fields = _multipart(raw, request.headers.get("content-type", ""))
        if fields.get("purpose") != b"batch" or "file" not in fields:
            return self.bad_request("purpose must be 'batch' and a file is required", "purpose")
        with self._book_lock:
            self.uploads += 1
        file_id = self._next_id("file-in-")
        self.files[file_id] = fields["file"]
        return Reply(200, {"id": file_id, "object": "file", "bytes": len(fields["file"]), "created_at": int(time.time()),
                           "filename": "batch.jsonl", "purpose": "batch"})

    def _create(self, request: Recorded) -> Reply:
        if self.reject_create is not None:
            reply, self.reject_create = self.reject_create, None
            return reply
        body = request.json or {}
        data = self.files.get(body.get("input_file_id", ""))
        if data is None:
            return self.bad_request("input_file_id: no such file", "input_file_id")
        if body.get("endpoint") != "/v1/chat/completions" or body.get("completion_window") != "24h":
            return self.bad_request("endpoint and completion_window are required", "endpoint")
        requests, errors, seen = [], [], set()
        for number, raw in enumerate(data.splitlines(), 1):
            line = _json_body(raw) or {}
            custom_id = line.get("custom_id")
            if line.get("url") != "/v1/chat/completions" or line.get("method") != "POST" or not custom_id:
                errors.append({"code": "invalid_request", "message": "bad line", "param": None, "line": number})
            elif custom_id in seen:
                errors.append({"code": "duplicate_custom_id", "message": f"duplicate custom_id {custom_id}",
                               "param": "custom_id", "line": number})
            elif (line.get("body") or {}).get("model") not in self.models:
                errors.append({"code": "model_not_found", "message": f"The model "
                               f"`{(line.get('body') or {}).get('model')}` does not exist.", "param": "body.model",
                               "line": number})
            else:
                requests.append((custom_id, line["body"]))
            seen.add(custom_id)
        if errors:  # a batch that fails validation: no results at all
            self.plans.insert(0, ["validating", "failed"])
            self.fail_errors = errors[:10]
        batch = self._new_batch(self._next_id("batch_"), (requests[0][1]["model"] if requests else ""),
                                requests if not errors else [(c, b) for c, b in requests])
        batch.input_id = body["input_file_id"]
        batch.metadata = body.get("metadata") or {}
        return Reply(200, self._object(batch))

    def _object(self, b: FakeBatch) -> dict:
        out_id = err_id = None
        if b.lines is not None and b.state != "failed":
            ok = [line for line in b.lines if b'"status_code":200' in line]
            bad = [line for line in b.lines if b'"status_code":200' not in line]
            out_id, err_id = f"file-out-{b.id}", f"file-err-{b.id}"
            self.files[out_id] = b"".join(line + b"\n" for line in ok)
            self.files[err_id] = b"".join(line + b"\n" for line in bad)
            if not bad:
                err_id = None
        stamp = int(b.created)
        counts = b.counts
        return {
            "id": b.id, "object": "batch", "endpoint": "/v1/chat/completions",
            "errors": {"object": "list", "data": b.fail_errors} if b.state == "failed" else None,
            "input_file_id": getattr(b, "input_id", None), "completion_window": "24h", "status": b.state,
            "output_file_id": out_id, "error_file_id": err_id, "created_at": stamp,
            "in_progress_at": stamp if b.state != "validating" else None, "expires_at": stamp + 86400,
            "finalizing_at": None, "completed_at": int(b.ended) if b.state == "completed" else None,
            "failed_at": int(b.ended) if b.state == "failed" else None,
            "expired_at": int(b.ended) if b.state == "expired" else None,
            "cancelling_at": stamp if b.cancel_asked else None,
            "cancelled_at": int(b.ended) if b.state == "cancelled" else None,
            "request_counts": {"total": b.size,
                               "completed": counts.get("succeeded", 0),
                               "failed": counts.get("errored", 0) + counts.get("expired", 0) + counts.get("cancelled", 0)},
            "metadata": getattr(b, "metadata", {}),
        }

    def _gone(self) -> Reply:
        return self.error(404, "No such File object", "invalid_request_error")

    def _success_line(self, custom_id: str, body: dict) -> bytes:
        return _dumps({"id": self._next_id("batch_req_"), "custom_id": custom_id, "response": {
            "status_code": 200, "request_id": self._next_id("req_"), "body": body}, "error": None})

    def _error_line(self, custom_id: str, error: str | Reply) -> bytes:
        if isinstance(error, str):
            error = Reply(400, {"error": {"message": error, "type": "invalid_request_error", "param": None,
                                          "code": None}})
        return _dumps({"id": self._next_id("batch_req_"), "custom_id": custom_id, "response": {
            "status_code": error.status, "request_id": self._next_id("req_"), "body": error.body}, "error": None})

    def _not_run_line(self, custom_id: str, kind: str) -> bytes:
        code = "batch_expired" if kind == "expired" else "batch_cancelled"
        text = ("This request could not be executed before the completion window expired." if kind == "expired"
                else "This request was not executed because the batch was cancelled.")
        return _dumps({"id": self._next_id("batch_req_"), "custom_id": custom_id, "response": None,
                       "error": {"code": code, "message": text}})


# ============================================================================ Anthropic


class AnthropicBatchServer(_BatchBook, AnthropicServer):
    """/v1/messages/batches (create, retrieve, cancel, results), on top of messages."""

    def __init__(self, *, instant: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._init_book(instant)
        self.max_request_bytes = 256 * 1000 * 1000

    def _handle(self, h: _Handler) -> None:
        _handle_raw(self, h)

    def _route_raw(self, request: Recorded, raw: bytes) -> Reply:
        path, method = request.path, request.method
        if method == "POST" and path == "/v1/messages/batches":
            return self._create(raw)
        if m := re.fullmatch(r"/v1/messages/batches/([^/]+)(/cancel|/results)?", path):
            batch = self.batches.get(m.group(1))
            if batch is None:
                return self.error(404, "not_found_error", f"batch {m.group(1)} not found")
            if method == "POST" and m.group(2) == "/cancel":
                return Reply(200, self._object(self._cancel(batch)))
            if method == "GET" and m.group(2) == "/results":
                if batch.lines is None:
                    return self.error(400, "invalid_request_error", "batch is still processing")
                return self._download(b"".join(line + b"\n" for line in batch.lines))
            if method == "GET" and not m.group(2):
                return Reply(200, self._object(self._step(batch)))
        return self._route(request)

    def _create(self, raw: bytes) -> Reply:
        if len(raw) > self.max_request_bytes:
            return self.error(413, "request_too_large", "Request exceeds the maximum allowed number of bytes.")
        with self._book_lock:
            self.uploads += 1
        if self.reject_create is not None:
            reply, self.reject_create = self.reject_create, None
            return reply
        body = _json_body(raw)
        if not isinstance(body, dict) or not isinstance(body.get("requests"), list) or not body["requests"]:
            return self.error(400, "invalid_request_error", "requests: Field required")
        seen, requests = set(), []
        for i, r in enumerate(body["requests"]):
            custom_id, params = r.get("custom_id"), r.get("params") or {}
            if not isinstance(custom_id, str) or not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", custom_id):
                return self.error(400, "invalid_request_error", f"requests.{i}.custom_id: String should match "
                                  "pattern '^[a-zA-Z0-9_-]{1,64}$'")
            if custom_id in seen:
                return self.error(400, "invalid_request_error", f"Duplicate custom_id: {custom_id}")
            if params.get("model") not in self.models:
                return self.error(400, "invalid_request_error", f"requests.{i}.params.model: model "
                                  f"'{params.get('model')}' not found")
            if params.get("stream"):
                return self.error(400, "invalid_request_error", f"requests.{i}.params.stream: not allowed in a batch")
            seen.add(custom_id)
            requests.append((custom_id, params))
        batch = self._new_batch(self._next_id("msgbatch_"), requests[0][1]["model"], requests)
        return Reply(200, self._object(batch))

    def _object(self, b: FakeBatch) -> dict:
        ended = b.state in TERMINAL
        counts = {"processing": 0 if ended else b.size, "succeeded": 0, "errored": 0, "canceled": 0,
                  "expired": 0}
        if ended:
            counts.update(succeeded=b.counts.get("succeeded", 0), errored=b.counts.get("errored", 0),
                          canceled=b.counts.get("cancelled", 0), expired=b.counts.get("expired", 0))
        return {
            "id": b.id, "type": "message_batch",
            "processing_status": "ended" if ended else ("canceling" if b.state == "cancelling" else "in_progress"),
            "request_counts": counts, "created_at": _iso(b.created), "expires_at": _iso(b.created + 86400),
            "ended_at": _iso(b.ended) if ended else None, "archived_at": None,
            "cancel_initiated_at": _iso(b.created) if b.cancel_asked else None,
            "results_url": f"{self.root_url}/v1/messages/batches/{b.id}/results" if ended else None,
        }

    def _gone(self) -> Reply:
        return self.error(404, "not_found_error", "The results of this batch are no longer available.")

    def _success_line(self, custom_id: str, body: dict) -> bytes:
        return _dumps({"custom_id": custom_id, "result": {"type": "succeeded", "message": body}})

    def _error_line(self, custom_id: str, error: str | Reply) -> bytes:
        body = error.body if isinstance(error, Reply) else {
            "type": "error", "error": {"type": "invalid_request_error", "message": error}}
        return _dumps({"custom_id": custom_id, "result": {"type": "errored", "error": body}})

    def _not_run_line(self, custom_id: str, kind: str) -> bytes:
        return _dumps({"custom_id": custom_id, "result": {"type": "canceled" if kind == "cancelled" else "expired"}})


# ============================================================================ Gemini

_GEMINI_STATE = {"validating": "BATCH_STATE_PENDING", "in_progress": "BATCH_STATE_RUNNING",
                 "finalizing": "BATCH_STATE_RUNNING", "cancelling": "BATCH_STATE_RUNNING",
                 "completed": "BATCH_STATE_SUCCEEDED", "failed": "BATCH_STATE_FAILED",
                 "expired": "BATCH_STATE_EXPIRED", "cancelled": "BATCH_STATE_CANCELLED"}


class GeminiBatchServer(_BatchBook, GeminiServer):
    """models/{m}:batchGenerateContent (inline or file), batches/{id} (an operation), :cancel,
    the Files API's resumable upload and download."""

    inline_limit = 20 * 1000 * 1000

    def __init__(self, *, instant: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._init_book(instant)
        self.max_request_bytes = 2 * 1000 * 1000 * 1000
        self._uploading: dict[str, int] = {}

    def _handle(self, h: _Handler) -> None:
        _handle_raw(self, h)

    def _route_raw(self, request: Recorded, raw: bytes) -> Reply:
        path, method = request.path, request.method
        if method == "POST" and path == "/upload/v1beta/files":
            return self._upload(request, raw)
        if method == "GET" and (m := re.fullmatch(r"/download/v1beta/(files/[^:]+):download", path)):
            data = self.files.get(m.group(1))
            if data is None:
                return self.error(404, "NOT_FOUND", f"File {m.group(1)} not found")
            return self._download(data)
        if method == "POST" and path.startswith("/v1beta/models/") and path.endswith(":batchGenerateContent"):
            model = path.removeprefix("/v1beta/models/").removesuffix(":batchGenerateContent")
            return self._create(model, raw)
        if method == "GET" and path == "/v1beta/batches":
            newest = sorted(self.batches.values(), key=lambda b: b.created, reverse=True)
            return Reply(200, {"operations": [self._operation(b) for b in newest]})
        if m := re.fullmatch(r"/v1beta/(batches/[^:/]+)(:cancel)?", path):
            batch = self.batches.get(m.group(1))
            if batch is None:
                return self.error(404, "NOT_FOUND", f"Batch {m.group(1)} not found")
            if method == "POST" and m.group(2):
                self._cancel(batch)
                return Reply(200, {})
            if method == "GET" and not m.group(2):
                return Reply(200, self._operation(self._step(batch)))
        return self._route(request)

    def _upload(self, request: Recorded, raw: bytes) -> Reply:
        command = request.headers.get("x-goog-upload-command", "")
        if command == "start":
            size = int(request.headers.get("x-goog-upload-header-content-length") or 0)
            if size > self.max_request_bytes:
                return self.error(400, "INVALID_ARGUMENT", f"File size {size} exceeds the limit")
            token = self._next_id("up")
            self._uploading[token] = size
            return Reply(200, {}, {"x-goog-upload-url": f"{self.root_url}/upload/v1beta/files?upload_id={token}",
                                   "x-goog-upload-status": "active"})
        if "upload" in command and "finalize" in command:
            token = request.query.get("upload_id", "")
            if token not in self._uploading:
                return self.error(400, "INVALID_ARGUMENT", "unknown upload")
            with self._book_lock:
                self.uploads += 1
            name = self._next_id("files/in-")
            self.files[name] = raw
            return Reply(200, {"file": {"name": name, "sizeBytes": str(len(raw)), "mimeType": "application/jsonl",
                                        "state": "ACTIVE"}}, {"x-goog-upload-status": "final"})
        return self.error(400, "INVALID_ARGUMENT", "bad upload command")

    def _create(self, model: str, raw: bytes) -> Reply:
        if model not in self.models:
            return self.error(404, "NOT_FOUND", f"models/{model} is not found for API version v1beta, or is not "
                              "supported for batchGenerateContent.")
        if len(raw) > self.inline_limit:
            return self.error(400, "INVALID_ARGUMENT", "Request payload size exceeds the limit: 20971520 bytes.")
        if self.reject_create is not None:
            reply, self.reject_create = self.reject_create, None
            return reply
        batch_spec = (_json_body(raw) or {}).get("batch") or {}
        config = batch_spec.get("inputConfig") or {}
        requests: list[tuple[str, dict]] = []
        if config.get("fileName"):
            data = self.files.get(config["fileName"])
            if data is None:
                return self.error(400, "INVALID_ARGUMENT", f"file {config['fileName']} not found")
            for rawline in data.splitlines():
                line = _json_body(rawline) or {}
                requests.append((line.get("key"), line.get("request") or {}))
            kind = "file"
        else:
            with self._book_lock:
                self.uploads += 1
            for entry in (config.get("requests") or {}).get("requests") or ():
                requests.append(((entry.get("metadata") or {}).get("key"), entry.get("request") or {}))
            kind = "inline"
        if not requests or any(not isinstance(k, str) for k, _ in requests):
            return self.error(400, "INVALID_ARGUMENT", "every request needs a key")
        batch = self._new_batch(self._next_id("batches/b"), model, requests)
        batch.input_kind = kind
        batch.display = batch_spec.get("displayName", "")
        return Reply(200, self._operation(batch))

    def _operation(self, b: FakeBatch) -> dict:
        total = b.size
        stats: dict[str, str] = {"requestCount": str(total)}
        ended = b.state in TERMINAL
        if ended:
            ok = b.counts.get("succeeded", 0)
            stats.update(successfulRequestCount=str(ok), failedRequestCount=str(total - ok), pendingRequestCount="0")
        else:
            stats["pendingRequestCount"] = str(total)
        meta = {"@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch",
                "name": b.id, "model": f"models/{b.model}", "displayName": getattr(b, "display", ""),
                "state": _GEMINI_STATE[b.state], "createTime": _iso(b.created), "updateTime": _iso(time.time()),
                "batchStats": stats}
        op: dict[str, Any] = {"name": b.id, "metadata": meta}
        if ended:
            meta["endTime"] = _iso(b.ended)
            op["done"] = True
            if b.state == "failed":
                op["error"] = {"code": 3, "message": "Batch failed: invalid input", "status": "INVALID_ARGUMENT"}
            else:
                output: dict[str, Any] = {"@type": "type.googleapis.com/google.ai.generativelanguage.v1beta."
                                                   "GenerateContentBatchOutput"}
                if b.input_kind == "file":
                    name = f"files/out-{b.id.split('/')[-1]}"
                    self.files[name] = b"".join(line + b"\n" for line in b.lines)
                    output["responsesFile"] = name
                else:
                    output["inlinedResponses"] = {"inlinedResponses": [self._inline(line) for line in b.lines]}
                op["response"] = output
        return op

    @staticmethod
    def _inline(line: bytes) -> dict:
        data = json.loads(line)
        entry = {"metadata": {"key": data["key"]}}
        if "response" in data:
            entry["response"] = data["response"]
        else:
            entry["error"] = data["error"]
        return entry

    def _gone(self) -> Reply:
        return self.error(404, "NOT_FOUND", "File not found")

    def _success_line(self, custom_id: str, body: dict) -> bytes:
        return _dumps({"key": custom_id, "response": body})

    def _error_line(self, custom_id: str, error: str | Reply) -> bytes:
        status = error.body["error"] if isinstance(error, Reply) else {
            "code": 400, "message": error, "status": "INVALID_ARGUMENT"}
        return _dumps({"key": custom_id, "error": status})

    def _refusal(self, body: dict, model: str) -> Reply | None:
        return self._validate(body, model)

    def _not_run_line(self, custom_id: str, kind: str) -> bytes:
        status = "DEADLINE_EXCEEDED" if kind == "expired" else "CANCELLED"
        return _dumps({"key": custom_id, "error": {"code": 4 if kind == "expired" else 1,
                                                    "message": f"Request {kind} before it ran", "status": status}})


# ==================================================================== fixtures, process

BATCH_SERVERS: dict[str, type[LoopbackServer]] = {
    "openai": OpenAIBatchServer, "anthropic": AnthropicBatchServer, "gemini": GeminiBatchServer}


@pytest.fixture(params=list(BATCH_SERVERS))
def batch_server(request: pytest.FixtureRequest) -> Iterator[LoopbackServer]:
    """Each provider's batch server in turn."""
    with BATCH_SERVERS[request.param]() as server:
        yield server


def main(argv: list[str] | None = None) -> None:
    """Serve in a separate process (benchmarks, the kill-and-resume test):
    prints the base URL, then answers commands on stdin ("stats" prints the
    counters as JSON); stops when stdin closes."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=list(BATCH_SERVERS))
    parser.add_argument("--instant", action="store_true", help="batches complete as soon as they are created")
    parser.add_argument("--grader", action="store_true", help="answer every request with a grader verdict")
    args = parser.parse_args(argv)
    with BATCH_SERVERS[args.kind](instant=args.instant) as server:
        if args.grader:
            server.responder = grader_responder
        print(server.base_url, flush=True)
        for line in sys.stdin:
            if line.strip() == "stats":
                print(json.dumps({k: getattr(server, k) for k in
                                  ("uploads", "creates", "polls", "downloads", "cancels")}
                                 | {"submitted": len(server.submitted_ids),
                                    "distinct": len(set(server.submitted_ids))}), flush=True)


def grader_responder(question: str, request: Recorded) -> str:
    """A grader reply that parses: met when the rubric item's points are positive."""
    met = "[-" not in question.split("# Rubric item", 1)[-1][:20]
    return json.dumps({"explanation": "Checked against the rubric item.", "criteria_met": met})


if __name__ == "__main__":
    main()
