"""An asyncio event loop on its own QThread, for the httpx work the GUI must never wait on.

The run engine and answer streaming are coroutines on `httpx.AsyncClient`;
the GUI thread runs Qt's event loop, not asyncio's. So one QThread owns one
asyncio loop (Spyder's AsyncDispatcher idea) and coroutines are handed to it:

    task = async_worker_for(ctx).start(stream_answer, config, conversation)
    task.sig_event.connect(...)      # every control.report(value) of the coroutine
    task.sig_done.connect(...)       # its return value
    task.sig_failed.connect(...)     # (readable message, exception)
    task.sig_finished.connect(...)   # always last: done, failed or cancelled
    task.cancel()

The coroutine is called as `fn(control, *args)`; `control.report(value)`
sends a value to the GUI thread and `control.cancel_event` (a
threading.Event) is set by `cancel()`. A task started with
`soft_cancel=True` is only told through that event (the run engine stops
cleanly and stores its summary); any other task is cancelled outright.

Threads: the loop thread touches no widget. It emits one private signal of
the worker, which lives on the GUI thread, so Qt queues the call there and
the task's public signals are always emitted on the GUI thread.
`shutdown()` asks every task to stop, waits for them, stops the loop and
joins the thread; the panels call it before the workspace closes, and
`QCoreApplication.aboutToQuit` calls it for any worker still running.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import itertools
import logging
import threading
import weakref
from typing import Any, Awaitable, Callable

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal

from .ops import describe_error

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 10.0  # how long shutdown waits for soft-cancelled work (a run storing its summary)

_EVENT, _DONE, _FAILED, _CANCELLED = range(4)
_WORKERS: "weakref.WeakKeyDictionary[QObject, AsyncWorker]" = weakref.WeakKeyDictionary()
_RUNNING: set["AsyncWorker"] = set()  # strong references: a running QThread must never be garbage-collected


# What httpx imports only when its first client is made: ~70 modules, ~65 ms of the GIL. Imported on a
# pool thread while a panel is being looked at, not on the loop thread once a run has started.
HTTP_STACK_MODULES = ("httpcore", "h11", "sniffio", "certifi", "anyio", "anyio._backends._asyncio")


def warm_up_http_stack() -> None:
    """Import the HTTP stack's lazily imported modules (run it through the ops helper, io=True)."""
    for name in HTTP_STACK_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # a later httpx may not use it; nothing to warm then
            pass


def async_worker_for(owner: QObject) -> "AsyncWorker":
    """The one worker of `owner` (the AppContext): created on first use, shared by its panels."""
    worker = _WORKERS.get(owner)
    if worker is None:
        worker = AsyncWorker(owner)
        _WORKERS[owner] = worker
    return worker


def running_workers() -> list["AsyncWorker"]:
    """Workers whose loop thread is running (tests check that none is left)."""
    return [w for w in _RUNNING if w.is_running()]


class TaskControl:
    """What a coroutine gets besides its arguments: a way to report, and a cancel flag."""

    def __init__(self, post: Callable[[int, int, object], None], task_id: int):
        self._post, self._task_id = post, task_id
        self.cancel_event = threading.Event()

    def report(self, value: object) -> None:
        """Send `value` to the GUI thread (AsyncTask.sig_event); callable from the loop thread."""
        self._post(self._task_id, _EVENT, value)

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


class AsyncTask(QObject):
    """One coroutine on the worker's loop, seen from the GUI thread."""

    sig_event = Signal(object)
    """A value the coroutine reported (control.report)."""
    sig_done = Signal(object)
    """The coroutine's return value."""
    sig_failed = Signal(str, object)
    """(readable message, exception) — the coroutine raised."""
    sig_cancelled = Signal()
    """The coroutine was cancelled before it returned."""
    sig_finished = Signal()
    """Emitted last, whatever the outcome."""

    def __init__(self, task_id: int, control: TaskControl, soft_cancel: bool):
        super().__init__()
        self.task_id = task_id
        self.control = control
        self.soft_cancel = soft_cancel
        self.future: concurrent.futures.Future | None = None
        self.running = True

    def cancel(self) -> None:
        """Ask the coroutine to stop; the outcome still arrives as signals."""
        self.control.cancel_event.set()
        if not self.soft_cancel and self.future is not None:
            self.future.cancel()  # cancels the asyncio task on its loop (thread-safe)


