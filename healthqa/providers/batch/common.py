"""What every provider's batch client shares: the status and result shapes,
the chunk file written to disk, and HTTP calls with the interactive
provider's retries and error classification (docs/batch-apis.md).

A batch client wraps the interactive adapter of the same provider: the
request body of a batch line is exactly the interactive body, and a result
body is read by the interactive `_parse_answer`, so there is one way to
build and read a request.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable, ClassVar

import httpx

from healthqa.domain import Answer, Message

from ..base import Provider
from ..errors import ProviderError
from ..transport import ShardedTransport, env_proxy

# Normalised batch states (docs/batch-apis.md "How HealthQA maps them").
VALIDATING, IN_PROGRESS, FINALIZING, CANCELLING = "validating", "in_progress", "finalizing", "cancelling"
COMPLETED, EXPIRED, CANCELLED, FAILED = "completed", "expired", "cancelled", "failed"
ENDED = frozenset({COMPLETED, EXPIRED, CANCELLED, FAILED})

# Result outcomes of one request.
SUCCEEDED, ERRORED = "succeeded", "errored"

UPLOAD_BLOCK = 1 << 20  # bytes read from disk at a time while uploading


class LostReply(ProviderError):
    """A create call whose reply never came: the batch may or may not exist."""


@dataclass
class BatchStatus:
    """One look at a provider batch. Counts are the provider's own (0 where it
    does not say yet); `refs` holds where the results are (file ids, a URL)."""

    provider_id: str
    state: str
    raw_state: str
    submitted: int = 0
    succeeded: int = 0
    errored: int = 0
    expired: int = 0
    cancelled: int = 0
    created_at: str | None = None
    ended_at: str | None = None
    message: str | None = None  # why a batch failed, in the provider's words
    refs: dict[str, Any] = field(default_factory=dict)

    @property
    def ended(self) -> bool:
        return self.state in ENDED


@dataclass
class BatchResult:
    """One result line: the answer of a succeeded request, or why it has none."""

    custom_id: str
    outcome: str  # succeeded / errored / expired / cancelled
    answer: Answer | None = None
    error: str | None = None
    # A request refused as invalid (HTTP 400), read as the interactive adapter reads one, so
    # that a parameter the model does not take is learned from it (BatchClient.learn).
    refusal: ProviderError | None = None


@dataclass(frozen=True)
class Limits:
    max_requests: int
    max_bytes: int


class ChunkFile:
    """One batch's input, written line by line to a file on disk (never held
    in memory), with the provider's framing around the lines."""

    def __init__(self, path: Path, limits: Limits, head: bytes = b"", sep: bytes = b"\n",
                 tail: bytes = b"\n") -> None:
        self.path, self.limits = path, limits
        self.head, self.sep, self.tail = head, sep, tail
        self.count = 0
        self.size = len(head) + len(tail)
        self._file = open(path, "wb")
        self._file.write(head)

    def fits(self, line: bytes) -> bool:
        extra = len(line) + (len(self.sep) if self.count else 0)
        return self.count < self.limits.max_requests and self.size + extra <= self.limits.max_bytes

    def add(self, line: bytes) -> None:
        if self.count:
            self._file.write(self.sep)
            self.size += len(self.sep)
        self._file.write(line)
        self.size += len(line)
        self.count += 1

    def close(self) -> None:
        if not self._file.closed:
            self._file.write(self.tail)
            self._file.close()

    def discard(self) -> None:
        self.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


async def file_blocks(path: Path) -> AsyncIterator[bytes]:
    """A file's bytes in blocks, for a streamed upload."""
    with open(path, "rb") as f:
        while block := f.read(UPLOAD_BLOCK):
            yield block


def dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


