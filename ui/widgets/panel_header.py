"""The headings every panel is built from, and the page they open.

A panel opens with its title (object name "panelTitle") and a line about it
("panelSubtitle"): a short status beside the title with the panel's controls
pushed to the right (`panel_header`), or a sentence saying what the panel is
for, below the title (`panel_intro`). `page_layout` puts that header on top
of the panel's page with the margins all panels share. Sections inside are
headed by a small title ("sectionTitle") with their own controls at the
right (`section_title`, `heading_row`). The object names are the
stylesheet's selectors (resources/style.qss).
"""

from __future__ import annotations

from typing import Sequence

from PySide6.QtWidgets import QHBoxLayout, QLabel, QLayout, QVBoxLayout, QWidget

from .plain_text import plain_label

PAGE_MARGINS = (20, 16, 20, 16)  # left, top, right, bottom: the room around every panel's page
PAGE_SPACING = 10


def panel_title(text: str) -> QLabel:
    label = plain_label(text)
    label.setObjectName("panelTitle")
    return label


def section_title(text: str = "") -> QLabel:
    """A section's heading (set in capitals by the caller, as the other headings are)."""
    label = plain_label(text)
    label.setObjectName("sectionTitle")
    return label


def heading_row(*left: QWidget, right: Sequence[QWidget] = (), spacing: int | None = None) -> QHBoxLayout:
    """`left` widgets, then the row's free room, then `right` widgets (a heading and its controls)."""
    row = QHBoxLayout()
    if spacing is not None:
        row.setSpacing(spacing)
    for widget in left:
        row.addWidget(widget)
    row.addStretch(1)
    for widget in right:
        row.addWidget(widget)
    return row


def panel_header(title: str, subtitle: QLabel, *right: QWidget | str, spacing: int | None = None) -> QHBoxLayout:
    """The panel's title with `subtitle` (a status the panel updates) beside it and `right` at the right.

    A str in `right` becomes a plain label: the caption of the control after it.
    """
    subtitle.setObjectName("panelSubtitle")
    controls = [plain_label(item) if isinstance(item, str) else item for item in right]
    return heading_row(panel_title(title), subtitle, right=controls, spacing=spacing)


def panel_intro(title: str, sentence: str, *, spacing: int | None = None) -> QVBoxLayout:
    """The panel's title above a sentence saying what the panel is for (wrapped when the window is narrow).

    `spacing`: between the two lines; by default the spacing of the layout the header goes into.
    """
    subtitle = plain_label(sentence)
    subtitle.setObjectName("panelSubtitle")
    subtitle.setWordWrap(True)
    header = QVBoxLayout()
    if spacing is not None:
        header.setSpacing(spacing)
    header.addWidget(panel_title(title))
    header.addWidget(subtitle)
    return header


def page_layout(panel: QWidget | None, header: QLayout, *, spacing: int = PAGE_SPACING,
                bottom: int = PAGE_MARGINS[3]) -> QVBoxLayout:
    """The panel's page: the shared margins and `header` on top; the caller adds the body below.

    `panel` None: a layout to nest (the Grading panel keeps its key legend outside the page, right below
    it, hence its smaller `bottom` margin).
    """
    layout = QVBoxLayout() if panel is None else QVBoxLayout(panel)
    left, top, right, _ = PAGE_MARGINS
    layout.setContentsMargins(left, top, right, bottom)
    layout.setSpacing(spacing)
    layout.addLayout(header)
    return layout
