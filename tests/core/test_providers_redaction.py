"""A key never leaks in another form: encoded in an echoed header, as a slice
of itself, or inside an answer a server sends back. Real loopback servers."""

from __future__ import annotations

import asyncio
import base64

import pytest

from healthqa.domain import Message
from healthqa.providers import NO_RETRY, ProviderError, make_provider
from healthqa.providers.errors import redact
from healthqa.runs import DONE, create_run
from tests.core.provider_servers import (  # noqa: F401  (fixtures)
    anthropic_server, config_for, gemini_server, openai_server, provider_server,
)
from tests.core.test_runs import add_config, add_questions, execute

# Made up; assembled so that no scanner takes it for a real key.
KEY = "-".join(["sk", "proj", "Zq8mW2xR7vT4nL9pK3cY6bH1dF5gJ0aE"])


def b64(text: str, *, urlsafe: bool = False) -> str:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return encode(text.encode()).decode()


@pytest.mark.parametrize("wrapped", [
    f"Bearer {KEY}", f"{KEY}", f"user:{KEY}", f"u:{KEY}", f"us:{KEY}", f"api:{KEY}", f"{KEY}:",
    f"x-api-key: {KEY}\r\n",
])
@pytest.mark.parametrize("urlsafe", [False, True])
def test_redact_removes_the_key_in_base64_at_any_alignment(wrapped, urlsafe):
    encoded = b64(wrapped, urlsafe=urlsafe)
    text = f'header was "Basic {encoded}" and then more words'
    assert redact(text, KEY) == 'header was "Basic [redacted] and then more words'


def test_redact_removes_long_slices_of_the_key():
    assert redact(f"saw {KEY[5:17]} here", KEY) == "saw [redacted] here"  # 12 characters from the middle
    assert redact(f"saw {KEY[-14:-2]}.", KEY) == "saw [redacted]"
    assert redact(f"saw {b64(KEY)[7:19]} there", KEY) == "saw [redacted] there"  # a slice of its base64
    # Shorter runs are not the key (any text shares a few characters with it) ...
    assert redact(f"saw {KEY[9:20]} here", KEY) == f"saw {KEY[9:20]} here"
    # ... but the first 8 / last 6 characters are, since servers echo keys half-masked.
    assert redact(f"given {KEY[:8]}****{KEY[-2:]} here", KEY) == "given [redacted] here"
    short = "abc123"  # a local server's short key counts only whole
    assert redact("key abc123 or abc12", short) == "key [redacted] or abc12"
    assert redact("nothing here", KEY) == "nothing here" and redact("text", None) == "text"


def test_redact_is_quick_on_a_long_answer():
    import time

    text = ("The usual dose is 500 mg twice a day. " * 30_000) + KEY
    t0 = time.perf_counter()
    assert redact(text, KEY).endswith("day. [redacted]")
    assert time.perf_counter() - t0 < 1.0  # a generous bound; typically ~30 ms


def _echo_headers(question, request) -> str:
    """A server (a debugging proxy, say) that repeats the credentials it was sent, in every form."""
    sent = (request.headers.get("authorization", "").removeprefix("Bearer ") or request.headers.get("x-api-key")
            or request.headers.get("x-goog-api-key") or "")
    return (f"You asked: {question}. You sent Authorization: Bearer {sent}, as Basic {b64('user:' + sent)}, "
            f"as base64 {b64('Bearer ' + sent)}, and a slice {sent[6:20]}. Drink water.")


def test_an_answer_that_echoes_the_key_is_stored_redacted(workspace, provider_server):
    provider_server.api_key = KEY
    provider_server.responder = _echo_headers
    add_questions(workspace, 2)
    add_config(workspace, provider_server)
    run_id = create_run(workspace, model_name="m", set_name="S")
    summary = execute(workspace, run_id, concurrency=2, api_key=KEY)
    assert summary.status == DONE
    stored = [r["text"] for r in workspace.query("SELECT text FROM answers WHERE run_id = ?", (run_id,))]
    assert len(stored) == 2
    for text in stored:
        assert text.startswith("You asked: ") and text.endswith("Drink water.")
        assert text.count("[redacted]") == 4
        assert KEY not in text and KEY[6:20] not in text and b64(f"Bearer {KEY}")[12:30] not in text


def test_a_streamed_answer_that_echoes_the_key_is_redacted(openai_server):
    openai_server.api_key = KEY
    openai_server.responder = _echo_headers

    async def go():
        provider = make_provider(config_for(openai_server), KEY, retry=NO_RETRY)
        try:
            return [p async for p in provider.stream([Message(role="user", content="hi")])]
        finally:
            await provider.aclose()

    *pieces, answer = asyncio.run(go())
    assert KEY not in answer.text and "[redacted]" in answer.text
    assert all(KEY[6:20] not in p for p in pieces)


def test_an_error_that_echoes_the_encoded_key_is_redacted(openai_server):
    openai_server.api_key = KEY
    openai_server.enqueue(openai_server.error(
        400, f"bad header Basic {b64('user:' + KEY)} (Bearer as base64: {b64('Bearer ' + KEY)}; "
             f"slice {KEY[10:30]})", "invalid_request_error"))

    async def go():
        provider = make_provider(config_for(openai_server), KEY, retry=NO_RETRY)
        try:
            return await provider.complete([Message(role="user", content="hi")])
        finally:
            await provider.aclose()

    with pytest.raises(ProviderError) as caught:
        asyncio.run(go())
    message = caught.value.message
    assert "bad header Basic [redacted]" in message and "slice [redacted]" in message
    for form in (KEY[10:22], b64("user:" + KEY)[8:20], b64("Bearer " + KEY)[12:24]):
        assert form not in message and form not in str(caught.value)


@pytest.mark.parametrize("placeholder", ["none", "ollama", "x", "EMPTY"])
def test_a_placeholder_key_does_not_cut_words_out_of_answers(openai_server, placeholder):
    # Local servers take any word as the key; it is no secret, and masking every "none" or
    # every "x" would corrupt a clinical answer. Errors still mask it.
    openai_server.api_key = placeholder
    answer_text = "There are none of the warning signs; EMPTY stomach is fine; ollama x-ray."
    openai_server.responder = lambda question, request: answer_text

    async def go():
        provider = make_provider(config_for(openai_server), placeholder, retry=NO_RETRY)
        try:
            streamed = [p async for p in provider.stream([Message(role="user", content="hi")])]
            return streamed, await provider.complete([Message(role="user", content="hi")])
        finally:
            await provider.aclose()

    (*pieces, streamed), completed = asyncio.run(go())
    assert streamed.text == completed.text == answer_text == "".join(pieces)
    assert redact(f"the key {placeholder} was refused", placeholder) == "the key [redacted] was refused"
