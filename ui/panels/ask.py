"""Ask: put a question to several models at once and read their answers side by side.

Exploratory, so nothing is blinded and nothing is stored unless asked:
- the answers stream in, one column per model (ask_column.py), with tokens,
  time and cost when done; an error stays in its own column;
- "Continue with this answer" makes the conversation grow: the question and
  the chosen answer become earlier turns, and the next question follows them;
- "Save as question…" stores the conversation as a question of a set, with
  the rubric a clinician writes for it (dialogs/save_question.py).

Answers stream on the async worker's loop thread; the widgets are built in
ask_layout.py.
"""

from __future__ import annotations

import base64
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QFileDialog, QListWidgetItem, QWidget

from healthqa.domain import ImagePart, ImageURL, Message, ModelConfig, Question, TextPart
from healthqa.store import ensure_set, list_model_configs, list_sets, remember_learned, upsert_question

from ..async_worker import async_worker_for, warm_up_http_stack
from ..dialogs.save_question import SaveQuestionDialog
from ..widgets.banner import show_banner
from ..widgets.markdown_view import render_conversation
from .ask_column import AnswerColumn, stream_answer
from .ask_layout import AskLayout
from .worker_panel import WorkerPanel
from ..widgets.plain_text import plain_tooltip

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


def save_question(ws, set_name: str, question: Question) -> str:
    question_id, _ = upsert_question(ws, question, ensure_set(ws, set_name))
    return question_id


def load_choices(ws) -> tuple[list[ModelConfig], list[str]]:
    return list_model_configs(ws), [s["name"] for s in list_sets(ws)]


def user_message(text: str, image_url: str | None) -> Message:
    if image_url is None:
        return Message(role="user", content=text)
    return Message(role="user", content=[TextPart(text=text), ImagePart(image_url=ImageURL(url=image_url))])


class AskPanel(AskLayout, WorkerPanel):
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
            column = AnswerColumn(config, self.ctx.ops)
            column.sig_continue.connect(self.continue_with)
            column.sig_finished.connect(self._on_column_finished)
            column.sig_learned.connect(self._remember_learned)
            column.attach(worker.start(stream_answer, config, conversation))
            self.columns.append(column)
            self.columns_splitter.addWidget(column)
        self._show_conversation()
        self._update_buttons()

    def _remember_learned(self, config: ModelConfig, caps: dict, note: str) -> None:
        """A setting the model refused is stored on its config, as runs store it: the next call leaves it out."""
        self.ctx.ops.run(remember_learned, self.ctx.ws, config.id, config.model, caps, note)

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
                         on_error=lambda message, exc: show_banner(self.banner, message, "error"))

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

    # -- private ---------------------------------------------------------------------------------
    def _show_choices(self, choices: tuple[list[ModelConfig], list[str]]) -> None:
        self.configs, self.sets = choices
        checked = {c.name for c in self.checked_configs()} if self._checked is not None else None
        self.model_list.blockSignals(True)
        self.model_list.clear()
        for i, config in enumerate(self.configs):
            item = QListWidgetItem(config.name)
            item.setData(Qt.ItemDataRole.UserRole, config.name)
            item.setToolTip(plain_tooltip(f"{config.provider} · {config.model}"))
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
        show_banner(self.banner, f"Saved as a question of the set “{set_name}”. You find it in the Questions "
                    "panel.", "success")
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
