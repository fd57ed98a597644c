"""File → Import takes what researchers ran: simple-evals results and Inspect logs (real tool output)."""

import pytest
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
