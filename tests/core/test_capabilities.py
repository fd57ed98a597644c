"""What each model family accepts (providers/capabilities.py), the retry without a
refused parameter and what the config remembers of it, and the read timeout.

Every request goes over real HTTP to the loopback servers, which refuse
parameters the way the real APIs do (tests/core/provider_servers.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from healthqa.domain import Answer, Message, ModelConfig
from healthqa.providers import NO_RETRY, ProviderError, capabilities_for, make_provider, read_timeout
from healthqa.providers.capabilities import ADAPTIVE, BUDGET, EFFORT, LEVEL, NONE
from tests.core.provider_servers import (  # noqa: F401  (fixtures)
    REASONING_TOKENS, LoopbackServer, answer_for, anthropic_server, config_for, gemini_server, openai_server,
)

QUESTION = "Is a resting heart rate of 52 normal for a runner?"
CONVERSATION = [Message(role="user", content=QUESTION)]


def ask(server: LoopbackServer, *, lessons: list | None = None, stream: bool = False, **config: Any) -> Answer:
    """One call; what the provider learned is appended to `lessons`."""
    async def go() -> Answer:
        hook = (lambda caps, note: lessons.append((caps, note))) if lessons is not None else None
        provider = make_provider(config_for(server, **config), server.api_key, retry=NO_RETRY, on_learned=hook)
        try:
            if stream:
                return [piece async for piece in provider.stream(CONVERSATION)][-1]
            return await provider.complete(CONVERSATION)
        finally:
            await provider.aclose()
    return asyncio.run(go())


# ---- the table ---------------------------------------------------------------------


@pytest.mark.parametrize("provider,model,reasoning,temperature,thinks", [
    ("anthropic", "claude-fable-5", ADAPTIVE, False, True),
    ("anthropic", "claude-mythos-5-1", ADAPTIVE, False, True),
    ("anthropic", "claude-sonnet-5", ADAPTIVE, False, False),
    ("anthropic", "claude-opus-4-8", ADAPTIVE, False, False),
    ("anthropic", "claude-opus-4-6", ADAPTIVE, True, False),
    ("anthropic", "claude-haiku-4-5-20251001", BUDGET, True, False),
    ("anthropic", "claude-3-5-haiku-latest", NONE, True, False),
    ("anthropic", "claude-someday-9", BUDGET, True, False),  # unknown: what was always sent
    ("openai", "o3-mini", EFFORT, False, True),
    ("openai", "gpt-5-mini", EFFORT, False, True),
    ("openai", "gpt-5.2", EFFORT, True, False),
    ("openai", "gpt-4o", NONE, True, False),
    ("openai", "some-new-model", EFFORT, True, False),
    ("gemini", "gemini-3-pro-preview", LEVEL, True, True),
    ("gemini", "models/gemini-3.1-pro-preview", LEVEL, True, True),
    ("gemini", "gemini-2.5-flash", BUDGET, True, True),
    ("gemini", "gemini-2.0-flash", NONE, True, False),
    ("openai-compatible", "qwen3:8b", EFFORT, True, False),
])
def test_one_table_says_what_each_family_accepts(provider, model, reasoning, temperature, thinks):
    caps = capabilities_for(provider, model)
    assert (caps.reasoning, caps.temperature, caps.thinks_by_default) == (reasoning, temperature, thinks)


def test_a_missing_level_goes_to_the_nearest_rounding_up():
    caps = capabilities_for("gemini", "gemini-3-pro-preview")
    assert [caps.level_for(m) for m in ("low", "medium", "high")] == ["LOW", "HIGH", "HIGH"]


# ---- item 10: this year's models on the first call -----------------------------------


def test_claude_fable_5_reasoning_is_adaptive_without_budget_or_temperature(anthropic_server):
    answer = ask(anthropic_server, model="claude-fable-5", reasoning="high", temperature=0.2)
    body = anthropic_server.last.json
    assert body["thinking"] == {"type": "adaptive"} and body["output_config"] == {"effort": "high"}
    assert "temperature" not in body and len(anthropic_server.requests) == 1
    assert answer.text == answer_for(QUESTION)


def test_claude_fable_5_reasoning_off_still_leaves_room_to_think(anthropic_server):
    ask(anthropic_server, model="claude-fable-5", temperature=0.7)
    body = anthropic_server.last.json
    assert "thinking" not in body and "temperature" not in body  # disabled thinking is refused too
    assert body["max_tokens"] > 4096  # it thinks anyway, inside max_tokens


def test_claude_5_and_opus_4_7_get_no_temperature_even_without_reasoning(anthropic_server):
    for model in ("claude-sonnet-5", "claude-opus-4-7"):
        ask(anthropic_server, model=model, temperature=0.3)
        assert "temperature" not in anthropic_server.last.json
    ask(anthropic_server, model="claude-sonnet-4-6", temperature=0.3)
    assert anthropic_server.last.json["temperature"] == 0.3
    assert len(anthropic_server.requests) == 3  # no refusal, no retry


@pytest.mark.parametrize("model", ["o3", "gpt-5-mini", "gpt-5.2"])
def test_openai_reasoning_models_get_no_temperature_with_an_effort(openai_server, model):
    answer = ask(openai_server, model=model, reasoning="low", temperature=0.2)
    body = openai_server.last.json
    assert body["reasoning_effort"] == "low" and "temperature" not in body
    assert answer.usage.reasoning_tokens == REASONING_TOKENS and len(openai_server.requests) == 1


def test_gpt_5_2_keeps_its_temperature_when_not_reasoning_and_gpt_4o_gets_no_effort(openai_server):
    ask(openai_server, model="gpt-5.2", temperature=0.2)
    assert openai_server.last.json["temperature"] == 0.2
    ask(openai_server, model="gpt-4o", reasoning="high", temperature=0.2)
    assert "reasoning_effort" not in openai_server.last.json and len(openai_server.requests) == 2


@pytest.mark.parametrize("model,sent", [("gemini-3-pro-preview", "HIGH"), ("gemini-3.1-pro-preview", "MEDIUM"),
                                        ("gemini-3-flash", "MEDIUM")])
def test_gemini_3_pro_takes_only_low_and_high(gemini_server, model, sent):
    answer = ask(gemini_server, model=model, reasoning="medium")
    assert gemini_server.last.json["generationConfig"]["thinkingConfig"] == {"thinkingLevel": sent}
    assert answer.text == answer_for(QUESTION) and len(gemini_server.requests) == 1


def test_the_gemini_server_refuses_medium_on_3_pro_as_the_real_api(gemini_server):
    reply = httpx.post(f"{gemini_server.root_url}/v1beta/models/gemini-3-pro-preview:generateContent",
                       headers={"x-goog-api-key": gemini_server.api_key},
                       json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                             "generationConfig": {"thinkingConfig": {"thinkingLevel": "MEDIUM"}}})
    assert reply.status_code == 400
    assert reply.json() == {"error": {"code": 400, "status": "INVALID_ARGUMENT", "details": [], "message":
                            "Thinking level MEDIUM is not supported for this model. Please retry with other "
                            "thinking level."}}


def test_gemini_budget_above_the_output_cap_is_cut_so_an_answer_fits(gemini_server):
    # The server (as Gemini) thinks the whole cap away when the budget is as large as it.
    raw = httpx.post(f"{gemini_server.root_url}/v1beta/models/gemini-2.5-flash:generateContent",
                     headers={"x-goog-api-key": gemini_server.api_key},
                     json={"contents": [{"role": "user", "parts": [{"text": QUESTION}]}], "generationConfig": {
                         "maxOutputTokens": 2000, "thinkingConfig": {"thinkingBudget": 8192}}}).json()
    assert raw["candidates"][0]["finishReason"] == "MAX_TOKENS" and "parts" not in raw["candidates"][0]["content"]
    answer = ask(gemini_server, model="gemini-2.5-flash", reasoning="medium", max_output_tokens=2000)
    generation = gemini_server.last.json["generationConfig"]
    assert generation == {"maxOutputTokens": 2000, "thinkingConfig": {"thinkingBudget": 1000}}
    assert answer.text == answer_for(QUESTION) and answer.finish_reason == "stop"


def test_gemini_cap_below_the_smallest_budget_is_raised_by_it(gemini_server):
    ask(gemini_server, model="gemini-2.5-flash", reasoning="low", max_output_tokens=600)
    generation = gemini_server.last.json["generationConfig"]
    assert generation == {"maxOutputTokens": 1112, "thinkingConfig": {"thinkingBudget": 512}}


# ---- item 11: a refused parameter is left out once, remembered, and told ----------------


def test_openai_refused_temperature_is_resent_without_it_and_remembered(openai_server):
    openai_server.refuses = {"temperature"}
    learned: list = []
    answer = ask(openai_server, lessons=learned, temperature=0.2)
    first, second = openai_server.requests
    assert first.json["temperature"] == 0.2 and "temperature" not in second.json
    assert answer.text == answer_for(QUESTION)
    assert learned == [({"temperature": False}, "openai-loopback (gpt-loopback): takes only its default "
                                                "temperature; sent without it")]
    # The next provider made from the config with what it learned sends no temperature at all.
    ask(openai_server, temperature=0.2, learned=learned[0][0])
    assert "temperature" not in openai_server.last.json and len(openai_server.requests) == 3


def test_openai_refusal_body_is_the_real_one(openai_server):
    openai_server.refuses = {"temperature"}
    reply = httpx.post(f"{openai_server.base_url}/chat/completions",
                       headers={"authorization": f"Bearer {openai_server.api_key}"},
                       json={"model": "gpt-loopback", "temperature": 0.2, "messages": [{"role": "user", "content": "hi"}]})
    assert reply.status_code == 400 and reply.json() == {"error": {
        "message": "Unsupported parameter: 'temperature' is not supported with this model.",
        "type": "invalid_request_error", "param": "temperature", "code": "unsupported_parameter"}}


def test_each_refused_parameter_is_retried_once_then_the_call_works(openai_server):
    openai_server.refuses = {"temperature", "reasoning_effort"}
    learned: list = []
    answer = ask(openai_server, lessons=learned, reasoning="high", temperature=0.2)
    assert [("temperature" in r.json, "reasoning_effort" in r.json) for r in openai_server.requests] == [
        (True, True), (False, True), (False, False)]
    assert [caps for caps, _ in learned] == [{"temperature": False}, {"reasoning": NONE}]
    assert answer.text == answer_for(QUESTION)


def test_anthropic_budget_refused_by_an_unknown_model_becomes_adaptive(anthropic_server):
    anthropic_server.refuses = {"thinking.enabled"}
    learned: list = []
    answer = ask(anthropic_server, lessons=learned, reasoning="medium", stream=True)
    first, second = anthropic_server.requests
    assert first.json["thinking"]["type"] == "enabled"
    assert second.json["thinking"] == {"type": "adaptive"} and second.json["output_config"] == {"effort": "medium"}
    assert learned[0][0] == {"reasoning": ADAPTIVE} and answer.text == answer_for(QUESTION)


def test_two_refusals_of_the_same_setting_do_not_ping_pong(anthropic_server):
    anthropic_server.refuses = {"thinking.enabled", "thinking.adaptive"}
    with pytest.raises(ProviderError) as info:
        ask(anthropic_server, reasoning="low")
    assert info.value.fatal and "adaptive thinking is not supported" in info.value.message
    assert len(anthropic_server.requests) == 2


def test_gemini_refused_level_goes_to_the_nearest_one_left(gemini_server):
    gemini_server.refuses = {"MEDIUM"}
    learned: list = []
    ask(gemini_server, lessons=learned, model="gemini-3-flash", reasoning="medium")
    assert [r.json["generationConfig"]["thinkingConfig"]["thinkingLevel"] for r in gemini_server.requests] == [
        "MEDIUM", "HIGH"]
    assert learned[0][0] == {"levels": ("MINIMAL", "LOW", "HIGH")}


def test_a_400_that_names_no_parameter_is_not_retried(openai_server):
    openai_server.enqueue(openai_server.bad_request("'messages' must contain the word 'json'", "messages"))
    with pytest.raises(ProviderError):
        ask(openai_server, temperature=0.2)
    assert len(openai_server.requests) == 1


# ---- item 12: read timeouts -----------------------------------------------------------


def test_reasoning_calls_wait_600_s_and_plain_ones_120_s(openai_server):
    def client_timeout(**config: Any) -> float:
        provider = make_provider(config_for(openai_server, **config), openai_server.api_key)
        asyncio.run(provider.aclose())
        return provider._client.timeout.read

    assert client_timeout(reasoning="high") == 600
    assert client_timeout(model="gpt-5-mini") == 600  # reasons by default
    assert client_timeout() == 120
    assert client_timeout(reasoning="high", timeout=900) == 900
    assert read_timeout(ModelConfig(name="f", provider="anthropic", model="claude-fable-5")) == 600


def test_a_configured_timeout_is_honoured_over_http(openai_server):
    openai_server.enqueue(openai_server.slow(2.0))
    with pytest.raises(ProviderError) as info:
        ask(openai_server, reasoning="high", timeout=0.3)
    assert info.value.retryable and "no reply within 0.3 s" in info.value.message


def test_calls_in_flight_when_a_refusal_is_learned_are_resent_and_it_is_told_once(openai_server):
    openai_server.refuses = {"temperature"}
    openai_server.latency = 0.2  # all eight are sent before the first refusal comes back
    learned: list = []

    async def go() -> list:
        provider = make_provider(config_for(openai_server, temperature=0.2), openai_server.api_key, retry=NO_RETRY,
                                 on_learned=lambda caps, note: learned.append(caps))
        try:
            return await asyncio.gather(*(provider.complete(CONVERSATION) for _ in range(8)))
        finally:
            await provider.aclose()

    answers = asyncio.run(go())
    assert all(a.text == answer_for(QUESTION) for a in answers)
    assert learned == [{"temperature": False}]
    assert sum("temperature" in r.json for r in openai_server.requests) == 8 and len(openai_server.requests) == 16
