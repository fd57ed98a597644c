"""Criterion flags: a clinician says a rubric item is wrong or unclear.

One flag per (criterion, clinician); flagging again replaces the reason and
comment, and `created_at` then holds the time of the latest version (offline
bundles use it to tell which version is newer). Flags never change a
rubric: they are a to-do list for whoever maintains the question set.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..domain import RaterKind, new_id
from ..errors import HealthQAError
from ..formats.exports import write_rows
from ..limits import MAX_FLAG_COMMENT
from ..store import Workspace, ensure_rater, now, rater_id_by_name

FLAG_REASONS = ("wrong_sign", "wrong_content", "ambiguous", "irrelevant", "other")
FLAG_COLUMNS = ("prompt_id", "criterion_position", "criterion", "points", "tags", "rater", "reason", "comment",
                "flagged_at")


class FlagError(HealthQAError):
    """A flag that cannot be saved as given; the message says why."""


def check_flag(reason: str, comment: str | None) -> None:
    if reason not in FLAG_REASONS:
        raise FlagError(f"reason must be one of {', '.join(FLAG_REASONS)}, not {reason!r}")
    if comment is not None and len(comment) > MAX_FLAG_COMMENT:
        raise FlagError(f"comment is longer than {MAX_FLAG_COMMENT:,} characters")


def criterion_id_at(ws: Workspace, prompt_id: str, position: int) -> str:
    """A criterion by its question's prompt_id and its place in the rubric (from 1, as shown)."""
    row = ws.query_one(
        """SELECT c.id FROM criteria c JOIN questions q ON q.id = c.question_id
           WHERE q.prompt_id = ? AND c.position = ?""", (prompt_id, position - 1))
    if row is None:
        raise FlagError(f"no criterion #{position} in question {prompt_id!r}")
    return row["id"]


def flag_criterion(ws: Workspace, criterion_id: str, rater: str, reason: str, comment: str | None = None) -> bool:
    """Flag (or re-flag) a criterion; returns True when something changed."""
    check_flag(reason, comment)
    comment = comment or None
    with ws.transaction({"criterion_flags"}) as conn:
        if conn.execute("SELECT 1 FROM criteria WHERE id = ?", (criterion_id,)).fetchone() is None:
            raise FlagError(f"no criterion with id {criterion_id!r}")
        try:
            rater_id = ensure_rater(ws, rater, RaterKind.CLINICIAN)
        except ValueError as exc:
            raise FlagError(str(exc)) from None
        row = conn.execute("SELECT reason, comment FROM criterion_flags WHERE criterion_id = ? AND rater_id = ?",
                           (criterion_id, rater_id)).fetchone()
        if row == (reason, comment):
            return False
        conn.execute(
            """INSERT INTO criterion_flags (id, criterion_id, rater_id, reason, comment, created_at)
               VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT (criterion_id, rater_id) DO UPDATE SET
                   reason = excluded.reason, comment = excluded.comment, created_at = excluded.created_at""",
            (new_id(), criterion_id, rater_id, reason, comment, now()),
        )
    return True


def unflag_criterion(ws: Workspace, criterion_id: str, rater: str) -> bool:
    """Withdraw a clinician's flag; returns True when there was one."""
    rater_id = rater_id_by_name(ws, rater)
    if rater_id is None:
        return False
    with ws.transaction({"criterion_flags"}) as conn:
        return conn.execute("DELETE FROM criterion_flags WHERE criterion_id = ? AND rater_id = ?",
                            (criterion_id, rater_id)).rowcount > 0


def list_flags(ws: Workspace, *, rater: str | None = None, prompt_id: str | None = None) -> list[dict]:
    """Flags with their question and criterion (FLAG_COLUMNS plus criterion_id), in rubric order."""
    where, params = [], []
    if rater is not None:
        where.append("r.name = ?")
        params.append(rater)
    if prompt_id is not None:
        where.append("q.prompt_id = ?")
        params.append(prompt_id)
    rows = ws.query(
        f"""SELECT q.prompt_id, c.position + 1 AS criterion_position, c.text AS criterion, c.points, c.tags,
                   r.name AS rater, f.reason, f.comment, f.created_at AS flagged_at, f.criterion_id
            FROM criterion_flags f JOIN criteria c ON c.id = f.criterion_id
            JOIN questions q ON q.id = c.question_id JOIN raters r ON r.id = f.rater_id
            {'WHERE ' + ' AND '.join(where) if where else ''}
            ORDER BY q.prompt_id, c.position, r.name""", params)
    for row in rows:
        row["tags"] = json.loads(row["tags"])
    return rows


def export_flags(ws: Workspace, out: str | Path, *, fmt: str = "csv", rater: str | None = None) -> int:
    """Write the flags as CSV (spreadsheet-safe) or JSONL; returns the number of rows."""
    return write_rows(out, list_flags(ws, rater=rater), FLAG_COLUMNS, fmt)
