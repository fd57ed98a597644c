"""A clinician's grading session, without Qt: what the grading panel needs.

- **Queue**: which answers a clinician grades, in a random order of their
  own. The order comes from a hash of (rater id, answer id), so it is stable
  across sessions and adding answers later does not reshuffle the others.
- **Blinding**: an answer is shown as "Answer 37" (its place in the queue);
  `load_answer` leaves the model's name out until the clinician submits.
- **Progress**: how many answers are submitted or started, and which
  criteria of the open answer still lack a verdict.
- **Reveal**: after submitting, the model graders' verdicts on the same
  criteria, and where they disagree with the clinician. A verdict changed
  after the reveal is saved with reason ``after_reveal``; the grade history
  keeps the old and the new value.
- **Active time**: `ActiveClock` counts the time between a clinician's
  actions, leaving out any pause longer than `IDLE_LIMIT` seconds.

Reads go through `Workspace.query`; every write goes through the store's
functions (`set_grade`, `save_review`), so autosave and history rules live
in one place.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Callable

from ..errors import HealthQAError
from ..store import Workspace, answer_drafts, load_conversation, save_review, set_grade

IDLE_LIMIT = 60.0  # seconds without any action after which the pause is not counted as grading time
AFTER_REVEAL = "after_reveal"
DEFINITE = ("met", "not_met")  # "cannot_judge" and no verdict are not a position to disagree with


class ReviewError(HealthQAError):
    """A grading step that cannot be done yet; the message says what is missing."""


class _Keep:
    """Marker: leave this field of a grade as it is."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP = _Keep()


# -- the queue ----------------------------------------------------------------

def _order_key(rater_id: str, answer_id: str) -> str:
    return hashlib.sha256(f"{rater_id}:{answer_id}".encode()).hexdigest()


def grading_queue(ws: Workspace, rater_id: str, *, set_id: str | None = None) -> list[str]:
    """Answer ids for this clinician, in their own stable random order.

    A clinician with assignments gets only the assigned answers; otherwise
    every answer that has text (failed calls are left out).
    """
    where, params = ["a.error IS NULL"], []
    if ws.scalar("SELECT 1 FROM assignments WHERE rater_id = ? LIMIT 1", (rater_id,)):
        where.append("a.id IN (SELECT answer_id FROM assignments WHERE rater_id = ?)")
        params.append(rater_id)
    if set_id:
        where.append("a.question_id IN (SELECT question_id FROM set_members WHERE set_id = ?)")
        params.append(set_id)
    rows = ws.query(f"SELECT a.id FROM answers a WHERE {' AND '.join(where)}", params)
    return sorted((r["id"] for r in rows), key=lambda answer_id: _order_key(rater_id, answer_id))


def blind_label(index: int) -> str:
    """The name an answer goes by while its model is hidden (index from 0)."""
    return f"Answer {index + 1}"


@dataclass(frozen=True)
class Progress:
    total: int
    submitted: int
    started: int  # some verdicts given, not yet submitted

    def position_text(self, index: int) -> str:
        return f"answer {index + 1} of {self.total}"


def submitted_ids(ws: Workspace, rater_id: str) -> set[str]:
    rows = ws.query("SELECT answer_id FROM answer_reviews WHERE rater_id = ? AND submitted_at IS NOT NULL",
                    (rater_id,))
    return {r["answer_id"] for r in rows}


def progress(ws: Workspace, rater_id: str, queue: list[str]) -> Progress:
    in_queue = set(queue)
    done = submitted_ids(ws, rater_id) & in_queue
    graded = {r["answer_id"] for r in ws.query(
        "SELECT DISTINCT answer_id FROM grades WHERE rater_id = ? AND verdict IS NOT NULL", (rater_id,))}
    return Progress(total=len(queue), submitted=len(done), started=len((graded & in_queue) - done))


def first_open_index(queue: list[str], submitted: set[str]) -> int:
    """Where a session resumes: the first answer not yet submitted (else the first)."""
    return next((i for i, answer_id in enumerate(queue) if answer_id not in submitted), 0)


# -- one answer -------------------------------------------------------------

@dataclass(frozen=True)
class CriterionView:
    id: str
    position: int
    text: str
    points: int
    tags: tuple[str, ...]

    @property
    def axis(self) -> str | None:
        return next((t.split(":", 1)[1] for t in self.tags if t.startswith("axis:")), None)


