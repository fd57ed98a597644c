"""The run engine: questions × a model config × samples, sent concurrently.

A run's work is written down before anything is sent: `create_run` stores
the `runs` row and every work item in one transaction. `execute_run` then
takes the items that are not done yet, calls the provider with bounded
concurrency and, the moment a reply arrives, writes its result and marks the
item done in the same transaction. So a crash or a kill loses at most the
calls in flight, and running the same run again (`resume_run`) finishes the
rest without answering any question twice (the answers table also refuses a
second answer per run, question and sample).

The event loop never touches SQLite: every read and write goes through one
database thread, and results are committed in batches (each result with its
"done" mark), so a slow commit never stalls the network calls. Workspace
listeners ("what changed" notices) are therefore called on that thread.

What a run does per item is a `Job`: answer runs live here, grade runs
(the model grader) in grader.py; both share this engine.

    run_id = create_run(ws, set_name="Demo", model_name="gpt-4.1", samples=2)
    summary = asyncio.run(execute_run(ws, run_id, concurrency=32, on_progress=print))
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Protocol, Sequence

from .domain import Message, ModelConfig, Usage, new_id
from .errors import HealthQAError
from .providers import ProviderError, RateLimiter, estimate_cost, make_provider
from .providers.base import Provider
from .secrets import MissingKeyError, get_api_key
from .store import Workspace, add_answer, get_model_config, load_conversation, now, set_id_by_name

log = logging.getLogger(__name__)

# Run statuses. A run is "running" while a process works on it; a process
# that was killed leaves it "running" until it is resumed.
PENDING, RUNNING, DONE, INCOMPLETE, FAILED, CANCELLED = (
    "pending", "running", "done", "incomplete", "failed", "cancelled")
FINISHED = (DONE, INCOMPLETE, FAILED, CANCELLED)

BATCH_SIZE = 256  # work items read per query; also the most results committed at once
PROGRESS_INTERVAL = 0.1  # seconds between progress events (the last one is always sent)


class RunError(HealthQAError):
    """A run that cannot be created or started; the message says why."""


# -- what callers see ---------------------------------------------------------

@dataclass(frozen=True)
class RunProgress:
    """One progress event, for the CLI's progress bar and the app's panel.

    Counts cover the whole run (items finished in earlier sessions too);
    tokens and cost as well, where earlier sessions recorded them. `eta` is
    seconds left at this session's pace, None until something finished.
    """

    run_id: str
    total: int
    done: int
    failed: int
    in_flight: int
    input_tokens: int
    output_tokens: int
    cost: float | None
    elapsed: float
    eta: float | None

    @property
    def pending(self) -> int:
        return max(0, self.total - self.done - self.failed)


@dataclass
class RunSummary:
    """How a run ended; stored as JSON in runs.summary.

    status: done (every item answered), incomplete (some items failed:
    resume retries them), failed (a problem that stops the whole run:
    `message` says what to fix), cancelled. Counts are the whole run's;
    `calls` and `session_elapsed` are this session's.
    """

    run_id: str
    kind: str
    status: str
    total: int
    done: int
    failed: int
    pending: int
    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost: float | None = None
    elapsed: float = 0.0
    session_elapsed: float = 0.0
    calls: int = 0
    message: str | None = None
    errors: dict[str, int] = field(default_factory=dict)  # most common item errors, with counts

    def as_dict(self) -> dict:
        return asdict(self)


# -- jobs: what a run does per item -----------------------------------------

@dataclass
class WorkItem:
    """A work item as the engine hands it to a job; `payload` is whatever the
    job loaded to make the call (a conversation, a grader prompt...)."""

    rowid: int
    id: str
    key: str
    question_id: str | None
    sample: int
    answer_id: str | None
    criterion_id: str | None
    attempts: int
    status: str  # before this session: pending, or failed earlier
    payload: Any = None


@dataclass
class Outcome:
    """A finished call: its usage (for tokens and cost) and how to store it.

    `write(ws)` runs on the database thread inside the transaction that also
    marks the item done, so the result and the mark land together or not at all.
    """

    usage: Usage
    write: Callable[[Workspace], None]
    calls: int = 1


class Job(Protocol):
    config: ModelConfig  # the model that is called

    def load_items(self, ws: Workspace, after_rowid: int, limit: int) -> list[WorkItem]:
        """Up to `limit` unfinished items after `after_rowid`, in rowid order, payloads loaded."""

    async def perform(self, provider: Provider, item: WorkItem) -> Outcome:
        """Make the call(s) for one item. Raises ProviderError."""

    def prior_usage(self, ws: Workspace, previous: dict | None) -> Usage:
        """Tokens spent by earlier sessions of this run."""


def unfinished_items(ws: Workspace, run_id: str, after_rowid: int, limit: int, columns: str = "",
                     joins: str = "") -> list[dict]:
    """The shared query behind every job's `load_items`."""
    return ws.query(
        f"""SELECT w.rowid AS rowid, w.id, w.key, w.question_id, w.sample, w.answer_id, w.criterion_id,
                   w.attempts, w.status {columns}
            FROM work_items w {joins}
            WHERE w.run_id = ? AND w.status IN ('pending', 'failed') AND w.rowid > ?
            ORDER BY w.rowid LIMIT ?""",
        (run_id, after_rowid, limit),
    )


