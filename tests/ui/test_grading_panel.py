"""The grading panel driven from the keyboard, checked against the SQLite file itself."""

import os
import subprocess
import sys
import textwrap

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractButton, QComboBox, QLabel, QLineEdit, QPlainTextEdit, QTextBrowser,
                               QWidget)

from healthqa import review, store
from tests.conftest import file_rows as db_rows
from tests.core.provider_servers import openai_server  # noqa: F401  (fixture)
from tests.ui.conftest import graded_rows, import_rows, wait_idle
from ui.context import RaterIdentity
from ui.panels.grading import GradingPanel

SECRET_MODEL = "secret-model-xyz"
OTHER_MODEL = "other-model-abc"
GRADER = "grader-q7"


@pytest.fixture
def grading(make_ctx, qtbot, tmp_path):
    """A workspace with one question and two answers (model grader verdicts on both), the panel shown."""

    def make(*, with_grader: bool = True):
        ctx = make_ctx(rater="Dr A")
        verdicts = {SECRET_MODEL: [False, True, False], OTHER_MODEL: [True, True, False]}
        rows = graded_rows(verdicts if with_grader else dict.fromkeys(verdicts))
        import_rows(ctx.ws, tmp_path, rows, rater=GRADER if with_grader else None, rater_kind="model")
        panel = GradingPanel(ctx)
        qtbot.addWidget(panel)
        with qtbot.waitSignal(panel.sig_answer_shown, timeout=5000):
            panel.show()
        panel.checklist.setFocus()
        return ctx, panel

    return make


def press(qtbot, panel, *keys):
    for key in keys:
        if isinstance(key, str):
            qtbot.keyClicks(panel.checklist, key)
        else:
            qtbot.keyClick(panel.checklist, key)


def all_widget_text(root: QWidget) -> str:
    """Every piece of text a person (or a screen reader) could get from these widgets."""
    parts = []
    for widget in [root, *root.findChildren(QWidget)]:
        parts += [widget.toolTip(), widget.accessibleName(), widget.accessibleDescription(), widget.windowTitle(),
                  widget.statusTip(), widget.whatsThis()]
        if isinstance(widget, (QLabel, QAbstractButton, QLineEdit)):
            parts.append(widget.text())
        if isinstance(widget, QPlainTextEdit):
            parts.append(widget.toPlainText())
        if isinstance(widget, QTextBrowser):
            parts += [widget.toPlainText(), widget.toHtml()]
        if isinstance(widget, QComboBox):
            parts += [widget.itemText(i) for i in range(widget.count())]
    return "\n".join(p for p in parts if p)


def test_keyboard_only_grading_stores_every_verdict_and_the_active_time(grading, qtbot, clock):
    ctx, panel = grading(with_grader=False)
    first = panel.current_answer_id()
    criteria = [c.id for c in panel.view.criteria]
    assert panel.position.text() == "Answer 1 of 2"
    clock.advance(4)
    press(qtbot, panel, Qt.Key.Key_Y)  # criterion 1: met, moves on
    clock.advance(3)
    press(qtbot, panel, Qt.Key.Key_N)  # 2: not met
    clock.advance(2)
    press(qtbot, panel, "?")  # 3: cannot judge
    press(qtbot, panel, Qt.Key.Key_K, Qt.Key.Key_Up)  # back to criterion 1
    assert panel.checklist.current == 0
    press(qtbot, panel, Qt.Key.Key_C)
    editor = panel.checklist.rows[0].comment_edit
    assert editor.hasFocus()
    qtbot.keyClicks(editor, "asks about weight bearing")
    with qtbot.waitSignal(panel.sig_saved):
        qtbot.keyClick(editor, Qt.Key.Key_Return)  # keeps the comment, does not submit
    assert panel.checklist.hasFocus() and not panel.view.submitted
    press(qtbot, panel, Qt.Key.Key_U)
    clock.advance(5)
    with qtbot.waitSignal(panel.sig_answer_shown, timeout=5000):  # Enter: submit, then the next answer
        press(qtbot, panel, Qt.Key.Key_Return)
    assert panel.current_answer_id() != first
    assert panel.position.text() == "Answer 2 of 2"
    wait_idle(qtbot, ctx)

    grades = {g["criterion_id"]: g for g in db_rows(ctx.ws.path, "SELECT * FROM grades WHERE answer_id = ? "
                                                    "AND rater_id = ?", (first, ctx.rater.id))}
    assert [grades[c]["verdict"] for c in criteria] == ["met", "not_met", "cannot_judge"]
    assert grades[criteria[0]]["explanation"] == "asks about weight bearing"
    assert [grades[c]["active_seconds"] for c in criteria] == [4, 3, 2]
    [saved] = db_rows(ctx.ws.path, "SELECT * FROM answer_reviews WHERE answer_id = ?", (first,))
    assert saved["submitted_at"] and saved["unsafe"] == 1
    assert saved["active_seconds"] == 14  # 4 + 3 + 2 + 5: every second between actions