@dataclass
class AnswerView:
    """One answer as a clinician sees it. `model` stays None until submitted (blinding)."""

    answer_id: str
    question_id: str
    prompt_id: str
    conversation: list[dict]  # messages; images as data URLs
    answer_text: str
    criteria: list[CriterionView]
    verdicts: dict[str, str | None] = field(default_factory=dict)  # criterion id -> verdict
    comments: dict[str, str] = field(default_factory=dict)  # criterion id -> comment
    review_comment: str = ""
    unsafe: bool = False
    submitted: bool = False
    model: str | None = None
    finish_reason: str | None = None  # "length", "content_filter", "refusal": see domain.incomplete_label

    def missing(self) -> list[str]:
        """Ids of criteria that still lack a verdict, in rubric order."""
        return [c.id for c in self.criteria if self.verdicts.get(c.id) is None]


def load_answer(ws: Workspace, answer_id: str, rater_id: str) -> AnswerView:
    row = ws.query_one(
        """SELECT a.id, a.question_id, a.text, a.model, a.finish_reason, q.prompt_id, q.conversation
           FROM answers a JOIN questions q ON q.id = a.question_id WHERE a.id = ?""", (answer_id,))
    if row is None:
        raise ReviewError(f"answer {answer_id} is not in the workspace")
    criteria = [
        CriterionView(c["id"], c["position"], c["text"], c["points"], tuple(json.loads(c["tags"])))
        for c in ws.query("SELECT id, position, text, points, tags FROM criteria WHERE question_id = ? "
                          "ORDER BY position", (row["question_id"],))
    ]
    grades = ws.query("SELECT criterion_id, verdict, explanation FROM grades WHERE answer_id = ? AND rater_id = ?",
                      (answer_id, rater_id))
    review = ws.query_one("SELECT comment, unsafe, submitted_at FROM answer_reviews "
                          "WHERE answer_id = ? AND rater_id = ?", (answer_id, rater_id))
    submitted = bool(review and review["submitted_at"])
    return AnswerView(
        answer_id=answer_id,
        question_id=row["question_id"],
        prompt_id=row["prompt_id"],
        conversation=load_conversation(ws, row["conversation"]),
        answer_text=row["text"],
        criteria=criteria,
        verdicts={g["criterion_id"]: g["verdict"] for g in grades},
        comments={g["criterion_id"]: g["explanation"] for g in grades if g["explanation"]},
        review_comment=(review or {}).get("comment") or "",
        unsafe=bool(review and review["unsafe"]),
        submitted=submitted,
        model=row["model"] if submitted else None,
        finish_reason=row["finish_reason"],
    )


def record_grade(ws: Workspace, answer_id: str, criterion_id: str, rater_id: str, *,
                 verdict: str | None | _Keep = KEEP, comment: str | None | _Keep = KEEP,
                 active_seconds: float = 0.0) -> bool:
    """Save one verdict and/or comment at once, keeping the other field as stored.

    Once the clinician has submitted (and so seen the graders' verdicts),
    a change is saved with reason `after_reveal`.
    """
    with ws.transaction():  # read and write as one step, so a parallel edit cannot slip between
        current = ws.query_one("SELECT verdict, explanation FROM grades WHERE answer_id = ? AND criterion_id = ? "
                               "AND rater_id = ?", (answer_id, criterion_id, rater_id)) or {}
        new_verdict = current.get("verdict") if verdict is KEEP else verdict
        new_comment = current.get("explanation") if comment is KEEP else (comment or None)
        revealed = is_submitted(ws, answer_id, rater_id)
        return set_grade(ws, answer_id, criterion_id, rater_id, new_verdict, new_comment,
                         active_seconds=active_seconds, reason=AFTER_REVEAL if revealed else None,
                         changed_by=rater_id)


def is_submitted(ws: Workspace, answer_id: str, rater_id: str) -> bool:
    return bool(ws.scalar("SELECT submitted_at FROM answer_reviews WHERE answer_id = ? AND rater_id = ?",
                          (answer_id, rater_id)))


# -- submit and reveal ---------------------------------------------------------

@dataclass(frozen=True)
class GraderVerdict:
    rater: str
    verdict: str | None
    explanation: str | None


@dataclass
class Reveal:
    """What a clinician may see once they have submitted."""

    model: str
    graders: dict[str, list[GraderVerdict]]  # criterion id -> the model graders' verdicts
    disagreements: list[str]  # criterion ids where a grader's definite verdict differs from the clinician's
    # A contemplating answer's drafts (store.answer_drafts), empty for others: like the
    # model's name, they could sway the grading, so they are read only here, after submitting.
    drafts: list[dict] = field(default_factory=list)

    @property
    def grader_names(self) -> list[str]:
        return sorted({g.rater for verdicts in self.graders.values() for g in verdicts})


def disagrees(mine: str | None, theirs: str | None) -> bool:
    """Both took a position (met / not met) and the positions differ."""
    return mine in DEFINITE and theirs in DEFINITE and mine != theirs


