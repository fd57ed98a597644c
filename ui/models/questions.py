"""Questions as a table model: light row dicts from store.question_rows, nothing fetched per cell."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

ID_ROLE = Qt.ItemDataRole.UserRole + 1
COLUMNS = ("Question", "Theme", "Criteria")


def theme_label(theme: str | None) -> str:
    return theme.replace("_", " ") if theme else "—"


class QuestionTableModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[dict] = []

    # -- public API -----------------------------------------------------------------
    def set_rows(self, rows: list[dict]) -> None:
        """A new query result replaces the list (the source changed, so a reset is right)."""
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def row_of(self, question_id: str) -> int | None:
        return next((i for i, r in enumerate(self._rows) if r["id"] == question_id), None)

    def question_id(self, row: int) -> str | None:
        return self._rows[row]["id"] if 0 <= row < len(self._rows) else None

    # -- Qt overrides ---------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return (row["preview"] or "").split("\n", 1)[0]
            if column == 1:
                return theme_label(row["theme"])
            return row["criteria"]
        if role == Qt.ItemDataRole.ToolTipRole and column == 0:
            return (row["preview"] or "").split("\n", 1)[0][:300]
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == ID_ROLE:
            return row["id"]
        return None
