"""Small chart widgets drawn with QPainter (QtCharts is not part of the essentials wheel).

- `BarChart`: horizontal bars, one group per category and one bar per
  series, each with an error bar (± one standard error) and its value.
- `ScatterChart`: labelled points with vertical error bars.
- `ForestChart`: differences with intervals around a line at 0 (Results › Compare).

Series differ by colour *and* by pattern (bars) or marker shape (points),
and every series is named in a legend, so the charts read without colour.
Both take plain lists; they know nothing about HealthQA.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QToolTip, QWidget

from ..look import SERIES_COLOURS, THEME
from .plain_text import plain_tooltip

PATTERNS = [Qt.BrushStyle.SolidPattern, Qt.BrushStyle.BDiagPattern, Qt.BrushStyle.Dense4Pattern,
            Qt.BrushStyle.CrossPattern, Qt.BrushStyle.FDiagPattern, Qt.BrushStyle.Dense6Pattern]
MARKERS = ["circle", "square", "triangle", "diamond"]


@dataclass
class Series:
    name: str
    values: list[float | None]
    errors: list[float | None]


@dataclass
class Point:
    label: str
    x: float
    y: float
    y_error: float | None = None


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]."""
    if high <= low:
        high = low + 1
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks, value = [], start
    while value <= high + step * 0.001:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def _fmt(value: float) -> str:
    return f"{value:.2f}"


