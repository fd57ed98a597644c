"""HealthBench JSONL in and out.

A row is a question with its rubric (the official schema). It may also
carry `completion` and `model` (an answer) and, per rubric item,
`criteria_met` (true / false / null) and `explanation` (a rater's grades).
A file is imported in one transaction: either every good row lands or,
on the first bad row, nothing does (unless skip_invalid).
"""

from __future__ import annotations

import json
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from pydantic import BaseModel, ValidationError

from ..domain import Answer, ImagePart, Message, Question, RaterKind, Verdict
from ..errors import HealthQAError
from ..limits import AnswerText, Comment, Label, LimitError, check
from ..store import (ImageDataError, QuestionConflict, Workspace, add_answer, add_new_grades, answer_drafts,
                     answer_rows, decode_data_url, ensure_rater, ensure_set, get_question, rater_id_or_error,
                     set_grade, set_id_or_error, upsert_question)
from .output import open_output

ROW_KEYS = ("example_tags", "ideal_completions_data", "prompt", "prompt_id", "rubrics", "canary")
MAX_LINE_BYTES = 64 * 1024 * 1024  # one row with inline images may be large, not unbounded


class FormatError(HealthQAError):
    """Bad input: the message names the file, and where known the line and field."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None,
                 field: str | None = None):
        self.path, self.line, self.field, self.reason = path, line, field, message
        where = ":".join(str(p) for p in (path, line) if p is not None)
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}" if where else message)


@dataclass
class ParsedRow:
    line: int
    question: Question
    completion: str | None = None
    model: str | None = None
    verdicts: list[tuple[Verdict | None, str | None]] | None = None  # per criterion; None = no grades


@dataclass
class ImportReport:
    path: str
    set_name: str
    rows: int = 0
    questions_created: int = 0
    questions_existing: int = 0
    answers_created: int = 0
    answers_existing: int = 0
    grades_written: int = 0
    skipped: list[FormatError] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"Imported {self.rows} rows from {self.path} into set '{self.set_name}': "
            f"{self.questions_created} new questions ({self.questions_existing} already there), "
            f"{self.answers_created} new answers ({self.answers_existing} already there), "
            f"{self.grades_written} grades written"
        )
        if self.skipped:
            text += f"; skipped {len(self.skipped)} invalid rows:\n" + "\n".join(f"  {e}" for e in self.skipped)
        return text


def _field_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "str" or "[" in str(part):
            continue  # pydantic's union branch names say nothing to a clinician
        else:
            out += ("." if out else "") + str(part)
    return out or "(row)"


def read_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Non-blank lines of a UTF-8 text file, numbered from 1; clear errors for the rest."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise FormatError("no such file", path=path) from None
    except OSError as exc:  # e.g. a folder on the way that may not be entered
        raise FormatError(f"cannot be read ({exc.strerror})", path=path) from None
    if stat.S_ISDIR(mode):
        raise FormatError("is a folder, not a file", path=path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise FormatError(f"cannot be read ({exc.strerror})", path=path) from None
    with handle:
        seen_any = False
        number = 0
        # A bounded read: /dev/zero or a pipe without newlines must end in an error, not fill memory.
        while raw := handle.readline(MAX_LINE_BYTES + 1):
            number += 1
            seen_any = True
            if len(raw) > MAX_LINE_BYTES:
                raise FormatError(f"line is longer than {MAX_LINE_BYTES // 2**20} MiB", path=path, line=number)
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise FormatError(f"not UTF-8 text (byte {exc.start + 1} of the line)", path=path,
                                  line=number) from None
            if text.strip():
                yield number, text
        if not seen_any:
            raise FormatError("file is empty", path=path)


def json_object(text: str, *, path: str | Path, line: int) -> dict:
    """One JSONL line as a JSON object, or a FormatError naming file and line."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"invalid JSON ({exc.msg} at column {exc.colno})", path=path, line=line) from None
    except RecursionError:
        raise FormatError("invalid JSON (nested too deeply)", path=path, line=line) from None
    if not isinstance(data, dict):
        raise FormatError("a row must be a JSON object", path=path, line=line)
    return data


