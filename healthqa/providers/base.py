"""The Provider base class: one httpx.AsyncClient, retries, streaming, errors.

Adapters subclass it and fill in the wire format only: the request body, the
endpoint, how to read an answer, a stream event and an error body. Everything
about attempts, waits, timeouts and turning failures into ProviderError lives
here once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import ssl
import time
from typing import Any, AsyncIterator, Callable, ClassVar, NamedTuple

import httpx

from healthqa.domain import Answer, Message, ModelConfig, Usage

from .capabilities import NONE, Capabilities, capabilities_for
from .errors import MIN_SECRET_CHARS, ProviderError, Redactor, classify_status
from .ratelimit import RateLimiter
from .retry import NO_RETRY, RetryPolicy, wait_from_headers
from .transport import ShardedTransport, env_proxy
from .wire import iter_sse

# Finish reasons every adapter maps to; anything else passes through lowercased.
STOP, LENGTH, REFUSAL, CONTENT_FILTER = "stop", "length", "refusal", "content_filter"

TEST_PROMPT = "Reply with the single word: OK"

# Read timeouts: the official SDKs wait 600 s, which long non-streaming reasoning
# calls need (cutting one off bills it and then pays for the retry); a call
# without reasoning that takes 2 minutes is stuck.
REASONING_TIMEOUT = 600.0
PLAIN_TIMEOUT = 120.0

log = logging.getLogger("healthqa.providers")

# Called with (capability overrides, note) when a server taught us that the model
# refuses a parameter; the run engine stores it on the model config.
LearnedHook = Callable[[dict, str], None]


def reasons(config: ModelConfig, caps: Capabilities | None = None) -> bool:
    """Will a call with this config spend time reasoning?"""
    caps = caps or capabilities_for(config.provider, config.model).with_learned(config.learned)
    asked = config.reasoning.value != "off" and caps.reasoning != NONE
    return asked or caps.thinks_by_default


def read_timeout(config: ModelConfig) -> float:
    """The config's own timeout, else the SDKs' 600 s for reasoning calls, else 120 s."""
    if config.timeout:
        return config.timeout
    return REASONING_TIMEOUT if reasons(config) else PLAIN_TIMEOUT


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """One certificate store for every provider: loading it takes ~70 ms, and a
    run or the test suite makes many providers."""
    return httpx.create_ssl_context()


class ErrorInfo(NamedTuple):
    """What an adapter reads out of a provider's error body."""

    detail: str  # the server's human message
    code: str | None = None  # error type/code/status words, for classification
    wait: float | None = None  # a wait hint carried in the body (Gemini)
    bad_key: bool = False  # an auth failure reported under another status
    param: str | None = None  # the request field the server named (OpenAI's error.param)


class Adjustment(NamedTuple):
    """What to change after a server refused a parameter: capability overrides
    (see capabilities.py) and a note for the user saying what was changed."""

    caps: dict
    note: str


class StreamState:
    """Collects one streamed reply. Adapters subclass `feed`."""

    def __init__(self, model: str) -> None:
        self.parts: list[str] = []
        self.finish_reason: str | None = None
        self.usage = Usage()
        self.response_id: str | None = None
        self.model = model
        self.done = False  # set by terminal events, so trailing bytes are ignored

    @property
    def complete(self) -> bool:
        """Did the stream reach its proper end (not just a closed socket)?"""
        return self.done

    def feed(self, event: str | None, data: str) -> str | None:
        """Take one SSE event; return the text it adds, if any."""
        raise NotImplementedError

    def answer(self, latency_ms: float) -> Answer:
        return Answer(
            text="".join(self.parts), model=self.model, finish_reason=self.finish_reason,
            usage=self.usage, latency_ms=latency_ms, response_id=self.response_id,
        )


