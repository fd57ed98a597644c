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
with size limits (`healthqa.limits`, the same limits every import of questions
and answers enforces, and that export checks row by row so that it never
writes a bundle the import would refuse), and questions and criteria through
the domain models.

**Import** merges the rater's grades, reviews and flags in one transaction,
after all checks passed (a refused bundle leaves the workspace untouched):

- a row unchanged offline since export (or since the last import of this
  bundle) is skipped, so importing twice changes nothing;
- a row changed offline, unchanged at home, replaces the home row; grades
  keep the old version in `grade_history` (reason `bundle`);
- a row changed on both sides is a conflict: reported, and the version with
  the later stamp wins; grades keep the other in `grade_history` too;
- active seconds spent offline are added once;
- a stamp later than any believable clock (now plus `limits.MAX_CLOCK_SKEW`) is
  replaced by the import time and counted in the report: kept, it would win
  every later conflict.

What was merged is remembered per bundle in the workspace's meta
(`bundle_merged:<bundle id>`), so a copy graded further and imported again
merges only the new work. A bundle from another workspace is refused unless
forced; then questions are matched by prompt_id and answers by (prompt_id,
model, completion text), as HealthBench imports do, and created if missing.
There the baseline (what the *source* workspace held) means nothing: every
row of the bundle is reconciled with what this workspace holds, not only
those changed offline.

**Where the code lives.** This module exports, verifies and imports bundle
files; `rows` holds the tables a bundle carries and the model each row must
pass, `manifest` the manifest, baseline, format version and checksum, `read`
the safe opening and validation of a file, `merge` the merge into a
workspace. The package's `__init__` is what other code imports.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from ...domain import RaterKind, new_id
from ...review import assigned_answer_ids
from ...limits import plain_name
from ...store import SCHEMA_VERSION, Workspace, now, rater_id_or_error
from ..exports import read_connection
from ..output import output_path
from .manifest import BASELINE_KEY, FORMAT, FORMAT_VERSION, MANIFEST_KEY, Manifest, _baseline, content_checksum
from .merge import MERGED_PREFIX, BundleImportReport, _ForcedMapper, _Mapper, _Merger
from .read import read_bundle
from .rows import KINDS, TABLES, BundleError, _ids_in, _Table

SUFFIX = ".hqbundle"  # what the desktop app offers; any name works


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


def _copy(src: sqlite3.Connection, dst: sqlite3.Connection, table: _Table, where: str, params: tuple) -> list[tuple]:
    cols = ", ".join(table.columns)
    rows = src.execute(f"SELECT {cols} FROM {table.name} WHERE {where} ORDER BY rowid", params).fetchall()
    for row in rows:  # the import's own row checks: never write a bundle it would refuse
        values = dict(zip(table.columns, row))
        try:
            table.row.model_validate(values)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(p) for p in error["loc"]) or "row"
            raise BundleError(None, f"cannot export {_row_name(src, table.name, values)}: {field}: "
                                    f"{error['msg'].removeprefix('Value error, ')} (the import would refuse the "
                                    "bundle; correct it in the workspace first)"
                              ) from None
    dst.executemany(f"INSERT INTO {table.name} ({cols}) VALUES ({', '.join('?' * len(table.columns))})", rows)
    return rows


def _shown(text: str) -> str:
    return text if text.isprintable() else repr(text)  # one line, whatever the text holds


_ONE_ROW = {"questions": "the question", "criteria": "the rubric", "answers": "an answer", "grades": "a grade",
            "answer_reviews": "a review", "criterion_flags": "a flag", "set_members": "the set membership",
            "assignments": "an assignment"}


def _row_name(src: sqlite3.Connection, table: str, values: dict) -> str:
    """A row as a person finds it: the question's prompt_id, the answer's model, the criterion's number."""
    def one(sql: str, key: str):
        return src.execute(sql, (values[key],)).fetchone() or (None, None)

    question_id, position = values.get("question_id"), None
    if table == "questions":
        question_id = values["id"]
    elif "criterion_id" in values:
        question_id, position = one("SELECT question_id, position FROM criteria WHERE id = ?", "criterion_id")
    elif "answer_id" in values:
        question_id = one("SELECT question_id, 0 FROM answers WHERE id = ?", "answer_id")[0]
    if table == "criteria":
        position = values["position"]
    if question_id is None:
        return f"{table} row {_shown(str(values.get('name') or values.get('id') or values.get('sha256')))}"
    prompt_id = src.execute("SELECT prompt_id FROM questions WHERE id = ?", (question_id,)).fetchone()[0]
    name = f"{_ONE_ROW.get(table, table)} of prompt_id {_shown(prompt_id)}"
    if table == "answers":
        name += f" by {_shown(values['model'])}"
    return name + (f" criterion #{position + 1}" if position is not None else "")


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


def export_bundle(ws: Workspace, rater: str, out: str | Path, *, run_id: str | None = None,
                  blinded: bool = True) -> BundleExportReport:
    """Write one clinician's assignment as a bundle file (see the module docstring)."""
    out = Path(out)
    row = ws.query_one("SELECT id, kind FROM raters WHERE id = ?",
                       (rater_id_or_error(ws, rater, lambda message: BundleError(None, message)),))
    if row["kind"] != RaterKind.CLINICIAN.value:
        raise BundleError(None, f"{rater!r} is a model grader; bundles are for clinicians")
    try:
        plain_name(rater)  # an import would refuse it: better said now
    except ValueError as exc:
        raise BundleError(None, f"rater {rater!r}: {exc}; rename them first "
                                f"(healthqa raters rename OLD NEW)") from None
    rater_id = row["id"]
    answer_ids = assigned_answer_ids(ws, rater_id, run_id=run_id)
    if not answer_ids:
        where = f" in run {run_id}" if run_id else ""
        raise BundleError(None, f"no answers are assigned to {rater}{where} (use `healthqa assign` first)")
    with output_path(out) as tmp, read_connection(ws) as src:
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


def verify_bundle(path: str | Path) -> Manifest:
    """Every check an import makes, nothing merged; returns the manifest."""
    return read_bundle(path).manifest


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
