"""The Agreement panel shows agreement_report's figures, lists disagreements and records adjudications."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QLabel

import ui.panels.agreement as agreement_module
from healthqa import store
from healthqa.store import ADJUDICATED_RATER
from healthqa.review import adjudication_item, disagreements
from healthqa.agreement import agreement_report
from healthqa.domain import Answer, Question
from healthqa.review import load_rating_table
from tests.conftest import healthbench_row
from tests.core.test_cli_agreement import grant_proposals_workspace
from tests.core.test_report import review_workspace
from tests.ui.conftest import wait_idle
from ui.panels.agreement import AgreementPanel, pair_disagrees

HOSTILE_ANSWER = ('Rest it. <script>alert("answer")</script> <img src="http://evil.example/x.png"> '
                  "![tracker](https://evil.example/t.png)")
HOSTILE_CRITERION = '<b>Advises</b> rest & ice <script>alert("criterion")</script>'


def shown(ctx, qtbot) -> AgreementPanel:
    panel = AgreementPanel(ctx)
    qtbot.addWidget(panel)
    panel.resize(1100, 760)
    with qtbot.waitSignal(panel.sig_loaded, timeout=20000):
        panel.show()
    return panel


def click_cell(qtbot, panel: AgreementPanel, a: str, b: str) -> None:
    rect = panel.heatmap.cell_rect(a, b)
    qtbot.mouseClick(panel.heatmap, Qt.MouseButton.LeftButton, pos=rect.center().toPoint())


def test_figures_are_agreement_report_figures_computed_off_the_gui_thread(make_ctx, qtbot, tmp_path, monkeypatch):
    path = tmp_path / "grant.healthqa"
    grant_proposals_workspace(path)  # Cohen's worked example: Dr A / Dr B kappa 0.40, agreement 0.70
    threads = []
    real = agreement_module.load_agreement

    def recording(*args):
        threads.append(threading.current_thread())
        return real(*args)

    monkeypatch.setattr(agreement_module, "load_agreement", recording)
    ctx = make_ctx(rater=None, path=path)
    panel = shown(ctx, qtbot)
    assert threads and threading.main_thread() not in threads

    # Dr C only said "cannot judge": no verdict, so not compared.
    assert panel.heatmap.raters == ["Dr A", "Dr B", "grader"]
    assert panel.heatmap.cell_text("Dr A", "Dr B") == "0.70\nn=50"
    panel.statistic_combo.setCurrentIndex(panel.statistic_combo.findData("cohen_kappa"))
    assert panel.heatmap.cell_text("Dr A", "Dr B") == "0.40\nn=50"
    assert panel.heatmap.cell_text("Dr A", "grader") == "1.00\nn=50"  # the grader copied Dr A
    assert panel.heatmap.cell_text("Dr B", "Dr B") == "—"

    report = agreement_report(load_rating_table(ws := ctx.ws, raters=["Dr A", "Dr B", "grader"]), by="axis",
                              n_boot=2000, seed=0)
    groups = panel.group_models["axis"]
    cells = [[groups.index(r, c).data() for c in range(groups.columnCount())] for r in range(groups.rowCount())]
    overall = report["overall"]
    lo, hi = overall["gwet_ac1_ci"]
    assert cells[0][:2] == ["All items", "50"]
    assert cells[0][5] == f"{overall['gwet_ac1']:.2f}  ({lo:.2f}–{hi:.2f})"
    assert [row[0] for row in cells[1:]] == ["accuracy", "context awareness"]
    accuracy = report["by"]["accuracy"]
    assert cells[1][2] == f"{accuracy['percent_agreement']:.2f}  ({accuracy['percent_agreement_ci'][0]:.2f}–" \
                          f"{accuracy['percent_agreement_ci'][1]:.2f})"
    assert f"{overall['percent_agreement']:.2f}" in panel.tiles["percent_agreement"].text()

    (grader,) = report["model_graders"]
    assert panel.standing_text.text().startswith(f"grader: macro-F1 {grader['macro_f1']:.2f}")
    # the grader copies Dr A: against Dr A and Dr B it beats each clinician's score against the other
    assert grader["percentile_among_clinicians"] == 100.0 and "above all 2 clinicians" in panel.standing_text.text()
    assert panel.subtitle.text() == f"50 items · 3 raters · {len(disagreements(ws))} disagreements"
    wait_idle(qtbot, ctx)


def test_a_heatmap_cell_lists_that_pairs_disagreements(make_ctx, qtbot, tmp_path):
    path = review_workspace(tmp_path / "review.healthqa", questions=6, hostile=False)
    ctx = make_ctx(rater=None, path=path)
    panel = shown(ctx, qtbot)
    everything = disagreements(ctx.ws)
    assert panel.disagreements.rowCount() == len(everything) > 0
    click_cell(qtbot, panel, "Dr Ada Byron", "gpt-4.1 grader")
    expected = [i for i in everything if pair_disagrees(i, "Dr Ada Byron", "gpt-4.1 grader")]
    assert 0 < len(expected) < len(everything)
    assert [(i["answer_id"], i["criterion_id"]) for i in panel.items] == \
        [(i["answer_id"], i["criterion_id"]) for i in expected]
    assert panel.pair_button.isVisible() and panel.heatmap.selected == ("Dr Ada Byron", "gpt-4.1 grader")
    assert panel.list_button.text() == f"Disagreements · {len(expected)} (0 adjudicated)"
    qtbot.mouseClick(panel.pair_button, Qt.MouseButton.LeftButton)
    assert panel.disagreements.rowCount() == len(everything) and not panel.pair_button.isVisible()
    # the breakdown views show the same statistics by axis and by theme
    qtbot.mouseClick(panel.view_buttons.button(2), Qt.MouseButton.LeftButton)
    assert panel.lower.currentWidget() is panel.group_tables["theme"] and not panel.open_button.isVisible()
    themes = panel.group_models["theme"]
    assert [themes.index(r, 0).data() for r in range(themes.rowCount())][0] == "All items"
    wait_idle(qtbot, ctx)


@pytest.fixture
def hostile(make_ctx, tmp_path):
    """One answer whose text, criterion and comments are markup; Dr A and Dr B disagree on it."""
    path = tmp_path / "hostile.healthqa"
    with store.Workspace(path) as ws:
        row = healthbench_row("p-hostile")
        row["rubrics"][0]["criterion"] = HOSTILE_CRITERION
        qid, _ = store.upsert_question(ws, Question.model_validate(row))
        aid, _ = store.add_answer(ws, qid, Answer(text=HOSTILE_ANSWER, model="m<1>"))
        criteria = store.criteria_rows(ws, qid)
        a, b = store.ensure_rater(ws, "Dr A"), store.ensure_rater(ws, "Dr B")
        grader = store.ensure_rater(ws, "grader", "model")
        for k, c in enumerate(criteria):
            store.set_grade(ws, aid, c["id"], a, "met", "<b>clearly</b> advised" if k == 0 else None)
            store.set_grade(ws, aid, c["id"], b, "not_met" if k < 2 else "met", "<i>not</i> really")
            store.set_grade(ws, aid, c["id"], grader, "met", "grader: met")
        store.save_review(ws, aid, b, comment="<script>x</script> too vague")
    return make_ctx(rater="Dr Adjudicator", path=path)


def test_adjudication_view_shows_untrusted_text_as_text_and_records_the_final_verdict(hostile, qtbot):
    ctx = hostile
    panel = shown(ctx, qtbot)
    assert panel.disagreements.rowCount() == 2  # criteria 1 and 2: Dr B against Dr A and the grader
    assert panel.disagreements.index(0, 2).data() == " ".join(HOSTILE_CRITERION.split())
    with qtbot.waitSignal(panel.sig_item_shown, timeout=10000):
        qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
    view = panel.adjudication
    assert panel.pages.currentWidget() is view

    # the answer: raw HTML escaped, images never fetched
    shown_text = view.answer_view.toPlainText()
    assert '<script>alert("answer")</script>' in shown_text and "Rest it." in shown_text
    assert "[image not shown: tracker]" in shown_text
    assert '<img src="http://evil.example/x.png">' in shown_text  # shown as text ...
    assert "<img" not in view.answer_view.toHtml()  # ... never as an image
    assert view.answer_view.refused == []  # and nothing was even asked for
    assert "ANSWER BEING GRADED · M<1>" in shown_text
    # the criterion and every comment are plain text, side by side per rater
    assert view.criterion.textFormat() == Qt.TextFormat.PlainText and view.criterion.text() == HOSTILE_CRITERION
    labels = {label.accessibleName(): label for label in view.verdict_strip.findChildren(QLabel)}
    assert labels["Dr A verdict"].text() == "Met" and labels["Dr B verdict"].text() == "Not met"
    assert labels["Dr A comment"].text() == "<b>clearly</b> advised"
    assert labels["Dr A comment"].textFormat() == Qt.TextFormat.PlainText
    assert labels["grader verdict"].text() == "Met"
    comments = [label.text() for label in view.verdict_strip.findChildren(QLabel)]
    assert "On the whole answer: <script>x</script> too vague" in comments

    # record: signed-in clinician prefilled; a verdict and a note
    assert view.adjudicator.text() == "Dr Adjudicator" and not view.record_button.isEnabled()
    met_button = next(b for b in view.verdict_buttons.buttons() if b.property("verdict") == "met")
    qtbot.mouseClick(met_button, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(view.note, "Advice to rest is there.")
    assert view.record_button.isEnabled()
    with qtbot.waitSignal(panel.sig_adjudicated, timeout=10000) as recorded:
        qtbot.mouseClick(view.record_button, Qt.MouseButton.LeftButton)
    final = recorded.args[0]["adjudicated"]
    assert final["verdict"] == "met" and final["by"] == "Dr Adjudicator" and final["note"] == "Advice to rest is there."
    assert view.current.text().startswith("Final verdict: Met — by Dr Adjudicator")
    item = panel.items[0]
    stored = adjudication_item(ctx.ws, item["answer_id"], item["criterion_id"])
    assert stored["adjudicated"]["verdict"] == "met" and [h["by"] for h in stored["history"]] == ["Dr Adjudicator"]
    # the write's change notice reloads the list; the adjudication view stays where it was
    qtbot.waitUntil(lambda: panel.disagreements.index(0, 6).data() == "Met (Dr Adjudicator)", timeout=10000)
    assert panel.pages.currentWidget() is view
    assert ADJUDICATED_RATER not in panel.heatmap.raters

    with qtbot.waitSignal(panel.sig_item_shown, timeout=10000) as second:
        qtbot.mouseClick(view.next_button, Qt.MouseButton.LeftButton)
    assert second.args[0]["criterion_id"] == panel.items[1]["criterion_id"]
    assert view.position.text().startswith("2 of 2") and not view.next_button.isEnabled()
    assert view.chosen_verdict() is None  # nothing decided on this one yet
    qtbot.mouseClick(view.back_button, Qt.MouseButton.LeftButton)
    assert panel.pages.currentWidget() is panel._overview
    wait_idle(qtbot, ctx)


def test_an_empty_workspace_explains_what_is_needed(make_ctx, qtbot):
    ctx = make_ctx(rater=None)
    panel = shown(ctx, qtbot)
    assert panel.pages.currentWidget() is panel.notice
    assert "at least two raters" in panel.notice.text()
    wait_idle(qtbot, ctx)


def test_save_report_writes_the_html_report_in_the_background(make_ctx, qtbot, tmp_path):
    path = review_workspace(tmp_path / "review.healthqa", questions=2, hostile=False)
    ctx = make_ctx(rater=None, path=path)
    panel = shown(ctx, qtbot)
    out = tmp_path / "out.html"
    panel.report_path_chooser = lambda: str(out)  # instead of the modal file dialog
    with qtbot.waitSignal(panel.sig_status, timeout=20000,
                          check_params_cb=lambda text: text.startswith("Report saved")):
        qtbot.mouseClick(panel.report_button, Qt.MouseButton.LeftButton)
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    wait_idle(qtbot, ctx)


def test_heatmap_paints_every_cell(make_ctx, qtbot, tmp_path):
    path = review_workspace(tmp_path / "review.healthqa", questions=2, hostile=False)
    ctx = make_ctx(rater=None, path=path)
    panel = shown(ctx, qtbot)
    image = panel.heatmap.grab().toImage()
    heatmap = panel.heatmap
    assert len(heatmap.raters) == 4
    background = image.pixelColor(QPoint(2, image.height() - 2))
    for a in heatmap.raters:
        for b in heatmap.raters:
            rect = heatmap.cell_rect(a, b)
            assert heatmap.rect().contains(rect.toRect())  # every cell inside the widget
            # a cell's corner area is filled: pale grey on the diagonal, a shade of blue elsewhere
            corner = image.pixelColor(QPoint(int(rect.left()) + 4, int(rect.top()) + 4))
            assert corner != background
    wait_idle(qtbot, ctx)