class Provider:
    """One model endpoint. Create with `make_provider`; close with `aclose`."""

    kind: ClassVar[str]
    label: ClassVar[str]  # for messages: "OpenAI", "Anthropic", ...
    default_base_url: ClassVar[str]

    def __init__(
        self,
        config: ModelConfig,
        api_key: str | None,
        *,
        max_connections: int = 32,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        rate_limiter: RateLimiter | None = None,
        on_learned: LearnedHook | None = None,
    ) -> None:
        self.config = config
        self.learned: dict[str, Any] = dict(config.learned)
        self.caps = capabilities_for(config.provider, config.model).with_learned(self.learned)
        self.on_learned = on_learned
        self.retry = retry or RetryPolicy()
        self.timeout = timeout = timeout or read_timeout(config)
        self.rate_limiter = rate_limiter
        self.base_url = (config.base_url or self.default_base_url).rstrip("/")
        self._redact = Redactor(api_key)  # every text from the server passes through it; never shows the key
        # Answers too, unless the "key" is a placeholder a local server takes ("ollama", "EMPTY", "none"):
        # masking its every occurrence would cut words out of clinical answers and protect nothing.
        self._redact_answer = Redactor(api_key if api_key and len(api_key) >= MIN_SECRET_CHARS else None)
        headers = {"content-type": "application/json", "accept": "application/json"}
        headers.update(self._auth_headers(api_key))
        self._client = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=ShardedTransport(max_connections, verify=_tls_context(), proxy=env_proxy(self.base_url)),
        )

    def __repr__(self) -> str:  # deliberately without the key
        return f"<{type(self).__name__} {self.config.name!r} model={self.config.model!r} base_url={self.base_url!r}>"

    # ---- what adapters provide -------------------------------------------------

    def _auth_headers(self, api_key: str | None) -> dict[str, str]:
        raise NotImplementedError

    def _endpoint(self, stream: bool) -> str:
        raise NotImplementedError

    def _body(self, conversation: list[Message], *, stream: bool, max_tokens: int | None) -> dict:
        raise NotImplementedError

    def _parse_answer(self, data: Any) -> Answer:
        """An Answer (latency filled in by the caller) from a 200 JSON body."""
        raise NotImplementedError

    def _stream_state(self) -> StreamState:
        raise NotImplementedError

    def _error_info(self, body: Any) -> ErrorInfo:
        raise NotImplementedError

    def _adjustment(self, error: ProviderError, body: dict) -> Adjustment | None:
        """How to resend `body` after a 400 that names a parameter this model
        does not take; None when the refusal is about something else."""
        return None

    async def list_models(self) -> list[str]:
        raise NotImplementedError

    # ---- the public calls ------------------------------------------------------

    async def complete(self, conversation: list[Message]) -> Answer:
        """One answer, retried per the policy. Raises ProviderError."""
        return await self._complete(conversation, self.retry, max_tokens=None)

    async def stream(self, conversation: list[Message]) -> AsyncIterator[str | Answer]:
        """Text pieces as they arrive, then the final Answer (with usage).

        Failures before the first piece are retried like `complete`; once text
        has been shown, a failure is raised, since a retry would repeat it.
        """
        body = self._build(conversation, stream=True, max_tokens=None)
        url = self._endpoint(stream=True)
        attempt = 0
        adjusted: set[str] = set()
        while True:
            started = False
            try:
                await self._pace()
                t0 = time.perf_counter()
                async with self._client.stream("POST", url, json=body) as response:
                    if response.status_code != 200:
                        await response.aread()
                        raise self._http_error(response)
                    state = self._stream_state()
                    async for sse in iter_sse(response):
                        try:
                            piece = state.feed(sse.event, sse.data)
                        except (ValueError, TypeError, AttributeError):
                            raise ProviderError(
                                f"{self.label}: the server sent a stream event that is not valid JSON",
                                retryable=True,
                            ) from None
                        if piece:
                            started = True
                            yield self._redact_answer(piece)
                        if state.done:
                            break
                    if not state.complete:
                        raise ProviderError(
                            f"{self.label}: the stream ended before the reply was complete",
                            retryable=True,
                        )
                    yield self._scrub_answer(state.answer((time.perf_counter() - t0) * 1000))
                    return
            except httpx.HTTPError as exc:
                error = self._transport_error(exc)
            except ProviderError as exc:  # an error event inside the stream carries the server's words
                error = exc
                error.message = self._redact(error.message)
                error.args = (error.message,)
            if not started and self._learn(error, body, adjusted):
                body = self._build(conversation, stream=True, max_tokens=None)
                continue
            if started or not error.retryable:
                raise error
            attempt = await self._wait_or_raise(error, attempt, self.retry)

    async def test(self) -> str:
        """One tiny request; a short message on success, else ProviderError saying what to fix."""
        # Reasoning needs room to think, so the output cap is only cut when it is off.
        cap = None if reasons(self.config, self.caps) else 16
        answer = await self._complete([Message(role="user", content=TEST_PROMPT)], NO_RETRY, max_tokens=cap)
        return f"{self.label} {answer.model} answered in {answer.latency_ms:.0f} ms"

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> "Provider":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- shared machinery ------------------------------------------------------

    async def _complete(self, conversation: list[Message], policy: RetryPolicy, *, max_tokens: int | None) -> Answer:
        body = self._build(conversation, stream=False, max_tokens=max_tokens)
        url = self._endpoint(stream=False)
        attempt = 0
        adjusted: set[str] = set()
        while True:
            try:
                return await self._post_once(url, body)
            except ProviderError as error:
                if self._learn(error, body, adjusted):
                    body = self._build(conversation, stream=False, max_tokens=max_tokens)
                    continue
                if not error.retryable:
                    raise
                attempt = await self._wait_or_raise(error, attempt, policy)

    def _learn(self, error: ProviderError, body: dict, adjusted: set[str]) -> bool:
        """After a 400 naming a parameter the model does not take: change the
        capabilities, tell the user, and say whether to resend. Each capability
        is resent once per call, and one learned before is not flipped back, so
        two refusals cannot ping-pong. Calls that were in flight with the old
        request when another call learned the same thing are resent quietly."""
        if error.status not in (400, 422):
            return False
        change = self._adjustment(error, body)
        if change is None:
            return False
        wanted = {k: tuple(v) if k == "levels" else v for k, v in change.caps.items() if k not in adjusted}
        if not wanted:
            return False
        new = {k: v for k, v in wanted.items() if getattr(self.caps, k) != v}
        if any(k in self.learned and k != "levels" for k in new):
            return False
        adjusted.update(wanted)
        if not new:  # learned meanwhile by a concurrent call: the rebuilt request already differs
            return True
        self.learned.update(new)
        self.caps = dataclasses.replace(self.caps, **new)
        note = f"{self.config.name} ({self.config.model}): {change.note}"
        log.warning("%s", note)
        if self.on_learned is not None:
            try:
                self.on_learned(new, note)
            except Exception:  # storing the lesson must not fail the call
                log.exception("could not record what %s learned", self.config.name)
        return True

    def _build(self, conversation: list[Message], *, stream: bool, max_tokens: int | None) -> dict:
        try:
            return self._body(conversation, stream=stream, max_tokens=max_tokens)
        except ValueError as exc:  # e.g. an image that is not a base64 data URL: this item only
            raise ProviderError(f"{self.label}: cannot send this conversation: {exc}") from None

    async def _post_once(self, url: str, body: dict) -> Answer:
        await self._pace()
        t0 = time.perf_counter()
        try:
            response = await self._client.post(url, json=body)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        if response.status_code != 200:
            raise self._http_error(response)
        answer = self._scrub_answer(self._parse_answer(self._json(response)))
        answer.latency_ms = (time.perf_counter() - t0) * 1000
        return answer

    async def _get_json(self, url: str, params: dict | None = None) -> Any:
        """GET with the same error handling, no retries (used for model lists)."""
        try:
            response = await self._client.get(url, params=params)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        if response.status_code != 200:
            raise self._http_error(response)
        return self._json(response)

    async def _pace(self) -> None:
        if self.rate_limiter is not None:
            await self.rate_limiter.acquire()

    async def _wait_or_raise(self, error: ProviderError, attempt: int, policy: RetryPolicy) -> int:
        """Sleep before the next attempt and return its number, or re-raise."""
        if attempt + 1 >= policy.max_attempts:
            raise error
        if error.retry_after is not None and error.retry_after > policy.max_wait:
            raise ProviderError(
                f"{error.message} (the server asked to wait {error.retry_after:.0f} s, "
                f"longer than the {policy.max_wait:.0f} s limit; try again later)",
                status=error.status, retryable=True, retry_after=error.retry_after, code=error.code,
            )
        await asyncio.sleep(policy.delay(attempt, error.retry_after))
        return attempt + 1

    def _json(self, response: httpx.Response) -> Any:
        try:
            return json.loads(response.content)
        except ValueError:
            raise ProviderError(
                f"{self.label}: the server sent a reply that is not JSON "
                f"(HTTP {response.status_code}, {len(response.content)} bytes)",
                status=response.status_code, retryable=True,
            ) from None

    def _scrub_answer(self, answer: Answer) -> Answer:
        """A server that echoes the key (a proxy's debug page, a model repeating its
        headers) must not get it stored as an answer."""
        answer.text = self._redact_answer(answer.text)
        answer.model = self._redact_answer(answer.model)
        return answer

    def _http_error(self, response: httpx.Response) -> ProviderError:
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        info = self._error_info(body) if body is not None else ErrorInfo("")
        detail = info.detail or response.text[:300] or response.reason_phrase
        wait = wait_from_headers(response.headers)
        should = response.headers.get("x-should-retry")
        error = classify_status(
            response.status_code,
            provider_label=self.label,
            detail=self._redact(detail),
            code=info.code,
            key_hint=self._key_hint(),
            retry_after=wait if wait is not None else info.wait,
            should_retry=None if should is None else should.lower() == "true",
            bad_key=info.bad_key,
            redirect_to=self._redact(response.headers.get("location") or "") or None,
            base_url=self._redact(self.base_url),
        )
        error.detail, error.param = self._redact(detail), info.param
        return error

    def _transport_error(self, exc: httpx.HTTPError) -> ProviderError:
        if isinstance(exc, httpx.TimeoutException):
            text = f"{self.label}: no reply within {self.timeout:g} s from {self.base_url}"
        else:
            text = f"{self.label}: connection to {self.base_url} failed ({type(exc).__name__}: {exc})"
        return ProviderError(self._redact(text), retryable=True)

    def _key_hint(self) -> str:
        c = self.config
        if c.api_key_env:
            return f"the API key in environment variable {c.api_key_env}"
        if c.use_keyring:
            return f"the API key stored in the keyring for {c.name!r}"
        return f"the API key for model config {c.name!r}"

    def _system_text(self, conversation: list[Message]) -> str | None:
        """The config's system prompt plus any system/developer turns, for APIs
        that take the system prompt apart from the conversation."""
        texts = [self.config.system_prompt] if self.config.system_prompt else []
        texts += [m.text for m in conversation if m.role in ("system", "developer")]
        return "\n\n".join(texts) if texts else None