def validation_error(exc: ValidationError, *, path: str | Path, line: int, prefix: str = "") -> FormatError:
    """A pydantic error as a FormatError on its field (of a union's failed branches, the deepest says most)."""
    first = max(exc.errors(), key=lambda e: len(e["loc"]))
    field = _field_path(first["loc"])
    if prefix:  # the model validated a part of the row: name the field from the row
        field = prefix if field == "(row)" else prefix + ("" if field.startswith("[") else ".") + field
    return FormatError(first["msg"].removeprefix("Value error, "), path=path, line=line, field=field)


def check_images(messages: list[Message], *, path: str | Path, line: int, field: str = "prompt") -> None:
    """Decode each inline image now, so broken base64 is one line naming its field, before anything is written."""
    for i, message in enumerate(messages):
        if isinstance(message.content, str):
            continue
        for j, part in enumerate(message.content):
            if isinstance(part, ImagePart):
                try:
                    decode_data_url(part.image_url.url)
                except ImageDataError as exc:
                    raise FormatError(str(exc), path=path, line=line,
                                      field=f"{field}[{i}].content[{j}].image_url.url") from None


class _AnswerLimits(BaseModel):
    """A row's answer and grades within the limits of healthqa.limits."""

    completion: AnswerText | None
    model: Label | None
    explanations: list[Comment | None]


def parse_row(text: str, *, path: str | Path, line: int) -> ParsedRow:
    data = json_object(text, path=path, line=line)
    if "rubrics" not in data and "binary_labels" in data:
        raise FormatError("this is a HealthBench meta-eval row (one criterion, physicians' binary_labels): "
                          "`healthqa import` reads such files as clinician grades (formats/meta_eval.py)",
                          path=path, line=line, field="rubrics")
    for key in ("prompt", "prompt_id", "rubrics"):
        if key not in data:
            raise FormatError("missing", path=path, line=line, field=key)
    rubrics = data["rubrics"]
    verdicts = None
    if isinstance(rubrics, list):
        clean = []
        for i, item in enumerate(rubrics):
            if isinstance(item, dict):
                if "criteria_met" in item:
                    met = item["criteria_met"]
                    if met is not None and not isinstance(met, bool):
                        raise FormatError("must be true, false or null", path=path, line=line,
                                          field=f"rubrics[{i}].criteria_met")
                    explanation = item.get("explanation")
                    if explanation is not None and not isinstance(explanation, str):
                        raise FormatError("must be a string", path=path, line=line, field=f"rubrics[{i}].explanation")
                    verdicts = verdicts or [None] * len(rubrics)
                    verdicts[i] = (Verdict.from_criteria_met(met), explanation)
                item = {k: v for k, v in item.items() if k not in ("criteria_met", "explanation")}
            clean.append(item)
        if verdicts is not None:
            verdicts = [v or (None, None) for v in verdicts]
        rubrics = clean
    try:
        question = Question.model_validate({**{k: data[k] for k in ROW_KEYS if k in data}, "rubrics": rubrics})
    except ValidationError as exc:
        raise validation_error(exc, path=path, line=line) from None
    check_images(question.prompt, path=path, line=line)
    completion, model = data.get("completion"), data.get("model")
    for key, value in (("completion", completion), ("model", model)):
        if value is not None and not isinstance(value, str):
            raise FormatError("must be a string", path=path, line=line, field=key)
    explanations = [explanation for _, explanation in verdicts] if verdicts else []
    try:  # one check per row (a file holds ~50,000 explanations)
        _AnswerLimits(completion=completion, model=model, explanations=explanations)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = error["loc"][0] if error["loc"][0] != "explanations" else f"rubrics[{error['loc'][1]}].explanation"
        raise FormatError(error["msg"].removeprefix("Value error, "), path=path, line=line, field=field) from None
    if verdicts is not None and completion is None:
        raise FormatError("rubric verdicts (criteria_met) need the graded answer in 'completion'",
                          path=path, line=line, field="completion")
    return ParsedRow(line, question, completion, model, verdicts)


