"""The Runs panel's widgets and their layout (no behaviour: that is in runs.py).

Like a compiled Designer form, `RunsLayout._build` creates the widgets as
attributes of the panel: the new-run form and the live progress on top, the
past runs and the selected run's failed items below, both read-only tables
of the core's row dicts (models/runs.py: RowsModel).
"""

from __future__ import annotations

import datetime as _dt

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QFrame, QHBoxLayout, QHeaderView, QPushButton,
                               QSpinBox, QTableView, QVBoxLayout, QWidget)

from healthqa.runs import CONTEMPLATING, DEFAULT_DRAFTS, INSTANT, MAX_DRAFTS, THINKING

from .. import look
from ..models.runs import RowsModel
from ..widgets.panel_header import heading_row, page_layout, panel_intro, section_title
from ..widgets.plain_text import plain_label
from ..widgets.progress_panel import ProgressPanel
from ..widgets.row_table import row_table
from ..widgets.splitter import two_panes

BATCH_CHOICE = "Send as a batch (cheaper, slower)"
BATCH_TIP = ("Sent through the provider's batch service (OpenAI, Anthropic, Gemini): about half the price, "
             "results within 24 hours, outside the usual rate limits. You can close HealthQA meanwhile: it "
             "picks the batches up again when it opens.")
BATCH_STATE_WORDS = {"submitting": "Sending", "validating": "Checked by provider", "in_progress": "In progress",
                     "finalizing": "Finishing", "cancelling": "Cancelling", "completed": "Completed",
                     "expired": "Expired", "cancelled": "Cancelled", "failed": "Refused"}
STATUS_WORDS = {"pending": "Not started", "running": "Running", "done": "Done", "incomplete": "Incomplete",
                "failed": "Failed", "cancelled": "Cancelled", "interrupted": "Interrupted"}
DEFAULT_CONCURRENCY = 16
MODE_CHOICES = (  # (shown, run mode, tooltip); None: the model config's own reasoning setting
    ("As the model is set up", None, "Thinking if the model config has a reasoning effort, else instant"),
    ("Instant", INSTANT, "No reasoning: the quickest and cheapest answers"),
    ("Thinking", THINKING, "The model config's reasoning effort"),
    ("Contemplating", CONTEMPLATING, "Several drafts in thinking mode, written in parallel, then one answer "
                                     "composed from them (costs about drafts + 1 calls per answer)"),
)
SAME_MODEL = ""  # aggregator choice: the run's own model writes the synthesis
RESIZE_PRECISION_ROWS = 40


def short_id(run_id: str) -> str:
    """Enough of a run id to tell runs apart (ids are time-ordered, so their start is shared)."""
    return run_id[-8:]


def mode_word(row: dict) -> str:
    """A run's mode as the runs list shows it ("—" for grading and for runs from before modes)."""
    mode = row.get("mode")
    if not mode:
        return "—"
    if mode == CONTEMPLATING:
        via = f" via {row['aggregator']}" if row.get("aggregator") else ""
        return f"Contemplating · {row.get('drafts') or DEFAULT_DRAFTS} drafts{via}"
    return mode.capitalize()


def _local(text: str | None, fmt: str = "%d %b %H:%M") -> str:
    try:
        stamp = _dt.datetime.fromisoformat(text).astimezone()
    except (TypeError, ValueError):
        return text or ""
    return stamp.strftime(fmt)


def _started(row: dict) -> str:
    return _local(row.get("created_at"))


def _next_look(batch: dict) -> str:
    """When HealthQA looks at a live batch again; when it ended, for one that did."""
    if batch["collected"] or batch["state"] in ("completed", "expired", "cancelled", "failed"):
        return f"ended {_local(batch['ended_at'])}" if batch.get("ended_at") else "ended"
    if batch.get("next_poll_at"):
        return f"next look {_local(batch['next_poll_at'], '%H:%M:%S')}"
    return "not watched: Resume looks again"


# -- the widgets ---------------------------------------------------------------------------

