"""The Runs panel's batch mode against the loopback batch servers: "Send as a
batch (cheaper, slower)" for a run and a grading pass, the batches table
(state, counts, next look), and picking live batches up again when the panel
opens (the app was closed while the provider worked)."""

from __future__ import annotations

import asyncio
import os

import pytest
from PySide6.QtCore import Qt

from healthqa.runs import CANCELLED, DONE, create_run, execute_batch_run, mark_batch_run
from tests.core.batch_servers import OpenAIBatchServer, grader_responder
from tests.core.provider_servers import API_KEY
from tests.core.test_runs import add_config, add_questions
from tests.ui.test_runs_panel import RUN_TIMEOUT_MS, answers, ctx, loopback_key, runs_panel  # noqa: F401
from ui.panels.runs import RunsPanel
from ui.panels.runs_layout import BATCH_CHOICE


@pytest.fixture
def batch_server():
    with OpenAIBatchServer() as server:
        yield server


def batches_shown(panel) -> list[list[str]]:
    model = panel.batches_model
    return [[model.data(model.index(r, c)) for c in range(model.columnCount())] for r in range(model.rowCount())]


def test_a_batch_run_and_grading_pass_from_the_panel(qtbot, ctx, batch_server, loopback_key, tmp_path):
    add_questions(ctx.ws, 4)
    add_config(ctx.ws, batch_server, name="loopback", api_key_env=loopback_key, price_in_per_mtok=2.0,
               price_out_per_mtok=8.0)
    panel = runs_panel(qtbot, ctx)
    panel.poll_interval = 0.02
    assert panel.batch_check.text() == BATCH_CHOICE and panel.grade_batch_check.text() == BATCH_CHOICE
    qtbot.mouseClick(panel.batch_check, Qt.MouseButton.LeftButton)
    assert panel.batch_check.isChecked() and not panel.concurrency_spin.isEnabled()

    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    summary = finished.args[0]
    assert (summary.status, summary.done) == (DONE, 4)
    assert summary.cost_basis == "batch prices (50% off)"
    assert panel.progress.values["cost"].text().endswith(" at batch prices (50% off)")
    assert len(answers(ctx.ws, summary.run_id)) == 4 and batch_server.creates == 1
    qtbot.waitUntil(lambda: panel.batches_view.isVisible() and batches_shown(panel)[0][1] == "Completed")
    [row] = batches_shown(panel)
    assert row[1] == "Completed" and row[2] == "4" and row[3] == "4" and row[6].startswith("ended")
    assert panel.runs_model.data(panel.runs_model.index(0, 1)) == "Answers (batch)"
    panel.grab().save(str(tmp_path / "runs-batch.png"))
    if os.environ.get("HEALTHQA_SCREENSHOT_DIR"):
        panel.grab().save(os.path.join(os.environ["HEALTHQA_SCREENSHOT_DIR"], "runs-batch.png"))

    batch_server.responder = grader_responder
    qtbot.waitUntil(lambda: panel.grade_button.isEnabled())
    panel.grade_batch_check.setChecked(True)
    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT_MS) as graded:
        qtbot.mouseClick(panel.grade_button, Qt.MouseButton.LeftButton)
    assert (graded.args[0].status, graded.args[0].done) == (DONE, 12)
    assert ctx.ws.scalar("SELECT count(*) FROM grades WHERE verdict IS NOT NULL") == 12
    assert batch_server.creates == 2
    qtbot.waitUntil(lambda: ctx.ops.is_idle())


def test_opening_the_panel_picks_up_batches_left_at_the_provider(qtbot, ctx, batch_server, loopback_key):
    add_questions(ctx.ws, 3)
    add_config(ctx.ws, batch_server, name="loopback", api_key_env=loopback_key)
    run_id = create_run(ctx.ws, model_name="loopback", set_name="S")
    mark_batch_run(ctx.ws, run_id)
    batch_server.plans.append(["validating", "in_progress", "in_progress", "completed"])

    async def send_then_close():  # as if the app was closed right after sending
        cancel = asyncio.Event()
        return await execute_batch_run(ctx.ws, run_id, poll_interval=0.01, api_key=API_KEY,
                                       on_progress=lambda p: cancel.set(), cancel=cancel)
    assert asyncio.run(send_then_close()).status == CANCELLED
    assert batch_server.creates == 1 and not answers(ctx.ws, run_id)

    panel = RunsPanel(ctx)
    panel.poll_interval = 0.02
    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.addWidget(panel)
        panel.show()
    assert (finished.args[0].run_id, finished.args[0].status) == (run_id, DONE)
    assert len(answers(ctx.ws, run_id)) == 3 and batch_server.creates == 1  # re-attached, nothing sent again
    qtbot.waitUntil(lambda: ctx.ops.is_idle())


