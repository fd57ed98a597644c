"""File → Export…: one dialog for every export format, with the filters that apply to it.

The writing runs on the ops helper (it reads the workspace); the dialog
stays open, its controls disabled, until the file is written, then closes
and the window's status bar says "Wrote N rows to …". A failure is said in
the dialog, which stays open so the choice can be changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QVBoxLayout, QWidget

from healthqa.review import export_flags
from healthqa.formats.exports import export_long, export_results
from healthqa.formats.healthbench import export_healthbench
from healthqa.scoring import MAJORITY

from ..widgets.banner import make_banner, show_banner
from ..widgets.combo import fill_combo
from ..widgets.plain_text import plain_label
from .choices import Choices, load_choices
from .form_helpers import FileField, action_buttons
from .prompts import Prompts

SET, MODEL, RATER, RUN = "set", "model", "rater", "run"


@dataclass(frozen=True)
class ExportFormat:
    key: str
    label: str
    suffix: str
    filters: frozenset[str]  # which of SET, MODEL, RATER, RUN apply
    stem: str  # suggested file name: <workspace>-<stem><suffix>
    hint: str  # what the file holds and what it is for
    needs_set: bool = False
    no_rater: str = "All raters"  # what "no rater chosen" means for this format
    majority: bool = False  # the clinicians' majority is a rater choice


ALL = frozenset({SET, MODEL, RATER, RUN})
FORMATS = [
    ExportFormat("healthbench", "HealthBench JSONL — questions and rubrics", ".jsonl", frozenset({SET}),
                 "questions", "The set's questions and rubrics, to share the set or run it with other tools.",
                 needs_set=True),
    ExportFormat("healthbench_answers", "HealthBench JSONL — with answers and a rater's verdicts", ".jsonl",
                 frozenset({SET, MODEL, RATER}), "answers",
                 "One line per answer; the chosen rater's verdicts go in as criteria_met.",
                 needs_set=True, no_rater="No verdicts (answers only)"),
    ExportFormat("long_csv", "Long-form CSV — one row per answer × criterion × rater", ".csv", ALL, "grades",
                 "Every verdict with its question, model, rater, time and flag: for spreadsheets, R or pandas."),
    ExportFormat("long_jsonl", "Long-form JSONL — one line per answer × criterion × rater", ".jsonl", ALL,
                 "grades", "Every verdict with its question, model, rater, time and flag, as JSON lines."),
    ExportFormat("results", "HealthBench results JSON — scores, one line per model and rater", ".jsonl", ALL,
                 "results", "Scores as simple-evals writes them: overall, per theme and axis, with bootstrap "
                 "errors.", majority=True),
    ExportFormat("report_html", "HTML report — scores, agreement, flags", ".html",
                 frozenset({SET, MODEL, RATER}), "report",
                 "A report to read or share: scores, per-tag scores, agreement between raters, flagged items."),
    ExportFormat("report_pdf", "PDF report — scores, agreement, flags", ".pdf",
                 frozenset({SET, MODEL, RATER}), "report",
                 "The same report as a PDF, for printing or attaching."),
    ExportFormat("flags", "Criterion flags CSV — rubric items clinicians flagged", ".csv", frozenset({RATER}),
                 "flags", "Rubric items flagged as wrong or unclear, with reasons and comments: a to-do list "
                 "for whoever maintains the set."),
]
FORMATS_BY_KEY = {f.key: f for f in FORMATS}


def write_export(ws, key: str, out: str, *, set_name: str | None = None, model: str | None = None,
                 rater: str | None = None, run_id: str | None = None) -> str:
    """Write one export with the core's function for it; returns what to tell the person (ops helper)."""
    filters = dict(set_name=set_name, model=model, rater=rater, run_id=run_id)
    if key in ("healthbench", "healthbench_answers"):
        answers = key == "healthbench_answers"
        count = export_healthbench(ws, set_name, out, with_answers=answers, model=model if answers else None,
                                   rater=rater if answers else None)
        noun = "rows"
    elif key in ("long_csv", "long_jsonl"):
        count, noun = export_long(ws, out, fmt=key.removeprefix("long_"), **filters), "rows"
    elif key == "results":
        count, noun = export_results(ws, out, **filters), "results (one per model and rater)"
    elif key in ("report_html", "report_pdf"):
        from healthqa.formats.report import write_report  # matplotlib loads only when a report is asked for

        write_report(ws, out, key.removeprefix("report_"), set_name=set_name, model=model, rater=rater)
        return f"Wrote the {key.removeprefix('report_').upper()} report to {out}"
    elif key == "flags":
        count, noun = export_flags(ws, out, fmt="csv", rater=rater), "flags"
    else:
        raise ValueError(f"unknown export format {key!r}")
    return f"Wrote {count:,} {noun} to {out}"


