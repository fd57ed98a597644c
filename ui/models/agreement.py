"""The Agreement panel's tables as Qt models over the core's plain dicts.

- `GroupStatisticsModel`: agreement of all raters, for all items and then by
  axis or theme (agreement_overview's blocks), each figure with its 95% interval;
- `DisagreementModel`: the disagreement list (healthqa.review.disagreements).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont

from healthqa.agreement import degenerate_note

from ..agreement_format import GROUP_STATISTICS, VERDICT_COLOURS, VERDICT_LABELS, fmt, fmt_ci
from ..look import THEME
from .row_list import RowListModel
from ..widgets.plain_text import plain_tooltip


class GroupStatisticsModel(RowListModel):
    """All items, then one row per axis or theme: items and four statistics with their 95% intervals.

    Rows: (label, block) pairs.
    """

    headers = ("Group", "Items", *GROUP_STATISTICS.values())

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt override
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.TextAlignmentRole and section:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return super().headerData(section, orientation, role)

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
            note = degenerate_note(block, key)
            text = f"{fmt(block[key])}  ({ci})" if ci else fmt(block[key])
            return f"{text}  ⚠ {note}" if note else text
        if role == Qt.ItemDataRole.TextAlignmentRole and column:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and index.row() == 0:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole and key:
            degenerate = block.get("bootstrap", {}).get("degenerate", {}).get(key, 0)
            return plain_tooltip(f"{GROUP_STATISTICS[key]} for {label}: {fmt(block[key], 3)}; 95% bootstrap "
                                 f"interval {fmt_ci(block.get(f'{key}_ci')) or 'undefined'}; "
                                 f"{degenerate} resamples undefined")
        return None


class DisagreementModel(RowListModel):
    """One row per disagreement: where it is, how the raters split, and the final verdict if any."""

    headers = ("Prompt", "Model", "Criterion", "Points", "Met", "Not met", "Final verdict")

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        item = self.rows[index.row()]
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
            return plain_tooltip("\n".join(lines))
        return None
