"""Ask: put a question to several models at once and read their answers side by side.

Exploratory, so nothing is blinded and nothing is stored unless asked:
- the answers stream in, one column per model (rendered by the safe
  Markdown view), with tokens, time and cost when done; an error stays in
  its own column;
- "Continue with this answer" makes the conversation grow: the question and
  the chosen answer become earlier turns, and the next question follows them;
- "Save as question…" stores the conversation as a question of a set, with
  the rubric a clinician writes for it (at least one criterion, as every
  question needs one to be graded).

Answers stream on the async worker's loop thread; text pieces arrive as
signals and each column repaints at most every RENDER_MS.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (QComboBox, QDialog, QFileDialog, QFormLayout, QFrame, QHBoxLayout, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QPlainTextEdit, QPushButton, QSplitter, QVBoxLayout,
                               QWidget)
from pydantic import ValidationError

from healthqa.domain import Answer, IdealCompletions, ImagePart, ImageURL, Message, ModelConfig, Question, TextPart
from healthqa.providers import estimate_cost, make_provider
from healthqa.providers.errors import ProviderError
from healthqa.secrets import get_api_key
from healthqa.store import ensure_set, list_model_configs, list_sets, upsert_question

from .. import look
from ..async_worker import AsyncTask, TaskControl, async_worker_for, warm_up_http_stack
from ..widgets.markdown_view import SafeTextBrowser, render_answer, render_conversation
from ..widgets.progress_panel import format_cost
from . import Panel
from .rubric_editor import RubricEditor, parse_tags

RENDER_MS = 60  # a streaming column repaints at most this often (re-rendering Markdown per piece is quadratic)
MAX_IMAGE_BYTES = 20 * 1024 * 1024
IMAGE_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF87a": "image/gif",
               b"GIF89a": "image/gif"}
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.gif *.webp)"
DEFAULT_SET = "My questions"


# -- work done off the GUI thread ------------------------------------------------------

def read_image(path: str) -> tuple[str, bytes]:
    """(data URL, bytes) of an image file; ValueError with a readable reason otherwise."""
    data = Path(path).read_bytes()
    if len(data) > MAX_IMAGE_BYTES:
        raise ValueError(f"{Path(path).name} is larger than {MAX_IMAGE_BYTES // 2**20} MB; attach a smaller image.")
    mime = next((m for magic, m in IMAGE_TYPES.items() if data.startswith(magic)), None)
    if mime is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        mime = "image/webp"
    if mime is None:
        raise ValueError(f"{Path(path).name} is not a PNG, JPEG, GIF or WebP image.")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}", data


async def stream_answer(control: TaskControl, config: ModelConfig, conversation: list[Message]) -> Answer:
    """Stream one model's answer: text pieces are reported as they come, the Answer is returned."""
    key = await asyncio.to_thread(get_api_key, config)
    provider = make_provider(config, key, max_connections=1)
    try:
        async with contextlib.aclosing(provider.stream(conversation)) as pieces:
            async for piece in pieces:
                if isinstance(piece, Answer):
                    return piece
                control.report(piece)
    finally:
        await provider.aclose()
    raise ProviderError(f"{config.name}: the answer ended without its closing event")


def save_question(ws, set_name: str, question: Question) -> str:
    question_id, _ = upsert_question(ws, question, ensure_set(ws, set_name))
    return question_id


def load_choices(ws) -> tuple[list[ModelConfig], list[str]]:
    return list_model_configs(ws), [s["name"] for s in list_sets(ws)]


def user_message(text: str, image_url: str | None) -> Message:
    if image_url is None:
        return Message(role="user", content=text)
    return Message(role="user", content=[TextPart(text=text), ImagePart(image_url=ImageURL(url=image_url))])


# -- one model's column ---------------------------------------------------------------------

