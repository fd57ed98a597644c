"""Results › Compare: the figures healthqa.compare computes, shown for the chosen A, B and rater."""

from __future__ import annotations

import pytest

from healthqa.compare import compare_sources
from tests.ui.conftest import graded_rows, import_rows, wait_idle
from tests.ui.factories import GRADER, build_showcase
from ui.panels.compare_view import forest_rows
from ui.panels.results import COMPARE, SCORES, ResultsPanel


def compare_panel(ctx, qtbot, size=(1180, 820)) -> ResultsPanel:
    panel = ResultsPanel(ctx)
    qtbot.addWidget(panel)
    panel.resize(*size)
    with qtbot.waitSignal(panel.sig_results_shown, timeout=20000):
        panel.show()
    return panel


@pytest.fixture
def showcase(make_ctx, tmp_path):
    return make_ctx(rater=None, path=build_showcase(tmp_path / "showcase.healthqa"))


def test_compare_two_models_from_the_model_grader(showcase, qtbot):
    panel = compare_panel(showcase, qtbot)
    models = [panel.compare.a_combo.itemData(i) for i in range(panel.compare.a_combo.count())]
    assert len(models) >= 2
    panel.choose_rater(GRADER)
    wait_idle(qtbot, showcase)
    with qtbot.waitSignal(panel.compare.sig_compared, timeout=20000) as shown:
        panel.show_view(COMPARE)
    c = shown.args[0]
    expected = compare_sources(showcase.ws, models[0], models[1], GRADER, by=("theme", "axis"))
    assert (c.a, c.b, c.rater) == (models[0], models[1], GRADER)
    assert (c.delta, c.delta_ci, c.p_value) == (expected.delta, expected.delta_ci, expected.p_value)
    assert f">Δ = {c.delta:+.3f}<" in panel.compare.delta_label.text()
    assert f"[{c.delta_ci[0]:+.3f}, {c.delta_ci[1]:+.3f}]" in panel.compare.headline.text()
    assert f">{c.wins}<" in panel.compare.tiles["wins"].text()
    assert f">{c.n_questions}<" in panel.compare.tiles["questions"].text()
    assert panel.compare.needs.text().startswith(f"A difference of {abs(c.delta):.3f} on these questions needs "
                                                 f"about {c.questions_needed['power_80']:,} questions")
    themes = forest_rows(c, "theme:")
    assert [r.label for r in panel.compare.theme_forest.rows] == [r.label for r in themes] and themes
    assert {r.label for r in panel.compare.axis_forest.rows} >= {"accuracy", "completeness"}
    # Swapping A and B negates Δ.
    with qtbot.waitSignal(panel.compare.sig_compared, timeout=20000) as swapped:
        panel.compare.swap_button.click()
    assert swapped.args[0].delta == pytest.approx(-c.delta)
    # The rater is the panel's: choosing the majority compares on the clinicians' verdicts.
    with qtbot.waitSignal(panel.compare.sig_compared, timeout=20000) as majority:
        panel.choose_rater("clinicians (majority)")
    assert majority.args[0] is None or majority.args[0].rater == "clinicians (majority)"
    panel.show_view(SCORES)
    wait_idle(qtbot, showcase)
    wait_idle(qtbot, showcase)


def test_a_rater_without_grades_on_one_side_says_so(make_ctx, tmp_path, qtbot):
    ctx = make_ctx(rater=None)
    import_rows(ctx.ws, tmp_path, graded_rows({"m1": [True, True, False], "m2": [True, False, False]}),
                "a.jsonl", rater="grader-x", rater_kind="model")
    import_rows(ctx.ws, tmp_path, graded_rows({"m1": [True, True, True]}), "c.jsonl", rater="Dr A")
    panel = compare_panel(ctx, qtbot)
    panel.choose_rater("Dr A")
    wait_idle(qtbot, ctx)
    with qtbot.waitSignal(panel.compare.sig_compared, timeout=20000) as shown:
        panel.show_view(COMPARE)
    assert shown.args[0] is None
    assert panel.compare.notice.isVisible() and not panel.compare.body.isVisible()
    assert "'Dr A' has no scored grades on the answers of 'm2'" in panel.compare.notice.text()
    with qtbot.waitSignal(panel.compare.sig_compared, timeout=20000) as shown:
        panel.choose_rater("grader-x")
    c = shown.args[0]  # one question: Δ but no interval, no p-value, no sample size
    assert c.n_questions == 1 and c.delta_ci is None and c.p_value is None
    assert "Too few questions" in panel.compare.verdict.text()
    assert panel.compare.needs.text().startswith("No sample size to give")
    wait_idle(qtbot, ctx)
