"""What the report draws with matplotlib: its charts, and the PDF pages they sit on.

Only matplotlib's object API is used (``Figure``, never pyplot), so no global
backend is chosen and the desktop app can build a report on a worker thread.
Every text is drawn literally (mathtext off): a ``$`` in a rater's name stays a
``$``.  Charts draw into a box given in inches, so the same chart sits in an
HTML page (as inline SVG) and on an A4 PDF page at the same size.
"""

from __future__ import annotations

import functools
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.textpath import TextToPath
from matplotlib.transforms import ScaledTranslation

# Okabe-Ito (without its yellow and black): told apart with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"]
INK, MUTED, RULE = "#1a1a1a", "#666666", "#d0d0d0"
STYLE = {
    "text.parse_math": False,
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "text.color": INK,
    "axes.edgecolor": "#888888",
    "axes.labelcolor": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "xtick.color": "#444444",
    "ytick.color": "#444444",
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "svg.fonttype": "none",  # text stays text in the SVG: searchable and small
    "pdf.fonttype": 42,  # TrueType in the PDF, so its text can be copied
}
CHART_WIDTH = 6.5  # inches: the text width of the PDF page
_TEXT_TO_PATH = TextToPath()


def style():
    """matplotlib settings for everything drawn here (a context manager)."""
    return matplotlib.rc_context(STYLE)


def short(label: str, limit: int = 32) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


@functools.lru_cache(maxsize=20_000)
def text_width(text: str, size: float, bold: bool = False) -> float:
    """Width in inches of `text` set in the report's font at `size` points."""
    font = FontProperties(family=STYLE["font.family"], size=size, weight="bold" if bold else "normal")
    return _TEXT_TO_PATH.get_text_width_height_descent(text, font, ismath=False)[0] / 72


def _text_width(texts, size: float) -> float:
    """Width in inches of the widest of `texts`."""
    return max((text_width(t, size) for t in texts), default=0.0)


def wrap(text: str, width: float, size: float, bold: bool = False) -> list[str]:
    """`text` broken into lines no wider than `width` inches (words measured one by one; kept "\n")."""
    space = text_width(" ", size, bold)
    lines: list[str] = []
    for paragraph in str(text).split("\n"):
        line, used = "", 0.0
        for word in paragraph.split():
            w = text_width(word, size, bold)
            while w > width:  # a word longer than the line: cut it
                if line:
                    lines.append(line)
                    line, used = "", 0.0
                cut = max(1, int(len(word) * width / w))
                lines.append(word[:cut])
                word = word[cut:]
                w = text_width(word, size, bold)
            if line and used + space + w > width:
                lines.append(line)
                line, used = "", 0.0
            line, used = (f"{line} {word}", used + space + w) if line else (word, w)
        lines.append(line)
    return lines


def _axes(fig: Figure, box, *, left=0.0, bottom=0.0, top=0.0, right=0.0):
    """Axes inside `box` (x, y, width, height in inches) leaving the given margins in inches."""
    fw, fh = fig.get_size_inches()
    x, y, w, h = box
    return fig.add_axes(((x + left) / fw, (y + bottom) / fh,
                         max(w - left - right, 0.1) / fw, max(h - bottom - top, 0.1) / fh))


