"""Offline review bundles: one clinician's assignment in one file, graded anywhere, merged back.

**Container.** A bundle is a SQLite file that is itself a HealthQA workspace:
same schema, created by `store.Workspace`, rows copied with their ids. The
desktop app opens it as a workspace to grade offline, nothing is unpacked,
and SQLite's file format is robust and well tested against damage. (A zip
of JSON would need a second reader and writer for every table, and a
workspace to grade in anyway.)

**Content.** The clinician's assigned answers (optionally one run's), their
questions with image attachments, rubrics and sets, and the clinician's own
earlier grades, answer reviews and criterion flags. Other raters' grades,
reviews, flags and names only when blinding is off. Never: model configs
(so no key, no key location), grader settings, run settings, grade history.

**meta entries.** `bundle_manifest`: JSON with the format and its version,
the bundle's id (its own workspace id), the source workspace id, the rater,
the creation time, blinding, and the checksum. `bundle_baseline`: the
version stamp and active seconds of each of the rater's rows as exported,
so that an import can tell what changed offline from what changed at home.

**Checksum.** SHA-256 over the manifest (less the checksum), the baseline
and every read-only row, type-tagged, in primary-key order (a digest per
table too, so a mismatch names the table). The rater's own grades, reviews
and flags are meant to change offline, so they are outside the checksum and
validated row by row instead. A checksum catches damage and edits, not a
forger who recomputes it: that is why every row is also validated.

**Reading** never trusts the file: it is checked for size, SQLite header and
truncation, then copied to a private temporary file (a -wal beside the
original is refused, never replayed) and opened read-only with
`query_only` and `trusted_schema = OFF`; its schema must equal ours exactly
(no triggers or views of its own); every row goes through a pydantic model
with size limits, and questions and criteria through the domain models.

**Import** merges the rater's grades, reviews and flags in one transaction,
after all checks passed (a refused bundle leaves the workspace untouched):

- a row unchanged offline since export (or since the last import of this
  bundle) is skipped, so importing twice changes nothing;
- a row changed offline, unchanged at home, replaces the home row; grades
  keep the old version in `grade_history` (reason `bundle`);
- a row changed on both sides is a conflict: reported, and the version with
  the later stamp wins; grades keep the other in `grade_history` too;
- active seconds spent offline are added once.

What was merged is remembered per bundle in the workspace's meta
(`bundle_merged:<bundle id>`), so a copy graded further and imported again
merges only the new work. A bundle from another workspace is refused unless
forced; then questions are matched by prompt_id and answers by (prompt_id,
model, completion text), as HealthBench imports do, and created if missing.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from ..assignments import assigned_answer_ids
from ..domain import Answer, Criterion, Question, RaterKind, Usage, new_id
from ..errors import HealthQAError
from ..flags import FLAG_REASONS, MAX_FLAG_COMMENT
from ..store import Workspace, add_answer, ensure_rater, ensure_set, now, upsert_question
from ..store.questions import ATTACHMENT_PREFIX, RubricConflict
from ..store.schema import MIGRATIONS, SCHEMA_VERSION
from .exports import read_connection

FORMAT = "healthqa-bundle"
FORMAT_VERSION = 1
MANIFEST_KEY = "bundle_manifest"
BASELINE_KEY = "bundle_baseline"
MERGED_PREFIX = "bundle_merged:"
SUFFIX = ".hqbundle"  # what the desktop app offers; any name works

MAX_BUNDLE_BYTES = 2 * 2**30
MAX_ANSWER_CHARS = 1_000_000
MAX_CONVERSATION_CHARS = 4_000_000
MAX_COMMENT_CHARS = 100_000
MAX_CRITERION_CHARS = 10_000
MAX_NAME_CHARS = 200
MAX_ATTACHMENT_BYTES = 32 * 2**20

SQLITE_MAGIC = b"SQLite format 3\x00"


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


def _plain_name(value: str) -> str:
    # Names may end up in file names and paths; refuse anything that could climb out of a folder.
    if "/" in value or "\\" in value or ".." in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("names may not hold path separators, '..' or control characters")
    return value


def _no_controls(value: str) -> str:
    if any(ord(c) < 32 for c in value):
        raise ValueError("control characters are not allowed here")
    return value


Id = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_-]{1,64}$")]
Stamp = Annotated[str, StringConstraints(max_length=40), AfterValidator(_stamp)]
PlainName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_CHARS), AfterValidator(_plain_name)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_CHARS), AfterValidator(_no_controls)]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Comment = Annotated[str, StringConstraints(max_length=MAX_COMMENT_CHARS)]
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
    conversation: Annotated[str, StringConstraints(max_length=MAX_CONVERSATION_CHARS)]
    example_tags: Comment
    ideal_completions: Annotated[str, StringConstraints(max_length=MAX_CONVERSATION_CHARS)] | None
    canary: Comment | None
    theme: Comment | None
    search_text: Annotated[str, StringConstraints(max_length=MAX_CONVERSATION_CHARS)]
    created_at: Stamp
    updated_at: Stamp


class MemberRow(_Row):
    set_id: Id
    question_id: Id
    position: Count


class AttachmentRow(_Row):
    sha256: Sha256
    mime: Annotated[str, StringConstraints(pattern=r"^image/[\w.+-]{1,50}$")]
    data: Annotated[bytes, Field(max_length=MAX_ATTACHMENT_BYTES)]

    @model_validator(mode="after")
    def _named_by_content(self):
        if hashlib.sha256(self.data).hexdigest() != self.sha256:
            raise ValueError("attachment bytes do not match their SHA-256 name")
        return self


class CriterionRow(_Row):
    id: Id
    question_id: Id
    position: Annotated[int, Field(ge=0, le=10_000)]
    text: Annotated[str, StringConstraints(max_length=MAX_CRITERION_CHARS)]
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
            _plain_name(self.name)
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
    text: Annotated[str, StringConstraints(max_length=MAX_ANSWER_CHARS)]
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


class Manifest(_Row):
    format: Literal["healthqa-bundle"]
    format_version: int
    bundle_id: Id
    source_workspace_id: Id
    rater: PlainName
    rater_id: Id
    created_at: Stamp
    blinded: bool
    run_id: Id | None
    answers: Count
    schema_version: int
    checksum: Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]
    tables: dict[str, str]


Version = tuple[Stamp, Seconds]  # a work row's version stamp and active seconds


class Baseline(_Row):
    grades: dict[str, Version]
    reviews: dict[str, Version]
    flags: dict[str, Version]


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


# -- checksum ------------------------------------------------------------------------------

def _feed(h, value) -> None:
    """Type-tagged, length-prefixed: no two different rows hash alike, and a changed type shows."""
    if value is None:
        h.update(b"N")
    elif isinstance(value, bytes):
        h.update(b"B%d:" % len(value))
        h.update(value)
    elif isinstance(value, int):
        h.update(b"I%d;" % value)
    elif isinstance(value, float):
        h.update(b"F" + value.hex().encode() + b";")
    else:
        data = str(value).encode("utf-8", "surrogatepass")
        h.update(b"S%d:" % len(data))
        h.update(data)


def _signed_manifest(manifest: dict) -> bytes:
    return json.dumps({k: v for k, v in manifest.items() if k not in ("checksum", "tables")},
                      sort_keys=True, ensure_ascii=True).encode()


def content_checksum(conn: sqlite3.Connection, manifest: dict) -> tuple[str, dict[str, str]]:
    """('sha256:<hex>', per-table digests) over the bundle's read-only part (see the module docstring)."""
    rater_id = manifest["rater_id"]
    total = hashlib.sha256()
    parts: dict[str, str] = {}
    h = hashlib.sha256(_signed_manifest(manifest))
    parts["manifest"] = h.hexdigest()
    h = hashlib.sha256()
    _feed(h, _meta(conn, BASELINE_KEY))
    parts["baseline"] = h.hexdigest()
    for table, where in [(t, "") for t in CONTENT] + [(t, " WHERE rater_id != ?") for t in WORK]:
        h = hashlib.sha256()
        cursor = conn.execute(f"SELECT {', '.join(table.columns)} FROM {table.name}{where} ORDER BY {table.order}",
                              (rater_id,) if where else ())
        while batch := cursor.fetchmany(1000):
            for row in batch:
                h.update(b"R")
                for value in row:
                    _feed(h, value)
        parts[table.name + ("" if not where else ":others")] = h.hexdigest()
    for name in sorted(parts):
        total.update(f"{name}={parts[name]};".encode())
    return "sha256:" + total.hexdigest(), parts


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


