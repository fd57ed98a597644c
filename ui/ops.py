"""The one background-operation helper (Anki's CollectionOp / QueryOp idea).

    ops.run(fn, *args, on_done=callback, on_error=callback, key="questions.list")

`fn(*args)` runs on a worker thread; `on_done(result)` or `on_error(message,
exc)` runs later on the GUI thread. Panels pass plain values (the
workspace, ids, text) into `fn`, never widgets, and touch widgets only in the
callbacks.

Two pools:
- the **workspace pool** has one thread, so workspace calls run one at a
  time, in the order they were asked for (a verdict saved before "submit"
  is written before the submit reads it). Every `run` goes here by default.
- the **io pool** (`io=True`) runs calls that do not touch the workspace,
  several at once (reading a file, HTTP).

`key` makes a call "latest wins": when several calls with the same key are
in flight, only the newest one's callbacks run (typing in a search box
starts many queries; only the last result matters).
"""

from __future__ import annotations

import itertools
import logging
import traceback
import weakref
from dataclasses import dataclass
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from healthqa.errors import HealthQAError

log = logging.getLogger(__name__)

_LIVE: "weakref.WeakSet[Ops]" = weakref.WeakSet()


def live_ops() -> list["Ops"]:
    """Every Ops not yet garbage-collected (the tests' dangling-work check uses it)."""
    return list(_LIVE)


def describe_error(exc: BaseException) -> str:
    """A message a person can read: our own errors as they are, others summarised."""
    if isinstance(exc, HealthQAError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"Could not access a file{where}: {exc.strerror}."
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    summary = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return f"Something went wrong ({summary[:200]}). The details are in the log."


@dataclass
class _Pending:
    on_done: Callable[[Any], None] | None
    on_error: Callable[[str, BaseException], None] | None
    owner: QObject | None
    key: str | None
    name: str


class _Task(QRunnable):
    """Runs one call on a pool thread and hands the outcome to a signal (queued to the GUI thread)."""

    def __init__(self, finished: Signal, task_id: int, fn: Callable, args: tuple, kwargs: dict):
        super().__init__()
        self.setAutoDelete(True)
        self._finished, self._task_id = finished, task_id
        self._fn, self._args, self._kwargs = fn, args, kwargs

    def run(self) -> None:
        try:
            result, ok = self._fn(*self._args, **self._kwargs), True
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the GUI thread
            if not isinstance(exc, HealthQAError):
                log.error("background operation failed:\n%s", traceback.format_exc())
            result, ok = exc, False
        self._finished.emit(self._task_id, ok, result)


class Ops(QObject):
    # -- signals ---------------------------------------------------------------
    sig_busy_changed = Signal(bool)
    """True when work starts while none was running, False when the last call's callbacks have run."""
    sig_idle = Signal()
    """No call is queued, running, or waiting for its callbacks."""
    sig_error = Signal(str)
    """A readable message for a failed call that had no `on_error` of its own."""
    _sig_finished = Signal(int, bool, object)  # task id, ok, result or exception (emitted on a worker)

    # -- init --------------------------------------------------------------------
    def __init__(self, parent: QObject | None = None, *, io_threads: int = 4):
        super().__init__(parent)
        self._workspace_pool = QThreadPool(self)
        self._workspace_pool.setMaxThreadCount(1)  # serialised: one workspace call at a time
        self._io_pool = QThreadPool(self)
        self._io_pool.setMaxThreadCount(io_threads)
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._latest: dict[str, int] = {}
        self._closed = False
        # Emitted from pool threads; Ops lives on the GUI thread, so Qt queues the call there.
        self._sig_finished.connect(self._on_finished)
        _LIVE.add(self)

    # -- public API ---------------------------------------------------------------
    def run(self, fn: Callable, *args, on_done: Callable[[Any], None] | None = None,
            on_error: Callable[[str, BaseException], None] | None = None, key: str | None = None,
            io: bool = False, owner: QObject | None = None, **kwargs) -> int:
        """Run `fn(*args, **kwargs)` in the background; returns a task id.

        `owner` (default: the object `on_done` is a bound method of, if a
        QObject) — callbacks are dropped once it has been deleted.
        """
        if self._closed:  # a late callback asking for more work while the window closes
            log.debug("ignored %s: the operation helper is shut down", getattr(fn, "__name__", fn))
            return 0
        task_id = next(self._ids)
        if owner is None:
            bound = getattr(on_done, "__self__", None) or getattr(on_error, "__self__", None)
            owner = bound if isinstance(bound, QObject) else None
        was_idle = not self._pending
        self._pending[task_id] = _Pending(on_done, on_error, owner, key, getattr(fn, "__name__", "call"))
        if key is not None:
            self._latest[key] = task_id
        if was_idle:
            self.sig_busy_changed.emit(True)
        pool = self._io_pool if io else self._workspace_pool
        pool.start(_Task(self._sig_finished, task_id, fn, args, kwargs))
        return task_id

    def is_idle(self) -> bool:
        return not self._pending

    def pending_count(self) -> int:
        return len(self._pending)

    def active_threads(self) -> int:
        return self._workspace_pool.activeThreadCount() + self._io_pool.activeThreadCount()

    def shutdown(self) -> None:
        """Finish every call asked for, then refuse new ones (so nothing writes after the workspace closes)."""
        self._closed = True
        for pool in (self._io_pool, self._workspace_pool):
            pool.waitForDone()  # queued workspace calls are writes the clinician made: let them land
        self._pending.clear()  # their callbacks would find the window gone
        self._latest.clear()

    def wait_for_running(self, msecs: int = -1) -> bool:
        """Block until the pools are empty (for shutdown and scripts, never from a panel)."""
        return all(pool.waitForDone(msecs) for pool in (self._workspace_pool, self._io_pool))

    # -- private ---------------------------------------------------------------------
    def _on_finished(self, task_id: int, ok: bool, result: object) -> None:
        pending = self._pending.pop(task_id, None)
        try:
            if pending is None or self._superseded(task_id, pending):
                return
            if pending.owner is not None and not shiboken6.isValid(pending.owner):
                return  # the panel that asked is gone
            if ok:
                if pending.on_done is not None:
                    pending.on_done(result)
            else:
                message = describe_error(result)
                if pending.on_error is not None:
                    pending.on_error(message, result)
                else:
                    log.warning("%s failed: %s", pending.name, message)
                    self.sig_error.emit(message)
        finally:
            if not self._pending:
                self.sig_busy_changed.emit(False)
                self.sig_idle.emit()

    def _superseded(self, task_id: int, pending: _Pending) -> bool:
        if pending.key is None:
            return False
        latest = self._latest.get(pending.key)
        if latest == task_id:
            del self._latest[pending.key]
            return False
        return True
