"""Runs sent as provider batches (`healthqa run --batch`, `healthqa grade --batch`): the public
functions; the engine is batch_engine.py, what it does per item batch_items.py.

    run_id = create_run(ws, model_name="gpt-4.1", set_name="Demo")
    mark_batch_run(ws, run_id)
    summary = asyncio.run(execute_batch_run(ws, run_id, poll_interval=30))

The run's work items are the same as an interactive run's; only how they are
sent differs (batch_engine.py). `execute_batch_run` returns when every item is done
or out of attempts, or when cancelled (the provider batches go on; running it
again re-attaches to them). `cancel_run` cancels the provider batches.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any

from .. import store as records
from ..providers import ProviderError, make_batch_client
from ..secrets import get_api_key
from ..store import Workspace, now
from .batch_engine import DEFAULT_MAX_ATTEMPTS, DEFAULT_POLL, MAX_POLL, BatchEngine, BatchProgress
from .jobs import model_config_by_id
from .owner import busy_elsewhere
from .queries import is_batch_run
from .status import CANCELLED, FINISHED, RunError, RunSummary


def row_is_batch(row: dict) -> bool:
    return bool(json.loads(row["settings"] or "{}").get("batch"))


def mark_batch_run(ws: Workspace, run_id: str, *, max_attempts: int | None = None) -> None:
    """Make a freshly created run a batch run (its settings say so; resume reads them)."""
    with ws.transaction({"runs"}) as conn:
        settings = json.loads(conn.execute("SELECT settings FROM runs WHERE id = ?", (run_id,)).fetchone()[0])
        settings["batch"] = True
        settings.setdefault("max_attempts", max_attempts or DEFAULT_MAX_ATTEMPTS)
        conn.execute("UPDATE runs SET settings = ? WHERE id = ?", (json.dumps(settings), run_id))


async def execute_batch_run(ws: Workspace, run_id: str, **options: Any) -> RunSummary:
    """Send, poll and read back the run's batches until it is finished (see batch_engine.py).

    options: poll_interval (seconds, default 30), on_progress (BatchProgress),
    cancel (event: stop waiting; batches go on), api_key, client, workdir
    (where chunk files are written; the system temp folder by default).
    """
    return await BatchEngine(ws, run_id, **options).run()


def cancel_run(ws: Workspace, run_id: str, *, api_key: str | None = None) -> list[str]:
    """Cancel a run: its provider batches are cancelled (results they already
    have are read on the next resume), and a process working on it is asked to
    stop. Returns one line per thing done."""
    done: list[str] = []
    row = ws.query_one("SELECT status, settings, model_config_id FROM runs WHERE id = ?", (run_id,))
    if row is None:
        raise RunError(f"no run {run_id!r}")
    owner = busy_elsewhere(row["settings"])
    if owner is not None and owner.get("sigterm"):
        os.kill(int(owner["pid"]), signal.SIGTERM)  # the `healthqa` command stops cleanly on SIGTERM
        done.append(f"asked process {owner['pid']} to stop")
    elif owner is not None:
        # The desktop app: a signal would close the whole app. Its batch poller reads this at its next look.
        with ws.transaction({"runs"}) as conn:
            conn.execute("UPDATE runs SET settings = json_set(settings, '$.stop_requested', json('true')) "
                         "WHERE id = ?", (run_id,))
        done.append(f"asked process {owner['pid']} (the desktop app) to stop at its next look"
                    if row_is_batch(row) else
                    f"process {owner['pid']} (the desktop app) runs it: stop it with Cancel in its Runs panel")
    live = [b for b in records.open_batches(ws, run_id) if b["provider_id"]]
    if live:
        config = model_config_by_id(ws, row["model_config_id"])
        key = api_key or get_api_key(config)

        async def cancel_all() -> None:
            client = make_batch_client(config, key)
            try:
                for b in live:
                    status = await client.cancel(b["provider_id"])
                    records.update_batch(ws, b["id"], cancel_requested=1, state=status.state,
                                         raw_state=status.raw_state)
                    done.append(f"cancelled batch {b['provider_id']} ({status.state})")
            finally:
                await client.aclose()
        try:
            asyncio.run(cancel_all())
        except ProviderError as exc:
            raise RunError(exc.message) from None
    if owner is None and row["status"] not in FINISHED:
        with ws.transaction({"runs"}) as conn:
            conn.execute("UPDATE runs SET status = ?, finished_at = ? WHERE id = ?", (CANCELLED, now(), run_id))
        done.append("run marked cancelled")
    return done or ["nothing to cancel: the run has no live batches and no process working on it"]


__all__ = ["DEFAULT_MAX_ATTEMPTS", "DEFAULT_POLL", "MAX_POLL", "BatchEngine", "BatchProgress", "cancel_run",
           "execute_batch_run", "is_batch_run", "mark_batch_run"]
