"""The run engine: a run's unfinished work items sent to the provider with bounded concurrency,
each result stored the moment it arrives, progress reported, and the run's summary written
(see `healthqa.runs.lifecycle` for the guarantees)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from typing import Callable

from ..domain import ModelConfig, Usage
from ..providers import Provider, ProviderError, RateLimiter, estimate_cost, make_provider
from ..secrets import MissingKeyError, get_api_key
from ..store import Workspace, remember_learned
from .database import BATCH_SIZE, _BatchWriter, _Database, _mark_done, _mark_failed, end_session, set_run_status
from .jobs import JobContext, WorkItem, make_job
from .owner import busy_elsewhere, this_process
from .queries import item_counts
from .slots import CallSlots
from .status import CANCELLED, FAILED, RUNNING, RunError, RunProgress, RunSummary

# Logged under the public module's name, as before the engine had a module of its own.
log = logging.getLogger("healthqa.runs")

PROGRESS_INTERVAL = 0.1  # seconds between progress events (the last one is always sent)

CancelSignal = asyncio.Event | threading.Event


class _Engine:
    def __init__(self, ws: Workspace, run_id: str, *, concurrency: int, rpm: float | None,
                 on_progress: Callable[[RunProgress], None] | None, cancel: CancelSignal | None,
                 api_key: str | None, provider: Provider | None, max_consecutive_failures: int | None) -> None:
        if concurrency < 1:
            raise RunError("concurrency must be at least 1")
        self.ws, self.run_id = ws, run_id
        self.concurrency, self.rpm = concurrency, rpm
        self.on_progress, self.cancel = on_progress, cancel
        self.api_key, self.given_provider = api_key, provider
        # A server that fails every call (down, misconfigured) stops the run
        # instead of marking thousands of items failed one by one.
        self.max_consecutive_failures = max_consecutive_failures or max(10, concurrency)
        self.db = _Database()
        self.stop_status: str | None = None
        self.stop_message: str | None = None
        self.stopped = asyncio.Event()
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=2 * concurrency)
        self.in_flight = self.calls = self.consecutive_failures = 0
        # Live counts for progress events; the summary recounts from the database.
        self.done_now = self.failed_now = self.processed = self.failed_this_session = 0
        self.tokens = Usage(input_tokens=0, output_tokens=0, reasoning_tokens=0)
        self.cost: float | None = None
        self.last_progress = 0.0
        # What servers taught the provider this session (a parameter the model refuses):
        # told to the user in the summary, remembered on the model config.
        self.notices: list[str] = []
        self.lessons: list[asyncio.Future] = []

    # ---- entry --------------------------------------------------------------

    async def run(self) -> RunSummary:
        try:
            return await self._run()
        finally:
            self.db.close()

    async def _run(self) -> RunSummary:
        self.t0 = time.perf_counter()
        run = await self.db.call(self._load_run)
        await self.db.call(self._claim)
        self.kind = run["kind"]
        self.previous = json.loads(run["summary"]) if run["summary"] else None
        self.job = await self.db.call(make_job, self.ws, run)
        self.counts = await self.db.call(item_counts, self.ws, self.run_id)
        prior = await self.db.call(self.job.prior_usage, self.ws, self.previous)
        prior_cost = getattr(self.job, "prior_cost", None)  # jobs that call several model configs
        self._add_usage(prior, await self.db.call(prior_cost, self.ws, self.previous) if prior_cost else None,
                        priced=prior_cost is not None)
        self.done_now, self.failed_now = self.counts["done"], self.counts["failed"]
        if self.counts["pending"] + self.counts["failed"] == 0:
            return await self._finish()
        # One provider per model config the job calls (the job's own, and e.g. a
        # contemplating run's aggregator); a given provider stands for the job's own.
        configs = getattr(self.job, "configs", [self.job.config])
        made: dict[str, Provider] = {}
        limiter = RateLimiter(self.rpm) if self.rpm else None  # shared: the cap is the run's
        try:
            for config in configs:
                if config.id == self.job.config.id and self.given_provider is not None:
                    continue
                key = self.api_key if config.id == self.job.config.id else None
                key = key or await asyncio.to_thread(get_api_key, config)
                made[config.id] = make_provider(config, key, max_connections=self.concurrency,
                                                rate_limiter=limiter, on_learned=self._learned_by(config))
        except (MissingKeyError, ProviderError) as exc:
            for provider in made.values():
                await provider.aclose()
            self._stop(FAILED, str(exc))
            return await self._finish()
        providers = {self.job.config.id: self.given_provider, **made} if self.given_provider else made
        given_hook = self.given_provider is not None and self.given_provider.on_learned is None
        if given_hook:
            self.given_provider.on_learned = self._learned_by(self.job.config)
        await self.db.call(set_run_status, self.ws, self.run_id, RUNNING)
        try:
            await self._work(providers)
        finally:
            for provider in made.values():
                await provider.aclose()
            if given_hook:
                self.given_provider.on_learned = None
        return await self._finish()

    def _learned_by(self, config: ModelConfig) -> Callable[[dict, str], None]:
        """The hook for a provider of `config`: when it resent a call without a parameter the
        model refused, say so once, and store it on that model config so that later runs (and
        the Models panel) know."""
        def learned(caps: dict, note: str) -> None:
            if note not in self.notices:
                self.notices.append(note)
            self.lessons.append(asyncio.ensure_future(
                self.db.call(remember_learned, self.ws, config.id, config.model, caps, note)))
        return learned

    def _load_run(self) -> dict:
        run = self.ws.query_one("SELECT * FROM runs WHERE id = ?", (self.run_id,))
        if run is None:
            raise RunError(f"no run {self.run_id!r}")
        return run

    async def _work(self, providers: dict[str, Provider]) -> None:
        self.provider = providers[self.job.config.id]
        self.writer = _BatchWriter(self.ws, self.db)
        self.writer.start()
        if hasattr(self.job, "attach"):
            # Jobs that make several calls per item share the run's concurrency as
            # call slots: `concurrency` items are open at once, `concurrency` calls in flight.
            self.job.attach(JobContext(providers, CallSlots(self.concurrency), self.writer.submit))
        tasks = [asyncio.create_task(self._produce())]
        tasks += [asyncio.create_task(self._worker()) for _ in range(self.concurrency)]
        watcher = asyncio.create_task(self._watch_cancel())
        stopped = asyncio.create_task(self.stopped.wait())
        all_done = asyncio.gather(*tasks)
        try:
            self._progress(force=True)
            await asyncio.wait({all_done, stopped}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # Our caller was cancelled (e.g. Ctrl-C under asyncio.run): stop
            # cleanly, keep what has arrived, and let the cancellation go on.
            self._stop(CANCELLED, "cancelled")
            await self._wind_down(tasks, watcher, stopped, all_done)
            await self._finish()
            raise
        await self._wind_down(tasks, watcher, stopped, all_done)

    async def _wind_down(self, tasks, watcher, stopped, all_done) -> None:
        # In-flight calls are abandoned; results already handed to the writer are committed.
        for task in (*tasks, watcher, stopped):
            task.cancel()
        await asyncio.gather(*tasks, watcher, stopped, return_exceptions=True)
        if not all_done.done():
            all_done.cancel()
        await asyncio.gather(all_done, return_exceptions=True)
        self.in_flight = 0
        await self.writer.close()

    # ---- tasks --------------------------------------------------------------

    async def _produce(self) -> None:
        last = 0
        while True:
            try:
                items = await self.db.call(self.job.load_items, self.ws, last, BATCH_SIZE)
            except Exception as exc:
                log.exception("run %s: could not read work items", self.run_id)
                self._stop(FAILED, f"could not read the run's work items: {type(exc).__name__}: {exc}")
                return
            if not items:
                break
            for item in items:
                await self.queue.put(item)
            last = items[-1].rowid
        for _ in range(self.concurrency):
            await self.queue.put(None)

    async def _worker(self) -> None:
        while True:
            item = await self.queue.get()
            if item is None:
                return
            self.in_flight += 1
            try:
                outcome = await self.job.perform(self.provider, item)
            except ProviderError as exc:
                self.in_flight -= 1
                self.calls += getattr(exc, "calls", 1)  # an item of several calls says how many it made
                if exc.fatal:
                    self._stop(FAILED, exc.message)
                await self._failed(item, exc)
                if exc.fatal:
                    return
                continue
            except Exception as exc:  # a bug, not the provider: stop rather than fail every item alike
                self.in_flight -= 1
                log.exception("run %s: unexpected error on item %s", self.run_id, item.key)
                self._stop(FAILED, f"unexpected error on item {item.key}: {type(exc).__name__}: {exc}")
                return
            self.in_flight -= 1
            self.calls += outcome.calls
            self.consecutive_failures = 0
            try:
                await self.writer.submit(lambda ws: (outcome.write(ws), _mark_done(ws, item)))
            except Exception as exc:
                log.exception("run %s: could not store item %s", self.run_id, item.key)
                self._stop(FAILED, f"could not store the result of item {item.key}: {type(exc).__name__}: {exc}")
                return
            self.done_now += 1
            self.failed_now -= item.status == "failed"
            self.processed += 1
            self._add_usage(outcome.usage, outcome.cost, priced=outcome.priced)
            self._progress()

    async def _failed(self, item: WorkItem, exc: ProviderError) -> None:
        await self.writer.submit(lambda ws: _mark_failed(ws, item, exc.message))
        self.failed_now += item.status != "failed"
        self.failed_this_session += 1
        self.processed += 1
        self.consecutive_failures += 1
        if not exc.fatal and self.consecutive_failures >= self.max_consecutive_failures:
            self._stop(FAILED, f"{self.consecutive_failures} calls in a row failed; the last error was: "
                               f"{exc.message}. Check the server and the model config, then resume the run.")
        self._progress()

    async def _watch_cancel(self) -> None:
        if self.cancel is None:
            return
        if isinstance(self.cancel, asyncio.Event):
            await self.cancel.wait()
        else:  # set from another thread (the desktop app's GUI thread)
            while not self.cancel.is_set():
                await asyncio.sleep(0.05)
        self._stop(CANCELLED, "cancelled")

    def _stop(self, status: str, message: str) -> None:
        if self.stop_status is None:  # the first reason wins
            self.stop_status, self.stop_message = status, message
            self.stopped.set()

    # ---- bookkeeping --------------------------------------------------------

    def _add_usage(self, usage: Usage, cost: float | None = None, *, priced: bool = False) -> None:
        """Count tokens and cost; `priced`: `cost` is given (None: unknown), else
        the usage is priced with the job's config."""
        self.tokens = self.tokens.plus(usage)
        if not priced:
            cost = estimate_cost(self.job.config, usage)
        if cost is not None:
            self.cost = (self.cost or 0.0) + cost

    def _progress(self, force: bool = False) -> None:
        if self.on_progress is None:
            return
        clock = time.perf_counter()
        if not force and clock - self.last_progress < PROGRESS_INTERVAL:
            return
        self.last_progress = clock
        self._emit(self.snapshot())

    def snapshot(self) -> RunProgress:
        elapsed = time.perf_counter() - self.t0
        # Still to do this session: everything not done and not already tried (and failed) now.
        remaining = max(0, self.counts["total"] - self.done_now - self.failed_this_session)
        eta = elapsed / self.processed * remaining if self.processed else None
        return RunProgress(self.run_id, self.counts["total"], self.done_now, self.failed_now, self.in_flight,
                           self.tokens.input_tokens, self.tokens.output_tokens, self.cost, elapsed, eta)

    def _emit(self, progress: RunProgress) -> None:
        try:
            self.on_progress(progress)
        except Exception:  # a broken progress display must not break the run
            log.exception("progress callback failed")

    async def _finish(self) -> RunSummary:
        for lesson in await asyncio.gather(*self.lessons, return_exceptions=True):
            if isinstance(lesson, Exception):
                log.error("run %s: could not store what the model config learned: %s", self.run_id, lesson)
        summary = await self.db.call(
            end_session, self.ws, self.run_id, self.kind, stopped=(self.stop_status, self.stop_message),
            tokens=self.tokens, cost=self.cost, previous=self.previous, session=time.perf_counter() - self.t0,
            calls=self.calls, notices=self.notices)
        if self.on_progress is not None:
            final = self.snapshot()
            self._emit(RunProgress(self.run_id, summary.total, summary.done, summary.failed, 0,
                                   final.input_tokens, final.output_tokens, final.cost, final.elapsed, 0.0))
        return summary

    def _claim(self) -> None:
        """Stamp the run as this process's, unless a live process is working on it
        (one transaction, so two processes starting at once cannot both pass)."""
        with self.ws.transaction({"runs"}) as conn:
            status, settings = conn.execute("SELECT status, settings FROM runs WHERE id = ?",
                                            (self.run_id,)).fetchone()
            owner = busy_elsewhere(settings)
            if owner is not None:
                raise RunError(f"run {self.run_id[:8]} is being worked on by process {owner['pid']} on this "
                               "machine; let it finish or cancel it there, then resume")
            conn.execute("UPDATE runs SET settings = json_set(settings, '$.owner', json(?)) WHERE id = ?",
                         (json.dumps(this_process()), self.run_id))
