"""Results → Mode study: one model's runs in its reasoning modes on one question set.

What each mode buys: score, Δ against instant with its 95 % interval, mean
output tokens, latency p50/p95 and cost, in one table, and score against cost
in one chart. Every figure comes from healthqa.runs' mode study
(healthqa.runs.study), computed off the GUI thread through ctx.ops.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QHeaderView, QVBoxLayout, QWidget

from healthqa import review
from healthqa.runs import MAJORITY_RATER, mode_study, mode_study_choices

from ..models.runs import RowsModel
from ..widgets.charts import Point, ScatterChart
from ..widgets.combo import fill_combo, filter_combo
from ..widgets.plain_text import plain_label
from ..widgets.row_table import row_table

MOST_GRADED = ""  # rater choice: whoever graded most of these runs' answers
MODE_WORDS = {"instant": "Instant", "thinking": "Thinking", "contemplating": "Contemplating"}


def load_choices(ws) -> tuple[list[dict], list[dict]]:
    return mode_study_choices(ws), review.raters_with_grades(ws)


def compute(ws, model: str, set_name: str, rater: str | None) -> dict:
    return mode_study(ws, model=model, set_name=set_name, rater=rater or None)


def mode_label(row: dict, rows: list[dict]) -> str:
    """The mode, with the run's last digits when one mode has several runs."""
    word = MODE_WORDS.get(row["mode"], row["mode"])
    if row["mode"] == "contemplating":
        word += f" ×{row['drafts']}" + (f" via {row['aggregator']}" if row["aggregator"] else "")
    if sum(r["mode"] == row["mode"] for r in rows) > 1:
        word += f" (…{row['run_id'][-6:]})"
    return word


def _num(value, spec: str, dash: str = "—") -> str:
    return dash if value is None else format(value, spec)


def _seconds(ms: float | None) -> str:
    return "—" if ms is None else f"{ms / 1000:.1f} s"


def delta_text(row: dict) -> str:
    if row["delta"] is None:
        return "baseline" if row["n_paired"] is None and row["mode"] == "instant" else "—"
    ci = row["delta_ci"]
    interval = f"  [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "  (too few questions for an interval)"
    return f"{row['delta']:+.3f}{interval}"


def cost_text(row: dict) -> str:
    return "no prices set" if row["cost"] is None else f"${row['cost']:.4f}"


def per_thousand_text(row: dict) -> str:
    return "—" if row["cost_per_answer"] is None else f"${row['cost_per_answer'] * 1000:.2f}"


COLUMNS = [
    ("Mode", None),  # filled per study (labels depend on the other rows)
    ("Graded", lambda r: f"{r['graded']:,} / {r['answers']:,}"),
    ("Score", lambda r: _num(r["score"], ".3f")),
    ("Δ vs instant [95 % CI]", delta_text),
    ("Paired", lambda r: _num(r["n_paired"], ",d", "")),
    ("Output tokens", lambda r: _num(r["mean_output_tokens"], ",.0f")),
    ("p50 latency", lambda r: _seconds(r["latency_p50_ms"])),
    ("p95 latency", lambda r: _seconds(r["latency_p95_ms"])),
    ("Run cost", cost_text),
    ("Per 1k answers", per_thousand_text),
]


HEADER_TIPS = {  # what each short heading means
    1: "Answers with a score from the chosen rater / answers in the run",
    3: "Mean paired difference in score against the instant run, with its 95 % paired bootstrap interval",
    4: "Questions both this run and the instant run have scores for (the others are left out)",
    5: "Mean output tokens per answer (reasoning and drafts included)",
    6: "Median time per answer (contemplating: first draft's start to the synthesis's end)",
    7: "95th percentile of the time per answer",
    8: "What the whole run cost, from the model configs' prices",
    9: "The run's cost per 1,000 answers",
}


class ModeStudyModel(RowsModel):
    """The study's rows; each short heading explains itself in a tooltip."""

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt override
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(section)
        return super().headerData(section, orientation, role)


