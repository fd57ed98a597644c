"""The base of the panels that work on the app's async worker thread (Ask streams answers, Runs runs)."""

from __future__ import annotations

from ..async_worker import async_worker_for
from . import Panel


class WorkerPanel(Panel):
    """A panel whose streams or runs live on the async worker: closing stops them and joins the thread."""

    def before_close(self) -> None:
        """The window closes: stop what runs on the worker (a run stops cleanly and can be resumed), join it."""
        async_worker_for(self.ctx).shutdown()

    # -- Qt overrides -------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override (the panel shown on its own)
        self.before_close()
        super().closeEvent(event)
