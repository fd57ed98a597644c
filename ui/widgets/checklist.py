"""The rubric as a checklist: one row per criterion, driven from the keyboard.

`ChecklistView` owns the keyboard focus while grading and turns keys into
action names (`sig_action`); the grading panel decides what they do. Rows
are pooled and reused from answer to answer, so moving on creates no
widgets. A verdict is always shown as an icon *and* a word, and so is a
flag on a rubric item ("⚑ flagged: ambiguous").
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (QFrame, QGridLayout, QHBoxLayout, QLineEdit, QScrollArea, QSizePolicy, QToolButton,
                               QVBoxLayout, QWidget)

from .. import look
from .plain_text import plain_label, plain_tooltip


@dataclass(frozen=True)
class VerdictInfo:
    value: str | None
    label: str
    icon: str
    key: str


VERDICTS = {
    "met": VerdictInfo("met", "Met", "met", "Y"),
    "not_met": VerdictInfo("not_met", "Not met", "not_met", "N"),
    "cannot_judge": VerdictInfo("cannot_judge", "Can't judge", "cannot_judge", "?"),
}
NO_VERDICT = VerdictInfo(None, "No verdict", "no_verdict", "")


def verdict_info(value: str | None) -> VerdictInfo:
    return VERDICTS.get(value, NO_VERDICT)


class CommentEdit(QLineEdit):
    """A one-line comment editor: Enter keeps the text, Escape drops the edit."""

    sig_done = Signal(str)
    sig_cancelled = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.sig_done.emit(self.text())
            event.accept()  # never let Enter reach the checklist (it would submit the answer)
        elif event.key() == Qt.Key.Key_Escape:
            self.sig_cancelled.emit()
            event.accept()
        else:
            super().keyPressEvent(event)


class CriterionRow(QFrame):
    """One criterion: number, text, points, axis, verdict buttons, comment, and after the reveal the graders."""

    sig_verdict_clicked = Signal(int, str)
    """(row index, verdict) — a verdict button was clicked."""
    sig_comment_done = Signal(int, str)
    """(row index, text) — a comment was entered."""
    sig_comment_cancelled = Signal(int)
    sig_clicked = Signal(int)
    """row index — the row was clicked (makes it the current one)."""
    sig_flag_clicked = Signal(int)
    """row index — the "Flag rubric item" button was clicked."""

    def __init__(self, index: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.index = index
        self._full_text = ""
        self.setObjectName("criterionRow")
        self.setProperty("current", False)
        self.setProperty("disagree", False)
        self.number = plain_label()
        self.number.setObjectName("criterionNumber")
        self.number.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        self.number.setFixedWidth(22)
        self.text = plain_label()
        self.text.setWordWrap(True)
        self.text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.points = plain_label()
        self.points.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.axis = plain_label()
        self.axis.setObjectName("axisLabel")
        self.axis.setWordWrap(True)  # may wrap rather than widen the row
        self.buttons: dict[str, QToolButton] = {}
        controls = QHBoxLayout()
        controls.setSpacing(6)
        controls.addWidget(self.axis)
        controls.addStretch(1)
        for info in VERDICTS.values():
            button = QToolButton()
            button.setObjectName("verdictButton")
            button.setProperty("verdict", info.value)
            button.setCheckable(True)
            button.setIcon(look.icon(info.icon))
            button.setIconSize(QSize(16, 16))
            button.setText(info.label)
            button.setToolTip(f"{info.label} (key {info.key})")
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys go through the checklist
            button.clicked.connect(lambda checked=False, v=info.value: self.sig_verdict_clicked.emit(self.index, v))
            self.buttons[info.value] = button
            controls.addWidget(button)
        self.flag_button = QToolButton()
        self.flag_button.setObjectName("verdictButton")  # the verdict buttons' compact look, never "checked"
        # Just the flag: the verdict buttons keep their room (a wider row wraps the axis onto a third line);
        # the tooltip, the accessible name and the key legend say what it does.
        self.flag_button.setText("⚑")
        self.flag_button.setToolTip("Flag rubric item: wrong or unclear (key F)")
        self.flag_button.setAccessibleName("Flag rubric item")
        self.flag_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys go through the checklist
        self.flag_button.clicked.connect(lambda: self.sig_flag_clicked.emit(self.index))
        controls.addWidget(self.flag_button)
        # The clinician's flag on this item: a marker in words (not colour alone) and their note.
        self.flag_marker = plain_label()
        self.flag_marker.setObjectName("flagMarker")
        self.flag_marker.setTextFormat(Qt.TextFormat.PlainText)
        self.flag_note = plain_label()
        self.flag_note.setObjectName("criterionComment")
        self.flag_note.setWordWrap(True)
        self.flag_note.setTextFormat(Qt.TextFormat.PlainText)
        flag_line = QHBoxLayout()
        flag_line.setContentsMargins(0, 0, 0, 0)
        flag_line.setSpacing(8)
        flag_line.addWidget(self.flag_marker, 0, Qt.AlignmentFlag.AlignTop)
        flag_line.addWidget(self.flag_note, 1)
        self._flag_box = QWidget()
        self._flag_box.setLayout(flag_line)
        self._flag_box.setVisible(False)
        self.comment = plain_label()
        self.comment.setObjectName("criterionComment")
        self.comment.setWordWrap(True)
        self.comment_edit = CommentEdit()
        self.comment_edit.setPlaceholderText("Comment on this criterion — Enter to keep, Esc to cancel")
        self.comment_edit.sig_done.connect(lambda text: self.sig_comment_done.emit(self.index, text))
        self.comment_edit.sig_cancelled.connect(lambda: self.sig_comment_cancelled.emit(self.index))
        # After the reveal: a headline per grader (icon, name, verdict; short, never wrapped) and
        # their explanations below it (wrapped, straight in the grid so its height is right).
        self.grader = plain_label()
        self.grader.setObjectName("graderLine")
        self.grader.setTextFormat(Qt.TextFormat.PlainText)
        # a long grader name is cut rather than widening the row (the tooltip has it all)
        self.grader.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.grader_icon = plain_label()
        self.differs = plain_label()
        self.differs.setObjectName("disagreeFlag")
        self.explanation = plain_label()
        self.explanation.setObjectName("criterionComment")
        self.explanation.setWordWrap(True)
        self.explanation.setTextFormat(Qt.TextFormat.PlainText)
        grader_line = QHBoxLayout()
        grader_line.setSpacing(6)
        grader_line.setContentsMargins(0, 0, 0, 0)
        grader_line.addWidget(self.grader_icon, 0, Qt.AlignmentFlag.AlignTop)
        grader_line.addWidget(self.grader, 1)
        grader_line.addWidget(self.differs, 0, Qt.AlignmentFlag.AlignTop)
        self._grader_box = QWidget()
        self._grader_box.setLayout(grader_line)
        grid = QGridLayout(self)
        grid.setContentsMargins(10, 8, 10, 8)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(6)
        grid.addWidget(self.number, 0, 0)
        grid.addWidget(self.text, 0, 1)
        grid.addWidget(self.points, 0, 2, Qt.AlignmentFlag.AlignTop)
        grid.addLayout(controls, 1, 1, 1, 2)
        grid.addWidget(self._flag_box, 2, 1, 1, 2)
        grid.addWidget(self.comment, 3, 1, 1, 2)
        grid.addWidget(self.comment_edit, 4, 1, 1, 2)
        grid.addWidget(self._grader_box, 5, 1, 1, 2)
        grid.addWidget(self.explanation, 6, 1, 1, 2)
        grid.setColumnStretch(1, 1)
        for label in (self.text, self.comment, self.number):
            label.setTextFormat(Qt.TextFormat.PlainText)  # rubric text is data, never markup

    # -- public API -----------------------------------------------------------------
    def set_criterion(self, number: int, text: str, points: int, axis: str | None) -> None:
        self._full_text = text
        self.number.setText(str(number))
        self.text.setText(text)
        self.points.setText(f"+{points}" if points > 0 else f"−{abs(points)}")
        self.points.setObjectName("pointsPositive" if points > 0 else "pointsNegative")
        self.points.setToolTip(f"{points:+d} points {'if met' if points > 0 else 'if met (a penalty)'}")
        self.axis.setText(f"Axis: {axis.replace('_', ' ')}" if axis else "No axis")
        look.repolish(self.points)

    def full_text(self) -> str:
        """The criterion's whole text, however much of it is shown."""
        return self._full_text

    def set_verdict(self, verdict: str | None) -> None:
        for value, button in self.buttons.items():
            button.setChecked(value == verdict)

    def set_comment(self, comment: str | None) -> None:
        self.comment.setText(f"Comment: {comment}" if comment else "")
        self.comment.setVisible(bool(comment))

    def set_flag(self, marker: str | None, note: str | None = None) -> None:
        """The clinician's flag on this item ("⚑ flagged: ambiguous"), or None when it is not flagged."""
        self._flag_box.setVisible(marker is not None)
        self.flag_marker.setText(marker or "")
        self.flag_note.setText(f"“{note}”" if note else "")
        self.flag_note.setVisible(bool(note))
        self.flag_button.setToolTip("Change or remove your flag on this rubric item (key F)" if marker
                                    else "Flag rubric item: wrong or unclear (key F)")

    def flag_text(self) -> str:
        """What the row says about its flag ('' when none): tests and screen readers."""
        return self.flag_marker.text() if self._flag_box.isVisibleTo(self) else ""

    def set_current(self, current: bool) -> None:
        if self.property("current") != current:
            self.setProperty("current", current)
            look.repolish(self)

    def set_grader(self, lines: list[str] | None, explanations: str = "", *, disagree: bool = False,
                   verdict: str | None = None) -> None:
        """The graders' verdicts (after the reveal), or None to hide them."""
        self._grader_box.setVisible(lines is not None)
        self.explanation.setVisible(bool(lines is not None and explanations))
        if lines is not None:
            self.grader.setText("\n".join(lines) if lines else "No model grader verdict on this criterion")
            self.grader.setToolTip(plain_tooltip(self.grader.text()))
            self.grader.setMinimumHeight(self.grader.fontMetrics().lineSpacing() * max(len(lines), 1))
            self.grader_icon.setPixmap(look.icon(verdict_info(verdict).icon).pixmap(16, 16))
            self.differs.setText("◆ Differs from you" if disagree else "")
            self.explanation.setText(explanations)
        if self.property("disagree") != disagree:
            self.setProperty("disagree", disagree)
            look.repolish(self)

    def start_comment(self, current: str) -> None:
        self.comment_edit.setText(current)
        self.comment_edit.setVisible(True)
        self.comment_edit.setFocus()
        self.comment_edit.selectAll()

    def end_comment(self) -> None:
        self.comment_edit.setVisible(False)

    # -- Qt overrides ---------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.sig_clicked.emit(self.index)
        super().mousePressEvent(event)


