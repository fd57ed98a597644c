"""A visible key legend: every key the panel understands, as key caps with a description."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QWidget

from .flow_layout import FlowLayout
from .plain_text import plain_label


class KeyLegend(QWidget):
    def __init__(self, entries: list[tuple[list[str], str]], parent: QWidget | None = None):
        """`entries`: ([key, key…], what it does), e.g. (["Y"], "met")."""
        super().__init__(parent)
        self.setObjectName("keyLegend")
        self.entries = entries
        layout = FlowLayout(self, spacing=18, line_spacing=6)
        layout.setContentsMargins(14, 8, 14, 8)
        for keys, text in entries:
            item = QWidget()
            row = QHBoxLayout(item)
            row.setContentsMargins(0, 0, 0, 0)
            row.setSpacing(4)
            for i, key in enumerate(keys):
                if i:
                    row.addWidget(plain_label("/"))
                cap = plain_label(key)
                cap.setObjectName("keyCap")
                row.addWidget(cap)
            label = plain_label(text)
            label.setObjectName("keyText")
            row.addWidget(label)
            layout.addWidget(item)

    def text(self) -> str:
        """The legend as plain text (tests and accessibility)."""
        return " · ".join(f"{'/'.join(keys)} {text}" for keys, text in self.entries)
