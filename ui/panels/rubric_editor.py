"""A question's rubric: read-only table, or an editor with inline validation.

Each row is checked with the core's own `Criterion` model (text not blank,
points a nonzero integer from −10 to 10, tags), and the rubric as a whole
must give some positive points (or the question can never be scored).
Messages name the row and field; the bad cell is marked with an icon and
a tooltip as well as a colour. Saving is the panel's job (`sig_save`).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)
from pydantic import ValidationError

from healthqa.domain import Criterion

from .. import look
from ..widgets.banner import make_banner
from ..widgets.plain_text import plain_tooltip

TEXT, POINTS, TAGS = range(3)
FIELD_COLUMNS = {"criterion": TEXT, "points": POINTS, "tags": TAGS}
FIELD_NAMES = {TEXT: "text", POINTS: "points", TAGS: "tags"}


def _message(error: dict) -> str:
    """pydantic's wording, made plain where it is technical."""
    if error["type"] == "string_too_short":
        return "criterion text is empty"
    return error["msg"].removeprefix("Value error, ")


def parse_tags(text: str) -> list[str]:
    return [t.strip() for t in text.replace(";", ",").split(",") if t.strip()]


class RubricEditor(QWidget):
    sig_save = Signal(object)
    """list[Criterion] — the edited rubric, valid, to be saved."""
    sig_editing_changed = Signal(bool)
    """True when editing starts, False when it ends (saved or cancelled)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._rows: list[dict] = []
        self.grades = 0  # grades that point at this rubric's criteria (editing changes their meaning)
        self.errors: list[str] = []
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Criterion", "Points", "Tags"])
        self.table.horizontalHeader().setSectionResizeMode(TEXT, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(POINTS, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(TAGS, QHeaderView.ResizeMode.Interactive)
        self.table.setColumnWidth(TAGS, 150)
        self.table.verticalHeader().setVisible(True)
        self.table.setWordWrap(True)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.itemChanged.connect(self._on_item_changed)
        self.edit_button = QPushButton(look.icon("edit"), "Edit rubric")
        self.edit_button.clicked.connect(self.start_editing)
        self.add_button = QPushButton(look.icon("add"), "Add criterion")
        self.add_button.clicked.connect(self.add_criterion)
        self.remove_button = QPushButton(look.icon("remove"), "Remove")
        self.remove_button.clicked.connect(self._remove_current)
        self.up_button = QPushButton(look.icon("up"), "")
        self.up_button.setToolTip("Move the criterion up")
        self.up_button.setAccessibleName("Move up")
        self.up_button.clicked.connect(lambda: self._move_current(-1))
        self.down_button = QPushButton(look.icon("down"), "")
        self.down_button.setToolTip("Move the criterion down")
        self.down_button.setAccessibleName("Move down")
        self.down_button.clicked.connect(lambda: self._move_current(1))
        self.save_button = QPushButton("Save rubric")
        self.save_button.setProperty("primary", True)
        self.save_button.clicked.connect(self._on_save)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_editing)
        self.error_label = make_banner("error", selectable=False)
        self.notice = make_banner("warning", selectable=False)
        self._edit_tools = QWidget()
        tools = QHBoxLayout(self._edit_tools)
        tools.setContentsMargins(0, 0, 0, 0)
        for button in (self.add_button, self.remove_button, self.up_button, self.down_button):
            tools.addWidget(button)
        tools.addStretch(1)
        tools.addWidget(self.cancel_button)
        tools.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(self.notice)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(self._edit_tools)
        self._set_editing(False)

    # -- public API -----------------------------------------------------------------
    @property
    def editing(self) -> bool:
        return self._editing

    def set_criteria(self, rows: list[dict], *, grades: int = 0) -> None:
        """Show a rubric (criteria_rows dicts); leaves edit mode."""
        self._rows = rows
        self.grades = grades
        self._fill(rows)
        self._set_editing(False)

    def start_editing(self) -> None:
        self._set_editing(True)
        if self.grades:
            self.notice.setText(
                f"{self.grades} grades refer to these criteria. Criteria keep their place: changing a "
                f"criterion's text changes what its grades mean, and removing one deletes its grades.")
        self.notice.setVisible(bool(self.grades))
        self.validate()

    def cancel_editing(self) -> None:
        self._fill(self._rows)
        self._set_editing(False)

    def add_criterion(self) -> None:
        row = self.table.rowCount()
        self.table.blockSignals(True)
        self.table.insertRow(row)
        self._set_row(row, "", 1, [])
        self.table.blockSignals(False)
        self.table.setCurrentCell(row, TEXT)
        self.validate()

    def criteria(self) -> list[Criterion] | None:
        """The edited rubric, or None while a row is invalid."""
        return self._collect()[0]

    def validate(self) -> list[str]:
        """Check every row; mark bad cells; show and return the messages."""
        criteria, problems = self._collect()
        self.table.blockSignals(True)
        for row in range(self.table.rowCount()):
            for column in range(3):
                item = self.table.item(row, column)
                if item is not None:
                    item.setData(Qt.ItemDataRole.DecorationRole, None)
                    item.setBackground(QBrush())
                    item.setToolTip("")
        for row, column, message in problems:
            item = self.table.item(row, column) if row is not None else None
            if item is not None:
                item.setData(Qt.ItemDataRole.DecorationRole, look.icon("unsafe"))
                item.setBackground(look.colour("not_met_bg"))
                item.setToolTip(plain_tooltip(message))
        self.table.blockSignals(False)
        self.errors = [f"Row {row + 1} · {FIELD_NAMES[column]}: {message}" if row is not None else message
                       for row, column, message in problems]
        self.error_label.setText("\n".join(self.errors))
        self.error_label.setVisible(bool(self.errors) and self._editing)
        self.save_button.setEnabled(criteria is not None)
        return self.errors

    # -- private ---------------------------------------------------------------------------
    def _set_editing(self, editing: bool) -> None:
        self._editing = editing
        self._edit_tools.setVisible(editing)
        self.edit_button.setVisible(not editing)
        self.error_label.setVisible(editing and bool(self.errors))
        if not editing:
            self.notice.setVisible(False)
        self.table.setEditTriggers(
            QAbstractItemView.EditTrigger.AllEditTriggers if editing else QAbstractItemView.EditTrigger.NoEditTriggers)
        self.sig_editing_changed.emit(editing)

    def _fill(self, rows: list[dict]) -> None:
        self.table.blockSignals(True)
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            self._set_row(i, r["text"], r["points"], r["tags"])
        self.table.blockSignals(False)
        self.table.resizeRowsToContents()
        self.errors = []

    def _set_row(self, row: int, text: str, points: int, tags: list[str]) -> None:
        self.table.setItem(row, TEXT, QTableWidgetItem(text))
        points_item = QTableWidgetItem()
        points_item.setData(Qt.ItemDataRole.EditRole, int(points))  # an int: Qt edits it with a spin box
        points_item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if points < 0:  # a penalty: red and bold, and the minus sign says it without colour
            points_item.setForeground(look.colour("not_met"))
            font = points_item.font()
            font.setBold(True)
            points_item.setFont(font)
        self.table.setItem(row, POINTS, points_item)
        self.table.setItem(row, TAGS, QTableWidgetItem(", ".join(tags)))

    def _collect(self) -> tuple[list[Criterion] | None, list[tuple[int | None, int, str]]]:
        criteria, problems = [], []
        for row in range(self.table.rowCount()):
            text = (self.table.item(row, TEXT).text() if self.table.item(row, TEXT) else "")
            points = self.table.item(row, POINTS).data(Qt.ItemDataRole.EditRole) if self.table.item(row, POINTS) else None
            tags = parse_tags(self.table.item(row, TAGS).text() if self.table.item(row, TAGS) else "")
            try:
                criteria.append(Criterion(criterion=text, points=points, tags=tags))
            except ValidationError as exc:
                for error in exc.errors():
                    column = FIELD_COLUMNS.get(str(error["loc"][0]) if error["loc"] else "criterion", TEXT)
                    problems.append((row, column, _message(error)))
        if not self.table.rowCount():
            problems.append((None, TEXT, "A rubric needs at least one criterion."))
        elif not problems and not any(c.points > 0 for c in criteria):
            problems.append((None, POINTS, "No criterion gives positive points, so this question could never "
                                           "be scored. Give at least one criterion positive points."))
        return (criteria if not problems else None), problems

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._editing:
            self.validate()

    def _remove_current(self) -> None:
        row = self.table.currentRow()
        if row >= 0:
            self.table.removeRow(row)
            self.validate()

    def _move_current(self, delta: int) -> None:
        row = self.table.currentRow()
        target = row + delta
        if row < 0 or not 0 <= target < self.table.rowCount():
            return
        self.table.blockSignals(True)
        for column in range(3):
            a, b = self.table.takeItem(row, column), self.table.takeItem(target, column)
            self.table.setItem(row, column, b)
            self.table.setItem(target, column, a)
        self.table.blockSignals(False)
        self.table.setCurrentCell(target, self.table.currentColumn())
        self.validate()

    def _on_save(self) -> None:
        criteria = self.criteria()
        if criteria is not None:
            self.sig_save.emit(criteria)