def work_item(row: dict, payload: Any) -> WorkItem:
    return WorkItem(row["rowid"], row["id"], row["key"], row["question_id"], row["sample"], row["answer_id"],
                    row["criterion_id"], row["attempts"], row["status"], payload)


def conversation_messages(ws: Workspace, conversation_json: str) -> list[Message]:
    return [Message.model_validate(m) for m in load_conversation(ws, conversation_json)]


class AnswerJob:
    """Answer runs: one call per (question, sample), the reply stored as an answer."""

    def __init__(self, run: dict, config: ModelConfig) -> None:
        self.run_id = run["id"]
        self.config = config

    def load_items(self, ws: Workspace, after_rowid: int, limit: int) -> list[WorkItem]:
        rows = unfinished_items(ws, self.run_id, after_rowid, limit, ", q.conversation",
                                "JOIN questions q ON q.id = w.question_id")
        conversations: dict[str, list[Message]] = {}  # samples of one question share it
        items = []
        for row in rows:
            qid = row["question_id"]
            if qid not in conversations:
                conversations[qid] = conversation_messages(ws, row["conversation"])
            items.append(work_item(row, conversations[qid]))
        return items

    async def perform(self, provider: Provider, item: WorkItem) -> Outcome:
        answer = await provider.complete(item.payload)
        # Answers are labelled with the config's name (the served model id is
        # often a dated snapshot; the config says which settings produced it).
        answer.model = self.config.name

        def write(ws: Workspace) -> None:
            add_answer(ws, item.question_id, answer, run_id=self.run_id, sample=item.sample,
                       model_config_id=self.config.id)
        return Outcome(answer.usage, write)

    def prior_usage(self, ws: Workspace, previous: dict | None) -> Usage:
        row = ws.query_one(
            """SELECT coalesce(sum(input_tokens), 0) AS i, coalesce(sum(output_tokens), 0) AS o,
                      coalesce(sum(reasoning_tokens), 0) AS r FROM answers WHERE run_id = ?""", (self.run_id,))
        return Usage(input_tokens=row["i"], output_tokens=row["o"], reasoning_tokens=row["r"])


def previous_session_usage(previous: dict | None) -> Usage:
    """Tokens recorded by earlier sessions' summaries (for jobs whose results
    do not keep token counts, like grades)."""
    previous = previous or {}
    return Usage(input_tokens=previous.get("input_tokens", 0), output_tokens=previous.get("output_tokens", 0),
                 reasoning_tokens=previous.get("reasoning_tokens", 0))


def make_job(ws: Workspace, run: dict) -> Job:
    config = model_config_by_id(ws, run["model_config_id"])
    if run["kind"] == "grade":
        from .grader import GradeJob  # grader builds on this module
        return GradeJob(ws, run, config)
    return AnswerJob(run, config)


def model_config_by_id(ws: Workspace, config_id: str | None) -> ModelConfig:
    config = get_model_config(ws, config_id) if config_id else None
    if config is None:
        raise RunError("the model config of this run was deleted; add it again with `healthqa models add`")
    return config


# -- creating runs ------------------------------------------------------------