# -- export ---------------------------------------------------------------------------------

@dataclass
class BundleExportReport:
    path: str
    bundle_id: str
    rater: str
    blinded: bool
    checksum: str
    counts: dict[str, int] = field(default_factory=dict)  # rows per table in the bundle

    def summary(self) -> str:
        c = self.counts
        return (f"Wrote {self.path} for {self.rater}: {c.get('answers', 0)} answers of "
                f"{c.get('questions', 0)} questions, {c.get('grades', 0)} grades, {c.get('answer_reviews', 0)} "
                f"reviews, {c.get('criterion_flags', 0)} flags; {'blinded' if self.blinded else 'NOT blinded'}; "
                f"checksum {self.checksum}")

    def as_json(self) -> dict:
        return dataclasses.asdict(self)


def _ids_in(column: str) -> str:
    return f"{column} IN (SELECT value FROM json_each(?))"


def _copy(src: sqlite3.Connection, dst: sqlite3.Connection, table: _Table, where: str, params: tuple) -> list[tuple]:
    cols = ", ".join(table.columns)
    rows = src.execute(f"SELECT {cols} FROM {table.name} WHERE {where} ORDER BY rowid", params).fetchall()
    dst.executemany(f"INSERT INTO {table.name} ({cols}) VALUES ({', '.join('?' * len(table.columns))})", rows)
    return rows


