"""The message banner: a hidden line under a form or above a page that says how something went.

Its look per tone (info, success, warning, error) is in resources/style.qss
(object name "banner", property "tone").
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from .. import look
from .plain_text import plain_label


def make_banner(tone: str | None = None, *, selectable: bool = True) -> QLabel:
    """A hidden banner; `show_banner` fills it in.

    `selectable`: the text can be selected with the mouse (to copy an error). That gives the label click
    focus, so pass False where a click must leave the keyboard focus where it is (the grading keys).
    """
    label = plain_label()
    label.setObjectName("banner")
    if tone is not None:
        label.setProperty("tone", tone)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)  # messages quote file, model and rater names: data, not markup
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setVisible(False)
    return label


def show_banner(label: QLabel, text: str, tone: str = "info") -> None:
    """`tone`: info, success, warning or error (the banner's colours in style.qss); '' hides it."""
    label.setText(text)
    label.setVisible(bool(text))
    label.setProperty("tone", tone)
    look.repolish(label)
