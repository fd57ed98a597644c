"""The batch engine: a run's work sent as provider batches, polled, and read back.

One pass of the loop: look at every batch of the run whose results are not
stored yet (re-attaching to those an earlier process sent), store the results
of those that ended, then send what is left — items that are pending, or
failed with attempts to spare, and not in a live batch — in chunks under the
provider's limits, each written to a file on disk and uploaded from there.
Then wait (30 s by default, backing off to a few minutes while nothing
changes; the server's Retry-After wins) and look again, until every item is
done or out of attempts.

Crash safety: a batch row and the items it holds are stored *before* the
upload, so a killed process never sends an item twice while a batch holding
it is live; results are stored with their done mark in one transaction,
guarded so that a result read twice (a re-read after a crash, a duplicate
line) is stored once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .. import store as records
from ..domain import Usage
from ..providers import (BATCH_CANCELLED as CANCELLED, BATCH_ERRORED as ERRORED, BATCH_EXPIRED as EXPIRED,
                         BATCH_FAILED as FAILED, BATCH_SUCCEEDED as SUCCEEDED, BatchClient, BatchStatus, ChunkFile,
                         LostReply, ProviderError, batch_price_factor, estimate_cost, make_batch_client)
from ..secrets import MissingKeyError, get_api_key
from ..store import Workspace, now, remember_learned
from .batch_items import check_job, conversation, give_up, mark_done, mark_failed, settle
from .database import _Database, end_session, set_run_status
from .jobs import make_job, work_item
from .owner import busy_elsewhere, is_alive, this_process
from .queries import item_counts
from .status import CANCELLED as RUN_CANCELLED
from .status import FAILED as RUN_FAILED, RUNNING, RunError, RunProgress, RunSummary

log = logging.getLogger("healthqa.batch")

DEFAULT_POLL = 30.0
MAX_POLL = 300.0  # backing off stops here: a batch is looked at at least every 5 minutes
BACKOFF = 1.5  # while nothing changes, each wait is this much longer, up to BACKOFF_CAP × the poll interval
BACKOFF_CAP = 10
DEFAULT_MAX_ATTEMPTS = 3  # answer runs: batch submissions per item before it is recorded as failed
COMMIT_EVERY = 2000  # results stored per transaction (one is written while the next is read)
LOAD_EVERY = 1000  # work items read per query while writing chunks

CancelSignal = asyncio.Event | threading.Event


@dataclass
class BatchProgress:
    """What the CLI's progress line and the Runs panel show while a batch run waits."""

    run: RunProgress
    batches: list[dict] = field(default_factory=list)  # provider_batches rows
    next_poll_in: float | None = None


