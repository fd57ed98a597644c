"""Questions as a table model: light row dicts from store.question_rows, nothing fetched per cell."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

from .row_list import RowListModel
from ..widgets.plain_text import plain_tooltip

ID_ROLE = Qt.ItemDataRole.UserRole + 1
COLUMNS = ("Question", "Theme", "Criteria")


def theme_label(theme: str | None) -> str:
    return theme.replace("_", " ") if theme else "—"


class QuestionTableModel(RowListModel):
    headers = COLUMNS

    # -- public API -----------------------------------------------------------------
    def row_of(self, question_id: str) -> int | None:
        return next((i for i, r in enumerate(self.rows) if r["id"] == question_id), None)

    def question_id(self, row: int) -> str | None:
        return self.rows[row]["id"] if 0 <= row < len(self.rows) else None

    # -- Qt overrides ---------------------------------------------------------------------
    def data(self, index: QModelIndex | QPersistentModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return (row["preview"] or "").split("\n", 1)[0]
            if column == 1:
                return theme_label(row["theme"])
            return row["criteria"]
        if role == Qt.ItemDataRole.ToolTipRole and column == 0:
            return plain_tooltip((row["preview"] or "").split("\n", 1)[0][:300])
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == ID_ROLE:
            return row["id"]
        return None
