"""Offline review bundles: the export dialog and the summary shown after an import.

A bundle holds the answers assigned to one clinician; they grade it
anywhere (the desktop app opens it as a workspace) and it is imported
back. The core does the work (`healthqa/formats/bundle/`); these
dialogs choose and report.
"""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout,
                               QGridLayout, QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from healthqa.formats.bundle import KINDS, SUFFIX, BundleExportReport, BundleImportReport, export_bundle

from ..widgets.banner import make_banner, show_banner
from ..widgets.combo import fill_combo
from ..widgets.panel_header import section_title
from ..widgets.plain_text import plain_label, plain_tooltip
from .choices import Choices, load_choices
from .form_helpers import FileField, action_buttons
from .prompts import Prompts

BUNDLE_FILTER = f"HealthQA review bundles (*{SUFFIX});;All files (*)"
KIND_WORDS = {"grade": "Verdicts", "review": "Answer reviews", "flag": "Rubric flags"}
KIND_WORD = {"grade": "Verdict", "review": "Answer review", "flag": "Rubric flag"}
VERDICT_WORDS = {"not_met": "not met", "cannot_judge": "can't judge", "wrong_sign": "wrong sign",
                 "wrong_content": "wrong content"}


def _readable(version: str) -> str:
    """A conflict side as the core describes it ("not_met ('note')"), with the stored words made human."""
    head, sep, rest = version.partition(" ")
    return VERDICT_WORDS.get(head, head) + sep + rest


def _file_stem(name: str) -> str:
    return re.sub(r"[^\w-]+", "-", name).strip("-").lower() or "clinician"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


class BundleExportDialog(QDialog):
    """Review bundles → Export bundle for a clinician…"""

    # -- signals -------------------------------------------------------------------------
    sig_loaded = Signal()
    """The clinicians and runs are listed."""
    sig_exported = Signal(object)
    """BundleExportReport — the bundle file is written (its summary is shown in the dialog)."""
    sig_failed = Signal(str)
    """A readable reason the export failed."""

    # -- init --------------------------------------------------------------------------------
    def __init__(self, ctx, prompts: Prompts, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx, self.prompts = ctx, prompts
        self.setWindowTitle("Export a review bundle")
        self.setMinimumWidth(600)
        intro = plain_label("A bundle holds the answers assigned to one clinician, to grade offline in HealthQA "
                       "(File → Review bundles → Open bundle to grade offline…). Import it back when graded.")
        intro.setWordWrap(True)
        intro.setObjectName("muted")
        self.clinician_combo = QComboBox()
        self.run_combo = QComboBox()
        self.blinded_box = QCheckBox("Blinded: leave out other raters' verdicts, comments and names")
        self.blinded_box.setChecked(True)
        self.file = FileField(lambda current: self.prompts.save_file(self, "Export bundle to", current,
                                                                     BUNDLE_FILTER), "Bundle file")
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.addRow("&Clinician", self.clinician_combo)
        form.addRow("&Run", self.run_combo)
        form.addRow("", self.blinded_box)
        form.addRow("&File", self.file)
        self.message = make_banner()
        self.buttons, self.export_button = action_buttons(self, "Export bundle", self.export)
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        show_banner(self.message, "Loading the clinicians…")
        self.clinician_combo.currentIndexChanged.connect(self._suggest_path)
        self.ctx.ops.run(load_choices, self.ctx.ws, on_done=self._on_choices, key="bundle.choices")

    # -- public API ---------------------------------------------------------------------
    def export(self) -> None:
        rater, out = self.clinician_combo.currentData(), self.file.path()
        if rater is None:
            show_banner(self.message, "Choose the clinician the bundle is for.", "error")
            return
        if not out:
            show_banner(self.message, "Choose where to write the bundle.", "error")
            return
        self._set_busy(True)
        show_banner(self.message, f"Writing {Path(out).name}…")
        self.ctx.ops.run(export_bundle, self.ctx.ws, rater, out, run_id=self.run_combo.currentData(),
                         blinded=self.blinded_box.isChecked(), on_done=self._on_exported, on_error=self._on_failed)

    # -- private ---------------------------------------------------------------------------
    def _on_choices(self, choices: Choices) -> None:
        items = []
        for name in choices.clinicians:
            n = choices.assigned.get(name, 0)
            items.append((f"{name} — {n} answer{'s' * (n != 1)} assigned" if n else
                          f"{name} — nothing assigned yet", name))
        fill_combo(self.clinician_combo, items, None)
        fill_combo(self.run_combo, choices.runs, "All answers assigned to them")
        assigned = next((i for i, (_, name) in enumerate(items) if choices.assigned.get(name)), 0)
        self.clinician_combo.setCurrentIndex(assigned)
        self._suggest_path()
        self.export_button.setEnabled(bool(items))
        show_banner(self.message, "" if items else "No clinician in this workspace yet: assign answers first "
                                               "(File → Assign answers to clinicians…).", "info")
        self.sig_loaded.emit()

    def _suggest_path(self) -> None:
        name = self.clinician_combo.currentData()
        if name is None:
            return
        self.file.suggest(str(self.ctx.ws.path.parent / f"{_file_stem(name)}{SUFFIX}"))

    def _on_exported(self, report: BundleExportReport) -> None:
        self._set_busy(False)
        # the digest shortened (it would not wrap), whole in the tooltip
        summary = report.summary().replace(f"; checksum {report.checksum}", f". Checksum {report.checksum[:23]}…")
        self.message.setToolTip(plain_tooltip(f"Checksum: {report.checksum}"))
        how = "they open it in HealthQA with File → Review bundles → Open bundle to grade offline…"
        show_banner(self.message, f"{summary}\n\nSend the file to {report.rater}: {how}", "success")
        self.export_button.setVisible(False)  # done: only Close is left
        self.adjustSize()
        self.sig_exported.emit(report)

    def _on_failed(self, message: str, exc: BaseException) -> None:
        self._set_busy(False)
        show_banner(self.message, message, "error")
        self.sig_failed.emit(message)

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.clinician_combo, self.run_combo, self.blinded_box, self.file, self.buttons):
            widget.setEnabled(not busy)


