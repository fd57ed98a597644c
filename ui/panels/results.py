"""Results: HealthBench scores per model from one rater, with bootstrap error bars; and Compare.

Scores: overall, per theme and per axis, and score against mean output
tokens (token efficiency), plus a table, computed in the background by
healthqa.scoring.score_workspace from the grades of the chosen rater: a
clinician, a model grader, or the clinicians' majority.  Compare
(compare_view.py): is the difference between two models or runs real, from
the same rater.  The rater and set choices in the header serve both views.
Mode study (mode_study.py), with choices of its own, takes their place while
it is shown.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QCheckBox, QGridLayout, QHBoxLayout, QHeaderView,
                               QPushButton, QStackedWidget, QTableView, QVBoxLayout, QWidget)

from healthqa import review, store
from healthqa.compare import answer_sources
from healthqa.scoring import MAJORITY, score_workspace

from .. import look
from .mode_study import ModeStudyView
from ..models.questions import theme_label
from ..models.results import ResultsTableModel
from ..widgets.charts import BarChart, Point, ScatterChart, Series
from ..widgets.combo import fill_combo, filter_combo
from ..widgets.panel_header import page_layout, panel_header
from ..widgets.plain_text import plain_label
from . import Panel
from .compare_view import CompareView

ALL_SETS = ""
SCORES, COMPARE = 0, 1  # the panel's two views


def _load_choices(ws) -> tuple[list[dict], list[dict], list[dict]]:
    return review.raters_with_grades(ws), store.list_sets(ws), answer_sources(ws)


def _compute(ws, rater: str, set_name: str | None, without_flagged: bool = False,
             exclude_truncated: bool = False) -> list[dict]:
    rows = score_workspace(ws, rater=rater, set_name=set_name, without_flagged=without_flagged,
                           exclude_truncated=exclude_truncated)
    return sorted(rows, key=lambda r: r["model"])


def tag_breakdown(rows: list[dict], prefix: str) -> tuple[list[str], list[Series]]:
    """Categories (tags with this prefix, across models) and one series per model."""
    tags = sorted({key for r in rows for key in r["metrics"] if key.startswith(prefix) and key.count(":") == 1})
    series = [Series(r["model"], [r["metrics"].get(t) for t in tags],
                     [r["metrics"].get(f"{t}:bootstrap_std") for t in tags]) for r in rows]
    return [theme_label(t.split(":", 1)[1]) for t in tags], series


class ResultsPanel(Panel):
    name = "results"
    title = "Results"
    watches = frozenset({"grades", "answers", "criteria", "raters", "questions", "set_members", "criterion_flags"})

    sig_results_shown = Signal(object)
    """list[dict] — the score rows now shown (one per model)."""

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.rows: list[dict] = []
        self._build()

    def _build(self) -> None:
        self.subtitle = plain_label("")
        self.rater_combo = filter_combo("Scores from", 230, self._compute)
        self.set_combo = filter_combo("Question set", 150, self._compute)
        self.without_flagged = QCheckBox("Leave out rubric criteria that a clinician flagged as wrong or ambiguous")
        self.without_flagged.setToolTip("Score as if the rubric lacked the criteria a clinician flagged as wrong "
                                        "or ambiguous")
        self.without_flagged.toggled.connect(self._compute)
        self.exclude_truncated = QCheckBox("Leave out answers cut off at the output limit or stopped by a filter")
        self.exclude_truncated.setToolTip("Score without the answers that are not the model's whole reply "
                                          "(as healthqa score --exclude-truncated)")
        self.exclude_truncated.toggled.connect(self._compute)
        self.refresh_button = QPushButton(look.icon("refresh"), "Recompute")
        self.refresh_button.clicked.connect(self._compute)
        self.mode_study_button = QPushButton("Mode study")
        self.mode_study_button.setCheckable(True)
        self.mode_study_button.setToolTip("One model's runs in its reasoning modes on one set: score, Δ against "
                                          "instant, tokens, latency and cost")
        self.mode_study_button.toggled.connect(self._show_mode_study)
        self._score_controls = [plain_label("Scores from"), self.rater_combo, plain_label("Set"), self.set_combo,
                                self.refresh_button]  # hidden while the mode study (with its own) is shown
        self.view_buttons = QButtonGroup(self)
        self.view_buttons.setExclusive(True)
        self.scores_button, self.compare_button = QPushButton("Scores"), QPushButton("Compare")
        self.compare_button.setToolTip("Is the difference between two models or runs real? Paired over questions")
        for view, button in ((SCORES, self.scores_button), (COMPARE, self.compare_button)):
            button.setCheckable(True)
            button.setAccessibleName(f"Show {button.text().lower()}")
            self.view_buttons.addButton(button, view)
        self.scores_button.setChecked(True)
        self.view_buttons.idToggled.connect(self._on_view_toggled)
        header = panel_header("Results", self.subtitle, *self._score_controls, self.mode_study_button, spacing=10)

        note = "bars: mean score, clipped to 0–1; whiskers: ± 1 bootstrap standard error"
        self.overall_chart = BarChart("Overall score by model", note, style_by_category=True)
        self.tokens_chart = ScatterChart("Score against answer length", "token efficiency: higher and further "
                                         "left is better", x_label="Mean output tokens")
        self.theme_chart = BarChart("Score by theme", "example-level tags (theme:…)")
        self.axis_chart = BarChart("Score by axis", "rubric-level tags (axis:…), rescored on their criteria")
        for chart in (self.overall_chart, self.tokens_chart, self.theme_chart, self.axis_chart):
            chart.setAccessibleName(chart.title)
        charts = QWidget()
        grid = QGridLayout(charts)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(12)
        grid.addWidget(self.overall_chart, 0, 0)
        grid.addWidget(self.tokens_chart, 0, 1)
        grid.addWidget(self.theme_chart, 1, 0)
        grid.addWidget(self.axis_chart, 1, 1)
        self.model = ResultsTableModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Scores table")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, self.model.columnCount()):
            self.table.horizontalHeader().setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.notice = plain_label("")
        self.notice.setObjectName("emptyState")
        self.notice.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.notice.setWordWrap(True)
        self.notice.setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(30)
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(0, 0, 0, 0)
        body_layout.setSpacing(12)
        body_layout.addWidget(charts, 1)
        body_layout.addWidget(self.without_flagged, 0, Qt.AlignmentFlag.AlignLeft)  # above the table it changes
        body_layout.addWidget(self.exclude_truncated, 0, Qt.AlignmentFlag.AlignLeft)
        body_layout.addWidget(self.table)
        self._body = body
        scores_page = QWidget()
        scores_layout = QVBoxLayout(scores_page)
        scores_layout.setContentsMargins(0, 0, 0, 0)
        scores_layout.addWidget(self.notice, 1)
        scores_layout.addWidget(body, 1)
        self.compare = CompareView(self.ctx)
        self.views = QStackedWidget()
        self.views.addWidget(scores_page)
        self.views.addWidget(self.compare)
        self._switch = QWidget()  # the two views, like tabs, under the header whose choices serve both
        switch = QHBoxLayout(self._switch)
        switch.setContentsMargins(0, 0, 0, 0)
        switch.setSpacing(4)
        switch.addWidget(self.scores_button)
        switch.addWidget(self.compare_button)
        switch.addStretch(1)
        self.setFocusProxy(self.rater_combo)
        self.mode_study = ModeStudyView(self.ctx)
        self.mode_study.setVisible(False)
        layout = page_layout(self, header)
        layout.addWidget(self._switch)
        layout.addWidget(self.views, 1)
        layout.addWidget(self.mode_study, 1)

    # -- Panel contract ---------------------------------------------------------------
    def refresh(self) -> None:
        if self.mode_study_button.isChecked():
            self.mode_study.refresh()
            return
        self.ctx.ops.run(_load_choices, self.ctx.ws, key="results.choices", on_done=self._on_choices)

    # -- public API ---------------------------------------------------------------------
    def show_view(self, view: int) -> None:
        """SCORES or COMPARE."""
        self.view_buttons.button(view).setChecked(True)

    def choose_rater(self, name: str) -> None:
        index = self.rater_combo.findData(name)
        if index >= 0:
            self.rater_combo.setCurrentIndex(index)
            self._compute()

    # -- private ---------------------------------------------------------------------------
    def _on_view_toggled(self, view: int, checked: bool) -> None:
        if checked:
            self.views.setCurrentIndex(view)
            self._compute()

    def _on_choices(self, result) -> None:
        raters, sets, sources = result
        self.compare.set_sources(sources)
        clinicians = [r for r in raters if r["kind"] == "clinician"]
        graders = [r for r in raters if r["kind"] == "model"]
        majority = [(f"Clinicians (majority of {len(clinicians)})", MAJORITY)] if clinicians else []
        fill_combo(self.rater_combo, majority + [(f"{r['name']} — clinician", r["name"]) for r in clinicians]
                   + [(f"{r['name']} — model grader", r["name"]) for r in graders])
        fill_combo(self.set_combo, [("All sets", ALL_SETS)] + [(s["name"], s["name"]) for s in sets])
        if not raters:
            self._show_notice("No verdicts yet.\nGrade answers in the Grading panel, run a model grader, "
                              "or import a file with verdicts; scores appear here.")
            if self.views.currentIndex() == COMPARE:
                self.compare.compute(None, None)
            return
        self._compute()

    def _compute(self) -> None:
        rater = self.rater_combo.currentData()
        if rater is None:
            return
        if self.views.currentIndex() == COMPARE:
            self.compare.compute(rater, self.set_combo.currentData() or None)
            return
        self.subtitle.setText("Computing…")
        self.ctx.ops.run(_compute, self.ctx.ws, rater, self.set_combo.currentData() or None,
                         self.without_flagged.isChecked(), self.exclude_truncated.isChecked(),
                         key="results.scores", on_done=self._on_scores)

    def _on_scores(self, rows: list[dict]) -> None:
        self.rows = rows
        self.model.set_rows(rows)
        if not rows:
            self._show_notice(f"No scores from {self.rater_combo.currentText()} for this set.")
        else:
            self._body.setVisible(not self.mode_study_button.isChecked())
            self.notice.setVisible(False)
        answers = sum(r["answers"] for r in rows)
        self.subtitle.setText(f"{len(rows)} model{'s' if len(rows) != 1 else ''} · {answers} graded answers")
        self._fit_table()
        models = [r["model"] for r in rows]
        self.overall_chart.set_data(models, [Series("score", [r["score"] for r in rows],
                                                    [r["metrics"].get("overall_score:bootstrap_std") for r in rows])])
        self.theme_chart.set_data(*tag_breakdown(rows, "theme:"))
        self.axis_chart.set_data(*tag_breakdown(rows, "axis:"))
        self.tokens_chart.empty_text = "No token counts (imported answers carry none)"
        self.tokens_chart.set_points([
            Point(r["model"], r["mean_output_tokens"], r["score"], r["metrics"].get("overall_score:bootstrap_std"))
            for r in rows if r["mean_output_tokens"] is not None and r["score"] is not None])
        self.sig_results_shown.emit(rows)

    def _fit_table(self) -> None:
        """The table as tall as its rows (up to six), the charts get the rest."""
        rows = min(max(self.model.rowCount(), 1), 6)
        height = self.table.horizontalHeader().height() + rows * self.table.verticalHeader().defaultSectionSize() + 6
        self.table.setFixedHeight(height)

    def _show_mode_study(self, shown: bool) -> None:
        """The mode study takes the place of the scores (and their filters) while it is shown."""
        self.mode_study.setVisible(shown)
        self.mode_study_button.setText("Back to scores" if shown else "Mode study")
        for widget in (*self._score_controls, self.subtitle):
            widget.setVisible(not shown)
        self._switch.setVisible(not shown)
        self.views.setVisible(not shown)  # Scores or Compare, as they were, come back with "Back to scores"
        if shown:
            self._body.setVisible(False)
            self.notice.setVisible(False)
        self.refresh()

    def _show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setVisible(True)
        self._body.setVisible(False)
        self.subtitle.setText("")


PANEL = ResultsPanel