def _copy_assignment(src: sqlite3.Connection, dst: sqlite3.Connection, answer_ids: list[str], rater_id: str,
                     blinded: bool) -> dict[str, int]:
    answers_json = json.dumps(answer_ids)
    answers = src.execute(f"SELECT question_id, run_id FROM answers WHERE {_ids_in('id')}", (answers_json,)).fetchall()
    question_ids = json.dumps(sorted({q for q, _ in answers}))
    run_ids = json.dumps(sorted({r for _, r in answers if r}))
    set_ids = json.dumps([r[0] for r in src.execute(
        f"SELECT DISTINCT set_id FROM set_members WHERE {_ids_in('question_id')}", (question_ids,))])
    conversations = [r[0] for r in src.execute(
        f"SELECT conversation FROM questions WHERE {_ids_in('id')}", (question_ids,))]
    digests = json.dumps(sorted({d for text in conversations for d in re.findall(r"attachment:([0-9a-f]{64})", text)}))
    mine = "" if not blinded else " AND rater_id = ?"
    who = () if not blinded else (rater_id,)
    counts = {}
    for name, where, params in (
        ("question_sets", _ids_in("id"), (set_ids,)),
        ("questions", _ids_in("id"), (question_ids,)),
        ("set_members", _ids_in("question_id"), (question_ids,)),
        ("attachments", _ids_in("sha256"), (digests,)),
        ("criteria", _ids_in("question_id"), (question_ids,)),
    ):
        counts[name] = len(_copy(src, dst, TABLES[name], where, params))
    criterion_ids = json.dumps([r[0] for r in dst.execute("SELECT id FROM criteria")])
    work = {  # blinded: the rater's own rows only
        "grades": (f"{_ids_in('answer_id')}{mine}", (answers_json, *who)),
        "answer_reviews": (f"{_ids_in('answer_id')}{mine}", (answers_json, *who)),
        "criterion_flags": (f"{_ids_in('criterion_id')}{mine}", (criterion_ids, *who)),
    }
    raters = {rater_id} | {r[0] for name, (where, params) in work.items()
                           for r in src.execute(f"SELECT DISTINCT rater_id FROM {name} WHERE {where}", params)}
    for name, where, params in (
        ("raters", _ids_in("id"), (json.dumps(sorted(raters)),)),
        ("runs", _ids_in("id"), (run_ids,)),
        ("answers", _ids_in("id"), (answers_json,)),
        ("assignments", f"{_ids_in('answer_id')} AND rater_id = ?", (answers_json, rater_id)),
        *((name, where, params) for name, (where, params) in work.items()),
    ):
        counts[name] = len(_copy(src, dst, TABLES[name], where, params))
    return counts


def _baseline(conn: sqlite3.Connection, rater_id: str) -> dict:
    out = {}
    for kind in KINDS:
        cols = ", ".join(kind.key + (kind.stamp, kind.active or "0"))
        out[_BASELINE_FIELD[kind]] = {
            "|".join(row[:len(kind.key)]): [row[-2], float(row[-1])]
            for row in conn.execute(f"SELECT {cols} FROM {kind.table.name} WHERE rater_id = ?", (rater_id,))
        }
    return out


def export_bundle(ws: Workspace, rater: str, out: str | Path, *, run_id: str | None = None,
                  blinded: bool = True) -> BundleExportReport:
    """Write one clinician's assignment as a bundle file (see the module docstring)."""
    out = Path(out)
    row = ws.query_one("SELECT id, kind FROM raters WHERE name = ?", (rater,))
    if row is None:
        raise BundleError(None, f"no rater named {rater!r}")
    if row["kind"] != RaterKind.CLINICIAN.value:
        raise BundleError(None, f"{rater!r} is a model grader; bundles are for clinicians")
    try:
        _plain_name(rater)  # an import would refuse it: better said now
    except ValueError as exc:
        raise BundleError(None, f"rater {rater!r}: {exc}; rename the rater first") from None
    rater_id = row["id"]
    answer_ids = assigned_answer_ids(ws, rater_id, run_id=run_id)
    if not answer_ids:
        where = f" in run {run_id}" if run_id else ""
        raise BundleError(None, f"no answers are assigned to {rater}{where} (use `healthqa assign` first)")
    if out.is_dir():
        raise BundleError(out, "is a folder; give a file name")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    try:
        with read_connection(ws) as src:
            bundle = Workspace(tmp)
            try:
                with bundle.transaction() as dst:
                    counts = _copy_assignment(src, dst, answer_ids, rater_id, blinded)
                    dst.execute("INSERT INTO meta VALUES (?, ?)",
                                (BASELINE_KEY, json.dumps(_baseline(dst, rater_id), sort_keys=True)))
                    manifest = {
                        "format": FORMAT, "format_version": FORMAT_VERSION, "bundle_id": bundle.workspace_id,
                        "source_workspace_id": ws.workspace_id, "rater": rater, "rater_id": rater_id,
                        "created_at": now(), "blinded": blinded, "run_id": run_id, "answers": len(answer_ids),
                        "schema_version": SCHEMA_VERSION,
                    }
                    manifest["checksum"], manifest["tables"] = content_checksum(dst, manifest)
                    dst.execute("INSERT INTO meta VALUES (?, ?)", (MANIFEST_KEY, json.dumps(manifest, sort_keys=True)))
                # One self-contained file: no -wal beside it to lose on the way.
                bundle.conn.execute("PRAGMA journal_mode = DELETE")
            finally:
                bundle.close()
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    report = BundleExportReport(str(out), manifest["bundle_id"], rater, blinded, manifest["checksum"], counts)
    _record(ws, "export", rater_id, out, manifest["checksum"], {"bundle_id": manifest["bundle_id"], **counts,
                                                                "blinded": blinded, "run_id": run_id})
    return report


def _record(ws: Workspace, direction: str, rater_id: str, path: Path, checksum: str, summary: dict) -> None:
    with ws.transaction({"bundles"}) as conn:
        conn.execute("INSERT INTO bundles (id, direction, rater_id, file_name, checksum, summary, created_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (summary["bundle_id"] if direction == "export" else new_id(), direction, rater_id,
                      Path(path).name, checksum, json.dumps(summary, sort_keys=True), now()))


# -- reading a bundle ------------------------------------------------------------------------

