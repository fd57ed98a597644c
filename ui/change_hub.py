"""The workspace's "what changed" notice as a Qt signal.

`Workspace.listeners` are called right after a write commits, on whatever
thread wrote (usually the ops helper's workspace thread). The hub lives on
the GUI thread, so Qt queues `sig_changed` to the panels' slots there.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from healthqa.store import Workspace


class ChangeHub(QObject):
    sig_changed = Signal(object)
    """set[str]: the workspace tables a committed write touched."""

    def __init__(self, ws: Workspace, parent: QObject | None = None):
        super().__init__(parent)
        self._ws = ws
        ws.listeners.append(self._notify)

    def detach(self) -> None:
        if self._notify in self._ws.listeners:
            self._ws.listeners.remove(self._notify)

    def _notify(self, tables: set[str]) -> None:
        self.sig_changed.emit(set(tables))  # a copy: the set is the writer's
