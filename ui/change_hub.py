"""The workspace's "what changed" notice as a Qt signal, at most every COALESCE_MS.

`Workspace.listeners` are called right after a write commits, on whatever
thread wrote (the ops helper's workspace thread, a run's database thread).
A run commits a batch of results dozens of times a second; passing each
notice on would make every open panel reload as often. So the hub gathers
the tables named since its last signal and emits them together: the first
notice after a quiet spell at once (a single save shows without delay), the
ones that follow at most every COALESCE_MS.

Threads: `_notify` only adds to a set under a lock and, when that set was
empty, wakes the hub with a queued signal; everything else (the timer, the
emit) happens on the GUI thread, where the hub lives, so `sig_changed`
reaches the panels there.
"""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from healthqa.store import Workspace

COALESCE_MS = 150  # panels refresh at most this often from notices (a run commits dozens of times a second)


class ChangeHub(QObject):
    sig_changed = Signal(object)
    """set[str]: the workspace tables committed writes touched since the previous signal."""
    _sig_wake = Signal()  # emitted on the writer's thread, delivered on the GUI thread

    def __init__(self, ws: Workspace, parent: QObject | None = None, *, interval_ms: int = COALESCE_MS):
        super().__init__(parent)
        self._ws = ws
        self._interval_s = interval_ms / 1000
        self._lock = threading.Lock()
        self._pending: set[str] = set()  # tables named since the last signal (guarded by _lock)
        self._last_emit = float("-inf")
        self._timer = QTimer(self, singleShot=True)
        self._timer.timeout.connect(self.flush)
        # Queued even from the GUI thread: a listener runs inside the writer's commit, which is no
        # place for panels to start reloading.
        self._sig_wake.connect(self._on_wake, Qt.ConnectionType.QueuedConnection)
        ws.listeners.append(self._notify)

    # -- public API -----------------------------------------------------------------
    def detach(self) -> None:
        """Hear no more notices; what has gathered is dropped (the workspace is closing)."""
        if self._notify in self._ws.listeners:
            self._ws.listeners.remove(self._notify)
        self._timer.stop()
        with self._lock:
            self._pending = set()

    def has_pending(self) -> bool:
        """Tables were named that no signal has carried yet."""
        with self._lock:
            return bool(self._pending)

    def flush(self) -> None:
        """Emit what has gathered now (the timer calls it; nothing gathered, nothing emitted)."""
        self._timer.stop()
        with self._lock:
            tables, self._pending = self._pending, set()
        if tables:
            self._last_emit = time.monotonic()
            self.sig_changed.emit(tables)

    # -- private ----------------------------------------------------------------------
    def _notify(self, tables: set[str]) -> None:
        """A write committed (any thread)."""
        with self._lock:
            wake = not self._pending  # otherwise a wake-up is already on its way or the timer runs
            self._pending |= tables  # a copy of the writer's set, not the set itself
        if wake:
            self._sig_wake.emit()

    def _on_wake(self) -> None:
        if self._timer.isActive():
            return
        wait = self._last_emit + self._interval_s - time.monotonic()
        if wait <= 0:
            self.flush()  # the first notice after a quiet spell goes out at once
        else:
            self._timer.start(max(1, round(wait * 1000)))
