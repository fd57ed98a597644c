"""File → Import takes what researchers ran: simple-evals results and Inspect logs (real tool output)."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction

from tests.core.test_import_results import INSPECT, ROWS, SIMPLE
from tests.ui.conftest import wait_idle
from ui.main_window import MainWindow


@pytest.fixture
def window(make_ctx, settings, qtbot):
    ctx = make_ctx()
    win = MainWindow(ctx, settings, interactive=False)
    qtbot.addWidget(win)
    win.resize(1280, 820)
    win.show()
    return win


def import_through_the_menu(win, qtbot, path, *, ok=True):
    panel = win.show_panel("questions")
    panel.file_chooser = lambda: str(path)  # instead of the modal file dialog
    action = next(a for a in win.findChildren(QAction) if a.shortcut().toString() == "Ctrl+I")
    assert action.text().startswith("&Import questions, results or Inspect log")
    with qtbot.waitSignal(panel.sig_import_finished, timeout=15000, check_params_cb=lambda done: done is ok):
        action.trigger()
    return panel.import_box


@pytest.mark.parametrize("path", [SIMPLE, INSPECT / "healthbench.eval"], ids=["simple-evals", "inspect"])
def test_file_import_accepts_simple_evals_results_and_inspect_logs(window, qtbot, path):
    win = window
    import_through_the_menu(win, qtbot, ROWS)
    box = import_through_the_menu(win, qtbot, path)
    title = box.title.text()
    assert f"graded answers from {path.name}" in title and "agrees with the file's on all" in title
    details = box.details.toPlainText()
    assert "overall_score" in details or "bootstrap_score" in details
    assert not box.retry_button.isVisible()
    assert win.ctx.ws.scalar("SELECT count(*) FROM grades") > 0
    wait_idle(qtbot, win.ctx)


def test_another_tasks_log_is_refused_with_its_one_problem(window, qtbot):
    box = import_through_the_menu(window, qtbot, INSPECT / "other_task.eval", ok=False)
    assert box.title.text() == "Nothing was imported from other_task.eval."
    assert "'arithmetic'" in box.details.toPlainText()
    assert not box.retry_button.isVisible() and not box.skip_box.isVisible()  # skipping rows cannot help here
    assert window.ctx.ws.scalar("SELECT count(*) FROM answers") == 0
    wait_idle(qtbot, window.ctx)


def test_assign_dialog_hands_out_a_stratified_sample_of_an_imported_run(window, qtbot):
    from tests.ui.test_file_menu import click, open_from_menu
    from ui.dialogs.assign_dialog import AssignDialog

    import_through_the_menu(window, qtbot, ROWS)
    import_through_the_menu(window, qtbot, SIMPLE)
    run_id = window.ctx.ws.scalar("SELECT id FROM runs")
    dialog = open_from_menu(qtbot, window, "Assign answers to clinicians…", AssignDialog)
    qtbot.keyClicks(dialog.new_name, "Dr Lee")
    qtbot.keyClick(dialog.new_name, Qt.Key.Key_Return)
    index = dialog.run_combo.findData(run_id)
    assert index > 0 and "loopback-answerer" in dialog.run_combo.itemText(index)  # the run, by its label
    dialog.run_combo.setCurrentIndex(index)
    assert not dialog.stratify_box.isEnabled()  # all answers: nothing to stratify
    dialog.sample_spin.setValue(5)
    assert dialog.stratify_box.isEnabled() and dialog.stratify_box.isChecked()
    with qtbot.waitSignal(dialog.sig_assigned, timeout=10000) as assigned:
        click(qtbot, dialog.assign_button)
    report = assigned.args[0]
    assert (report.answers, report.pool) == (5, 10) and len(report.strata) == 5  # one answer per theme
    assert "A random sample of 5 of 10 answers; by theme:" in dialog.message.text()
    wait_idle(qtbot, window.ctx)