class BatchClient:
    """One provider's batch API. Subclasses fill in the wire format."""

    kind: ClassVar[str]
    limits: ClassVar[Limits]

    def __init__(self, provider: Provider, api_key: str | None, *, timeout: float = 300.0) -> None:
        self.provider = provider
        self.label = provider.label
        self.base_url = provider.base_url
        self._key = api_key
        headers = {"accept": "application/json"}
        headers.update(provider._auth_headers(api_key))
        self.http = httpx.AsyncClient(
            headers=headers, timeout=httpx.Timeout(timeout, connect=10.0),
            transport=ShardedTransport(4, verify=httpx.create_ssl_context(), proxy=env_proxy(self.base_url)))
        self.uploads = 0  # input files or bodies sent this session (the benchmark reads it)
        # What the lines were built with before anything was learned this session.
        self._first_caps = provider.caps

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.provider.aclose()

    # ---- what subclasses provide -----------------------------------------------

    def open_chunk(self, path: Path) -> ChunkFile:
        return ChunkFile(path, self.limits)

    def request_line(self, custom_id: str, conversation: list[Message]) -> bytes:
        raise NotImplementedError

    async def submit(self, chunk: ChunkFile, name: str) -> BatchStatus:
        """Upload the closed chunk from disk and create the batch."""
        raise NotImplementedError

    async def poll(self, provider_id: str) -> BatchStatus:
        raise NotImplementedError

    async def cancel(self, provider_id: str) -> BatchStatus:
        raise NotImplementedError

    def results(self, status: BatchStatus) -> AsyncIterator[BatchResult]:
        """Every result line of an ended batch, in the provider's order."""
        raise NotImplementedError

    async def find(self, name: str) -> BatchStatus | None:
        """The batch created under `name` (by a create call whose reply was lost), if the
        provider can tell; None when it has none, or cannot be asked."""
        return None

    # ---- shared machinery ------------------------------------------------------

    def _body(self, conversation: list[Message]) -> dict:
        try:
            return self.provider._body(conversation, stream=False, max_tokens=None)
        except ValueError as exc:
            raise ProviderError(f"{self.label}: cannot send this conversation: {exc}") from None

    def _answer(self, body: Any) -> Answer:
        """The answer in one result body, read and scrubbed of any echoed key as an interactive answer is."""
        return self.provider._scrub_answer(self.provider._parse_answer(body))

    def learn(self, refusal: ProviderError) -> bool:
        """Whether a request refused for a parameter the model does not take is to be sent
        again: the adapter learns from the refusal exactly as after an interactive 400 (its
        capabilities change, its on_learned hook stores and reports that), so the lines built
        from now on go without it. Later refusals of lines sent before are resent quietly."""
        learned = self.provider.caps
        self.provider.caps = self._first_caps  # the refused line was built before the lesson
        try:
            sent = self._body([Message(role="user", content="?")])
        finally:
            self.provider.caps = learned
        return self.provider._learn(refusal, sent, set())

    def _errored(self, custom_id: str, body: Any, status: int | None = None) -> BatchResult:
        """An errored request: the provider's words, and for a 400 the refusal to learn from."""
        text, refusal = self._error_text(body, status), None
        if status in (400, 422) and body is not None:
            info = self.provider._error_info(body)
            refusal = ProviderError(text, status=status, code=info.code)
            refusal.detail, refusal.param = self.provider._redact(info.detail), info.param
        return BatchResult(custom_id, ERRORED, error=text, refusal=refusal)

    def _error_text(self, body: Any, status: int | None = None) -> str:
        """The provider's words for one failed request."""
        info = self.provider._error_info(body) if body is not None else None
        detail = (info.detail if info else "") or json.dumps(body)[:300]
        prefix = f"{self.label} batch request failed" + (f" (HTTP {status})" if status else "")
        return self.provider._redact(f"{prefix}: {detail}")

    async def call(self, method: str, url: str, *, expect_json: bool = True,
                   body: Callable[[], dict[str, Any]] | None = None, creates: bool = False) -> Any:
        """One API call, retried like interactive calls (connection errors,
        429/5xx, honouring Retry-After); other failures raise ProviderError
        in the provider's words, without the key. `body()` gives the
        request's keyword arguments afresh for each attempt (a file stream
        cannot be sent twice).

        `creates`: the call creates a batch. A reply that never arrived may
        still have created it, so a lost connection is not retried (that
        could make a second batch of the same items): it raises
        LostReply, and the caller looks for the batch by name (`find`)."""
        attempt = 0
        while True:
            try:
                response = await self.http.request(method, url, **(body() if body else {}))
            except httpx.HTTPError as exc:
                error = self.provider._transport_error(exc)
                if creates:
                    raise LostReply(error.message, retryable=True) from None
            else:
                if response.status_code < 300:
                    return self.provider._json(response) if expect_json else response
                error = self.provider._http_error(response)
            if not error.retryable:
                raise error
            attempt = await self.provider._wait_or_raise(error, attempt, self.provider.retry)

    async def stream_lines(self, url: str, params: dict | None = None) -> AsyncIterator[bytes]:
        """The lines of a downloaded JSONL file, read as they arrive. A lost
        connection starts the download again and skips the lines already
        given (result files do not change once written)."""
        given = 0
        attempt = 0
        while True:
            seen = 0
            try:
                async with self.http.stream("GET", url, params=params) as response:
                    if response.status_code != 200:
                        await response.aread()
                        raise self.provider._http_error(response)
                    async for line in _lines(response):
                        seen += 1
                        if seen > given:
                            given = seen
                            yield line
                return
            except httpx.HTTPError as exc:
                error = self.provider._transport_error(exc)
            except ProviderError as exc:
                error = exc
            if not error.retryable:
                raise error
            attempt = await self.provider._wait_or_raise(error, attempt, self.provider.retry)


async def _lines(response: httpx.Response) -> AsyncIterator[bytes]:
    """Non-empty lines of a response body, as bytes (JSON parses bytes directly)."""
    rest = b""
    async for block in response.aiter_bytes():
        rest += block
        *lines, rest = rest.split(b"\n")
        for line in lines:
            if line.strip():
                yield line
    if rest.strip():
        yield rest


def count(value: Any) -> int:
    """A count as providers send it (Gemini's int64 fields are JSON strings)."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def parse_line(raw: bytes) -> dict | None:
    """One JSONL line as an object; None for a line that is not one (skipped, as an unknown id would be)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None