class AnswerColumn(QFrame):
    """One model's answer as it streams: header, the answer, and its figures or error."""

    sig_continue = Signal(str)
    """answer text — the clinician continues the conversation with this answer."""
    sig_finished = Signal(str)
    """model config name — the answer is complete, failed or was stopped."""

    def __init__(self, config: ModelConfig, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("card")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.config = config
        self.text = ""
        self.answer: Answer | None = None
        self.error: str | None = None
        self.task: AsyncTask | None = None
        name = QLabel(config.name)
        name.setTextFormat(Qt.TextFormat.PlainText)
        name.setStyleSheet("font-weight: 700;")
        name.setToolTip(f"{config.provider} · {config.model}")
        self.state = QLabel("Waiting…")
        self.state.setObjectName("chip")
        header = QHBoxLayout()
        header.addWidget(name, 1)
        header.addWidget(self.state)
        self.view = SafeTextBrowser()
        self.view.setAccessibleName(f"Answer of {config.name}")
        self.footer = QLabel()
        self.footer.setObjectName("muted")
        self.footer.setWordWrap(True)
        self.error_label = QLabel()
        self.error_label.setObjectName("banner")
        self.error_label.setProperty("tone", "error")
        self.error_label.setWordWrap(True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)  # provider messages are data
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setVisible(False)
        self.continue_button = QPushButton(look.icon("next"), "Continue with this answer")
        self.continue_button.setToolTip("Keep this answer as the assistant's turn and ask a follow-up")
        self.continue_button.setVisible(False)
        self.continue_button.clicked.connect(lambda: self.sig_continue.emit(self.text))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(8)
        layout.addLayout(header)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(self.footer)
        layout.addWidget(self.continue_button, 0, Qt.AlignmentFlag.AlignRight)
        self._render_timer = QTimer(self, singleShot=True, interval=RENDER_MS)
        self._render_timer.timeout.connect(self._render)

    @property
    def finished(self) -> bool:
        return self.answer is not None or self.error is not None

    def attach(self, task: AsyncTask) -> None:
        """Show what `task` (this model's stream) reports; bound methods, so a closed column hears nothing."""
        self.task = task
        task.sig_event.connect(self.on_piece)
        task.sig_done.connect(self.on_answer)
        task.sig_failed.connect(self.on_error)
        task.sig_cancelled.connect(self.on_cancelled)
        task.sig_finished.connect(self._on_task_finished)

    def _on_task_finished(self) -> None:
        self.sig_finished.emit(self.config.name)

    def on_piece(self, piece: str) -> None:
        if not self.text:
            self._set_state("Answering…")
        self.text += piece
        if not self._render_timer.isActive():
            self._render_timer.start()

    def on_answer(self, answer: Answer) -> None:
        self.answer = answer
        self.text = answer.text or self.text
        self._render_timer.stop()
        self._render()
        self._set_state("✓ Done")
        usage = answer.usage
        parts = []
        if usage.input_tokens is not None and usage.output_tokens is not None:
            parts.append(f"{usage.input_tokens:,} tokens in · {usage.output_tokens:,} out")
        if usage.reasoning_tokens:
            parts.append(f"{usage.reasoning_tokens:,} thinking")
        if answer.latency_ms is not None:
            parts.append(f"{answer.latency_ms / 1000:.1f} s")
        cost = estimate_cost(self.config, usage)
        if cost is not None:
            parts.append(format_cost(cost))
        if answer.finish_reason not in (None, "stop"):
            parts.append(f"ended early: {answer.finish_reason}")
        self.footer.setText(" · ".join(parts))
        self.continue_button.setVisible(bool(self.text))

    def on_error(self, message: str, exc: object = None) -> None:
        self.error = message
        self._render_timer.stop()
        self._render()
        self._set_state("✗ Error")
        self.error_label.setText(message)
        self.error_label.setVisible(True)

    def on_cancelled(self) -> None:
        if not self.finished:
            self.on_error("Stopped before the answer was complete.")

    def _render(self) -> None:
        # Columns are read side by side from the top: keep the reader's place while text arrives below.
        bar = self.view.verticalScrollBar()
        position = bar.value()
        self.view.show_document(render_answer(self.text))
        bar.setValue(position)

    def _set_state(self, text: str) -> None:
        self.state.setText(text)


# -- saving the conversation as a question ------------------------------------------------------

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
        rubric_hint = QLabel("Write what a good answer must do (positive points, up to +10) or must not do "
                             "(negative points). Graders judge each criterion as met or not met.")
        rubric_hint.setObjectName("muted")
        rubric_hint.setWordWrap(True)
        self.error = QLabel()
        self.error.setObjectName("banner")
        self.error.setProperty("tone", "error")
        self.error.setWordWrap(True)
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setVisible(False)
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
        summary = QLabel(f"The conversation ({turns} turn{'s' if turns != 1 else ''}, ending with your question) "
                         "becomes a new question with the rubric below.")
        summary.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.save_button)
        rubric_title = QLabel("RUBRIC")
        rubric_title.setObjectName("sectionTitle")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 16, 18, 16)
        layout.setSpacing(10)
        layout.addWidget(summary)
        layout.addLayout(form)
        layout.addWidget(rubric_title)
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