def test_idle_pauses_over_a_minute_are_not_counted(grading, qtbot, clock):
    ctx, panel = grading(with_grader=False)
    answer = panel.current_answer_id()
    clock.advance(10)
    press(qtbot, panel, Qt.Key.Key_Y)
    clock.advance(300)  # the clinician went for coffee
    press(qtbot, panel, Qt.Key.Key_Y)
    clock.advance(61)
    press(qtbot, panel, Qt.Key.Key_N)
    clock.advance(60)  # exactly the limit still counts
    with qtbot.waitSignal(panel.sig_answer_shown):
        press(qtbot, panel, Qt.Key.Key_Right)  # leaving credits the time
    wait_idle(qtbot, ctx)
    [saved] = db_rows(ctx.ws.path, "SELECT active_seconds, submitted_at FROM answer_reviews WHERE answer_id = ?",
                      (answer,))
    assert saved == {"active_seconds": 70, "submitted_at": None}
    seconds = sorted(g["active_seconds"] for g in db_rows(ctx.ws.path, "SELECT active_seconds FROM grades "
                                                          "WHERE rater_id = ?", (ctx.rater.id,)))
    assert seconds == [0, 0, 10]


def test_submit_with_missing_verdicts_is_refused_and_jumps_to_the_first(grading, qtbot):
    ctx, panel = grading(with_grader=False)
    press(qtbot, panel, Qt.Key.Key_J, Qt.Key.Key_Y)  # only criterion 2
    press(qtbot, panel, Qt.Key.Key_Enter)
    assert panel.banner.isVisible()
    assert "2 criteria still need a verdict: #1, #3" in panel.banner.text()
    assert panel.checklist.current == 0
    wait_idle(qtbot, ctx)
    assert not review.is_submitted(ctx.ws, panel.current_answer_id(), ctx.rater.id)


def test_graders_are_hidden_until_submit_then_disagreements_show_and_a_change_is_kept(grading, qtbot):
    ctx, panel = grading()
    answer = panel.current_answer_id()
    view = review.load_answer(ctx.ws, answer, ctx.rater.id)  # which model is this? (the test may know)
    model = ctx.ws.scalar("SELECT model FROM answers WHERE id = ?", (answer,))
    grader_says = {SECRET_MODEL: ["not_met", "met", "not_met"], OTHER_MODEL: ["met", "met", "not_met"]}[model]
    text_before = all_widget_text(panel)
    assert GRADER not in text_before and "grader thinks" not in text_before
    assert not any(row._grader_box.isVisible() for row in panel.checklist.rows)
    press(qtbot, panel, Qt.Key.Key_Y, Qt.Key.Key_Y, Qt.Key.Key_Y)  # met, met, met
    with qtbot.waitSignal(panel.sig_submitted):
        press(qtbot, panel, Qt.Key.Key_Return)
    differ = [i for i, v in enumerate(grader_says) if v != "met"]
    rows = panel.checklist.rows
    assert all(rows[i]._grader_box.isVisible() for i in range(3))
    assert rows[differ[0]].grader.text() == f"Not met — model grader {GRADER}"
    assert rows[differ[0]].explanation.text() == "grader thinks False"
    assert [bool(rows[i].property("disagree")) for i in range(3)] == [i in differ for i in range(3)]
    assert f"differs from you on {len(differ)} of 3" in panel.banner.text()
    assert panel.current_answer_id() == answer  # stays, so the clinician can look
    # change the last disagreeing verdict after the reveal
    panel.checklist.set_current(differ[-1])
    with qtbot.waitSignal(panel.sig_saved):
        press(qtbot, panel, Qt.Key.Key_N)
    wait_idle(qtbot, ctx)
    history = db_rows(ctx.ws.path, "SELECT old_verdict, new_verdict, reason FROM grade_history "
                      "WHERE answer_id = ? AND rater_id = ?", (answer, ctx.rater.id))
    assert history == [{"old_verdict": "met", "new_verdict": "not_met", "reason": "after_reveal"}]
    assert not rows[differ[-1]].property("disagree")
    assert view.criteria[differ[-1]].id in review.reveal(ctx.ws, answer, ctx.rater.id).graders


