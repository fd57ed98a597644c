"""Questions: sets and their questions, the selected conversation and rubric, import, rubric editing."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QHeaderView, QLineEdit, QPushButton, QVBoxLayout, QWidget

from healthqa import review, store

from .. import look
from ..models.questions import QuestionTableModel, theme_label
from ..widgets.combo import fill_combo, filter_combo
from ..widgets.flow_layout import FlowLayout
from ..widgets.import_box import ImportBox, run_import
from ..widgets.markdown_view import SafeTextBrowser, render_conversation
from ..widgets.panel_header import heading_row, page_layout, panel_header, section_title
from ..widgets.plain_text import plain_label
from ..widgets.row_table import row_table
from ..widgets.splitter import two_panes
from . import Panel
from .rubric_editor import RubricEditor

SEARCH_DELAY_MS = 250
ALL = ""


def _load_filters(ws) -> tuple[list[dict], list[str]]:
    return store.list_sets(ws), review.filter_tags(ws)


def _load_question(ws, question_id: str):
    return question_id, store.get_question(ws, question_id), store.criteria_rows(ws, question_id), \
        review.grades_on_question(ws, question_id)


def _render_question(loaded):
    """io thread: the conversation as a document (Markdown of imported text can be slow), with the rest."""
    question = loaded[1]
    reference = question.ideal_completions_data.ideal_completion if question.ideal_completions_data else None
    return (*loaded, render_conversation([m.model_dump(mode="json") for m in question.prompt], reference=reference))


class QuestionsPanel(Panel):
    name = "questions"
    title = "Questions"
    watches = frozenset({"questions", "criteria", "set_members", "question_sets"})

    sig_list_loaded = Signal(int)
    """number of questions now listed."""
    sig_question_shown = Signal(str)
    """question id — its conversation and rubric are on screen."""
    sig_import_finished = Signal(bool)
    """True if the file was imported, False if it was refused."""
    sig_rubric_saved = Signal(str)
    """question id whose rubric was saved."""

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        # Where the Import button gets a file from; tests replace it to avoid the modal dialog.
        self.file_chooser: Callable[[], str | None] = self._ask_for_file
        self.question_id: str | None = None
        self._build()

    def _build(self) -> None:
        self.count_label = plain_label("")
        self.import_button = QPushButton(look.icon("import_white"), "Import…")
        self.import_button.setProperty("primary", True)
        self.import_button.clicked.connect(self.choose_and_import)
        header = panel_header("Questions", self.count_label, self.import_button)
        self.import_box = ImportBox()
        self.import_box.sig_retry.connect(self._on_import_retry)

        self.set_combo = filter_combo("Question set", 150, self._reload_list)
        self.tag_combo = filter_combo("Theme or axis", 150, self._reload_list)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search question and rubric text")
        self.search.addAction(look.icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._reload_list)
        self.search.textChanged.connect(lambda _: self._search_timer.start())
        self.model = QuestionTableModel(self)
        self.table = row_table(self.model)
        self.table.setAccessibleName("Questions")
        self.table.verticalHeader().setDefaultSectionSize(30)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setColumnWidth(1, 130)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row)
        filters = QHBoxLayout()
        filters.addWidget(self.set_combo, 1)
        filters.addWidget(self.tag_combo, 1)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 6, 0)
        left_layout.setSpacing(8)
        left_layout.addLayout(filters)
        left_layout.addWidget(self.search)
        left_layout.addWidget(self.table, 1)

        self.prompt_label = plain_label("")
        self.prompt_label.setObjectName("muted")
        self.prompt_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tags_box = QWidget()
        self.tags_layout = FlowLayout(self.tags_box)
        self.conversation = SafeTextBrowser()
        self.conversation.setAccessibleName("Conversation")
        self.rubric_title = section_title("RUBRIC")
        self.editor = RubricEditor()
        self.editor.sig_save.connect(self._on_rubric_save)
        rubric_header = heading_row(self.rubric_title, right=[self.editor.edit_button])
        rubric_box = QWidget()
        rubric_layout = QVBoxLayout(rubric_box)
        rubric_layout.setContentsMargins(0, 6, 0, 0)
        rubric_layout.addLayout(rubric_header)
        rubric_layout.addWidget(self.editor, 1)
        conversation_box = QWidget()
        conversation_layout = QVBoxLayout(conversation_box)
        conversation_layout.setContentsMargins(0, 0, 0, 0)
        conversation_layout.addLayout(heading_row(section_title("CONVERSATION"), right=[self.prompt_label]))
        conversation_layout.addWidget(self.tags_box)
        conversation_layout.addWidget(self.conversation, 1)
        right = two_panes(Qt.Orientation.Vertical, conversation_box, rubric_box, stretch=(1, 1))
        self.empty = plain_label("No questions yet.\nImport a HealthBench JSONL file to begin.")
        self.empty.setObjectName("emptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        splitter = two_panes(Qt.Orientation.Horizontal, left, right, stretch=(4, 6))
        self._splitter = splitter
        self.setFocusProxy(self.table)
        layout = page_layout(self, header)
        layout.addWidget(self.import_box)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.empty, 1)
        self.empty.setVisible(False)

    # -- Panel contract ----------------------------------------------------------------
    def refresh(self) -> None:
        self.ctx.ops.run(_load_filters, self.ctx.ws, key="questions.filters", on_done=self._on_filters)

    # -- public API ----------------------------------------------------------------------
    def choose_and_import(self) -> None:
        path = self.file_chooser()
        if path:
            self.import_file(path)

    def import_file(self, path: str | Path, *, skip_invalid: bool = False, rater: str | None = None,
                    rater_kind: str = "clinician") -> None:
        """Import in the background; the import box shows progress, the outcome and any problems."""
        path = str(path)
        self.import_box.started(path)
        self.import_button.setEnabled(False)
        self.ctx.ops.run(run_import, self.ctx.ws, path, skip_invalid=skip_invalid, rater=rater,
                         rater_kind=rater_kind, on_done=self._on_imported, on_error=self._on_import_failed)

    def select_question(self, question_id: str) -> None:
        row = self.model.row_of(question_id)
        if row is not None:
            self.table.selectionModel().setCurrentIndex(
                self.model.index(row, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)

    # -- private: loading -----------------------------------------------------------------------
    def _on_filters(self, result) -> None:
        sets, tags = result
        fill_combo(self.set_combo, [("All sets", ALL)] + [(f"{s['name']} ({s['questions']})", s["id"]) for s in sets])
        themes = [(f"Theme: {theme_label(t.split(':', 1)[1])}", t) for t in tags if t.startswith("theme:")]
        axes = [(f"Axis: {theme_label(t.split(':', 1)[1])}", t) for t in tags if t.startswith("axis:")]
        fill_combo(self.tag_combo, [("All themes and axes", ALL)] + themes + axes)
        self._reload_list()

    def _reload_list(self) -> None:
        self._search_timer.stop()
        self.ctx.ops.run(store.question_rows, self.ctx.ws, self.set_combo.currentData() or None,
                         search=self.search.text().strip() or None, tag=self.tag_combo.currentData() or None,
                         key="questions.list", on_done=self._on_rows)

    def _on_rows(self, rows: list[dict]) -> None:
        keep = self.question_id
        self.model.set_rows(rows)
        filtered = bool(self.search.text().strip() or self.set_combo.currentData() or self.tag_combo.currentData())
        self.count_label.setText(f"{len(rows)} question{'s' if len(rows) != 1 else ''}"
                                 + (" match" if filtered else ""))
        nothing_at_all = not rows and not filtered
        self._splitter.setVisible(not nothing_at_all)
        self.empty.setVisible(nothing_at_all)
        if rows:
            row = self.model.row_of(keep) if keep else None
            self.select_question(self.model.question_id(row if row is not None else 0))
        self.sig_list_loaded.emit(len(rows))

    def _on_current_row(self, current, _previous) -> None:
        question_id = self.model.question_id(current.row())
        if question_id is None:
            return
        self.question_id = question_id
        self.ctx.ops.run(_load_question, self.ctx.ws, question_id, key="questions.detail",
                         on_done=self._on_question_loaded)

    def _on_question_loaded(self, loaded) -> None:
        if loaded[0] == self.question_id:  # (not one the selection has since moved away from)
            self.ctx.ops.run(_render_question, loaded, io=True, key="questions.render",
                             on_done=self._on_question)

    def _on_question(self, result) -> None:
        question_id, question, criteria, grades, document = result
        if question_id != self.question_id:
            return
        self.conversation.show_document(document)
        self.prompt_label.setText(question.prompt_id)
        self.tags_layout.clear()
        for tag in question.example_tags:
            chip = plain_label(tag.replace("_", " "))
            chip.setObjectName("chip")
            self.tags_layout.addWidget(chip)
        self.tags_box.setVisible(bool(question.example_tags))
        if not self.editor.editing:
            self.editor.set_criteria(criteria, grades=grades)
        positive = sum(c["points"] for c in criteria if c["points"] > 0)
        self.rubric_title.setText(f"RUBRIC · {len(criteria)} CRITERIA · {positive} POSITIVE POINTS")
        self.sig_question_shown.emit(self.question_id)

    # -- private: import and rubric ------------------------------------------------------------------
    def _ask_for_file(self) -> str | None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import questions, results or an Inspect log", "",
            "HealthBench, simple-evals or Inspect files (*.jsonl *.json *.eval);;HealthBench JSONL (*.jsonl *.json)"
            ";;simple-evals results (*_allresults.json *.jsonl);;Inspect logs (*.eval *.json);;All files (*)")
        return path or None

    def _on_imported(self, report) -> None:
        self.import_button.setEnabled(True)
        self.import_box.succeeded(report)
        self.sig_status.emit(f"Imported {report.rows} rows into “{report.set_name}”.")
        self.sig_import_finished.emit(True)

    def _on_import_failed(self, message: str, exc: BaseException) -> None:
        self.import_button.setEnabled(True)
        self.import_box.failed(message, exc)
        self.sig_import_finished.emit(False)

    def _on_import_retry(self, skip_invalid: bool, rater: str | None, rater_kind: str) -> None:
        if self.import_box.path:
            self.import_file(self.import_box.path, skip_invalid=skip_invalid, rater=rater, rater_kind=rater_kind)

    def _on_rubric_save(self, criteria) -> None:
        question_id = self.question_id

        def saved(_=None) -> None:
            self.editor.set_criteria([{"text": c.criterion, "points": c.points, "tags": c.tags} for c in criteria],
                                     grades=self.editor.grades)
            self.sig_status.emit("Rubric saved.")
            self.sig_rubric_saved.emit(question_id)

        self.ctx.ops.run(store.update_rubric, self.ctx.ws, question_id, criteria, on_done=saved, owner=self,
                         on_error=lambda message, exc: self.sig_status.emit(f"Rubric not saved: {message}"))


PANEL = QuestionsPanel
