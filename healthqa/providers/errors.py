"""The one exception every provider raises, and the rules that fill it in.

Callers (the run engine, the app) only need three answers from a failure:
may I try again (`retryable`), must I stop the whole run (`fatal`), and what
do I tell the user (`message`). Provider adapters classify their error bodies
into this shape; nothing else leaks out (no httpx exceptions, no API keys).
"""

from __future__ import annotations

import re

from healthqa.errors import HealthQAError

# HTTP statuses that may succeed on a later try (the official SDKs' list).
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})

# Error types/codes that mean billing, a spending cap or a used-up daily quota:
# retrying cannot help. Matched against the error code/type only, because
# Gemini's ordinary per-minute 429 message also mentions "billing details".
BILLING_CODES = (
    "insufficient_quota",
    "credit_balance",
    "spend_limit",
    "billing",
    "perday",
)
# Phrases in the message itself that mean the same (Anthropic reports its
# spend limits and empty credit as a plain 400 invalid_request_error).
BILLING_PHRASES = ("credit balance is too low", "spend limit", "spending limit")

# Signs that a single request is too big: an item-level failure, not a reason
# to stop a whole run.
TOO_LONG_MARKERS = (
    "context_length_exceeded",
    "exceed_context_size",
    "prompt is too long",
    "input token count",
    "maximum context length",
    "request_too_large",
)


class ProviderError(HealthQAError):
    """A failed provider call, already classified.

    fatal: stop the whole run, the user must fix something (key, quota, a bad
    setting). retryable: a later attempt may succeed. retry_after: the wait
    the server asked for, in seconds, if it said. The message never holds the
    API key (adapters pass every text through `redact`).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        fatal: bool = False,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.fatal = fatal
        self.retry_after = retry_after
        self.code = code

    def __repr__(self) -> str:
        return (
            f"ProviderError({self.message!r}, status={self.status}, "
            f"retryable={self.retryable}, fatal={self.fatal})"
        )


def redact(text: str, secret: str | None) -> str:
    """`text` with the key and anything that looks like a piece of it removed.

    Servers echo keys back in partly masked form ("Incorrect API key provided:
    sk-abc*****wxyz"), so any word sharing the key's first 8 or last 6
    characters is masked as well, not only the exact key.
    """
    if not secret:
        return text
    text = text.replace(secret, "[redacted]")
    if len(secret) < 12:
        return text
    head, tail = re.escape(secret[:8]), re.escape(secret[-6:])
    return re.sub(rf"\S*(?:{head}|{tail})\S*", "[redacted]", text)


def classify_status(
    status: int,
    *,
    provider_label: str,
    detail: str,
    code: str | None,
    key_hint: str,
    retry_after: float | None = None,
    should_retry: bool | None = None,
    bad_key: bool = False,
) -> ProviderError:
    """Turn an HTTP error status plus the server's own words into a ProviderError.

    `detail` is the server's message, `code` its error type/code joined into one
    lowercase string (for marker matching), `key_hint` says where the key came
    from so the message can say what to fix, `bad_key` flags an auth failure
    the provider reports with another status.
    """
    code_l, detail_l = (code or "").lower(), detail.lower()
    prefix = f"{provider_label} HTTP {status}"
    if any(m in code_l for m in BILLING_CODES) or any(p in detail_l for p in BILLING_PHRASES):
        return ProviderError(
            f"{prefix}: billing, quota or spending limit reached — add credit or raise the "
            f"limit in the provider's console, then resume. Server said: {detail}",
            status=status, fatal=True, code=code,
        )
    if status in (401, 403) or bad_key:  # Gemini answers a bad key with 400
        what = "refused access" if status == 403 else "rejected the API key"
        return ProviderError(
            f"{prefix}: {provider_label} {what}; check {key_hint}. Server said: {detail}",
            status=status, fatal=True, code=code,
        )
    if status == 404:
        return ProviderError(
            f"{prefix}: not found — check the model name and base URL. Server said: {detail}",
            status=status, fatal=True, code=code,
        )
    if status == 413 or any(m in f"{code_l} {detail_l}" for m in TOO_LONG_MARKERS):
        # This one conversation is too long for the model; others may be fine.
        return ProviderError(
            f"{prefix}: the request is too long for this model. Server said: {detail}",
            status=status, code=code,
        )
    transient = status in RETRYABLE_STATUSES or status >= 500
    if should_retry is not None:  # the server's x-should-retry header wins
        transient = transient or should_retry
    if transient:
        return ProviderError(
            f"{prefix}: temporary failure. Server said: {detail}",
            status=status, retryable=should_retry is not False,
            retry_after=retry_after, code=code,
        )
    if 400 <= status < 500:
        return ProviderError(
            f"{prefix}: the request was refused — check the model settings "
            f"(reasoning, temperature, max output tokens). Server said: {detail}",
            status=status, fatal=True, code=code,
        )
    return ProviderError(f"{prefix}: {detail}", status=status, code=code)
