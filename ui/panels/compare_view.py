"""Results › Compare: is the difference between two answer sources real, and how many questions tell?

Pick A and B (models, or runs such as one model in two modes); the rater
source is the Results panel's "Scores from" choice.  Shows Δ = A − B with
its 95% paired bootstrap interval and permutation p-value, wins / ties /
losses per question, forest plots of Δ by theme and by axis, and how many
questions a paired t-test would need to detect a difference this size.
Everything is computed by healthqa.compare on the workspace thread (ops).
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from healthqa.compare import Comparison, compare_sources

from ..look import THEME
from ..widgets.card import card
from ..widgets.charts import ForestChart, Interval
from ..widgets.combo import fill_combo, filter_combo
from ..widgets.plain_text import plain_label


def compute_comparison(ws, a: str, b: str, rater: str, set_name: str | None) -> Comparison:
    """Off the GUI thread: the comparison with its theme and axis breakdowns."""
    return compare_sources(ws, a, b, rater, set_name, by=("theme", "axis"))


def forest_rows(comparison: Comparison, prefix: str) -> list[Interval]:
    """One forest row per tag with this prefix ("theme:" or "axis:"), labelled without the prefix."""
    rows = []
    for tag, entry in comparison.by.items():
        if tag.startswith(prefix):
            low, high = entry["delta_ci"] or (None, None)
            rows.append(Interval(tag[len(prefix):].replace("_", " "), entry["delta"], low, high, f"n={entry['n']}"))
    return rows


def verdict_text(c: Comparison) -> str:
    """One plain sentence on what the interval says."""
    if c.delta_ci is None:
        return "Too few questions in common for an interval or a p-value."
    low, high = c.delta_ci
    if low > 0 or high < 0:
        better = c.a if c.delta > 0 else c.b
        return f"The interval excludes 0: on these questions {better} scores higher, beyond chance."
    return "The interval includes 0: these questions cannot tell the two apart."


class CompareView(QWidget):
    """The Compare page of the Results panel."""

    sig_compared = Signal(object)
    """Comparison | None — what is now shown (None: nothing could be compared; the notice says why)."""

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.comparison: Comparison | None = None
        self._rater: str | None = None
        self._set_name: str | None = None
        self._build()

    # -- public API ------------------------------------------------------------------------
    def set_sources(self, sources: list[dict]) -> None:
        """The models and runs to choose from (healthqa.compare.answer_sources); keeps the choices made."""
        items = [(s["label"], s["source"]) for s in sources]
        fill_combo(self.a_combo, items)
        fill_combo(self.b_combo, items)
        if self.a_combo.currentData() == self.b_combo.currentData() and len(items) > 1:
            self.b_combo.setCurrentIndex(1 if self.a_combo.currentIndex() == 0 else 0)

    def choose(self, a: str, b: str) -> None:
        for combo, value in ((self.a_combo, a), (self.b_combo, b)):
            index = combo.findData(value)
            if index >= 0:
                combo.setCurrentIndex(index)
        self._compute()

    def compute(self, rater: str | None, set_name: str | None) -> None:
        """Compare the chosen A and B from `rater` (the panel's choice) on `set_name` (None: all sets)."""
        self._rater, self._set_name = rater, set_name
        self._compute()

    # -- building ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.a_combo = filter_combo("Source A", 260, self._compute)
        self.b_combo = filter_combo("Source B", 260, self._compute)
        self.swap_button = QPushButton("Swap")
        self.swap_button.setToolTip("Compare B − A instead")
        self.swap_button.clicked.connect(self._swap)
        choose = QHBoxLayout()
        choose.setSpacing(8)
        for widget in (plain_label("A"), self.a_combo, plain_label("against B"), self.b_combo, self.swap_button):
            choose.addWidget(widget)
        choose.addStretch(1)

        # Sizes as rich text: the stylesheet sets every widget's font size, which a QFont would not beat.
        # These show figures and fixed captions only, never data (names go to the plain labels below).
        self.delta_label = plain_label("")
        self.delta_label.setTextFormat(Qt.TextFormat.RichText)
        self.delta_label.setAccessibleName("Difference A − B")
        self.headline = plain_label("")  # interval and p-value beside Δ
        self.headline.setTextFormat(Qt.TextFormat.RichText)
        self.headline.setAccessibleName("Interval and p-value")
        figures = QHBoxLayout()
        figures.setSpacing(14)
        figures.addWidget(self.delta_label)
        figures.addWidget(self.headline, 0, Qt.AlignmentFlag.AlignBaseline)
        figures.addStretch(1)
        self.direction = plain_label("")
        self.direction.setObjectName("muted")
        self.direction.setWordWrap(True)
        self.verdict = plain_label("")
        self.verdict.setWordWrap(True)
        self.tiles = {key: plain_label("") for key in ("wins", "ties", "losses", "questions")}
        tiles = QHBoxLayout()
        tiles.setSpacing(8)
        for key, tile in self.tiles.items():
            tile.setObjectName("card")
            tile.setAlignment(Qt.AlignmentFlag.AlignCenter)
            tile.setMinimumHeight(64)
            tile.setTextFormat(Qt.TextFormat.RichText)
            tiles.addWidget(tile, 1)
        self.needs = plain_label("")
        self.needs.setWordWrap(True)
        self.needs.setAccessibleName("How many questions")
        for label in (self.direction, self.verdict, self.needs):
            label.setTextFormat(Qt.TextFormat.PlainText)  # model and rater names are never markup
        summary, summary_layout = card("DIFFERENCE A − B · PAIRED OVER QUESTIONS · 95% INTERVAL")
        summary_layout.addLayout(figures)
        summary_layout.addWidget(self.direction)
        summary_layout.addWidget(self.verdict)
        summary_layout.addLayout(tiles)
        summary_layout.addWidget(self.needs)

        self.theme_forest = ForestChart("Δ by theme", "each question's score; square filled: interval excludes 0")
        self.axis_forest = ForestChart("Δ by axis", "each question's axis subscore, as scoring rescored it")
        for chart in (self.theme_forest, self.axis_forest):
            chart.setAccessibleName(chart.title)
        forests = QGridLayout()
        forests.setSpacing(12)
        forests.addWidget(self.theme_forest, 0, 0)
        forests.addWidget(self.axis_forest, 0, 1)

        self.notice = plain_label("")
        self.notice.setTextFormat(Qt.TextFormat.PlainText)
        self.notice.setObjectName("emptyState")
        self.notice.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.notice.setWordWrap(True)
        self.notice.setVisible(False)
        self.body = QWidget()
        body_layout = QVBoxLayout(self.body)
        body_layout.setContentsMargins(0, 0, 0, 0)
        body_layout.setSpacing(12)
        summary.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)  # its text, never squeezed
        body_layout.addWidget(summary)
        body_layout.addLayout(forests, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(12)
        layout.addLayout(choose)
        layout.addWidget(self.notice, 1)
        layout.addWidget(self.body, 1)
        self.setFocusProxy(self.a_combo)

    # -- behaviour ------------------------------------------------------------------------------
    def _swap(self) -> None:
        a, b = self.a_combo.currentData(), self.b_combo.currentData()
        if a is not None and b is not None:
            self.choose(b, a)

    def _compute(self) -> None:
        a, b = self.a_combo.currentData(), self.b_combo.currentData()
        if a is None or b is None:
            self._show_notice("Compare needs answers from at least two models or runs.")
            return
        if a == b:
            self._show_notice("Choose two different sources to compare.")
            return
        if self._rater is None:
            self._show_notice("No verdicts yet: grade answers or run a model grader, then compare here.")
            return
        self.headline.setText("<span style='font-size:12pt'>comparing…</span>")
        self.ctx.ops.run(compute_comparison, self.ctx.ws, a, b, self._rater, self._set_name,
                         key="results.compare", on_done=self._on_compared, on_error=self._on_failed)

    def _on_failed(self, message: str, _exc) -> None:
        self._show_notice(message[:1].upper() + message[1:])

    def _on_compared(self, c: Comparison) -> None:
        self.comparison = c
        self.notice.setVisible(False)
        self.body.setVisible(True)
        muted = THEME["muted"]
        interval = "—" if c.delta_ci is None else f"[{c.delta_ci[0]:+.3f}, {c.delta_ci[1]:+.3f}]"
        p = "—" if c.p_value is None else ("< 0.0001" if c.p_value < 1e-4 else f"{c.p_value:.4f}")
        direction = "higher than" if c.delta > 0 else ("lower than" if c.delta < 0 else "the same as")
        self.delta_label.setText(f"<span style='font-size:18pt; font-weight:700'>Δ = {c.delta:+.3f}</span>")
        self.headline.setText(f"<span style='font-size:12pt'>95% interval {interval} · p = {html.escape(p)}</span>")
        self.direction.setText(f"{c.a} scores {abs(c.delta):.3f} {direction} {c.b} on the {c.n_questions} "
                               f"questions both have a score for (rater: {c.rater}).")
        self.verdict.setText(verdict_text(c))
        for key, caption, value in (("wins", "A scores higher", c.wins), ("ties", "Same score", c.ties),
                                    ("losses", "B scores higher", c.losses),
                                    ("questions", "Questions compared", c.n_questions)):
            extra = f"only A {c.n_only_a} · only B {c.n_only_b} (left out)" if key == "questions" else \
                f"{value / c.n_questions:.0%} of questions" if c.n_questions else ""
            self.tiles[key].setText(f"<span style='color:{muted}'>{caption}</span><br>"
                                    f"<span style='font-size:15pt; font-weight:700'>{value}</span><br>"
                                    f"<span style='color:{muted}'>{extra}</span>")
        line = c.needs_line()
        self.needs.setText(line[0].upper() + line[1:] + "." if line else
                           "No sample size to give: the differences do not vary, or Δ is 0.")
        self.theme_forest.set_rows(forest_rows(c, "theme:"))
        self.axis_forest.set_rows(forest_rows(c, "axis:"))
        self.sig_compared.emit(c)

    def _show_notice(self, text: str) -> None:
        self.comparison = None
        self.notice.setText(text)
        self.notice.setVisible(True)
        self.body.setVisible(False)
        self.sig_compared.emit(None)