def test_cancel_stops_watching_and_says_the_batches_go_on(qtbot, ctx, batch_server, loopback_key):
    add_questions(ctx.ws, 2)
    add_config(ctx.ws, batch_server, name="loopback", api_key_env=loopback_key)
    batch_server.plans.append(["validating"] + ["in_progress"] * 10_000)
    panel = runs_panel(qtbot, ctx)
    panel.poll_interval = 0.02
    panel.batch_check.setChecked(True)
    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: batch_server.polls >= 2, timeout=RUN_TIMEOUT_MS)
        # While watching, the table says when HealthQA looks next.
        qtbot.waitUntil(lambda: panel.batches_model.rowCount() == 1
                        and batches_shown(panel)[0][6].startswith("next look"), timeout=RUN_TIMEOUT_MS)
        qtbot.mouseClick(panel.progress.cancel_button, Qt.MouseButton.LeftButton)
    assert finished.args[0].status == CANCELLED
    assert "provider goes on with the batches" in panel.progress.message.text()
    assert batch_server.cancels == 0  # nothing was cancelled at the provider
    qtbot.waitUntil(lambda: panel.batches_model.rowCount() == 1
                    and batches_shown(panel)[0][6] == "not watched: Resume looks again")
    qtbot.waitUntil(lambda: ctx.ops.is_idle())

    # Cancel at the provider (asked first); afterwards the batch is not picked up again on its own.
    qtbot.waitUntil(lambda: panel.cancel_batches_button.isVisible() and panel.cancel_batches_button.isEnabled())
    if os.environ.get("HEALTHQA_SCREENSHOT_DIR"):
        panel.grab().save(os.path.join(os.environ["HEALTHQA_SCREENSHOT_DIR"], "runs-batch-live.png"))
    asked = []
    panel.confirm = lambda title, text: asked.append(title) or True
    qtbot.mouseClick(panel.cancel_batches_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: batch_server.cancels == 1 and not panel.cancel_batches_button.isVisible())
    assert asked == ["Cancel provider batches"]
    from healthqa.store import has_open_batches
    assert not has_open_batches(ctx.ws)
    qtbot.waitUntil(lambda: ctx.ops.is_idle())


def test_opening_the_window_picks_up_batches_without_showing_the_runs_panel(qtbot, make_ctx, settings, batch_server,
                                                                           loopback_key, monkeypatch):
    from ui.main_window import MainWindow
    ctx = make_ctx(rater=None)
    add_questions(ctx.ws, 2)
    add_config(ctx.ws, batch_server, name="loopback", api_key_env=loopback_key)
    run_id = create_run(ctx.ws, model_name="loopback", set_name="S")
    mark_batch_run(ctx.ws, run_id)
    batch_server.plans.append(["validating", "in_progress", "completed"])

    async def send_then_close():
        cancel = asyncio.Event()
        return await execute_batch_run(ctx.ws, run_id, poll_interval=0.01, api_key=API_KEY,
                                       on_progress=lambda p: cancel.set(), cancel=cancel)
    asyncio.run(send_then_close())
    monkeypatch.setattr(RunsPanel, "poll_interval", 0.02)
    win = MainWindow(ctx, settings, interactive=False)
    qtbot.addWidget(win)
    win.show()
    assert win.current_panel().name != "runs"
    qtbot.waitUntil(lambda: len(answers(ctx.ws, run_id)) == 2 and ctx.ws.scalar(
        "SELECT status FROM runs WHERE id = ?", (run_id,)) == DONE, timeout=RUN_TIMEOUT_MS)
    assert batch_server.creates == 1
    win.close()
    qtbot.waitUntil(lambda: ctx.ops.is_idle())
