"""Per-user preferences kept with QSettings: recent workspaces, who the clinician is.

The clinician's identity is remembered per workspace *on this computer*
(keyed by the workspace id), not in the workspace file: a workspace copied
to a colleague's machine must ask them who they are.

$HEALTHQA_SETTINGS names an .ini file to use instead of the user's
settings (tests and benchmarks use it so they never touch the real ones).
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

from healthqa.paths import APP_NAME

SETTINGS_ENV = "HEALTHQA_SETTINGS"
MAX_RECENT = 8


class AppSettings:
    def __init__(self, qsettings: QSettings | None = None):
        if qsettings is None:
            path = os.environ.get(SETTINGS_ENV)
            qsettings = QSettings(path, QSettings.Format.IniFormat) if path else QSettings(APP_NAME, APP_NAME)
        self._q = qsettings

    @classmethod
    def at(cls, path: str | Path) -> "AppSettings":
        return cls(QSettings(str(path), QSettings.Format.IniFormat))

    # -- recent workspaces ---------------------------------------------------
    def recent_workspaces(self) -> list[str]:
        value = self._q.value("recent_workspaces", [])
        if isinstance(value, str):  # QSettings gives a bare string for a one-item list
            value = [value]
        return [str(v) for v in value or []]

    def add_recent(self, path: str | Path) -> None:
        path = str(Path(path).resolve())
        recent = [p for p in self.recent_workspaces() if p != path]
        self._q.setValue("recent_workspaces", [path, *recent][:MAX_RECENT])
        self._q.sync()

    # -- identity per workspace ------------------------------------------------------
    def rater_for(self, workspace_id: str) -> str | None:
        value = self._q.value(f"identity/{workspace_id}")
        return str(value) if value else None

    def remember_rater(self, workspace_id: str, rater_id: str) -> None:
        self._q.setValue(f"identity/{workspace_id}", rater_id)
        self._q.sync()

    # -- window -----------------------------------------------------------------------
    def last_panel(self) -> str | None:
        value = self._q.value("window/last_panel")
        return str(value) if value else None

    def set_last_panel(self, name: str) -> None:
        self._q.setValue("window/last_panel", name)
