"""The Results panel shows the numbers score_workspace computes, for the chosen rater."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap

from healthqa import store
from healthqa.scoring import MAJORITY
from tests.conftest import healthbench_row
from tests.ui.conftest import graded_rows, import_rows, wait_idle
from ui.panels.results import ResultsPanel, tag_breakdown


@pytest.fixture
def known(make_ctx, tmp_path):
    """Two models on two questions; a model grader and two clinicians with known verdicts."""
    ctx = make_ctx(rater=None)
    # question p1 (criteria 6, 8, -7): m1 met, met, not met -> 14/14; m2 met, not, not -> 6/14
    import_rows(ctx.ws, tmp_path, graded_rows({"m1": [True, True, False], "m2": [True, False, False]}),
                "a.jsonl", rater="grader-x", rater_kind="model")
    # question p2 (theme hedging): m1 met, not, met -> (6-7)/14 < 0; m2 met, met, not -> 1.0
    import_rows(ctx.ws, tmp_path, graded_rows({"m1": [True, False, True], "m2": [True, True, False]}, "p2",
                                              example_tags=["theme:hedging"]),
                "b.jsonl", rater="grader-x", rater_kind="model")
    import_rows(ctx.ws, tmp_path, graded_rows({"m1": [True, True, True]}), "c.jsonl", rater="Dr A")
    import_rows(ctx.ws, tmp_path, graded_rows({"m1": [True, True, False]}), "d.jsonl", rater="Dr B")
    return ctx


def shown_panel(ctx, qtbot) -> ResultsPanel:
    panel = ResultsPanel(ctx)
    qtbot.addWidget(panel)
    panel.resize(1100, 760)
    with qtbot.waitSignal(panel.sig_results_shown, timeout=10000):
        panel.show()
    return panel


def table_text(panel) -> list[list[str]]:
    model = panel.table.model()
    return [[model.index(r, c).data() for c in range(model.columnCount())] for r in range(model.rowCount())]


def test_scores_of_a_model_grader(known, qtbot):
    panel = shown_panel(known, qtbot)
    assert [panel.rater_combo.itemText(i) for i in range(panel.rater_combo.count())] == [
        "Clinicians (majority of 2)", "Dr A — clinician", "Dr B — clinician", "grader-x — model grader"]
    with qtbot.waitSignal(panel.sig_results_shown):
        panel.choose_rater("grader-x")
    rows = table_text(panel)
    # m1: mean(1.0, -1/14) = 0.4643; m2: mean(6/14, 1.0) = 0.7143
    assert [r[:3] for r in rows] == [["m1", "2", "0.464"], ["m2", "2", "0.714"]]
    assert panel.overall_chart.categories == ["m1", "m2"]
    assert panel.overall_chart.series[0].values == pytest.approx([13 / 28, 20 / 28])
    assert panel.overall_chart.series[0].errors[0] > 0  # a bootstrap error bar
    categories, series = tag_breakdown(panel.rows, "theme:")
    assert categories == ["context seeking", "hedging"] and panel.theme_chart.categories == categories
    assert [s.name for s in panel.theme_chart.series] == ["m1", "m2"]
    assert panel.theme_chart.series[0].values == pytest.approx([1.0, 0.0])  # -1/14 clipped to 0
    assert "accuracy" in panel.axis_chart.categories
    assert panel.tokens_chart.points == []  # imported answers carry no token counts
    assert panel.subtitle.text() == "2 models · 4 graded answers"
    wait_idle(qtbot, known)


def test_scores_of_the_clinicians_majority_and_of_one_clinician(known, qtbot):
    panel = shown_panel(known, qtbot)
    assert panel.rater_combo.currentData() == MAJORITY  # the default
    # Dr A: met, met, met; Dr B: met, met, not met -> majority met, met, tie (no verdict) -> 14/14
    assert [r[:3] for r in table_text(panel)] == [["m1", "1", "1.000"]]
    with qtbot.waitSignal(panel.sig_results_shown):
        panel.choose_rater("Dr A")
    assert [r[:3] for r in table_text(panel)] == [["m1", "1", "0.500"]]  # (6 + 8 - 7) / 14
    wait_idle(qtbot, known)


def test_leaving_out_flagged_criteria(known, qtbot):
    from healthqa.review import flag_criterion

    panel = shown_panel(known, qtbot)
    with qtbot.waitSignal(panel.sig_results_shown):
        panel.choose_rater("Dr A")
    assert [r[:3] for r in table_text(panel)] == [["m1", "1", "0.500"]]  # (6 + 8 - 7) / 14
    p1 = store.question_id_by_prompt_id(known.ws, "p1")
    negative = store.criteria_rows(known.ws, p1)[2]["id"]
    with qtbot.waitSignal(panel.sig_results_shown):  # a flag is a change the panel hears
        flag_criterion(known.ws, negative, "Dr A", "wrong_sign")
    assert [r[:3] for r in table_text(panel)] == [["m1", "1", "0.500"]]  # scored as written by default
    with qtbot.waitSignal(panel.sig_results_shown):
        qtbot.mouseClick(panel.without_flagged, Qt.MouseButton.LeftButton)
    assert [r[:3] for r in table_text(panel)] == [["m1", "1", "1.000"]]  # (6 + 8) / 14
    wait_idle(qtbot, known)


def test_answers_cut_off_are_counted_and_can_be_left_out(known, qtbot):
    with known.ws.transaction({"answers"}) as conn:  # as a run stores it (tests/core/test_incomplete_answers.py)
        conn.execute("UPDATE answers SET finish_reason = 'length' WHERE model = 'm2' AND question_id = ?",
                     (store.question_id_by_prompt_id(known.ws, "p1"),))
    panel = shown_panel(known, qtbot)
    with qtbot.waitSignal(panel.sig_results_shown):
        panel.choose_rater("grader-x")
    column = panel.model.headers.index("Cut off / filtered")
    assert [(r[0], r[1], r[column]) for r in table_text(panel)] == [("m1", "2", "0"), ("m2", "2", "1")]
    assert panel.model.index(1, column).data(Qt.ItemDataRole.ToolTipRole) == "1 cut off"
    with qtbot.waitSignal(panel.sig_results_shown):
        qtbot.mouseClick(panel.exclude_truncated, Qt.MouseButton.LeftButton)
    # m2 scored on p2 alone (1.0); m1 unchanged
    assert [r[:3] + [r[column]] for r in table_text(panel)] == [["m1", "2", "0.464", "0"], ["m2", "1", "1.000", "0"]]
    wait_idle(qtbot, known)


def test_token_efficiency_points_and_charts_paint(make_ctx, qtbot):
    ctx = make_ctx(rater=None)
    from healthqa.domain import Answer, Question, Usage

    question_id, _ = store.upsert_question(ctx.ws, Question.model_validate(healthbench_row("p1")))
    criteria = [c["id"] for c in store.criteria_rows(ctx.ws, question_id)]
    grader = store.ensure_rater(ctx.ws, "grader-x", "model")
    for model, tokens, verdicts in (("short", 120, ["met", "not_met", "not_met"]),
                                    ("long", 900, ["met", "met", "not_met"])):
        answer_id, _ = store.add_answer(ctx.ws, question_id, Answer(text=model, model=model,
                                                                    usage=Usage(output_tokens=tokens)))
        for criterion_id, verdict in zip(criteria, verdicts):
            store.set_grade(ctx.ws, answer_id, criterion_id, grader, verdict)
    panel = shown_panel(ctx, qtbot)
    points = {p.label: (p.x, round(p.y, 4)) for p in panel.tokens_chart.points}
    assert points == {"long": (900, 1.0), "short": (120, round(6 / 14, 4))}
    pixmap = QPixmap(panel.size())
    panel.render(pixmap)  # every chart paints without error
    assert panel.tokens_chart._hits and panel.overall_chart._hits
    wait_idle(qtbot, ctx)


def test_no_verdicts_yet_says_so(make_ctx, qtbot):
    ctx = make_ctx(rater=None)
    panel = ResultsPanel(ctx)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(lambda: panel.notice.isVisible())
    assert "No verdicts yet" in panel.notice.text()
    wait_idle(qtbot, ctx)