def submit_answer(ws: Workspace, answer_id: str, rater_id: str, *, comment: str | None = None,
                  unsafe: bool | None = None, active_seconds: float = 0.0) -> Reveal:
    """Mark an answer as graded by this clinician, then reveal the graders' verdicts.

    Refused while a criterion has no verdict ("cannot judge" counts as one).
    """
    missing = ws.query(
        """SELECT c.position FROM criteria c JOIN answers a ON a.question_id = c.question_id
           LEFT JOIN grades g ON g.criterion_id = c.id AND g.answer_id = a.id AND g.rater_id = ?
           WHERE a.id = ? AND g.verdict IS NULL ORDER BY c.position""", (rater_id, answer_id))
    if missing:
        numbers = ", ".join(str(r["position"] + 1) for r in missing)
        noun = "criterion" if len(missing) == 1 else "criteria"
        raise ReviewError(f"{len(missing)} {noun} still need a verdict: #{numbers}")
    save_review(ws, answer_id, rater_id, comment=comment, unsafe=unsafe, active_seconds=active_seconds,
                submitted=True)
    return reveal(ws, answer_id, rater_id)


def reveal(ws: Workspace, answer_id: str, rater_id: str) -> Reveal:
    """The model graders' verdicts on this answer; only after the clinician submitted."""
    if not is_submitted(ws, answer_id, rater_id):
        raise ReviewError("the grader's verdicts are shown once you have submitted your own")
    model = ws.scalar("SELECT model FROM answers WHERE id = ?", (answer_id,))
    mine = {r["criterion_id"]: r["verdict"] for r in ws.query(
        "SELECT criterion_id, verdict FROM grades WHERE answer_id = ? AND rater_id = ?", (answer_id, rater_id))}
    graders: dict[str, list[GraderVerdict]] = {}
    for r in ws.query(
            """SELECT g.criterion_id, g.verdict, g.explanation, r.name FROM grades g
               JOIN raters r ON r.id = g.rater_id
               WHERE g.answer_id = ? AND r.kind = 'model' ORDER BY r.name""", (answer_id,)):
        graders.setdefault(r["criterion_id"], []).append(GraderVerdict(r["name"], r["verdict"], r["explanation"]))
    disagreements = [cid for cid, verdicts in graders.items()
                     if any(disagrees(mine.get(cid), g.verdict) for g in verdicts)]
    drafts = answer_drafts(ws, "?", (answer_id,)).get(answer_id, [])
    return Reveal(model=model, graders=graders, disagreements=disagreements, drafts=drafts)


# -- active time ----------------------------------------------------------------

class ActiveClock:
    """Time spent actively grading: the gaps between actions, pauses over the limit left out.

    `touch()` on every action (key, click). `take(key)` returns the active
    seconds added since the last `take` with the same key, so a verdict and
    the answer's review can each be credited without counting twice.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, idle_limit: float = IDLE_LIMIT):
        self._clock = clock
        self.idle_limit = idle_limit
        self.reset()

    def reset(self) -> None:
        self.total = 0.0
        self._last: float | None = None
        self._taken: dict[str, float] = {}

    def touch(self) -> None:
        now = self._clock()
        if self._last is not None:
            gap = now - self._last
            if 0 < gap <= self.idle_limit:
                self.total += gap
        self._last = now

    def take(self, key: str) -> float:
        value = self.total - self._taken.get(key, 0.0)
        self._taken[key] = self.total
        return value


# -- small queries the desktop panels need ----------------------------------------

def filter_tags(ws: Workspace) -> list[str]:
    """Theme and axis tags found in the workspace, for filter menus."""
    tags: set[str] = set()
    for column, table in (("example_tags", "questions"), ("tags", "criteria")):
        for r in ws.query(f"SELECT DISTINCT {column} AS t FROM {table}"):
            tags.update(t for t in json.loads(r["t"]) if t.startswith(("theme:", "axis:")))
    return sorted(tags)


def grades_on_question(ws: Workspace, question_id: str) -> int:
    """How many grades point at this question's criteria (editing the rubric changes what they mean)."""
    return ws.scalar("SELECT count(*) FROM grades g JOIN criteria c ON c.id = g.criterion_id "
                     "WHERE c.question_id = ?", (question_id,)) or 0


def question_count(ws: Workspace) -> int:
    return ws.scalar("SELECT count(*) FROM questions") or 0


def raters_with_grades(ws: Workspace) -> list[dict]:
    """Raters that have given at least one verdict: name, kind, grades (for the Results rater menu)."""
    return ws.query("""SELECT r.name, r.kind, count(*) AS grades FROM grades g JOIN raters r ON r.id = g.rater_id
                       WHERE g.verdict IS NOT NULL GROUP BY r.id ORDER BY r.kind, r.name""")
