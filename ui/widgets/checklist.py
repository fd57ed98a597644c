"""The rubric as a checklist: one row per criterion, driven from the keyboard.

`ChecklistView` owns the keyboard focus while grading and turns keys into
action names (`sig_action`); the grading panel decides what they do. Rows
are pooled and reused from answer to answer, so moving on creates no
widgets. A verdict is always shown as an icon *and* a word, and so is a
flag on a rubric item ("⚑ flagged: ambiguous").

Long criteria (HealthBench's consensus criteria run to 3,200 characters of
templated instructions): text several criteria share is shown once, in a box
above the rows (`set_shared`), each row shows its own part, and a long part
is collapsed to its first lines with "Show all" a click or a key away
(criterion_text.py decides what is shared and what is long).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (QFrame, QGridLayout, QHBoxLayout, QLineEdit, QScrollArea, QSizePolicy, QToolButton,
                               QVBoxLayout, QWidget)

from .. import look
from .criterion_text import SharedText, collapsed
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
        self._own_text = ""  # what the row shows of its text (without the shared part)
        self._short_text: str | None = None  # its collapsed form, None when short
        self._expanded = False
        self.shared_note = plain_label("After the shared instructions above:", "criterionComment")
        self.expand_button = _toggle_button()
        self.expand_button.clicked.connect(self._on_expand_clicked)
        text_box = QVBoxLayout()
        text_box.setContentsMargins(0, 0, 0, 0)
        text_box.setSpacing(2)
        text_box.addWidget(self.shared_note)
        text_box.addWidget(self.text)
        text_box.addWidget(self.expand_button, 0, Qt.AlignmentFlag.AlignLeft)
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
        grid.addLayout(text_box, 0, 1)
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
    def set_criterion(self, number: int, text: str, points: int, axis: str | None, *,
                      own: str | None = None) -> None:
        """`own`: the part to show when the rest of `text` is in the shared box (None: all of it)."""
        self._full_text = text
        self._own_text = text if own is None else own
        self._short_text = collapsed(self._own_text)
        self._expanded = False
        self.shared_note.setVisible(own is not None)
        self._show_text()
        self.number.setText(str(number))
        self.points.setText(f"+{points}" if points > 0 else f"−{abs(points)}")
        self.points.setObjectName("pointsPositive" if points > 0 else "pointsNegative")
        self.points.setToolTip(f"{points:+d} points {'if met' if points > 0 else 'if met (a penalty)'}")
        self.axis.setText(f"Axis: {axis.replace('_', ' ')}" if axis else "No axis")
        look.repolish(self.points)

    def full_text(self) -> str:
        """The criterion's whole text, however much of it is shown."""
        return self._full_text

    def shown_text(self) -> str:
        """The criterion's text as the row shows it now."""
        return self.text.text()

    def is_collapsible(self) -> bool:
        return self._short_text is not None

    def toggle_expanded(self) -> None:
        """All of the criterion's own text, or back to its first lines (nothing when it is short)."""
        if self._short_text is not None:
            self._expanded = not self._expanded
            self._show_text()

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

    # -- private ------------------------------------------------------------------------------
    def _show_text(self) -> None:
        collapsed_now = self._short_text is not None and not self._expanded
        self.text.setText(self._short_text if collapsed_now else self._own_text)
        self.expand_button.setVisible(self._short_text is not None)
        self.expand_button.setText(f"Show all {len(self._own_text):,} characters  (E)" if collapsed_now
                                   else "Show less  (E)")

    def _on_expand_clicked(self) -> None:
        self.sig_clicked.emit(self.index)
        self.toggle_expanded()

    # -- Qt overrides ---------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.sig_clicked.emit(self.index)
        if self.text.geometry().contains(event.position().toPoint()) and self.is_collapsible():
            self.toggle_expanded()  # a click on a long criterion's text opens (or closes) it
        super().mousePressEvent(event)


class SharedTextBox(QFrame):
    """Text several criteria share, shown once above them, collapsed to its first lines until asked."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("sharedText")
        self.title = plain_label("", "sectionTitle")
        self.text = plain_label(wrap=True)
        self.toggle_button = _toggle_button()
        self.toggle_button.clicked.connect(self.toggle)
        self._full = ""
        self._short: str | None = None
        self._expanded = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(4)
        layout.addWidget(self.title)
        layout.addWidget(self.text)
        layout.addWidget(self.toggle_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.setVisible(False)

    def set_shared(self, shared: SharedText | None, numbers: list[int]) -> None:
        self.setVisible(shared is not None)
        if shared is None:
            return
        listed = ", ".join(f"#{n}" for n in numbers)
        self.title.setText(f"SHARED BY CRITERIA {listed} · SHOWN ONCE")
        self._full = shared.text()
        self._short = collapsed(self._full)
        self._expanded = False
        self._show()

    def toggle(self) -> None:
        if self._short is not None:
            self._expanded = not self._expanded
            self._show()

    def shown_text(self) -> str:
        return self.text.text()

    def _show(self) -> None:
        collapsed_now = self._short is not None and not self._expanded
        self.text.setText(self._short if collapsed_now else self._full)
        self.toggle_button.setVisible(self._short is not None)
        self.toggle_button.setText(f"Show all {len(self._full):,} characters  (I)" if collapsed_now
                                   else "Show less  (I)")

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.toggle()
        super().mousePressEvent(event)


def _toggle_button() -> QToolButton:
    """A small link-like button that opens or closes a long text (the keys do the same)."""
    button = QToolButton()
    button.setObjectName("textToggle")
    button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys go through the checklist
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    return button


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
        self.shared_box = SharedTextBox()
        self._layout.addWidget(self.shared_box)
        self._layout.addStretch(1)
        self.setWidget(body)

    # -- public API -------------------------------------------------------------------
    def ensure_rows(self, count: int) -> list[CriterionRow]:
        """Show `count` rows, creating only those never needed before."""
        while len(self.rows) < count:
            row = CriterionRow(len(self.rows))
            row.sig_clicked.connect(self.set_current)
            self._layout.insertWidget(len(self.rows) + 1, row)  # after the shared text
            self.rows.append(row)
        for i, row in enumerate(self.rows):
            row.setVisible(i < count)
        self.count = count
        return self.rows[:count]

    def set_shared(self, shared: SharedText | None) -> None:
        """The text some criteria share, shown once above the rows (None: no such text)."""
        self.shared_box.set_shared(shared, [i + 1 for i in shared.members] if shared else [])

    def toggle_current(self) -> None:
        """Open or close the current criterion's long text, keeping it in view."""
        if self.count:
            self.rows[self.current].toggle_expanded()
            self.ensureWidgetVisible(self.rows[self.current], 0, 12)

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
