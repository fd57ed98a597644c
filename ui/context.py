"""What a panel gets: the workspace, the ops helper, the change notice and who is grading.

Panels receive this one object instead of the main window (no god object):
everything they may use is listed here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from PySide6.QtCore import QObject, Signal

from healthqa.store import Workspace

from .change_hub import ChangeHub
from .ops import Ops


@dataclass(frozen=True)
class RaterIdentity:
    """The clinician who signs every grade made in this window."""

    id: str
    name: str
    role: str | None = None
    specialty: str | None = None

    def describe(self) -> str:
        extra = ", ".join(p for p in (self.role, self.specialty) if p)
        return f"{self.name} ({extra})" if extra else self.name


class AppContext(QObject):
    sig_rater_changed = Signal()
    """The signing clinician changed (or was set for the first time)."""
    sig_identity_requested = Signal()
    """A panel asks the window to ask the clinician who they are."""
    sig_panel_requested = Signal(str)
    """A panel asks the window to show another panel (by name)."""

    def __init__(self, ws: Workspace, ops: Ops | None = None, *, rater: RaterIdentity | None = None,
                 clock: Callable[[], float] = time.monotonic, parent: QObject | None = None):
        super().__init__(parent)
        self.ws = ws
        self.ops = ops or Ops(self)
        self.changes = ChangeHub(ws, self)
        self.rater = rater
        self.clock = clock  # injectable so tests can play out idle pauses

    def set_rater(self, rater: RaterIdentity | None) -> None:
        self.rater = rater
        self.sig_rater_changed.emit()

    def close(self) -> None:
        """Finish background work, then close the workspace file."""
        self.ops.shutdown()
        self.changes.detach()
        self.ws.close()