class ExportDialog(QDialog):
    # -- signals ---------------------------------------------------------------------
    sig_loaded = Signal()
    """The choices (sets, models, raters, runs) are in the filters."""
    sig_exported = Signal(str)
    """'Wrote N rows to …' — the file is written (the dialog closes)."""
    sig_failed = Signal(str)
    """A readable reason the export failed (the dialog stays open)."""

    # -- init ---------------------------------------------------------------------------
    def __init__(self, ctx, prompts: Prompts, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx, self.prompts = ctx, prompts
        self.setWindowTitle("Export")
        self.setMinimumWidth(620)
        self.format_combo = QComboBox()
        for spec in FORMATS:
            self.format_combo.addItem(spec.label, spec.key)
        self.hint = plain_label()
        self.hint.setObjectName("muted")
        self.hint.setWordWrap(True)
        self.set_combo, self.model_combo, self.rater_combo, self.run_combo = (QComboBox() for _ in range(4))
        self.file = FileField(self._ask_file, "File to write")
        self.form = QFormLayout()
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.form.addRow("&Format", self.format_combo)
        self.form.addRow("", self.hint)
        self.form.addRow("&Set", self.set_combo)
        self.form.addRow("&Model", self.model_combo)
        self.form.addRow("&Rater", self.rater_combo)
        self.form.addRow("R&un", self.run_combo)
        self.form.addRow("&File", self.file)
        self._rows = {SET: self.set_combo, MODEL: self.model_combo, RATER: self.rater_combo, RUN: self.run_combo}
        self.message = make_banner()
        self.buttons, self.export_button = action_buttons(self, "Export", self.export,
                                                          QDialogButtonBox.StandardButton.Cancel)
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        layout.addLayout(self.form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self._say("Loading the workspace's sets, models and raters…")
        self.format_combo.currentIndexChanged.connect(self._on_format_changed)
        self.ctx.ops.run(load_choices, self.ctx.ws, on_done=self._on_choices, key="export.choices")

    # -- public API --------------------------------------------------------------------
    def choose(self, format_key: str, **filters) -> None:
        """Pick a format and filters by value (set=, model=, rater=, run=) — scripts and tests."""
        self.format_combo.setCurrentIndex(self.format_combo.findData(format_key))
        for name, value in filters.items():
            combo = self._rows[name]
            index = combo.findData(value)
            if index < 0:
                raise ValueError(f"no {name} {value!r} to choose")
            combo.setCurrentIndex(index)

    def spec(self) -> ExportFormat:
        return FORMATS_BY_KEY[self.format_combo.currentData()]

    def export(self) -> None:
        spec, out = self.spec(), self.file.path()
        values = {name: combo.currentData() if name in spec.filters else None for name, combo in self._rows.items()}
        if not out:
            self._say("Choose a file to write.", error=True)
            return
        if spec.needs_set and values[SET] is None:
            self._say("This format exports a question set: choose one.", error=True)
            return
        self._set_busy(True)
        self._say(f"Writing {Path(out).name}…")
        self.ctx.ops.run(write_export, self.ctx.ws, spec.key, out, set_name=values[SET], model=values[MODEL],
                         rater=values[RATER], run_id=values[RUN], on_done=self._on_written, on_error=self._on_failed)

    # -- private -------------------------------------------------------------------------
    def _on_choices(self, choices: Choices) -> None:
        self._choices = choices
        fill_combo(self.set_combo, [(name, name) for name in choices.sets], None)
        fill_combo(self.model_combo, [(name, name) for name in choices.models], "All models")
        fill_combo(self.run_combo, choices.runs, "All answers (any run or imported)")
        self._on_format_changed()
        self.export_button.setEnabled(True)
        self._say("")
        self.sig_loaded.emit()

    def _on_format_changed(self) -> None:
        spec = self.spec()
        self.hint.setText(spec.hint)
        for name, combo in self._rows.items():
            self.form.setRowVisible(combo, name in spec.filters)
        choices = getattr(self, "_choices", None)
        if choices is not None:
            raters = [(f"{name}  (model grader)" if kind == "model" else name, name) for name, kind in choices.raters]
            if spec.majority:
                raters.insert(0, ("Clinicians' majority", MAJORITY))
            fill_combo(self.rater_combo, raters, spec.no_rater)
            fill_combo(self.set_combo, [(name, name) for name in choices.sets], None if spec.needs_set else "All sets")
        ws_path = self.ctx.ws.path
        typed = self.file.path()
        if typed and not self.file.is_suggested() and Path(typed).suffix != spec.suffix:
            self.file.set_path(str(Path(typed).with_suffix(spec.suffix)))  # their own name, the format's suffix
        self.file.suggest(str(ws_path.parent / f"{ws_path.stem}-{spec.stem}{spec.suffix}"))
        self.adjustSize()  # rows that do not apply are hidden: no gap where they were

    def _ask_file(self, current: str) -> str | None:
        suffix = self.spec().suffix
        return self.prompts.save_file(self, "Export to", current,
                                      f"{suffix.lstrip('.').upper()} files (*{suffix});;All files (*)")

    def _on_written(self, message: str) -> None:
        self._set_busy(False)
        self.sig_exported.emit(message)
        self.accept()

    def _on_failed(self, message: str, exc: BaseException) -> None:
        self._set_busy(False)
        self._say(message, error=True)
        self.sig_failed.emit(message)

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.format_combo, *self._rows.values(), self.file, self.buttons):
            widget.setEnabled(not busy)

    def _say(self, text: str, *, error: bool = False) -> None:
        show_banner(self.message, text, "error" if error else "info")