class _LoopThread(QThread):
    """Runs the asyncio loop until it is stopped, then closes it properly."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        super().__init__()
        self.setObjectName("healthqa-async")
        self.loop = loop

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
            # Threads of the loop's default executor (getaddrinfo, to_thread) end here too.
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
        finally:
            self.loop.close()


class AsyncWorker(QObject):
    _sig_post = Signal(int, int, object)  # task id, kind, payload (emitted on the loop thread)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._tasks: dict[int, AsyncTask] = {}
        self._thread: _LoopThread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        # Always queued: from the loop thread it must be (the worker lives on the GUI thread), and
        # from the GUI thread (a cancel) it keeps `task.cancel()` from emitting signals re-entrantly.
        self._sig_post.connect(self._on_post, Qt.ConnectionType.QueuedConnection)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # -- public API ---------------------------------------------------------------
    def start(self, fn: Callable[..., Awaitable[Any]], *args: Any, soft_cancel: bool = False,
              **kwargs: Any) -> AsyncTask:
        """Run `fn(control, *args, **kwargs)` on the loop; returns its task (signals on the GUI thread)."""
        if self._closed:
            raise RuntimeError("the async worker is shut down")
        loop = self._ensure_loop()
        task_id = next(self._ids)
        control = TaskControl(self._sig_post.emit, task_id)
        task = AsyncTask(task_id, control, soft_cancel)
        self._tasks[task_id] = task
        task.future = asyncio.run_coroutine_threadsafe(self._wrap(fn, control, args, kwargs), loop)
        # A task cancelled before its coroutine started never runs `_wrap`'s handler: report it here.
        task.future.add_done_callback(
            lambda f, post=self._sig_post.emit: f.cancelled() and post(task_id, _CANCELLED, None))
        return task

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def active_tasks(self) -> list[AsyncTask]:
        return list(self._tasks.values())

    def shutdown(self, grace: float = SHUTDOWN_GRACE_S) -> None:
        """Stop every task (soft ones get `grace` seconds to finish), stop the loop, join the thread."""
        self._closed = True
        if self._thread is None:
            return
        for task in self._tasks.values():
            task.cancel()
        try:
            asyncio.run_coroutine_threadsafe(self._drain(grace), self._loop).result(grace + 5)
        except (concurrent.futures.TimeoutError, RuntimeError):
            log.warning("async worker: tasks still running at shutdown were abandoned")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.wait()
        self._thread = None
        _RUNNING.discard(self)

    # -- private ---------------------------------------------------------------------
    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._thread is None:
            self._loop = asyncio.new_event_loop()
            self._thread = _LoopThread(self._loop)
            _RUNNING.add(self)
            self._thread.start()
        return self._loop

    async def _wrap(self, fn, control: TaskControl, args: tuple, kwargs: dict) -> None:
        post = self._sig_post.emit
        try:
            result = await fn(control, *args, **kwargs)
        except asyncio.CancelledError:
            post(control._task_id, _CANCELLED, None)
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the GUI thread
            log.debug("async task %s failed", control._task_id, exc_info=True)
            post(control._task_id, _FAILED, exc)
        else:
            post(control._task_id, _DONE, result)

    async def _drain(self, grace: float) -> None:
        current = asyncio.current_task()
        pending = {t for t in asyncio.all_tasks() if t is not current}
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace)
            for t in late:
                t.cancel()
            if late:
                await asyncio.wait(late, timeout=2.0)

    def _on_post(self, task_id: int, kind: int, payload: object) -> None:
        task = self._tasks.get(task_id)
        if task is None:
            return
        if kind == _EVENT:
            task.sig_event.emit(payload)
            return
        del self._tasks[task_id]
        task.running = False
        if kind == _DONE:
            task.sig_done.emit(payload)
        elif kind == _FAILED:
            task.sig_failed.emit(describe_error(payload), payload)
        else:
            task.sig_cancelled.emit()
        task.sig_finished.emit()
