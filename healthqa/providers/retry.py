"""How long to wait before trying a failed call again.

The server's own hint wins (`retry-after-ms`, then `Retry-After` as seconds or
an HTTP date, then Gemini's `RetryInfo.retryDelay` in the error body); without
one we back off exponentially with jitter, as the official SDKs do.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class RetryPolicy:
    """max_attempts counts the first try. Backoff before retry k (0-based) is
    min(base_delay * 2**k, max_delay) scaled by a random factor in
    (1 - jitter, 1]. A server wait longer than max_wait is not honoured: the
    call fails at once, so a run can pause instead of hanging for minutes."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.25
    max_wait: float = 120.0

    def backoff(self, retries_done: int) -> float:
        delay = min(self.base_delay * 2**retries_done, self.max_delay)
        return delay * (1 - self.jitter * random.random())

    def delay(self, retries_done: int, server_hint: float | None) -> float:
        if server_hint is not None and server_hint > 0:
            return server_hint
        return self.backoff(retries_done)


NO_RETRY = RetryPolicy(max_attempts=1)


def wait_from_headers(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asked us to wait, from `retry-after-ms` / `Retry-After`."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return float(raw_ms) / 1000.0
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def wait_from_google_details(error: Mapping[str, Any]) -> float | None:
    """Gemini puts the wait in the body: details[] item RetryInfo.retryDelay "37s"."""
    for item in error.get("details") or ():
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            raw = str(item.get("retryDelay", ""))
            if raw.endswith("s"):
                try:
                    return float(raw[:-1])
                except ValueError:
                    return None
    return None
