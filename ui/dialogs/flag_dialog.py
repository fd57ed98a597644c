"""Flag a rubric item: why it is wrong or unclear, and a note for whoever maintains the question set.

Compact and keyboard-first: the reasons list has the focus (1–5 or the
arrow keys choose; nothing is chosen for you, so F then Enter flags
nothing by accident), Tab goes to the comment, Enter flags, Esc cancels. A
flagged item's dialog also offers "Remove flag". A flag never changes the
rubric or the verdict.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QLineEdit, QListWidget, QListWidgetItem, QPushButton,
                               QVBoxLayout, QWidget)

from healthqa.review import FLAG_REASONS, MAX_FLAG_COMMENT

from ..widgets.panel_header import section_title
from ..widgets.plain_text import plain_label

FLAG_MARK = "⚑"
# The stored reasons in a clinician's words: (short label, what it means).
REASON_TEXT = {
    "wrong_sign": ("Wrong sign", "the points count the wrong way (reward ↔ penalty)"),
    "wrong_content": ("Wrong content", "asks for something medically wrong or outdated"),
    "ambiguous": ("Ambiguous", "unclear what an answer must do to meet it"),
    "irrelevant": ("Irrelevant", "does not apply to this conversation"),
    "other": ("Other", "say what in the comment"),
}


def reason_label(reason: str) -> str:
    """'ambiguous' -> 'ambiguous', 'wrong_sign' -> 'wrong sign': the words a row shows."""
    return REASON_TEXT.get(reason, (reason.replace("_", " "), ""))[0].lower()


def flag_marker_text(reason: str) -> str:
    return f"{FLAG_MARK} flagged: {reason_label(reason)}"


class ReasonList(QListWidget):
    """The reasons; with none chosen yet, ↓ chooses the first and ↑ the last (not the one after them)."""

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if not self.selectedItems() and event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up):
            self.setCurrentRow(0 if event.key() == Qt.Key.Key_Down else self.count() - 1)
            return
        super().keyPressEvent(event)


class FlagDialog(QDialog):
    sig_flag = Signal(str, str)
    """(reason, comment) — flag the item (or change its flag)."""
    sig_unflag = Signal()
    """Withdraw this clinician's flag."""

    def __init__(self, criterion_number: int, criterion_text: str, current: tuple[str, str] | None = None,
                 parent: QWidget | None = None):
        """`current`: (reason, comment) of the clinician's flag on this item, if any."""
        super().__init__(parent)
        self.setWindowTitle(f"Flag rubric item #{criterion_number}")
        self.setMinimumWidth(520)
        heading = section_title(f"Rubric item #{criterion_number}")
        quoted = plain_label(criterion_text)
        quoted.setTextFormat(Qt.TextFormat.PlainText)  # rubric text is data, never markup
        quoted.setWordWrap(True)
        quoted.setObjectName("muted")
        self.reasons = ReasonList()
        self.reasons.setAccessibleName("Reason")
        self.reasons.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        for number, reason in enumerate(FLAG_REASONS, 1):
            label, meaning = REASON_TEXT.get(reason, (reason.replace("_", " ").capitalize(), ""))
            # typing the number finds the item (the list's own keyboard search)
            item = QListWidgetItem(f"{number}  {label} — {meaning}" if meaning else f"{number}  {label}")
            item.setData(Qt.ItemDataRole.UserRole, reason)
            self.reasons.addItem(item)
        rows = self.reasons.sizeHintForRow(0) * len(FLAG_REASONS)
        self.reasons.setFixedHeight(rows + 2 * self.reasons.frameWidth() + 8)
        self.comment = QLineEdit()
        self.comment.setMaxLength(MAX_FLAG_COMMENT)
        self.comment.setPlaceholderText("What should it say instead? (optional)")
        self.comment.setAccessibleName("Comment")
        reason_title = plain_label(f"&Why is it wrong or unclear?  (1–{len(FLAG_REASONS)} or ↑ ↓)")
        reason_title.setBuddy(self.reasons)
        comment_title = plain_label("&Comment")
        comment_title.setBuddy(self.comment)
        note = plain_label("A flag goes to whoever maintains the question set; it changes neither the rubric "
                      "nor your verdict.")
        note.setObjectName("muted")
        note.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.flag_button = self.buttons.addButton("Flag" if current is None else "Update flag",
                                                  QDialogButtonBox.ButtonRole.AcceptRole)
        self.flag_button.setProperty("primary", True)
        self.unflag_button: QPushButton | None = None
        if current is not None:
            self.unflag_button = self.buttons.addButton("&Remove flag", QDialogButtonBox.ButtonRole.DestructiveRole)
            self.unflag_button.clicked.connect(self._on_unflag)
        for button in self.buttons.buttons():  # Enter flags, whichever field has the focus
            button.setAutoDefault(False)
        self.flag_button.setDefault(True)
        self.buttons.accepted.connect(self._on_flag)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        layout.addWidget(heading)
        layout.addWidget(quoted)
        layout.addWidget(reason_title)
        layout.addWidget(self.reasons)
        layout.addWidget(comment_title)
        layout.addWidget(self.comment)
        layout.addWidget(note)
        layout.addWidget(self.buttons)
        reason, comment = current or (None, "")
        if reason in FLAG_REASONS:
            self.reasons.setCurrentRow(FLAG_REASONS.index(reason))
        self.comment.setText(comment or "")
        self.reasons.itemSelectionChanged.connect(self._on_reason_changed)
        self._on_reason_changed()
        self.reasons.setFocus()

    # -- public API ---------------------------------------------------------------
    def values(self) -> tuple[str | None, str]:
        """(chosen reason or None, comment)."""
        chosen = self.reasons.selectedItems()
        return (chosen[0].data(Qt.ItemDataRole.UserRole) if chosen else None), self.comment.text().strip()

    # -- private ----------------------------------------------------------------------
    def _on_reason_changed(self) -> None:
        self.flag_button.setEnabled(self.values()[0] is not None)

    def _on_flag(self) -> None:
        reason, comment = self.values()
        if reason is None:  # Enter before a reason was chosen
            self.reasons.setFocus()
            return
        self.sig_flag.emit(reason, comment)
        self.accept()

    def _on_unflag(self) -> None:
        self.sig_unflag.emit()
        self.accept()
