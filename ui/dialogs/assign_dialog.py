"""File → Assign answers to clinicians…: who grades which answer, k clinicians per answer.

`healthqa.review.assign` shares the answers of a pool (a run's, a
set's, a model's) among the chosen clinicians, balanced, and keeps what was
assigned before. Once a clinician has assignments, their grading queue
holds only those answers. The dialog shows each clinician's load after.
"Answers to hand out" can be a seeded random sample of the pool instead of
all of it, stratified by theme: the audit of an imported run.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDialog, QFormLayout, QHBoxLayout, QHeaderView, QLineEdit, QListWidget, QListWidgetItem, QPushButton, QSpinBox, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from healthqa.review import AssignReport, assign, assignment_summary

from .. import look
from ..widgets.banner import make_banner, show_banner
from ..widgets.combo import fill_combo
from ..widgets.plain_text import plain_label
from .choices import Choices, load_choices
from .form_helpers import action_buttons

SUMMARY_COLUMNS = ("Clinician", "Assigned", "Submitted", "Started")


def assign_and_summarise(ws, raters: list[str], overlap: int, *, run_id: str | None, set_name: str | None,
                         model: str | None, sample: int | None = None,
                         stratify: str | None = None) -> tuple[AssignReport, list[dict]]:
    """Assign, then everyone's load (ops helper: one workspace call, one result)."""
    report = assign(ws, raters, overlap, run_id=run_id, set_name=set_name, model=model, sample=sample,
                    stratify=stratify)
    return report, assignment_summary(ws)


