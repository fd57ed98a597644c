"""Long templated criteria in Grading (issue 9 item 16): the shared template once, long parts collapsed.

The question is made like HealthBench's consensus rows (three ~2,700-character
criteria sharing a template around a part of their own, and one short example
criterion); the text is invented (tests/ui/factories.py).
"""

import pytest
from PySide6.QtCore import Qt

from tests.conftest import file_rows as db_rows
from tests.ui.conftest import import_rows, wait_idle
from tests.ui.factories import CONSENSUS_OWN, CONSENSUS_PREFIX, CONSENSUS_SUFFIX, consensus_like_row
from ui.panels.grading import GradingPanel
from ui.widgets.criterion_text import collapsed, split_shared


def test_the_shared_template_is_found_and_each_criterion_keeps_its_own_part():
    texts = [r["criterion"] for r in consensus_like_row()["rubrics"]]
    shared, parts = split_shared(texts)
    assert shared.members == [0, 1, 2]
    assert parts[:3] == CONSENSUS_OWN and parts[3] == texts[3]  # the short example criterion is left whole
    assert shared.prefix.strip() == CONSENSUS_PREFIX and shared.suffix.strip() == CONSENSUS_SUFFIX
    assert shared.text().count("Read the whole conversation first") == 1


def test_criteria_that_only_begin_alike_share_nothing():
    texts = ["Asks whether the person can walk on the ankle and how the injury happened.",
             "Asks whether the person can walk on the ankle, and advises rest."]
    assert split_shared(texts) == (None, texts)
    assert collapsed("Short enough.") is None
    assert collapsed("word " * 100).endswith(" …") and len(collapsed("word " * 100)) < 260


@pytest.fixture
def long_rubric(make_ctx, qtbot, tmp_path):
    ctx = make_ctx(rater="Dr A")
    import_rows(ctx.ws, tmp_path, [consensus_like_row()])
    panel = GradingPanel(ctx)
    qtbot.addWidget(panel)
    panel.resize(1280, 800)
    with qtbot.waitSignal(panel.sig_answer_shown, timeout=10000):
        panel.show()
    panel.checklist.setFocus()
    qtbot.waitUntil(lambda: panel.checklist.rows[0].height() > 0)
    return ctx, panel


def test_the_template_is_shown_once_and_long_parts_collapsed(long_rubric, qtbot):
    ctx, panel = long_rubric
    box, rows = panel.checklist.shared_box, panel.checklist.rows[:4]
    assert box.isVisible() and box.title.text().startswith("SHARED BY CRITERIA #1, #2, #3")
    assert box.shown_text().startswith("Consensus criterion · emergency referrals.") and box.shown_text().endswith("…")
    for row, own in zip(rows[:3], CONSENSUS_OWN):
        assert row.shared_note.isVisible() and "Read the whole conversation" not in row.shown_text()
        assert own.startswith(row.shown_text()[:-2]) and len(row.shown_text()) < 260
        assert row.expand_button.isVisible()
    assert rows[3].shown_text() == rows[3].full_text() and not rows[3].expand_button.isVisible()
    pane = panel.checklist.viewport().height()
    assert all(row.height() < pane / 2 for row in rows)  # one criterion no longer fills the rubric pane
    assert "E whole criterion" in panel.legend.text() and "I shared instructions" in panel.legend.text()
    wait_idle(qtbot, ctx)


def test_e_and_i_open_the_whole_text_and_y_still_grades(long_rubric, qtbot):
    ctx, panel = long_rubric
    first = panel.checklist.rows[0]
    qtbot.keyClick(panel.checklist, Qt.Key.Key_E)
    assert first.shown_text() == CONSENSUS_OWN[0] and first.expand_button.text().startswith("Show less")
    qtbot.keyClick(panel.checklist, Qt.Key.Key_E)
    assert first.shown_text() != CONSENSUS_OWN[0]
    qtbot.keyClick(panel.checklist, Qt.Key.Key_I)
    assert CONSENSUS_PREFIX in panel.checklist.shared_box.shown_text()
    assert CONSENSUS_SUFFIX in panel.checklist.shared_box.shown_text()
    second = panel.checklist.rows[1]
    qtbot.mouseClick(second, Qt.MouseButton.LeftButton, pos=second.text.geometry().center())
    assert panel.checklist.current == 1 and second.shown_text() == CONSENSUS_OWN[1]  # a click opens it too
    qtbot.keyClick(panel.checklist, Qt.Key.Key_Y)
    wait_idle(qtbot, ctx)
    [grade] = db_rows(ctx.ws.path, "SELECT g.verdict, c.position FROM grades g JOIN criteria c "
                                   "ON c.id = g.criterion_id WHERE g.rater_id = ?", (ctx.rater.id,))
    assert grade == {"verdict": "met", "position": 1}
