"""The look of the app: theme colours, the stylesheet, icons, fonts.

Resources are data files under resources/ (found through
healthqa.paths.data_path, the one way to locate them, frozen or not);
icons are registered under the `icons:` search prefix so the stylesheet and
the code name them the same way.
"""

from __future__ import annotations

import re
from functools import lru_cache

from PySide6.QtCore import QDir
from PySide6.QtGui import QColor, QFont, QIcon
from PySide6.QtWidgets import QApplication

from healthqa.paths import data_path

THEME = {
    "window": "#F4F6F9",
    "surface": "#FFFFFF",
    "sidebar": "#EBF0F5",
    "border": "#DCE2E9",
    "border_strong": "#B9C3CF",
    "text": "#1B2733",
    "muted": "#556474",
    "disabled": "#9AA6B2",
    "hover": "#EEF3F8",
    "pressed": "#DDE6EF",
    "zebra": "#F8FAFC",
    "chip": "#EDF1F5",
    "scroll": "#C5CED8",
    "track": "#E3E8EE",
    "primary": "#1F5F8B",
    "primary_dark": "#174A6D",
    "primary_light": "#E3EEF6",
    "focus": "#2B7BB9",
    "current_bg": "#F5F9FD",
    "info_bg": "#EEF5FB",
    "info_border": "#B7D2E8",
    "warn_bg": "#FFF6E5",
    "warn_border": "#E8C27A",
    "met": "#1E7A46",
    "met_bg": "#E8F5EE",
    "not_met": "#B42318",
    "not_met_bg": "#FDEDEB",
    "cannot_judge": "#8A5A00",
    "cj_bg": "#FFF4DC",
    "disagree": "#B54708",
    "disagree_bg": "#FFF3E6",
    "body_pt": "10",
    "small_pt": "9",
    "large_pt": "12",
    "title_pt": "15",
}

# Series colours for charts: distinguishable for common colour-vision
# deficiencies (Okabe-Ito); charts also label every series in text.
SERIES_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#7F7F7F", "#F0E442"]

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def colour(name: str) -> QColor:
    return QColor(THEME[name])


def stylesheet() -> str:
    text = data_path("resources", "style.qss").read_text(encoding="utf-8")
    return _PLACEHOLDER.sub(lambda m: THEME[m.group(1)], text)


def register_resources() -> None:
    QDir.addSearchPath("icons", str(data_path("resources", "icons")))


@lru_cache(maxsize=None)
def icon(name: str) -> QIcon:
    """An icon from resources/icons/<name>.svg (a null icon if missing, never an error)."""
    return QIcon(str(data_path("resources", "icons", f"{name}.svg")))


def app_icon() -> QIcon:
    return QIcon(str(data_path("resources", "app-icon.svg")))


def apply(app: QApplication) -> None:
    """Fonts, icons and the stylesheet for the whole app."""
    register_resources()
    font = QFont(app.font())
    if font.pointSizeF() < float(THEME["body_pt"]):
        font.setPointSizeF(float(THEME["body_pt"]))  # body text never below 10 pt
    app.setFont(font)
    app.setWindowIcon(app_icon())
    app.setStyleSheet(stylesheet())


def repolish(widget) -> None:
    """Re-apply the stylesheet after a dynamic property used in selectors changed."""
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