def insert_run(ws: Workspace, *, kind: str, items: Sequence[tuple], model_config_id: str, samples: int = 1,
               set_id: str | None = None, source_run_id: str | None = None, rater_id: str | None = None,
               settings: dict | None = None) -> str:
    """The runs row and all its work items in one transaction.

    items: (key, question_id, sample, answer_id, criterion_id) tuples.
    """
    run_id, stamp = new_id(), now()
    with ws.transaction({"runs", "work_items"}) as conn:
        conn.execute(
            """INSERT INTO runs (id, kind, set_id, model_config_id, source_run_id, rater_id, samples, status,
                   settings, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (run_id, kind, set_id, model_config_id, source_run_id, rater_id, samples, PENDING,
             json.dumps(settings or {}), stamp),
        )
        conn.executemany(
            """INSERT INTO work_items (id, run_id, key, question_id, sample, answer_id, criterion_id, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            ((new_id(), run_id, key, qid, sample, aid, cid, stamp) for key, qid, sample, aid, cid in items),
        )
    return run_id


def create_run(ws: Workspace, *, model_name: str, set_name: str | None = None,
               question_ids: Sequence[str] | None = None, samples: int = 1, limit: int | None = None) -> str:
    """A new answer run over a question set (in set order) or the given
    question ids; every work item (key "<question_id>:<sample>") is stored
    before any call. Returns the run id."""
    if (set_name is None) == (question_ids is None):
        raise RunError("give a question set or a list of question ids (one of them)")
    if samples < 1:
        raise RunError("samples must be at least 1")
    if limit is not None and limit < 1:
        raise RunError("limit must be at least 1")
    config = get_model_config(ws, model_name)
    if config is None:
        raise RunError(f"no model config named {model_name!r}; add one with `healthqa models add`")
    set_id = None
    if set_name is not None:
        set_id = set_id_by_name(ws, set_name)
        if set_id is None:
            raise RunError(f"no question set named {set_name!r}")
        ids = [r["question_id"] for r in ws.query(
            "SELECT question_id FROM set_members WHERE set_id = ? ORDER BY position", (set_id,))]
        if not ids:
            raise RunError(f"question set {set_name!r} has no questions")
    else:
        ids = list(dict.fromkeys(question_ids))
        known = {r["id"] for r in ws.query(
            f"SELECT id FROM questions WHERE id IN ({','.join('?' * len(ids))})", ids)} if ids else set()
        missing = [q for q in ids if q not in known]
        if not ids or missing:
            raise RunError(f"unknown question ids: {', '.join(missing[:5]) or '(none given)'}")
    ids = ids[:limit] if limit else ids
    items = [(f"{qid}:{sample}", qid, sample, None, None) for qid in ids for sample in range(samples)]
    return insert_run(ws, kind="answer", items=items, model_config_id=config.id, samples=samples, set_id=set_id,
                      settings={"limit": limit, "questions": len(ids)})


# -- reading runs -------------------------------------------------------------

def resolve_run_id(ws: Workspace, text: str) -> str:
    """A run id from its full text or a unique prefix (ids are long UUIDs)."""
    text = text.strip()
    rows = ws.query("SELECT id FROM runs WHERE id = ? OR id LIKE ? LIMIT 2", (text, text.replace("%", "") + "%"))
    exact = [r["id"] for r in rows if r["id"] == text]
    if exact:
        return exact[0]
    if not rows or not text:
        raise RunError(f"no run {text!r}; `healthqa runs list` shows the runs")
    if len(rows) > 1:
        raise RunError(f"{text!r} matches more than one run; give more of the id")
    return rows[0]["id"]


def item_counts(ws: Workspace, run_id: str) -> dict[str, int]:
    counts = {"total": 0, "done": 0, "failed": 0, "pending": 0}
    for row in ws.query("SELECT status, count(*) AS n FROM work_items WHERE run_id = ? GROUP BY status", (run_id,)):
        counts[row["status"]] = row["n"]
        counts["total"] += row["n"]
    return counts


_RUN_COLUMNS = """r.id, r.kind, r.status, r.samples, r.created_at, r.finished_at, r.source_run_id,
                  s.name AS "set", m.name AS model, ra.name AS rater"""
_RUN_JOINS = """LEFT JOIN question_sets s ON s.id = r.set_id LEFT JOIN model_configs m ON m.id = r.model_config_id
                LEFT JOIN raters ra ON ra.id = r.rater_id"""


def list_runs(ws: Workspace) -> list[dict]:
    """Every run, newest first: id, kind, set, model, rater, status, counts, times."""
    runs = ws.query(f"SELECT {_RUN_COLUMNS} FROM runs r {_RUN_JOINS} ORDER BY r.created_at DESC, r.rowid DESC")
    counts: dict[str, dict[str, int]] = {}
    for row in ws.query("SELECT run_id, status, count(*) AS n FROM work_items GROUP BY run_id, status"):
        c = counts.setdefault(row["run_id"], {"total": 0, "done": 0, "failed": 0, "pending": 0})
        c[row["status"]] = row["n"]
        c["total"] += row["n"]
    for run in runs:
        run["counts"] = counts.get(run["id"], {"total": 0, "done": 0, "failed": 0, "pending": 0})
    return runs


def _select_run(ws: Workspace, run_id: str, columns: str) -> dict:
    run = ws.query_one(f"SELECT {columns} FROM runs r {_RUN_JOINS} WHERE r.id = ?", (run_id,))
    if run is None:
        raise RunError(f"no run {run_id!r}")
    return run


def run_row(ws: Workspace, run_id: str) -> dict:
    """One run as list_runs lists it, without the counts: id, kind, set, model, rater, status, samples, times.

    What naming a run needs, without reading its work items (get_run reads
    every unfinished one: thousands, for a run that has just started).
    """
    return _select_run(ws, run_id, _RUN_COLUMNS)


def get_run(ws: Workspace, run_id: str) -> dict:
    """One run with its settings, summary, counts and every unfinished item
    (key, prompt_id, sample, status, attempts, error)."""
    run = _select_run(ws, run_id, f"{_RUN_COLUMNS}, r.settings, r.summary")
    run["settings"] = json.loads(run["settings"] or "{}")
    run["summary"] = json.loads(run["summary"]) if run["summary"] else None
    run["counts"] = item_counts(ws, run_id)
    run["items"] = ws.query(
        """SELECT w.key, q.prompt_id, w.sample, w.answer_id, w.criterion_id, w.status, w.attempts, w.error,
                  w.updated_at
           FROM work_items w LEFT JOIN questions q ON q.id = w.question_id
           WHERE w.run_id = ? AND (w.status != 'done' OR w.error IS NOT NULL) ORDER BY w.rowid""", (run_id,))
    return run


def failed_items(ws: Workspace, run_id: str, limit: int = 200) -> list[dict]:
    """The run's failed items, oldest first, at most `limit` (key, prompt_id, sample, criterion_id, status,
    attempts, error).

    What a list of a run's problems needs, without get_run's every unfinished
    item: a run in progress has thousands still pending, which are no news.
    Only a failed item carries an error (a done mark clears it), so the
    (run_id, status) index finds them all.
    """
    return ws.query(
        """SELECT w.key, q.prompt_id, w.sample, w.answer_id, w.criterion_id, w.status, w.attempts, w.error,
                  w.updated_at
           FROM work_items w LEFT JOIN questions q ON q.id = w.question_id
           WHERE w.run_id = ? AND w.status = 'failed' ORDER BY w.rowid LIMIT ?""", (run_id, limit))


def _error_counts(ws: Workspace, run_id: str, top: int = 5) -> dict[str, int]:
    rows = ws.query("""SELECT error, count(*) AS n FROM work_items WHERE run_id = ? AND status = 'failed'
                       GROUP BY error ORDER BY n DESC LIMIT ?""", (run_id, top))
    return {r["error"] or "(no message)": r["n"] for r in rows}


# -- the database thread --------------------------------------------------------

def _mark_done(ws: Workspace, item: WorkItem) -> None:
    ws.conn.execute("UPDATE work_items SET status = 'done', attempts = attempts + 1, error = NULL, updated_at = ? "
                    "WHERE id = ?", (now(), item.id))


def _mark_failed(ws: Workspace, item: WorkItem, error: str) -> None:
    ws.conn.execute("UPDATE work_items SET status = 'failed', attempts = attempts + 1, error = ?, updated_at = ? "
                    "WHERE id = ?", (error, now(), item.id))


class _BatchWriter:
    """Commits results on the database thread, as many per transaction as
    have queued up (at most BATCH_SIZE). `submit` returns once its result is
    committed, i.e. durable."""

    TABLES = {"work_items", "answers", "grades"}

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

    async def call(self, fn: Callable, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def close(self) -> None:
        self.executor.shutdown(wait=True)


# -- the engine -------------------------------------------------------------------

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

    # ---- entry --------------------------------------------------------------

    async def run(self) -> RunSummary:
        try:
            return await self._run()
        finally:
            self.db.close()

    async def _run(self) -> RunSummary:
        self.t0 = time.perf_counter()
        run = await self.db.call(self._load_run)
        self.kind = run["kind"]
        self.previous = json.loads(run["summary"]) if run["summary"] else None
        self.job = await self.db.call(make_job, self.ws, run)
        self.counts = await self.db.call(item_counts, self.ws, self.run_id)
        prior = await self.db.call(self.job.prior_usage, self.ws, self.previous)
        self._add_usage(prior)
        self.done_now, self.failed_now = self.counts["done"], self.counts["failed"]
        if self.counts["pending"] + self.counts["failed"] == 0:
            return await self._finish()
        provider = self.given_provider
        if provider is None:
            try:
                key = self.api_key or await asyncio.to_thread(get_api_key, self.job.config)
                limiter = RateLimiter(self.rpm) if self.rpm else None
                provider = make_provider(self.job.config, key, max_connections=self.concurrency,
                                         rate_limiter=limiter)
            except (MissingKeyError, ProviderError) as exc:
                self._stop(FAILED, str(exc))
                return await self._finish()
        await self.db.call(self._set_status, RUNNING)
        try:
            await self._work(provider)
        finally:
            if self.given_provider is None:
                await provider.aclose()
        return await self._finish()

    def _load_run(self) -> dict:
        run = self.ws.query_one("SELECT * FROM runs WHERE id = ?", (self.run_id,))
        if run is None:
            raise RunError(f"no run {self.run_id!r}")
        return run

    async def _work(self, provider: Provider) -> None:
        self.provider = provider
        self.writer = _BatchWriter(self.ws, self.db)
        self.writer.start()
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
                self.calls += 1
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
            self._add_usage(outcome.usage)
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

    def _add_usage(self, usage: Usage) -> None:
        t = self.tokens
        self.tokens = Usage(input_tokens=t.input_tokens + (usage.input_tokens or 0),
                            output_tokens=t.output_tokens + (usage.output_tokens or 0),
                            reasoning_tokens=t.reasoning_tokens + (usage.reasoning_tokens or 0))
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
        counts = await self.db.call(item_counts, self.ws, self.run_id)
        errors = await self.db.call(_error_counts, self.ws, self.run_id)
        if self.stop_status is not None:
            status = self.stop_status
        else:
            status = DONE if counts["pending"] + counts["failed"] == 0 else INCOMPLETE
        session = time.perf_counter() - self.t0
        summary = RunSummary(
            run_id=self.run_id, kind=self.kind, status=status, total=counts["total"], done=counts["done"],
            failed=counts["failed"], pending=counts["pending"], input_tokens=self.tokens.input_tokens,
            output_tokens=self.tokens.output_tokens, reasoning_tokens=self.tokens.reasoning_tokens, cost=self.cost,
            elapsed=(self.previous or {}).get("elapsed", 0.0) + session, session_elapsed=session, calls=self.calls,
            message=self.stop_message if status == FAILED else None, errors=errors,
        )
        await self.db.call(self._store_summary, summary)
        if self.on_progress is not None:
            final = self.snapshot()
            self._emit(RunProgress(self.run_id, counts["total"], counts["done"], counts["failed"], 0,
                                   final.input_tokens, final.output_tokens, final.cost, final.elapsed, 0.0))
        return summary

    def _set_status(self, status: str) -> None:
        with self.ws.transaction({"runs"}) as conn:
            conn.execute("UPDATE runs SET status = ?, finished_at = NULL WHERE id = ?", (status, self.run_id))

    def _store_summary(self, summary: RunSummary) -> None:
        with self.ws.transaction({"runs"}) as conn:
            conn.execute("UPDATE runs SET status = ?, summary = ?, finished_at = ? WHERE id = ?",
                         (summary.status, json.dumps(summary.as_dict()), now(), self.run_id))


async def execute_run(ws: Workspace, run_id: str, *, concurrency: int = 32, rpm: float | None = None,
                      on_progress: Callable[[RunProgress], None] | None = None, cancel: CancelSignal | None = None,
                      api_key: str | None = None, provider: Provider | None = None,
                      max_consecutive_failures: int | None = None) -> RunSummary:
    """Work through the run's unfinished items (pending, or failed earlier).

    concurrency: calls at once. rpm: requests per minute cap (None: none;
    with `provider` given, give that provider a RateLimiter instead).
    on_progress: called on the event loop with a RunProgress, at most every
    0.1 s and once at the end. cancel: set it to stop cleanly (in-flight
    calls are abandoned; every stored result is complete). api_key: else
    looked up with secrets.get_api_key. provider: use this one instead of
    making one (it is not closed). Returns the summary, also stored in
    runs.summary; a fatal provider error gives status "failed" and a message
    saying what to fix rather than an exception.
    """
    engine = _Engine(ws, run_id, concurrency=concurrency, rpm=rpm, on_progress=on_progress, cancel=cancel,
                     api_key=api_key, provider=provider, max_consecutive_failures=max_consecutive_failures)
    return await engine.run()


async def resume_run(ws: Workspace, run_id: str, **options: Any) -> RunSummary:
    """Finish a run that stopped (killed, cancelled, failed): the same as
    execute_run, which only ever takes unfinished items."""
    return await execute_run(ws, run_id, **options)
