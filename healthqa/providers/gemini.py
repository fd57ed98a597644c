"""Google Gemini generateContent (POST /v1beta/models/{model}:generateContent)."""

from __future__ import annotations

import json
import re
from typing import Any

from healthqa.domain import Answer, ImagePart, Message, ReasoningMode, TextPart, Usage

from .base import CONTENT_FILTER, LENGTH, STOP, Adjustment, ErrorInfo, Provider, StreamState
from .capabilities import BUDGET, LEVEL, NONE, Capabilities, capabilities_for
from .errors import ProviderError
from .retry import wait_from_google_details
from .wire import split_data_url

API_VERSION = "v1beta"
# thinkingBudget per reasoning mode; "off" sends no thinkingConfig (the model's default),
# since models without thinking reject the field and some thinking models reject 0.
THINKING_BUDGET = {ReasoningMode.LOW: 1024, ReasoningMode.MEDIUM: 8192, ReasoningMode.HIGH: 24576}
# The smallest budget every budget model takes (2.5 Flash-Lite's floor).
MIN_BUDGET = 512
_REFUSED_LEVEL = re.compile(r"thinking[ _]level (minimal|low|medium|high) is not supported", re.IGNORECASE)
ALL_LEVELS = ("MINIMAL", "LOW", "MEDIUM", "HIGH")


def thinking_plan(model_id: str, mode: ReasoningMode, cap: int | None,
                  caps: Capabilities | None = None) -> tuple[dict | None, int | None]:
    """(thinkingConfig or None, maxOutputTokens) for a reasoning mode and output cap.

    Gemini 3 takes a thinking level, earlier models a budget (never both: 400).
    Thinking tokens count in maxOutputTokens, so a budget as large as the cap
    leaves nothing for the answer (an empty reply, MAX_TOKENS): the budget is
    cut to half the cap, and a cap too small even for the smallest budget is
    raised by that budget.
    """
    caps = caps or capabilities_for("gemini", model_id)
    if mode not in THINKING_BUDGET or caps.reasoning == NONE:
        return None, cap
    if caps.reasoning == LEVEL:
        return {"thinkingLevel": caps.with_learned({"levels": caps.levels or ALL_LEVELS}).level_for(mode.value)
                .upper()}, cap
    budget = THINKING_BUDGET[mode]
    if cap is not None and budget >= cap:
        budget = cap // 2
        if budget < MIN_BUDGET:
            budget, cap = MIN_BUDGET, cap + MIN_BUDGET
    return {"thinkingBudget": budget}, cap
# Candidates stopped by a safety or policy filter: answered, not failed.
FILTERED = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE"})


def _finish(raw: str | None) -> str | None:
    if not raw:
        return None
    if raw == "STOP":
        return STOP
    if raw == "MAX_TOKENS":
        return LENGTH
    return CONTENT_FILTER if raw in FILTERED else raw.lower()


def _usage(raw: dict | None) -> Usage:
    # candidatesTokenCount excludes thoughts; we report output including them,
    # as OpenAI and Anthropic do (and as Google bills).
    if not raw:
        return Usage()
    visible, thoughts = raw.get("candidatesTokenCount"), raw.get("thoughtsTokenCount")
    output = None if visible is None and thoughts is None else (visible or 0) + (thoughts or 0)
    # promptTokenCount includes the cached part.
    return Usage(input_tokens=raw.get("promptTokenCount"), output_tokens=output, reasoning_tokens=thoughts,
                 cached_input_tokens=raw.get("cachedContentTokenCount"))


def _parts(message: Message) -> list[dict]:
    if isinstance(message.content, str):
        return [{"text": message.content}]
    parts: list[dict] = []
    for p in message.content:
        if isinstance(p, TextPart):
            parts.append({"text": p.text})
        elif isinstance(p, ImagePart):
            media_type, data = split_data_url(p.image_url.url)
            parts.append({"inlineData": {"mimeType": media_type, "data": data}})
    return parts


def _visible_text(candidate: dict) -> str:
    # Parts flagged thought:true are the model's reasoning summary, not its answer.
    parts = (candidate.get("content") or {}).get("parts") or ()
    return "".join(p.get("text", "") for p in parts if not p.get("thought"))


def _read(data: dict) -> tuple[str, str | None]:
    """(answer text, finish reason) from one generateContent response or chunk."""
    candidates = data.get("candidates") or ()
    if not candidates:
        # The prompt itself was blocked: HTTP 200, no candidates. A refusal, not a failure.
        block = (data.get("promptFeedback") or {}).get("blockReason")
        return "", CONTENT_FILTER if block else None
    return _visible_text(candidates[0]), _finish(candidates[0].get("finishReason"))


def _error_fields(body: Any) -> ErrorInfo:
    if isinstance(body, list) and body:  # some streaming errors come wrapped in an array
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ErrorInfo("")
    words = [str(error.get("status") or "")]
    for item in error.get("details") or ():
        if isinstance(item, dict):
            words.append(str(item.get("reason") or ""))
            # Per-day quotas do not clear by retrying; the quota id says which kind it was.
            words += [str(v.get("quotaId") or "") for v in item.get("violations") or () if isinstance(v, dict)]
    code = " ".join(w for w in words if w) or None
    return ErrorInfo(
        str(error.get("message") or ""), code, wait_from_google_details(error),
        bad_key="API_KEY_INVALID" in (code or ""),
    )


