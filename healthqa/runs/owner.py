"""Which process works on a run.

The engine stamps a run it starts with its process id and host (in
`runs.settings`), so that a run whose process was killed reads as
interrupted rather than running for ever, and so that a second process
never works on a run that a live one is still running (its calls would be
made twice).
"""

from __future__ import annotations

import json
import os
import socket

from .status import INTERRUPTED, RUNNING


# Set by the `healthqa` command while it runs a run: it stops cleanly on SIGTERM, so
# `healthqa runs cancel` may send it one (the desktop app is asked another way).
STOPS_ON_SIGTERM = False


def stop_on_sigterm() -> None:
    """Say that this process (the `healthqa` command) stops cleanly on SIGTERM."""
    global STOPS_ON_SIGTERM
    STOPS_ON_SIGTERM = True


def this_process() -> dict:
    owner = {"pid": os.getpid(), "host": socket.gethostname()}
    if STOPS_ON_SIGTERM:
        owner["sigterm"] = True
    return owner


def is_alive(owner: dict | None) -> bool | None:
    """Whether the owning process still runs; None where that cannot be told
    (no stamp, another machine sharing the file, or not a POSIX system)."""
    if not owner or owner.get("host") != socket.gethostname() or os.name != "posix":
        return None
    try:
        os.kill(int(owner["pid"]), 0)  # signal 0: asks whether the process exists, sends nothing
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def owner_of(settings_json: str | None) -> dict | None:
    return json.loads(settings_json or "{}").get("owner")


def reported_status(status: str, settings_json: str | None) -> str:
    """The stored status, except a running run whose process is gone: interrupted."""
    if status == RUNNING and is_alive(owner_of(settings_json)) is False:
        return INTERRUPTED
    return status


def busy_elsewhere(settings_json: str | None) -> dict | None:
    """The live owner of a run another process is working on, else None.
    (The engine removes its stamp when a run finishes or stops.)"""
    owner = owner_of(settings_json)
    if owner and owner != this_process() and is_alive(owner):
        return owner
    return None
