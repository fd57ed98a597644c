"""The rater x rater heatmap of one pair statistic (QPainter).

Every cell prints the value and n, the number of items both raters judged,
so a high value on three items never reads like one on three hundred. Rows
carry the raters' numbered names, columns the numbers only. Clicking a cell
of two raters with items in common emits `sig_pair_clicked`; hovering shows
all the pair's statistics.

Data: `set_data(raters, pairs)` with the `raters` and `pairs` of
healthqa.agreement's report (each pair: its two raters, n, every statistic
of `PAIR_STATISTICS` and macro_f1).
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QToolTip, QWidget

from ..agreement_format import PAIR_STATISTICS, fmt
from ..look import THEME
from .plain_text import plain_tooltip


class RaterHeatmap(QWidget):
    """Rater x rater matrix of one pair statistic; every cell prints its value and n."""

    sig_pair_clicked = Signal(str, str)
    """(rater, rater): the pair whose cell was clicked."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.raters: list[str] = []
        self.statistic = "percent_agreement"
        self.selected: tuple[str, str] | None = None
        self._pairs: dict[frozenset, dict] = {}
        self.setMouseTracking(True)
        self.setMinimumSize(320, 240)

    # public API -----------------------------------------------------------------------------
    def set_data(self, raters: list[str], pairs: list[dict]) -> None:
        self.raters = list(raters)
        self._pairs = {frozenset(p["raters"]): p for p in pairs}
        self.update()

    def set_statistic(self, key: str) -> None:
        self.statistic = key
        self.update()

    def pair(self, a: str, b: str) -> dict | None:
        return self._pairs.get(frozenset((a, b))) if a != b else None

    def cell_text(self, a: str, b: str) -> str:
        """What the cell of raters a and b prints."""
        if a == b:
            return "—"
        p = self.pair(a, b)
        if p is None or not p["n"]:
            return "no items\nin common"
        return f"{fmt(p[self.statistic])}\nn={p['n']}"

    def cell_rect(self, a: str, b: str) -> QRectF:
        """Where the cell of row rater a and column rater b is drawn (and clicked)."""
        layout = self._layout()
        if layout is None:
            return QRectF()
        _, left, top, cell_w, cell_h = layout
        i, j = self.raters.index(a), self.raters.index(b)
        return QRectF(left + j * cell_w, top + i * cell_h, cell_w, cell_h).adjusted(1, 1, -1, -1)

    # Qt overrides -------------------------------------------------------------------------
    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(460, 330)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        layout = self._layout()
        if layout is None:
            painter.setPen(QColor(THEME["muted"]))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Needs two raters")
            return
        names, left, top, cell_w, cell_h = layout
        small = QFont(self.font())
        small.setPointSizeF(max(self.font().pointSizeF() - 1.5, 7.5))
        big = QFont(self.font())
        big.setBold(True)
        for i, a in enumerate(self.raters):
            painter.setPen(QColor(THEME["text"]))
            painter.setFont(self.font())
            painter.drawText(QRectF(0, top + i * cell_h, left - 8, cell_h),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, names[i])
            for b in self.raters:
                self._paint_cell(painter, self.cell_rect(a, b), a, b, big, small)
        painter.setPen(QColor(THEME["muted"]))
        painter.setFont(self.font())
        for j in range(len(self.raters)):  # column numbers match the numbered rows
            painter.drawText(QRectF(left + j * cell_w, 0, cell_w, top - 4),
                             Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom, str(j + 1))

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt override
        hit = self._hit(event.position())
        if hit and hit[0] != hit[1] and self.pair(*hit) and self.pair(*hit)["n"]:
            self.selected = hit
            self.update()
            self.sig_pair_clicked.emit(*hit)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        hit = self._hit(event.position())
        p = self.pair(*hit) if hit else None
        if p:
            lines = [f"{hit[0]} and {hit[1]}: {p['n']} items both judged"] + [
                f"{label}: {fmt(p[key], 3)}" for key, label in PAIR_STATISTICS.items()] + [
                f"Macro-F1: {fmt(p['macro_f1'], 3)}", "Click to list their disagreements"]
            QToolTip.showText(event.globalPosition().toPoint(), plain_tooltip("\n".join(lines)), self)
        else:
            QToolTip.hideText()

    # private --------------------------------------------------------------------------------
    def _layout(self) -> tuple[list[str], float, float, float, float] | None:
        """Row labels, left and top margins, cell width and height, for the widget's current size.

        Rows carry the raters' names with a number; columns carry the number only, so long
        names (a grader's model and settings) never squeeze the cells.
        """
        n = len(self.raters)
        if n < 2:
            return None
        metrics = QFontMetrics(self.font())
        names = [f"{k}  " + metrics.elidedText(r, Qt.TextElideMode.ElideRight, 190)
                 for k, r in enumerate(self.raters, start=1)]
        left = max(metrics.horizontalAdvance(name) for name in names) + 12
        top = metrics.height() + 8
        cell_w = max(40.0, min(110.0, (self.width() - left - 4) / n))
        cell_h = max(32.0, min(80.0, (self.height() - top - 4) / n))
        return names, left, top, cell_w, cell_h

    def _hit(self, position: QPointF) -> tuple[str, str] | None:
        return next(((a, b) for a in self.raters for b in self.raters if self.cell_rect(a, b).contains(position)),
                    None)

    def _paint_cell(self, painter: QPainter, rect: QRectF, a: str, b: str, big: QFont, small: QFont) -> None:
        p = self.pair(a, b)
        value = p[self.statistic] if p and p["n"] else None
        if a == b or value is None:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(THEME["chip"]))
            painter.drawRoundedRect(rect, 3, 3)
            painter.setPen(QColor(THEME["muted"]))
            painter.setFont(small)
            text = "—" if a == b else ("n/a" if p and p["n"] else "none\nshared")
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
            return
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(ramp(value))
        painter.drawRoundedRect(rect, 3, 3)
        if self.selected and {a, b} == set(self.selected):
            painter.setPen(QPen(QColor(THEME["disagree"]), 3))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect.adjusted(1.5, 1.5, -1.5, -1.5), 3, 3)
        ink = QColor("#FFFFFF") if max(value, 0) > 0.55 else QColor(THEME["text"])
        painter.setPen(ink)
        upper, lower = QRectF(rect.left(), rect.top(), rect.width(), rect.height() * 0.58), \
            QRectF(rect.left(), rect.top() + rect.height() * 0.55, rect.width(), rect.height() * 0.4)
        painter.setFont(big)
        painter.drawText(upper, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom, fmt(value))
        painter.setFont(small)
        painter.drawText(lower, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, f"n={p['n']}")


def ramp(value: float) -> QColor:
    """White to the theme's primary blue; values below 0 (kappa can be negative) take the palest shade."""
    t = min(max(value, 0.0), 1.0)
    low, high = QColor("#F2F6FA"), QColor(THEME["primary"])
    return QColor(round(low.red() + (high.red() - low.red()) * t),
                  round(low.green() + (high.green() - low.green()) * t),
                  round(low.blue() + (high.blue() - low.blue()) * t))

