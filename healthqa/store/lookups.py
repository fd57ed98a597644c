"""Names a person typed, turned into ids, or one clear error that lists what there is.

Every command, export and run that takes a set or rater name goes through
these, so "no question set named …" reads the same everywhere. Each caller
passes its own error type (the CLI, the app and the tests tell errors apart
by type); the message is the same.
"""

from __future__ import annotations

from typing import Callable, Iterable

from .grades import list_raters
from .questions import list_sets
from .workspace import Workspace

ErrorType = Callable[[str], Exception]


def _known(names: Iterable[str], also: Iterable[str] = ()) -> str:
    listed = ", ".join(names) or "none"
    extra = "".join(f", or {name!r}" for name in also)
    return listed + extra


def set_id_or_error(ws: Workspace, name: str, error: ErrorType) -> str:
    set_id = ws.scalar("SELECT id FROM question_sets WHERE name = ?", (name,))
    if set_id is None:
        raise error(f"no question set named {name!r} (sets: {_known(s['name'] for s in list_sets(ws))})")
    return set_id


def rater_id_or_error(ws: Workspace, name: str, error: ErrorType, *, also: Iterable[str] = ()) -> str:
    rater_id = ws.scalar("SELECT id FROM raters WHERE name = ?", (name,))
    if rater_id is None:
        raise error(f"no rater named {name!r} (raters: {_known((r['name'] for r in list_raters(ws)), also)})")
    return rater_id


def check_rater_names(names: Iterable[str], known: Iterable[str], error: ErrorType) -> None:
    """Raise one error naming every unknown rater among `names`, with the `known` ones listed."""
    known = list(known)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise error(f"no rater named {', '.join(map(repr, unknown))} (raters: {_known(known)})")
