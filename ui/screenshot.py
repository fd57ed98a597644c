"""`--screenshot`: render the main window once everything has loaded, save a PNG, quit.

"Loaded" means the ops helper is idle, the change hub holds no notice it
has yet to send (it sends at most every 150 ms, and a notice makes panels
reload) and no panel has a refresh waiting, seen on two checks in a row (a
finished call may start the next one from its callback). No dialog is ever opened; a timeout still saves what is
there and exits non-zero.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

from .main_window import MainWindow

CHECK_MS = 15
TIMEOUT_S = 60.0


class Screenshot(QObject):
    def __init__(self, window: MainWindow, path: Path, size: tuple[int, int], *, started: float):
        super().__init__(window)
        self.window, self.path, self.size, self.started = window, path, size, started
        self.exit_code = 1
        self._quiet_checks = 0
        self._deadline = time.monotonic() + TIMEOUT_S
        self._timer = QTimer(self, interval=CHECK_MS)
        self._timer.timeout.connect(self._check)

    def start(self) -> None:
        self.window.resize(*self.size)
        self.window.show()
        self._timer.start()

    def _settled(self) -> bool:
        ctx = self.window.ctx
        return (ctx.ops.is_idle() and not ctx.changes.has_pending()
                and all(p.is_settled() for p in self.window.created_panels()))

    def _check(self) -> None:
        self._quiet_checks = self._quiet_checks + 1 if self._settled() else 0
        timed_out = time.monotonic() > self._deadline
        if self._quiet_checks < 2 and not timed_out:
            return
        self._timer.stop()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        saved = self.window.grab().save(str(self.path))
        elapsed = time.perf_counter() - self.started
        if timed_out:
            print(f"warning: still loading after {TIMEOUT_S:.0f} s; saved what was shown", file=sys.stderr)
        print(f"screenshot {self.path} ({self.size[0]}x{self.size[1]}) in {elapsed:.2f} s")
        self.exit_code = 0 if saved and not timed_out else 1
        self.window.close()
        QApplication.instance().quit()