class ChecklistView(QScrollArea):
    """The focusable list of criterion rows; keys become `sig_action(name)`."""

    sig_action = Signal(str)
    """An action name from the keymap given to the constructor."""

    def __init__(self, keymap: dict[Qt.Key, str], parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("checklist")
        self.setWidgetResizable(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # rows wrap their text instead
        self.keymap = keymap
        self.rows: list[CriterionRow] = []
        self.count = 0
        self.current = 0
        body = QWidget()
        body.setObjectName("checklist")
        self._layout = QVBoxLayout(body)
        self._layout.setContentsMargins(2, 2, 6, 2)
        self._layout.setSpacing(8)
        self._layout.addStretch(1)
        self.setWidget(body)

    # -- public API -------------------------------------------------------------------
    def ensure_rows(self, count: int) -> list[CriterionRow]:
        """Show `count` rows, creating only those never needed before."""
        while len(self.rows) < count:
            row = CriterionRow(len(self.rows))
            row.sig_clicked.connect(self.set_current)
            self._layout.insertWidget(len(self.rows), row)
            self.rows.append(row)
        for i, row in enumerate(self.rows):
            row.setVisible(i < count)
        self.count = count
        return self.rows[:count]

    def set_current(self, index: int) -> None:
        if not self.count:
            return
        index = max(0, min(index, self.count - 1))
        if self.current < len(self.rows):
            self.rows[self.current].set_current(False)
        self.current = index
        self.rows[index].set_current(True)
        self.ensureWidgetVisible(self.rows[index], 0, 12)

    # -- Qt overrides ---------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        modifiers = event.modifiers() & ~(Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.KeypadModifier)
        action = self.keymap.get(Qt.Key(event.key())) if modifiers == Qt.KeyboardModifier.NoModifier else None
        if action is None:
            super().keyPressEvent(event)
            return
        event.accept()
        self.sig_action.emit(action)
