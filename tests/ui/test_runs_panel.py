"""The Runs panel against real loopback provider servers and a real workspace file.

The run executes on the async worker's loop thread; the tests wait on the
panel's signals (never sleep) and check what landed in the workspace.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from healthqa.runs import CANCELLED, DONE, FAILED, INCOMPLETE
from tests.core.provider_servers import API_KEY, answer_for, openai_server  # noqa: F401  (fixture)
from tests.core.test_grader import grading_responder
from tests.core.test_runs import add_config, add_questions, question_text
from ui.async_worker import running_workers
from ui.panels.runs import RunsPanel

KEY_VAR = "HEALTHQA_TEST_LOOPBACK_KEY"
RUN_TIMEOUT_MS = 15000


# ---- fixtures shared with the other panel tests -------------------------------------------

@pytest.fixture
def ctx(make_ctx):
    """A window context on a fresh workspace file; afterwards no async worker may be left running."""
    context = make_ctx(rater=None)
    yield context
    assert not running_workers(), "an async worker thread was left running"


@pytest.fixture
def loopback_key(monkeypatch) -> str:
    """The loopback servers' key, in the environment variable the test configs name."""
    monkeypatch.setenv(KEY_VAR, API_KEY)
    return KEY_VAR


def show_panel(qtbot, panel):
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    qtbot.waitUntil(lambda: panel.is_settled() and panel.ctx.ops.is_idle())
    return panel


# ---- helpers ------------------------------------------------------------------------------------

def runs_panel(qtbot, ctx) -> RunsPanel:
    panel = show_panel(qtbot, RunsPanel(ctx))
    qtbot.waitUntil(lambda: panel.start_button.isEnabled())
    return panel


def answers(ws, run_id: str) -> list[dict]:
    return ws.query("SELECT a.*, q.conversation FROM answers a JOIN questions q ON q.id = a.question_id "
                    "WHERE a.run_id = ?", (run_id,))


def type_into_spin(qtbot, spin, value: int) -> None:
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, str(value))
    assert spin.value() == value


# ---- tests ---------------------------------------------------------------------------------------

def test_a_run_started_from_the_panel_reaches_100_percent_and_stores_every_answer(qtbot, ctx, openai_server,
                                                                                   loopback_key):
    add_questions(ctx.ws, 6)
    add_config(ctx.ws, openai_server, name="loopback", api_key_env=loopback_key)
    panel = runs_panel(qtbot, ctx)
    assert panel.set_combo.currentData() == "S" and panel.model_combo.currentData() == "loopback"
    type_into_spin(qtbot, panel.samples_spin, 2)
    progress_events = []
    panel.progress.bar.valueChanged.connect(progress_events.append)

    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        assert not panel.start_button.isEnabled()  # one run at a time
    summary = finished.args[0]

    assert (summary.status, summary.done, summary.failed, summary.total) == (DONE, 12, 0, 12)
    bar = panel.progress.bar
    assert bar.maximum() == 12 and bar.value() == 12
    assert "12 of 12 (100%)" in panel.progress.percent.text()
    assert progress_events and progress_events[-1] == 12
    stored = answers(ctx.ws, summary.run_id)
    assert len(stored) == 12
    for row in stored:  # each answer is the server's answer to its own question
        question = next(question_text(i) for i in range(6) if question_text(i) in row["conversation"])
        assert row["text"] == answer_for(question)
    qtbot.waitUntil(lambda: not panel.resume_button.isEnabled() and bool(panel.runs_model.rows)
                    and panel.runs_model.rows[0]["status"] == DONE)
    assert panel.runs_model.data(panel.runs_model.index(0, 5)) == "Done"
    assert not panel.is_running() and panel.start_button.isEnabled()