class BatchEngine:
    def __init__(self, ws: Workspace, run_id: str, *, poll_interval: float = DEFAULT_POLL,
                 on_progress: Callable[[BatchProgress], None] | None = None, cancel: CancelSignal | None = None,
                 api_key: str | None = None, client: BatchClient | None = None,
                 workdir: str | Path | None = None) -> None:
        if poll_interval <= 0:
            raise RunError("the poll interval must be positive")
        self.ws, self.run_id = ws, run_id
        self.poll_interval = poll_interval
        self.max_poll = max(poll_interval, min(MAX_POLL, BACKOFF_CAP * poll_interval))
        self.on_progress, self.cancel = on_progress, cancel
        self.api_key, self.given_client = api_key, client
        self.workdir = Path(workdir) if workdir else None
        self.database = _Database()
        self.db = self.database.call  # every SQLite call on one thread: the event loop never waits on the disk
        self.stop_status: str | None = None
        self.stop_message: str | None = None
        self.tokens = Usage(input_tokens=0, output_tokens=0, reasoning_tokens=0)
        self.cost: float | None = None
        self.calls = 0
        self.owner = this_process()
        # What the model config learned from refused parameters: said in the summary, stored on the config.
        self.notices: list[str] = []
        self.lessons: list[tuple[dict, str]] = []

    # ---- entry --------------------------------------------------------------

    async def run(self) -> RunSummary:
        self.t0 = time.perf_counter()
        try:
            return await self._run()
        finally:
            await self.db(records.release_poller, self.ws, self.owner)
            self.database.close()

    async def _run(self) -> RunSummary:
        run = await self.db(self._load_run)
        self.job = await self.db(make_job, self.ws, run)
        check_job(self.job)  # before claiming: a refused run is left as it was
        await self.db(self._claim)
        self.kind = run["kind"]
        self.settings = json.loads(run["settings"] or "{}")
        self.previous = json.loads(run["summary"]) if run["summary"] else None
        self.max_attempts = int(self.settings.get("max_attempts") or DEFAULT_MAX_ATTEMPTS)
        self.factor = batch_price_factor(self.job.config.provider)
        # Tokens of earlier sessions, as the interactive engine counts them (an answer run's
        # answers keep theirs, so a killed session's are not lost), priced at batch prices.
        self._add_usage(await self.db(self.job.prior_usage, self.ws, self.previous))
        client = self.given_client
        if client is None:
            try:
                key = self.api_key or await asyncio.to_thread(get_api_key, self.job.config)
                client = make_batch_client(self.job.config, key)
            except (MissingKeyError, ProviderError) as exc:
                self._stop(RUN_FAILED, str(exc))
                return await self._finish()
        self.client = client
        hook, client.provider.on_learned = client.provider.on_learned, self._learned
        await self.db(set_run_status, self.ws, self.run_id, RUNNING)
        try:
            await self._loop()
        except asyncio.CancelledError:
            self._stop(RUN_CANCELLED, "cancelled")
            await self._finish()
            raise
        finally:
            client.provider.on_learned = hook
            if self.given_client is None:
                await client.aclose()
        return await self._finish()

    def _load_run(self) -> dict:
        run = self.ws.query_one("SELECT * FROM runs WHERE id = ?", (self.run_id,))
        if run is None:
            raise RunError(f"no run {self.run_id!r}")
        return run

    def _claim(self) -> None:
        other = records.claim_poller(self.ws, self.owner, is_alive)
        if other is not None:
            raise RunError(f"process {other.get('pid')} on {other.get('host')} is already polling this "
                           "workspace's batches; let it finish (or stop it), then resume")
        with self.ws.transaction({"runs"}) as conn:
            settings = conn.execute("SELECT settings FROM runs WHERE id = ?", (self.run_id,)).fetchone()[0]
            owner = busy_elsewhere(settings)
            if owner is not None:
                raise RunError(f"run {self.run_id[:8]} is being worked on by process {owner['pid']}; "
                               "let it finish or cancel it there, then resume")
            conn.execute("UPDATE runs SET settings = json_remove(json_set(settings, '$.owner', json(?)), "
                         "'$.stop_requested') WHERE id = ?", (json.dumps(self.owner), self.run_id))

    # ---- the loop -----------------------------------------------------------

    async def _loop(self) -> None:
        await self._recover_unsent()
        delay = self.poll_interval
        self.need_send = True  # items to send appear only at the start and when results come back
        while self.stop_status is None:
            changed = await self._look()
            if self.stop_status is not None:
                break
            if self.need_send and not self._cancelled():
                self.need_send = False
                changed = await self._send() or changed
            if self.stop_status is not None:
                break
            open_batches = await self.db(records.open_batches, self.ws, self.run_id)
            if not open_batches:
                return  # nothing live and nothing left to send
            if self._cancelled():
                self._stop(RUN_CANCELLED, "cancelled")
                break
            delay = self.poll_interval if changed else min(delay * BACKOFF, self.max_poll)
            wait = max(delay, self.retry_after or 0.0)
            self.retry_after = None
            await self._progress(open_batches, wait)
            await self._sleep(wait)
            await self.db(self._read_stop_request)
            if self._cancelled():
                self._stop(RUN_CANCELLED, "cancelled")

    retry_after: float | None = None

    async def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self._cancelled():
            await asyncio.sleep(min(0.05, max(0.0, end - time.monotonic())))

    def _cancelled(self) -> bool:
        return (self.cancel is not None and self.cancel.is_set()) or self.stop_requested

    stop_requested = False  # `healthqa runs cancel` from another process asked (desktop app owners)

    def _read_stop_request(self) -> None:
        settings = self.ws.scalar("SELECT settings FROM runs WHERE id = ?", (self.run_id,))
        self.stop_requested = bool(json.loads(settings or "{}").get("stop_requested"))

    async def _recover_unsent(self) -> None:
        """A batch stored as 'submitting' with no provider id was never confirmed:
        the process died during the create call. If the provider has it (found by
        name), it is re-attached to; otherwise it was never made and its items are free."""
        for row in await self.db(records.open_batches, self.ws, self.run_id):
            if row["provider_id"] is None:
                if not await self._adopt(row["id"]):
                    await self.db(records.drop_batch, self.ws, row["id"])

    async def _adopt(self, batch_id: str) -> bool:
        """Look for the batch `batch_id` was sent as; store its id if the provider has it."""
        try:
            status = await self.client.find(_batch_name(self.run_id, batch_id))
        except ProviderError as exc:
            log.warning("run %s: could not look for batch %s: %s", self.run_id, batch_id, exc.message)
            return False
        if status is None:
            return False
        await self.db(records.update_batch, self.ws, batch_id, provider_id=status.provider_id)
        await self.db(self._record_status, batch_id, status)
        return True

    async def _look(self) -> bool:
        """Poll every open batch; store the results of those that ended. True if anything changed."""
        changed = False
        for row in await self.db(records.open_batches, self.ws, self.run_id):
            try:
                status = await self.client.poll(row["provider_id"])
            except ProviderError as exc:
                if exc.status == 404:
                    # The provider no longer has it (deleted in its console): its items are free again.
                    await self.db(records.update_batch, self.ws, row["id"], state=FAILED, collected=1,
                                  message=f"{self.client.label} no longer has this batch: {exc.message}")
                    self.need_send = changed = True
                    continue
                if exc.fatal:
                    self._stop(RUN_FAILED, exc.message)
                    return changed
                self.retry_after = max(self.retry_after or 0.0, exc.retry_after or 0.0)
                log.warning("run %s: polling batch %s failed: %s", self.run_id, row["provider_id"], exc.message)
                continue
            self.calls += 1
            if (status.state, status.succeeded, status.errored) != (row["state"], row["succeeded"], row["errored"]):
                changed = True
            await self.db(self._record_status, row["id"], status)
            if status.state == FAILED:
                # The provider refused the batch as a whole (validation): its items are
                # untouched, the run stops with the provider's reason.
                await self.db(records.update_batch, self.ws, row["id"], collected=1)
                self._stop(RUN_FAILED, f"{self.client.label} refused the batch {status.provider_id}: "
                                       f"{status.message or 'validation failed'}")
                return True
            if status.ended:
                await self._collect(row, status)
                self.need_send = changed = True
        return changed

    def _record_status(self, batch_id: str, status: BatchStatus) -> None:
        records.update_batch(
            self.ws, batch_id, state=status.state, raw_state=status.raw_state, submitted=status.submitted,
            succeeded=status.succeeded, errored=status.errored, expired=status.expired, cancelled=status.cancelled,
            created_at=status.created_at or now(), ended_at=status.ended_at, refs=status.refs,
            message=status.message)

    # ---- results ------------------------------------------------------------

    async def _collect(self, row: dict, status: BatchStatus) -> None:
        sent = await self.db(records.batch_item_attempts, self.ws, row["id"])
        items = await self.db(self._load_items, list(sent))
        seen: set[str] = set()
        unmatched: set[str] = set()
        tally = {SUCCEEDED: 0, ERRORED: 0, EXPIRED: 0, CANCELLED: 0}
        pending: list[Callable[[Workspace], None]] = []
        user_cancelled = bool(row["cancel_requested"])
        writing: asyncio.Future | None = None  # the previous transaction, written while more lines are read

        async def write(ops: list) -> None:
            nonlocal writing
            if writing is not None:
                await writing
            writing = asyncio.ensure_future(self.db(self._commit, ops))

        async def written() -> None:
            if writing is not None:
                await writing
        try:
            async for result in self.client.results(status):
                item = items.get(result.custom_id)
                if item is None:
                    unmatched.add(result.custom_id)  # counted and reported, never stored
                    continue
                if result.custom_id in seen:
                    continue  # a repeated line: the first one counts
                seen.add(result.custom_id)
                tally[result.outcome] = tally.get(result.outcome, 0) + 1
                if item.status == "done" or item.attempts != sent[item.id]:
                    continue  # settled before (a re-read after a crash): neither stored nor counted again
                op = self._settle(item, sent[item.id], result, user_cancelled)
                if op is not None:
                    pending.append(op)
                if len(pending) >= COMMIT_EVERY:
                    await write(pending)
                    pending = []
        except ProviderError as exc:
            await written()
            await self.db(self._commit, pending)
            if exc.status == 404:  # results no longer kept: what did not come back is tried again
                log.warning("run %s: the results of %s are gone: %s", self.run_id, status.provider_id, exc.message)
                pending = []
                return await self._finish_collect(row, status, sent, items, seen, unmatched, tally, pending)
            if exc.fatal:
                self._stop(RUN_FAILED, exc.message)
            else:
                log.warning("run %s: reading results of %s failed: %s", self.run_id, status.provider_id, exc.message)
                self.retry_after = max(self.retry_after or 0.0, exc.retry_after or 0.0)
            return  # not collected: read again on the next pass (stored results are not stored twice)
        except BaseException:
            await asyncio.shield(written())  # a transaction under way is finished, never cut
            raise
        await written()
        await self._finish_collect(row, status, sent, items, seen, unmatched, tally, pending)
        await self._store_lessons()  # before the resend: a killed process keeps what it learned

    async def _finish_collect(self, row, status, sent, items, seen, unmatched, tally, pending) -> None:
        for item_id, item in items.items():  # sent, but no line came back for it
            if item_id not in seen and item.status != "done" and item.attempts == sent[item_id]:
                op = self._retry_or_give_up(item, sent[item_id], f"{self.client.label}: no result came back")
                pending.append(op)
        await self.db(self._commit, pending)
        if unmatched:
            log.warning("run %s: %d result lines of batch %s matched no work item", self.run_id, len(unmatched),
                        status.provider_id)
        await self.db(records.update_batch, self.ws, row["id"], collected=1, unmatched=len(unmatched),
                      succeeded=tally[SUCCEEDED], errored=tally[ERRORED], expired=tally[EXPIRED],
                      cancelled=tally[CANCELLED], submitted=len(sent), ended_at=status.ended_at or now())

    def _load_items(self, ids: list[str]) -> dict:
        found: dict = {}
        for start in range(0, len(ids), 900):
            chunk = ids[start:start + 900]
            for row in self.ws.query(
                    f"""SELECT rowid, id, key, question_id, sample, answer_id, criterion_id, attempts, status
                        FROM work_items WHERE id IN ({','.join('?' * len(chunk))})""", chunk):
                found[row["id"]] = work_item(row, None)
        return found

    def _settle(self, item, sent_attempts: int, result, user_cancelled: bool):
        if result.outcome == SUCCEEDED:
            self.calls += 1
            settled = settle(self.job, item, result.answer)
            if settled.usage is not None:
                self._add_usage(settled.usage)
            if settled.write is not None:
                return self._store_op(item.id, sent_attempts, settled.write)
            return self._retry_or_give_up(item, sent_attempts, settled.retry_error)
        if result.outcome == CANCELLED and user_cancelled:
            return None  # the user stopped it: no attempt spent, sent again on resume
        if result.refusal is not None and self.client.learn(result.refusal):
            return None  # a parameter the model does not take: sent again without it, no attempt spent
        return self._retry_or_give_up(item, sent_attempts, result.error or f"request {result.outcome}")

    def _retry_or_give_up(self, item, sent_attempts: int, error: str, final: bool = False):
        attempts = sent_attempts + 1
        final = final or attempts >= self.max_attempts
        write = give_up(self.job, item, attempts, error) if final else None
        if write is not None:  # a grader criterion without a verdict: done, as interactive grading
            return self._store_op(item.id, sent_attempts, write)

        def fail(ws: Workspace) -> None:
            if _unchanged(ws, item.id, sent_attempts):
                mark_failed(ws, item.id, error, attempts=self.max_attempts if final else None)
        return fail

    def _store_op(self, item_id: str, sent_attempts: int, write):
        def store(ws: Workspace) -> None:
            # Guard: a result already stored (read twice, or the item finished meanwhile) is ignored.
            if _unchanged(ws, item_id, sent_attempts):
                write(ws)
                mark_done(ws, item_id)
        return store

    def _commit(self, ops: list) -> None:
        if not ops:
            return
        with self.ws.transaction({"work_items", "answers", "grades"}):
            for op in ops:
                op(self.ws)

    # ---- sending --------------------------------------------------------------

    async def _send(self) -> bool:
        """Send every item that needs sending, in chunks under the provider's limits."""
        if not await self.db(records.sendable_count, self.ws, self.run_id, self.max_attempts):
            return False  # e.g. a resume while every item is in a live batch: nothing to load
        live = await self.db(records.live_item_ids, self.ws, self.run_id)
        workdir = self.workdir or Path(tempfile.gettempdir())
        workdir.mkdir(parents=True, exist_ok=True)
        last, sent_any = 0, False
        chunk = None
        attempts: dict[str, int] = {}  # the chunk's items with their attempts so far
        with tempfile.TemporaryDirectory(prefix="healthqa-batch-", dir=workdir) as tmp:
            number = 0
            while self.stop_status is None:
                rows = await self.db(self.job.load_items, self.ws, last, LOAD_EVERY)
                if not rows:
                    break
                last = rows[-1].rowid
                for item in rows:
                    if item.id in live or item.attempts >= self.max_attempts or item.status == "done":
                        continue
                    try:
                        line = self.client.request_line(item.id, conversation(self.job, item))
                    except ProviderError as exc:  # this item cannot be sent (e.g. a bad image): it alone fails
                        await self.db(self._commit, [self._retry_or_give_up(item, item.attempts, exc.message,
                                                                            final=True)])
                        continue
                    if chunk is not None and not chunk.fits(line):
                        await self._submit(chunk, attempts)
                        sent_any = True
                        chunk, attempts = None, {}
                    if chunk is None:
                        number += 1
                        chunk = self.client.open_chunk(Path(tmp) / f"chunk-{number}.jsonl")
                    if not chunk.fits(line):
                        await self.db(self._commit, [self._retry_or_give_up(
                            item, item.attempts, f"{self.client.label}: this request alone is larger than a batch "
                                                 "may be", final=True)])
                        continue
                    chunk.add(line)
                    attempts[item.id] = item.attempts
            if chunk is not None and chunk.count and self.stop_status is None:
                await self._submit(chunk, attempts)
                sent_any = True
            elif chunk is not None:
                chunk.discard()
        return sent_any

    async def _submit(self, chunk: ChunkFile, attempts: dict[str, int]) -> None:
        """Store the batch and its items first (they are live from here on), then upload and create it."""
        chunk.close()
        batch_id = await self.db(records.start_batch, self.ws, self.run_id, self.client.kind, attempts.items())
        try:
            status = await self.client.submit(chunk, _batch_name(self.run_id, batch_id))
        except LostReply as exc:
            # The create call's reply never came: the batch may exist. Found: go on with it.
            # Not found: nothing is stored, and the run stops rather than risk sending twice.
            chunk.discard()
            if not await self._adopt(batch_id):
                await self.db(records.drop_batch, self.ws, batch_id)
                self._stop(RUN_FAILED, f"{exc.message} while creating a batch, and {self.client.label} could not "
                                       "be asked whether it was made; check the provider's console for a batch "
                                       "named " + _batch_name(self.run_id, batch_id) + " before resuming")
            return
        except ProviderError as exc:
            # Refused (bad model, too large, quota) or unreachable: nothing half-stored.
            chunk.discard()
            await self.db(records.drop_batch, self.ws, batch_id)
            self._stop(RUN_FAILED, f"{self.client.label} did not take the batch: {exc.message}")
            return
        chunk.discard()
        self.calls += 1
        await self.db(records.update_batch, self.ws, batch_id, provider_id=status.provider_id)
        await self.db(self._record_status, batch_id, status)
        if status.submitted == 0:
            await self.db(records.update_batch, self.ws, batch_id, submitted=chunk.count)

    # ---- bookkeeping --------------------------------------------------------

    def _add_usage(self, usage: Usage) -> None:
        self.tokens = self.tokens.plus(usage)
        cost = estimate_cost(self.job.config, usage)
        if cost is not None:
            self.cost = (self.cost or 0.0) + cost * self.factor

    def _learned(self, caps: dict, note: str) -> None:
        """The client's adapter changed what it sends after a refusal: say so once, store it soon."""
        if note not in self.notices:
            self.notices.append(note)
        self.lessons.append((caps, note))

    async def _store_lessons(self) -> None:
        config = self.job.config
        while self.lessons:
            caps, note = self.lessons.pop(0)
            await self.db(remember_learned, self.ws, config.id, config.model, caps, note)

    def _stop(self, status: str, message: str) -> None:
        if self.stop_status is None:
            self.stop_status, self.stop_message = status, message

    async def _progress(self, open_batches: list[dict], wait: float | None) -> None:
        if self.on_progress is None:
            return
        counts = await self.db(item_counts, self.ws, self.run_id)
        elapsed = time.perf_counter() - self.t0
        progress = RunProgress(self.run_id, counts["total"], counts["done"], counts["failed"],
                               sum(b["submitted"] for b in open_batches), self.tokens.input_tokens,
                               self.tokens.output_tokens, self.cost, elapsed, None)
        stamp = time.time() + (wait or 0)
        for b in open_batches:
            await self.db(records.update_batch, self.ws, b["id"],
                          next_poll_at=_iso(stamp) if wait is not None else None)
        try:
            self.on_progress(BatchProgress(progress, open_batches, wait))
        except Exception:
            log.exception("progress callback failed")

    async def _finish(self) -> RunSummary:
        await self._store_lessons()
        # No one looks at the batches left open until a resume: no "next look" time stays behind.
        await self.db(self._forget_next_looks)
        # Where the provider documents a batch discount, the cost is at batch prices and says so.
        basis = f"batch prices ({round((1 - self.factor) * 100)}% off)" if self.factor < 1 else None
        summary = await self.db(
            end_session, self.ws, self.run_id, self.kind, stopped=(self.stop_status, self.stop_message),
            tokens=self.tokens, cost=self.cost, previous=self.previous, session=time.perf_counter() - self.t0,
            calls=self.calls, notices=self.notices, cost_basis=basis)
        if self.on_progress is not None:
            await self._progress([], None)
        return summary

    def _forget_next_looks(self) -> None:
        with self.ws.transaction({"provider_batches"}) as conn:
            conn.execute("UPDATE provider_batches SET next_poll_at = NULL WHERE run_id = ?", (self.run_id,))


def _batch_name(run_id: str, batch_id: str) -> str:
    """The name a batch is sent under (OpenAI metadata, Gemini displayName), to find it again."""
    return f"healthqa-{run_id[:8]}-{batch_id}"


def _unchanged(ws: Workspace, item_id: str, sent_attempts: int) -> bool:
    """The item is still as it was sent: not done, no attempt recorded since."""
    row = ws.conn.execute("SELECT status, attempts FROM work_items WHERE id = ?", (item_id,)).fetchone()
    return row is not None and row[0] != "done" and row[1] == sent_attempts


def _iso(seconds: float) -> str:
    import datetime as _dt
    return _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc).isoformat(timespec="seconds")
