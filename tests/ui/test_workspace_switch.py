"""Opening another workspace while a run is going on: the run stops, is stored as cancelled, no thread stays.

The run talks to a real loopback provider server and writes to a real
workspace file; the old file is read afterwards with a connection of our own.
"""

from __future__ import annotations

import sqlite3

import pytest
from PySide6.QtCore import Qt

from healthqa.runs import CANCELLED
from tests.conftest import file_rows
from tests.core.provider_servers import API_KEY, openai_server  # noqa: F401  (fixture)
from tests.core.test_runs import add_config, add_questions
from tests.ui.conftest import wait_idle
from ui.async_worker import running_workers
from ui.main_window import MainWindow

KEY_VAR = "HEALTHQA_TEST_LOOPBACK_KEY"
RUN_TIMEOUT_MS = 15000


def stored_run(path, run_id: str) -> dict:
    [run] = file_rows(path, """SELECT status, (SELECT count(*) FROM answers WHERE run_id = r.id) AS answers
                               FROM runs r WHERE id = ?""", (run_id,))
    return run


@pytest.fixture
def window(make_ctx, settings, qtbot):
    win = MainWindow(make_ctx(rater="Dr A"), settings, interactive=False)
    qtbot.addWidget(win)
    win.show()
    yield win
    assert not running_workers(), "an async worker thread was left running"


def test_opening_another_workspace_mid_run_stops_the_run_and_stores_it_as_cancelled(
        window, qtbot, tmp_path, openai_server, monkeypatch):
    monkeypatch.setenv(KEY_VAR, API_KEY)
    openai_server.latency = 0.05
    first = window.ctx
    add_questions(first.ws, 40)
    add_config(first.ws, openai_server, name="loopback", api_key_env=KEY_VAR)
    runs = window.show_panel("runs")
    qtbot.waitUntil(lambda: runs.start_button.isEnabled())
    runs.concurrency_spin.setValue(1)
    with qtbot.waitSignal(runs.sig_run_started, timeout=RUN_TIMEOUT_MS) as started:
        qtbot.mouseClick(runs.start_button, Qt.MouseButton.LeftButton)
    run_id = started.args[0]
    qtbot.waitUntil(lambda: runs.progress.done >= 1, timeout=RUN_TIMEOUT_MS)
    assert running_workers()  # the run is really going on

    assert window.open_workspace(tmp_path / "second.healthqa")

    assert not running_workers()  # the worker was shut down and its thread joined
    assert window.ctx is not first and window.ctx.ws.path.name == "second.healthqa"
    assert "second.healthqa" in window.windowTitle()
    requests_at_switch = len(openai_server.requests)
    run = stored_run(first.ws.path, run_id)
    assert run["status"] == CANCELLED  # stored as cancelled, so Resume is offered when it is opened again
    assert 1 <= run["answers"] < 40
    assert window.created_panels() == [window.panel("runs")]  # only the new workspace's panel
    assert window.panel("runs").ctx is window.ctx
    wait_idle(qtbot, window.ctx)
    assert len(openai_server.requests) == requests_at_switch  # nothing more was sent for the old run


def test_switching_writes_the_open_answers_pending_grading_time_to_the_old_workspace(
        window, qtbot, tmp_path, clock):
    from tests.ui.conftest import graded_rows, import_rows

    first = window.ctx
    import_rows(first.ws, tmp_path, graded_rows({"m1": None}))
    grading = window.show_panel("grading")
    qtbot.waitUntil(lambda: grading.current_answer_id() is not None)
    answer = grading.current_answer_id()
    clock.advance(7)
    grading.clock.touch()  # seven seconds of reading, not yet written anywhere

    assert window.open_workspace(tmp_path / "second.healthqa")

    conn = sqlite3.connect(first.ws.path)
    try:
        seconds = conn.execute("SELECT active_seconds FROM answer_reviews WHERE answer_id = ?", (answer,)).fetchone()
    finally:
        conn.close()
    assert seconds == (7.0,)
    wait_idle(qtbot, window.ctx)