class ImportSummaryDialog(QDialog):
    """What an import merged, in a table a person can read, and each conflict on its own row."""

    CONFLICT_COLUMNS = ("What", "Question", "Model", "Item", "Here", "In the bundle", "Kept")

    def __init__(self, report: BundleImportReport, parent: QWidget | None = None):
        super().__init__(parent)
        self.report = report
        self.setWindowTitle("Bundle imported" if report.changed else "Nothing new in the bundle")
        self.setMinimumWidth(820 if report.conflicts else 560)
        name = Path(report.path).name
        if report.changed:
            headline = f"Merged the work of {report.rater} from {name}."
        else:
            headline = f"Nothing new from {report.rater} in {name}: everything in it was merged already."
        self.headline = section_title(headline)
        self.headline.setWordWrap(True)
        self.headline.setTextFormat(Qt.TextFormat.PlainText)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(self.headline)
        if report.changed:
            layout.addLayout(self._counts())
        notes = []
        if report.active_seconds:
            notes.append(f"Grading time added: {_duration(report.active_seconds)}.")
        if report.questions_created or report.answers_created:
            notes.append(f"Added here: {report.questions_created} questions and {report.answers_created} answers "
                         "that were not in this workspace.")
        if report.stale:
            notes.append(f"Skipped {report.stale} rows: their answer or rubric item was removed or changed here "
                         "since the export.")
        for note in notes:
            label = plain_label(note)
            label.setWordWrap(True)
            layout.addWidget(label)
        self.conflicts = None
        if report.conflicts:
            n = len(report.conflicts)
            title = section_title(f"{n} CONFLICT{'S' * (n != 1)} — changed both here and offline; the newer "
                                  "version is kept, and both are in the grade history")
            title.setWordWrap(True)
            layout.addWidget(title)
            self.conflicts = self._conflict_table()
            layout.addWidget(self.conflicts)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def text(self) -> str:
        """Everything the dialog says, as plain text (tests and screen readers)."""
        return f"{self.headline.text()}\n{self.report.summary()}"

    def _counts(self) -> QGridLayout:
        grid = QGridLayout()
        grid.setHorizontalSpacing(24)
        for column, heading in enumerate(("", "added", "updated", "withdrawn")):
            label = plain_label(heading)
            label.setObjectName("muted")
            grid.addWidget(label, 0, column, Qt.AlignmentFlag.AlignRight if column else Qt.AlignmentFlag.AlignLeft)
        for row, kind in enumerate(KINDS, 1):
            grid.addWidget(plain_label(KIND_WORDS.get(kind.name, kind.name)), row, 0)
            for column, counter in enumerate((self.report.added, self.report.updated, self.report.removed), 1):
                grid.addWidget(plain_label(str(counter[kind.name])), row, column, Qt.AlignmentFlag.AlignRight)
        grid.setColumnStretch(4, 1)
        return grid

    def _conflict_table(self) -> QTableWidget:
        table = QTableWidget(len(self.report.conflicts), len(self.CONFLICT_COLUMNS))
        table.setHorizontalHeaderLabels(self.CONFLICT_COLUMNS)
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setWordWrap(False)
        for row, c in enumerate(self.report.conflicts):
            cells = (KIND_WORD.get(c.kind, c.kind), c.prompt_id, c.model or "—",
                     f"#{c.criterion}" if c.criterion else "—", _readable(c.workspace), _readable(c.bundle),
                     "this workspace's" if c.kept == "workspace" else "the bundle's")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(plain_tooltip(text))
                table.setItem(row, column, item)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        table.resizeRowsToContents()
        rows = min(8, len(self.report.conflicts))  # more than eight scroll
        table.setFixedHeight(table.horizontalHeader().sizeHint().height() + rows * table.rowHeight(0)
                             + 2 * table.frameWidth() + 2)
        return table
