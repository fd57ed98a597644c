"""Scores per model (rows of healthqa.scoring.score_workspace) as a table model."""

from __future__ import annotations

from PySide6.QtCore import Qt

from .row_list import RowListModel

COLUMNS = ("Model", "Answers", "Score", "± SE", "Criteria without verdict", "Answers not scored",
           "Cut off / filtered", "Mean output tokens")
NUMERIC = {1, 2, 3, 4, 5, 6, 7}


def _number(value, digits: int = 3) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, float) else f"{value:,}"


class ResultsTableModel(RowListModel):
    headers = COLUMNS

    def cell_text(self, row: int, column: int) -> str:
        r = self.rows[row]
        metrics = r.get("metrics", {})
        values = (
            r["model"],
            _number(r["answers"]),
            _number(r["score"]),
            _number(metrics.get("overall_score:bootstrap_std")),
            _number(r.get("ungraded")),
            _number(r.get("unscored")),
            _number(sum((r.get("incomplete") or {}).values())),
            _number(r.get("mean_output_tokens"), 0),
        )
        return values[column]

    # -- Qt overrides -------------------------------------------------------------------
    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.cell_text(index.row(), index.column())
        if role == Qt.ItemDataRole.ToolTipRole and COLUMNS[index.column()] == "Cut off / filtered":
            incomplete = self.rows[index.row()].get("incomplete") or {}
            return ", ".join(f"{n} {label.lower()}" for label, n in sorted(incomplete.items())) or None
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() in NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
