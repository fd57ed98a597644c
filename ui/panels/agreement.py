"""Agreement: how far raters agree, where they disagree, and the final verdicts of adjudication.

- a rater x rater heatmap (percent agreement, Cohen's kappa, Gwet's AC1 or
  Krippendorff's alpha), with the value and the number of items both raters
  judged printed in every cell; clicking a cell lists that pair's disagreements;
- all raters' agreement, overall and per axis or theme, with 95% intervals;
- each model grader's macro-F1 among the clinicians' (leave-one-out);
- the disagreement list, which opens an adjudication view: the conversation
  and the answer (untrusted, rendered safely), every rater's verdict and
  comment side by side, and the final verdict the adjudicator records.

Every number comes from healthqa (agreement_overview, disagreements); every
workspace call goes through the ops helper, never on the GUI thread.

This module is the panel's behaviour (loading, filtering, navigating,
recording). Its parts: `agreement_layout` builds the widgets,
`widgets.heatmap` and `widgets.grader_standing` draw the figures,
`models.agreement` holds the tables, `adjudication_view` shows one
disagreement, and `agreement_format` names statistics and verdicts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QModelIndex, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from healthqa import store
from healthqa.agreement import degenerate_note
from healthqa.review import adjudicate, adjudication_item, agreement_overview, disagreements

from .. import look
from ..agreement_format import BREAKDOWNS, VERDICT_LABELS, fmt, fmt_ci
from ..widgets.combo import fill_combo
from . import Panel
from .adjudication_view import answer_document
from .agreement_layout import AgreementLayout

N_BOOT = 2000
SEED = 0
ALL = ""


# -- background calls (plain values in, plain values out) ------------------------------------------

def load_agreement(ws, model: str | None, set_name: str | None) -> dict:
    return {
        "overview": agreement_overview(ws, model=model, set_name=set_name, by=tuple(BREAKDOWNS), n_boot=N_BOOT,
                                       seed=SEED),
        "items": disagreements(ws, model=model, set_name=set_name),
        "models": store.list_models(ws),
        "sets": [s["name"] for s in store.list_sets(ws)],
    }


def record_verdict(ws, answer_id: str, criterion_id: str, adjudicator: str, verdict: str, note: str) -> dict:
    adjudicate(ws, answer_id, criterion_id, adjudicator, verdict, note)
    return adjudication_item(ws, answer_id, criterion_id)


def save_report(ws, path: str, model: str | None, set_name: str | None) -> Path:
    from healthqa.formats.report import write_report  # matplotlib loads only when a report is asked for

    file_format = "pdf" if path.lower().endswith(".pdf") else "html"
    return write_report(ws, path, file_format, model=model, set_name=set_name)


def pair_disagrees(item: dict, a: str, b: str) -> bool:
    """Both raters gave met / not met on the item, and not the same."""
    given = {v["rater"]: v["verdict"] for v in item["verdicts"] if v["verdict"] in ("met", "not_met")}
    return a in given and b in given and given[a] != given[b]


# -- the panel -------------------------------------------------------------------------------------------

class AgreementPanel(AgreementLayout, Panel):
    name = "agreement"
    title = "Agreement"
    watches = frozenset({"grades", "answers", "raters", "criteria", "questions", "set_members", "answer_reviews"})

    sig_loaded = Signal(object)
    """dict: what load_agreement returned ({overview, items, models, sets})."""
    sig_item_shown = Signal(object)
    """dict: the adjudication item now shown (adjudication_item)."""
    sig_adjudicated = Signal(object)
    """dict: the item after a final verdict was recorded."""

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.loaded: dict | None = None
        self.items: list[dict] = []  # the disagreements listed (after the pair filter)
        self.pair_filter: tuple[str, str] | None = None
        self._position = -1
        self.report_path_chooser: Callable[[], str | None] = self._ask_report_path  # tests replace the dialog
        self._build()
        ctx.sig_rater_changed.connect(self._default_adjudicator)
        self._default_adjudicator()

    # -- Panel contract ------------------------------------------------------------------------------
    def refresh(self) -> None:
        self._reload()

    # -- public API ------------------------------------------------------------------------------------
    def open_item(self, row: int) -> None:
        """Show the adjudication view for row `row` of the disagreement list."""
        if not 0 <= row < len(self.items):
            return
        self._position = row
        self.list_view.selectRow(row)
        item = self.items[row]
        self.ctx.ops.run(adjudication_item, self.ctx.ws, item["answer_id"], item["criterion_id"],
                         key="agreement.item", on_done=self._on_item)

    def show_overview(self) -> None:
        self.pages.setCurrentWidget(self._overview if self.loaded and self._has_content() else self.notice)

    # -- private: loading ----------------------------------------------------------------------------------
    def _reload(self) -> None:
        self.subtitle.setText("Computing…")
        self.ctx.ops.run(load_agreement, self.ctx.ws, self.model_combo.currentData() or None,
                         self.set_combo.currentData() or None, key="agreement.load", on_done=self._on_loaded)

    def _on_loaded(self, loaded: dict) -> None:
        self.loaded = loaded
        fill_combo(self.model_combo, [("All models", ALL)] + [(name, name) for name in loaded["models"]])
        fill_combo(self.set_combo, [("All sets", ALL)] + [(name, name) for name in loaded["sets"]])
        overview = loaded["overview"]
        if overview is None:
            self.heatmap.set_data([], [])
            for model in self.group_models.values():
                model.set_rows([])
            self.standing.set_data([], [])
            self.subtitle.setText("")
        else:
            report = overview["report"]
            self.heatmap.set_data(report["raters"], report["pairs"])
            overall = {**report["overall"], "items": report["items"]}
            for key, tile in self.tiles.items():
                tile.show_value(fmt(overall[key]), fmt_ci(overall.get(key + "_ci")) or "—",
                                degenerate_note(overall, key))
            for key, model in self.group_models.items():
                groups = overview["by"].get(key, {})
                model.set_rows([("All items", overall)] +
                               [(name.replace("_", " "), block) for name, block in groups.items()])
            least, mean, most = overview["raters_per_item"]
            prevalence = overview["prevalence"]
            self.facts.setText(f"{report['items']} items · {least}–{most} raters each · "
                               f"{'—' if prevalence is None else f'{prevalence:.0%}'} of "
                               f"{overview['ratings']} ratings “met”")
            self.facts.setToolTip(
                "Percent agreement: the mean over items of the share of rater pairs that agree.\n"
                "When nearly all ratings are “met”, κ and α can be low although agreement is high "
                "(the kappa paradox); Gwet's AC1 is much less affected.\n"
                f"Intervals: 95% percentile intervals from {N_BOOT} resamples of whole answers.")
            clinicians = [(c["rater"], c["macro_f1_leave_one_out"]) for c in report["clinicians"]
                          if c["macro_f1_leave_one_out"] is not None]
            self.standing.set_data(clinicians, report["model_graders"])
            lines = [self.standing.summary(g) for g in report["model_graders"]] or ["No model grader among the raters."]
            if clinicians:
                lines.append("Each clinician against the others: " +
                             " · ".join(f"{name} {value:.2f}" for name, value in clinicians))
            self.standing_text.setText("\n".join(lines))
            self.subtitle.setText(f"{report['items']} items · {len(report['raters'])} raters · "
                                  f"{len(loaded['items'])} disagreements")
        if self.pair_filter and not (overview and set(self.pair_filter) <= set(overview["report"]["raters"])):
            self.pair_filter = None
        self._show_items()
        if self.pages.currentWidget() is not self.adjudication:
            self.show_overview()
        elif self.adjudication.item:  # keep the item being adjudicated; its row may have moved
            key = (self.adjudication.item["answer_id"], self.adjudication.item["criterion_id"])
            self._position = next((k for k, i in enumerate(self.items) if (i["answer_id"], i["criterion_id"]) == key),
                                  self._position)
        if not self._has_content():
            self.notice.setText("No agreement to show yet.\nAgreement needs at least two raters who judged the "
                                "same criteria: grade answers in the Grading panel, or run a model grader.")
        self.sig_loaded.emit(loaded)

    def _has_content(self) -> bool:
        return bool(self.loaded and (self.loaded["overview"] or self.loaded["items"]))

    def _show_items(self) -> None:
        items = self.loaded["items"] if self.loaded else []
        if self.pair_filter:
            items = [i for i in items if pair_disagrees(i, *self.pair_filter)]
        self.items = items
        self.disagreements.set_rows(items)
        self.heatmap.selected = self.pair_filter
        self.heatmap.update()
        done = sum(1 for i in items if i["adjudicated"])
        self.list_button.setText(f"Disagreements · {len(items)} ({done} adjudicated)")
        self.pair_button.setVisible(self.pair_filter is not None)
        if self.pair_filter:
            self.pair_button.setText(f"{self.pair_filter[0]} vs {self.pair_filter[1]}  ✕")
        self.open_button.setEnabled(bool(items) and self.lower.currentWidget() is self.list_view)
        if items and self.list_view.currentIndex().row() < 0:
            self.list_view.selectRow(0)

    # -- private: interaction ----------------------------------------------------------------------------------
    def _on_view_toggled(self, page: int, checked: bool) -> None:
        button = self.view_buttons.button(page)
        button.setProperty("primary", checked)  # the shown view's button stands out
        look.repolish(button)
        if checked:
            self.lower.setCurrentIndex(page)
            self.open_button.setEnabled(page == 0 and bool(self.items))
            self.open_button.setVisible(page == 0)

    def _on_pair_clicked(self, a: str, b: str) -> None:
        self._set_pair_filter((a, b))

    def _set_pair_filter(self, pair: tuple[str, str] | None) -> None:
        self.pair_filter = pair
        self.list_view.clearSelection()
        self.list_view.setCurrentIndex(QModelIndex())
        self._show_items()

    def _on_item(self, item: dict) -> None:
        # Rendering the conversation and answer (untrusted Markdown) happens on the io pool, like Grading's.
        self.ctx.ops.run(answer_document, item, io=True, key="agreement.render",
                         on_done=lambda document, item=item: self._show_item(item, document), owner=self)

    def _show_item(self, item: dict, document) -> None:
        self.adjudication.show_item(item, self._position, len(self.items), document)
        self.pages.setCurrentWidget(self.adjudication)
        self.sig_item_shown.emit(item)

    def _record(self, adjudicator: str, verdict: str, note: str) -> None:
        item = self.adjudication.item
        if item is None:
            return
        self.adjudication.record_button.setEnabled(False)
        self.ctx.ops.run(record_verdict, self.ctx.ws, item["answer_id"], item["criterion_id"], adjudicator, verdict,
                         note, on_done=self._on_recorded, on_error=self._on_record_failed)

    def _on_recorded(self, item: dict) -> None:
        self.adjudication.show_item(item, self._position, len(self.items))
        self.sig_status.emit(f"Final verdict recorded: {VERDICT_LABELS[item['adjudicated']['verdict']]} "
                             f"on prompt {item['prompt_id']}.")
        self.sig_adjudicated.emit(item)

    def _on_record_failed(self, message: str, _exc) -> None:
        self.adjudication.current.setText(f"Not recorded: {message}")
        self.adjudication.record_button.setEnabled(True)

    def _default_adjudicator(self) -> None:
        if self.ctx.rater and not self.adjudication.adjudicator.text():
            self.adjudication.adjudicator.setText(self.ctx.rater.name)

    def _ask_report_path(self) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, "Save report", "healthqa-report.html",
                                              "HTML report (*.html);;PDF report (*.pdf)")
        return path or None

    def _save_report(self) -> None:
        path = self.report_path_chooser()
        if not path:
            return
        self.sig_status.emit("Writing the report…")
        self.ctx.ops.run(save_report, self.ctx.ws, path, self.model_combo.currentData() or None,
                         self.set_combo.currentData() or None,
                         on_done=lambda written: self.sig_status.emit(f"Report saved: {written}"),
                         on_error=lambda message, _exc: self.sig_status.emit(f"Report not saved: {message}"),
                         owner=self)


PANEL = AgreementPanel
