"""Text from data shown as text, never as markup: the one way labels, tooltips and message boxes get it.

QLabel, tooltips and QMessageBox guess "rich text" from the first tag-like
thing in their text (Qt.mightBeRichText). A prompt_id, tag, model or rater
name, criterion or file name is data from a file or a model: as rich text,
`<img src="/dev/zero">` made Qt read /dev/zero until std::bad_alloc aborted
the app, and a local image path showed a local file (issue 9 item 6).

- `plain_label(...)` is how every QLabel under ui/ is made (fixed wording
  too: one way, and no label can start showing data as markup later).
- `plain_tooltip(text)` for a tooltip (widget or model ToolTipRole) that
  may contain data: a tooltip has no text format, so the text is escaped
  into rich text that shows it literally.
- `plain_message_box(...)` for a QMessageBox.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as QtGui_Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget


def plain_label(text: str = "", object_name: str | None = None, *, wrap: bool = False,
                parent: QWidget | None = None) -> QLabel:
    """A QLabel that shows its text literally, whatever it contains."""
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    if object_name:
        label.setObjectName(object_name)
    label.setWordWrap(wrap)
    return label


def plain_tooltip(text: str) -> str:
    """A tooltip showing `text` literally ("" stays "": no tooltip)."""
    return QtGui_Qt.convertFromPlainText(text, Qt.WhiteSpaceMode.WhiteSpaceNormal) if text else ""


def plain_message_box(icon: QMessageBox.Icon, title: str, text: str,
                      buttons: QMessageBox.StandardButton = QMessageBox.StandardButton.NoButton,
                      parent: QWidget | None = None) -> QMessageBox:
    """A QMessageBox whose text (and informative text) is shown literally."""
    box = QMessageBox(icon, title, "", buttons, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(text)
    return box