@dataclass
class BundleContents:
    """A bundle's rows, every one validated."""

    path: Path
    manifest: Manifest
    baseline: Baseline
    rater: RaterRow
    sets: dict[str, SetRow]
    members: list[MemberRow]
    questions: dict[str, QuestionRow]
    criteria: dict[str, CriterionRow]
    attachments: dict[str, AttachmentRow]
    answers: dict[str, AnswerRow]
    work: dict[_Kind, list]  # the rater's own grades, reviews, flags
    rubrics: dict[str, list[CriterionRow]] = field(default_factory=dict)  # question id -> criteria in order

    def __post_init__(self) -> None:
        for criterion in sorted(self.criteria.values(), key=lambda c: c.position):
            self.rubrics.setdefault(criterion.question_id, []).append(criterion)

    def question(self, question_id: str) -> Question:
        """A bundle question as a domain Question, images inline as data URLs."""
        row = self.questions[question_id]
        messages = json.loads(row.conversation)
        for message in messages:
            for part in message["content"] if isinstance(message["content"], list) else ():
                url = part.get("image_url", {}).get("url", "") if isinstance(part, dict) else ""
                if url.startswith(ATTACHMENT_PREFIX):
                    attachment = self.attachments[url[len(ATTACHMENT_PREFIX):]]
                    encoded = base64.b64encode(attachment.data).decode("ascii")
                    part["image_url"]["url"] = f"data:{attachment.mime};base64,{encoded}"
        return Question.model_validate({
            "prompt_id": row.prompt_id,
            "prompt": messages,
            "rubrics": [c.as_criterion() for c in self.rubrics.get(question_id, [])],
            "example_tags": json.loads(row.example_tags),
            "ideal_completions_data": json.loads(row.ideal_completions) if row.ideal_completions else None,
            "canary": row.canary,
        })


