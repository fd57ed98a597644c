"""Two panes with a handle between them, as the panels split their pages."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSplitter, QWidget


def two_panes(orientation: Qt.Orientation, first: QWidget, second: QWidget, *, stretch: tuple[int, int] = (0, 1),
              sizes: list[int] | None = None) -> QSplitter:
    """`first` beside (Horizontal) or above (Vertical) `second`; neither pane collapses.

    `stretch`: how the panes share the room the window gains (the default: all of it to the second);
    `sizes`: the panes' first sizes, in pixels.
    """
    splitter = QSplitter(orientation)
    splitter.addWidget(first)
    splitter.addWidget(second)
    splitter.setStretchFactor(0, stretch[0])
    splitter.setStretchFactor(1, stretch[1])
    if sizes is not None:
        splitter.setSizes(sizes)
    splitter.setChildrenCollapsible(False)
    return splitter
