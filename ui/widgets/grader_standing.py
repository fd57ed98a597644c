"""Where each model grader stands among the clinicians, by macro-F1 (QPainter).

One row for the clinicians (a grey dot each: a clinician's macro-F1 against
the others, leave-one-out) and one row per model grader (a diamond in its
series colour, with a dotted line down the rows so it reads against the
clinicians' dots), on a 0-1 axis. `summary(grader)` is the same standing in
one sentence, for the text under the chart.

Data: `set_data(clinicians, graders)`, with (name, macro-F1) pairs and the
`model_graders` rows of healthqa.agreement's report.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

from ..look import SERIES_COLOURS, THEME


class GraderStanding(QWidget):
    """Each model grader's macro-F1 on the 0-1 axis, above the clinicians' leave-one-out values."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.clinicians: list[tuple[str, float]] = []
        self.graders: list[dict] = []
        self.setMinimumHeight(70)

    def set_data(self, clinicians: list[tuple[str, float]], graders: list[dict]) -> None:
        self.clinicians, self.graders = clinicians, graders
        self.setMinimumHeight(self._row() * (1 + max(len(graders), 1)) + 24)
        self.updateGeometry()
        self.update()

    def summary(self, grader: dict) -> str:
        """The one line a clinician reads for a grader."""
        if grader["macro_f1"] is None:
            return f"{grader['rater']}: macro-F1 undefined (its verdicts or the clinicians' are all one class)"
        text = f"{grader['rater']}: macro-F1 {grader['macro_f1']:.2f}"
        if grader.get("macro_f1_ci"):
            lo, hi = grader["macro_f1_ci"]
            text += f" (95% CI {lo:.2f}–{hi:.2f})"
        values = sorted(value for _, value in self.clinicians)
        percentile = grader["percentile_among_clinicians"]
        if percentile is None or not values:
            return text + " (no clinician to compare with)"
        many = f"{len(values)} clinician{'s' if len(values) != 1 else ''}"
        if percentile == 0:
            standing = f"below all {many}"
        elif percentile == 100:
            standing = f"above all {many}"
        else:
            standing = f"percentile {percentile:.0f} among {many}"
        spread = f"{values[0]:.2f}" if f"{values[0]:.2f}" == f"{values[-1]:.2f}" else \
            f"{values[0]:.2f}–{values[-1]:.2f}"
        return f"{text}, {standing} (clinicians {spread})"

    def _row(self) -> int:
        return QFontMetrics(self.font()).height() + 10

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        metrics = QFontMetrics(self.font())
        if not self.graders:
            painter.setPen(QColor(THEME["muted"]))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No model grader among the raters")
            return
        labels = ["Clinicians"] + [metrics.elidedText(g["rater"], Qt.TextElideMode.ElideRight, 150)
                                   for g in self.graders]
        left = max(metrics.horizontalAdvance(t) for t in labels) + 14
        right = self.width() - 12
        row = self._row()
        axis_y = row * len(labels) + 4

        def x_of(value: float) -> float:
            return left + value * (right - left)

        painter.setPen(QPen(QColor(THEME["border"]), 1, Qt.PenStyle.DashLine))
        for tick in (0, 0.25, 0.5, 0.75, 1.0):
            painter.drawLine(QPointF(x_of(tick), 2), QPointF(x_of(tick), axis_y))
        painter.setPen(QColor(THEME["muted"]))
        for tick in (0, 0.25, 0.5, 0.75, 1.0):
            painter.drawText(QRectF(x_of(tick) - 20, axis_y + 2, 40, metrics.height()), Qt.AlignmentFlag.AlignCenter,
                             f"{tick:g}")
        for k, label in enumerate(labels):
            painter.setPen(QColor(THEME["text"]))
            painter.drawText(QRectF(0, k * row, left - 8, row),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, label)
        painter.setPen(QPen(QColor("#FFFFFF"), 1))
        painter.setBrush(QColor("#8C99A6"))
        for _, value in self.clinicians:
            painter.drawEllipse(QPointF(x_of(value), row / 2), 5, 5)
        for k, grader in enumerate(self.graders, start=1):
            if grader["macro_f1"] is None:
                continue
            colour = QColor(SERIES_COLOURS[(k - 1) % len(SERIES_COLOURS)])
            x, y = x_of(grader["macro_f1"]), k * row + row / 2
            painter.setPen(QPen(colour, 1, Qt.PenStyle.DotLine))
            painter.drawLine(QPointF(x, 2), QPointF(x, axis_y))
            painter.setPen(QPen(colour.darker(130), 1))
            painter.setBrush(colour)
            painter.drawPolygon(QPolygonF([QPointF(x, y - 7), QPointF(x + 7, y), QPointF(x, y + 7), QPointF(x - 7, y)]))
