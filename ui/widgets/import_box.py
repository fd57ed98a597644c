"""Importing a file: the background call and the box that reports on it.

Every format `healthqa import` reads is accepted (formats/detect.py):
HealthBench JSONL, the meta-eval file, simple-evals results and Inspect
logs. A failed HealthBench import lists *every* bad row (file:line: field:
reason), not just the first, and offers to import again skipping them. A
file whose rows carry verdicts asks whose verdicts they are (a clinician or
a model grader). A simple-evals or Inspect import is whole or nothing; when
it lands, the box sets the file's own figures beside HealthQA's.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFrame, QHBoxLayout, QLineEdit, QPlainTextEdit,
                               QProgressBar, QPushButton, QVBoxLayout, QWidget)

from healthqa.errors import HealthQAError
from healthqa.formats.detect import GRADED_RUNS, detect_format, import_file
from healthqa.formats.healthbench import FormatError, ImportReport, parse_file

from .plain_text import plain_label

MAX_LISTED = 200


class ImportFailed(HealthQAError):
    """An import that wrote nothing; `problems` lists each bad row."""

    def __init__(self, message: str, problems: list[str], *, needs_rater: bool = False, retryable: bool = True):
        super().__init__(message)
        self.problems = problems
        self.needs_rater = needs_rater
        self.retryable = retryable  # False: importing again (skipping rows) cannot help


def run_import(ws, path: str, *, skip_invalid: bool = False, rater: str | None = None,
               rater_kind: str = "clinician") -> ImportReport:
    """import_file, with every problem of a refused file collected (runs on the ops helper)."""
    if detect_format(path) in GRADED_RUNS:  # a tool's graded run: imported whole, its one problem named
        try:
            return import_file(ws, path)
        except FormatError as problem:
            raise ImportFailed(f"Nothing was imported from {Path(path).name}.", [str(problem)],
                               retryable=False) from None
    try:
        return import_file(ws, path, skip_invalid=skip_invalid, rater=rater, rater_kind=rater_kind)
    except FormatError as first:
        if "criteria_met" in first.reason and rater is None:
            raise ImportFailed(f"{Path(path).name} carries verdicts (criteria_met). Say whose verdicts they "
                               f"are, then import again.", [str(first)], needs_rater=True) from None
        try:
            _, problems = parse_file(path, skip_invalid=True)
        except FormatError as whole_file:  # the file itself is unreadable: that is the one problem
            problems = [whole_file]
        listed = [str(p) for p in problems] or [str(first)]
        more = f"\n… and {len(listed) - MAX_LISTED} more" if len(listed) > MAX_LISTED else ""
        noun = "problem" if len(listed) == 1 else "problems"
        raise ImportFailed(f"Nothing was imported from {Path(path).name}: {len(listed)} {noun}.",
                           listed[:MAX_LISTED] + ([more.strip()] if more else [])) from None


class ImportBox(QFrame):
    """Progress, outcome and problems of the current import, with a way to try again."""

    sig_retry = Signal(bool, object, str)
    """(skip invalid rows, rater name or None, rater kind) — import the same file again."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("card")
        self.title = plain_label()
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.title.setWordWrap(True)
        self.title.setStyleSheet("font-weight: 600;")
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setAccessibleName("Importing")
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setMaximumHeight(130)
        self.details.setAccessibleName("Import problems")
        self.skip_box = QCheckBox("Skip invalid rows")
        self.rater_edit = QLineEdit()
        self.rater_edit.setPlaceholderText("Whose verdicts? e.g. gpt-4.1 grader, or Dr. Lee")
        self.rater_kind = QComboBox()
        self.rater_kind.addItem("model grader", "model")
        self.rater_kind.addItem("clinician", "clinician")
        self.retry_button = QPushButton("Import again")
        self.retry_button.clicked.connect(self._on_retry)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(lambda: self.setVisible(False))
        actions = QHBoxLayout()
        actions.addWidget(self.skip_box)
        actions.addWidget(self.rater_edit, 1)
        actions.addWidget(self.rater_kind)
        actions.addStretch(0)
        actions.addWidget(self.retry_button)
        actions.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.setSpacing(8)
        layout.addWidget(self.title)
        layout.addWidget(self.busy)
        layout.addWidget(self.details)
        layout.addLayout(actions)
        self.setVisible(False)
        self.path: str | None = None

    # -- public API -------------------------------------------------------------------
    def started(self, path: str) -> None:
        self.path = path
        self.title.setText(f"Importing {Path(path).name}…")
        self._show(busy=True, details=None, retry=False)

    def succeeded(self, report: ImportReport) -> None:
        if hasattr(report, "comparison_lines"):  # a simple-evals or Inspect run
            self._graded_run(report)
            return
        text = (f"Imported {report.rows} rows from {Path(report.path).name} into “{report.set_name}”: "
                f"{report.questions_created} new questions, {report.answers_created} new answers, "
                f"{report.grades_written} verdicts.")
        skipped = [str(e) for e in report.skipped]
        if skipped:
            text += f" Skipped {len(skipped)} invalid rows:"
        self.title.setText(text)
        self._show(busy=False, details=skipped or None, retry=False)

    def failed(self, message: str, exc: BaseException) -> None:
        self.title.setText(message)
        problems = getattr(exc, "problems", None) or [message]
        needs_rater = bool(getattr(exc, "needs_rater", False))
        self._show(busy=False, details=problems, retry=getattr(exc, "retryable", True), needs_rater=needs_rater)

    # -- private --------------------------------------------------------------------------
    def _graded_run(self, report) -> None:
        exact = [c for c in report.checks if c.must_agree]
        if not exact:
            verdict = "The file reports no figures to compare."
        elif report.agrees:
            verdict = f"HealthQA's score agrees with the file's on all {len(exact)} figures that must match."
        else:
            verdict = "HealthQA's score DIFFERS from the file's: see the figures below."
        self.title.setText(f"Imported {report.rows} graded answers from {Path(report.path).name} "
                           f"({report.source}): {report.grades_written} verdicts by {', '.join(report.graders)}. "
                           f"{verdict}")
        details = [f"Note: {note}" for note in report.notes] + report.comparison_lines()
        self._show(busy=False, details=details, retry=False)
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))  # columns line up

    def _show(self, *, busy: bool, details: list[str] | None, retry: bool, needs_rater: bool = False) -> None:
        self.details.setFont(self.font())
        self.busy.setVisible(busy)
        self.details.setVisible(details is not None)
        self.details.setPlainText("\n".join(details or []))
        self.skip_box.setVisible(retry and not needs_rater)
        self.rater_edit.setVisible(needs_rater)
        self.rater_kind.setVisible(needs_rater)
        self.retry_button.setVisible(retry)
        self.retry_button.setText("Import with these verdicts" if needs_rater else "Import again")
        self.close_button.setVisible(not busy)
        self.setVisible(True)

    def _on_retry(self) -> None:
        rater = (self.rater_edit.text().strip() or None) if not self.rater_edit.isHidden() else None
        self.sig_retry.emit(self.skip_box.isChecked(), rater, self.rater_kind.currentData())
