"""Opening a workspace for the window: context, remembered clinician, demo set.

Plain functions over the core, called by app.py and the main window; the
slow part (importing the demo set) goes through the ops helper.
"""

from __future__ import annotations

from pathlib import Path

from healthqa import store
from healthqa.domain import RaterKind
from healthqa.formats.healthbench import import_healthbench
from healthqa.paths import demo_set_path
from healthqa.review import question_count

from .context import AppContext, RaterIdentity
from .settings import AppSettings

DEMO_SET_NAME = "Demo"


def open_context(path: str | Path, settings: AppSettings) -> AppContext:
    """Open (or create) a workspace and restore the clinician remembered for it."""
    ws = store.Workspace(path)
    ctx = AppContext(ws)
    rater_id = settings.rater_for(ws.workspace_id)
    if rater_id:
        ctx.rater = identity_by_id(ws, rater_id)
    settings.add_recent(path)
    return ctx


def identity_by_id(ws: store.Workspace, rater_id: str) -> RaterIdentity | None:
    row = next((r for r in store.list_raters(ws, RaterKind.CLINICIAN) if r["id"] == rater_id), None)
    return RaterIdentity(row["id"], row["name"], row["role"], row["specialty"]) if row else None


def sign_in(ws: store.Workspace, name: str, role: str | None = None, specialty: str | None = None) -> RaterIdentity:
    """The clinician of that name (created if new); runs on the ops helper."""
    rater_id = store.ensure_rater(ws, name.strip(), RaterKind.CLINICIAN, role=role or None,
                                  specialty=specialty or None)
    return identity_by_id(ws, rater_id)


def clinicians(ws: store.Workspace) -> list[RaterIdentity]:
    return [RaterIdentity(r["id"], r["name"], r["role"], r["specialty"])
            for r in store.list_raters(ws, RaterKind.CLINICIAN)]


def import_demo_if_empty(ws: store.Workspace, demo: Path | None = None):
    """Import the bundled demo set into an empty workspace; returns the ImportReport or None."""
    demo = demo or demo_set_path()
    if question_count(ws) or not demo.exists():
        return None
    return import_healthbench(ws, demo, set_name=DEMO_SET_NAME)
