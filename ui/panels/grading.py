"""Grading: a clinician grades answers criterion by criterion, from the keyboard, blinded.

- Answers come in the clinician's own stable random order and are named
  "Answer 37"; the model's name appears only after submitting.
- Every verdict and comment is written the moment it is given (autosave);
  the active time since the previous action goes with it, so a crash
  loses nothing already given.
- A rubric item that is wrong or unclear can be flagged (F, or the row's
  Flag button): reason and note are written at once, like a verdict, and
  the row says "⚑ flagged: <reason>".
- Submitting (Enter) reveals the model graders' verdicts; where they
  differ the rows are marked, and a change made now is kept in the grade
  history as made after the reveal. With nothing to discuss, Enter moves on.
- Moving to another answer is one step that completes or changes nothing:
  it is loaded (workspace thread), rendered (io thread: Markdown of model
  output can be slow), and only then switched to on the GUI thread, all
  widgets and the state that key presses act on together. Until then the
  old answer stays on screen and stays current; verdict keys pressed in
  between are refused with a message rather than landing on either answer.

The session logic (queue, blinding, reveal, active time) lives in
healthqa/review.py; this module only shows it and forwards keys.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import QWidget

from healthqa import review
from healthqa.domain import incomplete_label
from healthqa.review import flag_criterion, list_flags, unflag_criterion
from healthqa.review import ActiveClock, AnswerView, Reveal
from healthqa.store import save_review

from .. import look
from ..dialogs.flag_dialog import FlagDialog, flag_marker_text
from ..widgets.banner import show_banner
from ..widgets.checklist import VERDICTS, verdict_info
from ..widgets.criterion_text import SharedText, split_shared
from ..widgets.markdown_view import (RenderedDocument, plain_conversation, plain_html, render_answer,
                                     render_conversation)
from . import Panel
from .grading_layout import GradingActions as A
from .grading_layout import GradingLayout
from ..widgets.plain_text import plain_tooltip

COMMENT_SAVE_MS = 600
log = logging.getLogger(__name__)
# What the badge over an incomplete answer says (finish reasons of domain.INCOMPLETE_ANSWERS).
FINISH_BADGES = {"length": "Cut off: output limit reached", "content_filter": "Stopped by a safety filter",
                 "refusal": "Refused by a safety classifier"}


def _short(name: str, limit: int = 40) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _load_queue(ws, rater_id: str):
    queue = review.grading_queue(ws, rater_id)
    return queue, review.progress(ws, rater_id, queue), review.submitted_ids(ws, rater_id)


Flags = dict[str, tuple[str, str]]  # criterion id -> (reason, comment) of the clinician's own flag


def drafts_markdown(drafts: list[dict]) -> str:
    """The drafts one after another, each under a heading with its length and time."""
    parts = []
    for d in drafts:
        if d["text"] is None:
            parts.append(f"#### Draft {d['index'] + 1} — failed\n\n{d['error'] or ''}")
            continue
        out = d["usage"]["output_tokens"]
        facts = " · ".join(x for x in (f"{out:,} tokens out" if out is not None else "",
                                        f"{d['latency_ms'] / 1000:.1f} s" if d["latency_ms"] else "") if x)
        parts.append(f"#### Draft {d['index'] + 1}" + (f" · {facts}" if facts else "") + f"\n\n{d['text']}")
    return "\n\n---\n\n".join(parts)


@dataclass
class OpenedAnswer:
    """An answer with everything needed to show it: the switch to it is made from this alone."""

    view: AnswerView
    reveal: Reveal | None
    rater_id: str
    flags: Flags
    conversation: RenderedDocument | None = None  # None until rendered
    answer: RenderedDocument | None = None
    shared: SharedText | None = None  # text several criteria share, shown once
    own_texts: list[str] | None = None  # what each criterion shows of its own (rendered with the rest)


def _load_answer(ws, answer_id: str, rater_id: str, rater_name: str) -> OpenedAnswer:
    """Workspace thread: the answer, its rubric, the clinician's verdicts and flags."""
    view = review.load_answer(ws, answer_id, rater_id)
    flags = {f["criterion_id"]: (f["reason"], f["comment"] or "")
             for f in list_flags(ws, rater=rater_name, prompt_id=view.prompt_id)}
    return OpenedAnswer(view, review.reveal(ws, answer_id, rater_id) if view.submitted else None, rater_id, flags)


