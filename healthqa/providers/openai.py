"""OpenAI Chat Completions, and the local servers that copy it (Ollama,
llama.cpp, vLLM, LM Studio)."""

from __future__ import annotations

import json
import re
from typing import Any

from healthqa.domain import Answer, ImagePart, Message, ReasoningMode, TextPart, Usage

from .base import CONTENT_FILTER, LENGTH, REFUSAL, STOP, Adjustment, ErrorInfo, Provider, StreamState
from .capabilities import NONE
from .errors import ProviderError

_FINISH = {"stop": STOP, "length": LENGTH, "content_filter": CONTENT_FILTER}


def _finish(raw: str | None) -> str | None:
    return _FINISH.get(raw, raw) if raw else None


def _usage(raw: dict | None) -> Usage:
    # completion_tokens already includes reasoning tokens; details may be absent.
    if not raw:
        return Usage()
    details = raw.get("completion_tokens_details") or {}
    # prompt_tokens includes the cached part (billed at the cached price).
    prompt_details = raw.get("prompt_tokens_details") or {}
    return Usage(
        input_tokens=raw.get("prompt_tokens"),
        output_tokens=raw.get("completion_tokens"),
        reasoning_tokens=details.get("reasoning_tokens"),
        cached_input_tokens=prompt_details.get("cached_tokens"),
    )


def _content(message: Message) -> str | list[dict]:
    if isinstance(message.content, str):
        return message.content
    parts: list[dict] = []
    for p in message.content:
        if isinstance(p, TextPart):
            parts.append({"type": "text", "text": p.text})
        elif isinstance(p, ImagePart):
            image: dict[str, str] = {"url": p.image_url.url}
            if p.image_url.detail:
                image["detail"] = p.image_url.detail
            parts.append({"type": "image_url", "image_url": image})
    return parts


def _error_fields(body: Any) -> ErrorInfo:
    # {"error": {...}} from OpenAI, Ollama, llama.cpp, new vLLM; flat {"object":"error",...} from old vLLM.
    error = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(error, str):
        return ErrorInfo(error)
    if not isinstance(error, dict):
        return ErrorInfo("")
    words = [str(error[k]) for k in ("type", "code") if error.get(k) is not None]
    param = error.get("param")
    return ErrorInfo(str(error.get("message") or ""), " ".join(words) or None,
                     param=param if isinstance(param, str) else None)


class _ChatStream(StreamState):
    def __init__(self, model: str, label: str) -> None:
        super().__init__(model)
        self.label = label
        self.refusal: list[str] = []

    def feed(self, event: str | None, data: str) -> str | None:
        if data == "[DONE]":
            self.done = True
            return None
        chunk = json.loads(data)
        if "error" in chunk:  # an error after the 200 header arrives as a data line
            info = _error_fields(chunk)
            raise ProviderError(f"{self.label}: error during the stream: {info.detail}", retryable=True, code=info.code)
        self.response_id = chunk.get("id", self.response_id)
        self.model = chunk.get("model") or self.model
        if chunk.get("usage"):
            self.usage = _usage(chunk["usage"])
        piece = None
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content"):
                piece = delta["content"]
                self.parts.append(piece)
            if delta.get("refusal"):
                self.refusal.append(delta["refusal"])
            if choice.get("finish_reason"):
                self.finish_reason = _finish(choice["finish_reason"])
        return piece

    def answer(self, latency_ms: float) -> Answer:
        if self.refusal and not self.parts:
            self.parts, self.finish_reason = self.refusal, REFUSAL
        return super().answer(latency_ms)