def _check_file(path: Path) -> None:
    """Refuse what is plainly not a whole bundle before SQLite ever reads it."""
    if not path.exists():
        raise BundleError(path, "no such file")
    if not path.is_file():
        raise BundleError(path, "is not a file")
    size = path.stat().st_size
    if size > MAX_BUNDLE_BYTES:
        raise BundleError(path, f"is larger than {MAX_BUNDLE_BYTES // 2**30} GiB; not a HealthQA bundle")
    with path.open("rb") as handle:
        header = handle.read(100)
    if not header.startswith(SQLITE_MAGIC):
        if header.startswith(b"PK\x03\x04"):
            kind = "a zip archive"
        elif header.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
            kind = "JSON text"
        elif not header:
            kind = "empty"
        else:
            kind = "not an SQLite file"
        raise BundleError(path, f"is not a HealthQA bundle ({kind}; bundles are SQLite files written by "
                                f"`healthqa bundle export`)")
    if len(header) < 100:
        raise BundleError(path, "is truncated (shorter than an SQLite header)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise BundleError(path, "is damaged (bad SQLite page size)")
    pages = int.from_bytes(header[28:32], "big")
    header_size_valid = header[92:96] == header[24:28]  # SQLite's rule for trusting the in-header size
    if size % page_size or (header_size_valid and size < pages * page_size):
        raise BundleError(path, f"is truncated or damaged ({size:,} bytes; expected {pages * page_size:,})")
    for suffix, state in (("-wal", "is still open in HealthQA"), ("-journal", "was not closed cleanly")):
        side = Path(f"{path}{suffix}")  # unsaved work lives there; reading the file alone would miss or garble it
        if side.exists() and side.stat().st_size > 0:
            raise BundleError(path, f"{state} ({side.name} is beside it): open and close it in HealthQA, then import")


def _private_copy(path: Path, folder: str) -> Path:
    copy = Path(folder) / "bundle.sqlite"
    shutil.copyfile(path, copy)
    os.chmod(copy, 0o600)
    with copy.open("r+b") as handle:  # a WAL-mode header without its -wal: read it as a plain file
        handle.seek(18)
        if handle.read(2) == b"\x02\x02":
            handle.seek(18)
            handle.write(b"\x01\x01")
    return copy


_REFERENCE_SCHEMA: set | None = None


def _reference_schema() -> set:
    global _REFERENCE_SCHEMA
    if _REFERENCE_SCHEMA is None:
        conn = sqlite3.connect(":memory:")
        for script in MIGRATIONS:
            conn.executescript(script)
        _REFERENCE_SCHEMA = _schema_of(conn)
        conn.close()
    return _REFERENCE_SCHEMA


def _schema_of(conn: sqlite3.Connection) -> set:
    return {tuple(r) for r in conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_stat%'")}


def _open_checked(path: Path, copy: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{copy.as_uri()}?mode=ro", uri=True)
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.execute("PRAGMA trusted_schema = OFF")
        conn.execute("PRAGMA cell_size_check = ON")
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise BundleError(path, f"is damaged (SQLite: {check.splitlines()[0]})")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise BundleError(path, f"was written by a newer HealthQA (schema {version}; this one reads "
                                    f"{SCHEMA_VERSION}): update HealthQA to import it")
        if version != SCHEMA_VERSION or _schema_of(conn) != _reference_schema():
            raise BundleError(path, "is an SQLite file but not a HealthQA bundle (its tables differ)")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise BundleError(path, f"is damaged or not a HealthQA bundle (SQLite: {exc})") from None
    except BaseException:
        conn.close()
        raise
    return conn


def _manifest(path: Path, conn: sqlite3.Connection) -> Manifest:
    text = _meta(conn, MANIFEST_KEY)
    if text is None:
        raise BundleError(path, "is a HealthQA workspace, not a bundle (no bundle manifest)")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise BundleError(path, "has a damaged manifest (not JSON)") from None
    if not isinstance(data, dict):
        raise BundleError(path, "has a damaged manifest (not a JSON object)")
    version = data.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise BundleError(path, f"uses bundle format {version}, newer than this HealthQA reads ({FORMAT_VERSION}): "
                                "update HealthQA to import it")
    manifest = _validated(path, "manifest", Manifest, data)
    if manifest.format_version < 1:
        raise BundleError(path, f"has an unknown bundle format version {manifest.format_version}")
    return manifest


def _validated(path: Path, where: str, model: type[BaseModel], data, *, json_text: bool = False):
    try:
        return model.model_validate_json(data) if json_text else model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = ".".join(str(p) for p in error["loc"]) or "(row)"
        raise BundleError(path, f"{where}: {loc}: {error['msg'].removeprefix('Value error, ')}") from None


def _load(path: Path, conn: sqlite3.Connection, table: _Table, where: str = "", params: tuple = ()) -> list:
    cursor = conn.execute(f"SELECT {', '.join(table.columns)} FROM {table.name}{where} ORDER BY {table.order}", params)
    out = []
    for number, row in enumerate(cursor, start=1):
        out.append(_validated(path, f"{table.name} row {number}", table.row, dict(zip(table.columns, row))))
    return out


def _check_links(path: Path, c: BundleContents, assignments: list[AssignmentRow]) -> None:
    """Rows point only at rows inside the bundle (a crafted file may break foreign keys)."""
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise BundleError(path, f"is inconsistent: {what}")

    for m in c.members:
        need(m.set_id in c.sets and m.question_id in c.questions, "a set member points outside the bundle")
    for crit in c.criteria.values():
        need(crit.question_id in c.questions, "a criterion points at a question not in the bundle")
    for answer in c.answers.values():
        need(answer.question_id in c.questions, "an answer points at a question not in the bundle")
    for a in assignments:
        need(a.answer_id in c.answers, "an assignment points at an answer not in the bundle")
    for g in c.work[GRADES]:
        need(g.answer_id in c.answers and g.criterion_id in c.criteria
             and c.criteria[g.criterion_id].question_id == c.answers[g.answer_id].question_id,
             "a grade points at an answer or criterion not in the bundle")
    for r in c.work[REVIEWS]:
        need(r.answer_id in c.answers, "a review points at an answer not in the bundle")
    for f in c.work[FLAGS]:
        need(f.criterion_id in c.criteria, "a flag points at a criterion not in the bundle")


def read_bundle(path: str | Path) -> BundleContents:
    """Check and load a bundle file, or raise BundleError naming what is wrong. Never writes to it."""
    path = Path(path)
    _check_file(path)
    with tempfile.TemporaryDirectory(prefix="healthqa-bundle-") as folder:
        try:
            copy = _private_copy(path, folder)
        except OSError as exc:
            raise BundleError(path, f"cannot be read ({exc.strerror})") from None
        conn = _open_checked(path, copy)
        try:
            return _read_rows(path, conn)
        except sqlite3.DatabaseError as exc:
            raise BundleError(path, f"is damaged (SQLite: {exc})") from None
        finally:
            conn.close()


def _read_rows(path: Path, conn: sqlite3.Connection) -> BundleContents:
    manifest = _manifest(path, conn)
    if _meta(conn, "workspace_id") != manifest.bundle_id:
        raise BundleError(path, "is inconsistent: its manifest belongs to another bundle")
    checksum, tables = content_checksum(conn, manifest.model_dump())
    if checksum != manifest.checksum:
        changed = sorted(name for name, digest in tables.items() if manifest.tables.get(name) != digest)
        others = [name for name in changed if name.endswith(":others")]
        if others and set(changed) - set(others) <= {"raters"}:  # e.g. graded offline under another name
            raise BundleError(path, f"holds grading by someone other than {manifest.rater}, added or changed after "
                                    f"export ({', '.join(others)}); only {manifest.rater}'s work can come back "
                                    "in this bundle")
        raise BundleError(path, f"checksum mismatch: the bundle was changed or damaged after export "
                                f"({', '.join(changed) or 'manifest'})")
    # JSON mode: the baseline's [stamp, seconds] pairs are JSON arrays.
    baseline = _validated(path, "baseline", Baseline, _meta(conn, BASELINE_KEY) or "null", json_text=True)
    raters = {r.id: r for r in _load(path, conn, TABLES["raters"])}
    rater = raters.get(manifest.rater_id)
    if rater is None or rater.name != manifest.rater or rater.kind != "clinician":
        raise BundleError(path, "is inconsistent: its rater is missing or not the clinician the manifest names")
    mine = (" WHERE rater_id = ?", (manifest.rater_id,))
    contents = BundleContents(
        path=path, manifest=manifest, baseline=baseline, rater=rater,
        sets={s.id: s for s in _load(path, conn, TABLES["question_sets"])},
        members=_load(path, conn, TABLES["set_members"]),
        questions={q.id: q for q in _load(path, conn, TABLES["questions"])},
        criteria={c.id: c for c in _load(path, conn, TABLES["criteria"])},
        attachments={a.sha256: a for a in _load(path, conn, TABLES["attachments"])},
        answers={a.id: a for a in _load(path, conn, TABLES["answers"])},
        work={kind: _load(path, conn, kind.table, *mine) for kind in KINDS},
    )
    _load(path, conn, TABLES["runs"])  # runs: validated, not merged
    _check_links(path, contents, _load(path, conn, TABLES["assignments"]))
    for question_id, row in contents.questions.items():
        try:
            contents.question(question_id)
        except (ValidationError, ValueError, KeyError, TypeError, AttributeError) as exc:
            reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else f"bad conversation ({exc!r})"
            raise BundleError(path, f"question {row.prompt_id}: {reason}") from None
    return contents


def verify_bundle(path: str | Path) -> Manifest:
    """Every check an import makes, nothing merged; returns the manifest."""
    return read_bundle(path).manifest


# -- import ------------------------------------------------------------------------------------

@dataclass
class Conflict:
    """A row changed both offline and at home since export."""

    kind: str
    prompt_id: str
    model: str | None
    criterion: int | None  # position in the rubric, from 1
    workspace: str
    bundle: str
    kept: Literal["workspace", "bundle"]

    def __str__(self) -> str:
        where = f"{self.kind} on {self.prompt_id}" + (f" ({self.model})" if self.model else "")
        where += f" criterion #{self.criterion}" if self.criterion else ""
        return f"{where}: workspace {self.workspace}, bundle {self.bundle}; kept the {self.kept}'s (newer)"


@dataclass
class BundleImportReport:
    path: str
    bundle_id: str
    rater: str
    source_workspace_id: str
    forced: bool = False
    added: Counter = field(default_factory=Counter)  # per kind
    updated: Counter = field(default_factory=Counter)
    removed: Counter = field(default_factory=Counter)
    active_seconds: float = 0.0
    questions_created: int = 0
    answers_created: int = 0
    stale: int = 0  # rows whose answer or criterion is gone or changed at home since export
    conflicts: list[Conflict] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(sum(self.added.values()) or sum(self.updated.values()) or sum(self.removed.values())
                    or self.active_seconds or self.questions_created or self.answers_created or self.conflicts)

    def summary(self) -> str:
        if not self.changed:
            text = f"Nothing new in {self.path} for {self.rater}: everything in it was merged already"
        else:
            parts = [f"{self.added[k.name]} {k.name}s added, {self.updated[k.name]} updated"
                     + (f", {self.removed[k.name]} withdrawn" if self.removed[k.name] else "") for k in KINDS]
            text = (f"Merged {self.path} from {self.rater}: " + "; ".join(parts)
                    + f"; {self.active_seconds:.0f} s of grading time added")
            if self.questions_created or self.answers_created:
                text += f"; {self.questions_created} questions and {self.answers_created} answers created"
        if self.stale:
            text += (f"; {self.stale} rows skipped: their answer or criterion was removed or changed here "
                     "since the export")
        if self.conflicts:
            text += f"\n{len(self.conflicts)} conflicts (changed on both sides; the newer version kept, " \
                    "both in the grade history):\n" + "\n".join(f"  {c}" for c in self.conflicts)
        return text

    def as_json(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name in ("added", "updated", "removed"):  # Counters, as plain dicts with every kind
            data[name] = {kind.name: data[name][kind.name] for kind in KINDS}
        data["conflicts"] = [dataclasses.asdict(c) for c in self.conflicts]
        data["changed"] = self.changed
        return data


class _Mapper:
    """Bundle ids -> workspace ids. Same workspace: by id, checked against what was exported."""

    def __init__(self, ws: Workspace, c: BundleContents, report: BundleImportReport):
        self.ws, self.c, self.report = ws, c, report
        self.answers: dict[str, str | None] = {}
        self.criteria: dict[str, str | None] = {}

    def build(self) -> None:
        c, conn = self.c, self.ws.conn
        found = {r[0]: r[1:] for r in conn.execute(
            f"SELECT id, question_id, text_sha256 FROM answers WHERE {_ids_in('id')}", (json.dumps(list(c.answers)),))}
        for answer_id, a in c.answers.items():
            self.answers[answer_id] = answer_id if found.get(answer_id) == (a.question_id, a.text_sha256) else None
        found = {r[0]: r[1:] for r in conn.execute(
            f"SELECT id, question_id, position, text, points FROM criteria WHERE {_ids_in('id')}",
            (json.dumps(list(c.criteria)),))}
        for criterion_id, k in c.criteria.items():
            same = found.get(criterion_id) == (k.question_id, k.position, k.text, k.points)
            self.criteria[criterion_id] = criterion_id if same else None

    def rater_id(self) -> str:
        row = self.ws.query_one("SELECT id, name FROM raters WHERE id = ?", (self.c.rater.id,))
        if row and row["name"] == self.c.rater.name:
            return row["id"]
        return _clinician(self.ws, self.c)


class _ForcedMapper(_Mapper):
    """Another workspace: questions by prompt_id, answers by (prompt_id, model, text); created if missing."""

    def build(self) -> None:
        c, ws = self.c, self.ws
        question_map: dict[str, str] = {}
        set_names = {m.question_id: c.sets[m.set_id].name for m in c.members}
        for question_id, row in c.questions.items():
            existing = ws.scalar("SELECT id FROM questions WHERE prompt_id = ?", (row.prompt_id,))
            set_id = ensure_set(ws, set_names[question_id]) if question_id in set_names and not existing else None
            try:
                question_map[question_id], created = upsert_question(ws, c.question(question_id), set_id)
            except RubricConflict as exc:
                raise BundleError(c.path, f"cannot be merged: {exc}") from None
            self.report.questions_created += created
        for criterion_id, k in c.criteria.items():
            self.criteria[criterion_id] = ws.scalar("SELECT id FROM criteria WHERE question_id = ? AND position = ?",
                                                    (question_map[k.question_id], k.position))
        for answer_id, a in c.answers.items():
            target = question_map[a.question_id]
            existing = ws.scalar("SELECT id FROM answers WHERE question_id = ? AND model = ? AND text_sha256 = ? "
                                 "ORDER BY run_id IS NOT NULL, rowid LIMIT 1", (target, a.model, a.text_sha256))
            if existing is None:
                usage = Usage(input_tokens=a.input_tokens, output_tokens=a.output_tokens,
                              reasoning_tokens=a.reasoning_tokens)
                existing, _ = add_answer(ws, target, Answer(text=a.text, model=a.model, finish_reason=a.finish_reason,
                                                            usage=usage, latency_ms=a.latency_ms,
                                                            response_id=a.response_id, error=a.error))
                self.report.answers_created += 1
            self.answers[answer_id] = existing

    def rater_id(self) -> str:
        return _clinician(self.ws, self.c)


def _clinician(ws: Workspace, c: BundleContents) -> str:
    try:
        return ensure_rater(ws, c.rater.name, RaterKind.CLINICIAN)
    except ValueError as exc:
        raise BundleError(c.path, f"cannot be merged: {exc}") from None


def _describe(kind: _Kind, values: dict | None) -> str:
    """One version of a work row, short, for a conflict line."""
    if values is None:
        return "withdrawn"
    if kind is GRADES:
        text, note = values["verdict"] or "no verdict", values["explanation"]
    elif kind is REVIEWS:
        text = ", ".join(["submitted" if values["submitted_at"] else "not submitted"] + ["unsafe"] * values["unsafe"])
        note = values["comment"]
    else:
        text, note = values["reason"], values["comment"]
    return f"{text} ({note[:40]!r})" if note else text


def _later(a: str, b: str) -> bool:
    return datetime.fromisoformat(a) > datetime.fromisoformat(b)


class _Merger:
    def __init__(self, ws: Workspace, c: BundleContents, mapper: _Mapper, rater_id: str,
                 report: BundleImportReport, memory: dict):
        self.ws, self.conn, self.c, self.map, self.rater_id = ws, ws.conn, c, mapper, rater_id
        self.report, self.memory, self.stamp = report, memory, now()

    def ws_key(self, kind: _Kind, key: str) -> tuple | None:
        ids = []
        for column, value in zip(kind.key, key.split("|")):
            mapped = (self.map.answers if column == "answer_id" else self.map.criteria).get(value)
            if mapped is None:
                return None
            ids.append(mapped)
        return tuple(ids)

    def home_rows(self, kind: _Kind) -> dict[tuple, dict]:
        cols = (("id",) * (kind is not REVIEWS) + kind.key + kind.values + (kind.stamp,)
                + (kind.active,) * bool(kind.active))
        rows = self.ws.query(f"SELECT {', '.join(cols)} FROM {kind.table.name} WHERE rater_id = ?", (self.rater_id,))
        return {tuple(r[c] for c in kind.key): r for r in rows}

    def merge(self, kind: _Kind) -> None:
        """Each of the rater's rows of this kind that changed offline, reconciled with its home row."""
        memory = self.memory.setdefault(kind.name, {})
        base = getattr(self.c.baseline, _BASELINE_FIELD[kind])
        rows = {_key(kind, r): r for r in self.c.work[kind]}
        withdrawn = sorted((set(base) | set(memory)) - set(rows)) if kind.deletable else []
        home = self.home_rows(kind)
        for key in list(rows) + withdrawn:
            b = rows.get(key)
            # [bundle stamp, bundle active seconds, home stamp] as of the last sync (export or import)
            prev = memory.get(key) or ([*base[key], base[key][0]] if key in base else None)
            b_stamp = getattr(b, kind.stamp) if b else None
            if (prev is None and b is None) or (prev is not None and prev[0] == b_stamp):
                continue  # unchanged offline since the last sync
            ws_key = self.ws_key(kind, key)
            if ws_key is None:
                self.report.stale += 1
                continue
            b_active = getattr(b, kind.active) if b and kind.active else 0.0
            delta = max(0.0, b_active - (prev[1] if prev else 0.0))
            home_stamp = self.reconcile(kind, key, ws_key, home.get(ws_key), b, prev[2] if prev else None, delta)
            memory[key] = [b_stamp, b_active, home_stamp]

    def reconcile(self, kind: _Kind, key: str, ws_key: tuple, cur: dict | None, b, synced: str | None,
                  delta: float) -> str | None:
        """Bring one home row up to date with a bundle row changed offline; returns its stamp afterwards."""
        cur_stamp = cur[kind.stamp] if cur else None
        home_changed = cur_stamp != synced
        b_values = {v: getattr(b, v) for v in kind.values} if b else None
        cur_values = {v: cur[v] for v in kind.values} if cur else None
        if cur is None and b is None:
            return None  # withdrawn on both sides
        if cur is not None and b_values == cur_values:  # same verdict both sides: only time to add
            stamp = cur_stamp if home_changed else getattr(b, kind.stamp)
            if delta or stamp != cur_stamp:
                self.update(kind, ws_key, cur_values, stamp, delta)
            return stamp
        if not home_changed or cur is None:
            return self.apply(kind, ws_key, cur, b, delta, "bundle")
        bundle_wins = b is not None and _later(getattr(b, kind.stamp), cur_stamp)
        self.conflict(kind, key, cur_values, b_values, bundle_wins)
        if bundle_wins:
            return self.apply(kind, ws_key, cur, b, delta, "bundle-conflict")
        if delta:
            self.update(kind, ws_key, cur_values, cur_stamp, delta)
        if kind is GRADES and b is not None:  # the bundle's version stays on record
            self.history(cur["id"], ws_key, b_values, cur_values, "bundle-conflict-superseded", self.stamp)
        return cur_stamp

    def where(self, kind: _Kind, ws_key: tuple) -> tuple[str, list]:
        return " AND ".join(["rater_id = ?"] + [f"{c} = ?" for c in kind.key]), [self.rater_id, *ws_key]

    def update(self, kind: _Kind, ws_key: tuple, values: dict, stamp: str, delta: float) -> None:
        sets = [f"{v} = ?" for v in kind.values] + [f"{kind.stamp} = ?"]
        params = [*values.values(), stamp]
        if kind.active:
            sets.append(f"{kind.active} = {kind.active} + ?")
            params.append(delta)
            self.report.active_seconds += delta
        where, key_params = self.where(kind, ws_key)
        self.conn.execute(f"UPDATE {kind.table.name} SET {', '.join(sets)} WHERE {where}", params + key_params)

    def apply(self, kind: _Kind, ws_key: tuple, cur: dict | None, b, delta: float, reason: str) -> str | None:
        """Make the home row the bundle's version; returns the home row's new stamp."""
        if b is None:
            where, params = self.where(kind, ws_key)
            self.conn.execute(f"DELETE FROM {kind.table.name} WHERE {where}", params)
            self.report.removed[kind.name] += 1
            return None
        b_values = {v: getattr(b, v) for v in kind.values}
        b_stamp = getattr(b, kind.stamp)
        if cur is None:
            columns = {**dict(zip(kind.key, ws_key)), "rater_id": self.rater_id, **b_values, kind.stamp: b_stamp}
            if kind is not REVIEWS:
                columns["id"] = new_id()
            if kind.active:
                columns[kind.active] = delta
                self.report.active_seconds += delta
            if kind is GRADES:
                columns["created_at"] = b.created_at
            self.conn.execute(f"INSERT INTO {kind.table.name} ({', '.join(columns)}) "
                              f"VALUES ({', '.join('?' * len(columns))})", list(columns.values()))
            self.report.added[kind.name] += 1
            return b_stamp
        self.update(kind, ws_key, b_values, b_stamp, delta)
        if kind is GRADES:
            self.history(cur["id"], ws_key, {v: cur[v] for v in kind.values}, b_values, reason, b_stamp)
        self.report.updated[kind.name] += 1
        return b_stamp

    def history(self, grade_id: str, ws_key: tuple, old: dict, new: dict, reason: str, when: str) -> None:
        self.conn.execute(
            """INSERT INTO grade_history (grade_id, answer_id, criterion_id, rater_id, old_verdict, new_verdict,
                   old_explanation, new_explanation, reason, changed_by, changed_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (grade_id, *ws_key, self.rater_id, old["verdict"], new["verdict"], old["explanation"],
             new["explanation"], reason, self.rater_id, when))

    def conflict(self, kind: _Kind, key: str, home: dict | None, bundle: dict | None, bundle_wins: bool) -> None:
        parts = dict(zip(kind.key, key.split("|")))
        criterion = self.c.criteria.get(parts.get("criterion_id", ""))
        answer = self.c.answers.get(parts.get("answer_id", ""))
        question = self.c.questions[answer.question_id if answer else criterion.question_id]
        self.report.conflicts.append(Conflict(
            kind=kind.name, prompt_id=question.prompt_id, model=answer.model if answer else None,
            criterion=criterion.position + 1 if criterion else None, workspace=_describe(kind, home),
            bundle=_describe(kind, bundle), kept="bundle" if bundle_wins else "workspace"))


def import_bundle(ws: Workspace, path: str | Path, *, force: bool = False) -> BundleImportReport:
    """Merge a bundle's grades, reviews and flags into the workspace (see the module docstring)."""
    path = Path(path)
    contents = read_bundle(path)
    manifest = contents.manifest
    same = manifest.source_workspace_id == ws.workspace_id
    if not same and not force:
        raise BundleError(path, f"comes from another workspace ({manifest.source_workspace_id}, this is "
                                f"{ws.workspace_id}); import it with --force to match questions by prompt_id "
                                "and answers by their text")
    report = BundleImportReport(str(path), manifest.bundle_id, manifest.rater, manifest.source_workspace_id,
                                forced=not same)
    memory_key = MERGED_PREFIX + manifest.bundle_id
    tables = {"grades", "grade_history", "answer_reviews", "criterion_flags", "bundles", "meta", "questions",
              "criteria", "answers", "raters", "question_sets", "set_members"}
    try:
        with ws.transaction(tables) as conn:
            mapper = (_Mapper if same else _ForcedMapper)(ws, contents, report)
            mapper.build()
            rater_id = mapper.rater_id()
            remembered = ws.meta(memory_key) or "{}"
            memory = json.loads(remembered)
            merger = _Merger(ws, contents, mapper, rater_id, report, memory)
            for kind in KINDS:
                merger.merge(kind)
            memory = {kind: entries for kind, entries in memory.items() if entries}
            if memory != json.loads(remembered):
                conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (memory_key, json.dumps(memory)))
            if report.changed:
                _record(ws, "import", rater_id, path, manifest.checksum,
                        {"bundle_id": manifest.bundle_id, "conflicts": len(report.conflicts),
                         "added": dict(report.added), "updated": dict(report.updated),
                         "removed": dict(report.removed), "stale": report.stale, "forced": report.forced})
    except sqlite3.DatabaseError as exc:
        raise BundleError(path, f"could not be merged, nothing was changed (SQLite: {exc})") from None
    return report