def _render_answer(opened: OpenedAnswer) -> OpenedAnswer:
    """io thread: the conversation and the answer as documents; plain text where formatting fails."""
    view = opened.view
    try:
        conversation = render_conversation(view.conversation)
    except Exception:  # noqa: BLE001 - e.g. an attachment that does not decode: still show the words
        log.warning("conversation of answer %s shown as plain text", view.answer_id, exc_info=True)
        conversation = plain_conversation(view.conversation)
    shared, own_texts = split_shared([c.text for c in view.criteria])
    return replace(opened, conversation=conversation, answer=render_answer(view.answer_text), shared=shared,
                   own_texts=own_texts)


def _as_plain(opened: OpenedAnswer) -> OpenedAnswer:
    """The same answer with both documents as plain text (when showing the formatted ones failed)."""
    return replace(opened, conversation=plain_conversation(opened.view.conversation),
                   answer=RenderedDocument(plain_html(opened.view.answer_text,
                                                      "Shown as plain text: it could not be shown formatted.")))


def _save_verdict(ws, answer_id: str, criterion_id: str, rater_id: str, verdict: str | None,
                  grade_seconds: float, review_seconds: float) -> None:
    review.record_grade(ws, answer_id, criterion_id, rater_id, verdict=verdict, active_seconds=grade_seconds)
    if review_seconds > 0:
        save_review(ws, answer_id, rater_id, active_seconds=review_seconds)


