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
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QComboBox, QFileDialog, QFrame, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QPlainTextEdit, QPushButton, QScrollArea, QSplitter,
                               QStackedWidget, QTableView, QToolButton, QToolTip, QVBoxLayout, QWidget)

from healthqa import store
from healthqa.adjudication import adjudicate, adjudication_item, agreement_overview, disagreements

from .. import look
from ..look import SERIES_COLOURS, THEME
from ..widgets.markdown_view import RenderedDocument, SafeTextBrowser, render_answer, render_conversation
from ..widgets.markdown_view import _bubble as bubble  # the conversation's own bubble, so the answer matches
from . import Panel

N_BOOT = 2000
SEED = 0
ALL = ""
PAIR_STATISTICS = {
    "percent_agreement": "Percent agreement",
    "cohen_kappa": "Cohen's κ",
    "gwet_ac1": "Gwet's AC1",
    "krippendorff_alpha": "Krippendorff's α",
}
GROUP_STATISTICS = {
    "percent_agreement": "% agreement",
    "fleiss_kappa": "Fleiss' κ",
    "krippendorff_alpha": "Kripp. α",
    "gwet_ac1": "Gwet's AC1",
}
BREAKDOWNS = {"axis": "By axis", "theme": "By theme"}
VERDICT_LABELS = {"met": "Met", "not_met": "Not met", "cannot_judge": "Cannot judge", None: "No verdict"}
VERDICT_COLOURS = {"met": ("met", "met_bg"), "not_met": ("not_met", "not_met_bg"),
                   "cannot_judge": ("cannot_judge", "cj_bg"), None: ("muted", "chip")}


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

    fmt = "pdf" if path.lower().endswith(".pdf") else "html"
    return write_report(ws, path, fmt, model=model, set_name=set_name)


def pair_disagrees(item: dict, a: str, b: str) -> bool:
    """Both raters gave met / not met on the item, and not the same."""
    given = {v["rater"]: v["verdict"] for v in item["verdicts"] if v["verdict"] in ("met", "not_met")}
    return a in given and b in given and given[a] != given[b]


def fmt(value, digits: int = 2) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def fmt_ci(ci) -> str:
    return "" if not ci or ci[0] is None else f"{ci[0]:.2f}–{ci[1]:.2f}"


