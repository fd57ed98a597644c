"""Reading runs: resolving an id prefix, listing runs, one run's row, counts, failed items and errors."""

from __future__ import annotations

import json

from ..store import Workspace, batch_rows
from .owner import reported_status
from .status import RunError


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


def is_batch_run(ws: Workspace, run_id: str) -> bool:
    """Whether the run goes out as provider batches (`--batch`, batch.py) rather than call by call."""
    settings = ws.scalar("SELECT settings FROM runs WHERE id = ?", (run_id,))
    return bool(json.loads(settings or "{}").get("batch"))


def item_counts(ws: Workspace, run_id: str) -> dict[str, int]:
    counts = {"total": 0, "done": 0, "failed": 0, "pending": 0}
    for row in ws.query("SELECT status, count(*) AS n FROM work_items WHERE run_id = ? GROUP BY status", (run_id,)):
        counts[row["status"]] = row["n"]
        counts["total"] += row["n"]
    return counts


_RUN_COLUMNS = """r.id, r.kind, r.status, r.samples, r.created_at, r.finished_at, r.source_run_id,
                  s.name AS "set", coalesce(m.name, json_extract(r.settings, '$.imported.model')) AS model,
                  ra.name AS rater, r.mode, r.drafts, ag.name AS aggregator, r.settings AS owner_settings"""
_RUN_JOINS = """LEFT JOIN question_sets s ON s.id = r.set_id LEFT JOIN model_configs m ON m.id = r.model_config_id
                LEFT JOIN raters ra ON ra.id = r.rater_id LEFT JOIN model_configs ag ON ag.id = r.aggregator_config_id"""


def list_runs(ws: Workspace) -> list[dict]:
    """Every run, newest first: id, kind, set, model, rater, status, counts, times."""
    runs = ws.query(f"SELECT {_RUN_COLUMNS} FROM runs r {_RUN_JOINS} ORDER BY r.created_at DESC, r.rowid DESC")
    counts: dict[str, dict[str, int]] = {}
    for row in ws.query("SELECT run_id, status, count(*) AS n FROM work_items GROUP BY run_id, status"):
        c = counts.setdefault(row["run_id"], {"total": 0, "done": 0, "failed": 0, "pending": 0})
        c[row["status"]] = row["n"]
        c["total"] += row["n"]
    open_batches = {r["run_id"]: r["n"] for r in ws.query(
        "SELECT run_id, count(*) AS n FROM provider_batches WHERE collected = 0 AND cancel_requested = 0 "
        "GROUP BY run_id")}
    for run in runs:
        _report_status(run)
        run["counts"] = counts.get(run["id"], {"total": 0, "done": 0, "failed": 0, "pending": 0})
        # Provider batches still working for the run: results not stored yet, not cancelled by the user.
        run["open_batches"] = open_batches.get(run["id"], 0)
    return runs


def _report_status(run: dict) -> dict:
    """A run as reported: 'interrupted' where its process is gone (owner.py); `batch`: sent as provider batches."""
    settings = run.pop("owner_settings")
    run["status"] = reported_status(run["status"], settings)
    run["batch"] = bool(json.loads(settings or "{}").get("batch"))
    return run


def _select_run(ws: Workspace, run_id: str, columns: str) -> dict:
    run = ws.query_one(f"SELECT {columns} FROM runs r {_RUN_JOINS} WHERE r.id = ?", (run_id,))
    if run is None:
        raise RunError(f"no run {run_id!r}")
    run["open_batches"] = ws.scalar("SELECT count(*) FROM provider_batches WHERE run_id = ? AND collected = 0 "
                                    "AND cancel_requested = 0", (run_id,))
    return _report_status(run)


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
    run["batches"] = batch_rows(ws, run_id)  # provider batches of a --batch run (empty otherwise)
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
