"""Results → Mode study: real runs in three modes (loopback server), graded, shown in the panel;
the figures are the core's mode_study. Set MODE_STUDY_SCREENSHOT=path to save the docs' PNG."""

from __future__ import annotations

import asyncio
import os
import random

import pytest
from PySide6.QtCore import Qt

from healthqa.runs import create_run, execute_run, mode_study
from healthqa.store import ensure_rater
from tests.core.provider_servers import OpenAIServer
from tests.core.test_contemplating import draft_responder
from tests.core.test_mode_study import grade_run
from tests.core.test_runs import add_config, add_questions
from tests.ui.conftest import wait_idle
from ui import look
from ui.panels.results import ResultsPanel


@pytest.fixture
def study_ctx(make_ctx):
    ctx = make_ctx(rater=None)
    with OpenAIServer(latency=0.05) as server:
        server.responder = draft_responder
        add_questions(ctx.ws, 16)
        add_config(ctx.ws, server, name="gpt-loop", reasoning="medium", price_in_per_mtok=1.25,
                   price_out_per_mtok=10.0)
        grader = ensure_rater(ctx.ws, "grader-4.1", "model")
        rng = random.Random(3)
        for mode in ("instant", "thinking", "contemplating"):
            run_id = create_run(ctx.ws, model_name="gpt-loop", set_name="S", mode=mode,
                                **({"drafts": 4} if mode == "contemplating" else {}))
            asyncio.run(execute_run(ctx.ws, run_id, api_key=server.api_key))
            grade_run(ctx.ws, run_id, grader, mode, rng)
    return ctx


def table_text(view) -> list[list[str]]:
    model = view.table.model()
    return [[model.index(r, c).data() for c in range(model.columnCount())] for r in range(model.rowCount())]


def test_the_mode_study_view_shows_the_cores_figures_off_the_gui_thread(study_ctx, qtbot, tmp_path):
    from PySide6.QtWidgets import QApplication
    look.apply(QApplication.instance())
    panel = ResultsPanel(study_ctx)
    qtbot.addWidget(panel)
    panel.resize(1280, 800)
    with qtbot.waitSignal(panel.sig_results_shown, timeout=10000):
        panel.show()
    assert not panel.mode_study.isVisible()
    with qtbot.waitSignal(panel.mode_study.sig_study_shown, timeout=10000) as shown:
        qtbot.mouseClick(panel.mode_study_button, Qt.MouseButton.LeftButton)
    study = shown.args[0]
    assert study == mode_study(study_ctx.ws, model="gpt-loop", set_name="S")  # the core's figures, as they are
    assert panel.mode_study.isVisible() and not panel._body.isVisible() and not panel.rater_combo.isVisible()

    rows = table_text(panel.mode_study)
    assert [r[0] for r in rows] == ["Instant", "Thinking", "Contemplating ×4"]
    by_mode = {r["mode"]: r for r in study["rows"]}
    assert rows[0][3] == "baseline"
    contemplating = by_mode["contemplating"]
    lo, hi = contemplating["delta_ci"]
    assert rows[2][3] == f"{contemplating['delta']:+.3f}  [{lo:+.3f}, {hi:+.3f}]"
    assert rows[2][2] == f"{contemplating['score']:.3f}" and rows[2][4] == "16" and rows[2][1] == "16 / 16"
    assert rows[2][8] == f"${contemplating['cost']:.4f}"
    assert rows[2][9] == f"${contemplating['cost_per_answer'] * 1000:.2f}"
    assert panel.mode_study_button.text() == "Back to scores"
    header_tip = panel.mode_study.model.headerData(3, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert "paired bootstrap interval" in header_tip
    points = {p.label: p for p in panel.mode_study.chart.points}
    assert set(points) == {"Instant", "Thinking", "Contemplating ×4"}
    assert points["Contemplating ×4"].x == pytest.approx(contemplating["cost_per_answer"] * 1000)
    assert points["Contemplating ×4"].y == pytest.approx(contemplating["score"])
    assert panel.mode_study.chart.x_label == "Cost per 1,000 answers ($)"

    # another rater: recomputed (majority: no clinicians here, so none of the choices)
    combo = panel.mode_study.rater_combo
    assert combo.itemText(0) == "The rater who graded most" and combo.findData("grader-4.1") > 0

    qtbot.wait(50)
    target = os.environ.get("MODE_STUDY_SCREENSHOT") or str(tmp_path / "mode-study.png")
    assert panel.grab().save(target)

    with qtbot.waitSignal(panel.sig_results_shown, timeout=10000):
        qtbot.mouseClick(panel.mode_study_button, Qt.MouseButton.LeftButton)
    assert not panel.mode_study.isVisible() and panel._body.isVisible() and panel.rater_combo.isVisible()
    wait_idle(qtbot, study_ctx)


def test_without_runs_the_mode_study_says_what_to_do(make_ctx, qtbot):
    ctx = make_ctx(rater=None)
    panel = ResultsPanel(ctx)
    qtbot.addWidget(panel)
    panel.show()
    panel.mode_study_button.setChecked(True)
    qtbot.waitUntil(lambda: panel.mode_study.notice.isVisible())
    assert "Start runs of one model in different modes" in panel.mode_study.notice.text()
    wait_idle(qtbot, ctx)
