"""A requests-per-minute limiter for asyncio callers.

Requests are spaced evenly (one slot every 60/rpm seconds) rather than let
through in bursts, because provider limits are enforced over short windows
and a burst of 32 at the start of a run is what trips them.
"""

from __future__ import annotations

import asyncio
import time


class RateLimiter:
    """`await limiter.acquire()` (or `async with limiter:`) before each request.

    Safe to share between the tasks of one event loop. `burst` lets the first
    few requests through at once (default 1: strictly spaced).
    """

    def __init__(self, requests_per_minute: float, *, burst: int = 1) -> None:
        if requests_per_minute <= 0:
            raise ValueError("requests_per_minute must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.interval = 60.0 / requests_per_minute
        self._burst = burst
        self._next_free = time.monotonic() - self.interval * (burst - 1)

    async def acquire(self) -> None:
        now = time.monotonic()
        # Unused capacity does not pile up beyond `burst` slots.
        slot = max(self._next_free, now - self.interval * (self._burst - 1))
        self._next_free = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)

    async def __aenter__(self) -> "RateLimiter":
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None