class ModeStudyView(QWidget):
    """The Mode study view inside the Results panel (results.py shows it on demand)."""

    sig_study_shown = Signal(object)
    """dict — the mode study now shown (mode_study's result)."""

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.study: dict | None = None
        self.study_combo = filter_combo("Model and question set", 260, self._compute)
        self.study_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.rater_combo = filter_combo("Mode study scores from", 220, self._compute)
        self.subtitle = plain_label("")
        self.subtitle.setObjectName("muted")
        self.subtitle.setWordWrap(True)
        controls = QHBoxLayout()
        controls.setSpacing(10)
        for text, widget in (("Model on set", self.study_combo), ("Scores from", self.rater_combo)):
            label = plain_label(text)
            label.setObjectName("muted")
            controls.addWidget(label)
            controls.addWidget(widget)
        controls.addStretch(1)

        self.model = ModeStudyModel(self._columns([]), self)
        self.table = row_table(self.model)
        self.table.setAccessibleName("Mode study table")
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        # headings over their (left-aligned) values, also over the stretched last column
        self.table.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)

        self.chart = ScatterChart("Score against cost", "one point per run: higher and further left is better",
                                  x_label="Cost per 1,000 answers ($)")
        self.chart.setAccessibleName("Score against cost")
        self.chart.empty_text = "No scores yet: grade these runs' answers (a model grader, or clinicians)"
        self.notice = plain_label("")
        self.notice.setObjectName("emptyState")
        self.notice.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.notice.setWordWrap(True)
        self.notice.setVisible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        layout.addLayout(controls)
        layout.addWidget(self.subtitle)
        layout.addWidget(self.notice, 1)
        layout.addWidget(self.table)
        layout.addWidget(self.chart, 1)

    # -- public API ----------------------------------------------------------------------
    def refresh(self) -> None:
        self.ctx.ops.run(load_choices, self.ctx.ws, key="results.mode_study.choices", on_done=self._on_choices)

    # -- private ------------------------------------------------------------------------------
    def _columns(self, rows: list[dict]) -> list:
        return [(title, fn or (lambda r, rows=rows: mode_label(r, rows))) for title, fn in COLUMNS]

    def _on_choices(self, result) -> None:
        choices, raters = result
        fill_combo(self.study_combo, [(f"{c['model']} on {c['set']} · {len(c['modes'])} "
                                       f"mode{'s' if len(c['modes']) != 1 else ''}", (c["model"], c["set"]))
                                      for c in choices])
        for i, c in enumerate(choices):
            self.study_combo.setItemData(i, f"Runs in: {', '.join(c['modes'])}", Qt.ItemDataRole.ToolTipRole)
        clinicians = [r for r in raters if r["kind"] == "clinician"]
        fill_combo(self.rater_combo, [("The rater who graded most", MOST_GRADED)]
                   + ([(f"Clinicians (majority of {len(clinicians)})", MAJORITY_RATER)] if clinicians else [])
                   + [(f"{r['name']} — {'clinician' if r['kind'] == 'clinician' else 'model grader'}", r["name"])
                      for r in raters])
        if not choices:
            self._show_notice("No answer runs yet. Start runs of one model in different modes (Runs panel: "
                              "Mode) on the same question set, grade them, and compare the modes here.")
            return
        self._compute()

    def _compute(self) -> None:
        chosen = self.study_combo.currentData()
        if not chosen:
            return
        self.subtitle.setText("Computing…")
        model, set_name = chosen
        self.ctx.ops.run(compute, self.ctx.ws, model, set_name, self.rater_combo.currentData(),
                         key="results.mode_study", on_done=self._on_study,
                         on_error=lambda message, exc: self._show_notice(message))

    def _on_study(self, study: dict) -> None:
        self.study = study
        rows = study["rows"]
        self.notice.setVisible(False)
        self.table.setVisible(True)
        self.chart.setVisible(True)
        self.model.columns = self._columns(rows)
        self.model.set_rows(rows)
        rows_shown = min(max(len(rows), 1), 6)
        scrollbar = self.table.horizontalScrollBar().sizeHint().height()  # room for it if the window is narrow
        self.table.setFixedHeight(self.table.horizontalHeader().height()
                                  + rows_shown * self.table.verticalHeader().defaultSectionSize() + 6 + scrollbar)
        rater = study["rater"] or "nobody (no grades yet)"
        base = ("Δ is against the instant run, paired by question; interval: 95 % paired bootstrap."
                if study["baseline_run_id"] else "No instant run on this set: Δ needs one as its baseline.")
        self.subtitle.setText(f"{study['model']} on {study['set']} · scores from {rater} · {base}")
        priced = [r for r in rows if r["score"] is not None and r["cost_per_answer"] is not None]
        if priced:
            self.chart.x_label = "Cost per 1,000 answers ($)"
            points = [Point(mode_label(r, rows), r["cost_per_answer"] * 1000, r["score"]) for r in priced]
        else:  # no prices in the model configs: length stands in for cost
            self.chart.x_label = "Mean output tokens (no prices set)"
            points = [Point(mode_label(r, rows), r["mean_output_tokens"], r["score"]) for r in rows
                      if r["score"] is not None and r["mean_output_tokens"] is not None]
        self.chart.set_points(points)
        self.sig_study_shown.emit(study)

    def _show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setVisible(True)
        self.table.setVisible(False)
        self.chart.setVisible(False)
        self.subtitle.setText("")