def parse_file(path: str | Path, *, skip_invalid: bool = False) -> tuple[list[ParsedRow], list[FormatError]]:
    """Every row of a file, validated; a duplicate inside the file is an error too, and so is a
    prompt_id whose rows disagree on the question (rows of one prompt_id differ only in their answer)."""
    rows, skipped = [], []
    seen: dict[tuple, int] = {}
    first: dict[str, ParsedRow] = {}  # prompt_id -> its first row
    for number, text in read_lines(path):
        try:
            row = parse_row(text, path=path, line=number)
            key = (row.question.prompt_id, row.model, row.completion)
            if key in seen or (row.completion is None and any(k[0] == key[0] for k in seen if k[2] is None)):
                raise FormatError(f"duplicate prompt_id {row.question.prompt_id} (first on line {seen.get(key)})",
                                  path=path, line=number, field="prompt_id")
            earlier = first.setdefault(row.question.prompt_id, row)
            if earlier is not row:
                _same_question(earlier, row, path)
            seen[key] = number
            rows.append(row)
        except FormatError as exc:
            if not skip_invalid:
                raise
            skipped.append(exc)
    return rows, skipped


def _same_question(first: ParsedRow, row: ParsedRow, path: str | Path) -> None:
    """A later row of a prompt_id asks what its first row asks, under the same rubric."""
    for part, key, same in (("conversation", "prompt", row.question.prompt == first.question.prompt),
                            ("rubric", "rubrics", row.question.rubrics == first.question.rubrics)):
        if not same:
            raise FormatError(f"prompt_id {row.question.prompt_id} has a different {part} than on line {first.line}",
                              path=path, line=row.line, field=key)


def import_healthbench(ws: Workspace, path: str | Path, *, set_name: str | None = None,
                       model: str | None = None, rater: str | None = None,
                       rater_kind: RaterKind | str = RaterKind.CLINICIAN,
                       skip_invalid: bool = False) -> ImportReport:
    """Import a HealthBench JSONL file as one transaction."""
    path = Path(path)
    rows, skipped = parse_file(path, skip_invalid=skip_invalid)
    if not rows:
        raise FormatError("no valid rows to import", path=path)
    if rater is None and any(r.verdicts for r in rows):
        first = next(r for r in rows if r.verdicts)
        raise FormatError("rows carry verdicts (criteria_met): name their rater with --rater NAME",
                          path=path, line=first.line, field="rubrics")
    set_name = set_name or path.stem
    for value, what in ((set_name, "set name"), (model, "--model")):
        try:
            check(value, Label, what) if value is not None else None
        except LimitError as exc:
            raise FormatError(str(exc), path=path) from None
    report = ImportReport(str(path), set_name, skipped=skipped)
    with ws.transaction({"questions", "answers", "grades"}) as conn:
        set_id = ensure_set(ws, set_name)
        rater_id = ensure_rater(ws, rater, rater_kind) if rater else None
        criteria_cache: dict[str, list[str]] = {}
        created_here: set[str] = set()
        for row in rows:
            try:
                question_id, created = _upsert(ws, row, set_id, path)
            except FormatError as exc:
                if not skip_invalid:
                    raise
                report.skipped.append(exc)
                continue
            report.rows += 1
            if created:
                report.questions_created += 1
                created_here.add(question_id)
            elif question_id not in created_here:  # a second answer row to a new question is not "already there"
                report.questions_existing += 1
                created_here.add(question_id)
            if row.completion is None:
                continue
            answer_id, new_answer = add_answer(
                ws, question_id, Answer(text=row.completion, model=model or row.model or "unknown")
            )
            report.answers_created += new_answer
            report.answers_existing += not new_answer
            if row.verdicts and rater_id:
                if question_id not in criteria_cache:
                    criteria_cache[question_id] = [
                        r[0] for r in conn.execute(
                            "SELECT id FROM criteria WHERE question_id = ? ORDER BY position", (question_id,))
                    ]
                given = [(cid, verdict, explanation)
                         for cid, (verdict, explanation) in zip(criteria_cache[question_id], row.verdicts)
                         if verdict is not None or explanation is not None]
                if new_answer:  # nothing to compare with: one bulk insert
                    report.grades_written += add_new_grades(ws, answer_id, rater_id, given)
                    continue
                for criterion_id, verdict, explanation in given:
                    report.grades_written += set_grade(ws, answer_id, criterion_id, rater_id, verdict,
                                                       explanation, reason="import")
    return report


