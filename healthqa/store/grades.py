"""Raters, answers, grades (with history) and per-answer reviews."""

from __future__ import annotations

import hashlib
import json

from ..domain import INCOMPLETE_ANSWERS, Answer, RaterKind, Verdict, new_id
from ..limits import Label, PlainName, check, check_answer
from .workspace import Workspace, now


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- raters -----------------------------------------------------------------

# The clinician rater holding adjudicated final verdicts: scored like any
# rater, but never one of the voices compared or counted in a majority, since
# its verdicts are derived from theirs.
ADJUDICATED_RATER = "Adjudicated"

def ensure_rater(ws: Workspace, name: str, kind: RaterKind | str = RaterKind.CLINICIAN, *,
                 role: str | None = None, specialty: str | None = None,
                 model_config_id: str | None = None, grader_settings: dict | None = None) -> str:
    """The id of the rater of that name, created if new.

    A name is one person or one grader configuration: the same name with
    the other kind is refused rather than silently merged.
    """
    kind = RaterKind(kind).value
    row = ws.query_one("SELECT id, kind FROM raters WHERE name = ?", (name,))
    if row:
        if row["kind"] != kind:
            raise ValueError(f"rater {name!r} exists already as a {row['kind']}, not a {kind}")
        if role or specialty:
            with ws.transaction({"raters"}) as conn:
                conn.execute(
                    "UPDATE raters SET role = coalesce(?, role), specialty = coalesce(?, specialty) WHERE id = ?",
                    (role, specialty, row["id"]),
                )
        return row["id"]
    check(name, _NAME_RULE[kind], "rater name")
    rater_id = new_id()
    with ws.transaction({"raters"}) as conn:
        conn.execute(
            """INSERT INTO raters (id, name, kind, role, specialty, model_config_id, grader_settings, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            (rater_id, name, kind, role, specialty, model_config_id,
             json.dumps(grader_settings) if grader_settings else None, now()),
        )
    return rater_id


# What a new rater's name must be: a clinician's is a plain name, since their review bundle is
# refused with any other (limits.plain_name); a model grader is named after its config ("org/model").
_NAME_RULE = {RaterKind.CLINICIAN.value: PlainName, RaterKind.MODEL.value: Label}


def rename_clinician(ws: Workspace, old: str, new: str, error=ValueError) -> None:
    """Give a clinician another name; their grades, assignments and flags hang on the id and stay
    theirs. For a typo, or a name saved before names had to be plain (its bundles are refused)."""
    row = ws.query_one("SELECT id, kind FROM raters WHERE name = ?", (old,))
    if row is None:
        known = ", ".join(r["name"] for r in list_raters(ws, RaterKind.CLINICIAN)) or "none"
        raise error(f"no clinician named {old!r} (clinicians: {known})")
    if row["kind"] != RaterKind.CLINICIAN.value:
        raise error(f"{old!r} is a model grader; it is named after its model config")
    if ADJUDICATED_RATER in (old, new):
        raise error(f"{ADJUDICATED_RATER!r} holds the adjudicated verdicts; it is not a person to rename")
    check(new, PlainName, "new name")
    with ws.transaction({"raters"}) as conn:
        if conn.execute("SELECT 1 FROM raters WHERE name = ?", (new,)).fetchone():
            raise error(f"a rater named {new!r} exists already")
        conn.execute("UPDATE raters SET name = ? WHERE id = ?", (new, row["id"]))


def list_raters(ws: Workspace, kind: RaterKind | str | None = None) -> list[dict]:
    if kind is None:
        return ws.query("SELECT * FROM raters ORDER BY kind, name")
    return ws.query("SELECT * FROM raters WHERE kind = ? ORDER BY name", (RaterKind(kind).value,))


def rater_id_by_name(ws: Workspace, name: str) -> str | None:
    return ws.scalar("SELECT id FROM raters WHERE name = ?", (name,))


# -- answers ----------------------------------------------------------------

def add_answer(ws: Workspace, question_id: str, answer: Answer, *, run_id: str | None = None,
               sample: int = 0, model_config_id: str | None = None) -> tuple[str, bool]:
    """Store an answer; returns (id, created).

    Imported answers are identified by (question, model, text), run answers
    by (run, question, sample): storing either twice returns the first.
    """
    check_answer(answer)  # nothing beyond the limits enters a workspace (healthqa.limits)
    digest = text_hash(answer.text)
    with ws.transaction({"answers"}) as conn:
        if run_id is None:
            row = conn.execute(
                "SELECT id FROM answers WHERE question_id = ? AND model = ? AND text_sha256 = ? AND run_id IS NULL",
                (question_id, answer.model, digest),
            ).fetchone()
        else:
            row = conn.execute(
                "SELECT id FROM answers WHERE run_id = ? AND question_id = ? AND sample = ?",
                (run_id, question_id, sample),
            ).fetchone()
        if row:
            return row[0], False
        answer_id = new_id()
        conn.execute(
            """INSERT INTO answers (id, question_id, model, model_config_id, run_id, sample, text, text_sha256,
                   finish_reason, input_tokens, output_tokens, reasoning_tokens, latency_ms, response_id,
                   error, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (answer_id, question_id, answer.model, model_config_id, run_id, sample, answer.text, digest,
             answer.finish_reason, answer.usage.input_tokens, answer.usage.output_tokens,
             answer.usage.reasoning_tokens, answer.latency_ms, answer.response_id, answer.error, now()),
        )
        usage = answer.usage
        if usage.cached_input_tokens is not None or usage.cache_write_tokens is not None:
            # Only provider replies carry cache figures (imported answers never do), so a
            # workspace or bundle of a schema before these columns still takes the others.
            conn.execute("UPDATE answers SET cached_input_tokens = ?, cache_write_tokens = ? WHERE id = ?",
                         (usage.cached_input_tokens, usage.cache_write_tokens, answer_id))
    return answer_id, True


def answer_rows(ws: Workspace, *, run_id: str | None = None, set_id: str | None = None,
                model: str | None = None, question_id: str | None = None) -> list[dict]:
    where, params = [], []
    for clause, value in (
        ("a.run_id = ?", run_id),
        ("a.question_id IN (SELECT question_id FROM set_members WHERE set_id = ?)", set_id),
        ("a.model = ?", model),
        ("a.question_id = ?", question_id),
    ):
        if value is not None:
            where.append(clause)
            params.append(value)
    return ws.query(
        f"""SELECT a.*, q.prompt_id FROM answers a JOIN questions q ON q.id = a.question_id
            {'WHERE ' + ' AND '.join(where) if where else ''}
            ORDER BY a.rowid""",
        params,
    )


def answer_filter(*, model: str | None = None, run_id: str | None = None, set_name: str | None = None,
                  alias: str = "a", exclude_truncated: bool = False) -> tuple[list[str], list]:
    """WHERE clauses (and their parameters) that select answers by model, run
    and question set: the one filter every score, export and statistic uses.
    `exclude_truncated` leaves out answers cut off or filtered (INCOMPLETE_ANSWERS)."""
    where, params = [], []
    if exclude_truncated:
        marks = ", ".join("?" * len(INCOMPLETE_ANSWERS))
        where.append(f"({alias}.finish_reason IS NULL OR {alias}.finish_reason NOT IN ({marks}))")
        params.extend(INCOMPLETE_ANSWERS)
    if model:
        where.append(f"{alias}.model = ?")
        params.append(model)
    if run_id:
        where.append(f"{alias}.run_id = ?")
        params.append(run_id)
    if set_name:
        where.append(f"{alias}.question_id IN (SELECT m.question_id FROM set_members m JOIN question_sets s "
                     "ON s.id = m.set_id WHERE s.name = ?)")
        params.append(set_name)
    return where, params


def list_models(ws: Workspace) -> list[str]:
    return [r["model"] for r in ws.query("SELECT DISTINCT model FROM answers ORDER BY model")]


# -- grades -----------------------------------------------------------------

def set_grade(ws: Workspace, answer_id: str, criterion_id: str, rater_id: str,
              verdict: Verdict | str | None, explanation: str | None = None, *,
              active_seconds: float | None = None, reason: str | None = None,
              changed_by: str | None = None) -> bool:
    """Save one verdict at once (autosave). A change keeps the old value in
    grade_history. Returns True when something changed."""
    verdict = Verdict(verdict).value if verdict is not None else None
    stamp = now()
    with ws.transaction({"grades"}) as conn:
        row = conn.execute(
            "SELECT id, verdict, explanation FROM grades WHERE answer_id = ? AND criterion_id = ? AND rater_id = ?",
            (answer_id, criterion_id, rater_id),
        ).fetchone()
        if row is None:
            conn.execute(
                """INSERT INTO grades (id, answer_id, criterion_id, rater_id, verdict, explanation,
                       active_seconds, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (new_id(), answer_id, criterion_id, rater_id, verdict, explanation, active_seconds or 0,
                 stamp, stamp),
            )
            return True
        grade_id, old_verdict, old_explanation = row
        if old_verdict == verdict and old_explanation == explanation and not active_seconds:
            return False
        if old_verdict != verdict or old_explanation != explanation:
            conn.execute(
                """INSERT INTO grade_history (grade_id, answer_id, criterion_id, rater_id, old_verdict, new_verdict,
                       old_explanation, new_explanation, reason, changed_by, changed_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (grade_id, answer_id, criterion_id, rater_id, old_verdict, verdict, old_explanation,
                 explanation, reason, changed_by, stamp),
            )
        conn.execute(
            """UPDATE grades SET verdict = ?, explanation = ?, active_seconds = active_seconds + ?, updated_at = ?
               WHERE id = ?""",
            (verdict, explanation, active_seconds or 0, stamp, grade_id),
        )
    return True


def add_new_grades(ws: Workspace, answer_id: str, rater_id: str,
                   grades: list[tuple[str, str | None, str | None]]) -> int:
    """Bulk-insert (criterion_id, verdict, explanation) for an answer the
    rater has not graded yet (a fresh import): no history to keep."""
    stamp = now()
    with ws.transaction({"grades"}) as conn:
        conn.executemany(
            """INSERT INTO grades (id, answer_id, criterion_id, rater_id, verdict, explanation,
                   active_seconds, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)""",
            [(new_id(), answer_id, cid, rater_id, Verdict(v).value if v else None, e, stamp, stamp)
             for cid, v, e in grades],
        )
    return len(grades)


def grades_for_answer(ws: Workspace, answer_id: str, rater_id: str | None = None) -> list[dict]:
    sql = """SELECT g.*, r.name AS rater, r.kind AS rater_kind FROM grades g JOIN raters r ON r.id = g.rater_id
             WHERE g.answer_id = ?"""
    params: list = [answer_id]
    if rater_id:
        sql += " AND g.rater_id = ?"
        params.append(rater_id)
    return ws.query(sql, params)


def grade_history(ws: Workspace, answer_id: str) -> list[dict]:
    return ws.query("SELECT * FROM grade_history WHERE answer_id = ? ORDER BY id", (answer_id,))


# -- per-answer reviews -----------------------------------------------------

def save_review(ws: Workspace, answer_id: str, rater_id: str, *, comment: str | None = None,
                unsafe: bool | None = None, active_seconds: float = 0, submitted: bool = False) -> None:
    stamp = now()
    with ws.transaction({"answer_reviews"}) as conn:
        conn.execute(
            """INSERT INTO answer_reviews (answer_id, rater_id, comment, unsafe, active_seconds, submitted_at, updated_at)
               VALUES (?, ?, ?, coalesce(?, 0), ?, ?, ?)
               ON CONFLICT (answer_id, rater_id) DO UPDATE SET
                   comment = coalesce(excluded.comment, comment),
                   unsafe = coalesce(?, unsafe),
                   active_seconds = active_seconds + excluded.active_seconds,
                   submitted_at = coalesce(excluded.submitted_at, submitted_at),
                   updated_at = excluded.updated_at""",
            (answer_id, rater_id, comment, None if unsafe is None else int(unsafe), active_seconds,
             stamp if submitted else None, stamp, None if unsafe is None else int(unsafe)),
        )


def get_review(ws: Workspace, answer_id: str, rater_id: str) -> dict | None:
    return ws.query_one("SELECT * FROM answer_reviews WHERE answer_id = ? AND rater_id = ?", (answer_id, rater_id))
