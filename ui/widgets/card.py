"""A titled card: the framed surface (object name "card" in the stylesheet) that a panel's section sits in."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QVBoxLayout, QWidget

from .panel_header import heading_row, section_title


def card(title: str, *extra: QWidget) -> tuple[QFrame, QVBoxLayout]:
    """A card headed by `title` (set in capitals by the caller) with `extra` widgets at the header's right.

    Returns the frame and its layout, below the header, for the card's content.
    """
    frame = QFrame()
    frame.setObjectName("card")
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(14, 10, 14, 12)
    layout.setSpacing(6)
    layout.addLayout(heading_row(section_title(title), right=extra))
    return frame, layout
