"""The Questions panel: import through the panel, error reports, filters, the rubric editor."""

import json

import pytest
from PySide6.QtCore import Qt

from healthqa import store
from tests.conftest import healthbench_row, write_jsonl
from tests.ui.conftest import graded_rows, import_rows, wait_idle
from ui.panels.questions import QuestionsPanel


@pytest.fixture
def panel_for(qtbot):
    def make(ctx) -> QuestionsPanel:
        panel = QuestionsPanel(ctx)
        qtbot.addWidget(panel)
        panel.resize(1100, 760)
        with qtbot.waitSignal(panel.sig_list_loaded, timeout=5000):
            panel.show()
        return panel

    return make


def question_rows_file(tmp_path, name="set.jsonl", count=3, **overrides):
    rows = [healthbench_row(f"q{i}", **overrides) for i in range(count)]
    rows[1]["example_tags"] = ["theme:hedging"]
    rows[1]["prompt"] = [{"role": "user", "content": "Is a daily aspirin a good idea for me?"}]
    return write_jsonl(tmp_path / name, rows)


def test_import_through_the_panel_with_a_chosen_file(make_ctx, panel_for, qtbot, tmp_path):
    ctx = make_ctx()
    panel = panel_for(ctx)
    assert panel.empty.isVisible() and panel.model.rowCount() == 0
    path = question_rows_file(tmp_path)
    panel.file_chooser = lambda: str(path)  # instead of the modal file dialog
    with qtbot.waitSignal(panel.sig_list_loaded, timeout=5000, check_params_cb=lambda n: n == 3):
        with qtbot.waitSignal(panel.sig_import_finished, check_params_cb=lambda ok: ok):
            qtbot.mouseClick(panel.import_button, Qt.MouseButton.LeftButton)
            assert panel.import_box.busy.isVisible()  # progress shows while the import runs
    assert "Imported 3 rows from set.jsonl" in panel.import_box.title.text()
    assert not panel.import_box.busy.isVisible()
    assert store.list_sets(ctx.ws)[0]["name"] == "set"
    assert panel.count_label.text() == "3 questions"
    assert panel.set_combo.itemText(1) == "set (3)"
    wait_idle(qtbot, ctx)


def test_a_bad_file_lists_every_problem_and_can_be_imported_skipping_them(make_ctx, panel_for, qtbot, tmp_path):
    ctx = make_ctx()
    panel = panel_for(ctx)
    good = healthbench_row("good")
    bad_points = healthbench_row("bad1", rubrics=[{"criterion": "x", "points": 0, "tags": []}])
    path = write_jsonl(tmp_path / "mixed.jsonl", [good, "{not json", bad_points])
    with qtbot.waitSignal(panel.sig_import_finished, check_params_cb=lambda ok: not ok):
        panel.import_file(path)
    box = panel.import_box
    assert "Nothing was imported from mixed.jsonl: 2 problems" in box.title.text()
    problems = box.details.toPlainText().splitlines()
    assert problems[0].startswith(f"{path}:2: invalid JSON")
    assert problems[1] == f"{path}:3: rubrics[0].points: points must be a nonzero integer from -10 to 10"
    assert box.retry_button.isVisible() and box.skip_box.isVisible()
    assert ctx.ws.scalar("SELECT count(*) FROM questions") == 0  # one transaction: nothing landed
    box.skip_box.setChecked(True)
    with qtbot.waitSignal(panel.sig_list_loaded, check_params_cb=lambda n: n == 1):
        with qtbot.waitSignal(panel.sig_import_finished, check_params_cb=lambda ok: ok):
            qtbot.mouseClick(box.retry_button, Qt.MouseButton.LeftButton)
    assert "Skipped 2 invalid rows" in box.title.text()
    assert len(box.details.toPlainText().splitlines()) == 2
    wait_idle(qtbot, ctx)


def test_verdicts_in_a_file_ask_whose_they_are(make_ctx, panel_for, qtbot, tmp_path):
    ctx = make_ctx()
    panel = panel_for(ctx)
    path = write_jsonl(tmp_path / "graded.jsonl", graded_rows({"m1": [True, False, True]}))
    with qtbot.waitSignal(panel.sig_import_finished, check_params_cb=lambda ok: not ok):
        panel.import_file(path)
    box = panel.import_box
    assert box.rater_edit.isVisible() and "carries verdicts" in box.title.text()
    box.rater_edit.setText("grader-x")
    with qtbot.waitSignal(panel.sig_import_finished, check_params_cb=lambda ok: ok):
        qtbot.mouseClick(box.retry_button, Qt.MouseButton.LeftButton)
    assert store.list_raters(ctx.ws, "model")[0]["name"] == "grader-x"
    assert ctx.ws.scalar("SELECT count(*) FROM grades") == 3
    wait_idle(qtbot, ctx)


