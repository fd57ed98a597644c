"""Failures: which are retried and after what wait, which stop a run and with
what message, timeouts, dropped connections, and keys kept out of errors."""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Any

import pytest

from healthqa.domain import Answer, Message, ModelConfig
from healthqa.providers import NO_RETRY, ProviderError, RateLimiter, RetryPolicy, make_provider
from healthqa.providers import redact
from healthqa.providers import wait_from_google_details, wait_from_headers
from tests.core.provider_servers import (  # noqa: F401  (fixtures)
    LoopbackServer, OpenAIServer, Reply, answer_for, anthropic_server, config_for, gemini_server,
    ollama_server, openai_server, provider_server,
)

QUESTION = "How much water should an adult drink a day?"
CONVERSATION = [Message(role="user", content=QUESTION)]
# Backoff so short that a measured wait of 0.2 s can only come from the server's hint.
FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.002)


def call(server: LoopbackServer, *, retry: RetryPolicy = FAST, timeout: float = 5.0, key: Any = "server",
         stream: bool = False, **config: Any) -> tuple[Answer | ProviderError, float]:
    """Run one call; return (the answer or the ProviderError, elapsed seconds)."""
    api_key = server.api_key if key == "server" else key

    async def go() -> Answer:
        provider = make_provider(config_for(server, **config), api_key, retry=retry, timeout=timeout)
        try:
            if stream:
                return [p async for p in provider.stream(CONVERSATION)][-1]
            return await provider.complete(CONVERSATION)
        finally:
            await provider.aclose()

    t0 = time.perf_counter()
    try:
        result: Answer | ProviderError = asyncio.run(go())
    except ProviderError as error:
        result = error
    return result, time.perf_counter() - t0


def assert_answered(result: Answer | ProviderError) -> None:
    assert isinstance(result, Answer), result
    assert result.text == answer_for(QUESTION)


# ---- waits the server asks for ----------------------------------------------------


@pytest.mark.parametrize("hint", [{"retry_after_ms": 200}, {"retry_after": 0.2}])
def test_openai_429_waits_as_told(openai_server, hint):
    openai_server.enqueue(openai_server.rate_limited(**hint))
    result, elapsed = call(openai_server)
    assert_answered(result)
    assert len(openai_server.requests) == 2
    assert 0.2 <= elapsed < 1.5


def test_retry_after_ms_wins_over_retry_after(anthropic_server):
    anthropic_server.enqueue(anthropic_server.rate_limited(retry_after=30, retry_after_ms=150))
    result, elapsed = call(anthropic_server)
    assert_answered(result)
    assert 0.15 <= elapsed < 1.5


def test_gemini_retry_info_delay_is_honoured(gemini_server):
    gemini_server.enqueue(gemini_server.resource_exhausted("0.2s"))
    result, elapsed = call(gemini_server)
    assert_answered(result)
    assert len(gemini_server.requests) == 2
    assert 0.2 <= elapsed < 1.5


