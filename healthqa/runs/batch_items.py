"""What a batch does with one work item of an answer run or a grading pass:
the conversation it sends, and how a result (or its absence) is stored.

The interactive jobs (jobs.AnswerJob, grader.GradeJob) stay as they are;
this module reads their items and writes through the same store functions,
so a batch answer or verdict is stored exactly as an interactive one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..domain import Answer, Message, Usage
from ..store import Workspace, add_answer, now, set_grade
from .grader import GradeJob, no_verdict_explanation, parse_grader_reply
from .jobs import AnswerJob, Job, WorkItem
from .status import RunError

# An unparseable grader reply is kept in the item's error (for the no-verdict explanation) after this.
UNPARSED = "grader reply was not a JSON object with a true/false criteria_met: "

Write = Callable[[Workspace], None]


@dataclass
class Settled:
    """How one result ends for its item: stored (write), or to be tried again (retry_error)."""

    write: Write | None = None
    retry_error: str | None = None
    usage: Usage | None = None


def check_job(job: Job) -> None:
    # exact types: a contemplating answer (drafts, then a synthesis) is not one request
    if type(job) not in (AnswerJob, GradeJob):
        raise RunError("only answer runs (instant or thinking) and grading passes can be sent as a batch")


def conversation(job: Job, item: WorkItem) -> list[Message]:
    """What the batch line asks: an answer run's conversation, or one grader prompt."""
    if isinstance(job, GradeJob):
        return [Message(role="user", content=item.payload)]
    return item.payload


def settle(job: Job, item: WorkItem, answer: Answer) -> Settled:
    """A succeeded result: its write, or (an unparseable grader reply) a retry."""
    if isinstance(job, GradeJob):
        parsed = parse_grader_reply(answer.text)
        if parsed is None:
            return Settled(retry_error=UNPARSED + answer.text[:2000], usage=answer.usage)

        def grade(ws: Workspace) -> None:
            set_grade(ws, item.answer_id, item.criterion_id, job.rater_id, parsed.verdict, parsed.explanation,
                      reason="model_grader", changed_by=job.run_id)
        return Settled(write=grade, usage=answer.usage)
    answer.model = job.label  # labelled as interactive answers are (the mode when not the config's own)

    def store(ws: Workspace) -> None:
        add_answer(ws, item.question_id, answer, run_id=job.run_id, sample=item.sample,
                   model_config_id=job.config.id)
    return Settled(write=store, usage=answer.usage)


def give_up(job: Job, item: WorkItem, attempts: int, error: str) -> Write | None:
    """After the last attempt: a grader criterion gets no verdict (as interactive
    grading does); an answer stays failed (None: nothing to write)."""
    if not isinstance(job, GradeJob):
        return None
    if error.startswith(UNPARSED):
        explanation = no_verdict_explanation(attempts, error[len(UNPARSED):])
    else:
        explanation = f"No verdict: {attempts} batch attempts failed (last: {error[:300]})"

    def no_verdict(ws: Workspace) -> None:
        set_grade(ws, item.answer_id, item.criterion_id, job.rater_id, None, explanation,
                  reason="model_grader", changed_by=job.run_id)
    return no_verdict


def mark_done(ws: Workspace, item_id: str) -> None:
    ws.conn.execute("UPDATE work_items SET status = 'done', attempts = attempts + 1, error = NULL, updated_at = ? "
                    "WHERE id = ?", (now(), item_id))


def mark_failed(ws: Workspace, item_id: str, error: str, attempts: int | None = None) -> None:
    """One more attempt spent (or, with `attempts`, all of them: the item is not sent again)."""
    ws.conn.execute("UPDATE work_items SET status = 'failed', attempts = max(attempts + 1, coalesce(?, 0)), "
                    "error = ?, updated_at = ? WHERE id = ?", (attempts, error, now(), item_id))
