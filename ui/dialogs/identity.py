"""Who is grading: name, role and specialty; signs every grade made in this window."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLineEdit, QVBoxLayout, QWidget

from healthqa.limits import LimitError, PlainName, check

from ..context import RaterIdentity
from ..widgets.banner import make_banner, show_banner
from ..widgets.plain_text import plain_label

ROLES = ["Physician", "Resident", "Nurse", "Nurse practitioner", "Pharmacist", "Physician assistant",
         "Medical student", "Other"]


class IdentityDialog(QDialog):
    def __init__(self, known: list[RaterIdentity], current: RaterIdentity | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Who is grading?")
        self.setMinimumWidth(420)
        self._known = {r.name: r for r in known}
        intro = plain_label("Your name signs every verdict you give in this workspace. "
                       "Graders' verdicts stay hidden until you submit your own.")
        intro.setWordWrap(True)
        intro.setObjectName("muted")
        self.name_edit = QComboBox()
        self.name_edit.setEditable(True)
        self.name_edit.addItems(sorted(self._known))
        self.name_edit.setCurrentText(current.name if current else "")
        self.name_edit.lineEdit().setPlaceholderText("e.g. Dr. Amara Okafor")
        self.role_edit = QComboBox()
        self.role_edit.setEditable(True)
        self.role_edit.addItems(ROLES)
        self.role_edit.setCurrentText(current.role if current and current.role else "")
        self.specialty_edit = QLineEdit(current.specialty if current and current.specialty else "")
        self.specialty_edit.setPlaceholderText("e.g. Emergency medicine")
        self.error = make_banner("error", selectable=False)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.addRow("&Name", self.name_edit)
        form.addRow("&Role", self.role_edit)
        form.addRow("&Specialty", self.specialty_edit)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start grading")
        self.buttons.accepted.connect(self._on_accept)
        self.buttons.rejected.connect(self.reject)
        self.name_edit.currentTextChanged.connect(self._on_name_changed)
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)

    def values(self) -> tuple[str, str, str]:
        return (self.name_edit.currentText().strip(), self.role_edit.currentText().strip(),
                self.specialty_edit.text().strip())

    def _on_name_changed(self, name: str) -> None:
        known = self._known.get(name.strip())
        if known:  # an existing clinician: show what we know of them
            self.role_edit.setCurrentText(known.role or "")
            self.specialty_edit.setText(known.specialty or "")

    def _on_accept(self) -> None:
        name = self.values()[0]
        problem = "Please enter your name." if not name else None
        if name and name not in self._known:  # a new clinician: a name their review bundles can carry
            try:
                check(name, PlainName, "name")
            except LimitError as exc:
                problem = f"This name cannot sign verdicts: {exc.reason}."
        if problem:
            show_banner(self.error, problem, "error")
            self.adjustSize()  # room for the message without squeezing the fields
            self.name_edit.setFocus()
            return
        self.accept()
