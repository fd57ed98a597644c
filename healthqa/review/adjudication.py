"""Adjudication: where raters disagree on a criterion, a clinician records the final verdict.

Design choice: every final verdict is a grade of ONE clinician rater,
``ADJUDICATED_RATER`` ("Adjudicated"), whoever decided it.  One rater means one
reference label per (answer, criterion), which is scored like any other rater
(``healthqa score --rater Adjudicated``).  Per-adjudicator raters ("Adjudicated
(Dr X)") would split the reference whenever two people adjudicate.  Who decided
and when is kept in ``grade_history`` (reason ``adjudication``, ``changed_by``
= the adjudicator) for every decision, the first one included; the note is the
grade's explanation.

The adjudicated rater is never one of the raters compared here, and callers
computing agreement should leave it out too (:func:`compared_raters`): its
verdicts are derived from the others', so it would inflate agreement.
"""

from __future__ import annotations

import json

from ..agreement import agreement_report
from ..domain import RaterKind, Verdict
from ..errors import HealthQAError
from ..store import (ADJUDICATED_RATER, Workspace, answer_filter, check_rater_names, ensure_rater, load_conversation,
                     now, set_grade)
from .ratings import load_rating_table

ADJUDICATION_REASON = "adjudication"


class AdjudicationError(HealthQAError):
    """An adjudication that cannot be recorded; the message says why."""


def compared_raters(ws: Workspace, raters: list[str] | None = None) -> list[str]:
    """The raters whose verdicts are compared: ``raters`` (checked), else all but the adjudicated one."""
    known = [r["name"] for r in ws.query("SELECT name FROM raters ORDER BY kind, name")]
    if raters is None:
        return [name for name in known if name != ADJUDICATED_RATER]
    check_rater_names(raters, known, AdjudicationError)
    if ADJUDICATED_RATER in raters:
        raise AdjudicationError(f"{ADJUDICATED_RATER!r} holds final verdicts; it is not compared")
    return list(raters)


def agreement_overview(ws: Workspace, *, model: str | None = None, set_name: str | None = None,
                       by: tuple[str, ...] = (), n_boot: int = 2000, seed: int = 0,
                       min_pairs: int = 50) -> dict | None:
    """Agreement of the compared raters (all but the adjudicated one) with at least one verdict in scope.

    Returns None when fewer than two raters have verdicts, else {report (agreement_report, without
    its "by"), by: {name: groups} for each name in `by` ("axis", "theme", "criterion"), ratings (met /
    not-met verdicts), prevalence (share "met"), raters_per_item: (min, mean, max)}.  Every breakdown
    uses the same resamples (same seed), so the overall figures are those of any of them.
    """
    names = compared_raters(ws)
    if len(names) < 2:
        return None
    table = load_rating_table(ws, raters=names, model=model, set_name=set_name)
    rated = [name for j, name in enumerate(table.raters) if (table.values[:, j] >= 0).any()]
    if len(rated) < 2:
        return None
    reports = {name: agreement_report(table, raters=rated, by=name, n_boot=n_boot, seed=seed,
                                         min_clinician_n=min_pairs) for name in by} \
        or {None: agreement_report(table, raters=rated, n_boot=n_boot, seed=seed, min_clinician_n=min_pairs)}
    report = dict(next(iter(reports.values())))
    report.pop("by", None)
    per_item = (table.values >= 0).sum(axis=1)
    ratings = int(per_item.sum())
    return {
        "report": report,
        "by": {name: r["by"] for name, r in reports.items() if name},
        "ratings": ratings,
        "prevalence": float((table.values == 1).sum() / ratings) if ratings else None,
        "raters_per_item": (int(per_item.min()), float(per_item.mean()), int(per_item.max())) if ratings else None,
    }


