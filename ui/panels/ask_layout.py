"""The Ask panel's widgets and their layout (no behaviour: that is in ask.py).

Like a compiled Designer form, `AskLayout._build` creates the widgets as
attributes of the panel and connects them to its handlers: the models to
ask on the left; on the right the conversation so far, the answer columns
side by side, and the composer (question, image, Save / Stop / Ask).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QListWidget, QPlainTextEdit, QPushButton, QSplitter, QVBoxLayout,
                               QWidget)

from .. import look
from ..widgets.banner import make_banner
from ..widgets.markdown_view import SafeTextBrowser
from ..widgets.panel_header import heading_row, page_layout, panel_intro, section_title
from ..widgets.plain_text import plain_label
from ..widgets.splitter import two_panes


class AskLayout:
    """Mixin for AskPanel: builds its widgets."""

    def _build(self) -> None:
        header = panel_intro("Ask", "Try a question on several models side by side. Nothing is stored unless you "
                                    "save it as a question.")
        self.model_list = QListWidget()
        self.model_list.setAccessibleName("Models to ask")
        self.model_list.itemChanged.connect(self._on_model_ticked)
        self.no_models = QPushButton(look.icon("models"), "Add a model…")
        self.no_models.clicked.connect(lambda: self.ctx.sig_panel_requested.emit("models"))
        self.no_models.setVisible(False)
        left = QVBoxLayout()
        left.addWidget(section_title("MODELS"))
        left.addWidget(self.model_list, 1)
        left.addWidget(self.no_models)
        left_box = QWidget()
        left_box.setLayout(left)
        left_box.setFixedWidth(230)
        left.setContentsMargins(0, 0, 0, 0)

        self.conversation_title = section_title("CONVERSATION")
        self.new_button = QPushButton(look.icon("add"), "New conversation")
        self.new_button.clicked.connect(self.new_conversation)
        self.conversation_view = SafeTextBrowser()
        self.conversation_view.setAccessibleName("Conversation so far")
        self.conversation_box = QWidget()
        conversation_layout = QVBoxLayout(self.conversation_box)
        conversation_layout.setContentsMargins(0, 0, 0, 0)
        conversation_layout.addLayout(heading_row(self.conversation_title, right=[self.new_button]))
        conversation_layout.addWidget(self.conversation_view)

        self.columns_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.columns_splitter.setChildrenCollapsible(False)
        self.empty = plain_label("Tick one or more models, type a question below and press Ask (Ctrl+Enter).")
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
        self.thumbnail = plain_label()
        self.thumbnail.setVisible(False)
        self.thumbnail.setAccessibleName("Attached image")
        self.remove_image_button = QPushButton(look.icon("remove"), "")
        self.remove_image_button.setToolTip("Remove the image")
        self.remove_image_button.setAccessibleName("Remove the image")
        self.remove_image_button.clicked.connect(self.clear_image)
        self.remove_image_button.setVisible(False)
        self.hint = plain_label()
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

        self.banner = make_banner(selectable=False)

        self.right_splitter = two_panes(Qt.Orientation.Vertical, self.conversation_box, self.answers_box,
                                        stretch=(1, 4))
        right = QVBoxLayout()
        right.addWidget(self.banner)
        right.addWidget(self.right_splitter, 1)
        right.addWidget(composer)
        body = QHBoxLayout()
        body.setSpacing(14)
        body.addWidget(left_box)
        body.addLayout(right, 1)
        page_layout(self, header).addLayout(body, 1)