class _GeminiStream(StreamState):
    def __init__(self, model: str, label: str) -> None:
        super().__init__(model)
        self.label = label

    @property
    def complete(self) -> bool:
        # No terminator event: the stream is whole when a finish reason arrived
        # (or the prompt was blocked, which ends the stream with no candidates).
        return self.finish_reason is not None

    def feed(self, event: str | None, data: str) -> str | None:
        chunk = json.loads(data)
        if isinstance(chunk, list) or "error" in chunk:
            info = _error_fields(chunk)
            raise ProviderError(f"{self.label}: error during the stream: {info.detail}", retryable=True, code=info.code)
        text, finish = _read(chunk)
        self.finish_reason = finish or self.finish_reason
        self.response_id = chunk.get("responseId", self.response_id)
        self.model = chunk.get("modelVersion") or self.model
        if chunk.get("usageMetadata"):  # later chunks carry running totals
            self.usage = _usage(chunk["usageMetadata"])
        if text:
            self.parts.append(text)
        return text or None


class GeminiProvider(Provider):
    kind = "gemini"
    label = "Gemini"
    default_base_url = "https://generativelanguage.googleapis.com"

    @property
    def _model_path(self) -> str:
        model = self.config.model
        return model if model.startswith("models/") else f"models/{model}"

    def _auth_headers(self, api_key: str | None) -> dict[str, str]:
        return {"x-goog-api-key": api_key} if api_key else {}

    def _endpoint(self, stream: bool) -> str:
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{self.base_url}/{API_VERSION}/{self._model_path}:{method}"

    def _body(self, conversation: list[Message], *, stream: bool, max_tokens: int | None) -> dict:
        c = self.config
        body: dict[str, Any] = {
            "contents": [
                {"role": "model" if m.role == "assistant" else "user", "parts": _parts(m)}
                for m in conversation if m.role in ("user", "assistant")
            ]
        }
        system = self._system_text(conversation)
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        generation: dict[str, Any] = {}
        reasoning = c.reasoning is not ReasoningMode.OFF and self.caps.reasoning != NONE
        if c.temperature is not None and self.caps.sends_temperature(reasoning):
            generation["temperature"] = c.temperature
        thinking, cap = thinking_plan(c.model, c.reasoning, max_tokens or c.max_output_tokens, self.caps)
        if cap:
            generation["maxOutputTokens"] = cap
        if thinking is not None:
            generation["thinkingConfig"] = thinking
        if generation:
            body["generationConfig"] = generation
        return body

    def _parse_answer(self, data: Any) -> Answer:
        if not isinstance(data, dict):
            raise ProviderError("Gemini: the reply is not a JSON object", retryable=True)
        text, finish = _read(data)
        if finish is None and not text:
            raise ProviderError("Gemini: the reply has no candidates", retryable=True)
        return Answer(
            text=text, model=data.get("modelVersion") or self.config.model, finish_reason=finish,
            usage=_usage(data.get("usageMetadata")), response_id=data.get("responseId"),
        )

    def _stream_state(self) -> StreamState:
        return _GeminiStream(self.config.model, self.label)

    def _error_info(self, body: Any) -> ErrorInfo:
        return _error_fields(body)

    def _adjustment(self, error: ProviderError, body: dict) -> Adjustment | None:
        # e.g. "Thinking level MEDIUM is not supported for this model. Please retry with other
        # thinking level." (INVALID_ARGUMENT); the field is named only in the message.
        text = error.detail
        generation = body.get("generationConfig") or {}
        thinking = generation.get("thinkingConfig") or {}
        if "temperature" in generation and "temperature" in text.lower():
            return Adjustment({"temperature": False}, "does not take a temperature; sent without it")
        refused = _REFUSED_LEVEL.search(text)
        if "thinkingLevel" in thinking and refused:
            levels = tuple(v for v in (self.caps.levels or ALL_LEVELS) if v != refused.group(1).upper())
            if levels:
                sent = self.caps.with_learned({"levels": levels}).level_for(self.config.reasoning.value).upper()
                return Adjustment({"levels": levels}, f"does not take thinking level {refused.group(1).upper()}; "
                                  f"sent {sent}")
        lowered = text.lower()
        if "thinkingLevel" in thinking and ("thinking_level" in lowered or "thinking level" in lowered):
            return Adjustment({"reasoning": BUDGET}, "takes a thinking budget, not a level; sent a budget")
        if thinking and "thinking" in lowered and ("not supported" in lowered or "not enabled" in lowered):
            return Adjustment({"reasoning": NONE}, "does not reason; sent without a thinking config")
        return None

    async def list_models(self) -> list[str]:
        ids: list[str] = []
        params: dict[str, Any] = {"pageSize": 1000}
        while True:
            data = await self._get_json(f"{self.base_url}/{API_VERSION}/models", params)
            for m in data.get("models", ()):
                if "generateContent" in m.get("supportedGenerationMethods", ("generateContent",)):
                    ids.append(m["name"].removeprefix("models/"))
            if not data.get("nextPageToken"):
                return ids
            params["pageToken"] = data["nextPageToken"]
