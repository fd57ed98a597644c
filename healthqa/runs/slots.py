"""Call slots: a run's concurrency shared by jobs whose items make several calls.

Like an asyncio.Semaphore of `concurrency`, but a waiting call with a lower
priority number goes first (first come, first served among equals). A
contemplating run gives each question's calls the question's start order, so
a question that has begun (its remaining drafts, then its synthesis) finishes
before later questions take the slots: its latency is its own calls, not the
queue behind every other question's drafts, and the slots stay just as busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from typing import AsyncIterator


class CallSlots:
    def __init__(self, slots: int) -> None:
        self.free = slots
        self._waiting: list[tuple[int, int, asyncio.Future]] = []
        self._arrival = itertools.count()

    @contextlib.asynccontextmanager
    async def take(self, priority: int = 0) -> AsyncIterator[None]:
        """Hold one slot for the block; lower `priority` numbers are served first."""
        if self.free > 0 and not self._waiting:
            self.free -= 1
        else:
            future = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (priority, next(self._arrival), future))
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self._release()  # handed a slot just as we were cancelled: pass it on
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiting:
            _, _, future = heapq.heappop(self._waiting)
            if not future.done():  # a waiter cancelled meanwhile is skipped
                future.set_result(None)
                return
        self.free += 1