def plain_label(text: str = "", object_name: str | None = None, *, wrap: bool = False) -> QLabel:
    """A label that shows its text as text: workspace text (criteria, comments, names) is untrusted."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(wrap)
    if object_name:
        label.setObjectName(object_name)
    return label


def card(title: str, *extra: QWidget) -> tuple[QFrame, QVBoxLayout]:
    frame = QFrame()
    frame.setObjectName("card")
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(14, 10, 14, 12)
    layout.setSpacing(6)
    header = QHBoxLayout()
    heading = QLabel(title)
    heading.setObjectName("sectionTitle")
    header.addWidget(heading)
    header.addStretch(1)
    for widget in extra:
        header.addWidget(widget)
    layout.addLayout(header)
    return frame, layout


# -- heatmap -------------------------------------------------------------------------------------

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
            QToolTip.showText(event.globalPosition().toPoint(), "\n".join(lines), self)
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
    return QColor(round(low.red() + (high.red() - low.red()) * t), round(low.green() + (high.green() - low.green()) * t),
                  round(low.blue() + (high.blue() - low.blue()) * t))


# -- model graders among clinicians ------------------------------------------------------------------

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
            painter.drawText(QRectF(0, k * row, left - 8, row), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             label)
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


# -- table models ----------------------------------------------------------------------------------

class GroupStatisticsModel(QAbstractTableModel):
    """All items, then one row per axis or theme: items and four statistics with their 95% intervals."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[tuple[str, dict]] = []

    def set_rows(self, rows: list[tuple[str, dict]]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt override
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt override
        return 2 + len(GROUP_STATISTICS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt override
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return ["Group", "Items", *GROUP_STATISTICS.values()][section]
        if role == Qt.ItemDataRole.TextAlignmentRole and section:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        label, block = self.rows[index.row()]
        column = index.column()
        key = list(GROUP_STATISTICS)[column - 2] if column >= 2 else None
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return label
            if column == 1:
                return str(block.get("items", ""))
            ci = fmt_ci(block.get(f"{key}_ci"))
            return f"{fmt(block[key])}  ({ci})" if ci else fmt(block[key])
        if role == Qt.ItemDataRole.TextAlignmentRole and column:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and index.row() == 0:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole and key:
            degenerate = block.get("bootstrap", {}).get("degenerate", {}).get(key, 0)
            return (f"{GROUP_STATISTICS[key]} for {label}: {fmt(block[key], 3)}; 95% bootstrap interval "
                    f"{fmt_ci(block.get(f'{key}_ci')) or 'undefined'}; {degenerate} resamples undefined")
        return None


class DisagreementModel(QAbstractTableModel):
    COLUMNS = ["Prompt", "Model", "Criterion", "Points", "Met", "Not met", "Final verdict"]

    def __init__(self, parent=None):
        super().__init__(parent)
        self.items: list[dict] = []

    def set_items(self, items: list[dict]) -> None:
        self.beginResetModel()
        self.items = items
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt override
        return 0 if parent.isValid() else len(self.items)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt override
        return len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt override
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        item = self.items[index.row()]
        column = index.column()
        final = item["adjudicated"]
        if role == Qt.ItemDataRole.DisplayRole:
            return [item["prompt_id"], item["model"], " ".join(item["criterion"].split()), f"{item['points']:+d}",
                    str(item["met"]), str(item["not_met"]),
                    "—" if final is None else f"{VERDICT_LABELS[final['verdict']]} ({final['by'] or '?'})"][column]
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (3, 4, 5):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and column == 6 and final:
            return QColor(THEME[VERDICT_COLOURS[final["verdict"]][0]])
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [item["criterion"], ""] + [
                f"{v['rater']}: {VERDICT_LABELS[v['verdict']]}" for v in item["verdicts"]]
            return "\n".join(lines)
        return None


# -- adjudication view ---------------------------------------------------------------------------------

class AdjudicationView(QWidget):
    """One disagreement: the answer, every rater's verdict and comment side by side, the final verdict."""

    sig_back = Signal()
    """Back to the agreement overview."""
    sig_step = Signal(int)
    """-1 previous, +1 next disagreement."""
    sig_record = Signal(str, str, str)
    """(adjudicator, verdict, note): record this final verdict."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.item: dict | None = None
        self._build()

    def _build(self) -> None:
        self.back_button = QPushButton("← Agreement")
        self.back_button.clicked.connect(self.sig_back.emit)
        self.position = QLabel("")
        self.position.setObjectName("panelSubtitle")
        self.previous_button = QPushButton("‹ Previous")
        self.previous_button.clicked.connect(lambda: self.sig_step.emit(-1))
        self.next_button = QPushButton("Next ›")
        self.next_button.clicked.connect(lambda: self.sig_step.emit(1))
        top = QHBoxLayout()
        top.addWidget(self.back_button)
        heading = QLabel("Adjudicate a disagreement")
        heading.setObjectName("panelTitle")
        top.addWidget(heading)
        top.addWidget(self.position)
        top.addStretch(1)
        top.addWidget(self.previous_button)
        top.addWidget(self.next_button)

        self.answer_view = SafeTextBrowser()
        self.answer_view.setObjectName("answerView")
        self.answer_view.setAccessibleName("Conversation and answer")

        self.points = QLabel("")
        self.criterion = plain_label("", wrap=True)
        self.criterion.setAccessibleName("Criterion")
        big = QFont(self.criterion.font())
        big.setPointSizeF(big.pointSizeF() + 1.5)
        big.setBold(True)
        self.criterion.setFont(big)
        self.tags = plain_label("", "muted")
        criterion_row = QHBoxLayout()
        criterion_row.addWidget(self.points, 0, Qt.AlignmentFlag.AlignTop)
        criterion_row.addWidget(self.criterion, 1)

        self.verdict_strip = QWidget()
        self.verdict_layout = QHBoxLayout(self.verdict_strip)
        self.verdict_layout.setContentsMargins(0, 0, 0, 0)
        self.verdict_layout.setSpacing(8)
        verdict_scroll = QScrollArea()
        verdict_scroll.setWidgetResizable(True)
        verdict_scroll.setFrameShape(QFrame.Shape.NoFrame)
        # The cards sit on their parent card's background, not on the scroll area's grey.
        verdict_scroll.setObjectName("verdictScroll")
        verdict_scroll.viewport().setObjectName("verdictViewport")
        self.verdict_strip.setObjectName("verdictStrip")
        verdict_scroll.setStyleSheet("#verdictScroll, #verdictViewport, #verdictStrip { background: transparent; }")
        verdict_scroll.setWidget(self.verdict_strip)
        verdict_scroll.setMinimumHeight(150)

        self.current = plain_label("", wrap=True)
        self.current.setObjectName("banner")
        self.verdict_buttons = QButtonGroup(self)
        self.verdict_buttons.setExclusive(True)
        buttons = QHBoxLayout()
        for verdict in ("met", "not_met", "cannot_judge"):
            button = QToolButton()
            button.setObjectName("verdictButton")
            button.setProperty("verdict", verdict)
            button.setText(VERDICT_LABELS[verdict])
            button.setCheckable(True)
            button.setMinimumWidth(96)
            self.verdict_buttons.addButton(button)
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.verdict_buttons.buttonToggled.connect(lambda *_: self._update_record_button())
        self.note = QPlainTextEdit()
        self.note.setPlaceholderText("Why this verdict (kept with the decision)")
        self.note.setAccessibleName("Adjudication note")
        self.note.setMaximumHeight(64)
        self.adjudicator = QLineEdit()
        self.adjudicator.setPlaceholderText("Adjudicator's name")
        self.adjudicator.setAccessibleName("Adjudicator")
        self.adjudicator.textChanged.connect(lambda _: self._update_record_button())
        self.record_button = QPushButton("Record final verdict")
        self.record_button.setProperty("primary", True)
        self.record_button.clicked.connect(self._record)
        sign = QHBoxLayout()
        sign.addWidget(QLabel("Adjudicator"))
        sign.addWidget(self.adjudicator, 1)
        sign.addWidget(self.record_button)

        decision, decision_layout = card("FINAL VERDICT")
        decision_layout.addWidget(self.current)
        decision_layout.addLayout(buttons)
        decision_layout.addWidget(self.note)
        decision_layout.addLayout(sign)

        raters, raters_layout = card("EACH RATER'S VERDICT")
        raters_layout.addWidget(verdict_scroll, 1)

        criterion_card, criterion_layout = card("CRITERION")
        criterion_layout.addLayout(criterion_row)
        criterion_layout.addWidget(self.tags)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.setSpacing(10)
        right_layout.addWidget(criterion_card)
        right_layout.addWidget(raters, 1)
        right_layout.addWidget(decision)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.answer_view)
        split.addWidget(right)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setSizes([460, 600])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        layout.addLayout(top)
        layout.addWidget(split, 1)

    # public API ---------------------------------------------------------------------------------
    def show_item(self, item: dict, position: int, total: int) -> None:
        self.item = item
        self.position.setText(f"{position + 1} of {total} · prompt {item['prompt_id']} · {item['model']}")
        self.previous_button.setEnabled(position > 0)
        self.next_button.setEnabled(position + 1 < total)
        self.answer_view.show_document(answer_document(item))
        self.points.setText(f"{item['points']:+d}")
        self.points.setObjectName("pointsPositive" if item["points"] > 0 else "pointsNegative")
        look.repolish(self.points)
        self.criterion.setText(item["criterion"])
        self.tags.setText(" · ".join(item["tags"]))
        while self.verdict_layout.count():
            widget = self.verdict_layout.takeAt(0).widget()
            if widget:
                widget.deleteLater()
        for verdict in item["verdicts"]:
            self.verdict_layout.addWidget(verdict_card(verdict))
        self.verdict_layout.addStretch(1)
        final = item["adjudicated"]
        if final is None:
            self.current.setText("No final verdict yet. Read the answer and each rater's reasons, then choose.")
        else:
            when = (final["at"] or "")[:16].replace("T", " ")
            changes = len(item.get("history", []))
            self.current.setText(f"Final verdict: {VERDICT_LABELS[final['verdict']]} — by {final['by'] or 'unknown'}"
                                 f"{', ' + when if when else ''}" + (f" ({changes} decisions in the history)"
                                                                     if changes > 1 else "")
                                 + (f"\nNote: {final['note']}" if final["note"] else ""))
        # An exclusive group refuses to uncheck its checked button: lift that while setting them.
        self.verdict_buttons.setExclusive(False)
        for button in self.verdict_buttons.buttons():
            button.setChecked(final is not None and button.property("verdict") == final["verdict"])
        self.verdict_buttons.setExclusive(True)
        self.note.setPlainText((final["note"] or "") if final else "")
        self._update_record_button()

    def chosen_verdict(self) -> str | None:
        button = self.verdict_buttons.checkedButton()
        return button.property("verdict") if button else None

    # private -------------------------------------------------------------------------------------
    def _update_record_button(self) -> None:
        self.record_button.setEnabled(self.chosen_verdict() is not None and bool(self.adjudicator.text().strip()))

    def _record(self) -> None:
        verdict = self.chosen_verdict()
        if verdict and self.adjudicator.text().strip():
            self.sig_record.emit(self.adjudicator.text().strip(), verdict, self.note.toPlainText().strip())


def answer_document(item: dict) -> RenderedDocument:
    """The conversation, then the graded answer in its own bubble, as one safe document."""
    conversation = render_conversation(item["conversation"])
    label = f'<p class="role">ANSWER BEING GRADED · {html.escape(item["model"]).upper()}</p>'
    answer = bubble(label + render_answer(item["answer"]).html, background=THEME["surface"], border=THEME["primary"])
    return RenderedDocument(conversation.html + answer, conversation.images)


def verdict_card(verdict: dict) -> QFrame:
    frame = QFrame()
    frame.setObjectName("card")
    frame.setMinimumWidth(120)
    frame.setMaximumWidth(300)
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(10, 8, 10, 8)
    layout.setSpacing(4)
    name = plain_label(verdict["rater"])
    bold = QFont(name.font())
    bold.setBold(True)
    name.setFont(bold)
    kind = plain_label("model grader" if verdict["kind"] == "model" else "clinician", "muted")
    ink, background = VERDICT_COLOURS.get(verdict["verdict"], VERDICT_COLOURS[None])
    pill = plain_label(VERDICT_LABELS.get(verdict["verdict"], str(verdict["verdict"])))
    pill.setAccessibleName(f"{verdict['rater']} verdict")
    pill.setStyleSheet(f"background: {THEME[background]}; color: {THEME[ink]}; border: 1px solid {THEME[ink]};"
                       "border-radius: 9px; padding: 2px 10px; font-weight: 700;")
    layout.addWidget(name)
    layout.addWidget(kind)
    layout.addWidget(pill, 0, Qt.AlignmentFlag.AlignLeft)
    explanation = plain_label(verdict["explanation"] or "No comment on this criterion.", wrap=True)
    explanation.setAccessibleName(f"{verdict['rater']} comment")
    if not verdict["explanation"]:
        explanation.setObjectName("muted")
    layout.addWidget(explanation)
    if verdict.get("answer_comment"):
        comment = plain_label(f"On the whole answer: {verdict['answer_comment']}", "criterionComment", wrap=True)
        layout.addWidget(comment)
    layout.addStretch(1)
    return frame


# -- the panel -------------------------------------------------------------------------------------------

class AgreementPanel(Panel):
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
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.loaded: dict | None = None
        self.items: list[dict] = []  # the disagreements listed (after the pair filter)
        self.pair_filter: tuple[str, str] | None = None
        self._position = -1
        self.report_path_chooser: Callable[[], str | None] = self._ask_report_path  # tests replace the dialog
        self._build()
        ctx.sig_rater_changed.connect(self._default_adjudicator)
        self._default_adjudicator()

    # -- building ------------------------------------------------------------------------------
    def _build(self) -> None:
        title = QLabel("Agreement")
        title.setObjectName("panelTitle")
        self.subtitle = QLabel("")
        self.subtitle.setObjectName("panelSubtitle")
        self.model_combo = QComboBox()
        self.model_combo.setAccessibleName("Answers of model")
        self.model_combo.setMinimumWidth(140)
        self.model_combo.activated.connect(lambda _: self._reload())
        self.set_combo = QComboBox()
        self.set_combo.setAccessibleName("Question set")
        self.set_combo.setMinimumWidth(130)
        self.set_combo.activated.connect(lambda _: self._reload())
        self.report_button = QPushButton("Save report…")
        self.report_button.setToolTip("The researcher's report, as a self-contained HTML or a PDF file")
        self.report_button.clicked.connect(self._save_report)
        self.refresh_button = QPushButton(look.icon("refresh"), "Recompute")
        self.refresh_button.clicked.connect(self._reload)
        header = QHBoxLayout()
        header.setSpacing(10)
        header.addWidget(title)
        header.addWidget(self.subtitle)
        header.addStretch(1)
        header.addWidget(QLabel("Model"))
        header.addWidget(self.model_combo)
        header.addWidget(QLabel("Set"))
        header.addWidget(self.set_combo)
        header.addWidget(self.report_button)
        header.addWidget(self.refresh_button)

        self.statistic_combo = QComboBox()
        self.statistic_combo.setAccessibleName("Statistic in the heatmap")
        for key, label in PAIR_STATISTICS.items():
            self.statistic_combo.addItem(label, key)
        self.heatmap = RaterHeatmap()
        self.heatmap.setAccessibleName("Agreement between each pair of raters")
        self.heatmap.sig_pair_clicked.connect(self._on_pair_clicked)
        self.statistic_combo.currentIndexChanged.connect(
            lambda _: self.heatmap.set_statistic(self.statistic_combo.currentData()))
        heat_card, heat_layout = card("EACH PAIR OF RATERS", self.statistic_combo)
        heat_layout.addWidget(self.heatmap, 1)
        heat_note = QLabel("Each cell: the value on the items both raters judged, and how many (n). "
                           "Click a cell to list that pair's disagreements.")
        heat_note.setObjectName("muted")
        heat_note.setWordWrap(True)
        heat_layout.addWidget(heat_note)

        self.tiles = {key: QLabel("") for key in GROUP_STATISTICS}
        tiles_row = QHBoxLayout()
        tiles_row.setSpacing(8)
        for key, tile in self.tiles.items():
            tile.setObjectName("card")
            tile.setAccessibleName(GROUP_STATISTICS[key])
            tile.setAlignment(Qt.AlignmentFlag.AlignCenter)
            tile.setMinimumHeight(76)
            tiles_row.addWidget(tile, 1)
        self.facts = QLabel("")
        self.facts.setObjectName("muted")
        overall_card, overall_layout = card("ALL RATERS TOGETHER · 95% INTERVALS")
        overall_layout.addLayout(tiles_row)
        overall_layout.addWidget(self.facts)

        self.standing = GraderStanding()
        self.standing.setAccessibleName("Model graders among clinicians")
        self.standing_text = QLabel("")
        self.standing_text.setWordWrap(True)
        self.standing_text.setTextFormat(Qt.TextFormat.PlainText)
        standing_card, standing_layout = card("MODEL GRADERS AMONG CLINICIANS (MACRO-F1)")
        standing_layout.addWidget(self.standing)
        standing_layout.addWidget(self.standing_text)
        standing_layout.addStretch(1)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.setSpacing(10)
        right_layout.addWidget(overall_card)
        right_layout.addWidget(standing_card, 1)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(heat_card)
        top.addWidget(right)
        top.setStretchFactor(0, 0)
        top.setStretchFactor(1, 1)
        top.setSizes([440, 620])
        top.setChildrenCollapsible(False)

        # The lower card shows one of: the disagreement list, agreement by axis, agreement by theme.
        self.disagreements = DisagreementModel(self)
        self.list_view = self._table(self.disagreements, "Disagreements")
        columns = self.list_view.horizontalHeader()
        for column, width in ((0, 170), (1, 150)):  # ids and model names can be long: elided, the criterion wins
            columns.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            columns.resizeSection(column, width)
        columns.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.list_view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list_view.activated.connect(lambda index: self.open_item(index.row()))
        self.list_view.doubleClicked.connect(lambda index: self.open_item(index.row()))
        self.group_models = {key: GroupStatisticsModel(self) for key in BREAKDOWNS}
        self.group_tables = {}
        for key, model in self.group_models.items():
            table = self._table(model, f"Agreement {BREAKDOWNS[key].lower()} with 95% intervals")
            table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
            self.group_tables[key] = table
        self.lower = QStackedWidget()
        self.lower.addWidget(self.list_view)
        for table in self.group_tables.values():
            self.lower.addWidget(table)
        self.view_buttons = QButtonGroup(self)
        self.view_buttons.setExclusive(True)
        self.list_button = QPushButton("Disagreements")
        switch = QHBoxLayout()
        switch.setSpacing(4)
        for k, (button, page) in enumerate([(self.list_button, self.list_view)] + [
                (QPushButton(BREAKDOWNS[key]), self.group_tables[key]) for key in BREAKDOWNS]):
            button.setCheckable(True)
            button.setAccessibleName(f"Show {button.text().lower()}")
            self.view_buttons.addButton(button, k)
            switch.addWidget(button)
        self.view_buttons.idToggled.connect(self._on_view_toggled)
        self.pair_button = QPushButton("")
        self.pair_button.setToolTip("Show the disagreements of every pair again")
        self.pair_button.clicked.connect(lambda: self._set_pair_filter(None))
        self.pair_button.setVisible(False)
        self.open_button = QPushButton("Adjudicate…")
        self.open_button.setProperty("primary", True)
        self.open_button.clicked.connect(lambda: self.open_item(self.list_view.currentIndex().row()))
        list_card = QFrame()
        list_card.setObjectName("card")
        list_layout = QVBoxLayout(list_card)
        list_layout.setContentsMargins(14, 10, 14, 12)
        list_header = QHBoxLayout()
        list_header.addLayout(switch)
        list_header.addSpacing(8)
        list_header.addWidget(self.pair_button)
        list_header.addStretch(1)
        list_header.addWidget(self.open_button)
        list_layout.addLayout(list_header)
        list_layout.addWidget(self.lower, 1)
        self.list_button.setChecked(True)

        overview = QSplitter(Qt.Orientation.Vertical)
        overview.addWidget(top)
        overview.addWidget(list_card)
        overview.setStretchFactor(0, 0)
        overview.setStretchFactor(1, 1)
        overview.setSizes([380, 320])
        overview.setChildrenCollapsible(False)

        self.adjudication = AdjudicationView()
        self.adjudication.sig_back.connect(self.show_overview)
        self.adjudication.sig_step.connect(lambda step: self.open_item(self._position + step))
        self.adjudication.sig_record.connect(self._record)

        self.notice = QLabel("")
        self.notice.setObjectName("emptyState")
        self.notice.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.notice.setWordWrap(True)
        self.pages = QStackedWidget()
        self.pages.addWidget(overview)
        self.pages.addWidget(self.adjudication)
        self.pages.addWidget(self.notice)
        self._overview = overview
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 16)
        layout.setSpacing(10)
        layout.addLayout(header)
        layout.addWidget(self.pages, 1)
        self.setFocusProxy(self.list_view)

    def _table(self, model, name: str) -> QTableView:
        table = QTableView()
        table.setModel(model)
        table.setAccessibleName(name)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setAlternatingRowColors(True)
        table.setShowGrid(False)
        table.setWordWrap(False)
        table.verticalHeader().setVisible(False)
        table.verticalHeader().setDefaultSectionSize(28)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        return table

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
        self._fill_combo(self.model_combo, "All models", loaded["models"])
        self._fill_combo(self.set_combo, "All sets", loaded["sets"])
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
                tile.setText(f"<span style='color:{THEME['muted']}'>{GROUP_STATISTICS[key]}</span><br>"
                             f"<span style='font-size:15pt; font-weight:700'>{fmt(overall[key])}</span><br>"
                             f"<span style='color:{THEME['muted']}'>{fmt_ci(overall.get(key + '_ci')) or '—'}</span>")
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
        self.disagreements.set_items(items)
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

    @staticmethod
    def _fill_combo(combo: QComboBox, everything: str, names: list[str]) -> None:
        current = combo.currentData()
        combo.clear()
        combo.addItem(everything, ALL)
        for name in names:
            combo.addItem(name, name)
        index = combo.findData(current)
        combo.setCurrentIndex(index if index >= 0 else 0)

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
        self.adjudication.show_item(item, self._position, len(self.items))
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