def test_search_and_tag_filters(make_ctx, panel_for, qtbot, tmp_path):
    ctx = make_ctx()
    import_rows(ctx.ws, tmp_path, [json.loads(line) for line in question_rows_file(tmp_path).read_text().splitlines()])
    panel = panel_for(ctx)
    assert panel.model.rowCount() == 3
    with qtbot.waitSignal(panel.sig_list_loaded, check_params_cb=lambda n: n == 1):
        qtbot.keyClicks(panel.search, "aspirin")
    assert "aspirin" in panel.model.data(panel.model.index(0, 0))
    assert panel.count_label.text() == "1 question match"
    with qtbot.waitSignal(panel.sig_list_loaded, check_params_cb=lambda n: n == 3):
        panel.search.clear()
    index = panel.tag_combo.findData("theme:hedging")
    assert panel.tag_combo.itemText(index) == "Theme: hedging"
    panel.tag_combo.setCurrentIndex(index)
    with qtbot.waitSignal(panel.sig_list_loaded, check_params_cb=lambda n: n == 1):
        panel.tag_combo.activated.emit(index)
    assert panel.model.data(panel.model.index(0, 1)) == "hedging"
    wait_idle(qtbot, ctx)


def test_selecting_a_question_shows_its_conversation_and_rubric(make_ctx, panel_for, qtbot, tmp_path):
    ctx = make_ctx()
    import_rows(ctx.ws, tmp_path, [healthbench_row("q0")])
    panel = panel_for(ctx)
    qtbot.waitUntil(lambda: panel.editor.table.rowCount() == 3)
    assert "My ankle has been swollen" in panel.conversation.toPlainText()
    assert "REFERENCE ANSWER" in panel.conversation.toPlainText()
    assert panel.editor.table.item(2, 1).data(Qt.ItemDataRole.EditRole) == -7
    assert panel.rubric_title.text() == "RUBRIC · 3 CRITERIA · 14 POSITIVE POINTS"
    wait_idle(qtbot, ctx)


def test_rubric_editor_validates_inline_and_saves_to_the_workspace(make_ctx, panel_for, qtbot, tmp_path):
    ctx = make_ctx()
    import_rows(ctx.ws, tmp_path, graded_rows({"m1": [True, True, False]}), rater="Dr B")
    panel = panel_for(ctx)
    editor = panel.editor
    qtbot.waitUntil(lambda: editor.table.rowCount() == 3)
    qtbot.mouseClick(editor.edit_button, Qt.MouseButton.LeftButton)
    assert editor.editing and "3 grades refer to these criteria" in editor.notice.text()
    editor.table.item(1, 1).setData(Qt.ItemDataRole.EditRole, 0)
    editor.table.item(0, 0).setText("   ")
    assert editor.errors == ["Row 1 · text: criterion text is empty",
                             "Row 2 · points: points must be a nonzero integer from -10 to 10"]
    assert editor.error_label.isVisible() and not editor.save_button.isEnabled()
    assert "points must be a nonzero integer from -10 to 10" in editor.table.item(1, 1).toolTip()
    assert not editor.table.item(1, 1).data(Qt.ItemDataRole.DecorationRole).isNull()  # an icon, not colour only
    editor.table.item(0, 0).setText("Asks whether the person can walk on the ankle.")
    editor.table.item(1, 1).setData(Qt.ItemDataRole.EditRole, 9)
    qtbot.mouseClick(editor.add_button, Qt.MouseButton.LeftButton)
    assert editor.errors == ["Row 4 · text: criterion text is empty"]
    editor.table.item(3, 0).setText("Mentions elevating the ankle.")
    editor.table.item(3, 2).setText("axis:completeness, level:example")
    assert editor.errors == [] and editor.save_button.isEnabled()
    question_id = panel.question_id
    with qtbot.waitSignal(panel.sig_rubric_saved):
        qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    assert not editor.editing
    saved = store.criteria_rows(ctx.ws, question_id)
    assert [(c["text"], c["points"]) for c in saved] == [
        ("Asks whether the person can walk on the ankle.", 6), (saved[1]["text"], 9), (saved[2]["text"], -7),
        ("Mentions elevating the ankle.", 1)]
    assert saved[3]["tags"] == ["axis:completeness", "level:example"]
    wait_idle(qtbot, ctx)


def test_a_rubric_without_positive_points_cannot_be_saved(make_ctx, panel_for, qtbot, tmp_path):
    ctx = make_ctx()
    import_rows(ctx.ws, tmp_path, [healthbench_row("q0")])
    panel = panel_for(ctx)
    editor = panel.editor
    qtbot.waitUntil(lambda: editor.table.rowCount() == 3)
    editor.start_editing()
    editor.table.setCurrentCell(0, 0)
    qtbot.mouseClick(editor.remove_button, Qt.MouseButton.LeftButton)
    editor.table.setCurrentCell(0, 0)
    qtbot.mouseClick(editor.remove_button, Qt.MouseButton.LeftButton)
    assert editor.errors and "could never be scored" in editor.errors[0]
    assert not editor.save_button.isEnabled()
    qtbot.mouseClick(editor.cancel_button, Qt.MouseButton.LeftButton)
    assert editor.table.rowCount() == 3 and not editor.editing
    wait_idle(qtbot, ctx)


def test_a_write_elsewhere_refreshes_the_list(make_ctx, panel_for, qtbot, tmp_path):
    ctx = make_ctx()
    panel = panel_for(ctx)
    path = question_rows_file(tmp_path, count=2)
    from healthqa.formats.healthbench import import_healthbench

    with qtbot.waitSignal(panel.sig_list_loaded, timeout=5000, check_params_cb=lambda n: n == 2):
        ctx.ops.run(import_healthbench, ctx.ws, path)  # a worker thread writes; the notice reaches the panel
    wait_idle(qtbot, ctx)
