"""One model's answer in the Ask panel, as it streams: the coroutine that streams it and the column that shows it.

Text pieces arrive as signals from the async worker's loop thread; the
column re-renders its Markdown at most every RENDER_MS, on the ops helper's
io pool (model output can be slow to convert; the GUI thread only shows the
result, latest wins). When the answer is complete it shows tokens, time and
cost, and says it is finished once its last rendering is on screen; an
error stays in its own column.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import NamedTuple

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from healthqa.domain import Answer, Message, ModelConfig
from healthqa.providers import estimate_cost, make_provider
from healthqa.providers import ProviderError
from healthqa.secrets import get_api_key

from .. import look
from ..async_worker import AsyncTask, TaskControl
from ..ops import Ops
from ..widgets.banner import make_banner
from ..widgets.markdown_view import SafeTextBrowser, render_answer
from ..widgets.plain_text import plain_label, plain_tooltip
from ..widgets.progress_panel import format_cost

RENDER_MS = 60  # a streaming column repaints at most this often (re-rendering Markdown per piece is quadratic)


class Adjusted(NamedTuple):
    """Reported instead of a text piece: the server refused a setting and the call went again
    without it (`caps` and `note` as a provider's on_learned hook gives them)."""

    caps: dict
    note: str


async def stream_answer(control: TaskControl, config: ModelConfig, conversation: list[Message]) -> Answer:
    """Stream one model's answer: text pieces are reported as they come (and an Adjusted when
    a refused setting was dropped), the Answer is returned."""
    key = await asyncio.to_thread(get_api_key, config)
    provider = make_provider(config, key, max_connections=1,
                             on_learned=lambda caps, note: control.report(Adjusted(caps, note)))
    try:
        async with contextlib.aclosing(provider.stream(conversation)) as pieces:
            async for piece in pieces:
                if isinstance(piece, Answer):
                    return piece
                control.report(piece)
    finally:
        await provider.aclose()
    raise ProviderError(f"{config.name}: the answer ended without its closing event")


class AnswerColumn(QFrame):
    """One model's answer as it streams: header, the answer, and its figures or error."""

    sig_continue = Signal(str)
    """answer text — the clinician continues the conversation with this answer."""
    sig_finished = Signal(str)
    """model config name — the answer is complete, failed or was stopped."""
    sig_learned = Signal(object, dict, str)
    """model config, capability changes, note — the server refused a setting; the panel remembers it."""

    def __init__(self, config: ModelConfig, ops: Ops, parent: QWidget | None = None):
        super().__init__(parent)
        self._ops = ops
        self._rendering = False  # a rendering is on its way to the screen
        self._finish_told = False  # the task ended; sig_finished waits for the last rendering
        self.setObjectName("card")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.config = config
        self.text = ""
        self.answer: Answer | None = None
        self.error: str | None = None
        self.task: AsyncTask | None = None
        self.adjusted: list[str] = []  # what the server made us change, said in the footer
        name = plain_label(config.name)
        name.setTextFormat(Qt.TextFormat.PlainText)
        name.setStyleSheet("font-weight: 700;")
        name.setToolTip(plain_tooltip(f"{config.provider} · {config.model}"))
        self.state = plain_label("Waiting…")
        self.state.setObjectName("chip")
        header = QHBoxLayout()
        header.addWidget(name, 1)
        header.addWidget(self.state)
        self.view = SafeTextBrowser()
        self.view.setAccessibleName(f"Answer of {config.name}")
        self.footer = plain_label()
        self.footer.setObjectName("muted")
        self.footer.setWordWrap(True)
        self.error_label = make_banner("error")
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
        self._finish_told = True
        if not self._rendering:
            self.sig_finished.emit(self.config.name)

    def on_piece(self, piece: str | Adjusted) -> None:
        if isinstance(piece, Adjusted):
            self.adjusted.append(piece.note)
            self.sig_learned.emit(self.config, piece.caps, piece.note)
            return
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
        lines = [" · ".join(parts)] + [f"Adjusted: {note} (kept in its model config)" for note in self.adjusted]
        self.footer.setText("\n".join(lines))
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
        self._rendering = True
        self._ops.run(render_answer, self.text, io=True, key=f"ask.render.{id(self)}", owner=self,
                      on_done=self._show_rendered, on_error=lambda message, exc: self._show_rendered(None))

    def _show_rendered(self, document) -> None:
        self._rendering = False
        if document is not None:
            # Columns are read side by side from the top: keep the reader's place while text arrives below.
            bar = self.view.verticalScrollBar()
            position = bar.value()
            self.view.show_document(document)
            bar.setValue(position)
        if self._finish_told:
            self._finish_told = False  # said once
            self.sig_finished.emit(self.config.name)

    def _set_state(self, text: str) -> None:
        self.state.setText(text)
