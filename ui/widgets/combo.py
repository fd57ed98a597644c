"""Choice lists: a panel's filter, and refilling one without losing what the person chose."""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QComboBox


def filter_combo(name: str, min_width: int, on_chosen: Callable[[], None]) -> QComboBox:
    """A choice that filters what a panel shows (`name` for screen readers); `on_chosen()` when the person
    picks an item (not when the panel refills the list)."""
    combo = QComboBox()
    combo.setAccessibleName(name)
    combo.setMinimumWidth(min_width)
    combo.activated.connect(lambda _: on_chosen())
    return combo


def fill_combo(combo: QComboBox, items: list[tuple[str, object]], any_label: str | None = None) -> None:
    """Replace the items (text, value), keeping the chosen value when it is still there, else the first item.

    `any_label`: a first item meaning "no filter" (value None). No signal is sent while refilling: the
    choice did not change by the person's hand.
    """
    chosen = combo.currentData()
    combo.blockSignals(True)
    combo.clear()
    if any_label is not None:
        combo.addItem(any_label, None)
    for text, value in items:
        combo.addItem(text, value)
    index = combo.findData(chosen) if chosen is not None else -1
    combo.setCurrentIndex(index if index >= 0 else 0)
    combo.blockSignals(False)