def test_cancel_mid_run_keeps_what_arrived_and_resume_finishes_the_rest(qtbot, ctx, openai_server, loopback_key):
    openai_server.latency = 0.05
    add_questions(ctx.ws, 40)
    add_config(ctx.ws, openai_server, name="loopback", api_key_env=loopback_key)
    panel = runs_panel(qtbot, ctx)
    type_into_spin(qtbot, panel.concurrency_spin, 2)

    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT_MS) as cancelled:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: panel.progress.done >= 1, timeout=RUN_TIMEOUT_MS)
        qtbot.mouseClick(panel.progress.cancel_button, Qt.MouseButton.LeftButton)
        assert panel.progress.cancel_button.text() == "Cancelling…"
    first = cancelled.args[0]
    assert first.status == CANCELLED
    assert 1 <= first.done < 40 and first.done + first.pending == 40
    assert len(answers(ctx.ws, first.run_id)) == first.done
    assert panel.progress.resume_button.isVisible()
    assert "Cancelled" in panel.progress.message.text()

    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT_MS) as resumed:
        qtbot.mouseClick(panel.progress.resume_button, Qt.MouseButton.LeftButton)
    second = resumed.args[0]
    assert (second.run_id, second.status, second.done) == (first.run_id, DONE, 40)
    stored = answers(ctx.ws, first.run_id)
    assert len(stored) == 40 and len({r["question_id"] for r in stored}) == 40  # nothing answered twice
    assert second.calls == 40 - first.done  # the resume sent only what was missing


def test_model_grader_pass_from_the_panel_stores_grades(qtbot, ctx, openai_server, loopback_key):
    openai_server.responder = grading_responder
    add_questions(ctx.ws, 3)
    add_config(ctx.ws, openai_server, name="loopback", api_key_env=loopback_key)
    add_config(ctx.ws, openai_server, name="grader", api_key_env=loopback_key)
    panel = runs_panel(qtbot, ctx)
    panel.model_combo.setCurrentIndex(panel.model_combo.findData("loopback"))
    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT_MS) as answered:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    answer_run = answered.args[0].run_id
    qtbot.waitUntil(lambda: panel.grade_button.isEnabled())
    assert panel.runs_model.rows[panel.runs_view.currentIndex().row()]["id"] == answer_run
    panel.grader_combo.setCurrentIndex(panel.grader_combo.findData("grader"))

    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT_MS) as graded:
        qtbot.mouseClick(panel.grade_button, Qt.MouseButton.LeftButton)
    summary = graded.args[0]
    assert (summary.kind, summary.status, summary.done) == ("grade", DONE, 9)  # 3 answers × 3 criteria
    grades = ctx.ws.query("""SELECT g.verdict, c.points FROM grades g JOIN criteria c ON c.id = g.criterion_id
                             JOIN raters r ON r.id = g.rater_id WHERE r.kind = 'model'""")
    assert len(grades) == 9
    assert all(g["verdict"] == ("met" if g["points"] > 0 else "not_met") for g in grades)
    assert "Grading" in panel.progress.title.text()
    qtbot.waitUntil(lambda: len(panel.runs_model.rows) == 2)
    assert panel.runs_model.data(panel.runs_model.index(0, 1)) == "Grading"


def test_a_rejected_key_stops_the_run_with_a_message_that_does_not_hold_the_key(qtbot, ctx, openai_server,
                                                                                 monkeypatch):
    wrong = "sk-wrong-key-for-the-loopback-9876543210"
    monkeypatch.setenv(KEY_VAR, wrong)
    add_questions(ctx.ws, 4)
    add_config(ctx.ws, openai_server, name="loopback", api_key_env=KEY_VAR)
    panel = runs_panel(qtbot, ctx)
    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert finished.args[0].status == FAILED
    shown = panel.progress.message.text()
    assert "rejected the API key" in shown and KEY_VAR in shown
    assert wrong not in shown and wrong[-6:] not in shown and wrong[:8] not in shown
    assert panel.progress.resume_button.isVisible()


def test_closing_the_panel_mid_run_stops_the_run_cleanly_and_joins_the_thread(qtbot, ctx, openai_server,
                                                                            loopback_key):
    openai_server.latency = 0.05
    add_questions(ctx.ws, 30)
    add_config(ctx.ws, openai_server, name="loopback", api_key_env=loopback_key)
    panel = runs_panel(qtbot, ctx)
    type_into_spin(qtbot, panel.concurrency_spin, 1)
    with qtbot.waitSignal(panel.sig_run_started, timeout=RUN_TIMEOUT_MS) as started:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.progress.done >= 1, timeout=RUN_TIMEOUT_MS)
    panel.close()  # what the main window does on quit: before_close
    assert not running_workers()
    run = ctx.ws.query_one("SELECT status FROM runs WHERE id = ?", (started.args[0],))
    assert run["status"] == CANCELLED  # stored as cancelled, so Resume is offered next time


