"""Runs: questions × a model config × samples, sent concurrently.

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

What a run does per item is a `Job` (jobs.py): answer runs there, grade
runs (the model grader) in grader.py, which registers its job kind; all
share the engine (engine.py, its database thread in database.py). This
module creates, executes and resumes runs; queries.py reads them back.

    run_id = create_run(ws, set_name="Demo", model_name="gpt-4.1", samples=2)
    summary = asyncio.run(execute_run(ws, run_id, concurrency=32, on_progress=print))
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable, Sequence

from ..domain import new_id
from ..providers import Provider
from ..store import Workspace, get_model_config, now, set_id_or_error
from .engine import CancelSignal, _Engine
from .modes import check_mode, default_mode
from .queries import is_batch_run
from .status import PENDING, RunError, RunProgress, RunSummary

# -- creating runs ------------------------------------------------------------

def insert_run(ws: Workspace, *, kind: str, items: Sequence[tuple], model_config_id: str, samples: int = 1,
               set_id: str | None = None, source_run_id: str | None = None, rater_id: str | None = None,
               settings: dict | None = None, mode: str | None = None, drafts: int | None = None,
               aggregator_config_id: str | None = None) -> str:
    """The runs row and all its work items in one transaction.

    items: (key, question_id, sample, answer_id, criterion_id) tuples.
    """
    run_id, stamp = new_id(), now()
    with ws.transaction({"runs", "work_items"}) as conn:
        conn.execute(
            """INSERT INTO runs (id, kind, set_id, model_config_id, source_run_id, rater_id, samples, status,
                   settings, created_at, mode, drafts, aggregator_config_id)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (run_id, kind, set_id, model_config_id, source_run_id, rater_id, samples, PENDING,
             json.dumps(settings or {}), stamp, mode, drafts, aggregator_config_id),
        )
        conn.executemany(
            """INSERT INTO work_items (id, run_id, key, question_id, sample, answer_id, criterion_id, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            ((new_id(), run_id, key, qid, sample, aid, cid, stamp) for key, qid, sample, aid, cid in items),
        )
    return run_id


def create_run(ws: Workspace, *, model_name: str, set_name: str | None = None,
               question_ids: Sequence[str] | None = None, samples: int = 1, limit: int | None = None,
               mode: str | None = None, drafts: int | None = None, aggregator: str | None = None) -> str:
    """A new answer run over a question set (in set order) or the given
    question ids; every work item (key "<question_id>:<sample>") is stored
    before any call. Returns the run id.

    mode: instant, thinking or contemplating (modes.py); None: the
    config's own (thinking if it has a reasoning effort, else instant).
    drafts (default 4) and aggregator (a model config name; default the
    same config) go with contemplating."""
    if (set_name is None) == (question_ids is None):
        raise RunError("give a question set or a list of question ids (one of them)")
    if samples < 1:
        raise RunError("samples must be at least 1")
    if limit is not None and limit < 1:
        raise RunError("limit must be at least 1")
    config = get_model_config(ws, model_name)
    if config is None:
        raise RunError(f"no model config named {model_name!r}; add one with `healthqa models add`")
    aggregator_config = None
    if aggregator is not None:
        aggregator_config = get_model_config(ws, aggregator)
        if aggregator_config is None:
            raise RunError(f"no model config named {aggregator!r} for the aggregator; "
                           "add one with `healthqa models add`")
    mode = mode or default_mode(config)
    drafts = check_mode(config, mode, drafts, aggregator_config)
    set_id = None
    if set_name is not None:
        set_id = set_id_or_error(ws, set_name, RunError)
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
                      settings={"limit": limit, "questions": len(ids)}, mode=mode, drafts=drafts,
                      aggregator_config_id=aggregator_config.id if aggregator_config else None)


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
    if await asyncio.to_thread(is_batch_run, ws, run_id):
        # Sending its items one by one would bypass (and duplicate) the batches it has at the provider.
        raise RunError("this run goes out as provider batches: go on with execute_batch_run "
                       "(`healthqa run --resume`, or Resume in the Runs panel)")
    engine = _Engine(ws, run_id, concurrency=concurrency, rpm=rpm, on_progress=on_progress, cancel=cancel,
                     api_key=api_key, provider=provider, max_consecutive_failures=max_consecutive_failures)
    return await engine.run()


async def resume_run(ws: Workspace, run_id: str, **options: Any) -> RunSummary:
    """Finish a run that stopped (killed, cancelled, failed): the same as
    execute_run, which only ever takes unfinished items."""
    return await execute_run(ws, run_id, **options)
