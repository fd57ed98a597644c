"""The panels of the main window: a registry and the small contract each panel keeps.

Adding a panel takes two steps (see ui/README.md):

1. create `ui/panels/<name>.py` with a `Panel` subclass and a module-level
   ``PANEL = YourPanel``;
2. add one `PanelSpec` line to `PANELS` below.

A registry line whose module does not exist yet is skipped, so the list can
name panels that other engineers are still building. Modules are imported
only when their panel is first shown (lazily), which keeps start-up fast.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import ClassVar, NamedTuple

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QWidget

from ..context import AppContext


class PanelSpec(NamedTuple):
    name: str  # used by --panel NAME and AppContext.sig_panel_requested
    module: str  # the module that defines PANEL
    title: str  # shown in the sidebar
    icon: str = ""  # resources/icons/<icon>.svg


PANELS: list[PanelSpec] = [
    PanelSpec("questions", "ui.panels.questions", "Questions", "questions"),
    PanelSpec("models", "ui.panels.models", "Models", "models"),
    PanelSpec("ask", "ui.panels.ask", "Ask", "ask"),
    PanelSpec("runs", "ui.panels.runs", "Runs", "runs"),
    PanelSpec("grading", "ui.panels.grading", "Grading", "grading"),
    PanelSpec("results", "ui.panels.results", "Results", "results"),
    PanelSpec("agreement", "ui.panels.agreement", "Agreement", "agreement"),
]


def available_panels() -> list[PanelSpec]:
    """The registry without the panels whose module is not there yet (nothing is imported)."""
    return [spec for spec in PANELS if importlib.util.find_spec(spec.module) is not None]


def spec_by_name(name: str) -> PanelSpec | None:
    return next((spec for spec in available_panels() if spec.name == name), None)


def panel_class(spec: PanelSpec) -> type["Panel"]:
    """Import the panel's module (first use) and return its PANEL class."""
    return importlib.import_module(spec.module).PANEL


class Panel(QWidget):
    """Base of every panel.

    The contract:
    - ``__init__(ctx)`` builds widgets only: no workspace calls, no waiting.
    - ``refresh()`` (re)loads what the panel shows, through ``ctx.ops.run``
      so the GUI thread never waits on the workspace; results arrive in
      callbacks on the GUI thread.
    - ``on_workspace_changed(tables)`` hears the "what changed" notice
      (table names) after every committed write, from any panel or thread.
      The default marks the panel stale when a table in ``watches``
      changed; a stale panel refreshes now if visible, else when next shown.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    watches: ClassVar[frozenset[str]] = frozenset()
    """Workspace tables whose changes make this panel reload."""

    sig_status = Signal(str)
    """A short message for the window's status bar."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("panelRoot")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)  # the stylesheet paints #panelRoot
        self._stale = True
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(0)  # coalesces a burst of notices into one refresh
        self._refresh_timer.timeout.connect(self.refresh)
        ctx.changes.sig_changed.connect(self.on_workspace_changed)

    # -- contract --------------------------------------------------------------
    def refresh(self) -> None:
        raise NotImplementedError

    def on_workspace_changed(self, tables: set[str]) -> None:
        if tables & self.watches:
            self.mark_stale()

    # -- helpers for subclasses ----------------------------------------------------
    def mark_stale(self) -> None:
        self._stale = True
        if self.isVisible():
            self._stale = False
            self._refresh_timer.start()

    def is_settled(self) -> bool:
        """No refresh waiting to start, nor a change notice still being gathered (it may bring one).

        The screenshot mode waits for this and an idle ops helper.
        """
        return not self._refresh_timer.isActive() and not self.ctx.changes.has_pending()

    # -- Qt overrides ------------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._stale:
            self._stale = False
            self._refresh_timer.start()
