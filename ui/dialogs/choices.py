"""What the File-menu dialogs offer to choose from: sets, models, raters, runs, clinicians' loads.

`load_choices` runs on the ops helper (it reads the workspace); the dialogs
fill their combos from its result on the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from healthqa import store
from healthqa.review import assignment_summary
from healthqa.domain import RaterKind
from healthqa.runs import list_runs


@dataclass(frozen=True)
class Choices:
    sets: list[str]
    models: list[str]
    raters: list[tuple[str, str]]  # (name, kind), clinicians first
    clinicians: list[str]
    runs: list[tuple[str, str]]  # (label, run id) of answer runs, newest first: fill_combo's (text, value)
    assigned: dict[str, int]  # clinician name -> answers assigned to them


def load_choices(ws: store.Workspace) -> Choices:
    raters = store.list_raters(ws)
    return Choices(
        sets=[s["name"] for s in store.list_sets(ws)],
        models=store.list_models(ws),
        raters=[(r["name"], r["kind"]) for r in sorted(raters, key=lambda r: (r["kind"] != "clinician", r["name"]))],
        clinicians=[r["name"] for r in store.list_raters(ws, RaterKind.CLINICIAN)],
        runs=[(run_label(r), r["id"]) for r in list_runs(ws) if r["kind"] == "answer"],
        assigned={row["rater"]: row["assigned"] for row in assignment_summary(ws)},
    )


def run_label(run: dict) -> str:
    """'Demo × gpt-4o · 2025-05-01 14:02 · done (…3f2a)': enough to tell runs apart."""
    when = (run.get("created_at") or "")[:16].replace("T", " ")
    return f"{run.get('set') or 'no set'} × {run.get('model') or 'no model'} · {when} · {run['status']} " \
           f"(…{run['id'][-4:]})"

