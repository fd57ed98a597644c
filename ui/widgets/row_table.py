"""The read-only row lists of the panels (questions, runs, failed items, disagreements, agreement tables)."""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel
from PySide6.QtWidgets import QAbstractItemView, QTableView


def row_table(model: QAbstractItemModel) -> QTableView:
    """A table of `model` read as a list: whole rows selected, one at a time; alternating row colours,
    no grid, one line a row, no row numbers. Column sizes are the caller's."""
    table = QTableView()
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    table.setWordWrap(False)
    table.verticalHeader().setVisible(False)
    return table