def disagreements(ws: Workspace, raters: list[str] | None = None, model: str | None = None, *,
                  set_name: str | None = None) -> list[dict]:
    """Items (answer x criterion) where the raters' met / not-met verdicts differ.

    "Cannot judge" and missing grades are no verdict: they never make a
    disagreement, but they are listed with the others.  Each item:
    {answer_id, criterion_id, prompt_id, model, criterion, points, tags, met,
    not_met, verdicts: [{rater, kind, verdict, explanation, answer_comment}],
    adjudicated: {verdict, note, by, at} or None}, in answer then rubric order.
    """
    names = compared_raters(ws, raters)
    if len(names) < 2:
        return []
    filters, params = answer_scope(model, set_name)
    marks = ", ".join("?" * len(names))
    rows = ws.query(
        f"""WITH chosen AS (SELECT id FROM raters WHERE name IN ({marks})),
               split AS (
                 SELECT g.answer_id, g.criterion_id FROM grades g JOIN answers a ON a.id = g.answer_id
                 WHERE g.rater_id IN (SELECT id FROM chosen) AND g.verdict IN ('met', 'not_met') {filters}
                 GROUP BY g.answer_id, g.criterion_id HAVING min(g.verdict) <> max(g.verdict))
            SELECT s.answer_id, s.criterion_id, q.prompt_id, a.model, c.text AS criterion, c.points, c.tags,
                   r.name AS rater, r.kind, g.verdict, g.explanation, g.updated_at, rv.comment AS answer_comment
            FROM split s
            JOIN answers a ON a.id = s.answer_id
            JOIN questions q ON q.id = a.question_id
            JOIN criteria c ON c.id = s.criterion_id
            JOIN grades g ON g.answer_id = s.answer_id AND g.criterion_id = s.criterion_id
            JOIN raters r ON r.id = g.rater_id
            LEFT JOIN answer_reviews rv ON rv.answer_id = g.answer_id AND rv.rater_id = g.rater_id
            WHERE r.id IN (SELECT id FROM chosen) OR r.name = ?
            ORDER BY a.rowid, c.position, r.kind, r.name""",
        [*names, *params, ADJUDICATED_RATER],
    )
    deciders = _adjudicators(ws)
    items: dict[tuple[str, str], dict] = {}
    for row in rows:
        key = (row["answer_id"], row["criterion_id"])
        item = items.get(key)
        if item is None:
            item = items[key] = {
                "answer_id": row["answer_id"], "criterion_id": row["criterion_id"], "prompt_id": row["prompt_id"],
                "model": row["model"], "criterion": row["criterion"], "points": row["points"],
                "tags": json.loads(row["tags"]), "met": 0, "not_met": 0, "verdicts": [], "adjudicated": None,
            }
        if row["rater"] == ADJUDICATED_RATER:
            by, at = deciders.get(key, (None, row["updated_at"]))
            item["adjudicated"] = {"verdict": row["verdict"], "note": row["explanation"], "by": by, "at": at}
            continue
        if row["verdict"] in ("met", "not_met"):
            item[row["verdict"]] += 1
        item["verdicts"].append({"rater": row["rater"], "kind": row["kind"], "verdict": row["verdict"],
                                 "explanation": row["explanation"], "answer_comment": row["answer_comment"]})
    return list(items.values())


def adjudication_item(ws: Workspace, answer_id: str, criterion_id: str) -> dict:
    """Everything an adjudicator needs for one item: the conversation, the answer,
    the criterion, every rater's verdict and comment, the current decision and its history."""
    answer, criterion = _answer_and_criterion(ws, answer_id, criterion_id)
    grades = ws.query(
        """SELECT r.name AS rater, r.kind, g.verdict, g.explanation, rv.comment AS answer_comment
           FROM grades g JOIN raters r ON r.id = g.rater_id
           LEFT JOIN answer_reviews rv ON rv.answer_id = g.answer_id AND rv.rater_id = g.rater_id
           WHERE g.answer_id = ? AND g.criterion_id = ? ORDER BY r.kind, r.name""",
        (answer_id, criterion_id),
    )
    history = ws.query(
        """SELECT h.old_verdict, h.new_verdict, h.new_explanation AS note, h.changed_by AS by, h.changed_at AS at
           FROM grade_history h JOIN raters r ON r.id = h.rater_id
           WHERE h.answer_id = ? AND h.criterion_id = ? AND r.name = ? AND h.reason = ? ORDER BY h.id""",
        (answer_id, criterion_id, ADJUDICATED_RATER, ADJUDICATION_REASON),
    )
    final = next((g for g in grades if g["rater"] == ADJUDICATED_RATER), None)
    return {
        "answer_id": answer_id, "criterion_id": criterion_id, "prompt_id": answer["prompt_id"],
        "model": answer["model"], "conversation": load_conversation(ws, answer["conversation"]),
        "answer": answer["text"], "criterion": criterion["text"], "points": criterion["points"],
        "tags": json.loads(criterion["tags"]),
        "verdicts": [g for g in grades if g["rater"] != ADJUDICATED_RATER],
        "adjudicated": None if final is None else {
            "verdict": final["verdict"], "note": final["explanation"],
            "by": history[-1]["by"] if history else None, "at": history[-1]["at"] if history else None},
        "history": history,
    }


