"""The Runs panel's tables (past runs, a run's failed items) as one table model over the core's row dicts."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt

from .row_list import RowListModel
from ..widgets.plain_text import plain_tooltip

Column = tuple[str, Callable[[dict], object]]  # (header, the cell's value from a row)


class RowsModel(RowListModel):
    """Read-only rows (dicts) shown through column functions."""

    def __init__(self, columns: list[Column], parent=None):
        super().__init__(parent)
        self.columns = columns
        self.headers = tuple(header for header, _ in columns)

    def update_row(self, i: int, row: dict) -> None:
        self.rows[i] = row
        self.dataChanged.emit(self.index(i, 0), self.index(i, len(self.columns) - 1))

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            value = self.columns[index.column()][1](row)
            if role == Qt.ItemDataRole.ToolTipRole and "id" in row and index.column() == len(self.columns) - 1:
                return plain_tooltip(f"{value}  (id {row['id']})")
            if value is None:
                return None
            return plain_tooltip(str(value)) if role == Qt.ItemDataRole.ToolTipRole else str(value)
        if role == Qt.ItemDataRole.UserRole:
            return row
        return None