class GradingPanel(GradingLayout, Panel):
    name = "grading"
    title = "Grading"
    watches = frozenset({"answers", "questions", "criteria", "assignments", "set_members", "raters"})

    # -- signals ---------------------------------------------------------------------
    sig_answer_shown = Signal(str)
    """answer id — an answer is on screen and ready for keys."""
    sig_submitted = Signal(str)
    """answer id — the clinician's grading of it is submitted and the reveal is shown."""
    sig_saved = Signal(str)
    """criterion id — a verdict or comment reached the workspace file."""
    sig_flag_saved = Signal(str)
    """criterion id — the clinician's flag on it was written or withdrawn in the workspace file."""

    # -- init -------------------------------------------------------------------------
    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.rater_id: str | None = None  # whose queue is open; every write is signed with it
        self.rater_name: str | None = None  # the same clinician, by name (flags are signed by name)
        self.flags: Flags = {}
        self.flag_dialog: FlagDialog | None = None  # the open one, if any (tests drive it)
        self.queue: list[str] = []
        self.index = 0
        self.view: AnswerView | None = None  # the answer on screen: every key acts on it
        self._opening: str | None = None  # the answer being loaded and rendered, on its way to the screen
        self._opening_index = 0  # its place in the queue
        self._documents: tuple | None = None  # what is on screen: documents, shared text, own texts
        self.reveal: Reveal | None = None
        self.clock = ActiveClock(ctx.clock)
        self._submitted: set[str] = set()
        self._wired_rows = 0
        self._split_done = False
        self._comment_timer = QTimer(self, singleShot=True, interval=COMMENT_SAVE_MS)
        self._comment_timer.timeout.connect(self._save_answer_comment)
        self._build()
        ctx.sig_rater_changed.connect(self._on_rater_changed)

    # -- Panel contract ------------------------------------------------------------------
    def refresh(self) -> None:
        rater = self.ctx.rater
        if rater is None:
            self._show_empty("Tell HealthQA who you are to start grading.\n"
                             "Your name signs every verdict you give.", sign_in=True)
            return
        self.rater_id, self.rater_name = rater.id, rater.name
        self.ctx.ops.run(_load_queue, self.ctx.ws, rater.id, key="grading.queue", on_done=self._on_queue)

    def on_workspace_changed(self, tables: set[str]) -> None:
        super().on_workspace_changed(tables)
        if tables & {"answer_reviews", "grades"} and self.queue and self.rater_id and self.isVisible():
            self.ctx.ops.run(review.progress, self.ctx.ws, self.rater_id, list(self.queue),
                             key="grading.progress", on_done=self._show_progress)

    def before_close(self) -> None:
        """The window is closing: write what is not written yet (the ops helper drains it)."""
        self._leave_answer()

    # -- public API (tests and the window) ---------------------------------------------------
    def show_reveal_summary(self) -> None:
        """The banner after submitting an answer the model grader saw differently."""
        n, total = len(self.reveal.disagreements), len(self.view.criteria)
        self._say(f"{review.blind_label(self.index)} submitted. The model grader differs from you on {n} of "
                  f"{total} criteria (marked ◆). You may change a verdict — the change is recorded as made after "
                  f"the reveal. Enter: next answer.", "warning")

    def current_answer_id(self) -> str | None:
        return self.view.answer_id if self.view else None

    def is_opening(self) -> bool:
        """An answer is on its way to the screen (keys that grade are refused until it is there)."""
        return self._opening is not None

    def open_index(self, index: int) -> None:
        """Start moving to the answer at `index`; the one on screen stays current until it is ready."""
        if not 0 <= index < len(self.queue):
            return
        self._leave_answer()
        self._opening, self._opening_index = self.queue[index], index
        if self.view is not None:
            self.position.setText(f"Opening {review.blind_label(index)}…")
        self.ctx.ops.run(_load_answer, self.ctx.ws, self.queue[index], self.rater_id, self.rater_name,
                         key="grading.answer", on_done=self._on_answer_loaded)

    # -- private: loading ------------------------------------------------------------------------
    def _on_queue(self, result) -> None:
        queue, progress, submitted = result
        # The answer on its way to the screen, else the one on it: a queue reloaded while Enter
        # moves on must not put the position back on the answer just submitted.
        current = self._opening or self.current_answer_id()
        self.queue, self._submitted = queue, submitted
        if self.view is not None and self.view.answer_id in queue:
            self.index = queue.index(self.view.answer_id)
        if self._opening in queue:
            self._opening_index = queue.index(self._opening)
        self._show_progress(progress)
        if not queue:
            self.view, self._opening = None, None
            self._show_empty("No answers to grade yet.\nImport a HealthBench file with completions, "
                             "or run a question set on a model.", sign_in=False)
            return
        if current in queue:
            return  # the open answer stays as it is; only the queue around it changed
        self.open_index(review.first_open_index(queue, submitted))

    def _on_rater_changed(self) -> None:
        """Another clinician signs in: credit the open answer to the one before, then load the new queue."""
        self._leave_answer()
        self.view, self.reveal, self.queue, self.rater_id, self.rater_name = None, None, [], None, None
        self._opening = None
        self.mark_stale()

    def _wanted(self, opened: OpenedAnswer) -> bool:
        """Still the answer asked for, for the clinician signed in (not one since left or handed over)?"""
        return opened.rater_id == self.rater_id and opened.view.answer_id == self._opening

    def _on_answer_loaded(self, opened: OpenedAnswer) -> None:
        if self._wanted(opened):
            self.ctx.ops.run(_render_answer, opened, io=True, key="grading.render", owner=self,
                             on_done=self._on_answer_rendered, on_error=self._on_render_failed)

    def _on_render_failed(self, message: str, exc: BaseException) -> None:
        self._say(f"{review.blind_label(self._opening_index)} could not be opened: {message}", "error")
        self._opening = None
        self._update_texts()

    def _on_answer_rendered(self, opened: OpenedAnswer) -> None:
        if not self._wanted(opened):
            return
        shown = (OpenedAnswer(self.view, self.reveal, self.rater_id, self.flags, *self._documents)
                 if self.view is not None and self._documents else None)
        try:
            self._switch_to(opened)
        except Exception:  # noqa: BLE001 - Qt refused the formatted documents: try them as plain text
            log.exception("showing answer %s failed; trying plain text", opened.view.answer_id)
            try:
                self._switch_to(_as_plain(opened))
            except Exception:  # noqa: BLE001 - back to the answer that was on screen, all of it
                log.exception("showing answer %s as plain text failed", opened.view.answer_id)
                label = review.blind_label(self._opening_index)
                self._opening = None
                if shown is not None:
                    self._switch_to(shown)
                    self._say(f"{label} could not be shown; you are still on "
                              f"{review.blind_label(self.index)}.", "error")
                else:
                    self.view = None
                    self._show_empty(f"{label} could not be shown.", sign_in=False)
                return
        self._opening = None
        self.sig_answer_shown.emit(opened.view.answer_id)

    def _switch_to(self, opened: OpenedAnswer) -> None:
        """Everything on screen and every key's target to `opened`, together (raises if a widget refuses)."""
        self.view, self.reveal, self.flags = opened.view, opened.reveal, opened.flags
        self._documents = (opened.conversation, opened.answer, opened.shared, opened.own_texts)
        view = self.view
        if view.answer_id in self.queue:
            self.index = self.queue.index(view.answer_id)
        label = review.blind_label(self.index)
        self.conversation_view.show_document(opened.conversation)
        self.answer_heading.setText(f"{label.upper()} · TO GRADE")
        self._show_finish(view.finish_reason)
        self.answer_view.show_document(opened.answer)
        self._show_drafts_button()
        rows = self.checklist.ensure_rows(len(view.criteria))
        for row in self.checklist.rows[self._wired_rows:]:  # rows are pooled: wire each new one once
            row.sig_comment_done.connect(self._on_comment_done)
            row.sig_comment_cancelled.connect(self._on_comment_cancelled)
            row.sig_verdict_clicked.connect(self._on_verdict_clicked)
            row.sig_flag_clicked.connect(self._on_flag_clicked)
        self._wired_rows = len(self.checklist.rows)
        shared = opened.shared
        members = set(shared.members) if shared else set()
        self.checklist.set_shared(shared)
        for i, (row, criterion) in enumerate(zip(rows, view.criteria)):
            own = opened.own_texts[i] if opened.own_texts and i in members else None
            row.set_criterion(criterion.position + 1, criterion.text, criterion.points, criterion.axis, own=own)
            row.set_verdict(view.verdicts.get(criterion.id))
            row.set_comment(view.comments.get(criterion.id))
            self._show_flag(row, criterion.id)
            row.end_comment()
        self._show_reveal()
        self.answer_comment.blockSignals(True)
        self.answer_comment.setPlainText(view.review_comment)
        self.answer_comment.blockSignals(False)
        self.unsafe_box.setChecked(view.unsafe)
        self._set_working(True)
        self.banner.setVisible(False)
        missing = view.missing()
        first = next((i for i, c in enumerate(view.criteria) if c.id in missing), 0)
        self.checklist.set_current(first)
        self.checklist.verticalScrollBar().setValue(0)
        self._update_texts()
        self.clock.reset()
        self.clock.touch()
        if self.isVisible():
            self.checklist.setFocus()

    def _show_finish(self, finish_reason: str | None) -> None:
        label = incomplete_label(finish_reason)
        self.finish_badge.setVisible(label is not None)
        if label is not None:
            self.finish_badge.setText(FINISH_BADGES[finish_reason])
            self.finish_badge.setToolTip(f"{label}: the model's reply ended here ({finish_reason}). Grade the text "
                                         "shown. Results counts such answers; `healthqa score --exclude-truncated` "
                                         "leaves them out.")

    def _show_progress(self, progress: review.Progress) -> None:
        self._progress = progress
        self.progress_bar.setMaximum(max(progress.total, 1))
        self.progress_bar.setValue(progress.submitted)
        self.progress_text.setText(f"{progress.submitted} of {progress.total} submitted")
        self._update_texts()

    def _update_texts(self) -> None:
        progress = getattr(self, "_progress", None)
        if self.view is None or progress is None:
            return
        self.position.setText(progress.position_text(self.index).capitalize())
        missing = len(self.view.missing())
        total = len(self.view.criteria)
        need = f"{missing} still need a verdict" if missing else "all have a verdict"
        self.rubric_title.setText(f"RUBRIC · {total} CRITERIA · {need.upper()}")
        if self.view.model is None:
            self.blind_badge.setObjectName("blindBadge")
            self.blind_badge.setText("Model hidden until you submit")
            self.blind_badge.setToolTip("")
            self.blind_icon.setPixmap(look.icon("hidden").pixmap(20, 20))
        else:
            self.blind_badge.setObjectName("revealBadge")
            self.blind_badge.setText(self.blind_badge.fontMetrics().elidedText(
                f"Model: {self.view.model}", Qt.TextElideMode.ElideRight, 280))
            self.blind_badge.setToolTip(plain_tooltip(self.view.model))
            self.blind_icon.setPixmap(look.icon("visible").pixmap(20, 20))
        look.repolish(self.blind_badge)
        self.submit_button.setText("Next answer  (Enter)" if self.view.submitted else "Submit  (Enter)")
        self.prev_button.setEnabled(self.index > 0)
        self.next_button.setEnabled(self.index < len(self.queue) - 1)

    def _show_reveal(self) -> None:
        """Graders' verdicts on each row after submitting; nothing of them before."""
        view, reveal = self.view, self.reveal
        for row, criterion in zip(self.checklist.rows, view.criteria):
            if reveal is None:
                row.set_grader(None)
                continue
            verdicts = reveal.graders.get(criterion.id, [])
            # the verdict first: if the line is cut, only the grader's name loses letters
            lines = [f"{verdict_info(g.verdict).label} — model grader {g.rater}" for g in verdicts]
            explanations = "\n".join(f"{_short(g.rater)}: {g.explanation[:300]}" if len(verdicts) > 1
                                     else g.explanation[:300] for g in verdicts if g.explanation)
            differs = any(review.disagrees(view.verdicts.get(criterion.id), g.verdict) for g in verdicts)
            row.set_grader(lines, explanations, disagree=differs, verdict=verdicts[0].verdict if verdicts else None)

    def _show_drafts_button(self) -> None:
        """Offered only after the reveal, for an answer composed from drafts; the final answer shows first."""
        drafts = self.reveal.drafts if self.reveal is not None else []
        self.drafts_button.blockSignals(True)
        self.drafts_button.setChecked(False)
        self.drafts_button.blockSignals(False)
        self.drafts_button.setText(f"Drafts ({len(drafts)})" if drafts else "Drafts")
        self.drafts_button.setVisible(bool(drafts))

    def _on_drafts_toggled(self, shown: bool) -> None:
        if self.view is None:
            return
        drafts = self.reveal.drafts if self.reveal is not None else []
        if shown and drafts:
            # Model text: rendered on the io pool like the answer (the same answer stays current meanwhile).
            answer_id = self.view.answer_id
            self.ctx.ops.run(render_answer, drafts_markdown(drafts), io=True, key="grading.drafts", owner=self,
                             on_done=lambda document: self._show_drafts(answer_id, len(drafts), document))
        else:
            self.answer_heading.setText(f"{review.blind_label(self.index).upper()} · TO GRADE")
            self.answer_view.show_document(self._documents[1])  # the answer as rendered when it was opened

    def _show_drafts(self, answer_id: str, count: int, document: RenderedDocument) -> None:
        if self.view is not None and self.view.answer_id == answer_id and self.drafts_button.isChecked():
            self.answer_heading.setText(f"{review.blind_label(self.index).upper()} · {count} DRAFTS")
            self.answer_view.show_document(document)

    def _show_empty(self, text: str, *, sign_in: bool) -> None:
        self.empty.setText(text)
        self.sign_in_button.setVisible(sign_in)
        self._set_working(False)
        self.position.setText("")
        self.blind_badge.setText("")
        self.blind_badge.setObjectName("")
        self.blind_icon.clear()

    def _set_working(self, working: bool) -> None:
        """The grading page with its controls, or the empty page without them."""
        self.pages.setCurrentIndex(1 if working else 0)
        for widget in (self.prev_button, self.next_button, self.progress_bar, self.progress_text, self.legend):
            widget.setVisible(working)

    def _say(self, text: str, tone: str = "info") -> None:
        show_banner(self.banner, text, tone)

    # -- private: actions ----------------------------------------------------------------------
    def _on_action(self, action: str) -> None:
        if self.view is None:
            return
        self.clock.touch()
        if action in (A.PREV_ANSWER, A.NEXT_ANSWER):
            self._move(-1 if action == A.PREV_ANSWER else 1)
        elif self._opening is not None:
            # What is on screen is about to change: a verdict now would be meant for an answer not
            # yet shown. Refuse it in words rather than guess.
            self._say(f"{review.blind_label(self._opening_index)} is still opening — that key was not "
                      f"applied. Press it again once the answer is shown.", "warning")
        elif action == A.PREV_CRITERION:
            self.checklist.set_current(self.checklist.current - 1)
        elif action == A.NEXT_CRITERION:
            self.checklist.set_current(self.checklist.current + 1)
        elif action in VERDICTS:
            self._set_verdict(action)
        elif action == A.CLEAR:
            self._set_verdict(None, advance=False)
        elif action == A.EXPAND:
            self.checklist.toggle_current()
        elif action == A.SHARED:
            self.checklist.shared_box.toggle()
        elif action == A.COMMENT:
            self._start_comment()
        elif action == A.FLAG:
            self._open_flag_dialog()
        elif action == A.UNSAFE:
            self.unsafe_box.setChecked(not self.unsafe_box.isChecked())
            self._on_unsafe_clicked()
        elif action == A.SUBMIT:
            self._submit()

    def _move(self, step: int) -> None:
        """Previous / next answer, counted from the one on its way if there is one (→ → skips two)."""
        if step < 0:
            self.open_index(self._target_index() - 1)
        else:
            self._next_answer()

    def _target_index(self) -> int:
        return self._opening_index if self._opening is not None else self.index

    def _set_verdict(self, verdict: str | None, *, advance: bool = True) -> None:
        view, index = self.view, self.checklist.current
        if not view.criteria:
            return
        criterion = view.criteria[index]
        view.verdicts[criterion.id] = verdict
        self.checklist.rows[index].set_verdict(verdict)
        self.ctx.ops.run(_save_verdict, self.ctx.ws, view.answer_id, criterion.id, self.rater_id, verdict,
                         self.clock.take("grade"), self.clock.take("review"), owner=self,
                         on_done=lambda _=None, cid=criterion.id: self.sig_saved.emit(cid))
        if self.reveal is not None:
            self._show_reveal()
            self._say("Changed after the reveal — the grade history keeps your earlier verdict too.", "warning")
        if advance and index < self.checklist.count - 1:
            self.checklist.set_current(index + 1)
        self._update_texts()

    def _on_verdict_clicked(self, index: int, verdict: str) -> None:
        self.clock.touch()
        self.checklist.setFocus()
        if self._opening is not None:
            self._on_action(verdict)  # refused in words, like the key
            return
        self.checklist.set_current(index)
        self._set_verdict(verdict)

    def _start_comment(self) -> None:
        view, index = self.view, self.checklist.current
        if not view.criteria:
            return
        row = self.checklist.rows[index]
        row.start_comment(view.comments.get(view.criteria[index].id, ""))

    def _on_comment_done(self, index: int, text: str) -> None:
        view = self.view
        criterion = view.criteria[index]
        text = text.strip()
        if text != view.comments.get(criterion.id, ""):
            view.comments[criterion.id] = text
            self.ctx.ops.run(review.record_grade, self.ctx.ws, view.answer_id, criterion.id, self.rater_id,
                             comment=text, active_seconds=self.clock.take("grade"), owner=self,
                             on_done=lambda _=None, cid=criterion.id: self.sig_saved.emit(cid))
        row = self.checklist.rows[index]
        row.set_comment(text)
        self._on_comment_cancelled(index)

    def _on_comment_cancelled(self, index: int) -> None:
        self.checklist.rows[index].end_comment()
        self.clock.touch()
        self.checklist.setFocus()

    def _on_flag_clicked(self, index: int) -> None:
        self.clock.touch()
        self.checklist.set_current(index)
        self._open_flag_dialog()

    def _open_flag_dialog(self) -> None:
        view, index = self.view, self.checklist.current
        if not view.criteria:
            return
        criterion = view.criteria[index]
        dialog = FlagDialog(criterion.position + 1, criterion.text, self.flags.get(criterion.id), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.sig_flag.connect(lambda reason, comment, cid=criterion.id: self._save_flag(cid, reason, comment))
        dialog.sig_unflag.connect(lambda cid=criterion.id: self._save_flag(cid, None, ""))
        dialog.finished.connect(self._on_flag_dialog_finished)
        self.flag_dialog = dialog
        dialog.open()  # not exec(): the window keeps running

    def _on_flag_dialog_finished(self) -> None:
        self.flag_dialog = None
        self.clock.touch()
        self.checklist.setFocus()

    def _save_flag(self, criterion_id: str, reason: str | None, comment: str) -> None:
        """Flag (reason given) or unflag (None) at once, like a verdict."""
        if reason is None:
            self.flags.pop(criterion_id, None)
            call, args = unflag_criterion, (criterion_id, self.rater_name)
        else:
            self.flags[criterion_id] = (reason, comment)
            call, args = flag_criterion, (criterion_id, self.rater_name, reason, comment or None)
        ids = [c.id for c in self.view.criteria] if self.view else []
        if criterion_id in ids:
            self._show_flag(self.checklist.rows[ids.index(criterion_id)], criterion_id)
        self.ctx.ops.run(call, self.ctx.ws, *args, owner=self,
                         on_done=lambda _=None: self.sig_flag_saved.emit(criterion_id),
                         on_error=lambda message, exc: self._say(message, "error"))

    def _show_flag(self, row, criterion_id: str) -> None:
        flag = self.flags.get(criterion_id)
        row.set_flag(flag_marker_text(flag[0]) if flag else None, flag[1] if flag else None)

    def _on_unsafe_clicked(self) -> None:
        self.clock.touch()
        if self.view is not None:
            self.view.unsafe = self.unsafe_box.isChecked()
            self.ctx.ops.run(save_review, self.ctx.ws, self.view.answer_id, self.rater_id,
                             unsafe=self.view.unsafe)

    def _on_answer_comment_changed(self) -> None:
        self.clock.touch()
        self._comment_timer.start()

    def _save_answer_comment(self) -> None:
        self._comment_timer.stop()
        if self.view is None:
            return
        text = self.answer_comment.toPlainText()
        if text != self.view.review_comment:
            self.view.review_comment = text
            self.ctx.ops.run(save_review, self.ctx.ws, self.view.answer_id, self.rater_id, comment=text)

    def _submit(self) -> None:
        view = self.view
        if view.submitted:  # Enter on a submitted answer: on to the next
            self._next_answer()
            return
        missing = view.missing()
        if missing:
            numbers = ", ".join(f"#{c.position + 1}" for c in view.criteria if c.id in missing)
            noun = "criterion still needs" if len(missing) == 1 else "criteria still need"
            self._say(f"{len(missing)} {noun} a verdict: {numbers}. Use Y, N or ? on each.", "warning")
            self.checklist.set_current(next(i for i, c in enumerate(view.criteria) if c.id in missing))
            return
        self._comment_timer.stop()
        self.view.review_comment = self.answer_comment.toPlainText()
        self.ctx.ops.run(review.submit_answer, self.ctx.ws, view.answer_id, self.rater_id,
                         comment=self.view.review_comment, unsafe=self.unsafe_box.isChecked(),
                         active_seconds=self.clock.take("review"), on_done=self._on_submitted,
                         on_error=lambda message, exc: self._say(message, "error"))

    def _on_submitted(self, reveal: Reveal) -> None:
        view = self.view
        view.submitted, view.model, self.reveal = True, reveal.model, reveal
        self._submitted.add(view.answer_id)
        self._show_reveal()
        self._show_drafts_button()
        self._update_texts()
        label = review.blind_label(self.index)
        self.sig_submitted.emit(view.answer_id)
        if reveal.disagreements:
            self.show_reveal_summary()
            return
        agreed = " The model grader agreed on every criterion." if reveal.graders else ""
        self.sig_status.emit(f"{label} submitted.{agreed}")
        self._next_answer()

    def _next_answer(self) -> None:
        index = self._target_index()
        if index < len(self.queue) - 1:
            self.open_index(index + 1)
            return
        open_left = [i for i, a in enumerate(self.queue) if a not in self._submitted]
        if open_left:
            self._say(f"This is the last answer in your queue; {len(open_left)} earlier ones are not "
                      f"submitted yet (first: {review.blind_label(open_left[0])}).", "info")
        else:
            self._say("All answers in your queue are submitted. Thank you!", "success")

    def _leave_answer(self) -> None:
        """Credit the active time of the open answer before another one opens."""
        if self.view is None or self.rater_id is None:
            return
        if self._comment_timer.isActive():
            self._save_answer_comment()
        seconds = self.clock.take("review")
        if seconds > 0:
            self.ctx.ops.run(save_review, self.ctx.ws, self.view.answer_id, self.rater_id,
                             active_seconds=seconds)

    # -- Qt overrides -------------------------------------------------------------------------
    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Escape:  # back to the checklist from any field
            self.checklist.setFocus()
            return
        super().keyPressEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if not self._split_done and self._splitter.width() > 0:  # first layout: answer 47 %, rubric 53 %
            self._split_done = True
            width = self._splitter.width()
            self._splitter.setSizes([int(width * 0.47), width - int(width * 0.47)])

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(1090, 760)


PANEL = GradingPanel