class _Chart(QWidget):
    def __init__(self, title: str = "", subtitle: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.title, self.subtitle = title, subtitle
        self.empty_text = "No scores yet"
        self.setMouseTracking(True)
        self.setMinimumSize(260, 180)
        self._hits: list[tuple[QRectF, str]] = []  # areas with a tooltip

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(480, 300)

    def _begin(self) -> tuple[QPainter, QRectF]:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        painter.setPen(QPen(QColor(THEME["border"]), 1))
        painter.setBrush(QColor(THEME["surface"]))
        painter.drawRoundedRect(rect, 8, 8)
        title_font = QFont(self.font())
        title_font.setBold(True)
        painter.setFont(title_font)
        painter.setPen(QColor(THEME["text"]))
        painter.drawText(rect.adjusted(14, 10, -14, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                         self.title)
        top = 10 + QFontMetrics(title_font).height()
        if self.subtitle:
            small = QFont(self.font())
            small.setPointSizeF(max(self.font().pointSizeF() - 1, 8.5))
            painter.setFont(small)
            painter.setPen(QColor(THEME["muted"]))
            painter.drawText(rect.adjusted(14, top, -14, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                             self.subtitle)
            top += QFontMetrics(small).height()
        painter.setFont(self.font())
        self._hits = []
        return painter, rect.adjusted(14, top + 8, -14, -10)

    def _empty(self, painter: QPainter, area: QRectF) -> None:
        painter.setPen(QColor(THEME["muted"]))
        painter.drawText(area, Qt.AlignmentFlag.AlignCenter, self.empty_text)

    def _legend(self, painter: QPainter, area: QRectF, names: list[str], *, markers: bool) -> float:
        """Draw the legend along the bottom; returns its height."""
        metrics = QFontMetrics(self.font())
        x, y, line = area.left(), area.bottom() - metrics.height(), metrics.height() + 4
        rows = [[]]
        width = 0.0
        for i, name in enumerate(names):
            needed = 22 + metrics.horizontalAdvance(name) + 16
            if width + needed > area.width() and rows[-1]:
                rows.append([])
                width = 0.0
            rows[-1].append((i, name))
            width += needed
        y = area.bottom() - line * len(rows) + 4
        for row in rows:
            x = area.left()
            for i, name in row:
                swatch = QRectF(x, y + (metrics.height() - 12) / 2, 14, 12)
                if markers:
                    self._marker(painter, swatch.center(), i, 5)
                else:
                    self._bar(painter, swatch, i)
                painter.setPen(QColor(THEME["text"]))
                painter.drawText(QPointF(x + 20, y + metrics.ascent()), name)
                x += 22 + metrics.horizontalAdvance(name) + 16
            y += line
        return line * len(rows) + 6

    @staticmethod
    def _bar(painter: QPainter, rect: QRectF, series: int) -> None:
        colour = QColor(SERIES_COLOURS[series % len(SERIES_COLOURS)])
        painter.setPen(QPen(colour.darker(130), 1))
        painter.setBrush(colour.lighter(125) if series % len(PATTERNS) else colour)
        painter.drawRect(rect)
        pattern = PATTERNS[series % len(PATTERNS)]
        if pattern != Qt.BrushStyle.SolidPattern:
            painter.setBrush(QBrush(colour.darker(150), pattern))
            painter.drawRect(rect)

    @staticmethod
    def _marker(painter: QPainter, centre: QPointF, series: int, radius: float) -> None:
        colour = QColor(SERIES_COLOURS[series % len(SERIES_COLOURS)])
        painter.setPen(QPen(colour.darker(140), 1.5))
        painter.setBrush(colour)
        shape = MARKERS[series % len(MARKERS)]
        x, y, r = centre.x(), centre.y(), radius
        if shape == "circle":
            painter.drawEllipse(centre, r, r)
        elif shape == "square":
            painter.drawRect(QRectF(x - r, y - r, 2 * r, 2 * r))
        elif shape == "triangle":
            painter.drawPolygon(QPolygonF([QPointF(x, y - r * 1.2), QPointF(x + r * 1.1, y + r * 0.8),
                                           QPointF(x - r * 1.1, y + r * 0.8)]))
        else:
            painter.drawPolygon(QPolygonF([QPointF(x, y - r * 1.3), QPointF(x + r * 1.3, y),
                                           QPointF(x, y + r * 1.3), QPointF(x - r * 1.3, y)]))

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        position = event.position()
        tip = next((text for rect, text in self._hits if rect.contains(position)), None)
        if tip:
            QToolTip.showText(event.globalPosition().toPoint(), plain_tooltip(tip), self)
        else:
            QToolTip.hideText()


class BarChart(_Chart):
    """Horizontal grouped bars with error bars. Values in [0, max_value]."""

    def __init__(self, title: str = "", subtitle: str = "", parent: QWidget | None = None, *,
                 max_value: float = 1.0, style_by_category: bool = False):
        """`style_by_category`: with one series, give each category its own colour and pattern
        (so a model looks the same here as in charts where models are the series)."""
        super().__init__(title, subtitle, parent)
        self.max_value = max_value
        self.style_by_category = style_by_category
        self.categories: list[str] = []
        self.series: list[Series] = []

    def set_data(self, categories: list[str], series: list[Series]) -> None:
        self.categories, self.series = categories, series
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802
        painter, area = self._begin()
        if not self.categories or not self.series:
            self._empty(painter, area)
            return
        metrics = QFontMetrics(self.font())
        if len(self.series) > 1:
            area.setBottom(area.bottom() - self._legend(painter, area, [s.name for s in self.series], markers=False))
        label_width = min(max(metrics.horizontalAdvance(c) for c in self.categories) + 12, area.width() * 0.34)
        axis_height = metrics.height() + 6
        plot = QRectF(area.left() + label_width, area.top(), area.width() - label_width - 40,
                      area.height() - axis_height)
        ticks = nice_ticks(0, self.max_value, 5)
        scale = plot.width() / ticks[-1]
        grid = QPen(QColor(THEME["border"]), 1, Qt.PenStyle.DashLine)
        for tick in ticks:
            x = plot.left() + tick * scale
            painter.setPen(grid)
            painter.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))
            painter.setPen(QColor(THEME["muted"]))
            painter.drawText(QRectF(x - 30, plot.bottom() + 4, 60, metrics.height()), Qt.AlignmentFlag.AlignCenter,
                             _fmt(tick))
        group = plot.height() / len(self.categories)
        bar = min(26.0, group * 0.8 / len(self.series))
        for c, category in enumerate(self.categories):
            top = plot.top() + c * group + (group - bar * len(self.series)) / 2
            painter.setPen(QColor(THEME["text"]))
            label = metrics.elidedText(category, Qt.TextElideMode.ElideRight, int(label_width - 10))
            painter.drawText(QRectF(area.left(), plot.top() + c * group, label_width - 10, group),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, label)
            for s, series in enumerate(self.series):
                value = series.values[c]
                y = top + s * bar
                if value is None:
                    painter.setPen(QColor(THEME["muted"]))
                    painter.drawText(QRectF(plot.left() + 4, y, 120, bar), Qt.AlignmentFlag.AlignVCenter, "no score")
                    continue
                rect = QRectF(plot.left(), y + 1, max(value, 0) * scale, bar - 2)
                self._bar(painter, rect, c if self.style_by_category and len(self.series) == 1 else s)
                error = series.errors[c]
                if error:
                    painter.setPen(QPen(QColor(THEME["text"]), 1.4))
                    lo = plot.left() + max(value - error, 0) * scale
                    hi = plot.left() + min(value + error, ticks[-1]) * scale
                    mid = y + bar / 2
                    painter.drawLine(QPointF(lo, mid), QPointF(hi, mid))
                    for x in (lo, hi):
                        painter.drawLine(QPointF(x, mid - bar * 0.25), QPointF(x, mid + bar * 0.25))
                    end = hi
                else:
                    end = rect.right()
                if bar >= metrics.height() - 2:
                    painter.setPen(QColor(THEME["text"]))
                    painter.drawText(QRectF(end + 5, y, 44, bar), Qt.AlignmentFlag.AlignVCenter, _fmt(value))
                tip = f"{category} — {series.name}: {_fmt(value)}" + (f" ± {_fmt(error)}" if error else "")
                self._hits.append((QRectF(plot.left(), y, plot.width(), bar), tip))
        painter.setPen(QPen(QColor(THEME["border_strong"]), 1))
        painter.drawLine(QPointF(plot.left(), plot.top()), QPointF(plot.left(), plot.bottom()))


class ScatterChart(_Chart):
    """Labelled points with vertical error bars."""

    @staticmethod
    def _label_box(metrics: QFontMetrics, label: str, centre: QPointF, area: QRectF,
                   placed: list[QRectF]) -> QRectF:
        """Where a point's label goes: beside it, inside the chart, clear of labels already drawn."""
        width, height = metrics.horizontalAdvance(label) + 2, metrics.height()
        candidates = [QRectF(centre.x() + dx, centre.y() + dy, width, height)
                      for dy in (-height - 2, 2, -2 * height - 4, height + 4)
                      for dx in (10, -10 - width)]
        inside = [c for c in candidates if area.contains(c)] or candidates
        return next((c for c in inside if not any(c.intersects(p) for p in placed)), inside[0])

    def __init__(self, title: str = "", subtitle: str = "", parent: QWidget | None = None, *,
                 x_label: str = "", y_label: str = ""):
        super().__init__(title, subtitle, parent)
        self.x_label, self.y_label = x_label, y_label
        self.points: list[Point] = []

    def set_points(self, points: list[Point]) -> None:
        self.points = points
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802
        painter, area = self._begin()
        if not self.points:
            self._empty(painter, area)
            return
        metrics = QFontMetrics(self.font())
        area.setBottom(area.bottom() - self._legend(painter, area, [p.label for p in self.points], markers=True))
        xs = [p.x for p in self.points]
        ys = [p.y for p in self.points] + [p.y + (p.y_error or 0) for p in self.points]
        x_ticks = nice_ticks(0, max(xs) * 1.1 or 1, 5)
        y_ticks = nice_ticks(0, max(1.0, max(ys)), 5)
        y_axis_width = metrics.horizontalAdvance("0.00") + 10
        plot = QRectF(area.left() + y_axis_width, area.top() + 4, area.width() - y_axis_width - 8,
                      area.height() - 2 * metrics.height() - 12)

        def to_screen(x: float, y: float) -> QPointF:
            return QPointF(plot.left() + x / x_ticks[-1] * plot.width(),
                           plot.bottom() - y / y_ticks[-1] * plot.height())

        grid = QPen(QColor(THEME["border"]), 1, Qt.PenStyle.DashLine)
        for tick in y_ticks:
            y = to_screen(0, tick).y()
            painter.setPen(grid)
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(QColor(THEME["muted"]))
            painter.drawText(QRectF(area.left(), y - metrics.height() / 2, y_axis_width - 6, metrics.height()),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, _fmt(tick))
        for tick in x_ticks:
            x = to_screen(tick, 0).x()
            painter.setPen(grid)
            painter.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))
            painter.setPen(QColor(THEME["muted"]))
            painter.drawText(QRectF(x - 40, plot.bottom() + 4, 80, metrics.height()), Qt.AlignmentFlag.AlignCenter,
                             f"{tick:g}")
        painter.drawText(QRectF(plot.left(), plot.bottom() + metrics.height() + 6, plot.width(), metrics.height()),
                         Qt.AlignmentFlag.AlignCenter, self.x_label)
        placed: list[QRectF] = []
        for i, point in enumerate(self.points):
            centre = to_screen(point.x, point.y)
            if point.y_error:
                painter.setPen(QPen(QColor(THEME["text"]), 1.3))
                top = to_screen(point.x, min(point.y + point.y_error, y_ticks[-1]))
                bottom = to_screen(point.x, max(point.y - point.y_error, 0))
                painter.drawLine(top, bottom)
                for end in (top, bottom):
                    painter.drawLine(QPointF(end.x() - 4, end.y()), QPointF(end.x() + 4, end.y()))
            self._marker(painter, centre, i, 6)
            painter.setPen(QColor(THEME["text"]))
            label = metrics.elidedText(point.label, Qt.TextElideMode.ElideRight, 160)
            box = self._label_box(metrics, label, centre, area, placed)
            placed.append(box)
            painter.drawText(box, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, label)
            tip = f"{point.label}: score {_fmt(point.y)}" + (f" ± {_fmt(point.y_error)}" if point.y_error else "") \
                + f", {point.x:,.0f} {self.x_label.lower()}"
            self._hits.append((QRectF(centre.x() - 8, centre.y() - 8, 16, 16), tip))
        painter.setPen(QPen(QColor(THEME["border_strong"]), 1))
        path = QPainterPath(QPointF(plot.left(), plot.top()))
        path.lineTo(plot.bottomLeft())
        path.lineTo(plot.bottomRight())
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)


