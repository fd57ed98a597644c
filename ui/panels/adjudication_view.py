"""The adjudication view: one disagreement, and the final verdict the adjudicator records.

Shown by the Agreement panel in place of its overview (a page of the panel,
not a window). Left: the conversation and the graded answer as one safe
document (untrusted Markdown; no remote resource is ever loaded). Right: the
criterion, every rater's verdict and comment side by side, and the final
verdict with the adjudicator's note and name. The view only asks
(`sig_record`, `sig_step`, `sig_back`); the panel writes and navigates.

Workspace text (criteria, comments, rater names) is shown as plain text.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QButtonGroup, QFrame, QHBoxLayout, QLineEdit, QPlainTextEdit, QPushButton, QScrollArea,
                               QSplitter, QToolButton, QVBoxLayout, QWidget)

from .. import look
from ..agreement_format import VERDICT_COLOURS, VERDICT_LABELS
from ..look import THEME
from ..widgets.card import card
from ..widgets.markdown_view import (RenderedDocument, SafeTextBrowser, message_bubble, render_answer,
                                     render_conversation)
from ..widgets.panel_header import heading_row, panel_title
from ..widgets.plain_text import plain_label


class AdjudicationView(QWidget):
    """One disagreement: the answer, every rater's verdict and comment side by side, the final verdict."""

    sig_back = Signal()
    """Back to the agreement overview."""
    sig_step = Signal(int)
    """-1 previous, +1 next disagreement."""
    sig_record = Signal(str, str, str)
    """(adjudicator, verdict, note): record this final verdict."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.item: dict | None = None
        self._build()

    def _build(self) -> None:
        self.back_button = QPushButton("← Agreement")
        self.back_button.clicked.connect(self.sig_back.emit)
        self.position = plain_label("")
        self.position.setObjectName("panelSubtitle")
        self.previous_button = QPushButton("‹ Previous")
        self.previous_button.clicked.connect(lambda: self.sig_step.emit(-1))
        self.next_button = QPushButton("Next ›")
        self.next_button.clicked.connect(lambda: self.sig_step.emit(1))
        top = heading_row(self.back_button, panel_title("Adjudicate a disagreement"), self.position,
                          right=[self.previous_button, self.next_button])

        self.answer_view = SafeTextBrowser()
        self.answer_view.setObjectName("answerView")
        self.answer_view.setAccessibleName("Conversation and answer")

        self.points = plain_label("")
        self.criterion = plain_label("", wrap=True)
        self.criterion.setAccessibleName("Criterion")
        big = QFont(self.criterion.font())
        big.setPointSizeF(big.pointSizeF() + 1.5)
        big.setBold(True)
        self.criterion.setFont(big)
        self.tags = plain_label("", "muted")
        criterion_row = QHBoxLayout()
        criterion_row.addWidget(self.points, 0, Qt.AlignmentFlag.AlignTop)
        criterion_row.addWidget(self.criterion, 1)

        self.verdict_strip = QWidget()
        self.verdict_layout = QHBoxLayout(self.verdict_strip)
        self.verdict_layout.setContentsMargins(0, 0, 0, 0)
        self.verdict_layout.setSpacing(8)
        verdict_scroll = QScrollArea()
        verdict_scroll.setWidgetResizable(True)
        verdict_scroll.setFrameShape(QFrame.Shape.NoFrame)
        # The cards sit on their parent card's background, not on the scroll area's grey.
        verdict_scroll.setObjectName("verdictScroll")
        verdict_scroll.viewport().setObjectName("verdictViewport")
        self.verdict_strip.setObjectName("verdictStrip")
        verdict_scroll.setStyleSheet("#verdictScroll, #verdictViewport, #verdictStrip { background: transparent; }")
        verdict_scroll.setWidget(self.verdict_strip)
        verdict_scroll.setMinimumHeight(150)

        self.current = plain_label("", wrap=True)
        self.current.setObjectName("banner")
        self.verdict_buttons = QButtonGroup(self)
        self.verdict_buttons.setExclusive(True)
        buttons = QHBoxLayout()
        for verdict in ("met", "not_met", "cannot_judge"):
            button = QToolButton()
            button.setObjectName("verdictButton")
            button.setProperty("verdict", verdict)
            button.setText(VERDICT_LABELS[verdict])
            button.setCheckable(True)
            button.setMinimumWidth(96)
            self.verdict_buttons.addButton(button)
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.verdict_buttons.buttonToggled.connect(lambda *_: self._update_record_button())
        self.note = QPlainTextEdit()
        self.note.setPlaceholderText("Why this verdict (kept with the decision)")
        self.note.setAccessibleName("Adjudication note")
        self.note.setMaximumHeight(64)
        self.adjudicator = QLineEdit()
        self.adjudicator.setPlaceholderText("Adjudicator's name")
        self.adjudicator.setAccessibleName("Adjudicator")
        self.adjudicator.textChanged.connect(lambda _: self._update_record_button())
        self.record_button = QPushButton("Record final verdict")
        self.record_button.setProperty("primary", True)
        self.record_button.clicked.connect(self._record)
        sign = QHBoxLayout()
        sign.addWidget(plain_label("Adjudicator"))
        sign.addWidget(self.adjudicator, 1)
        sign.addWidget(self.record_button)

        decision, decision_layout = card("FINAL VERDICT")
        decision_layout.addWidget(self.current)
        decision_layout.addLayout(buttons)
        decision_layout.addWidget(self.note)
        decision_layout.addLayout(sign)

        raters, raters_layout = card("EACH RATER'S VERDICT")
        raters_layout.addWidget(verdict_scroll, 1)

        criterion_card, criterion_layout = card("CRITERION")
        criterion_layout.addLayout(criterion_row)
        criterion_layout.addWidget(self.tags)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.setSpacing(10)
        right_layout.addWidget(criterion_card)
        right_layout.addWidget(raters, 1)
        right_layout.addWidget(decision)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.answer_view)
        split.addWidget(right)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setSizes([460, 600])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        layout.addLayout(top)
        layout.addWidget(split, 1)

    # public API ---------------------------------------------------------------------------------
    def show_item(self, item: dict, position: int, total: int, document: RenderedDocument | None = None) -> None:
        """`document`: `answer_document(item)` made off the GUI thread (None: the one shown stays)."""
        self.item = item
        self.position.setText(f"{position + 1} of {total} · prompt {item['prompt_id']} · {item['model']}")
        self.previous_button.setEnabled(position > 0)
        self.next_button.setEnabled(position + 1 < total)
        if document is not None:
            self.answer_view.show_document(document)
        self.points.setText(f"{item['points']:+d}")
        self.points.setObjectName("pointsPositive" if item["points"] > 0 else "pointsNegative")
        look.repolish(self.points)
        self.criterion.setText(item["criterion"])
        self.tags.setText(" · ".join(item["tags"]))
        while self.verdict_layout.count():
            widget = self.verdict_layout.takeAt(0).widget()
            if widget:
                widget.deleteLater()
        for verdict in item["verdicts"]:
            self.verdict_layout.addWidget(verdict_card(verdict))
        self.verdict_layout.addStretch(1)
        final = item["adjudicated"]
        if final is None:
            self.current.setText("No final verdict yet. Read the answer and each rater's reasons, then choose.")
        else:
            when = (final["at"] or "")[:16].replace("T", " ")
            changes = len(item.get("history", []))
            self.current.setText(f"Final verdict: {VERDICT_LABELS[final['verdict']]} — by {final['by'] or 'unknown'}"
                                 f"{', ' + when if when else ''}" + (f" ({changes} decisions in the history)"
                                                                     if changes > 1 else "")
                                 + (f"\nNote: {final['note']}" if final["note"] else ""))
        # An exclusive group refuses to uncheck its checked button: lift that while setting them.
        self.verdict_buttons.setExclusive(False)
        for button in self.verdict_buttons.buttons():
            button.setChecked(final is not None and button.property("verdict") == final["verdict"])
        self.verdict_buttons.setExclusive(True)
        self.note.setPlainText((final["note"] or "") if final else "")
        self._update_record_button()

    def chosen_verdict(self) -> str | None:
        button = self.verdict_buttons.checkedButton()
        return button.property("verdict") if button else None

    # private -------------------------------------------------------------------------------------
    def _update_record_button(self) -> None:
        self.record_button.setEnabled(self.chosen_verdict() is not None and bool(self.adjudicator.text().strip()))

    def _record(self) -> None:
        verdict = self.chosen_verdict()
        if verdict and self.adjudicator.text().strip():
            self.sig_record.emit(self.adjudicator.text().strip(), verdict, self.note.toPlainText().strip())


def answer_document(item: dict) -> RenderedDocument:
    """The conversation, then the graded answer in its own bubble, as one safe document."""
    conversation = render_conversation(item["conversation"])
    label = f'<p class="role">ANSWER BEING GRADED · {html.escape(item["model"]).upper()}</p>'
    answer = message_bubble(label + render_answer(item["answer"]).html, background=THEME["surface"],
                            border=THEME["primary"])
    return RenderedDocument(conversation.html + answer, conversation.images)


def verdict_card(verdict: dict) -> QFrame:
    """One rater's card: name, clinician or model grader, the verdict as a pill (word and colour), the comments."""
    frame = QFrame()
    frame.setObjectName("card")
    frame.setMinimumWidth(120)
    frame.setMaximumWidth(300)
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(10, 8, 10, 8)
    layout.setSpacing(4)
    name = plain_label(verdict["rater"])
    bold = QFont(name.font())
    bold.setBold(True)
    name.setFont(bold)
    kind = plain_label("model grader" if verdict["kind"] == "model" else "clinician", "muted")
    ink, background = VERDICT_COLOURS.get(verdict["verdict"], VERDICT_COLOURS[None])
    pill = plain_label(VERDICT_LABELS.get(verdict["verdict"], str(verdict["verdict"])))
    pill.setAccessibleName(f"{verdict['rater']} verdict")
    pill.setStyleSheet(f"background: {THEME[background]}; color: {THEME[ink]}; border: 1px solid {THEME[ink]};"
                       "border-radius: 9px; padding: 2px 10px; font-weight: 700;")
    layout.addWidget(name)
    layout.addWidget(kind)
    layout.addWidget(pill, 0, Qt.AlignmentFlag.AlignLeft)
    explanation = plain_label(verdict["explanation"] or "No comment on this criterion.", wrap=True)
    explanation.setAccessibleName(f"{verdict['rater']} comment")
    if not verdict["explanation"]:
        explanation.setObjectName("muted")
    layout.addWidget(explanation)
    if verdict.get("answer_comment"):
        comment = plain_label(f"On the whole answer: {verdict['answer_comment']}", "criterionComment", wrap=True)
        layout.addWidget(comment)
    layout.addStretch(1)
    return frame
