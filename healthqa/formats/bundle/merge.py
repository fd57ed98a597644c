"""Merging a bundle's grades, reviews and flags into a workspace: bundle ids mapped to workspace ids,
each changed row reconciled with its home row, conflicts and grade history recorded, and what was
merged remembered so that importing again changes nothing (see `healthqa.formats.bundle.exchange`)."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from ...domain import Answer, RaterKind, Usage, new_id
from ...limits import is_from_the_future
from ...store import QuestionConflict, Workspace, add_answer, ensure_rater, ensure_set, now, upsert_question
from .read import BundleContents
from .rows import _BASELINE_FIELD, GRADES, KINDS, REVIEWS, BundleError, _ids_in, _key, _Kind

MERGED_PREFIX = "bundle_merged:"


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
    future_stamps: int = 0  # rows stamped later than any believable clock: stamped with the import time instead
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
        if self.future_stamps:
            text += (f"; {self.future_stamps} time stamps from the future (was the clock of the grading machine "
                     "wrong?) were set to the time of this import")
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

    # The baseline is what the source workspace held at export: here, what this workspace held.
    baseline_applies = True

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

    # The baseline describes the source workspace, not this one: a row equal to it says nothing about
    # what this workspace holds, so every row is reconciled (only this bundle's own earlier imports here,
    # in the merge memory, count as synced).
    baseline_applies = False

    def build(self) -> None:
        c, ws = self.c, self.ws
        question_map: dict[str, str] = {}
        set_names = {m.question_id: c.sets[m.set_id].name for m in c.members}
        for question_id, row in c.questions.items():
            existing = ws.scalar("SELECT id FROM questions WHERE prompt_id = ?", (row.prompt_id,))
            set_id = ensure_set(ws, set_names[question_id]) if question_id in set_names and not existing else None
            try:
                question_map[question_id], created = upsert_question(ws, c.question(question_id), set_id)
            except QuestionConflict as exc:
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
        self.moment = datetime.fromisoformat(self.stamp)

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
        base = getattr(self.c.baseline, _BASELINE_FIELD[kind]) if self.map.baseline_applies else {}
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
            b = self.believable(kind, b)
            delta = max(0.0, b_active - (prev[1] if prev else 0.0))
            home_stamp = self.reconcile(kind, key, ws_key, home.get(ws_key), b, prev[2] if prev else None, delta)
            memory[key] = [b_stamp, b_active, home_stamp]

    def believable(self, kind: _Kind, b):
        """The bundle row with any stamp beyond a believable clock set to the import time: stored as it
        is, it would win every later conflict. (The merge memory keeps the stamp as the bundle has it,
        so that importing again still sees the row as merged.)"""
        if b is None:
            return None
        names = (kind.stamp, "created_at") if kind is GRADES else (kind.stamp,)
        future = {name: self.stamp for name in names if is_from_the_future(getattr(b, name), self.moment)}
        if not future:
            return b
        self.report.future_stamps += 1
        return b.model_copy(update=future)

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
