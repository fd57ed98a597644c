"""What a bundle may hold: the tables it carries, the pydantic model every row must pass, and BundleError.

The models are strict and size-limited because a bundle comes back from elsewhere and is never
trusted (see `healthqa.formats.bundle.exchange`). The tables name the columns copied out and read back:
other columns (model configs, grader and run settings) never leave home.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from ...domain import Criterion
from ...errors import HealthQAError
from ...limits import (IMAGE_MIME, MAX_ATTACHMENT_BYTES, MAX_CRITERIA, MAX_FLAG_COMMENT, AnswerText, Comment,
                       ConversationText, CriterionText, Label, plain_name)
from ...review import FLAG_REASONS


class BundleError(HealthQAError):
    """A bundle that cannot be written or read; the message names the file and says why."""

    def __init__(self, path: str | Path | None, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}" if path is not None else reason)


# -- row models: what a bundle row may hold -------------------------------------------

def _stamp(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ValueError("time without a time zone")
    return value


Id = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_-]{1,64}$")]
Stamp = Annotated[str, StringConstraints(max_length=40), AfterValidator(_stamp)]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Seconds = Annotated[float, Field(ge=0, le=10**8)]
Count = Annotated[int, Field(ge=0, le=10**12)]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SetRow(_Row):
    id: Id
    name: Label
    description: Comment | None
    created_at: Stamp


class QuestionRow(_Row):
    id: Id
    prompt_id: Label
    conversation: ConversationText
    example_tags: Comment
    ideal_completions: ConversationText | None
    canary: Comment | None
    theme: Comment | None
    search_text: ConversationText
    created_at: Stamp
    updated_at: Stamp


class MemberRow(_Row):
    set_id: Id
    question_id: Id
    position: Count


class AttachmentRow(_Row):
    sha256: Sha256
    mime: Annotated[str, StringConstraints(pattern=f"^{IMAGE_MIME}$")]
    data: Annotated[bytes, Field(max_length=MAX_ATTACHMENT_BYTES)]

    @model_validator(mode="after")
    def _named_by_content(self):
        if hashlib.sha256(self.data).hexdigest() != self.sha256:
            raise ValueError("attachment bytes do not match their SHA-256 name")
        return self


class CriterionRow(_Row):
    id: Id
    question_id: Id
    position: Annotated[int, Field(ge=0, lt=MAX_CRITERIA)]
    text: CriterionText
    points: int
    tags: Comment

    def as_criterion(self) -> Criterion:
        return Criterion(criterion=self.text, points=self.points, tags=json.loads(self.tags))


class RaterRow(_Row):
    id: Id
    name: Label  # a model grader is named after its config, and "org/model" is a fine config name
    kind: Literal["clinician", "model"]
    created_at: Stamp

    @model_validator(mode="after")
    def _clinician_plain(self):
        if self.kind == "clinician":
            plain_name(self.name)
        return self


class RunRow(_Row):
    id: Id
    kind: Literal["answer", "grade"]
    samples: Count
    status: Label
    created_at: Stamp


class AnswerRow(_Row):
    id: Id
    question_id: Id
    model: Label
    run_id: Id | None
    sample: Count
    text: AnswerText
    text_sha256: Sha256
    finish_reason: Label | None
    input_tokens: Count | None
    output_tokens: Count | None
    reasoning_tokens: Count | None
    latency_ms: Seconds | None
    response_id: Label | None
    error: Comment | None
    created_at: Stamp

    @model_validator(mode="after")
    def _hash_matches(self):
        if hashlib.sha256(self.text.encode("utf-8")).hexdigest() != self.text_sha256:
            raise ValueError("text_sha256 does not match the answer text")
        return self


class AssignmentRow(_Row):
    answer_id: Id
    rater_id: Id
    position: Count
    created_at: Stamp


class GradeRow(_Row):
    id: Id
    answer_id: Id
    criterion_id: Id
    rater_id: Id
    verdict: Literal["met", "not_met", "cannot_judge"] | None
    explanation: Comment | None
    active_seconds: Seconds
    created_at: Stamp
    updated_at: Stamp


class ReviewRow(_Row):
    answer_id: Id
    rater_id: Id
    comment: Comment | None
    unsafe: Literal[0, 1]
    active_seconds: Seconds
    submitted_at: Stamp | None
    updated_at: Stamp


class FlagRow(_Row):
    id: Id
    criterion_id: Id
    rater_id: Id
    reason: Literal[FLAG_REASONS]  # type: ignore[valid-type]
    comment: Annotated[str, StringConstraints(max_length=MAX_FLAG_COMMENT)] | None
    created_at: Stamp


# -- the tables a bundle carries ------------------------------------------------------

@dataclass(frozen=True)
class _Table:
    name: str
    columns: tuple[str, ...]
    order: str
    row: type[_Row]


# Read-only content, in foreign-key order. Raters and runs carry only what a grader needs to
# see: their other columns (model config, grader settings, run settings) never leave home.
CONTENT = (
    _Table("question_sets", ("id", "name", "description", "created_at"), "id", SetRow),
    _Table("questions", ("id", "prompt_id", "conversation", "example_tags", "ideal_completions", "canary", "theme",
                         "search_text", "created_at", "updated_at"), "id", QuestionRow),
    _Table("set_members", ("set_id", "question_id", "position"), "set_id, question_id", MemberRow),
    _Table("attachments", ("sha256", "mime", "data"), "sha256", AttachmentRow),
    _Table("criteria", ("id", "question_id", "position", "text", "points", "tags"), "id", CriterionRow),
    _Table("raters", ("id", "name", "kind", "created_at"), "id", RaterRow),
    _Table("runs", ("id", "kind", "samples", "status", "created_at"), "id", RunRow),
    _Table("answers", ("id", "question_id", "model", "run_id", "sample", "text", "text_sha256", "finish_reason",
                       "input_tokens", "output_tokens", "reasoning_tokens", "latency_ms", "response_id", "error",
                       "created_at"), "id", AnswerRow),
    _Table("assignments", ("answer_id", "rater_id", "position", "created_at"), "answer_id, rater_id", AssignmentRow),
)
# Work: the bundle rater's rows change offline; other raters' rows (unblinded) are content.
WORK = (
    _Table("grades", ("id", "answer_id", "criterion_id", "rater_id", "verdict", "explanation", "active_seconds",
                      "created_at", "updated_at"), "id", GradeRow),
    _Table("answer_reviews", ("answer_id", "rater_id", "comment", "unsafe", "active_seconds", "submitted_at",
                              "updated_at"), "answer_id, rater_id", ReviewRow),
    _Table("criterion_flags", ("id", "criterion_id", "rater_id", "reason", "comment", "created_at"), "id", FlagRow),
)


TABLES = {table.name: table for table in CONTENT + WORK}


@dataclass(frozen=True)
class _Kind:
    """How one kind of work row merges: its key for one rater, what a person sets, its version stamp."""

    name: str  # in reports
    table: _Table
    key: tuple[str, ...]
    values: tuple[str, ...]
    stamp: str
    active: str | None
    deletable: bool  # withdrawn offline -> withdrawn at home (flags); grades and reviews are never deleted


GRADES = _Kind("grade", TABLES["grades"], ("answer_id", "criterion_id"), ("verdict", "explanation"), "updated_at",
               "active_seconds", False)
REVIEWS = _Kind("review", TABLES["answer_reviews"], ("answer_id",), ("comment", "unsafe", "submitted_at"), "updated_at",
                "active_seconds", False)
FLAGS = _Kind("flag", TABLES["criterion_flags"], ("criterion_id",), ("reason", "comment"), "created_at", None, True)
KINDS = (GRADES, REVIEWS, FLAGS)
_BASELINE_FIELD = {GRADES: "grades", REVIEWS: "reviews", FLAGS: "flags"}


def _key(kind: _Kind, row: _Row) -> str:
    """A work row's name for one rater, in bundle ids: what the baseline and merge memory are keyed by."""
    return "|".join(getattr(row, c) for c in kind.key)


def _ids_in(column: str) -> str:
    """SQL for "column is one of a JSON list of ids" (one parameter, however many ids)."""
    return f"{column} IN (SELECT value FROM json_each(?))"