def adjudicate(ws: Workspace, answer_id: str, criterion_id: str, adjudicator_name: str,
               verdict: Verdict | str | bool, note: str | None = None) -> dict:
    """Record the final verdict on one item as a grade of ADJUDICATED_RATER.

    ``verdict`` is met / not_met / cannot_judge (or True / False).  A new
    decision replaces the previous one; both stay in grade_history.  Returns
    {answer_id, criterion_id, verdict, note, by, changed}.
    """
    adjudicator = (adjudicator_name or "").strip()
    if not adjudicator:
        raise AdjudicationError("an adjudication needs the adjudicator's name")
    final = _verdict(verdict)
    note = (note or "").strip() or None
    _answer_and_criterion(ws, answer_id, criterion_id)
    try:
        rater_id = ensure_rater(ws, ADJUDICATED_RATER, RaterKind.CLINICIAN, role="adjudication")
    except ValueError as exc:  # a model rater already took the name
        raise AdjudicationError(str(exc)) from None
    with ws.transaction({"grades"}) as conn:
        existed = conn.execute(
            "SELECT 1 FROM grades WHERE answer_id = ? AND criterion_id = ? AND rater_id = ?",
            (answer_id, criterion_id, rater_id),
        ).fetchone() is not None
        changed = set_grade(ws, answer_id, criterion_id, rater_id, final, note,
                            reason=ADJUDICATION_REASON, changed_by=adjudicator)
        if not existed:
            # set_grade keeps history of changes only; the first decision's author matters as much.
            grade_id = conn.execute(
                "SELECT id FROM grades WHERE answer_id = ? AND criterion_id = ? AND rater_id = ?",
                (answer_id, criterion_id, rater_id),
            ).fetchone()[0]
            conn.execute(
                """INSERT INTO grade_history (grade_id, answer_id, criterion_id, rater_id, old_verdict, new_verdict,
                       old_explanation, new_explanation, reason, changed_by, changed_at)
                   VALUES (?, ?, ?, ?, NULL, ?, NULL, ?, ?, ?, ?)""",
                (grade_id, answer_id, criterion_id, rater_id, final, note, ADJUDICATION_REASON, adjudicator, now()),
            )
    return {"answer_id": answer_id, "criterion_id": criterion_id, "verdict": final, "note": note,
            "by": adjudicator, "changed": changed}


def _verdict(value: Verdict | str | bool) -> str:
    if isinstance(value, bool):
        return Verdict.from_criteria_met(value).value
    try:
        return Verdict(value).value
    except ValueError:
        raise AdjudicationError(f"verdict must be one of {', '.join(v.value for v in Verdict)}, "
                                f"not {value!r}") from None


def _answer_and_criterion(ws: Workspace, answer_id: str, criterion_id: str) -> tuple[dict, dict]:
    answer = ws.query_one(
        """SELECT a.id, a.model, a.text, a.question_id, q.prompt_id, q.conversation
           FROM answers a JOIN questions q ON q.id = a.question_id WHERE a.id = ?""",
        (answer_id,),
    )
    if answer is None:
        raise AdjudicationError(f"no answer with id {answer_id!r}")
    criterion = ws.query_one("SELECT id, question_id, text, points, tags FROM criteria WHERE id = ?", (criterion_id,))
    if criterion is None or criterion["question_id"] != answer["question_id"]:
        raise AdjudicationError(f"criterion {criterion_id!r} is not in the rubric of answer {answer_id!r}")
    return answer, criterion


def _adjudicators(ws: Workspace) -> dict[tuple[str, str], tuple[str | None, str]]:
    """(answer, criterion) -> (who, when) of the latest adjudication."""
    rows = ws.query(
        """SELECT h.answer_id, h.criterion_id, h.changed_by, h.changed_at FROM grade_history h
           JOIN raters r ON r.id = h.rater_id WHERE r.name = ? AND h.reason = ? ORDER BY h.id""",
        (ADJUDICATED_RATER, ADJUDICATION_REASON),
    )
    return {(r["answer_id"], r["criterion_id"]): (r["changed_by"], r["changed_at"]) for r in rows}


def answer_scope(model: str | None, set_name: str | None) -> tuple[str, list]:
    """store.answer_filter as text to follow a WHERE clause (each condition starts with AND)."""
    where, params = answer_filter(model=model, set_name=set_name)
    return "".join(f" AND {clause}" for clause in where), params
