"""Anthropic Messages API (POST /v1/messages)."""

from __future__ import annotations

import json
from typing import Any

from healthqa.domain import Answer, ImagePart, Message, ModelConfig, ReasoningMode, TextPart, Usage

from .base import LENGTH, REFUSAL, STOP, Adjustment, ErrorInfo, Provider, StreamState
from .capabilities import ADAPTIVE, BUDGET, NONE, Capabilities, capabilities_for
from .errors import ProviderError
from .wire import split_data_url

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096  # max_tokens is required; 4096 fits every Claude model
# Thinking budgets per reasoning mode (the API's minimum is 1024).
THINKING_BUDGET = {ReasoningMode.LOW: 1024, ReasoningMode.MEDIUM: 4096, ReasoningMode.HIGH: 16384}
MIN_BUDGET = 1024
# Error types that mean "try again later" when they arrive inside a stream.
TRANSIENT_TYPES = frozenset({"overloaded_error", "api_error", "rate_limit_error", "timeout_error"})

_FINISH = {
    "end_turn": STOP, "stop_sequence": STOP, "max_tokens": LENGTH,
    "model_context_window_exceeded": LENGTH, "refusal": REFUSAL,
}


def _finish(raw: str | None) -> str | None:
    return _FINISH.get(raw, raw) if raw else None


def _usage(raw: dict | None) -> Usage:
    # Total input = fresh + cache writes + cache reads; output includes thinking.
    if not raw:
        return Usage()
    inputs = [raw.get(k) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")]
    details = raw.get("output_tokens_details") or {}
    return Usage(
        input_tokens=sum(n for n in inputs if n) if inputs[0] is not None else None,
        output_tokens=raw.get("output_tokens"),
        reasoning_tokens=details.get("thinking_tokens"),
        cached_input_tokens=inputs[2], cache_write_tokens=inputs[1],
    )


def _blocks(message: Message) -> str | list[dict]:
    if isinstance(message.content, str):
        return message.content
    blocks: list[dict] = []
    for p in message.content:
        if isinstance(p, TextPart):
            blocks.append({"type": "text", "text": p.text})
        elif isinstance(p, ImagePart):
            media_type, data = split_data_url(p.image_url.url)
            blocks.append({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}})
    return blocks


def _error_fields(body: Any) -> ErrorInfo:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ErrorInfo("")
    words = [str(error.get("type") or "")]
    details = error.get("details")
    if isinstance(details, dict) and details.get("error_code"):
        words.append(str(details["error_code"]))  # e.g. enforced_spend_limit_reached
    return ErrorInfo(str(error.get("message") or ""), " ".join(w for w in words if w) or None)