class AssignDialog(QDialog):
    # -- signals -------------------------------------------------------------------------
    sig_loaded = Signal()
    """The clinicians and the scope choices are listed."""
    sig_assigned = Signal(object)
    """AssignReport — the assignments are stored; the per-clinician summary is shown."""
    sig_failed = Signal(str)
    """A readable reason nothing was assigned."""

    # -- init --------------------------------------------------------------------------------
    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Assign answers to clinicians")
        self.setMinimumWidth(560)
        intro = plain_label("Each answer goes to k of the chosen clinicians, balanced, so agreement can be measured. "
                       "Answers assigned earlier stay assigned. A clinician with assignments grades only those.")
        intro.setWordWrap(True)
        intro.setObjectName("muted")
        self.clinician_list = QListWidget()
        self.clinician_list.setAccessibleName("Clinicians")
        self.clinician_list.itemChanged.connect(self._on_checked_changed)
        self.clinician_list.setMinimumHeight(6 * self.clinician_list.fontMetrics().height() * 2)
        self.new_name = QLineEdit()
        self.new_name.setPlaceholderText("Add a clinician by name (Enter)")
        self.new_name.installEventFilter(self)
        self.add_button = QPushButton(look.icon("add"), "Add")
        self.add_button.setAutoDefault(False)
        self.add_button.clicked.connect(self.add_clinician)
        add_row = QHBoxLayout()
        add_row.addWidget(self.new_name, 1)
        add_row.addWidget(self.add_button)
        self.overlap_spin = QSpinBox()
        self.overlap_spin.setRange(1, 1)
        self.overlap_spin.setToolTip("How many of the chosen clinicians grade each answer (at most as many as are "
                                     "checked)")
        self.run_combo, self.set_combo, self.model_combo = QComboBox(), QComboBox(), QComboBox()
        self.sample_spin = QSpinBox()
        self.sample_spin.setRange(0, 1_000_000)
        self.sample_spin.setSpecialValueText("All of them")
        self.sample_spin.setSuffix(" answers, at random")
        self.sample_spin.setToolTip("Hand out a random sample of the answers instead of all (e.g. to audit an "
                                    "imported run's grader)")
        self.stratify_box = QCheckBox("stratified by theme")
        self.stratify_box.setChecked(True)
        self.stratify_box.setEnabled(False)
        self.sample_spin.valueChanged.connect(lambda n: self.stratify_box.setEnabled(n > 0))
        sample_row = QHBoxLayout()
        sample_row.addWidget(self.sample_spin, 1)
        sample_row.addWidget(self.stratify_box)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.addRow("Clinicians per &answer (k)", self.overlap_spin)
        form.addRow("&Run", self.run_combo)
        form.addRow("&Set", self.set_combo)
        form.addRow("&Model", self.model_combo)
        sample_label = plain_label("Answers to &hand out")
        sample_label.setBuddy(self.sample_spin)
        form.addRow(sample_label, sample_row)
        self.message = make_banner()
        self.summary = QTableWidget(0, len(SUMMARY_COLUMNS))
        self.summary.setHorizontalHeaderLabels(SUMMARY_COLUMNS)
        self.summary.verticalHeader().setVisible(False)
        self.summary.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.summary.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.summary.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.summary.setVisible(False)
        self.buttons, self.assign_button = action_buttons(self, "Assign", self.assign)
        chosen_title = plain_label("&Clinicians")
        chosen_title.setBuddy(self.clinician_list)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(intro)
        layout.addWidget(chosen_title)
        layout.addWidget(self.clinician_list)
        layout.addLayout(add_row)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.summary)
        layout.addWidget(self.buttons)
        self._say("Loading the clinicians…")
        self.ctx.ops.run(load_choices, self.ctx.ws, on_done=self._on_choices, key="assign.choices")

    # -- public API ---------------------------------------------------------------------
    def chosen(self) -> list[str]:
        """The checked clinicians, in list order."""
        items = (self.clinician_list.item(i) for i in range(self.clinician_list.count()))
        return [item.text() for item in items if item.checkState() == Qt.CheckState.Checked]

    def add_clinician(self) -> None:
        """Add the typed name to the list, checked (it is created when assigning)."""
        name = self.new_name.text().strip()
        if not name:
            return
        found = self.clinician_list.findItems(name, Qt.MatchFlag.MatchExactly)
        item = found[0] if found else self._add_item(name)
        item.setCheckState(Qt.CheckState.Checked)
        self.new_name.clear()

    def assign(self) -> None:
        names = self.chosen()
        if not names:
            self._say("Check at least one clinician.", "error")
            return
        self._set_busy(True)
        self._say(f"Assigning to {len(names)} clinicians…")
        sample = self.sample_spin.value() or None
        self.ctx.ops.run(assign_and_summarise, self.ctx.ws, names, self.overlap_spin.value(),
                         run_id=self.run_combo.currentData(), set_name=self.set_combo.currentData(),
                         model=self.model_combo.currentData(), sample=sample,
                         stratify="theme" if sample and self.stratify_box.isChecked() else None,
                         on_done=self._on_assigned, on_error=self._on_failed)

    # -- Qt overrides ---------------------------------------------------------------------------
    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        if (watched is self.new_name and event.type() == QEvent.Type.KeyPress
                and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)):
            self.add_clinician()  # Enter in the name field adds the name; it never reaches Assign
            return True
        return super().eventFilter(watched, event)

    # -- private ------------------------------------------------------------------------------
    def _on_choices(self, choices: Choices) -> None:
        for name in choices.clinicians:
            self._add_item(name)
        fill_combo(self.run_combo, choices.runs, "Any run (or imported)")
        fill_combo(self.set_combo, [(n, n) for n in choices.sets], "Any set")
        fill_combo(self.model_combo, [(n, n) for n in choices.models], "Any model")
        self.assign_button.setEnabled(True)
        self._say("" if choices.clinicians else "No clinician yet: add their names below the list.")
        self.sig_loaded.emit()

    def _add_item(self, name: str) -> QListWidgetItem:
        item = QListWidgetItem(name)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Unchecked)
        self.clinician_list.addItem(item)
        return item

    def _on_checked_changed(self) -> None:
        self.overlap_spin.setMaximum(max(1, len(self.chosen())))

    def _on_assigned(self, result: tuple[AssignReport, list[dict]]) -> None:
        report, loads = result
        self._set_busy(False)
        self._say(report.summary(), "success")
        self.summary.setRowCount(len(loads))
        for row, entry in enumerate(loads):
            for column, key in enumerate(("rater", "assigned", "submitted", "started")):
                item = QTableWidgetItem(str(entry[key]))
                if column:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.summary.setItem(row, column, item)
        self.summary.resizeRowsToContents()
        self.summary.setFixedHeight(self.summary.horizontalHeader().sizeHint().height()  # every row, no scrolling
                                    + self.summary.verticalHeader().length() + 2 * self.summary.frameWidth() + 2)
        self.summary.setVisible(True)
        self.adjustSize()
        self.sig_assigned.emit(report)

    def _on_failed(self, message: str, exc: BaseException) -> None:
        self._set_busy(False)
        self._say(message, "error")
        self.sig_failed.emit(message)

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.clinician_list, self.new_name, self.add_button, self.overlap_spin, self.run_combo,
                       self.set_combo, self.model_combo, self.sample_spin, self.buttons):
            widget.setEnabled(not busy)

    def _say(self, text: str, tone: str = "info") -> None:
        show_banner(self.message, text, tone)