@dataclass
class Interval:
    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    note: str = ""  # e.g. "n=42", shown after the figures


class ForestChart(_Chart):
    """A forest plot: one row per label, a square at the value and a line across its interval, around a
    dashed line at 0 (no difference).  A row whose interval excludes 0 has a filled square, the others a
    hollow one, and every row prints its value and interval at the right, so it reads without colour."""

    def __init__(self, title: str = "", subtitle: str = "", parent: QWidget | None = None):
        super().__init__(title, subtitle, parent)
        self.empty_text = "Nothing to compare"
        self.rows: list[Interval] = []

    def set_rows(self, rows: list[Interval]) -> None:
        self.rows = rows
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(480, 90 + 26 * max(len(self.rows), 2))

    def paintEvent(self, event) -> None:  # noqa: N802
        painter, area = self._begin()
        if not self.rows:
            self._empty(painter, area)
            return
        metrics = QFontMetrics(self.font())
        labels = [r.label for r in self.rows]
        label_width = min(max(metrics.horizontalAdvance(t) for t in labels) + 14, area.width() * 0.42)
        figures = [("—" if r.value is None else f"{r.value:+.3f}" + (
            f"  [{r.low:+.3f}, {r.high:+.3f}]" if r.low is not None else "")) + (f"  {r.note}" if r.note else "")
            for r in self.rows]
        figure_width = max(metrics.horizontalAdvance(t) for t in figures) + 12
        axis_height = metrics.height() + 6
        plot = QRectF(area.left() + label_width, area.top(), area.width() - label_width - figure_width,
                      area.height() - axis_height)
        bounds = [abs(v) for r in self.rows for v in (r.value, r.low, r.high) if v is not None]
        reach = max(bounds + [0.01]) * 1.08  # symmetric about 0, so left and right read alike
        # Round ticks inside the range, as many as fit their labels.
        room = metrics.horizontalAdvance("+0.00") + 14
        steps = [t for t in nice_ticks(0, reach, 3)[1:] if t <= reach]
        if len(steps) > 1 and plot.width() / (2 * len(steps) + 1) < room:
            steps = steps[-1:]
        ticks = [-t for t in reversed(steps)] + [0.0] + steps

        def x_of(value: float) -> float:
            return plot.left() + (value + reach) / (2 * reach) * plot.width()

        grid = QPen(QColor(THEME["border"]), 1, Qt.PenStyle.DashLine)
        for tick in ticks:
            x = x_of(tick)
            painter.setPen(grid)
            painter.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))
            painter.setPen(QColor(THEME["muted"]))
            painter.drawText(QRectF(x - 30, plot.bottom() + 4, 60, metrics.height()), Qt.AlignmentFlag.AlignCenter,
                             f"{tick:+.2f}" if tick else "0")
        painter.setPen(QPen(QColor(THEME["muted"]), 1.4, Qt.PenStyle.DashLine))
        painter.drawLine(QPointF(x_of(0), plot.top()), QPointF(x_of(0), plot.bottom()))
        row_height = plot.height() / len(self.rows)
        colour = QColor(SERIES_COLOURS[0])
        for k, (row, label, figure) in enumerate(zip(self.rows, labels, figures)):
            mid = plot.top() + (k + 0.5) * row_height
            painter.setPen(QColor(THEME["text"]))
            painter.drawText(QRectF(area.left(), mid - row_height / 2, label_width - 10, row_height),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             metrics.elidedText(label, Qt.TextElideMode.ElideMiddle, int(label_width - 10)))
            painter.drawText(QRectF(plot.right() + 10, mid - row_height / 2, figure_width, row_height),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, figure)
            if row.value is None:
                continue
            cap = min(6.0, row_height * 0.25)
            if row.low is not None and row.high is not None:
                painter.setPen(QPen(QColor(THEME["text"]), 1.5))
                lo, hi = x_of(row.low), x_of(row.high)
                painter.drawLine(QPointF(lo, mid), QPointF(hi, mid))
                for x in (lo, hi):
                    painter.drawLine(QPointF(x, mid - cap), QPointF(x, mid + cap))
            clear = row.low is not None and (row.low > 0 or row.high < 0)
            side = min(11.0, row_height * 0.55)
            painter.setPen(QPen(colour.darker(130), 1.6))
            painter.setBrush(colour if clear else QColor(THEME["surface"]))
            painter.drawRect(QRectF(x_of(row.value) - side / 2, mid - side / 2, side, side))
            tip = f"{label}: Δ {figure}" + ("" if clear else " — the interval includes 0")
            self._hits.append((QRectF(area.left(), mid - row_height / 2, area.width(), row_height), tip))
        painter.setBrush(Qt.BrushStyle.NoBrush)
