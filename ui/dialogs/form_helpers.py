"""Small pieces the File-menu dialogs share: the button row and a file field (their banner and their
combos' refill are in widgets/: banner.py, combo.py)."""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QLineEdit, QPushButton, QWidget


def action_buttons(dialog: QDialog, label: str, action: Callable[[], None],
                   dismiss: QDialogButtonBox.StandardButton = QDialogButtonBox.StandardButton.Close,
                   ) -> tuple[QDialogButtonBox, QPushButton]:
    """The dialog's button row: `label`, the primary button, runs `action` (disabled until the dialog enables
    it); `dismiss` (Close or Cancel) rejects the dialog. Returns the row and the primary button."""
    buttons = QDialogButtonBox(dismiss)
    primary = buttons.addButton(label, QDialogButtonBox.ButtonRole.AcceptRole)
    primary.setProperty("primary", True)
    primary.setEnabled(False)
    buttons.accepted.connect(action)
    buttons.rejected.connect(dialog.reject)
    return buttons, primary


class FileField(QWidget):
    """A file name to write: typed, or chosen with "Choose…" (through the injectable chooser).

    `suggest` fills in a name until the person types or chooses one of their own.
    """

    def __init__(self, choose: Callable[[str], str | None], accessible_name: str, parent: QWidget | None = None):
        """`choose(current) -> path or None` asks for a file (Prompts.save_file with a caption and filters)."""
        super().__init__(parent)
        self._choose, self._suggested = choose, ""
        self.edit = QLineEdit()
        self.edit.setAccessibleName(accessible_name)
        self.button = QPushButton("Choose…")
        self.button.setAutoDefault(False)
        self.button.clicked.connect(self._on_choose)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.button)
        self.setFocusProxy(self.edit)

    def path(self) -> str:
        return self.edit.text().strip()

    def set_path(self, path: str) -> None:
        self.edit.setText(path)

    def is_suggested(self) -> bool:
        """True while the name is ours (empty or suggested), not one the person typed or chose."""
        return self.edit.text() in ("", self._suggested)

    def suggest(self, path: str) -> None:
        if self.is_suggested():  # a name the person typed or chose is kept
            self.edit.setText(path)
        self._suggested = path

    def _on_choose(self) -> None:
        path = self._choose(self.path())
        if path:
            self.edit.setText(path)
