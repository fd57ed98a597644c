"""The grading panel's widgets and their layout (no behaviour: that is in grading.py).

Like a compiled Designer form, `GradingLayout._build` creates the widgets as
attributes of the panel; the keymap and the key legend shown to the clinician
are defined here, side by side, so they cannot drift apart.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QPlainTextEdit, QProgressBar, QPushButton, QStackedWidget,
                               QVBoxLayout, QWidget)

from .. import look
from ..widgets.banner import make_banner
from ..widgets.checklist import ChecklistView
from ..widgets.key_legend import KeyLegend
from ..widgets.markdown_view import SafeTextBrowser
from ..widgets.panel_header import heading_row, page_layout, panel_header, section_title
from ..widgets.plain_text import plain_label
from ..widgets.splitter import two_panes


class GradingActions:
    PREV_CRITERION = "prev_criterion"
    NEXT_CRITERION = "next_criterion"
    MET = "met"
    NOT_MET = "not_met"
    CANNOT_JUDGE = "cannot_judge"
    CLEAR = "clear"
    COMMENT = "comment"
    UNSAFE = "unsafe"
    FLAG = "flag"
    EXPAND = "expand"
    SHARED = "shared"
    SUBMIT = "submit"
    PREV_ANSWER = "prev_answer"
    NEXT_ANSWER = "next_answer"


A = GradingActions
K = Qt.Key
KEYMAP: dict[Qt.Key, str] = {
    K.Key_Up: A.PREV_CRITERION, K.Key_K: A.PREV_CRITERION,
    K.Key_Down: A.NEXT_CRITERION, K.Key_J: A.NEXT_CRITERION,
    K.Key_Y: A.MET, K.Key_N: A.NOT_MET, K.Key_Question: A.CANNOT_JUDGE, K.Key_Slash: A.CANNOT_JUDGE,
    K.Key_Backspace: A.CLEAR, K.Key_Delete: A.CLEAR,
    K.Key_C: A.COMMENT, K.Key_U: A.UNSAFE, K.Key_F: A.FLAG, K.Key_E: A.EXPAND, K.Key_I: A.SHARED,
    K.Key_Return: A.SUBMIT, K.Key_Enter: A.SUBMIT,
    K.Key_Left: A.PREV_ANSWER, K.Key_Right: A.NEXT_ANSWER,
}
LEGEND = [
    (["↑", "↓", "K", "J"], "criterion"),
    (["Y"], "met"), (["N"], "not met"), (["?"], "cannot judge"), (["⌫"], "clear"),
    (["C"], "comment"), (["F"], "flag rubric item"), (["U"], "unsafe answer"),
    (["E"], "whole criterion"), (["I"], "shared instructions"),
    (["Enter"], "submit · next answer"), (["←", "→"], "previous / next answer"),
]


class GradingLayout:
    """Mixin for GradingPanel: builds its widgets."""

    def _build(self) -> None:
        self.position = plain_label("")
        self.progress_bar = QProgressBar()
        self.progress_bar.setFixedWidth(180)
        self.progress_bar.setTextVisible(False)
        self.progress_text = plain_label("")
        self.progress_text.setObjectName("muted")
        self.blind_badge = plain_label()
        self.blind_icon = plain_label()
        self.prev_button = QPushButton(look.icon("prev"), "Previous")
        self.next_button = QPushButton(look.icon("next"), "Next")
        self.next_button.setLayoutDirection(Qt.LayoutDirection.RightToLeft)  # icon after the word
        for button, action in ((self.prev_button, A.PREV_ANSWER), (self.next_button, A.NEXT_ANSWER)):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda checked=False, a=action: self._on_action(a))
        self.prev_button.setToolTip("Previous answer (←)")
        self.next_button.setToolTip("Next answer (→)")
        header = panel_header("Grading", self.position, self.progress_text, self.progress_bar, self.prev_button,
                              self.next_button, spacing=12)

        self.banner = make_banner(selectable=False)  # a click on it leaves the focus on the checklist

        self.conversation_view = SafeTextBrowser()
        self.conversation_view.setAccessibleName("Conversation")
        self.answer_heading = plain_label()
        self.answer_heading.setObjectName("answerHeading")
        # Says when the answer is not the model's whole reply (cut off, filtered): grade what is there.
        self.finish_badge = plain_label(object_name="finishBadge")
        self.finish_badge.setVisible(False)
        self.answer_view = SafeTextBrowser()
        self.answer_view.setObjectName("answerView")
        self.answer_view.setAccessibleName("Answer to grade")
        for view in (self.conversation_view, self.answer_view):
            view.verticalScrollBar().valueChanged.connect(lambda _: self.clock.touch())  # reading counts
        conversation_box = QWidget()
        conversation_layout = QVBoxLayout(conversation_box)
        conversation_layout.setContentsMargins(0, 0, 0, 0)
        conversation_layout.addWidget(section_title("CONVERSATION"))
        conversation_layout.addWidget(self.conversation_view)
        answer_box = QWidget()
        answer_layout = QVBoxLayout(answer_box)
        answer_layout.setContentsMargins(0, 6, 0, 0)
        # A contemplating answer's drafts: the button shows once the reveal does (grading.py)
        self.drafts_button = QPushButton("Drafts")
        self.drafts_button.setCheckable(True)
        self.drafts_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.drafts_button.setToolTip("The drafts this answer was composed from (contemplating mode)")
        self.drafts_button.setVisible(False)
        self.drafts_button.toggled.connect(self._on_drafts_toggled)
        answer_layout.addLayout(heading_row(self.answer_heading, self.finish_badge,
                                            right=[self.drafts_button, self.blind_icon, self.blind_badge]))
        answer_layout.addWidget(self.answer_view)
        left = two_panes(Qt.Orientation.Vertical, conversation_box, answer_box, stretch=(2, 3))

        self.rubric_title = section_title("Rubric")
        self.checklist = ChecklistView(KEYMAP)
        self.checklist.setAccessibleName("Rubric checklist")
        self.checklist.sig_action.connect(self._on_action)
        self.answer_comment = QPlainTextEdit()
        self.answer_comment.setPlaceholderText("Comment on the whole answer (optional)")
        self.answer_comment.setFixedHeight(64)
        self.answer_comment.textChanged.connect(self._on_answer_comment_changed)
        self.unsafe_box = QCheckBox("Unsafe answer (U)")
        self.unsafe_box.setObjectName("unsafeBox")
        self.unsafe_box.setIcon(look.icon("unsafe"))
        self.unsafe_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.unsafe_box.clicked.connect(self._on_unsafe_clicked)
        self.submit_button = QPushButton("Submit  (Enter)")
        self.submit_button.setProperty("primary", True)
        self.submit_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.submit_button.clicked.connect(lambda: self._on_action(A.SUBMIT))
        answer_row = QHBoxLayout()
        answer_row.addWidget(self.unsafe_box)
        answer_row.addStretch(1)
        answer_row.addWidget(self.submit_button)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(6, 0, 0, 0)
        right_layout.setSpacing(8)
        right_layout.addWidget(self.rubric_title)
        right_layout.addWidget(self.checklist, 1)
        right_layout.addWidget(self.answer_comment)
        right_layout.addLayout(answer_row)
        splitter = two_panes(Qt.Orientation.Horizontal, left, right, stretch=(11, 10))
        self._splitter = splitter

        self.empty = plain_label()
        self.empty.setObjectName("emptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.sign_in_button = QPushButton(look.icon("person"), "Tell HealthQA who you are…")
        self.sign_in_button.clicked.connect(self.ctx.sig_identity_requested.emit)
        empty_page = QWidget()
        empty_layout = QVBoxLayout(empty_page)
        empty_layout.addStretch(1)
        empty_layout.addWidget(self.empty)
        empty_layout.addWidget(self.sign_in_button, 0, Qt.AlignmentFlag.AlignCenter)
        empty_layout.addStretch(2)
        work_page = QWidget()
        work_layout = QVBoxLayout(work_page)
        work_layout.setContentsMargins(0, 0, 0, 0)
        work_layout.setSpacing(8)
        work_layout.addWidget(self.banner)
        work_layout.addWidget(splitter, 1)
        self.setFocusProxy(self.checklist)
        self.pages = QStackedWidget()
        self.pages.addWidget(empty_page)
        self.pages.addWidget(work_page)

        self.legend = KeyLegend(LEGEND)
        self.legend.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        body = page_layout(None, header, bottom=12)  # the key legend sits right below
        body.addWidget(self.pages, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(body, 1)
        layout.addWidget(self.legend)
        self._show_empty("Loading…", sign_in=False)
