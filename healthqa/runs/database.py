"""The database thread of a run: every SQLite call of a run goes through one thread, and results
are committed in batches (each result with its "done" mark), so the event loop never waits on the disk."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from typing import Any, Callable

from ..domain import Usage
from ..store import Workspace, now
from .jobs import WorkItem
from .queries import _error_counts, item_counts
from .status import DONE, FAILED, INCOMPLETE, RunSummary

BATCH_SIZE = 256  # work items read per query; also the most results committed at once


def _mark_done(ws: Workspace, item: WorkItem) -> None:
    ws.conn.execute("UPDATE work_items SET status = 'done', attempts = attempts + 1, error = NULL, updated_at = ? "
                    "WHERE id = ?", (now(), item.id))


def _mark_failed(ws: Workspace, item: WorkItem, error: str) -> None:
    ws.conn.execute("UPDATE work_items SET status = 'failed', attempts = attempts + 1, error = ?, updated_at = ? "
                    "WHERE id = ?", (error, now(), item.id))


def set_run_status(ws: Workspace, run_id: str, status: str) -> None:
    with ws.transaction({"runs"}) as conn:
        conn.execute("UPDATE runs SET status = ?, finished_at = NULL WHERE id = ?", (status, run_id))


def end_session(ws: Workspace, run_id: str, kind: str, *, stopped: tuple[str | None, str | None], tokens: Usage,
                cost: float | None, previous: dict | None, session: float, calls: int, notices: list[str],
                cost_basis: str | None = None) -> RunSummary:
    """How this session of a run ended, stored: the whole run's counts (read now) with this
    session's figures; `stopped` is (status, message) when something stopped it early."""
    counts, errors = item_counts(ws, run_id), _error_counts(ws, run_id)
    status, message = stopped
    status = status or (DONE if counts["pending"] + counts["failed"] == 0 else INCOMPLETE)
    summary = RunSummary(
        run_id=run_id, kind=kind, status=status, total=counts["total"], done=counts["done"],
        failed=counts["failed"], pending=counts["pending"], input_tokens=tokens.input_tokens or 0,
        output_tokens=tokens.output_tokens or 0, reasoning_tokens=tokens.reasoning_tokens or 0,
        cached_input_tokens=tokens.cached_input_tokens or 0, cost=cost,
        elapsed=(previous or {}).get("elapsed", 0.0) + session, session_elapsed=session, calls=calls,
        message=message if status == FAILED else None, errors=errors, notices=list(notices), cost_basis=cost_basis)
    store_run_summary(ws, run_id, summary)
    return summary


def store_run_summary(ws: Workspace, run_id: str, summary: RunSummary) -> None:
    """How a session of the run ended; the process no longer owns the run."""
    with ws.transaction({"runs"}) as conn:
        conn.execute("UPDATE runs SET status = ?, summary = ?, finished_at = ?, "
                     "settings = json_remove(settings, '$.owner') WHERE id = ?",
                     (summary.status, json.dumps(summary.as_dict()), now(), run_id))


class _BatchWriter:
    """Commits results on the database thread, as many per transaction as
    have queued up (at most BATCH_SIZE). `submit` returns once its result is
    committed, i.e. durable."""

    TABLES = {"work_items", "answers", "answer_drafts", "grades"}

    def __init__(self, ws: Workspace, db: "_Database") -> None:
        self.ws, self.db = ws, db
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def submit(self, op: Callable[[Workspace], None]) -> None:
        future = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((op, future))
        # If the submitting worker is cancelled meanwhile, the write still lands.
        await asyncio.shield(future)

    async def close(self) -> None:
        """Commit everything submitted so far, then stop."""
        self.queue.put_nowait(None)
        if self.task is not None:
            await self.task

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self.queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < BATCH_SIZE and not self.queue.empty():
                entry = self.queue.get_nowait()
                if entry is None:
                    stopping = True
                    break
                batch.append(entry)
            errors = await self.db.call(self._commit, [op for op, _ in batch])
            for (_, future), error in zip(batch, errors):
                if future.done():
                    continue
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

    def _commit(self, ops: list[Callable[[Workspace], None]]) -> list[BaseException | None]:
        try:
            with self.ws.transaction(self.TABLES):
                for op in ops:
                    op(self.ws)
            return [None] * len(ops)
        except Exception as exc:
            if len(ops) == 1:
                return [exc]
        # One bad result must not lose the others: commit them one by one.
        errors: list[BaseException | None] = []
        for op in ops:
            try:
                with self.ws.transaction(self.TABLES):
                    op(self.ws)
                errors.append(None)
            except Exception as exc:  # handed to the worker that submitted it
                errors.append(exc)
        return errors


class _Database:
    """One thread for every SQLite call of a run, so the event loop never waits on the disk."""

    def __init__(self) -> None:
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="healthqa-run-db")

    async def call(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, lambda: fn(*args, **kwargs))

    def close(self) -> None:
        self.executor.shutdown(wait=True)