_FIELD_OF = {"rubric": "rubrics", "conversation": "prompt"}  # QuestionConflict.part -> the row's field


def _upsert(ws: Workspace, row: ParsedRow, set_id: str, path: Path) -> tuple[str, bool]:
    try:
        return upsert_question(ws, row.question, set_id)
    except QuestionConflict as exc:
        raise FormatError(str(exc), path=path, line=row.line, field=_FIELD_OF[exc.part]) from None
    except LimitError as exc:  # the question as stored (conversation, search text) is too large
        raise FormatError(exc.reason, path=path, line=row.line, field=exc.field) from None


# -- export -----------------------------------------------------------------

def question_row(question: Question) -> dict:
    """A question as an official HealthBench row, keys in the official order."""
    data = question.model_dump(mode="json", exclude_none=True)
    row = {
        "example_tags": data.get("example_tags", []),
        "ideal_completions_data": data.get("ideal_completions_data"),
        "prompt": data["prompt"],
        "prompt_id": data["prompt_id"],
        "rubrics": data["rubrics"],
    }
    if question.canary is not None:
        row["canary"] = question.canary
    return row


def export_healthbench(ws: Workspace, set_name: str, out: str | Path, *, with_answers: bool = False,
                       model: str | None = None, rater: str | None = None) -> int:
    """Write a set as HealthBench JSONL; returns the number of rows.

    With answers, each answer is its own row (completion, model) and, when
    a rater is named, carries that rater's verdicts as criteria_met. A
    contemplating answer's row also carries its "drafts" (index, text, usage,
    latency_ms, error), which importers ignore. (Review bundles never carry drafts.)
    """
    set_id = set_id_or_error(ws, set_name, FormatError)
    rater_id = rater_id_or_error(ws, rater, FormatError) if rater else None
    question_ids = [r["question_id"] for r in ws.query(
        "SELECT question_id FROM set_members WHERE set_id = ? ORDER BY position", (set_id,))]
    count = 0
    with open_output(out) as handle:  # never half a file under the real name
        for question_id in question_ids:
            row = question_row(get_question(ws, question_id))
            if not with_answers:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
                continue
            criteria = [r["id"] for r in ws.query(
                "SELECT id FROM criteria WHERE question_id = ? ORDER BY position", (question_id,))]
            drafts = answer_drafts(ws, "SELECT id FROM answers WHERE question_id = ?", (question_id,))
            for answer in answer_rows(ws, question_id=question_id, model=model):
                answer_row = {**row, "completion": answer["text"], "model": answer["model"]}
                if answer["id"] in drafts:  # a contemplating answer: the drafts it was composed from
                    answer_row["drafts"] = drafts[answer["id"]]
                if rater_id:
                    grades = {g["criterion_id"]: g for g in ws.query(
                        "SELECT criterion_id, verdict, explanation FROM grades WHERE answer_id = ? AND rater_id = ?",
                        (answer["id"], rater_id))}
                    rubrics = []
                    for criterion_id, item in zip(criteria, row["rubrics"]):
                        grade = grades.get(criterion_id)
                        if grade is not None:
                            verdict = Verdict(grade["verdict"]).as_criteria_met() if grade["verdict"] else None
                            item = {**item, "criteria_met": verdict}
                            if grade["explanation"] is not None:
                                item["explanation"] = grade["explanation"]
                        rubrics.append(item)
                    answer_row["rubrics"] = rubrics
                handle.write(json.dumps(answer_row, ensure_ascii=False) + "\n")
                count += 1
    return count
