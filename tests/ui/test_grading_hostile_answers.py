"""Grading answers whose Markdown is hostile: what is on screen and what a key saves never diverge.

Issue 9 item 2: an answer whose rendering failed (RecursionError on Markdown
nested hundreds of levels deep) left the previous answer and rubric on screen
while the panel's state had moved on; Y then saved a verdict on the new answer,
on a criterion the clinician had never seen. Every check reads the SQLite file.
"""

import pytest
from PySide6.QtCore import Qt

from tests.conftest import file_rows as db_rows
from tests.conftest import healthbench_row
from tests.ui.conftest import import_rows, wait_idle
from ui.panels.grading import GradingPanel

NESTED = "\n".join("  " * i + "- level" for i in range(600))  # a list nested 600 deep
HOSTILE_RUBRIC = [
    {"criterion": "Says that the nested list is nonsense.", "points": 5, "tags": ["axis:accuracy"]},
    {"criterion": "Recommends seeing a clinician.", "points": 3, "tags": ["axis:completeness"]},
]


@pytest.fixture
def two_questions(make_ctx, qtbot, tmp_path):
    """p1: an ordinary answer; p2 (another rubric): `hostile_text`. The panel shows the ordinary one."""

    def make(hostile_text: str):
        ctx = make_ctx(rater="Dr A")
        ordinary = healthbench_row("p1", completion="Rest, ice and elevation.", model="m")
        hostile = healthbench_row("p2", completion=hostile_text, model="m", rubrics=HOSTILE_RUBRIC)
        import_rows(ctx.ws, tmp_path, [ordinary, hostile])
        panel = GradingPanel(ctx)
        qtbot.addWidget(panel)
        with qtbot.waitSignal(panel.sig_answer_shown, timeout=10000):
            panel.show()
        ids = {r["prompt_id"]: r["id"] for r in db_rows(
            ctx.ws.path, "SELECT a.id, q.prompt_id FROM answers a JOIN questions q ON q.id = a.question_id")}
        if panel.current_answer_id() == ids["p2"]:  # the queue order is the clinician's own: start on p1
            with qtbot.waitSignal(panel.sig_answer_shown, timeout=10000):
                panel.open_index(panel.queue.index(ids["p1"]))
        panel.checklist.setFocus()
        return ctx, panel, ids

    return make


def criterion_ids(ctx, prompt_id: str) -> list[str]:
    return [r["id"] for r in db_rows(ctx.ws.path, "SELECT c.id FROM criteria c JOIN questions q ON "
                                     "q.id = c.question_id WHERE q.prompt_id = ? ORDER BY c.position", (prompt_id,))]


def grades(ctx) -> list[dict]:
    return db_rows(ctx.ws.path, "SELECT answer_id, criterion_id, verdict FROM grades WHERE rater_id = ?",
                   (ctx.rater.id,))


def move_to(qtbot, panel, answer_id: str) -> None:
    with qtbot.waitSignal(panel.sig_answer_shown, timeout=10000) as shown:
        panel.open_index(panel.queue.index(answer_id))
    assert shown.args == [answer_id]


def test_a_deeply_nested_answer_is_shown_as_plain_text_and_y_saves_on_what_is_shown(two_questions, qtbot):
    ctx, panel, ids = two_questions(NESTED)
    move_to(qtbot, panel, ids["p2"])
    assert panel.current_answer_id() == ids["p2"]
    shown = panel.answer_view.toPlainText()
    assert shown.startswith("Shown as plain text: ") and "- level" in shown
    assert panel.checklist.rows[0].full_text() == HOSTILE_RUBRIC[0]["criterion"]  # its rubric, not p1's
    qtbot.keyClick(panel.checklist, Qt.Key.Key_Y)
    wait_idle(qtbot, ctx)
    assert grades(ctx) == [{"answer_id": ids["p2"], "criterion_id": criterion_ids(ctx, "p2")[0], "verdict": "met"}]


def test_a_converter_failure_is_shown_as_plain_text_with_a_note(two_questions, qtbot, monkeypatch):
    """Whatever the converter raises (here RecursionError on ordinary text), the answer still shows."""
    import ui.widgets.markdown_view as markdown_view

    def failing(text):
        if "boom" in text:
            raise RecursionError("maximum recursion depth exceeded")
        return real(text)

    real = markdown_view._convert
    monkeypatch.setattr(markdown_view, "_convert", failing)
    ctx, panel, ids = two_questions("**boom** goes the *converter*")
    move_to(qtbot, panel, ids["p2"])
    shown = panel.answer_view.toPlainText()
    assert "could not be formatted (RecursionError)" in shown and "**boom** goes the *converter*" in shown
    qtbot.keyClick(panel.checklist, Qt.Key.Key_N)
    wait_idle(qtbot, ctx)
    assert grades(ctx) == [{"answer_id": ids["p2"], "criterion_id": criterion_ids(ctx, "p2")[0],
                            "verdict": "not_met"}]


def test_when_the_screen_refuses_the_new_answer_everything_stays_on_the_old_one(two_questions, qtbot,
                                                                               monkeypatch):
    """The switch completes or changes nothing: here Qt fails on both the formatted and the plain
    document of the next answer, so the old answer, its rubric and its position stay current."""
    ctx, panel, ids = two_questions("The *next* answer.")
    real = panel.answer_view.show_document

    def refusing(doc):
        if "next" in doc.html:
            raise MemoryError("std::bad_alloc")
        real(doc)

    monkeypatch.setattr(panel.answer_view, "show_document", refusing)
    position = panel.position.text()
    panel.open_index(panel.queue.index(ids["p2"]))
    qtbot.waitUntil(lambda: not panel.is_opening(), timeout=10000)
    assert panel.current_answer_id() == ids["p1"] and panel.position.text() == position
    assert "could not be shown" in panel.banner.text()
    assert "Rest, ice and elevation." in panel.answer_view.toPlainText()
    assert panel.checklist.rows[0].full_text().startswith("Asks how the injury happened")
    qtbot.keyClick(panel.checklist, Qt.Key.Key_Y)
    wait_idle(qtbot, ctx)
    assert grades(ctx) == [{"answer_id": ids["p1"], "criterion_id": criterion_ids(ctx, "p1")[0], "verdict": "met"}]


def test_a_verdict_key_while_the_next_answer_opens_is_refused_in_words(two_questions, qtbot):
    ctx, panel, ids = two_questions("The next answer.")
    # The load and render run on worker threads and reach the screen through the event loop,
    # so right after asking, the old answer is still the one shown.
    panel.open_index(panel.queue.index(ids["p2"]))
    assert panel.is_opening()
    qtbot.keyClick(panel.checklist, Qt.Key.Key_Y)
    assert "still opening" in panel.banner.text()
    assert panel.current_answer_id() == ids["p1"]
    qtbot.waitUntil(lambda: panel.current_answer_id() == ids["p2"], timeout=10000)
    wait_idle(qtbot, ctx)
    assert grades(ctx) == []  # neither answer got the verdict pressed while they were changing places
