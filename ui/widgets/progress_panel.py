"""The live view of one run: a bar, the counts that matter, and Cancel / Resume.

It only shows what it is given (RunProgress events while the run goes,
the RunSummary at the end); the Runs panel owns the run itself.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QFrame, QGridLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout,
                               QWidget)

from healthqa.runs import CANCELLED, DONE, FAILED, INCOMPLETE, RunProgress, RunSummary

from .. import look
from .banner import make_banner, show_banner
from .panel_header import section_title
from .plain_text import plain_label

OUTCOME_WORDS = {
    DONE: ("success", "Finished: every item has a result."),
    INCOMPLETE: ("warning", "Finished with failures: some items have no result. Resume retries only those."),
    CANCELLED: ("warning", "Cancelled. Every result that arrived is kept; Resume does the rest."),
    FAILED: ("error", "Stopped"),
}
STATS = (("done", "Done"), ("failed", "Failed"), ("in_flight", "In flight"), ("left", "Left"),
         ("tokens", "Tokens in / out"), ("cost", "Cost"), ("elapsed", "Elapsed"), ("eta", "Time left"))


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def format_tokens(n: int) -> str:
    return f"{n / 1e6:.1f} M" if n >= 10_000_000 else f"{n:,}"


def format_cost(cost: float | None) -> str:
    if cost is None:
        return "no prices set"
    return f"${cost:,.2f}" if cost >= 0.1 else f"${cost:.4f}"


class ProgressPanel(QFrame):
    sig_cancel_requested = Signal()
    """The Cancel button was clicked."""
    sig_resume_requested = Signal()
    """The Resume button was clicked (the run shown stopped before finishing)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("card")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.total = self.done = self.failed = 0
        self.title = plain_label("No run in progress")
        self.title.setObjectName("panelSubtitle")
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.PlainText)  # set and model names are data
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setAccessibleName("Run progress")
        self.percent = plain_label("")
        self.percent.setMinimumWidth(150)
        self.percent.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        bar_row = QHBoxLayout()
        bar_row.addWidget(self.bar, 1)
        bar_row.addWidget(self.percent)
        self.values: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setHorizontalSpacing(18)
        grid.setVerticalSpacing(2)
        grid.setRowMinimumHeight(2, 8)  # a gap between the two rows of figures
        for i, (key, caption) in enumerate(STATS):
            row, column = divmod(i, 4)
            label = section_title(caption.upper())
            value = plain_label("—")
            value.setObjectName("statValue")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(label, row * 3, column)
            grid.addWidget(value, row * 3 + 1, column)
            self.values[key] = value
        self.message = make_banner(selectable=False)
        self.cancel_button = QPushButton("Cancel run")
        self.cancel_button.clicked.connect(self.sig_cancel_requested.emit)
        self.resume_button = QPushButton(look.icon("refresh"), "Resume")
        self.resume_button.setToolTip("Send the items that have no result yet; answers already stored are kept")
        self.resume_button.clicked.connect(self.sig_resume_requested.emit)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.resume_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.setSpacing(8)
        layout.addWidget(section_title("PROGRESS"))
        layout.addWidget(self.title)
        layout.addLayout(bar_row)
        layout.addLayout(grid)
        layout.addWidget(self.message)
        layout.addStretch(1)
        layout.addLayout(buttons)
        self.show_idle()

    # -- public API -----------------------------------------------------------------
    def show_idle(self, text: str = "No run in progress. Start one, or pick a past run below to resume it.") -> None:
        self.title.setText(text)
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.percent.setText("")
        for value in self.values.values():
            value.setText("—")
        self.message.setVisible(False)
        self.cancel_button.setVisible(False)
        self.resume_button.setVisible(False)

    def begin(self, title: str) -> None:
        """A run starts (or resumes): counts arrive with the first progress event."""
        self.title.setText(title)
        self.bar.setRange(0, 0)  # busy until the first event says how much there is
        self.percent.setText("Starting…")
        self.message.setVisible(False)
        self.cancel_button.setVisible(True)
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel run")
        self.resume_button.setVisible(False)

    def cancelling(self) -> None:
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancelling…")

    def show_progress(self, p: RunProgress) -> None:
        self.total, self.done, self.failed = p.total, p.done, p.failed
        finished = p.done + p.failed
        self.bar.setRange(0, max(p.total, 1))
        self.bar.setValue(min(finished, p.total))
        share = 100 * finished / p.total if p.total else 100
        self.percent.setText(f"{finished:,} of {p.total:,} ({share:.0f}%)")
        self.values["done"].setText(f"{p.done:,}")
        self.values["failed"].setText(f"{p.failed:,}")
        self.values["in_flight"].setText(f"{p.in_flight:,}")
        self.values["left"].setText(f"{p.pending:,}")
        self.values["tokens"].setText(f"{format_tokens(p.input_tokens)} / {format_tokens(p.output_tokens)}")
        self.values["cost"].setText(format_cost(p.cost))
        self.values["elapsed"].setText(format_duration(p.elapsed))
        self.values["eta"].setText(format_duration(p.eta) if p.eta is not None else "estimating…")

    def show_summary(self, summary: RunSummary) -> None:
        """How the run ended; Resume is offered unless everything is done."""
        self.total, self.done, self.failed = summary.total, summary.done, summary.failed
        tone, text = OUTCOME_WORDS.get(summary.status, ("warning", summary.status))
        if summary.status == FAILED and summary.message:
            text = f"Stopped: {summary.message}"
        elif summary.errors:
            common = "; ".join(f"{n} × {error}" for error, n in list(summary.errors.items())[:2])
            text = f"{text} Most common problem: {common}"
        if summary.notices:  # a server refused a setting: what was sent instead, remembered on the config
            text += "\nAdjusted for the model: " + "; ".join(summary.notices) + " (kept in its model config)."
        self.show_message(text, tone)
        self.values["in_flight"].setText("0")
        self.values["eta"].setText("—")
        if summary.cost_basis and summary.cost is not None:  # a batch run: say which prices the cost uses
            self.values["cost"].setText(f"{format_cost(summary.cost)} at {summary.cost_basis}")
        self.cancel_button.setVisible(False)
        self.resume_button.setVisible(summary.status != DONE)

    def show_message(self, text: str, tone: str = "error") -> None:
        show_banner(self.message, text, tone)

    def show_failure(self, text: str, *, resumable: bool) -> None:
        """The run could not be started or ended with an error outside the engine."""
        if self.bar.maximum() == 0:
            self.bar.setRange(0, 1)
            self.percent.setText("")
        self.show_message(text, "error")
        self.cancel_button.setVisible(False)
        self.resume_button.setVisible(resumable)
