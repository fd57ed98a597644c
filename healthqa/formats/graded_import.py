"""Another tool's graded run into the workspace: answers plus a model grader's verdicts.

simple-evals results (simple_evals.py) and Inspect logs (inspect_log.py)
come down to the same thing: per entry a question (matched by prompt_id),
the model's answer, and the grader's verdict on each rubric criterion. This
module stores them, in one transaction for the whole file:

- each model of the file gets one **import run** (a `runs` row of kind
  'answer', status done, no work items), so the answers of one prompt are
  kept as samples 0, 1, ... as a run keeps them, and `--run` selects exactly
  this import for scores, assignments and exports;
- a question already in the workspace (same prompt_id) is used as it is
  (its example tags and ideal completion stay); its rubric must be the
  entry's, since the verdicts point at its criteria; else the question is
  created from the entry;
- the grader becomes a model rater (a clinician for clinician lines of
  HealthQA's own results export) and each verdict one of its grades;
- the same file (by SHA-256) imported again is refused, nothing stored.

After storing, `compare` sets the file's own figures beside HealthQA's score
of the stored grades.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..domain import Answer, Question, RaterKind, Usage, Verdict, new_id
from ..runs import DONE
from ..store import QuestionConflict, Workspace, add_answer, add_new_grades, ensure_rater, ensure_set, now, \
    upsert_question
from .healthbench import FormatError, ImportReport

TOLERANCE = 1e-9  # the file's figures and HealthQA's must agree this closely


@dataclass
class GradedEntry:
    """One graded answer of the file; `where` names it in messages (an entry, a line, a sample)."""

    where: str
    line: int | None
    question: Question
    completion: str
    verdicts: list[tuple[Verdict, str | None]]
    usage: Usage = field(default_factory=Usage)
    response_id: str | None = None
    finish_reason: str | None = None
    system: str | None = None  # a system message the tool sent before the conversation


@dataclass
class GradedRun:
    """What one model answered and one grader graded, as the file says."""

    model: str
    grader: str
    entries: list[GradedEntry]
    grader_kind: str = RaterKind.MODEL.value
    grader_settings: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)  # kept in the import run's settings (e.g. a system message)


@dataclass
class MetricCheck:
    key: str
    theirs: float
    ours: float | None
    must_agree: bool  # False for bootstrap errors: the tools do not seed their resampling

    @property
    def agrees(self) -> bool:
        return self.ours is not None and math.isclose(self.theirs, self.ours, rel_tol=0, abs_tol=TOLERANCE)


@dataclass
class GradedImportReport(ImportReport):
    source: str = ""
    runs: dict[str, str] = field(default_factory=dict)  # model -> run id
    graders: list[str] = field(default_factory=list)
    checks: list[MetricCheck] = field(default_factory=list)
    not_compared: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ours_label: str = "HealthQA"

    @property
    def agrees(self) -> bool:
        return all(c.agrees for c in self.checks if c.must_agree)

    def summary(self) -> str:
        runs = ", ".join(f"{model} (run {run_id})" for model, run_id in self.runs.items())
        lines = [f"Imported {self.rows} graded answers from {self.path} ({self.source}) into set "
                 f"'{self.set_name}': {self.questions_created} new questions ({self.questions_existing} "
                 f"already there), {self.answers_created} answers, {self.grades_written} verdicts by "
                 f"{', '.join(self.graders)}; model {runs}"]
        lines += [f"Note: {note}" for note in self.notes]
        lines += self.comparison_lines()
        return "\n".join(lines)

    def comparison_lines(self) -> list[str]:
        """One row per figure: its value, n_samples and bootstrap error, the file's beside HealthQA's."""
        if not self.checks:
            return ["The file reports no figures to compare with; `healthqa score --run RUN_ID` scores the import."]
        groups: dict[str, dict[str, MetricCheck]] = {}
        for c in self.checks:
            name, part = _figure(c.key)
            groups.setdefault(name, {})[part] = c
        rows = [("figure", "file", self.ours_label, "n (file/ours)", "± bootstrap (file/ours)", "")]
        for name, parts in groups.items():
            value, n, std = parts.get("value"), parts.get("n"), parts.get("std")
            wrong = [label for label, c in (("value", value), ("n", n)) if c is not None and c.must_agree
                     and not c.agrees]
            rows.append((name,
                         _num(value.theirs) if value else "",
                         _num(value.ours) if value and value.ours is not None else ("-" if value else ""),
                         f"{_count(n.theirs)}/{_count(n.ours)}" if n else "",
                         f"{std.theirs:.4f}/{std.ours:.4f}" if std and std.ours is not None else "",
                         "DIFFER: " + ", ".join(wrong) if wrong else "agree"))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        out = ["  ".join(cell.ljust(w) if i in (0, 5) else cell.rjust(w) for i, (cell, w) in
                         enumerate(zip(row, widths))).rstrip() for row in rows]
        exact = [c for c in self.checks if c.must_agree]
        wrong = [c.key for c in exact if not c.agrees]
        if wrong:
            out.append(f"HealthQA's score of the imported grades DIFFERS from the file's on {len(wrong)} of "
                       f"{len(exact)} figures: {', '.join(wrong)}")
        else:
            out.append(f"HealthQA's score of the imported grades agrees with the file's on all {len(exact)} "
                       f"figures that must match (to {TOLERANCE:g}); bootstrap errors may differ (the tools do "
                       "not seed their resampling).")
        if self.not_compared:
            out.append(f"Not compared ({len(self.not_compared)}): {', '.join(self.not_compared[:8])}"
                       f"{' …' if len(self.not_compared) > 8 else ''}")
        return out


_INSPECT_PART = re.compile(r"(.*(?:axis|theme)_.+)_(score|std|n_samples)")


def _figure(key: str) -> tuple[str, str]:
    """(figure name, 'value' | 'n' | 'std') of a metric key, simple-evals' or Inspect's."""
    if key == "std":  # Inspect's bootstrap error of bootstrap_score
        return "bootstrap_score", "std"
    for suffix, part in ((":n_samples", "n"), (":bootstrap_std", "std")):
        if key.endswith(suffix):
            return key[: -len(suffix)], part
    match = _INSPECT_PART.fullmatch(key)
    if match:
        return match.group(1), {"score": "value", "std": "std", "n_samples": "n"}[match.group(2)]
    return key, "value"


def _count(value: float | None) -> str:
    return "-" if value is None else str(int(value)) if float(value).is_integer() else f"{value:g}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) > 1 else f"{value:.9f}"


# -- storing --------------------------------------------------------------------------------

def already_imported(ws: Workspace, sha256: str) -> str | None:
    """The run id of an earlier import of the same file, if any."""
    return ws.scalar("SELECT id FROM runs WHERE json_extract(settings, '$.imported.sha256') = ? LIMIT 1", (sha256,))


def store_graded_runs(ws: Workspace, path: Path, graded: list[GradedRun], *, source: str, sha256: str,
                      set_name: str) -> GradedImportReport:
    """Write every run of the file in one transaction (see the module docstring)."""
    earlier = already_imported(ws, sha256)
    if earlier:
        raise FormatError(f"this file was imported already (run {earlier}); nothing stored", path=path)
    report = GradedImportReport(str(path), set_name, source=source)
    by_model: dict[str, list[GradedRun]] = defaultdict(list)
    for run in graded:
        by_model[run.model].append(run)
    with ws.transaction({"questions", "criteria", "answers", "grades", "raters", "runs", "set_members"}) as conn:
        set_id = ensure_set(ws, set_name)
        questions: dict[str, tuple[str, list[str], Question]] = {}  # prompt_id -> (id, criterion ids, question)
        seen_questions: set[str] = set()
        for model, runs in by_model.items():
            run_id = new_id()
            settings = {"imported": {"source": source, "file": path.name, "sha256": sha256, "model": model,
                                     "graders": [r.grader for r in runs]}}
            for run in runs:
                settings["imported"].update(run.settings)
            conn.execute(
                """INSERT INTO runs (id, kind, set_id, model_config_id, samples, status, settings, created_at,
                       finished_at) VALUES (?, 'answer', ?, NULL, 1, ?, ?, ?, ?)""",
                (run_id, set_id, DONE, json.dumps(settings), now(), now()))
            report.runs[model] = run_id
            answers: dict[tuple[str, str, int], str] = {}  # (prompt_id, text, occurrence) -> answer id
            samples: dict[str, int] = defaultdict(int)
            for run in runs:
                try:
                    rater_id = ensure_rater(ws, run.grader, run.grader_kind, grader_settings=run.grader_settings)
                except ValueError as exc:  # the name is a clinician's (or a grader's, for clinician lines)
                    raise FormatError(f"{exc}; name the grader with --grader NAME", path=path) from None
                report.graders.append(run.grader)
                occurrences: dict[tuple[str, str], int] = defaultdict(int)
                for entry in run.entries:
                    question_id, criterion_ids = _question(ws, entry, set_id, path, questions, report,
                                                           seen_questions)
                    prompt_id = entry.question.prompt_id
                    k = occurrences[(prompt_id, entry.completion)]
                    occurrences[(prompt_id, entry.completion)] += 1
                    key = (prompt_id, entry.completion, k)
                    answer_id = answers.get(key)
                    if answer_id is None:  # a new sample of this prompt
                        answer_id, _ = add_answer(
                            ws, question_id,
                            Answer(text=entry.completion, model=model, usage=entry.usage,
                                   response_id=entry.response_id, finish_reason=entry.finish_reason),
                            run_id=run_id, sample=samples[prompt_id])
                        samples[prompt_id] += 1
                        answers[key] = answer_id
                        report.answers_created += 1
                    report.rows += 1
                    given = [(cid, verdict.value, explanation)
                             for cid, (verdict, explanation) in zip(criterion_ids, entry.verdicts)]
                    report.grades_written += add_new_grades(ws, answer_id, rater_id, given)
            conn.execute("UPDATE runs SET samples = ? WHERE id = ?", (max(samples.values(), default=1), run_id))
    return report


def _question(ws: Workspace, entry: GradedEntry, set_id: str, path: Path, cache: dict,
              report: GradedImportReport, seen: set[str]) -> tuple[str, list[str]]:
    prompt_id = entry.question.prompt_id
    cached = cache.get(prompt_id)
    if cached is not None:
        question_id, criterion_ids, first = cached
        if [c.model_dump() for c in first.rubrics] != [c.model_dump() for c in entry.question.rubrics]:
            raise FormatError(f"rubric differs from an earlier entry with prompt_id {prompt_id}",
                              path=path, line=entry.line, field=f"{entry.where}.rubric")
        return question_id, criterion_ids
    try:
        question_id, created = upsert_question(ws, entry.question, set_id)
    except QuestionConflict as exc:
        why = " (the verdicts are for the file's rubric)" if exc.part == "rubric" else ""
        raise FormatError(f"{exc}{why}", path=path, line=entry.line,
                          field=f"{entry.where}.{'rubric' if exc.part == 'rubric' else 'prompt'}") from None
    report.questions_created += created
    report.questions_existing += not created
    criterion_ids = [r[0] for r in ws.conn.execute(
        "SELECT id FROM criteria WHERE question_id = ? ORDER BY position", (question_id,))]
    cache[prompt_id] = (question_id, criterion_ids, entry.question)
    seen.add(prompt_id)
    return question_id, criterion_ids


# -- comparing ------------------------------------------------------------------------------

def compare(theirs: dict[str, float], ours: dict[str, float], *, exact_keys=None) -> tuple[list[MetricCheck],
                                                                                          list[str]]:
    """Checks for every key both have (their order), and the keys only the file has.

    Bootstrap errors (`:bootstrap_std`, Inspect's `std`) are shown but need not
    agree: simple-evals and Inspect resample without a seed.
    """
    checks, missing = [], []
    for key, value in theirs.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if key not in ours:
            missing.append(key)
            continue
        bootstrap = key.endswith("bootstrap_std") or key == "std" or key.endswith("_std")
        must = not bootstrap if exact_keys is None else key in exact_keys
        checks.append(MetricCheck(key, float(value), None if ours[key] is None else float(ours[key]), must))
    return checks, missing