# -- charts ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Estimate:
    """A value with an optional interval (low, high)."""

    value: float | None
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars with error bars: one group per category, one bar per series."""

    categories: list[str]
    series: list[tuple[str, list[Estimate]]]
    xlabel: str = "score (95% interval)"
    xmax: float = 1.0

    def _legend_rows(self) -> int:
        return math.ceil(len(self.series) / 3) if len(self.series) > 1 else 0

    @property
    def height(self) -> float:
        bars = len(self.categories) * len(self.series)
        return 0.55 + 0.17 * bars + 0.12 * len(self.categories) + 0.2 * self._legend_rows()

    def draw(self, fig: Figure, box) -> None:
        left = min(2.6, 0.15 + _text_width([short(c) for c in self.categories], 7.5))
        ax = _axes(fig, box, left=left, bottom=0.42, top=0.08 + 0.2 * self._legend_rows(), right=0.1)
        n = len(self.series)
        band = 0.8 / max(n, 1)
        for s, (label, estimates) in enumerate(self.series):
            color = PALETTE[s % len(PALETTE)]
            rows = [(c, e) for c, e in enumerate(estimates) if e.value is not None]
            ys = [c + (s - (n - 1) / 2) * band for c, _ in rows]
            ax.barh(ys, [e.value for _, e in rows], height=band * 0.85, color=color, label=label)
            for y, (_, e) in zip(ys, rows):
                end = e.value
                if e.low is not None and e.high is not None:
                    ax.errorbar(e.value, y, xerr=[[e.value - e.low], [e.high - e.value]], fmt="none",
                                ecolor="#222222", elinewidth=0.8, capsize=2)
                    end = max(end, e.high)
                ax.text(max(end, 0) + 0.012 * self.xmax, y, f"{e.value:.2f}", va="center", fontsize=6.5,
                        color=MUTED)
        ax.set_yticks(range(len(self.categories)), [short(c) for c in self.categories])
        ax.set_ylim(len(self.categories) - 0.5, -0.5)  # first category on top
        ax.set_xlim(0, self.xmax * 1.1)
        ax.set_xticks(np.linspace(0, self.xmax, 6))
        ax.set_xlabel(self.xlabel)
        ax.grid(axis="x", color="#e6e6e6", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.tick_params(axis="y", length=0)
        if n > 1:
            ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=min(n, 3), handlelength=1.2,
                      borderaxespad=0.2)


@dataclass(frozen=True)
class ScatterChart:
    """Score against mean output tokens: one point per (model, rater), coloured by rater.

    The raters of one model share its token count, so their points are spread
    sideways by a few display points (not data units) to keep them apart.
    """

    points: list[tuple[str, str, float, Estimate]]  # model, rater, mean output tokens, score
    xlabel: str = "mean output tokens per answer"
    ylabel: str = "score (95% interval)"

    def _raters(self) -> list[str]:
        return list(dict.fromkeys(rater for _, rater, _, _ in self.points))

    @property
    def height(self) -> float:
        return 2.9 + 0.17 * math.ceil(len(self._raters()) / 3)

    def draw(self, fig: Figure, box) -> None:
        raters = self._raters()
        legend_rows = math.ceil(len(raters) / 3)
        bottom, top = 0.5 + 0.17 * legend_rows, 0.1
        ax = _axes(fig, box, left=0.55, bottom=bottom, top=top, right=0.2)
        by_model: dict[str, list] = {}
        for model, rater, x, e in self.points:
            by_model.setdefault(model, []).append((rater, x, e))
        for model, members in by_model.items():
            for k, (rater, x, e) in enumerate(members):
                shift = (k - (len(members) - 1) / 2) * 7 / 72  # inches
                offset = ax.transData + ScaledTranslation(shift, 0, fig.dpi_scale_trans)
                err = None if e.low is None else [[e.value - e.low], [e.high - e.value]]
                r = raters.index(rater)
                ax.errorbar([x], [e.value], yerr=err, fmt="o", color=PALETTE[r % len(PALETTE)], ecolor="#555555",
                            elinewidth=0.8, capsize=2, markersize=5, transform=offset, label=rater)
            x = members[0][1]
            top_y = max((e.high if e.high is not None else e.value) for _, _, e in members)
            ax.annotate(short(model, 24), (x, top_y), xytext=(0, 5), textcoords="offset points", ha="center",
                        fontsize=7, color=INK)
        xmax = max((x for _, _, x, _ in self.points), default=1) or 1
        ax.set_xlim(0, xmax * 1.15)
        ax.set_ylim(0, 1.1)
        ax.set_xlabel(self.xlabel)
        ax.set_ylabel(self.ylabel)
        ax.grid(color="#e6e6e6", linewidth=0.6)
        ax.set_axisbelow(True)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        # The legend goes under the x label, in the room kept for it.
        ax.legend(unique.values(), unique.keys(), loc="upper left", ncol=3, handlelength=1.0, borderaxespad=0,
                  bbox_to_anchor=(0, -0.42 / (box[3] - bottom - top)))


@dataclass(frozen=True)
class HeatmapChart:
    """Rater x rater matrices, one panel each, the value (and n) printed in every cell."""

    raters: list[str]
    panels: list[tuple[str, list[list[float | None]]]]  # title, values (None: undefined / diagonal)
    counts: list[list[int]]  # items both raters rated

    def _cell(self) -> float:
        n = max(len(self.raters), 1)
        return min(0.62, (CHART_WIDTH - self._left() - 0.4) / (n * len(self.panels)))

    def _left(self) -> float:
        return 0.15 + _text_width([short(r, 24) for r in self.raters], 7.5)

    def _bottom(self) -> float:
        return 0.25 + 0.7 * _text_width([short(r, 24) for r in self.raters], 7.5)  # labels at 45 degrees

    @property
    def height(self) -> float:
        return 0.35 + self._cell() * len(self.raters) + self._bottom()

    def draw(self, fig: Figure, box) -> None:
        n = len(self.raters)
        cell, left, bottom = self._cell(), self._left(), self._bottom()
        labels = [short(r, 24) for r in self.raters]
        size = max(5.0, min(8.0, cell * 16))
        x = box[0] + left
        for p, (title, values) in enumerate(self.panels):
            ax = _axes(fig, (x, box[1] + bottom, cell * n, cell * n))
            x += cell * n + 0.35
            grid = np.array([[np.nan if v is None else v for v in row] for row in values], dtype=float)
            # Vector cells (not imshow, which would embed a bitmap in the SVG); white gaps between them.
            edges = np.arange(n + 1) - 0.5
            ax.pcolormesh(edges, edges, np.ma.masked_invalid(grid), cmap="Blues", vmin=0, vmax=1,
                          edgecolors="white", linewidth=1.5)
            ax.set_xlim(-0.5, n - 0.5)
            ax.set_ylim(n - 0.5, -0.5)
            ax.set_aspect("equal")
            ax.set_facecolor("#f3f3f3")
            for i in range(n):
                for j in range(n):
                    if i == j:
                        text, color = "—", MUTED
                    elif self.counts[i][j] == 0:
                        text, color = "no\noverlap", MUTED
                    elif np.isnan(grid[i, j]):
                        text, color = f"n/a\nn={self.counts[i][j]}", MUTED
                    else:
                        text = f"{grid[i, j]:.2f}\nn={self.counts[i][j]}"
                        color = "white" if grid[i, j] > 0.6 else INK
                    ax.text(j, i, text, ha="center", va="center", fontsize=size, color=color, linespacing=1.1)
            ax.set_xticks(range(n), labels, rotation=45, ha="right", rotation_mode="anchor")
            ax.set_yticks(range(n), labels if p == 0 else [""] * n)
            ax.tick_params(length=0)
            for spine in ax.spines.values():
                spine.set_visible(False)
            ax.set_title(title, fontsize=8.5, pad=4)


@dataclass(frozen=True)
class StandingChart:
    """Model graders' macro-F1 among the clinicians' leave-one-out macro-F1."""

    clinicians: list[tuple[str, float]]
    graders: list[tuple[str, float, float | None]]  # name, macro-F1, percentile among clinicians

    @property
    def height(self) -> float:
        return 0.75 + 0.3 * (1 + len(self.graders))

    def draw(self, fig: Figure, box) -> None:
        rows = ["clinicians (leave-one-out)"] + [short(name) for name, _, _ in self.graders]
        left = 0.15 + _text_width(rows, 7.5)
        ax = _axes(fig, box, left=left, bottom=0.42, top=0.05, right=0.9)
        ax.scatter([f for _, f in self.clinicians], [0] * len(self.clinicians), s=28, color="#9a9a9a",
                   edgecolor="white", linewidth=0.5, zorder=3)
        for k, (_, f1, percentile) in enumerate(self.graders, start=1):
            color = PALETTE[(k - 1) % len(PALETTE)]
            ax.scatter([f1], [k], marker="D", s=36, color=color, zorder=3)
            ax.axvline(f1, color=color, linewidth=0.8, linestyle=":", zorder=2)
            note = f"{f1:.2f}" + ("" if percentile is None else f" · percentile {percentile:.0f}")
            ax.text(1.02, k, note, va="center", fontsize=7, color=INK, transform=ax.get_yaxis_transform())
        ax.set_yticks(range(len(rows)), rows)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlim(0, 1)
        ax.set_xlabel("HealthBench pairwise macro-F1")
        ax.grid(axis="x", color="#e6e6e6", linewidth=0.6)
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)


@dataclass(frozen=True)
class ForestChart:
    """Differences with 95% intervals, one row each, around a line at 0 (no difference).

    Rows whose interval excludes 0 are drawn filled, the others hollow, and each row prints its
    value and interval on the right, so the chart reads without colour.
    """

    rows: list[tuple[str, Estimate]]  # label, difference (A − B) with its interval
    xlabel: str = "difference in score, A − B (95% interval)"

    @property
    def height(self) -> float:
        return 0.6 + 0.24 * max(len(self.rows), 1)

    def draw(self, fig: Figure, box) -> None:
        labels = [short(label, 44) for label, _ in self.rows]
        left = min(3.0, 0.15 + _text_width(labels, 7.5))
        ax = _axes(fig, box, left=left, bottom=0.42, top=0.08, right=1.45)
        bounds = [v for _, e in self.rows for v in (e.value, e.low, e.high) if v is not None]
        reach = max([abs(v) for v in bounds] + [0.01]) * 1.12
        for y, (_, e) in enumerate(self.rows):
            if e.value is None:
                ax.text(0, y, "no questions in common", ha="center", va="center", fontsize=7, color=MUTED)
                continue
            clear = e.low is not None and (e.low > 0 or e.high < 0)
            if e.low is not None and e.high is not None:
                ax.plot([e.low, e.high], [y, y], color=INK, linewidth=1.1, solid_capstyle="butt")
                ax.plot([e.low, e.low], [y - 0.15, y + 0.15], color=INK, linewidth=1.1)
                ax.plot([e.high, e.high], [y - 0.15, y + 0.15], color=INK, linewidth=1.1)
            ax.plot([e.value], [y], marker="s", markersize=5.5, color=PALETTE[0],
                    markerfacecolor=PALETTE[0] if clear else "white", markeredgewidth=1.2, linestyle="none")
            interval = "" if e.low is None else f"  [{e.low:+.3f}, {e.high:+.3f}]"
            ax.text(1.02, y, f"{e.value:+.3f}{interval}", va="center", fontsize=7, color=INK,
                    transform=ax.get_yaxis_transform())
        ax.axvline(0, color=MUTED, linewidth=0.8, linestyle="--", zorder=0)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_ylim(len(labels) - 0.5, -0.5)
        ax.set_xlim(-reach, reach)
        ax.set_xlabel(self.xlabel)
        ax.grid(axis="x", color="#e6e6e6", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)


def chart_figure(chart, width: float = CHART_WIDTH) -> Figure:
    with style():
        fig = Figure(figsize=(width, chart.height))
        chart.draw(fig, (0, 0, width, chart.height))
    return fig


def chart_svg(chart, salt: str) -> str:
    """The chart as an SVG element to inline in HTML: no XML prolog, DOCTYPE, metadata or namespaces
    (HTML5 needs none, and the page then holds no URL at all)."""
    buffer = io.StringIO()
    with style(), matplotlib.rc_context({"svg.hashsalt": salt}):  # ids unique per chart, stable per run
        chart_figure(chart).savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight",
                                    pad_inches=0.05)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    return re.sub(r'\s+version="1\.1"', "", svg, count=1)


def save_chart_png(chart, path: str | Path, dpi: int = 150) -> Path:
    """The chart as a PNG (to look at while developing, or to paste elsewhere)."""
    with style():
        chart_figure(chart).savefig(path, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.05)
    return Path(path)


# -- PDF pages ---------------------------------------------------------------------------------

PAGE_SIZE = (8.27, 11.69)  # A4, inches
_MARGIN_X, _TOP, _BOTTOM = (PAGE_SIZE[0] - CHART_WIDTH) / 2, 0.75, 0.8
_HEADING_SIZES = {0: 17, 1: 12.5, 2: 10}


class _PdfTypesetter:
    """Flows the report's blocks down A4 pages: text wrapped, tables split between pages
    with their header repeated, charts kept whole."""

    def __init__(self, pdf: PdfPages, title: str):
        self.pdf, self.title = pdf, title
        self.page: Figure | None = None
        self.number = 0
        self.y = 0.0

    # each block type ----------------------------------------------------------------------------

    def heading(self, block, following=()) -> None:
        size = _HEADING_SIZES.get(block.level, 10)
        if block.level == 1 and self.page is not None:
            self.y -= 0.12
        # Keep a heading with the start of what follows it.
        gap_above, gap_below = size / 72 * 0.3, 0.08 if block.level else 0.05
        own = gap_above + len(wrap(block.text, CHART_WIDTH, size, True)) * self._line_height(size) + gap_below
        usable = PAGE_SIZE[1] - _TOP - _BOTTOM
        self._room(min(usable, own + sum(self._start_height(b) for b in following) + 0.05))
        self.y -= gap_above
        self._lines(block.text, size=size, weight="bold")
        self.y -= gap_below

    def paragraph(self, block) -> None:
        self._lines(block.text, size=7.5 if block.small else 8.5, color=MUTED if block.small else INK)
        self.y -= 0.1

    def bullets(self, block) -> None:
        for item in block.items:
            lines = wrap(item, CHART_WIDTH - 0.2, 8)
            self._room(len(lines) * self._line_height(8))
            self._text(_MARGIN_X + 0.05, self.y, "•", 8)
            for line in lines:
                self._text(_MARGIN_X + 0.2, self.y, line, 8)
                self.y -= self._line_height(8)
            self.y -= 0.04
        self.y -= 0.06

    _TABLE_SIZE = 7.2

    def _table_cells(self, block):
        """Column widths (inches), then the header's and each row's cells as wrapped lines."""
        total = sum(block.widths)
        widths = [CHART_WIDTH * w / total for w in block.widths]
        header = [wrap(c, w - 0.08, self._TABLE_SIZE, bold=True) for c, w in zip(block.columns, widths)]
        rows = [[wrap(c, w - 0.08, self._TABLE_SIZE) for c, w in zip(row, widths)] for row in block.rows]
        return widths, header, rows

    def _row_height(self, cells) -> float:
        return max(len(c) for c in cells) * self._line_height(self._TABLE_SIZE) + 0.07

    def _table_start(self, block) -> float:
        """Caption, header and first row: never split from each other."""
        _, header, rows = self._table_cells(block)
        caption = self._line_height(8) * 1.5 if block.caption else 0
        return caption + self._row_height(header) + (self._row_height(rows[0]) if rows else 0)

    def table(self, block) -> None:
        size = self._TABLE_SIZE
        widths, header, rows = self._table_cells(block)
        line = self._line_height(size)
        self._room(self._table_start(block))
        if block.caption:
            self._lines(block.caption, size=8, weight="bold")
            self.y -= 0.03
        self._row(header, widths, block.align, size, line, bold=True)
        for cells in rows:
            if self.y - self._row_height(cells) < _BOTTOM:
                self._new_page()
                self._row(header, widths, block.align, size, line, bold=True)
            self._row(cells, widths, block.align, size, line)
        self.y -= 0.14

    def chart(self, block) -> None:
        chart = block.chart
        caption = wrap(block.caption, CHART_WIDTH, 7.5) if block.caption else []
        self._room(chart.height + len(caption) * self._line_height(7.5) + 0.1)
        with style():
            chart.draw(self.page, (_MARGIN_X, self.y - chart.height, CHART_WIDTH, chart.height))
        self.y -= chart.height + 0.05
        for text in caption:
            self._text(_MARGIN_X, self.y, text, 7.5, color=MUTED)
            self.y -= self._line_height(7.5)
        self.y -= 0.12

    def close(self) -> None:
        if self.page is None:
            self._new_page()
        self._finish_page()

    # layout helpers ------------------------------------------------------------------------------

    def _start_height(self, block) -> float:
        """Height of the part of `block` that should stay with a heading above it."""
        if block.kind == "chart":
            return block.chart.height + 0.3
        if block.kind == "paragraph":
            return len(wrap(block.text, CHART_WIDTH, 8.5)) * self._line_height(8.5) + 0.1
        if block.kind == "table":
            return self._table_start(block)
        return 0.5

    def _row(self, cells, widths, align, size, line, bold=False) -> None:
        x = _MARGIN_X
        top = self.y
        for lines, w, a in zip(cells, widths, align):
            for k, text in enumerate(lines):
                tx = x + w - 0.04 if a == "r" else x + 0.04
                self._text(tx, top - 0.035 - k * line, text, size, weight="bold" if bold else "normal",
                           ha="right" if a == "r" else "left")
            x += w
        self.y = top - max(len(c) for c in cells) * line - 0.07
        self.page.add_artist(Line2D(
            [_MARGIN_X / PAGE_SIZE[0], (_MARGIN_X + CHART_WIDTH) / PAGE_SIZE[0]],
            [(self.y + 0.015) / PAGE_SIZE[1]] * 2, color="#888888" if bold else RULE,
            linewidth=0.8 if bold else 0.4))

    def _lines(self, text: str, *, size: float, weight: str = "normal", color: str = INK) -> None:
        for line in wrap(text, CHART_WIDTH, size, bold=weight == "bold"):
            self._room(self._line_height(size))
            self._text(_MARGIN_X, self.y, line, size, weight=weight, color=color)
            self.y -= self._line_height(size)

    def _text(self, x, y, text, size, *, weight="normal", color=INK, ha="left") -> None:
        with style():
            self.page.text(x, y, text, fontsize=size, fontweight=weight, color=color, ha=ha, va="top",
                           transform=self.page.dpi_scale_trans)

    @staticmethod
    def _line_height(size: float) -> float:
        return size / 72 * 1.38

    def _room(self, needed: float) -> None:
        if self.page is None or self.y - needed < _BOTTOM:
            self._new_page()

    def _new_page(self) -> None:
        if self.page is not None:
            self._finish_page()
        with style():
            self.page = Figure(figsize=PAGE_SIZE)
        self.number += 1
        self.y = PAGE_SIZE[1] - _TOP

    def _finish_page(self) -> None:
        self._text(PAGE_SIZE[0] / 2, 0.45, f"{short(self.title, 80)} · page {self.number}", 7, color=MUTED,
                   ha="center")
        self.pdf.savefig(self.page)
        self.page = None


def write_pdf(blocks, path: str | Path, *, title: str) -> None:
    """Typeset report blocks (kinds heading, paragraph, bullets, table, chart) into an A4 PDF."""
    with PdfPages(path, metadata={"Title": title, "Creator": "HealthQA"}) as pdf:
        typesetter = _PdfTypesetter(pdf, title)
        for i, block in enumerate(blocks):
            if block.kind == "heading":
                # A heading stays with the next block, and with the one after if that is a short paragraph.
                following = blocks[i + 1:i + 3] if i + 1 < len(blocks) and blocks[i + 1].kind == "paragraph" \
                    else blocks[i + 1:i + 2]
                typesetter.heading(block, following)
            else:
                getattr(typesetter, block.kind)(block)
        typesetter.close()
