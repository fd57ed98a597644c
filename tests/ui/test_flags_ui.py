"""Flagging a rubric item in the Grading panel: keyboard, marker in words, autosaved, withdrawn.

Checked against the workspace file through a connection of its own.
"""

from __future__ import annotations


import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from healthqa.review import FLAG_REASONS, list_flags
from tests.conftest import file_rows
from tests.ui.conftest import graded_rows, import_rows, wait_idle
from ui.dialogs.flag_dialog import REASON_TEXT, flag_marker_text
from ui.panels.grading import GradingPanel


def stored_flags(path) -> list[dict]:
    return file_rows(path, """SELECT c.position, r.name AS rater, f.reason, f.comment FROM criterion_flags f
                              JOIN criteria c ON c.id = f.criterion_id JOIN raters r ON r.id = f.rater_id
                              ORDER BY c.position""")


@pytest.fixture
def panel(make_ctx, qtbot, tmp_path):
    """One question with answers by two models, Dr A grading."""
    ctx = make_ctx(rater="Dr A")
    import_rows(ctx.ws, tmp_path, graded_rows({"m1": None, "m2": None}))
    grading = GradingPanel(ctx)
    qtbot.addWidget(grading)
    grading.resize(1200, 800)
    with qtbot.waitSignal(grading.sig_answer_shown, timeout=5000):
        grading.show()
    grading.checklist.setFocus()
    return grading


def focused():
    return QApplication.focusWidget()


def open_dialog_with_key(qtbot, panel):
    qtbot.keyClick(panel.checklist, Qt.Key.Key_F)
    dialog = panel.flag_dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.reasons.hasFocus())
    return dialog


def test_every_stored_reason_has_words_and_the_key_is_in_the_legend(panel, qtbot):
    assert set(REASON_TEXT) == set(FLAG_REASONS)
    assert flag_marker_text("wrong_sign") == "⚑ flagged: wrong sign"
    assert "F flag rubric item" in panel.legend.text()
    assert panel.legend.isVisible()
    wait_idle(qtbot, panel.ctx)


def test_flagging_with_the_keyboard_stores_the_flag_and_shows_the_marker(panel, qtbot):
    ctx = panel.ctx
    verdicts_before = dict(panel.view.verdicts)
    qtbot.keyClick(panel.checklist, Qt.Key.Key_J)  # the second rubric item
    dialog = open_dialog_with_key(qtbot, panel)
    assert dialog.windowTitle() == "Flag rubric item #2"
    assert dialog.values()[0] is None and not dialog.flag_button.isEnabled()  # no reason chosen for you
    qtbot.keyClicks(focused(), "3")  # the number picks "Ambiguous"
    assert dialog.values()[0] == "ambiguous" and dialog.flag_button.isEnabled()
    qtbot.keyClick(focused(), Qt.Key.Key_Tab)
    assert dialog.comment.hasFocus()
    qtbot.keyClicks(focused(), "what counts as severe pain?")
    with qtbot.waitSignal(panel.sig_flag_saved, timeout=5000) as saved:
        qtbot.keyClick(focused(), Qt.Key.Key_Return)
    assert saved.args[0] == panel.view.criteria[1].id
    assert panel.flag_dialog is None
    # back to grading: the checklist has the window's focus again (offscreen, no window is re-activated)
    assert panel.window().focusWidget() is panel.checklist

    assert stored_flags(ctx.ws.path) == [
        {"position": 1, "rater": "Dr A", "reason": "ambiguous", "comment": "what counts as severe pain?"}]
    row = panel.checklist.rows[1]
    assert row.flag_text() == "⚑ flagged: ambiguous"  # the marker in words, not colour alone
    assert row.flag_note.text() == "“what counts as severe pain?”"
    assert "Change or remove your flag" in row.flag_button.toolTip()
    assert [r.flag_text() for i, r in enumerate(panel.checklist.rows[:3]) if i != 1] == ["", ""]
    assert panel.view.verdicts == verdicts_before  # a flag is not a verdict

    with qtbot.waitSignal(panel.sig_answer_shown, timeout=5000):  # the other model's answer, same rubric
        qtbot.keyClick(panel.checklist, Qt.Key.Key_Right)
    assert panel.checklist.rows[1].flag_text() == "⚑ flagged: ambiguous"  # loaded from the file
    wait_idle(qtbot, ctx)


def test_flagging_again_changes_the_reason_and_unflag_withdraws_it(panel, qtbot):
    ctx = panel.ctx
    dialog = open_dialog_with_key(qtbot, panel)  # item #1
    assert dialog.unflag_button is None  # nothing to withdraw yet
    qtbot.keyClick(focused(), Qt.Key.Key_Return)  # Enter before choosing a reason flags nothing
    assert dialog.isVisible()
    qtbot.keyClick(focused(), Qt.Key.Key_Down)  # the first reason: wrong sign
    with qtbot.waitSignal(panel.sig_flag_saved, timeout=5000):
        qtbot.keyClick(focused(), Qt.Key.Key_Return)
    assert [f["reason"] for f in stored_flags(ctx.ws.path)] == ["wrong_sign"]

    dialog = open_dialog_with_key(qtbot, panel)
    assert dialog.values() == ("wrong_sign", "")  # the stored flag, ready to change
    qtbot.keyClick(focused(), Qt.Key.Key_Down)  # -> wrong content
    with qtbot.waitSignal(panel.sig_flag_saved, timeout=5000):
        qtbot.keyClick(focused(), Qt.Key.Key_Return)
    assert [(f["position"], f["reason"], f["comment"]) for f in stored_flags(ctx.ws.path)] == [
        (0, "wrong_content", None)]
    assert panel.checklist.rows[0].flag_text() == "⚑ flagged: wrong content"

    qtbot.mouseClick(panel.checklist.rows[0].flag_button, Qt.MouseButton.LeftButton)  # the row's button
    dialog = panel.flag_dialog
    assert dialog is not None and dialog.unflag_button is not None
    with qtbot.waitSignal(panel.sig_flag_saved, timeout=5000):
        qtbot.mouseClick(dialog.unflag_button, Qt.MouseButton.LeftButton)
    assert stored_flags(ctx.ws.path) == []
    assert panel.checklist.rows[0].flag_text() == "" and not panel.checklist.rows[0].flag_marker.isVisible()
    assert panel.checklist.rows[0].flag_button.toolTip().startswith("Flag rubric item")
    wait_idle(qtbot, ctx)


def test_escape_cancels_and_writes_nothing(panel, qtbot):
    dialog = open_dialog_with_key(qtbot, panel)
    qtbot.keyClicks(focused(), "4")
    qtbot.keyClick(focused(), Qt.Key.Key_Escape)
    assert not dialog.isVisible() and panel.flag_dialog is None
    wait_idle(qtbot, panel.ctx)
    assert stored_flags(panel.ctx.ws.path) == [] and list_flags(panel.ctx.ws) == []
    assert panel.checklist.rows[0].flag_text() == ""