def test_no_model_name_anywhere_before_the_reveal(grading, qtbot):
    ctx, panel = grading()
    model = ctx.ws.scalar("SELECT model FROM answers WHERE id = ?", (panel.current_answer_id(),))
    before = all_widget_text(panel)
    assert SECRET_MODEL not in before and OTHER_MODEL not in before
    assert "Answer 1" in before and "Model hidden" in before
    press(qtbot, panel, Qt.Key.Key_Y, Qt.Key.Key_Y, Qt.Key.Key_Y)
    with qtbot.waitSignal(panel.sig_submitted):
        press(qtbot, panel, Qt.Key.Key_Return)
    assert model in all_widget_text(panel)  # the same search finds it once revealed
    wait_idle(qtbot, ctx)


def test_previous_and_next_answers_from_the_keyboard(grading, qtbot):
    ctx, panel = grading(with_grader=False)
    first = panel.current_answer_id()
    with qtbot.waitSignal(panel.sig_answer_shown):
        press(qtbot, panel, Qt.Key.Key_Right)
    second = panel.current_answer_id()
    assert second != first and panel.position.text() == "Answer 2 of 2"
    press(qtbot, panel, Qt.Key.Key_Right)  # the end: a message, no move
    assert panel.current_answer_id() == second and "last answer" in panel.banner.text()
    with qtbot.waitSignal(panel.sig_answer_shown):
        press(qtbot, panel, Qt.Key.Key_Left)
    assert panel.current_answer_id() == first
    assert panel.legend.text().count("/") >= 3 and "Y met" in panel.legend.text()
    wait_idle(qtbot, ctx)


def test_a_queue_reload_while_the_next_answer_loads_keeps_the_new_position(grading, qtbot):
    """A change notice can reload the queue between Enter/→ and the next answer's arrival:
    the position must follow the answer on its way, not fall back to the one just left."""
    from ui.panels.grading import _load_queue

    ctx, panel = grading(with_grader=False)
    reloaded = _load_queue(ctx.ws, panel.rater_id)
    second = panel.queue[1]
    with qtbot.waitSignal(panel.sig_answer_shown):
        press(qtbot, panel, Qt.Key.Key_Right)
        panel._on_queue(reloaded)  # the reload lands before the answer does
    assert panel.current_answer_id() == second
    assert panel.index == 1 and panel.position.text() == "Answer 2 of 2"
    wait_idle(qtbot, ctx)


def test_the_queue_order_is_the_clinicians_own(grading, qtbot):
    ctx, panel = grading(with_grader=False)
    assert panel.queue == review.grading_queue(ctx.ws, ctx.rater.id)
    wait_idle(qtbot, ctx)


def test_another_clinician_gets_their_own_queue_and_verdicts(grading, qtbot):
    ctx, panel = grading(with_grader=False)
    press(qtbot, panel, Qt.Key.Key_Y)
    other = RaterIdentity(store.ensure_rater(ctx.ws, "Dr B"), "Dr B")
    with qtbot.waitSignal(panel.sig_answer_shown):
        ctx.set_rater(other)
    assert panel.rater_id == other.id
    assert panel.queue == review.grading_queue(ctx.ws, other.id)
    assert not any(panel.view.verdicts.values())  # Dr A's verdict is not shown as Dr B's
    press(qtbot, panel, Qt.Key.Key_N)
    wait_idle(qtbot, ctx)
    signed = {r["name"] for r in db_rows(ctx.ws.path, "SELECT r.name FROM grades g JOIN raters r "
                                                      "ON r.id = g.rater_id")}
    assert signed == {"Dr A", "Dr B"}


def test_no_clinician_means_a_request_to_sign_in(make_ctx, qtbot):
    ctx = make_ctx(rater=None)
    panel = GradingPanel(ctx)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(lambda: panel.sign_in_button.isVisible())
    with qtbot.waitSignal(ctx.sig_identity_requested):
        qtbot.mouseClick(panel.sign_in_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, ctx)


CRASHING_GRADER = textwrap.dedent("""
    import os, sys
    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication
    from healthqa import store
    from ui import look
    from ui.context import AppContext, RaterIdentity
    from ui.panels.grading import GradingPanel

    def run_until(signal, count, start):
        loop, seen = QEventLoop(), []
        signal.connect(lambda *args: (seen.append(args), len(seen) >= count and loop.quit()))
        QTimer.singleShot(10000, loop.quit)  # never hang the test
        start()
        if len(seen) < count:
            loop.exec()

    app = QApplication([])
    look.register_resources()
    ws = store.Workspace(sys.argv[1])
    ctx = AppContext(ws, rater=RaterIdentity(store.ensure_rater(ws, "Dr A"), "Dr A"))
    panel = GradingPanel(ctx)
    run_until(panel.sig_answer_shown, 1, panel.show)
    panel.checklist.setFocus()
    keys = lambda: [QTest.keyClick(panel.checklist, key) for key in (Qt.Key.Key_Y, Qt.Key.Key_N)]
    run_until(panel.sig_saved, 2, keys)
    print(panel.current_answer_id(), flush=True)
    os._exit(9)  # a crash: no close, no checkpoint, no Qt clean-up
""")



