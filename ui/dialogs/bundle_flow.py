"""Importing a graded bundle, and knowing that the open workspace is a bundle.

Import: check the file first (`verify_bundle`: every check an import
makes, nothing merged); a bundle from another workspace is merged only
when the person agrees (matched by prompt id and answer text); then
`import_bundle`. A refused bundle changes nothing and its reason is shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from healthqa.formats.bundle import MANIFEST_KEY, Manifest, import_bundle, verify_bundle
from healthqa.store import Workspace

from ..context import RaterIdentity
from ..session import identity_by_id
from .prompts import Prompts

MERGE_ANYWAY = "Merge anyway (match by prompt id and answer text)"


@dataclass(frozen=True)
class OpenedBundle:
    """The open workspace is a review bundle: for whom, and their identity in it."""

    rater: str
    identity: RaterIdentity | None
    blinded: bool
    answers: int


def opened_bundle(ws: Workspace) -> OpenedBundle | None:
    """The bundle manifest of the open workspace, if it is a bundle (ops helper)."""
    text = ws.meta(MANIFEST_KEY)
    if not text:
        return None
    try:
        manifest = json.loads(text)
        return OpenedBundle(str(manifest["rater"]), identity_by_id(ws, str(manifest["rater_id"])),
                            bool(manifest.get("blinded", True)), int(manifest.get("answers", 0)))
    except (ValueError, KeyError, TypeError):  # a damaged manifest: open it as a plain workspace
        return None


def _inspect(ws: Workspace, path: str) -> tuple[Manifest, bool]:
    manifest = verify_bundle(path)
    return manifest, manifest.source_workspace_id == ws.workspace_id


class BundleImportFlow(QObject):
    """One import, from checking the file to the report; the window shows the outcome."""

    # -- signals ------------------------------------------------------------------------
    sig_done = Signal(object)
    """BundleImportReport — merged (or nothing new)."""
    sig_failed = Signal(str)
    """A readable reason: the bundle was refused and nothing changed."""
    sig_cancelled = Signal()
    """The person chose not to merge a bundle from another workspace."""

    # -- init ------------------------------------------------------------------------------
    def __init__(self, ctx, prompts: Prompts, parent: QWidget):
        super().__init__(parent)
        self.ctx, self.prompts, self._window = ctx, prompts, parent
        self.path = ""

    # -- public API --------------------------------------------------------------------------
    def start(self, path: str | Path) -> None:
        self.path = str(path)
        self.ctx.ops.run(_inspect, self.ctx.ws, self.path, on_done=self._on_inspected, on_error=self._on_failed)

    # -- private -------------------------------------------------------------------------------
    def _on_inspected(self, result: tuple[Manifest, bool]) -> None:
        manifest, from_here = result
        force = False
        if not from_here:
            text = (f"{Path(self.path).name} holds the grading of {manifest.rater}, exported from another "
                    f"workspace, not from this one.\n\nHealthQA can merge it anyway: questions are matched by "
                    f"their prompt id and answers by their text; those not found here are added.")
            if not self.prompts.confirm(self._window, "Bundle from another workspace", text, MERGE_ANYWAY):
                self.sig_cancelled.emit()
                self.deleteLater()
                return
            force = True
        self.ctx.ops.run(import_bundle, self.ctx.ws, self.path, force=force, on_done=self._on_imported,
                         on_error=self._on_failed)

    def _on_imported(self, report) -> None:
        self.sig_done.emit(report)
        self.deleteLater()

    def _on_failed(self, message: str, exc: BaseException) -> None:
        self.sig_failed.emit(message)
        self.deleteLater()
