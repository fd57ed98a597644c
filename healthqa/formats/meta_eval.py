"""HealthBench meta-eval rows in: physicians' labels on consensus criteria,
as clinician grades (specs/healthbench.md §2.4, §5).

A row is one (conversation, completion, consensus criterion) with one
met / not-met label per physician. Rows are grouped into questions by
prompt_id (each distinct criterion of a prompt becomes one rubric item, a
5-point `level:cluster` criterion tagged with its category) and answers by
completion text; each anonymised physician becomes a clinician rater named
"physician <id>". With a model grader run over the same answers, `healthqa
agreement` then reproduces HealthBench's grader-vs-physician comparison.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from ..domain import Answer, Criterion, Message, Question, RaterKind
from ..limits import AnswerText, CriterionText, Label, LimitError, check
from ..store import (QuestionConflict, Workspace, add_answer, criteria_rows, ensure_rater, ensure_set, set_grade,
                     upsert_question)
from .healthbench import FormatError, ImportReport, check_images, json_object, read_lines, validation_error

META_MODEL = "HealthBench meta-eval completion"
CONSENSUS_POINTS = 5  # every consensus criterion in the published rows is worth 5 points
THEMES = ("global_health", "hedging", "communication", "context_seeking", "emergency_referrals",
          "health_data_tasks", "complex_responses")
REQUIRED = ("prompt", "prompt_id", "completion", "rubric", "category", "binary_labels", "anonymized_physician_ids")
_MESSAGES = TypeAdapter(list[Message])


@dataclass
class MetaRow:
    line: int
    prompt_id: str
    prompt: list[Message]
    completion: str
    rubric: str
    category: str
    labels: list[bool]
    physicians: list[str]


def is_meta_eval_file(path: str | Path) -> bool:
    """Whether the first row of a file is a meta-eval row (has physicians' binary_labels)."""
    try:
        for _, text in read_lines(path):
            row = json.loads(text)
            return isinstance(row, dict) and "binary_labels" in row and "rubrics" not in row
    except (FormatError, json.JSONDecodeError, RecursionError):
        return False
    return False


def _listish(value, *, path, line: int, field: str) -> list:
    """A list, or the stringified Python list some copies of the data carry ("[True, False]")."""
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise FormatError("must be a list", path=path, line=line, field=field) from None
    if not isinstance(value, list):
        raise FormatError("must be a list", path=path, line=line, field=field)
    return value


def parse_meta_row(text: str, *, path: str | Path, line: int) -> MetaRow:
    data = json_object(text, path=path, line=line)
    for key in REQUIRED:
        if key not in data:
            raise FormatError("missing", path=path, line=line, field=key)
    for key in ("prompt_id", "completion", "rubric", "category"):
        if not isinstance(data[key], str) or not data[key].strip():
            raise FormatError("must be a non-empty string", path=path, line=line, field=key)
    for key, kind in (("prompt_id", Label), ("completion", AnswerText), ("rubric", CriterionText), ("category", Label)):
        try:
            check(data[key], kind, key)
        except LimitError as exc:
            raise FormatError(exc.reason, path=path, line=line, field=key) from None
    prompt = _listish(data["prompt"], path=path, line=line, field="prompt")
    try:
        messages = _MESSAGES.validate_python(prompt)
    except ValidationError as exc:
        raise validation_error(exc, path=path, line=line, prefix="prompt") from None
    check_images(messages, path=path, line=line)
    if not messages or messages[-1].role != "user":
        raise FormatError("the conversation must end with a user turn", path=path, line=line, field="prompt")
    labels = _listish(data["binary_labels"], path=path, line=line, field="binary_labels")
    physicians = _listish(data["anonymized_physician_ids"], path=path, line=line, field="anonymized_physician_ids")
    if not all(isinstance(label, bool) for label in labels):
        raise FormatError("labels must be true or false", path=path, line=line, field="binary_labels")
    if not all(isinstance(p, str) and p.strip() for p in physicians) or len(physicians) != len(labels):
        raise FormatError("one non-empty physician id per label is needed", path=path, line=line,
                          field="anonymized_physician_ids")
    return MetaRow(line, data["prompt_id"], messages, data["completion"], data["rubric"], data["category"],
                   labels, physicians)


def _theme(category: str) -> str | None:
    name = category.removeprefix("cluster:")
    return next((t for t in THEMES if name.startswith(t + "_")), None)


def import_meta_eval(ws: Workspace, path: str | Path, *, set_name: str | None = None,
                     skip_invalid: bool = False) -> ImportReport:
    """Import a meta-eval JSONL file as one transaction; returns what was imported."""
    path = Path(path)
    rows, skipped = [], []
    for number, text in read_lines(path):
        try:
            rows.append(parse_meta_row(text, path=path, line=number))
        except FormatError as exc:
            if not skip_invalid:
                raise
            skipped.append(exc)
    if not rows:
        raise FormatError("no valid rows to import", path=path)
    by_prompt: dict[str, list[MetaRow]] = {}
    for row in rows:
        first = by_prompt.setdefault(row.prompt_id, [row])[0]
        if row is not first:
            if row.prompt != first.prompt:
                raise FormatError(f"prompt differs from line {first.line}, which has the same prompt_id",
                                  path=path, line=row.line, field="prompt")
            by_prompt[row.prompt_id].append(row)
    report = ImportReport(str(path), set_name or path.stem, skipped=skipped)
    with ws.transaction({"questions", "answers", "grades", "raters"}):
        set_id = ensure_set(ws, report.set_name)
        raters: dict[str, str] = {}
        for prompt_id, group in by_prompt.items():
            rubric = list(dict.fromkeys((r.rubric, r.category) for r in group))
            theme = _theme(group[0].category)
            question = Question(prompt_id=prompt_id, prompt=group[0].prompt,
                                example_tags=[f"theme:{theme}"] if theme else [],
                                rubrics=[Criterion(criterion=text, points=CONSENSUS_POINTS,
                                                   tags=[category, "level:cluster"]) for text, category in rubric])
            try:
                question_id, created = upsert_question(ws, question, set_id)
            except QuestionConflict as exc:
                raise FormatError(str(exc), path=path, line=group[0].line,
                                  field="rubric" if exc.part == "rubric" else "prompt") from None
            report.questions_created += created
            report.questions_existing += not created
            criterion_ids = {key: c["id"] for key, c in zip(rubric, criteria_rows(ws, question_id))}
            for row in group:
                report.rows += 1
                answer_id, new = add_answer(ws, question_id, Answer(text=row.completion, model=META_MODEL))
                report.answers_created += new
                for physician, met in zip(row.physicians, row.labels):
                    if physician not in raters:
                        raters[physician] = ensure_rater(ws, f"physician {physician}", RaterKind.CLINICIAN)
                    report.grades_written += set_grade(ws, answer_id, criterion_ids[(row.rubric, row.category)],
                                                       raters[physician], "met" if met else "not_met",
                                                       reason="import")
        report.answers_existing = len({(r.prompt_id, r.completion) for r in rows}) - report.answers_created
    return report
