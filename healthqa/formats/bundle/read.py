"""Reading a bundle file that is never trusted: the file checked, a private copy opened read-only,
its schema compared with ours, every row validated (see `healthqa.formats.bundle.exchange`)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ValidationError

from ...domain import Question
from ...store import ATTACHMENT_PREFIX, MIGRATIONS, SCHEMA_VERSION, apply_migration
from .manifest import BASELINE_KEY, FORMAT_VERSION, MANIFEST_KEY, Baseline, Manifest, _meta, content_checksum
from .rows import (FLAGS, GRADES, KINDS, REVIEWS, TABLES, AnswerRow, AssignmentRow, AttachmentRow, BundleError,
                   CriterionRow, MemberRow, QuestionRow, RaterRow, SetRow, _Kind, _Table)

MAX_BUNDLE_BYTES = 2 * 2**30
SQLITE_MAGIC = b"SQLite format 3\x00"


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


_REFERENCE_SCHEMAS: dict[int, set] = {}


def _reference_schema(version: int = SCHEMA_VERSION) -> set:
    """The exact schema a workspace has at `version`. A bundle written by an
    earlier version (graded offline in an app not yet upgraded) has an earlier
    one; the tables it carries are read by their columns, which every version has."""
    if version not in _REFERENCE_SCHEMAS:
        conn = sqlite3.connect(":memory:")
        for migration in MIGRATIONS[:version]:
            apply_migration(conn, migration)
        _REFERENCE_SCHEMAS[version] = _schema_of(conn)
        conn.close()
    return _REFERENCE_SCHEMAS[version]


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
        if version < 1 or _schema_of(conn) != _reference_schema(version):
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