# -- the panel ----------------------------------------------------------------------------------

class AskPanel(Panel):
    name = "ask"
    title = "Ask"
    watches = frozenset({"model_configs", "question_sets"})

    sig_answer_finished = Signal(str)
    """model config name — its column finished (answer, error or stopped)."""
    sig_all_finished = Signal()
    """Every column of the last question finished."""
    sig_question_saved = Signal(str)
    """question id — the conversation was stored as a question."""

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.configs: list[ModelConfig] = []
        self.sets: list[str] = []
        self.turns: list[Message] = []  # the conversation before the current question
        self.asked: Message | None = None  # the question the columns answer
        self.columns: list[AnswerColumn] = []
        self.image_url: str | None = None
        self.save_dialog: SaveQuestionDialog | None = None
        self.last_set = DEFAULT_SET  # where the previous question was saved: likely the next one too
        self._checked: set[str] | None = None  # model names ticked (None: first load, tick the first)
        self._warmed = False  # the HTTP stack is imported in the background on the first refresh
        self._build()

    def _build(self) -> None:
        title = QLabel("Ask")
        title.setObjectName("panelTitle")
        subtitle = QLabel("Try a question on several models side by side. Nothing is stored unless you save it "
                          "as a question.")
        subtitle.setObjectName("panelSubtitle")
        subtitle.setWordWrap(True)

        self.model_list = QListWidget()
        self.model_list.setAccessibleName("Models to ask")
        self.model_list.itemChanged.connect(self._on_model_ticked)
        self.no_models = QPushButton(look.icon("models"), "Add a model…")
        self.no_models.clicked.connect(lambda: self.ctx.sig_panel_requested.emit("models"))
        self.no_models.setVisible(False)
        models_title = QLabel("MODELS")
        models_title.setObjectName("sectionTitle")
        left = QVBoxLayout()
        left.addWidget(models_title)
        left.addWidget(self.model_list, 1)
        left.addWidget(self.no_models)
        left_box = QWidget()
        left_box.setLayout(left)
        left_box.setFixedWidth(230)
        left.setContentsMargins(0, 0, 0, 0)

        self.conversation_title = QLabel("CONVERSATION")
        self.conversation_title.setObjectName("sectionTitle")
        self.new_button = QPushButton(look.icon("add"), "New conversation")
        self.new_button.clicked.connect(self.new_conversation)
        self.conversation_view = SafeTextBrowser()
        self.conversation_view.setAccessibleName("Conversation so far")
        conversation_head = QHBoxLayout()
        conversation_head.addWidget(self.conversation_title)
        conversation_head.addStretch(1)
        conversation_head.addWidget(self.new_button)
        self.conversation_box = QWidget()
        conversation_layout = QVBoxLayout(self.conversation_box)
        conversation_layout.setContentsMargins(0, 0, 0, 0)
        conversation_layout.addLayout(conversation_head)
        conversation_layout.addWidget(self.conversation_view)

        self.columns_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.columns_splitter.setChildrenCollapsible(False)
        self.empty = QLabel("Tick one or more models, type a question below and press Ask (Ctrl+Enter).")
        self.empty.setObjectName("emptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.answers_box = QWidget()
        answers_layout = QVBoxLayout(self.answers_box)
        answers_layout.setContentsMargins(0, 0, 0, 0)
        answers_layout.addWidget(self.empty, 1)
        answers_layout.addWidget(self.columns_splitter, 1)

        self.question_edit = QPlainTextEdit()
        self.question_edit.setAccessibleName("Question")
        self.question_edit.setPlaceholderText("Type the patient's or clinician's question…")
        self.question_edit.setFixedHeight(80)
        self.question_edit.textChanged.connect(self._update_buttons)
        self.attach_button = QPushButton(look.icon("import"), "Attach image…")
        self.attach_button.clicked.connect(self._on_attach_clicked)
        self.thumbnail = QLabel()
        self.thumbnail.setVisible(False)
        self.thumbnail.setAccessibleName("Attached image")
        self.remove_image_button = QPushButton(look.icon("remove"), "")
        self.remove_image_button.setToolTip("Remove the image")
        self.remove_image_button.setAccessibleName("Remove the image")
        self.remove_image_button.clicked.connect(self.clear_image)
        self.remove_image_button.setVisible(False)
        self.hint = QLabel()
        self.hint.setObjectName("muted")
        self.hint.setWordWrap(True)
        self.save_button = QPushButton("Save as question…")
        self.save_button.clicked.connect(self.open_save_dialog)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.ask_button = QPushButton(look.icon("ask"), "Ask")
        self.ask_button.setProperty("primary", True)
        self.ask_button.setToolTip("Send the question to every ticked model (Ctrl+Enter)")
        self.ask_button.clicked.connect(self.ask)
        QShortcut(QKeySequence("Ctrl+Return"), self, activated=self.ask)
        QShortcut(QKeySequence("Ctrl+Enter"), self, activated=self.ask)
        tools = QHBoxLayout()
        tools.addWidget(self.attach_button)
        tools.addWidget(self.thumbnail)
        tools.addWidget(self.remove_image_button)
        tools.addWidget(self.hint, 1)
        tools.addWidget(self.save_button)
        tools.addWidget(self.stop_button)
        tools.addWidget(self.ask_button)
        composer = QFrame()
        composer.setObjectName("card")
        composer_layout = QVBoxLayout(composer)
        composer_layout.setContentsMargins(12, 10, 12, 10)
        composer_layout.addWidget(self.question_edit)
        composer_layout.addLayout(tools)

        self.banner = QLabel()
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.PlainText)
        self.banner.setVisible(False)

        self.right_splitter = QSplitter(Qt.Orientation.Vertical)
        self.right_splitter.addWidget(self.conversation_box)
        self.right_splitter.addWidget(self.answers_box)
        self.right_splitter.setStretchFactor(0, 1)
        self.right_splitter.setStretchFactor(1, 4)
        self.right_splitter.setChildrenCollapsible(False)
        right = QVBoxLayout()
        right.addWidget(self.banner)
        right.addWidget(self.right_splitter, 1)
        right.addWidget(composer)
        body = QHBoxLayout()
        body.setSpacing(14)
        body.addWidget(left_box)
        body.addLayout(right, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 16)
        layout.setSpacing(10)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addLayout(body, 1)
        self._show_conversation()
        self._update_buttons()

    # -- public API ------------------------------------------------------------------------
    def refresh(self) -> None:
        self.ctx.ops.run(load_choices, self.ctx.ws, on_done=self._show_choices, key="ask.choices")
        if not self._warmed:
            self._warmed = True
            self.ctx.ops.run(warm_up_http_stack, io=True)

    def checked_configs(self) -> list[ModelConfig]:
        names = {self.model_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.model_list.count())
                 if self.model_list.item(i).checkState() == Qt.CheckState.Checked}
        return [c for c in self.configs if c.name in names]

    def set_checked(self, names: set[str]) -> None:
        for i in range(self.model_list.count()):
            item = self.model_list.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.data(Qt.ItemDataRole.UserRole) in names
                               else Qt.CheckState.Unchecked)

    def is_busy(self) -> bool:
        return any(column.task is not None and column.task.running for column in self.columns)

    def ask(self) -> None:
        """Send the question (after the conversation so far) to every ticked model."""
        text = self.question_edit.toPlainText().strip()
        configs = self.checked_configs()
        if not text or not configs or self.is_busy():
            return
        self.asked = user_message(text, self.image_url)
        conversation = [*self.turns, self.asked]
        self.question_edit.clear()
        self.clear_image()
        self._clear_columns()
        self.banner.setVisible(False)
        worker = async_worker_for(self.ctx)
        for config in configs:
            column = AnswerColumn(config)
            column.sig_continue.connect(self.continue_with)
            column.sig_finished.connect(self._on_column_finished)
            column.attach(worker.start(stream_answer, config, conversation))
            self.columns.append(column)
            self.columns_splitter.addWidget(column)
        self._show_conversation()
        self._update_buttons()

    def stop(self) -> None:
        for column in self.columns:
            if column.task is not None and column.task.running:
                column.task.cancel()

    def continue_with(self, answer_text: str) -> None:
        """The question and this answer become earlier turns; the next question follows them."""
        if self.asked is None or self.is_busy():
            return
        self.turns = [*self.turns, self.asked, Message(role="assistant", content=answer_text)]
        self.asked = None
        self._clear_columns()
        self._show_conversation()
        self._update_buttons()
        self.question_edit.setFocus()

    def new_conversation(self) -> None:
        self.stop()
        self.turns, self.asked = [], None
        self._clear_columns()
        self.banner.setVisible(False)
        self._show_conversation()
        self._update_buttons()

    def attach_image(self, path: str) -> None:
        self.ctx.ops.run(read_image, path, io=True, on_done=self._on_image_read, owner=self,
                         on_error=lambda message, exc: self._show_banner(message, "error"))

    def clear_image(self) -> None:
        self.image_url = None
        self.thumbnail.clear()
        self.thumbnail.setVisible(False)
        self.remove_image_button.setVisible(False)

    def conversation_to_save(self) -> list[Message] | None:
        """The conversation ending with the asked question (or the one typed), or None if there is none."""
        if self.asked is not None:
            return [*self.turns, self.asked]
        text = self.question_edit.toPlainText().strip()
        return [*self.turns, user_message(text, self.image_url)] if text else None

    def open_save_dialog(self) -> None:
        conversation = self.conversation_to_save()
        if conversation is None:
            return
        answers = {c.config.name: c.text for c in self.columns if c.answer is not None and c.text}
        self.save_dialog = SaveQuestionDialog(conversation, self.sets, answers, self.last_set, self)
        self.save_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.save_dialog.sig_save.connect(self._on_save_requested)
        self.save_dialog.finished.connect(self._on_save_dialog_closed)
        self.save_dialog.open()

    def before_close(self) -> None:
        """The window closes: stop the streams and join the worker thread."""
        async_worker_for(self.ctx).shutdown()

    # -- Qt overrides -------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override (the panel shown on its own)
        self.before_close()
        super().closeEvent(event)

    # -- private ---------------------------------------------------------------------------------
    def _show_choices(self, choices: tuple[list[ModelConfig], list[str]]) -> None:
        self.configs, self.sets = choices
        checked = {c.name for c in self.checked_configs()} if self._checked is not None else None
        self.model_list.blockSignals(True)
        self.model_list.clear()
        for i, config in enumerate(self.configs):
            item = QListWidgetItem(config.name)
            item.setData(Qt.ItemDataRole.UserRole, config.name)
            item.setToolTip(f"{config.provider} · {config.model}")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            ticked = config.name in checked if checked is not None else i == 0
            item.setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)
            self.model_list.addItem(item)
        self.model_list.blockSignals(False)
        self._checked = {c.name for c in self.checked_configs()}
        self.no_models.setVisible(not self.configs)
        self._update_buttons()

    def _on_model_ticked(self, item: QListWidgetItem) -> None:
        self._checked = {c.name for c in self.checked_configs()}
        self._update_buttons()

    def _on_attach_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Attach an image", "", IMAGE_FILTER)
        if path:
            self.attach_image(path)

    def _on_image_read(self, result: tuple[str, bytes]) -> None:
        self.image_url, data = result
        pixmap = QPixmap()
        pixmap.loadFromData(data)
        self.thumbnail.setPixmap(pixmap.scaled(56, 56, Qt.AspectRatioMode.KeepAspectRatio,
                                               Qt.TransformationMode.SmoothTransformation))
        self.thumbnail.setVisible(True)
        self.remove_image_button.setVisible(True)
        self._update_buttons()

    def _on_column_finished(self, name: str) -> None:
        self.sig_answer_finished.emit(name)
        self._update_buttons()
        if not self.is_busy():
            self.sig_all_finished.emit()

    def _on_save_requested(self, set_name: str, question: Question) -> None:
        self.ctx.ops.run(save_question, self.ctx.ws, set_name, question, owner=self,
                         on_done=lambda question_id: self._on_question_saved(set_name, question_id),
                         on_error=self._on_save_failed)

    def _on_question_saved(self, set_name: str, question_id: str) -> None:
        self.last_set = set_name
        if self.save_dialog is not None:
            self.save_dialog.accept()
        self._show_banner(f"Saved as a question of the set “{set_name}”. You find it in the Questions panel.",
                          "success")
        self.sig_status.emit(f"Question saved to {set_name}")
        self.sig_question_saved.emit(question_id)

    def _on_save_failed(self, message: str, exc: object) -> None:
        if self.save_dialog is not None:
            self.save_dialog.show_error(message)

    def _on_save_dialog_closed(self, result: int) -> None:
        self.save_dialog = None

    def _clear_columns(self) -> None:
        for column in self.columns:
            if column.task is not None and column.task.running:
                column.task.cancel()
            column.setParent(None)
            column.deleteLater()
        self.columns = []

    def _show_conversation(self) -> None:
        shown = [*self.turns, *([self.asked] if self.asked else [])]
        self.conversation_box.setVisible(bool(shown))
        if shown:
            self.conversation_view.show_document(
                render_conversation([m.model_dump(mode="json") for m in shown]))
            earlier = len(self.turns)
            self.conversation_title.setText("CONVERSATION" + (f" ({earlier} earlier turns, then your question)"
                                                              if earlier else ""))
            self._fit_conversation()
        self.empty.setVisible(not self.columns)
        self.columns_splitter.setVisible(bool(self.columns))

    def _fit_conversation(self) -> None:
        """Give the conversation the height it needs, up to a third of the space: the answers matter most."""
        total = sum(self.right_splitter.sizes())
        if total <= 0:
            return
        document = self.conversation_view.document()
        document.setTextWidth(self.conversation_view.viewport().width())
        wanted = int(document.size().height()) + self.conversation_title.sizeHint().height() + 48
        height = max(90, min(wanted, total // 3))
        self.right_splitter.setSizes([height, total - height])

    def _show_banner(self, text: str, tone: str) -> None:
        self.banner.setText(text)
        self.banner.setProperty("tone", tone)
        look.repolish(self.banner)
        self.banner.setVisible(True)

    def _update_buttons(self) -> None:
        busy = self.is_busy()
        has_text = bool(self.question_edit.toPlainText().strip())
        self.ask_button.setEnabled(has_text and bool(self.checked_configs()) and not busy)
        self.stop_button.setVisible(busy)
        self.save_button.setEnabled(not busy and (self.asked is not None or has_text))
        if busy:
            self.hint.setText("Answering…")
        elif self.asked is not None and any(c.answer is not None for c in self.columns):
            self.hint.setText("For a follow-up, pick the answer to build on: “Continue with this answer”.")
        elif self.turns:
            self.hint.setText("Your next message follows the conversation above.")
        else:
            self.hint.setText("")


PANEL = AskPanel
