"""The modal questions the File menu asks: a file name, a yes or no.

They block until answered, so the window and its dialogs ask through one
`Prompts` object that tests replace with scripted answers (no modal dialog
ever opens in a test).
"""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from ..widgets.plain_text import plain_message_box


class Prompts:
    def save_file(self, parent: QWidget | None, caption: str, suggested: str, filters: str) -> str | None:
        """A file to write (None: cancelled)."""
        path, _ = QFileDialog.getSaveFileName(parent, caption, suggested, filters)
        return path or None

    def open_file(self, parent: QWidget | None, caption: str, filters: str) -> str | None:
        """An existing file to read (None: cancelled)."""
        path, _ = QFileDialog.getOpenFileName(parent, caption, "", filters)
        return path or None

    def confirm(self, parent: QWidget | None, title: str, text: str, accept: str) -> bool:
        """True when the person chose `accept` (a button that says what will happen), False on Cancel."""
        box = plain_message_box(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton, parent)
        yes = box.addButton(accept, QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)  # the safe answer on a stray Enter
        box.exec()
        return box.clickedButton() is yes