class OpenAIProvider(Provider):
    kind = "openai"
    label = "OpenAI"
    default_base_url = "https://api.openai.com/v1"
    max_tokens_field = "max_completion_tokens"
    # Roles this API accepts as they are; others are mapped to "system".
    native_roles = frozenset({"system", "developer", "user", "assistant"})

    def _auth_headers(self, api_key: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key}"} if api_key else {}

    def _endpoint(self, stream: bool) -> str:
        return f"{self.base_url}/chat/completions"

    def _messages(self, conversation: list[Message]) -> list[dict]:
        out = [{"role": "system", "content": self.config.system_prompt}] if self.config.system_prompt else []
        for m in conversation:
            role = m.role if m.role in self.native_roles else "system"
            out.append({"role": role, "content": _content(m)})
        return out

    def _body(self, conversation: list[Message], *, stream: bool, max_tokens: int | None) -> dict:
        c, caps = self.config, self.caps
        body: dict[str, Any] = {"model": c.model, "messages": self._messages(conversation)}
        # "off" sends nothing, leaving the model's default (non-reasoning models reject the field).
        reasoning = c.reasoning is not ReasoningMode.OFF and caps.reasoning != NONE
        if c.temperature is not None and caps.sends_temperature(reasoning):
            body["temperature"] = c.temperature
        cap = max_tokens or c.max_output_tokens
        if cap:
            body[self.max_tokens_field] = cap
        if reasoning:
            body["reasoning_effort"] = caps.level_for(c.reasoning.value)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def _parse_answer(self, data: Any) -> Answer:
        try:
            choice = data["choices"][0]
            message = choice.get("message") or {}
        except (KeyError, IndexError, TypeError):
            raise ProviderError(f"{self.label}: the reply has no choices", retryable=True) from None
        text, finish = message.get("content"), _finish(choice.get("finish_reason"))
        if not text and message.get("refusal"):
            text, finish = message["refusal"], REFUSAL
        # Local servers put reasoning in message.reasoning / reasoning_content: never part of the answer.
        return Answer(
            text=text or "", model=data.get("model") or self.config.model, finish_reason=finish,
            usage=_usage(data.get("usage")), response_id=data.get("id"),
        )

    def _stream_state(self) -> StreamState:
        return _ChatStream(self.config.model, self.label)

    def _error_info(self, body: Any) -> ErrorInfo:
        return _error_fields(body)

    def _adjustment(self, error: ProviderError, body: dict) -> Adjustment | None:
        # {"param": "temperature", "code": "unsupported_parameter" | "unsupported_value", "message":
        #  "Unsupported parameter: 'temperature' is not supported with this model."}
        named = error.param or ""
        text = error.detail
        if "temperature" in body and (named == "temperature" or "'temperature'" in text):
            # "Unsupported value" while reasoning may be about reasoning (GPT-5.1+ take a temperature
            # without it); "Unsupported parameter" is about the model.
            if "reasoning_effort" in body and "unsupported parameter" not in text.lower():
                return Adjustment({"temperature_with_reasoning": False},
                                  "refuses a temperature while reasoning; sent without it")
            return Adjustment({"temperature": False}, "takes only its default temperature; sent without it")
        if "reasoning_effort" in body and (named == "reasoning_effort" or "reasoning_effort" in text):
            offered = re.findall(r"'([a-z]+)'", text.partition("upported values")[2])
            if offered:
                levels = tuple(v for v in offered if v in ("minimal", "low", "medium", "high", "xhigh", "max"))
                if levels:
                    return Adjustment({"levels": levels}, f"takes reasoning effort {'/'.join(levels)} only; "
                                      f"sent {self.caps.with_learned({'levels': levels}).level_for(self.config.reasoning.value)}")
            return Adjustment({"reasoning": NONE}, "does not take a reasoning effort; sent without it")
        return None

    async def list_models(self) -> list[str]:
        data = await self._get_json(f"{self.base_url}/models")
        return [m["id"] for m in data.get("data", ()) if "id" in m]


class OpenAICompatibleProvider(OpenAIProvider):
    """Ollama, llama.cpp, vLLM, LM Studio: the Chat Completions wire format on a local base URL."""

    kind = "openai-compatible"
    label = "OpenAI-compatible server"
    default_base_url = "http://localhost:11434/v1"
    # Ollama reads only max_tokens; llama.cpp and vLLM accept it too.
    max_tokens_field = "max_tokens"
    native_roles = frozenset({"system", "user", "assistant"})
