"""The one exception every provider raises, and the rules that fill it in.

Callers (the run engine, the app) only need three answers from a failure:
may I try again (`retryable`), must I stop the whole run (`fatal`), and what
do I tell the user (`message`). Provider adapters classify their error bodies
into this shape; nothing else leaks out (no httpx exceptions, no API keys).
"""

from __future__ import annotations

import base64

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
        self.detail = ""  # the server's own words (HTTP errors), for adapters to read
        self.param: str | None = None  # the request field the server named, if it did

    def __repr__(self) -> str:
        return (
            f"ProviderError({self.message!r}, status={self.status}, "
            f"retryable={self.retryable}, fatal={self.fatal})"
        )


# A run of this many characters of the key (or of one of its encodings) counts
# as the key: a random 12-character run never turns up by chance, and a server
# that echoes a slice of a key has leaked enough of it to matter. A shorter
# key must appear whole.
KEY_RUN = 12
# Shorter "keys" are placeholders, not secrets (local servers take any word): answers keep their words.
MIN_SECRET_CHARS = 8
REDACTED = "[redacted]"


def redact(text: str, secret: str | None) -> str:
    """`text` with every form of the key removed (see Redactor); for one-off use."""
    return Redactor(secret)(text)


class Redactor:
    """The one redaction, for error messages and for answers alike, prepared
    once per key (a provider makes one and passes every text through it).

    Masked: each whitespace-delimited word that holds
    * a run of KEY_RUN characters of the key (the whole key if shorter);
    * the same of the key in base64 at any alignment, which covers an echoed
      `Authorization: Bearer KEY` or basic-auth `user:KEY` header, whatever
      stands before or after the key;
    * the key's first 8 or last 6 characters, for keys of 12 or more: servers
      echo keys half-masked ("Incorrect API key provided: sk-abc*****wxyz").
    Searching is by plain substring for a few anchors (no regular
    expression), so a long answer costs a few fast scans.
    """

    def __init__(self, secret: str | None) -> None:
        # (anchor, the form it comes from, where in the form, the run length that counts)
        self._anchors: list[tuple[str, str, int, int]] = []
        if not secret:
            return
        # A placeholder's encodings are a few common letters: only the word itself is masked.
        for form in _key_forms(secret) if len(secret) >= MIN_SECRET_CHARS else [secret]:
            run = min(len(form), KEY_RUN)
            # Every run of `run` characters of the form holds one of these
            # blocks: `size` characters every `run - size + 1`.
            size = min(run, 8)
            for start in range(0, len(form) - size + 1, run - size + 1):
                self._anchors.append((form[start:start + size], form, start, run))
        if len(secret) >= 12:
            for piece in (secret[:8], secret[-6:]):  # counts on its own: a run of its own length
                self._anchors.append((piece, piece, 0, len(piece)))

    def __repr__(self) -> str:  # never the key
        return "<Redactor>"

    def __call__(self, text: str) -> str:
        if not text or not self._anchors:
            return text
        spans: list[tuple[int, int]] = []
        for anchor, form, start, run in self._anchors:
            at = text.find(anchor)
            while at != -1:
                spans += _extend(text, at, form, start, len(anchor), run)
                at = text.find(anchor, at + 1)
        return _mask_words(text, spans) if spans else text


def _key_forms(secret: str) -> list[str]:
    """The key as written, and the part of its base64 that only the key decides, at each of
    base64's three alignments (standard and URL-safe alphabets)."""
    raw = secret.encode()
    forms = [secret]
    for offset in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * offset + raw).decode().rstrip("=")
            first = -(-8 * offset // 6)  # the first character with no bits of what came before
            last = 8 * (offset + len(raw)) // 6  # characters from here on share bits with what follows
            core = encoded[first:last]
            if core and core not in forms:
                forms.append(core)
    return forms


def _extend(text: str, at: int, form: str, start: int, size: int, run: int) -> list[tuple[int, int]]:
    """The span around an anchor found at `at`, grown both ways while text and form agree,
    if it reaches `run` characters."""
    left = 0
    while at - left > 0 and start - left > 0 and text[at - left - 1] == form[start - left - 1]:
        left += 1
    right = size
    while at + right < len(text) and start + right < len(form) and text[at + right] == form[start + right]:
        right += 1
    return [(at - left, at + right)] if left + right >= run else []


def _mask_words(text: str, spans: list[tuple[int, int]]) -> str:
    """Replace each word touching a span (whitespace-delimited, so a half-masked
    echo goes entirely) with REDACTED."""
    out, done = [], 0
    for begin, end in sorted(spans):
        if end <= done:
            continue
        begin = max(begin, done)
        while begin > done and not text[begin - 1].isspace():
            begin -= 1
        while end < len(text) and not text[end].isspace():
            end += 1
        out += [text[done:begin], REDACTED]
        done = end
    out.append(text[done:])
    return "".join(out)


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
    redirect_to: str | None = None,
    base_url: str | None = None,
) -> ProviderError:
    """Turn an HTTP error status plus the server's own words into a ProviderError.

    `detail` is the server's message, `code` its error type/code joined into one
    lowercase string (for marker matching), `key_hint` says where the key came
    from so the message can say what to fix, `bad_key` flags an auth failure
    the provider reports with another status. A redirect (`redirect_to`: its
    Location) means the base URL points at the wrong place: API clients do
    not follow redirects, since the POST body and the key would not survive them.
    """
    code_l, detail_l = (code or "").lower(), detail.lower()
    prefix = f"{provider_label} HTTP {status}"
    if 300 <= status < 400:
        where = f" to {redirect_to}" if redirect_to else ""
        url = f" ({base_url})" if base_url else ""
        return ProviderError(
            f"{prefix}: the server redirected the request{where} — check the base URL{url} in the model "
            "config (https rather than http? the API path, such as /v1?)",
            status=status, fatal=True, code=code,
        )
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