class RunsLayout:
    """Mixin for RunsPanel: builds its widgets (the runs list's Status column asks the panel: _status_word)."""

    def _build(self) -> None:
        header = panel_intro("Runs", "Send a question set to a model, or let a model grader grade a run's answers.",
                             spacing=2)
        self.set_combo = QComboBox()
        self.set_combo.setAccessibleName("Question set")
        self.model_combo = QComboBox()
        self.model_combo.setAccessibleName("Model")
        self.samples_spin = QSpinBox()
        self.samples_spin.setRange(1, 20)
        self.samples_spin.setToolTip("Answers per question (several show how much a model's answers vary)")
        self.concurrency_spin = QSpinBox()
        self.concurrency_spin.setRange(1, 256)
        self.concurrency_spin.setValue(DEFAULT_CONCURRENCY)
        self.concurrency_spin.setToolTip("Requests sent at the same time; lower it if the provider rate-limits")
        self.mode_combo = QComboBox()
        self.mode_combo.setAccessibleName("Reasoning mode")
        for text, mode, tip in MODE_CHOICES:
            self.mode_combo.addItem(text, mode)
            self.mode_combo.setItemData(self.mode_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.mode_combo.currentIndexChanged.connect(self._on_mode_changed)
        self.drafts_spin = QSpinBox()
        self.drafts_spin.setAccessibleName("Drafts per answer")
        self.drafts_spin.setRange(1, MAX_DRAFTS)
        self.drafts_spin.setValue(DEFAULT_DRAFTS)
        self.drafts_spin.setToolTip("Contemplating: drafts written in parallel before the one answer is composed")
        self.aggregator_combo = QComboBox()
        self.aggregator_combo.setAccessibleName("Aggregator model")
        self.aggregator_combo.setToolTip("Contemplating: the model that reads the drafts and writes the answer")
        self.rpm_spin = QSpinBox()
        self.rpm_spin.setRange(0, 100_000)
        self.rpm_spin.setSpecialValueText("no limit")
        self.rpm_spin.setSuffix(" per minute")
        self.rpm_spin.setToolTip("Cap on requests per minute (for providers with a low rate limit)")
        self.batch_check = QCheckBox(BATCH_CHOICE)
        self.batch_check.setToolTip(BATCH_TIP)
        self.batch_check.toggled.connect(self._on_batch_toggled)
        self.start_button = QPushButton("Start run")
        self.start_button.setProperty("primary", True)
        self.start_button.clicked.connect(self._on_start_clicked)
        self.grader_combo = QComboBox()
        self.grader_combo.setAccessibleName("Grader model")
        self.grader_combo.setMinimumWidth(200)
        self.grade_button = QPushButton(look.icon("grading"), "Grade selected run")
        self.grade_button.setToolTip("The model grader judges every answer of the selected run, criterion by "
                                     "criterion; its verdicts are stored as a model rater's grades")
        self.grade_button.clicked.connect(self._on_grade_clicked)
        self.grade_batch_check = QCheckBox(BATCH_CHOICE)
        self.grade_batch_check.setToolTip(BATCH_TIP)
        self.form_hint = plain_label()
        self.form_hint.setObjectName("muted")
        self.form_hint.setWordWrap(True)
        self.add_model_button = QPushButton(look.icon("models"), "Add a model…")
        self.add_model_button.clicked.connect(lambda: self.ctx.sig_panel_requested.emit("models"))

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.setHorizontalSpacing(12)
        form.addRow("Question set", self.set_combo)
        form.addRow("Model", self.model_combo)
        form.addRow("Mode", self.mode_combo)
        form.addRow("Drafts", self.drafts_spin)
        form.addRow("Aggregator", self.aggregator_combo)
        self.mode_form = form  # the drafts and aggregator rows show for contemplating only
        form.addRow("Samples", self.samples_spin)
        form.addRow("At once", self.concurrency_spin)
        form.addRow("Rate limit", self.rpm_spin)
        form.addRow("", self.batch_check)
        new_run = QFrame()
        new_run.setObjectName("card")
        new_layout = QVBoxLayout(new_run)
        new_layout.setContentsMargins(16, 12, 16, 12)
        new_layout.setSpacing(8)
        new_layout.addWidget(section_title("NEW RUN"))
        new_layout.addLayout(form)
        new_layout.addWidget(self.form_hint)
        start_row = QHBoxLayout()
        start_row.addWidget(self.add_model_button)
        start_row.addStretch(1)
        start_row.addWidget(self.start_button)
        new_layout.addLayout(start_row)
        new_run.setFixedWidth(400)

        self.progress = ProgressPanel()
        self.progress.sig_cancel_requested.connect(self.cancel_run)
        self.progress.sig_resume_requested.connect(self._on_resume_shown)
        top = QHBoxLayout()
        top.setSpacing(12)
        top.addWidget(new_run)
        top.addWidget(self.progress, 1)

        self.runs_model = RowsModel([
            ("Started", _started),
            ("What", lambda r: ("Grading" if r["kind"] == "grade" else "Answers") + (" (batch)" if r.get("batch")
                                                                                     else "")),
            ("Question set", lambda r: r["set"] or "—"),
            ("Model", lambda r: r["model"] or "(deleted)"),
            ("Mode", mode_word),
            ("Status", self._status_word),
            ("Done", lambda r: f"{r['counts']['done']:,} of {r['counts']['total']:,}"),
            ("Failed", lambda r: f"{r['counts']['failed']:,}"),
            ("Run", lambda r: f"…{short_id(r['id'])}"),
        ], self)
        self.runs_view = self._table(self.runs_model, stretch=2)
        self.runs_view.setAccessibleName("Past runs")
        self.runs_view.selectionModel().currentRowChanged.connect(self._on_run_selected)
        self.resume_button = QPushButton(look.icon("refresh"), "Resume selected run")
        self.resume_button.clicked.connect(self._on_resume_selected)
        self.items_model = RowsModel([
            ("Question", lambda r: r["prompt_id"] or r["key"]),
            ("Sample", lambda r: r["sample"] + 1 if r["criterion_id"] is None else "—"),
            ("Status", lambda r: STATUS_WORDS.get(r["status"], r["status"])),
            ("Tries", lambda r: r["attempts"]),
            ("Error", lambda r: r["error"] or ""),
        ], self)
        self.items_view = self._table(self.items_model, stretch=4)
        self.batches_model = RowsModel([
            ("Batch", lambda b: b["provider_id"] or "(being sent)"),
            ("State", lambda b: BATCH_STATE_WORDS.get(b["state"], b["state"])),
            ("Sent", lambda b: f"{b['submitted']:,}"),
            ("Succeeded", lambda b: f"{b['succeeded']:,}"),
            ("Errored", lambda b: f"{b['errored']:,}"),
            ("Expired", lambda b: f"{b['expired']:,}"),
            ("When", _next_look),
        ], self)
        self.batches_view = self._table(self.batches_model, stretch=6)
        self.batches_view.setAccessibleName("Provider batches")
        self.batches_view.setMaximumHeight(140)
        self.batches_title = section_title("PROVIDER BATCHES")
        self.cancel_batches_button = QPushButton("Cancel these batches at the provider…")
        self.cancel_batches_button.setToolTip("The provider stops working on them; results it already has are "
                                              "read when the run is resumed")
        self.cancel_batches_button.clicked.connect(self._on_cancel_batches_clicked)
        self.items_view.setAccessibleName("Failed items")
        self.items_title = section_title("FAILED ITEMS")
        runs_box = QWidget()
        runs_layout = QVBoxLayout(runs_box)
        runs_layout.setContentsMargins(0, 0, 0, 0)
        grader_label = plain_label("Model grader")
        grader_label.setObjectName("muted")
        runs_head = heading_row(section_title("PAST RUNS"), right=[grader_label, self.grader_combo,
                                                                   self.grade_batch_check, self.grade_button])
        runs_head.addSpacing(12)
        runs_head.addWidget(self.resume_button)
        runs_layout.addLayout(runs_head)
        runs_layout.addWidget(self.runs_view)
        items_box = QWidget()
        items_layout = QVBoxLayout(items_box)
        items_layout.setContentsMargins(0, 6, 0, 0)
        batches_head = heading_row(self.batches_title, right=[self.cancel_batches_button])
        items_layout.addLayout(batches_head)
        items_layout.addWidget(self.batches_view)
        for widget in (self.batches_title, self.batches_view, self.cancel_batches_button):
            widget.hide()
        items_layout.addWidget(self.items_title)
        items_layout.addWidget(self.items_view)
        splitter = two_panes(Qt.Orientation.Vertical, runs_box, items_box, stretch=(3, 2))

        layout = page_layout(self, header, spacing=12)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)

    @staticmethod
    def _table(model: RowsModel, *, stretch: int) -> QTableView:
        view = row_table(model)
        view.horizontalHeader().setStretchLastSection(True)
        view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # Fit columns to the first rows only: measuring every cell of thousands of rows takes the GUI
        # thread for most of a second (seen in bench_gui_responsiveness.py).
        view.horizontalHeader().setResizeContentsPrecision(RESIZE_PRECISION_ROWS)
        view.horizontalHeader().setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
        return view