def test_a_crash_mid_grading_loses_no_verdict(tmp_path):
    path = tmp_path / "crash.healthqa"
    with store.Workspace(path) as ws:
        import_rows(ws, tmp_path, graded_rows({SECRET_MODEL: None}))
    script = tmp_path / "crash.py"
    script.write_text(CRASHING_GRADER)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": os.getcwd()}
    proc = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True, env=env,
                          timeout=60, cwd=os.getcwd())
    assert proc.returncode == 9, proc.stderr
    answer = proc.stdout.strip().splitlines()[-1]
    with store.Workspace(path) as ws:  # reopen the file the crashed process left
        rater = store.rater_id_by_name(ws, "Dr A")
        view = review.load_answer(ws, answer, rater)
        assert [view.verdicts.get(c.id) for c in view.criteria] == ["met", "not_met", None]


def test_a_contemplating_answers_drafts_show_only_after_the_reveal(make_ctx, qtbot, openai_server):
    import asyncio

    from healthqa.runs import create_run, execute_run
    from tests.core.provider_servers import answer_for
    from tests.core.test_contemplating import draft_responder
    from tests.core.test_runs import add_config, add_questions, question_text

    ctx = make_ctx(rater="Dr A")
    openai_server.responder = draft_responder
    add_questions(ctx.ws, 1)
    add_config(ctx.ws, openai_server, reasoning="low")
    run_id = create_run(ctx.ws, model_name="m", set_name="S", mode="contemplating", drafts=2)
    asyncio.run(execute_run(ctx.ws, run_id, api_key=openai_server.api_key))
    draft_text = answer_for(question_text(0))
    panel = GradingPanel(ctx)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.sig_answer_shown, timeout=5000):
        panel.show()
    panel.checklist.setFocus()

    before = all_widget_text(panel)
    assert "Final: " in before  # the composed answer is what is graded
    assert draft_text not in before and "Drafts (" not in before and not panel.drafts_button.isVisible()
    press(qtbot, panel, Qt.Key.Key_Y, Qt.Key.Key_Y, Qt.Key.Key_Y)
    with qtbot.waitSignal(panel.sig_submitted):
        press(qtbot, panel, Qt.Key.Key_Return)
    assert panel.drafts_button.isVisible() and panel.drafts_button.text() == "Drafts (2)"
    assert draft_text not in panel.answer_view.toPlainText()  # the final answer stays in view until asked
    qtbot.mouseClick(panel.drafts_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "2 DRAFTS" in panel.answer_heading.text())  # rendered off the GUI thread
    shown = panel.answer_view.toPlainText()
    assert shown.count(draft_text) == 2 and "Draft 1" in shown and "Draft 2" in shown
    assert "2 DRAFTS" in panel.answer_heading.text()
    qtbot.mouseClick(panel.drafts_button, Qt.MouseButton.LeftButton)
    assert "Final: " in panel.answer_view.toPlainText()
    wait_idle(qtbot, ctx)


def test_an_answer_cut_off_or_filtered_is_marked(make_ctx, qtbot, tmp_path):
    ctx = make_ctx(rater="Dr A")
    import_rows(ctx.ws, tmp_path, graded_rows(dict.fromkeys([SECRET_MODEL, OTHER_MODEL])), rater=None,
                rater_kind="model")
    with ctx.ws.transaction({"answers"}) as conn:  # as a run stores it (tests/core/test_incomplete_answers.py)
        conn.execute("UPDATE answers SET finish_reason = 'length' WHERE model = ?", (SECRET_MODEL,))
    panel = GradingPanel(ctx)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.sig_answer_shown, timeout=5000):
        panel.show()
    seen = {}
    for index in range(2):
        if index:
            with qtbot.waitSignal(panel.sig_answer_shown, timeout=5000):
                panel.open_index(index)
        model = ctx.ws.query_one("SELECT model FROM answers WHERE id = ?", (panel.current_answer_id(),))["model"]
        seen[model] = panel.finish_badge.isVisibleTo(panel)
        if seen[model]:
            assert panel.finish_badge.text() == "Cut off: output limit reached"
            assert "exclude-truncated" in panel.finish_badge.toolTip()
            assert SECRET_MODEL not in all_widget_text(panel)  # the badge does not unblind
    assert seen == {SECRET_MODEL: True, OTHER_MODEL: False}
