"""Save as question: the Ask panel's conversation becomes a question of a set, with the rubric written here.

Every question needs at least one criterion to be graded, so the dialog
opens with one empty criterion row and refuses to save without a valid one.
The dialog only checks and builds the Question (sig_save); the panel stores it.
"""

from __future__ import annotations

import uuid

from pydantic import ValidationError
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QFormLayout, QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout,
                               QWidget)

from healthqa.domain import IdealCompletions, Message, Question

from ..panels.rubric_editor import RubricEditor, parse_tags
from ..widgets.banner import make_banner
from ..widgets.panel_header import section_title
from ..widgets.plain_text import plain_label


class SaveQuestionDialog(QDialog):
    """Which set, the rubric (at least one criterion), optional tags and reference answer."""

    sig_save = Signal(str, object)
    """(set name, Question) — valid, to be stored."""

    def __init__(self, conversation: list[Message], sets: list[str], answers: dict[str, str], set_name: str,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Save as question")
        self.setMinimumSize(760, 560)
        self.conversation = conversation
        self.answers = answers
        self.set_combo = QComboBox()
        self.set_combo.setEditable(True)
        self.set_combo.addItems(sets)
        self.set_combo.setCurrentText(set_name)
        self.set_combo.lineEdit().setPlaceholderText("a set's name, or a new one")
        self.tags_edit = QLineEdit()
        self.tags_edit.setPlaceholderText("optional, e.g. theme:emergency_referrals")
        self.reference_combo = QComboBox()
        self.reference_combo.addItem("None", None)
        for name, text in answers.items():
            self.reference_combo.addItem(f"The answer of {name}", text)
        self.rubric = RubricEditor()
        self.rubric.save_button.setVisible(False)  # this dialog saves the whole question
        self.rubric.cancel_button.setVisible(False)
        self.rubric.start_editing()
        self.rubric.add_criterion()
        self.rubric.error_label.setVisible(False)  # no complaint about the empty row before it is written
        rubric_hint = plain_label("Write what a good answer must do (positive points, up to +10) or must not do "
                             "(negative points). Graders judge each criterion as met or not met.")
        rubric_hint.setObjectName("muted")
        rubric_hint.setWordWrap(True)
        self.error = make_banner("error", selectable=False)
        self.save_button = QPushButton("Save question")
        self.save_button.setProperty("primary", True)
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self._on_save)
        cancel = QPushButton("Cancel")
        cancel.clicked.connect(self.reject)
        form = QFormLayout()
        form.addRow("Question set", self.set_combo)
        form.addRow("Tags", self.tags_edit)
        form.addRow("Reference answer", self.reference_combo)
        turns = len(conversation)
        summary = plain_label(f"The conversation ({turns} turn{'s' if turns != 1 else ''}, ending with your question) "
                         "becomes a new question with the rubric below.")
        summary.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 16, 18, 16)
        layout.setSpacing(10)
        layout.addWidget(summary)
        layout.addLayout(form)
        layout.addWidget(section_title("RUBRIC"))
        layout.addWidget(rubric_hint)
        layout.addWidget(self.rubric, 1)
        layout.addWidget(self.error)
        layout.addLayout(buttons)

    def question(self) -> Question | None:
        """The question as entered, or None with the problems shown."""
        problems = []
        if not self.set_combo.currentText().strip():
            problems.append("Name the question set to save into.")
        if self.rubric.validate():
            problems.append("Fix the rubric rows marked above.")
        reference = self.reference_combo.currentData()
        question = None
        if not problems:
            try:
                question = Question(
                    prompt_id=str(uuid.uuid4()), prompt=self.conversation, rubrics=self.rubric.criteria(),
                    example_tags=parse_tags(self.tags_edit.text()),
                    ideal_completions_data=IdealCompletions(ideal_completion=reference) if reference else None)
            except ValidationError as exc:
                problems.append("; ".join(e["msg"] for e in exc.errors()))
        self.show_error(" ".join(problems) if problems else None)
        return question

    def show_error(self, message: str | None) -> None:
        self.error.setText(message or "")
        self.error.setVisible(bool(message))
        self.save_button.setEnabled(True)

    def _on_save(self) -> None:
        question = self.question()
        if question is not None:
            self.save_button.setEnabled(False)
            self.sig_save.emit(self.set_combo.currentText().strip(), question)