def test_wait_hint_parsing():
    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert wait_from_headers({"retry-after": date}, now=now) == pytest.approx(30)
    assert wait_from_headers({"retry-after": "1.5"}) == 1.5
    assert wait_from_headers({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert wait_from_headers({"retry-after": "soon"}) is None
    assert wait_from_headers({}) is None
    detail = {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37.5s"}]}
    assert wait_from_google_details(detail) == 37.5
    assert wait_from_google_details({"details": []}) is None


def test_backoff_is_capped_and_jittered():
    policy = RetryPolicy(base_delay=0.5, max_delay=8.0, jitter=0.25)
    for k, top in [(0, 0.5), (1, 1.0), (3, 4.0), (10, 8.0)]:
        delays = [policy.backoff(k) for _ in range(200)]
        assert all(0.75 * top <= d <= top for d in delays)
        assert len(set(delays)) > 1


def test_a_wait_beyond_the_limit_is_not_honoured(openai_server):
    openai_server.enqueue(openai_server.rate_limited(retry_after=600))
    result, elapsed = call(openai_server, retry=RetryPolicy(max_attempts=3, max_wait=60))
    assert isinstance(result, ProviderError)
    assert result.retryable and not result.fatal and result.retry_after == 600
    assert "600 s" in result.message
    assert len(openai_server.requests) == 1 and elapsed < 1


# ---- transient failures are retried -------------------------------------------------


def test_anthropic_overloaded_then_success(anthropic_server):
    anthropic_server.enqueue(anthropic_server.overloaded(), anthropic_server.overloaded())
    result, _ = call(anthropic_server)
    assert_answered(result)
    assert len(anthropic_server.requests) == 3


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 409])
def test_server_errors_are_retried(openai_server, status):
    openai_server.enqueue(openai_server.server_error(status))
    assert_answered(call(openai_server)[0])
    assert len(openai_server.requests) == 2


def test_ollama_busy_is_retried(ollama_server):
    ollama_server.enqueue(ollama_server.busy())
    assert_answered(call(ollama_server)[0])


def test_gemini_unavailable_is_retried(gemini_server):
    gemini_server.enqueue(gemini_server.unavailable())
    assert_answered(call(gemini_server)[0])


def test_retries_stop_after_max_attempts(provider_server):
    provider_server.enqueue(*[provider_server.server_error(503) for _ in range(5)])
    result, _ = call(provider_server, retry=RetryPolicy(max_attempts=3, base_delay=0.001))
    assert isinstance(result, ProviderError)
    assert result.status == 503 and result.retryable and not result.fatal
    assert len(provider_server.requests) == 3


def test_dropped_connection_is_retried(provider_server):
    provider_server.enqueue(provider_server.drop())
    result, _ = call(provider_server)
    assert_answered(result)
    assert len(provider_server.requests) == 2


def test_dropped_connection_without_retries_says_so(openai_server):
    openai_server.enqueue(openai_server.drop())
    result, _ = call(openai_server, retry=NO_RETRY)
    assert isinstance(result, ProviderError) and result.retryable
    assert "connection" in result.message and openai_server.base_url in result.message


def test_timeout_then_retry(provider_server):
    provider_server.enqueue(provider_server.slow(5))
    result, elapsed = call(provider_server, timeout=0.3)
    assert_answered(result)
    assert len(provider_server.requests) == 2
    assert 0.3 <= elapsed < 2


def test_timeout_message(anthropic_server):
    anthropic_server.enqueue(anthropic_server.slow(5))
    result, elapsed = call(anthropic_server, timeout=0.2, retry=NO_RETRY)
    assert isinstance(result, ProviderError) and result.retryable
    assert "no reply within 0.2 s" in result.message
    assert elapsed < 2


def test_malformed_json_is_retried(provider_server):
    provider_server.enqueue(provider_server.malformed())
    assert_answered(call(provider_server)[0])
    provider_server.enqueue(provider_server.malformed())
    result, _ = call(provider_server, retry=NO_RETRY)
    assert isinstance(result, ProviderError) and "not JSON" in result.message


def test_x_should_retry_false_is_obeyed(openai_server):
    openai_server.enqueue(openai_server.server_error(503, **{"x-should-retry": "false"}))
    result, _ = call(openai_server)
    assert isinstance(result, ProviderError) and not result.retryable and not result.fatal
    assert len(openai_server.requests) == 1


# ---- failures that must stop the run -------------------------------------------------


def assert_fatal(result: Any, server: LoopbackServer, *words: str) -> None:
    assert isinstance(result, ProviderError), result
    assert result.fatal and not result.retryable
    assert len(server.requests) == 1, "a fatal error must not be retried"
    for word in words:
        assert word in result.message


def test_wrong_key_stops_and_names_the_env_var(provider_server):
    if provider_server.kind == "openai-compatible":
        provider_server.api_key = "expected-local-key"  # local servers check keys only when started with one
    result, _ = call(provider_server, key="sk-wrong-key-0000000000000000", api_key_env="MY_LLM_KEY")
    assert_fatal(result, provider_server, "MY_LLM_KEY", "API key")
    assert "sk-wrong-key-0000000000000000" not in result.message


def test_gemini_bad_key_400_is_an_auth_failure(gemini_server):
    result, _ = call(gemini_server, key="AIza-wrong-key-000000000000", use_keyring=True)
    assert_fatal(result, gemini_server, "rejected the API key", "keyring")
    assert result.status == 400


def test_openai_insufficient_quota_is_not_retried(openai_server):
    openai_server.enqueue(openai_server.insufficient_quota())
    result, _ = call(openai_server)
    assert_fatal(result, openai_server, "billing")


def test_anthropic_spend_limit_is_not_retried(anthropic_server):
    anthropic_server.enqueue(anthropic_server.spend_limit())
    result, _ = call(anthropic_server)
    assert_fatal(result, anthropic_server, "spending limit")


def test_anthropic_low_credit_400_is_billing(anthropic_server):
    anthropic_server.enqueue(anthropic_server.error(400, "invalid_request_error",
                                                    "Your credit balance is too low to access the Anthropic API."))
    result, _ = call(anthropic_server)
    assert_fatal(result, anthropic_server, "add credit")


def test_gemini_daily_quota_is_not_retried(gemini_server):
    gemini_server.enqueue(gemini_server.resource_exhausted("10s", per_day=True))
    result, _ = call(gemini_server)
    assert_fatal(result, gemini_server, "quota")


def test_gemini_per_minute_quota_is_retried_even_though_it_mentions_billing(gemini_server):
    gemini_server.enqueue(gemini_server.resource_exhausted("0.01s"))
    assert_answered(call(gemini_server)[0])


def test_bad_request_stops_with_the_servers_reason(openai_server):
    # A refusal that names no parameter we could leave out (a temperature refusal
    # is retried without it: test_capabilities.py).
    openai_server.enqueue(openai_server.bad_request("Invalid value for 'seed': expected an integer.", "seed"))
    result, _ = call(openai_server, reasoning="high")
    assert_fatal(result, openai_server, "seed", "check the model settings")


def test_anthropic_needs_its_version_header(anthropic_server):
    # The mock enforces the header; our adapter always sends it, so a raw request shows the check works.
    import httpx
    response = httpx.post(anthropic_server.base_url + "/v1/messages", json={},
                          headers={"x-api-key": anthropic_server.api_key})
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"


def test_unknown_model_is_fatal(openai_server):
    openai_server.enqueue(openai_server.not_found("gpt-nope"))
    result, _ = call(openai_server)
    assert_fatal(result, openai_server, "model name")


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("stream", [False, True])
def test_a_redirect_says_to_check_the_base_url(provider_server, status, stream):
    # e.g. http:// where the server wants https://, or a base URL without its /v1
    moved = provider_server.root_url + "/elsewhere/v1/chat/completions"
    provider_server.enqueue(Reply(status, b"", {"location": moved, "content-type": "text/html"}))
    result, _ = call(provider_server, stream=stream)
    assert isinstance(result, ProviderError) and result.fatal and not result.retryable, result
    assert f"HTTP {status}" in result.message and "check the base URL" in result.message
    assert provider_server.base_url in result.message and moved in result.message and "\n" not in result.message
    assert len(provider_server.requests) == 1  # not followed, not retried


def test_context_too_long_fails_the_item_not_the_run(openai_server):
    openai_server.enqueue(openai_server.error(400, "This model's maximum context length is 128000 tokens.",
                                              "invalid_request_error", "context_length_exceeded"))
    result, _ = call(openai_server)
    assert isinstance(result, ProviderError) and not result.fatal and not result.retryable
    assert "too long" in result.message


def test_cloud_provider_without_a_key_fails_at_once():
    config = ModelConfig(name="gpt", provider="openai", model="x", api_key_env="OPENAI_KEY_FOR_TESTS")
    with pytest.raises(ProviderError) as info:
        make_provider(config, None)
    assert info.value.fatal and "OPENAI_KEY_FOR_TESTS" in info.value.message


# ---- streaming failures --------------------------------------------------------------


def test_stream_retries_before_the_first_piece(provider_server):
    provider_server.enqueue(provider_server.server_error(503))
    result, _ = call(provider_server, stream=True)
    assert_answered(result)
    assert len(provider_server.requests) == 2


def test_stream_error_after_text_is_raised_not_retried(provider_server):
    if not hasattr(provider_server, "stream_error"):
        pytest.skip("no mid-stream error event in this protocol")
    provider_server.enqueue(provider_server.stream_error())
    result, _ = call(provider_server, stream=True)
    assert isinstance(result, ProviderError) and "during the stream" in result.message
    assert len(provider_server.requests) == 1


def test_stream_cut_mid_way_is_raised_not_retried(provider_server):
    provider_server.enqueue(provider_server.mid_stream_drop())
    result, _ = call(provider_server, stream=True)
    assert isinstance(result, ProviderError) and result.retryable
    assert len(provider_server.requests) == 1


def test_stream_cut_before_any_text_is_retried(provider_server):
    provider_server.enqueue(provider_server.mid_stream_drop(before_text=True))
    assert_answered(call(provider_server, stream=True)[0])
    assert len(provider_server.requests) == 2


def test_stream_without_its_end_marker_is_incomplete(openai_server):
    def truncated(request):
        reply = openai_server._normal(request)
        reply.events = reply.events[:-2]  # no usage chunk, no [DONE]; the connection closes cleanly
        return reply
    openai_server.enqueue(truncated)
    result, _ = call(openai_server, stream=True, retry=NO_RETRY)
    assert isinstance(result, ProviderError) and "before the reply was complete" in result.message


# ---- keys never leak -------------------------------------------------------------------


def test_key_is_never_in_errors_or_repr(openai_server):
    # The server echoes a masked key (as OpenAI does); the real key and its ends must not appear.
    secret = "sk-proj-SECRETKEY1234567890abcdefXYZ"
    openai_server.api_key = secret
    openai_server.enqueue(openai_server.unauthorized(secret), openai_server.error(
        400, f"bad key {secret} in request", "invalid_request_error"))
    for _ in range(2):
        result, _ = call(openai_server, key=secret)
        assert isinstance(result, ProviderError)
        for text in (result.message, str(result), repr(result)):
            assert secret not in text and "sk-proj-" not in text and "defXYZ" not in text

    async def reprs() -> list[str]:
        provider = make_provider(config_for(openai_server), secret)
        try:
            return [repr(provider), str(provider), repr(vars(provider).get("_client"))]
        finally:
            await provider.aclose()
    assert all(secret not in text for text in asyncio.run(reprs()))


def test_redact():
    key = "-".join(["sk", "ant", "api03", "abcdefghijklmnop"])  # made up; assembled so no scanner takes it for a real key
    assert redact(f"key {key} bad", key) == "key [redacted] bad"
    assert "sk-ant-a" not in redact("key sk-ant-a*****mnop given", key)
    assert redact("nothing here", key) == "nothing here"
    assert redact("text", None) == "text"


# ---- concurrency and pacing ----------------------------------------------------------


def test_64_concurrent_requests_through_one_provider():
    with OpenAIServer(latency=0.2) as server:
        questions = [f"Question number {i}?" for i in range(64)]

        async def go() -> list[Answer]:
            provider = make_provider(config_for(server), server.api_key, max_connections=64)
            try:
                return await asyncio.gather(*(provider.complete([Message(role="user", content=q)]) for q in questions))
            finally:
                await provider.aclose()

        t0 = time.perf_counter()
        answers = asyncio.run(go())
        elapsed = time.perf_counter() - t0
    assert [a.text for a in answers] == [answer_for(q) for q in questions]
    assert elapsed < 1.5  # 64 x 0.2 s in parallel, not in series (12.8 s)


def test_rate_limiter_spaces_requests():
    async def go() -> list[float]:
        limiter = RateLimiter(requests_per_minute=600)  # one every 0.1 s
        stamps = []
        for _ in range(4):
            async with limiter:
                stamps.append(time.monotonic())
        return stamps
    stamps = asyncio.run(go())
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert all(0.09 <= g < 0.3 for g in gaps), gaps


def test_rate_limiter_burst_and_validation():
    async def go() -> float:
        limiter = RateLimiter(requests_per_minute=60, burst=3)
        t0 = time.monotonic()
        for _ in range(3):
            await limiter.acquire()
        return time.monotonic() - t0
    assert asyncio.run(go()) < 0.1
    with pytest.raises(ValueError):
        RateLimiter(0)


def test_provider_uses_its_rate_limiter(openai_server):
    async def go() -> float:
        limiter = RateLimiter(requests_per_minute=300)  # 0.2 s apart
        provider = make_provider(config_for(openai_server), openai_server.api_key, rate_limiter=limiter)
        try:
            t0 = time.perf_counter()
            await asyncio.gather(*(provider.complete(CONVERSATION) for _ in range(3)))
            return time.perf_counter() - t0
        finally:
            await provider.aclose()
    assert asyncio.run(go()) >= 0.39


def test_connection_limit_holds_and_shards_are_released():
    with OpenAIServer(latency=0.2) as server:
        async def go() -> tuple[float, list[int]]:
            provider = make_provider(config_for(server), server.api_key, max_connections=8)
            try:
                t0 = time.perf_counter()
                await asyncio.gather(*(provider.complete(CONVERSATION) for _ in range(16)))
                elapsed = time.perf_counter() - t0
                [p async for p in provider.stream(CONVERSATION)]
                return elapsed, list(provider._client._transport._in_flight)
            finally:
                await provider.aclose()
        elapsed, in_flight = asyncio.run(go())
    assert elapsed >= 0.4  # 16 requests over 8 connections: two rounds of 0.2 s
    assert in_flight == [0, 0]  # every response, streamed or not, gave its connection back


def test_an_image_that_cannot_be_sent_fails_the_item(anthropic_server):
    conversation = [Message(role="user", content=[{"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}])]

    async def go() -> None:
        provider = make_provider(config_for(anthropic_server), anthropic_server.api_key)
        try:
            await provider.complete(conversation)
        finally:
            await provider.aclose()
    with pytest.raises(ProviderError) as info:
        asyncio.run(go())
    assert not info.value.fatal and not info.value.retryable and "base64" in info.value.message
    assert anthropic_server.requests == []


def test_proxy_from_the_environment(monkeypatch):
    from healthqa.providers import env_proxy
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.hospital.example:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert env_proxy("https://api.openai.com/v1") == "http://proxy.hospital.example:3128"
    assert env_proxy("http://127.0.0.1:11434/v1") is None
