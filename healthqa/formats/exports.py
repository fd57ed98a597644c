"""Grades out of the workspace: long-form CSV / JSONL and HealthBench-style results.

- **Long form** (`export_long`): one row per answer x criterion x rater,
  for every (answer, rater) pair with at least one grade (criteria that
  rater left ungraded come out with an empty verdict), for R, pandas or a
  spreadsheet. CSV cells that a spreadsheet would run as a formula
  (starting with = + - @, tab or CR) are prefixed with a quote.
- **Results** (`export_results`): JSON Lines, one line per (model, rater),
  each line shaped as simple-evals' `*_allresults.json` (score, metrics,
  htmls, convos, metadata.example_level_metadata) plus the model and rater
  it is for; the figures are `results.score_workspace`'s.

Rows are read through a separate read-only connection and written as they
come (nothing is built in memory whole), through `output.open_output`: the
target gets the file once complete (and a FIFO or device is written into,
not replaced).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from ..domain import Verdict
from ..errors import HealthQAError
from ..scoring import MAJORITY, GradedCriterion, GradedExample, majority_verdict, score_example, score_workspace
from ..store import Workspace, load_conversation, rater_id_or_error, set_id_or_error
from .output import open_output

LONG_COLUMNS = ("prompt_id", "theme", "model", "run_id", "answer_id", "criterion_position", "criterion", "points",
                "tags", "axis", "rater", "rater_kind", "verdict", "criteria_met", "explanation", "active_seconds",
                "graded_at", "flagged", "flag_reason")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_FETCH = 2000


class ExportError(HealthQAError):
    """An export that cannot be written as asked; the message says why."""


# -- shared plumbing ------------------------------------------------------------------

@contextlib.contextmanager
def read_connection(ws: Workspace) -> Iterator[sqlite3.Connection]:
    """A read-only connection of its own: one consistent snapshot for a long
    read, without holding the workspace's writer lock (WAL lets both go on)."""
    conn = sqlite3.connect(f"{ws.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    try:
        conn.execute("BEGIN")  # a snapshot: every query below sees the same state
        yield conn
    finally:
        conn.close()


def safe_cell(value) -> object:
    """A CSV cell a spreadsheet shows as text: formula-like strings get a leading quote.
    Numbers stay numbers (a negative point value is data, not a formula)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        value = ";".join(map(str, value))
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def write_rows(out: str | Path, rows: Iterable[dict], columns: Sequence[str], fmt: str) -> int:
    """Stream dict rows to CSV (header + safe cells) or JSONL; returns the row count."""
    if fmt not in ("csv", "jsonl"):
        raise ExportError(f"unknown row format {fmt!r} (csv or jsonl)")
    count = 0
    with open_output(out, newline="" if fmt == "csv" else None) as handle:
        if fmt == "csv":
            writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
            writer.writerow(columns)
            for row in rows:
                writer.writerow([safe_cell(row.get(c)) for c in columns])
                count += 1
        else:
            for row in rows:
                handle.write(json.dumps({c: row.get(c) for c in columns}, ensure_ascii=False) + "\n")
                count += 1
    return count


def _set_id(ws: Workspace, set_name: str) -> str:
    return set_id_or_error(ws, set_name, ExportError)


def _rater_id(ws: Workspace, rater: str) -> str:
    return rater_id_or_error(ws, rater, ExportError)


def _answer_filters(ws: Workspace, *, set_name: str | None, model: str | None,
                    run_id: str | None) -> tuple[list[str], list]:
    """SQL conditions over answers `a`, after checking that a named set exists."""
    where, params = [], []
    if set_name is not None:
        where.append("a.question_id IN (SELECT question_id FROM set_members WHERE set_id = ?)")
        params.append(_set_id(ws, set_name))
    for clause, value in (("a.model = ?", model), ("a.run_id = ?", run_id)):
        if value is not None:
            where.append(clause)
            params.append(value)
    return where, params


# -- long form ----------------------------------------------------------------------

_LONG_SQL = """
WITH pairs AS (SELECT DISTINCT answer_id, rater_id FROM grades)
SELECT q.prompt_id, q.theme, a.model, a.run_id, a.id, c.position, c.text, c.points, c.tags,
       r.name, r.kind, g.verdict, g.explanation, g.active_seconds, g.updated_at, f.reason
FROM pairs p
JOIN answers a ON a.id = p.answer_id
JOIN raters r ON r.id = p.rater_id
JOIN questions q ON q.id = a.question_id
JOIN criteria c ON c.question_id = a.question_id
LEFT JOIN grades g ON g.answer_id = p.answer_id AND g.criterion_id = c.id AND g.rater_id = p.rater_id
LEFT JOIN criterion_flags f ON f.criterion_id = c.id AND f.rater_id = p.rater_id
{where}
ORDER BY a.rowid, r.kind, r.name, c.position
"""


def iter_long_rows(ws: Workspace, *, set_name: str | None = None, model: str | None = None,
                   rater: str | None = None, run_id: str | None = None) -> Iterator[dict]:
    """Long-form rows (LONG_COLUMNS), one answer x criterion x rater each, streamed."""
    where, params = _answer_filters(ws, set_name=set_name, model=model, run_id=run_id)
    if rater is not None:
        where.append("r.id = ?")
        params.append(_rater_id(ws, rater))
    sql = _LONG_SQL.format(where="WHERE " + " AND ".join(where) if where else "")
    tags_cache: dict[str, list[str]] = {}
    with read_connection(ws) as conn:
        cursor = conn.execute(sql, params)
        while batch := cursor.fetchmany(_FETCH):
            for (prompt_id, theme, answer_model, answer_run, answer_id, position, text, points, tags_json,
                 rater_name, rater_kind, verdict, explanation, active, graded_at, flag_reason) in batch:
                tags = tags_cache.get(tags_json)
                if tags is None:
                    tags = tags_cache[tags_json] = json.loads(tags_json)
                yield {
                    "prompt_id": prompt_id, "theme": theme, "model": answer_model, "run_id": answer_run,
                    "answer_id": answer_id, "criterion_position": position + 1, "criterion": text, "points": points,
                    "tags": tags, "axis": next((t.split(":", 1)[1] for t in tags if t.startswith("axis:")), None),
                    "rater": rater_name, "rater_kind": rater_kind, "verdict": verdict,
                    "criteria_met": Verdict(verdict).as_criteria_met() if verdict else None,
                    "explanation": explanation, "active_seconds": active, "graded_at": graded_at,
                    "flagged": flag_reason is not None, "flag_reason": flag_reason,
                }


def export_long(ws: Workspace, out: str | Path, *, fmt: str = "csv", set_name: str | None = None,
                model: str | None = None, rater: str | None = None, run_id: str | None = None) -> int:
    """Write the long form as CSV or JSONL; returns the number of rows."""
    rows = iter_long_rows(ws, set_name=set_name, model=model, rater=rater, run_id=run_id)
    return write_rows(out, rows, LONG_COLUMNS, fmt)


# -- HealthBench-style results ----------------------------------------------------------

def completion_id(prompt_id: str, completion: str) -> str:
    """simple-evals' completion id: SHA-256 of prompt_id + response text."""
    return hashlib.sha256((prompt_id + completion).encode("utf-8")).hexdigest()


_EXAMPLES_SQL = """
SELECT a.id, a.question_id, q.prompt_id, q.conversation, q.example_tags, a.text, a.input_tokens,
       a.output_tokens, a.reasoning_tokens, r.kind, g.criterion_id, g.verdict, g.explanation
FROM grades g JOIN answers a ON a.id = g.answer_id JOIN raters r ON r.id = g.rater_id
JOIN questions q ON q.id = a.question_id
WHERE a.model = ? AND {rater_clause} {where}
ORDER BY a.rowid
"""


def _usage(input_tokens, output_tokens, reasoning_tokens) -> dict | None:
    if input_tokens is None and output_tokens is None:
        return None
    total = (input_tokens or 0) + (output_tokens or 0)
    return {"input_tokens": input_tokens, "output_tokens": output_tokens,
            "output_reasoning_tokens": reasoning_tokens, "total_tokens": total}


def _grouped_by_answer(cursor) -> Iterator[list[tuple]]:
    """Consecutive rows of one answer (the query orders by answer)."""
    group: list[tuple] = []
    while batch := cursor.fetchmany(_FETCH):
        for row in batch:
            if group and row[0] != group[0][0]:
                yield group
                group = []
            group.append(row)
    if group:
        yield group


def _example_metadata(ws: Workspace, conn: sqlite3.Connection, rows: list[tuple], majority: bool,
                      rubrics: dict[str, list[tuple]], conversations: dict[str, list[dict]]) -> dict:
    answer_id, question_id, prompt_id, conversation, example_tags, text, tin, tout, treason = rows[0][:9]
    if majority:  # each criterion's verdict is the clinicians' majority
        votes: dict[str, list[bool]] = defaultdict(list)
        for row in rows:
            met = Verdict(row[11]).as_criteria_met() if row[11] else None
            if met is not None:
                votes[row[10]].append(met)
        given = {cid: (majority_verdict(v), None) for cid, v in votes.items()}
    else:
        given = {row[10]: (Verdict(row[11]).as_criteria_met() if row[11] else None, row[12]) for row in rows}
    if question_id not in rubrics:
        rubrics[question_id] = [(cid, t, p, json.loads(tags)) for cid, t, p, tags in conn.execute(
            "SELECT id, text, points, tags FROM criteria WHERE question_id = ? ORDER BY position", (question_id,))]
    if question_id not in conversations:
        conversations.clear()  # answers come grouped by question often enough; keep one conversation at a time
        conversations[question_id] = load_conversation(ws, conversation)
    items, graded = [], []
    for cid, criterion, points, tags in rubrics[question_id]:
        met, explanation = given.get(cid, (None, None))
        items.append({"criterion": criterion, "points": points, "tags": tags, "criteria_met": met,
                      "explanation": explanation})
        graded.append(GradedCriterion(points, met, tuple(tags)))
    score = score_example(GradedExample(tuple(json.loads(example_tags)), graded)).score
    return {
        "score": score,
        "usage": _usage(tin, tout, treason),
        "rubric_items": items,
        "prompt": conversations[question_id],
        "completion": [{"content": text, "role": "assistant"}],
        "prompt_id": prompt_id,
        "completion_id": completion_id(prompt_id, text),
        "answer_id": answer_id,
        "example_tags": json.loads(example_tags),  # not in simple-evals' entries: lets the import score themes
    }


def export_results(ws: Workspace, out: str | Path, *, set_name: str | None = None, model: str | None = None,
                   rater: str | None = None, run_id: str | None = None, n_boot: int = 1000) -> int:
    """Write simple-evals-shaped results, one JSON line per (model, rater); returns the line count."""
    where, params = _answer_filters(ws, set_name=set_name, model=model, run_id=run_id)
    if rater is not None and rater not in (MAJORITY, "majority"):
        _rater_id(ws, rater)  # a clear error for a name that is not there
    results = score_workspace(ws, model=model, rater=rater, set_name=set_name, run_id=run_id, n_boot=n_boot)
    extra = "".join(f" AND {w}" for w in where)
    with read_connection(ws) as conn, open_output(out) as handle:
        for entry in results:
            majority = entry["rater"] == MAJORITY
            head = {"model": entry["model"], "rater": entry["rater"], "rater_kind": entry["rater_kind"],
                    "score": entry["score"], "metrics": entry["metrics"], "htmls": [], "convos": [],
                    "ungraded": entry["ungraded"], "unscored": entry["unscored"]}
            # Stream the example list inside the line: the head, then each example as it is built.
            handle.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "metadata": {"example_level_metadata": [')
            clause, args = ("r.kind = 'clinician'", []) if majority else ("r.name = ?", [entry["rater"]])
            cursor = conn.execute(_EXAMPLES_SQL.format(rater_clause=clause, where=extra),
                                  [entry["model"], *args, *params])
            rubrics: dict[str, list[tuple]] = {}
            conversations: dict[str, list[dict]] = {}
            for i, rows in enumerate(_grouped_by_answer(cursor)):
                meta = _example_metadata(ws, conn, rows, majority, rubrics, conversations)
                handle.write((", " if i else "") + json.dumps(meta, ensure_ascii=False))
            handle.write("]}}\n")
    return len(results)
