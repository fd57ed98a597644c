"""Each adapter against its loopback server: the request it sends and how it
reads the reply (text, finish reason, usage), streamed and not."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from healthqa.domain import Answer, Message, ModelConfig
from healthqa.providers import ProviderError, estimate_cost, make_provider
from healthqa.domain import Usage
from tests.core.provider_servers import (  # noqa: F401  (fixtures)
    REASONING_TOKENS, REFUSAL_TEXT, AnthropicServer, LoopbackServer, answer_for, anthropic_server,
    config_for, gemini_server, llamacpp_server, ollama_server, openai_server, provider_server, vllm_server,
)

IMAGE = "data:image/jpeg;base64,/9j/AAAA"
QUESTION = "My child has a fever of 39C. What should I do?"
CONVERSATION = [
    Message(role="system", content="You are a careful clinician."),
    Message(role="user", content="Hello"),
    Message(role="assistant", content="Hi, how can I help?"),
    Message(role="user", content=[{"type": "text", "text": QUESTION}, {"type": "image_url", "image_url": {"url": IMAGE}}]),
]


def ask(server: LoopbackServer, conversation=CONVERSATION, **config: Any) -> Answer:
    async def go() -> Answer:
        provider = make_provider(config_for(server, **config), server.api_key)
        try:
            return await provider.complete(conversation)
        finally:
            await provider.aclose()
    return asyncio.run(go())


def ask_streaming(server: LoopbackServer, conversation=CONVERSATION, **config: Any) -> list:
    async def go() -> list:
        provider = make_provider(config_for(server, **config), server.api_key)
        try:
            return [piece async for piece in provider.stream(conversation)]
        finally:
            await provider.aclose()
    return asyncio.run(go())


# ---- every provider -------------------------------------------------------------


def test_answer_maps_to_question_for_every_provider(provider_server):
    answer = ask(provider_server)
    assert answer.text == answer_for(QUESTION)
    assert answer.finish_reason == "stop"
    assert answer.usage.input_tokens > 0 and answer.usage.output_tokens == len(answer.text.split())
    assert answer.latency_ms > 0 and answer.response_id
    assert provider_server.failures == []


def test_stream_yields_pieces_then_the_full_answer(provider_server):
    pieces = ask_streaming(provider_server)
    *texts, final = pieces
    assert len(texts) >= 2 and all(isinstance(t, str) for t in texts)
    assert isinstance(final, Answer)
    assert "".join(texts) == final.text == answer_for(QUESTION)
    assert final.finish_reason == "stop"
    assert final.usage.output_tokens == len(final.text.split())  # usage arrives at the end
    assert final.usage.input_tokens > 0


def test_different_questions_get_their_own_answers(provider_server):
    one = ask(provider_server, [Message(role="user", content="Is ibuprofen safe?")])
    two = ask(provider_server, [Message(role="user", content="Is paracetamol safe?")])
    assert (one.text, two.text) == (answer_for("Is ibuprofen safe?"), answer_for("Is paracetamol safe?"))


def test_output_cap_cuts_the_answer_and_reports_length(provider_server):
    answer = ask(provider_server, max_output_tokens=3)
    assert answer.finish_reason == "length"
    assert answer.text == " ".join(answer_for(QUESTION).split(" ")[:3])


def test_list_models_follows_pages(provider_server):
    async def go() -> list[str]:
        provider = make_provider(config_for(provider_server), provider_server.api_key)
        try:
            return await provider.list_models()
        finally:
            await provider.aclose()
    expected = [m for m in provider_server.models if not m.startswith("embedding")]
    assert asyncio.run(go()) == expected


def test_connection_test_reports_the_model(provider_server):
    async def go() -> str:
        provider = make_provider(config_for(provider_server), provider_server.api_key)
        try:
            return await provider.test()
        finally:
            await provider.aclose()
    message = asyncio.run(go())
    assert provider_server.model in message and "ms" in message
    assert len(provider_server.requests) == 1


def test_cost_from_usage_and_prices():
    config = ModelConfig(name="m", provider="openai", model="x", price_in_per_mtok=2.0, price_out_per_mtok=8.0)
    assert estimate_cost(config, Usage(input_tokens=1_000_000, output_tokens=500_000)) == pytest.approx(6.0)
    assert estimate_cost(config, Usage(input_tokens=10)) is None
    assert estimate_cost(ModelConfig(name="m", provider="openai", model="x"), Usage(input_tokens=1, output_tokens=1)) is None


# ---- OpenAI ---------------------------------------------------------------------


def test_openai_request_shape(openai_server):
    ask(openai_server, reasoning="high", max_output_tokens=5000, system_prompt="Answer briefly.")
    request = openai_server.last
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {openai_server.api_key}"
    body = request.json
    assert body["model"] == openai_server.model
    assert body["max_completion_tokens"] == 5000 and "max_tokens" not in body
    assert body["reasoning_effort"] == "high"
    assert [m["role"] for m in body["messages"]] == ["system", "system", "user", "assistant", "user"]
    assert body["messages"][0]["content"] == "Answer briefly."
    assert body["messages"][-1]["content"] == [
        {"type": "text", "text": QUESTION}, {"type": "image_url", "image_url": {"url": IMAGE}}]
    assert "stream" not in body and "temperature" not in body


def test_openai_reasoning_off_sends_no_effort_and_keeps_temperature(openai_server):
    ask(openai_server, temperature=0.3)
    body = openai_server.last.json
    assert "reasoning_effort" not in body and body["temperature"] == 0.3


def test_openai_reasoning_tokens_are_read(openai_server):
    answer = ask(openai_server, reasoning="low")
    assert answer.usage.reasoning_tokens == REASONING_TOKENS
    # completion_tokens already includes reasoning; output_tokens keeps that meaning.
    assert answer.usage.output_tokens == len(answer.text.split()) + REASONING_TOKENS
    assert answer.model.startswith(openai_server.model)


def test_openai_stream_asks_for_usage(openai_server):
    ask_streaming(openai_server)
    body = openai_server.last.json
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_openai_refusal_becomes_the_answer(openai_server):
    openai_server.enqueue(openai_server.refusal(), openai_server.refusal())
    answer = ask(openai_server)
    assert (answer.text, answer.finish_reason) == (REFUSAL_TEXT, "refusal")
    final = ask_streaming(openai_server)[-1]
    assert (final.text, final.finish_reason) == (REFUSAL_TEXT, "refusal")


def test_openai_content_filter(openai_server):
    openai_server.enqueue(openai_server.content_filter())
    answer = ask(openai_server)
    assert (answer.text, answer.finish_reason) == ("", "content_filter")


# ---- OpenAI-compatible ----------------------------------------------------------


def test_ollama_gets_max_tokens_and_system_roles(ollama_server):
    conversation = [Message(role="developer", content="Be kind."), Message(role="user", content=QUESTION)]
    answer = ask(ollama_server, conversation, max_output_tokens=4)
    body = ollama_server.last.json
    assert body["max_tokens"] == 4 and "max_completion_tokens" not in body
    assert [m["role"] for m in body["messages"]] == ["system", "user"]  # no "developer" on local servers
    assert answer.finish_reason == "length"  # Ollama really read the cap
    assert "authorization" not in ollama_server.last.headers  # no key configured


@pytest.mark.parametrize("fixture", ["ollama_server", "llamacpp_server", "vllm_server"])
def test_local_reasoning_text_stays_out_of_the_answer(fixture, request):
    server = request.getfixturevalue(fixture)
    answer = ask(server, [Message(role="user", content=QUESTION)], reasoning="medium")
    assert server.last.json["reasoning_effort"] == "medium"
    assert answer.text == answer_for(QUESTION)
    final = ask_streaming(server, [Message(role="user", content=QUESTION)], reasoning="medium")[-1]
    assert final.text == answer_for(QUESTION)


def test_compat_sends_a_key_when_the_server_wants_one():
    from tests.core.provider_servers import OpenAICompatServer
    with OpenAICompatServer(flavor="vllm", api_key="local-secret-key-123") as server:
        assert ask(server, [Message(role="user", content=QUESTION)]).text == answer_for(QUESTION)
        assert server.last.headers["authorization"] == "Bearer local-secret-key-123"


# ---- Anthropic ------------------------------------------------------------------


def test_anthropic_request_shape(anthropic_server):
    ask(anthropic_server, system_prompt="Answer briefly.", temperature=0.2)
    request = anthropic_server.last
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == anthropic_server.api_key
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    body = request.json
    assert body["max_tokens"] == 4096  # required, default when the config sets none
    assert body["system"] == "Answer briefly.\n\nYou are a careful clinician."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][-1]["content"] == [
        {"type": "text", "text": QUESTION},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/AAAA"}}]
    assert body["temperature"] == 0.2 and "thinking" not in body


@pytest.mark.parametrize("mode,budget", [("low", 1024), ("medium", 4096), ("high", 16384)])
def test_anthropic_thinking_budget_per_mode(anthropic_server, mode, budget):
    answer = ask(anthropic_server, reasoning=mode, temperature=0.2)
    body = anthropic_server.last.json
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] > budget
    assert "temperature" not in body  # must stay default while thinking
    assert answer.text == answer_for(QUESTION)  # the thinking block is not part of the answer
    assert answer.usage.reasoning_tokens == REASONING_TOKENS


@pytest.mark.parametrize("model", ["claude-opus-4-7", "claude-sonnet-5", "claude-haiku-4-8-20261001"])
def test_anthropic_newest_models_think_adaptively_with_an_effort(anthropic_server, model):
    answer = ask(anthropic_server, model=model, reasoning="medium", temperature=0.2)
    body = anthropic_server.last.json
    assert body["thinking"] == {"type": "adaptive"} and body["output_config"] == {"effort": "medium"}
    assert "temperature" not in body
    assert answer.text == answer_for(QUESTION) and answer.usage.reasoning_tokens == REASONING_TOKENS


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "claude-sonnet-4-20250514", "claude-3-7-sonnet-20250219"])
def test_anthropic_older_models_keep_a_thinking_budget(anthropic_server, model):
    ask(anthropic_server, model=model, reasoning="low")
    assert anthropic_server.last.json["thinking"] == {"type": "enabled", "budget_tokens": 1024}


def test_the_loopback_server_refuses_a_budget_on_the_newest_models(anthropic_server):
    """The mock is faithful: what the adapter avoids is what the real API refuses."""
    import httpx

    reply = httpx.post(f"{anthropic_server.base_url}/v1/messages",
                       headers={"x-api-key": anthropic_server.api_key, "anthropic-version": "2023-06-01"},
                       json={"model": "claude-opus-4-7", "max_tokens": 4096, "messages": [
                           {"role": "user", "content": "hi"}], "thinking": {"type": "enabled", "budget_tokens": 2048}})
    assert reply.status_code == 400 and "adaptive" in reply.json()["error"]["message"]


def test_anthropic_small_cap_shrinks_the_budget(anthropic_server):
    ask(anthropic_server, reasoning="high", max_output_tokens=3000)
    body = anthropic_server.last.json
    assert body["max_tokens"] == 3000 and 1024 <= body["thinking"]["budget_tokens"] < 3000


def test_anthropic_cap_too_small_for_thinking_is_refused_before_sending():
    config = ModelConfig(name="tiny", provider="anthropic", model="c", reasoning="low", max_output_tokens=1000)
    with pytest.raises(ProviderError) as info:
        make_provider(config, "key")
    assert info.value.fatal and "1024" in info.value.message


def test_anthropic_refusal(anthropic_server):
    anthropic_server.enqueue(anthropic_server.refusal())
    answer = ask(anthropic_server)
    assert answer.finish_reason == "refusal" and answer.text == ""


def test_anthropic_stream_with_thinking_and_pings(anthropic_server):
    *texts, final = ask_streaming(anthropic_server, reasoning="low")
    assert "".join(texts) == final.text == answer_for(QUESTION)
    assert final.usage.output_tokens == len(final.text.split()) + REASONING_TOKENS
    assert final.usage.reasoning_tokens == REASONING_TOKENS
    assert final.response_id.startswith("msg_")
    assert anthropic_server.last.json["stream"] is True


# ---- Gemini ---------------------------------------------------------------------


def test_gemini_request_shape(gemini_server):
    ask(gemini_server, reasoning="medium", max_output_tokens=20000, temperature=0.5, model="models/gemini-loopback")
    request = gemini_server.last
    assert request.path == "/v1beta/models/gemini-loopback:generateContent"
    assert request.headers["x-goog-api-key"] == gemini_server.api_key
    assert "key" not in request.query  # the key never goes in the URL
    body = request.json
    assert body["systemInstruction"] == {"parts": [{"text": "You are a careful clinician."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][-1]["parts"] == [
        {"text": QUESTION}, {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/AAAA"}}]
    assert body["generationConfig"] == {
        "temperature": 0.5, "maxOutputTokens": 20000, "thinkingConfig": {"thinkingBudget": 8192}}


@pytest.mark.parametrize("model,mode,expected", [
    ("gemini-3-pro-preview", "high", {"thinkingLevel": "HIGH"}),
    ("gemini-3-flash", "low", {"thinkingLevel": "LOW"}),
    ("gemini-2.5-flash", "medium", {"thinkingBudget": 8192})])
def test_gemini_3_takes_a_thinking_level_older_models_a_budget(gemini_server, model, mode, expected):
    answer = ask(gemini_server, model=model, reasoning=mode)
    body = gemini_server.last.json
    assert body["generationConfig"]["thinkingConfig"] == expected
    assert answer.text == answer_for(QUESTION)


def test_gemini_reasoning_off_sends_no_thinking_config(gemini_server):
    answer = ask(gemini_server)
    assert "generationConfig" not in gemini_server.last.json
    assert answer.usage.reasoning_tokens is None


def test_gemini_thought_tokens_count_as_output(gemini_server):
    answer = ask(gemini_server, reasoning="high")
    assert answer.usage.reasoning_tokens == REASONING_TOKENS
    assert answer.usage.output_tokens == len(answer.text.split()) + REASONING_TOKENS


def test_gemini_thought_parts_are_not_the_answer(gemini_server):
    from tests.core.provider_servers import Reply
    gemini_server.enqueue(Reply(200, {"candidates": [{"content": {"role": "model", "parts": [
        {"text": "secret reasoning", "thought": True}, {"text": "The answer."}]}, "finishReason": "STOP"}]}))
    assert ask(gemini_server).text == "The answer."


def test_gemini_prompt_block_is_an_answer_not_an_error(gemini_server):
    gemini_server.enqueue(gemini_server.safety_block())
    answer = ask(gemini_server)
    assert (answer.text, answer.finish_reason) == ("", "content_filter")
    assert len(gemini_server.requests) == 1  # not retried


def test_gemini_safety_finish(gemini_server):
    gemini_server.enqueue(gemini_server.safety_finish(), gemini_server.safety_finish())
    assert ask(gemini_server).finish_reason == "content_filter"
    final = ask_streaming(gemini_server)[-1]
    assert (final.text, final.finish_reason) == ("", "content_filter")


def test_gemini_stream_path(gemini_server):
    ask_streaming(gemini_server)
    request = gemini_server.last
    assert request.path == "/v1beta/models/gemini-loopback:streamGenerateContent"
    assert request.query == {"alt": "sse"}


def test_base_url_with_trailing_slash(anthropic_server: AnthropicServer):
    answer = ask(anthropic_server, base_url=anthropic_server.base_url + "/")
    assert answer.text == answer_for(QUESTION)
    assert anthropic_server.last.path == "/v1/messages"
