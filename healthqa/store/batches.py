"""Provider batches in the workspace: what a batch run sent, where it stands,
which work items each batch holds (schema: provider_batches, batch_items).

A work item in a batch that is not yet collected is "live": it is never
sent again until that batch's results are stored.
"""

from __future__ import annotations

import json
from typing import Iterable

from ..domain import new_id
from .workspace import Workspace, now

BATCH_TABLES = {"provider_batches", "batch_items"}
SUBMITTING = "submitting"


def batch_rows(ws: Workspace, run_id: str) -> list[dict]:
    """A run's batches, oldest first, as `runs show --json` reports them (exact keys)."""
    return [{"provider_id": r["provider_id"], "state": r["state"], "submitted": r["submitted"],
             "succeeded": r["succeeded"], "errored": r["errored"], "expired": r["expired"],
             "created_at": r["created_at"], "ended_at": r["ended_at"]}
            for r in ws.query("SELECT * FROM provider_batches WHERE run_id = ? ORDER BY created_at, rowid", (run_id,))]


def batch_details(ws: Workspace, run_id: str) -> list[dict]:
    """Every column of a run's batches (the Runs panel, the engine), oldest first; refs decoded."""
    rows = ws.query("SELECT * FROM provider_batches WHERE run_id = ? ORDER BY created_at, rowid", (run_id,))
    for row in rows:
        row["refs"] = json.loads(row["refs"] or "{}")
    return rows


def has_open_batches(ws: Workspace) -> bool:
    """Whether any run of the workspace has provider batches still working for it (results not
    stored yet, not cancelled by the user: a cancelled run waits for an explicit resume)."""
    return ws.scalar("SELECT 1 FROM provider_batches WHERE collected = 0 AND cancel_requested = 0 LIMIT 1") \
        is not None


def open_batches(ws: Workspace, run_id: str) -> list[dict]:
    """The run's batches whose results are not stored yet."""
    return [r for r in batch_details(ws, run_id) if not r["collected"]]


def live_item_ids(ws: Workspace, run_id: str) -> set[str]:
    return {r["work_item_id"] for r in ws.query(
        """SELECT bi.work_item_id FROM batch_items bi JOIN provider_batches b ON b.id = bi.batch_id
           WHERE b.run_id = ? AND b.collected = 0""", (run_id,))}


def sendable_count(ws: Workspace, run_id: str, max_attempts: int) -> int:
    """Items of the run still to send: unfinished, attempts to spare, in no live batch."""
    return ws.scalar(
        """SELECT count(*) FROM work_items w WHERE w.run_id = ? AND w.status IN ('pending', 'failed')
               AND w.attempts < ? AND NOT EXISTS (
                   SELECT 1 FROM batch_items bi JOIN provider_batches b ON b.id = bi.batch_id
                   WHERE bi.work_item_id = w.id AND b.collected = 0)""", (run_id, max_attempts))


def start_batch(ws: Workspace, run_id: str, provider: str, items: Iterable[tuple[str, int]]) -> str:
    """A batch row in state 'submitting' holding `items` ((work item id, attempts)), before
    anything is sent: from here on those items are live and cannot be sent twice."""
    batch_id, stamp = new_id(), now()
    with ws.transaction(BATCH_TABLES) as conn:
        conn.execute("""INSERT INTO provider_batches (id, run_id, provider, state, created_at, updated_at)
                        VALUES (?, ?, ?, ?, ?, ?)""", (batch_id, run_id, provider, SUBMITTING, stamp, stamp))
        conn.executemany("INSERT INTO batch_items (batch_id, work_item_id, attempts) VALUES (?, ?, ?)",
                         ((batch_id, item_id, attempts) for item_id, attempts in items))
    return batch_id


def drop_batch(ws: Workspace, batch_id: str) -> None:
    """Forget a batch the provider refused: its items are free again, nothing half-stored."""
    with ws.transaction(BATCH_TABLES) as conn:
        conn.execute("DELETE FROM provider_batches WHERE id = ?", (batch_id,))


def update_batch(ws: Workspace, batch_id: str, **fields) -> None:
    """Store what the provider last said (state, counts, ids, refs, times)."""
    if "refs" in fields:
        fields["refs"] = json.dumps(fields["refs"])
    fields["updated_at"] = now()
    names = ", ".join(f"{k} = ?" for k in fields)
    with ws.transaction({"provider_batches"}) as conn:
        conn.execute(f"UPDATE provider_batches SET {names} WHERE id = ?", (*fields.values(), batch_id))


def batch_item_attempts(ws: Workspace, batch_id: str) -> dict[str, int]:
    """The work item ids a batch carries, with their attempts when sent."""
    return {r["work_item_id"]: r["attempts"] for r in ws.query(
        "SELECT work_item_id, attempts FROM batch_items WHERE batch_id = ?", (batch_id,))}


def claim_poller(ws: Workspace, owner: dict, alive) -> dict | None:
    """Make this process the workspace's one batch poller; the live other
    owner if there is one (then nothing changes). `alive(owner)` says whether a
    recorded owner's process still runs."""
    with ws.transaction() as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'batch_poller'").fetchone()
        current = json.loads(row[0]) if row else None
        if current and current != owner and alive(current) is not False:
            return current
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('batch_poller', ?)", (json.dumps(owner),))
    return None


def release_poller(ws: Workspace, owner: dict) -> None:
    with ws.transaction() as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'batch_poller'").fetchone()
        if row and json.loads(row[0]) == owner:
            conn.execute("DELETE FROM meta WHERE key = 'batch_poller'")