def thinking_plan(config: ModelConfig, caps: Capabilities | None = None) -> tuple[int, int | None]:
    """(max_tokens, thinking budget or None) for a config.

    Thinking tokens count against max_tokens and the budget must be at least
    1024 and below max_tokens, so a small configured cap shrinks the budget.
    Adaptive thinking has no budget, but still needs the room.
    """
    caps = caps or capabilities_for("anthropic", config.model).with_learned(config.learned)
    budget = THINKING_BUDGET.get(config.reasoning) if caps.reasoning != NONE else None
    if budget is None or caps.reasoning != BUDGET:
        room = budget or (THINKING_BUDGET[ReasoningMode.MEDIUM] if caps.thinks_by_default else 0)
        return config.max_output_tokens or room + DEFAULT_MAX_TOKENS, None
    max_tokens = config.max_output_tokens or budget + DEFAULT_MAX_TOKENS
    if budget >= max_tokens:
        budget = max(MIN_BUDGET, max_tokens // 2)
    if budget >= max_tokens:
        raise ProviderError(
            f"Anthropic: max output tokens ({max_tokens}) must be above {MIN_BUDGET} "
            f"to use reasoning; raise it or turn reasoning off for {config.name!r}",
            fatal=True,
        )
    return max_tokens, budget


class _MessagesStream(StreamState):
    def __init__(self, model: str) -> None:
        super().__init__(model)
        self.raw_usage: dict = {}

    def feed(self, event: str | None, data: str) -> str | None:
        payload = json.loads(data)
        kind = payload.get("type", event)
        if kind == "content_block_delta":
            delta = payload.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                self.parts.append(delta["text"])
                return delta["text"]
        elif kind == "message_start":
            message = payload.get("message") or {}
            self.response_id = message.get("id")
            self.model = message.get("model") or self.model
            self.raw_usage.update(message.get("usage") or {})
        elif kind == "message_delta":
            # usage here is cumulative: it replaces what message_start said.
            self.raw_usage.update(payload.get("usage") or {})
            self.finish_reason = _finish((payload.get("delta") or {}).get("stop_reason"))
        elif kind == "message_stop":
            self.done = True
            self.usage = _usage(self.raw_usage)
        elif kind == "error":
            info = _error_fields(payload)
            raise ProviderError(f"Anthropic: error during the stream: {info.detail}",
                                retryable=(info.code or "") in TRANSIENT_TYPES, code=info.code)
        return None


class AnthropicProvider(Provider):
    kind = "anthropic"
    label = "Anthropic"
    default_base_url = "https://api.anthropic.com"

    def __init__(self, config: ModelConfig, api_key: str | None, **kwargs: Any) -> None:
        thinking_plan(config)  # fail early on a config that cannot work
        super().__init__(config, api_key, **kwargs)

    def _auth_headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION}
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    def _endpoint(self, stream: bool) -> str:
        return f"{self.base_url}/v1/messages"

    def _body(self, conversation: list[Message], *, stream: bool, max_tokens: int | None) -> dict:
        c, caps = self.config, self.caps
        plan_max, budget = thinking_plan(c, caps)  # capabilities may have changed since the last call
        body: dict[str, Any] = {
            "model": c.model,
            "max_tokens": max_tokens or plan_max,
            # The API has no system role: system and developer turns go to the top-level field.
            "messages": [{"role": m.role, "content": _blocks(m)} for m in conversation
                         if m.role in ("user", "assistant")],
        }
        system = self._system_text(conversation)
        if system:
            body["system"] = system
        # A test call (max_tokens given) is too small to think in.
        thinking = c.reasoning is not ReasoningMode.OFF and caps.reasoning != NONE and max_tokens is None
        if thinking and budget is not None:
            body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        elif thinking:
            body["thinking"] = {"type": "adaptive"}
            body["output_config"] = {"effort": caps.level_for(c.reasoning.value)}
        if c.temperature is not None and caps.sends_temperature(thinking or caps.thinks_by_default):
            body["temperature"] = c.temperature
        if stream:
            body["stream"] = True
        return body

    def _parse_answer(self, data: Any) -> Answer:
        if not isinstance(data, dict) or not isinstance(data.get("content"), list):
            raise ProviderError("Anthropic: the reply has no content", retryable=True)
        # Thinking and redacted_thinking blocks are not part of the answer.
        text = "".join(b.get("text", "") for b in data["content"] if b.get("type") == "text")
        return Answer(
            text=text, model=data.get("model") or self.config.model,
            finish_reason=_finish(data.get("stop_reason")), usage=_usage(data.get("usage")),
            response_id=data.get("id"),
        )

    def _stream_state(self) -> StreamState:
        return _MessagesStream(self.config.model)

    def _error_info(self, body: Any) -> ErrorInfo:
        return _error_fields(body)

    def _adjustment(self, error: ProviderError, body: dict) -> Adjustment | None:
        # Anthropic names the field only in its message, e.g. "`temperature` is deprecated
        # for this model." or "\"thinking.type.enabled\" is not supported for this model. Use
        # \"thinking.type.adaptive\" and \"output_config.effort\" to control thinking behavior."
        text = error.detail.lower()
        thinking = (body.get("thinking") or {}).get("type")
        if "temperature" in body and "temperature" in text:
            return Adjustment({"temperature": False}, "does not take a temperature; sent without it")
        if thinking == "enabled" and ("thinking.type.enabled" in text or "budget_tokens" in text):
            return Adjustment({"reasoning": ADAPTIVE}, "thinks adaptively; sent thinking {type: adaptive} "
                              "with an effort level instead of a thinking budget")
        if thinking == "adaptive" and "adaptive" in text:
            return Adjustment({"reasoning": BUDGET}, "does not think adaptively; sent a thinking budget instead")
        if thinking and "thinking" in text and ("not supported" in text or "extra inputs" in text):
            return Adjustment({"reasoning": NONE}, "does not reason; sent without thinking")
        return None

    async def list_models(self) -> list[str]:
        ids: list[str] = []
        params: dict[str, Any] = {"limit": 1000}
        while True:
            data = await self._get_json(f"{self.base_url}/v1/models", params)
            ids += [m["id"] for m in data.get("data", ()) if "id" in m]
            if not data.get("has_more") or not data.get("last_id"):
                return ids
            params["after_id"] = data["last_id"]