def test_failed_items_are_listed_with_their_errors_and_resume_retries_only_them(qtbot, ctx, openai_server,
                                                                              loopback_key):
    too_long = openai_server.error(400, "This model's maximum context length is 128000 tokens.",
                                   "invalid_request_error", "context_length_exceeded")
    openai_server.enqueue(too_long, too_long)
    add_questions(ctx.ws, 5)
    add_config(ctx.ws, openai_server, name="loopback", api_key_env=loopback_key)
    panel = runs_panel(qtbot, ctx)
    type_into_spin(qtbot, panel.concurrency_spin, 1)
    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    summary = finished.args[0]
    assert (summary.status, summary.done, summary.failed) == (INCOMPLETE, 3, 2)
    assert "Finished with failures" in panel.progress.message.text()
    assert "too long for this model" in panel.progress.message.text()

    qtbot.waitUntil(lambda: panel.runs_model.rows[0]["status"] == INCOMPLETE and panel.items_model.rowCount() == 2)
    assert panel.resume_button.isEnabled()
    model = panel.items_model
    assert [model.data(model.index(row, 2)) for row in range(2)] == ["Failed", "Failed"]
    assert all("too long for this model" in model.data(model.index(row, 4)) for row in range(2))
    assert "FAILED ITEMS" in panel.items_title.text() and ": 2" in panel.items_title.text()
    assert panel.runs_model.data(panel.runs_model.index(0, 5)) == "Incomplete"

    requests_before = len(openai_server.requests)
    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT_MS) as resumed:
        qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    assert (resumed.args[0].status, resumed.args[0].done) == (DONE, 5)
    assert len(openai_server.requests) - requests_before == 2  # only the two failed items were sent again
    qtbot.waitUntil(lambda: panel.items_model.rowCount() == 0)


def test_a_contemplating_run_started_from_the_panel_uses_the_drafts_and_aggregator_chosen(qtbot, ctx, openai_server,
                                                                                          loopback_key):
    add_questions(ctx.ws, 3)
    add_config(ctx.ws, openai_server, name="loopback", api_key_env=loopback_key, reasoning="low")
    add_config(ctx.ws, openai_server, name="judge", api_key_env=loopback_key)
    panel = runs_panel(qtbot, ctx)
    assert not panel.drafts_spin.isVisibleTo(panel) and not panel.aggregator_combo.isVisibleTo(panel)
    panel.model_combo.setCurrentIndex(panel.model_combo.findData("loopback"))
    panel.mode_combo.setCurrentIndex(panel.mode_combo.findData("contemplating"))
    assert panel.drafts_spin.isVisibleTo(panel) and panel.drafts_spin.value() == 4
    type_into_spin(qtbot, panel.drafts_spin, 2)
    panel.aggregator_combo.setCurrentIndex(panel.aggregator_combo.findData("judge"))

    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    summary = finished.args[0]
    assert (summary.status, summary.done, summary.calls) == (DONE, 3, 9)  # 3 x (2 drafts + synthesis)
    run = ctx.ws.query_one("SELECT r.mode, r.drafts, m.name AS aggregator FROM runs r "
                           "JOIN model_configs m ON m.id = r.aggregator_config_id")
    assert run == {"mode": "contemplating", "drafts": 2, "aggregator": "judge"}
    assert ctx.ws.scalar("SELECT count(*) FROM answer_drafts WHERE answer_id IS NOT NULL") == 6
    qtbot.waitUntil(lambda: bool(panel.runs_model.rows) and panel.runs_model.rows[0]["status"] == DONE)
    assert panel.runs_model.data(panel.runs_model.index(0, 4)) == "Contemplating · 2 drafts via judge"

    panel.mode_combo.setCurrentIndex(panel.mode_combo.findData("instant"))
    assert not panel.drafts_spin.isVisibleTo(panel)


def test_a_setting_the_model_refused_is_said_when_the_run_ends(qtbot, ctx, openai_server, loopback_key):
    # An unknown model refuses a temperature: the engine resends without it and remembers that;
    # the panel says what was adjusted, as the CLI prints it.
    openai_server.refuses = {"temperature"}
    add_questions(ctx.ws, 2)
    add_config(ctx.ws, openai_server, name="loopback", api_key_env=loopback_key, temperature=0.2)
    panel = runs_panel(qtbot, ctx)
    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    summary = finished.args[0]
    assert summary.status == DONE and summary.notices
    text = panel.progress.message.text()
    assert "Adjusted for the model:" in text and "sent without it" in text and "kept in its model config" in text
    assert panel.progress.message.textFormat() == Qt.TextFormat.PlainText
