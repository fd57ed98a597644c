"""What every command shares: the --workspace option and output helpers."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..errors import CommandError
from ..paths import WORKSPACE_ENV, default_workspace
from ..store import Workspace

# A command waits this long for another process writing to the workspace
# (a long import, the desktop app mid-merge), saying so on stderr meanwhile.
CLI_LOCK_WAIT = 600.0


def add_workspace_option(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """--workspace before or after the command name; the sub-command's copy
    is suppressed when absent so it does not overwrite the top-level one."""
    parser.add_argument("--workspace", metavar="PATH", default=None if top else argparse.SUPPRESS,
                        help=f"workspace file (default: ${WORKSPACE_ENV}, else {default_workspace()})")


def open_from(args: argparse.Namespace, *, create: bool = False) -> Workspace:
    """The command's workspace. Only commands that bring data in (import, models add,
    bundle import) create a missing one: a read command on a mistyped path must
    say so, not leave new folders and an empty workspace behind."""
    path = Path(args.workspace or default_workspace())
    if not create and _missing(path):
        if args.workspace or os.environ.get(WORKSPACE_ENV):
            raise CommandError(f"no workspace at {path}: check the path (`healthqa import FILE` creates a workspace)")
        raise CommandError(f"no workspace yet at {path}: `healthqa import FILE` creates it")
    return Workspace(path, create=create, lock_wait=CLI_LOCK_WAIT, on_wait=_say_waiting)


def _missing(path: Path) -> bool:
    try:
        path.stat()
    except FileNotFoundError:
        return True
    except OSError:
        return False  # permissions and the like: Workspace names them
    return False


def _say_waiting(message: str) -> None:
    print(f"{message}; Ctrl-C to stop", file=sys.stderr, flush=True)


def output_path(text: str) -> Path:
    """An --out FILE whose folder exists: checked before any work, so a typo costs nothing."""
    path = Path(text)
    folder = path.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise CommandError(f"cannot write {path}: the folder {folder} {what}")
    if path.is_dir():
        raise CommandError(f"cannot write {path}: it is a folder; give a file name")
    return path


def add_group(sub, name: str, help: str, description: str | None = None):
    """A command with actions (`healthqa NAME ACTION ...`): the subparsers to add them to."""
    group = sub.add_parser(name, help=help, description=description or help)
    add_workspace_option(group)
    return group.add_subparsers(dest=f"{name}_command", required=True, metavar="ACTION")


def add_command(sub, name: str, func, help: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help, description=help)
    add_workspace_option(parser)
    parser.set_defaults(func=func)
    return parser


# Levels of a --json document laid out one key per line; anything deeper is
# one line each (one run, one criterion's statistics, ...).  json.dump with
# `indent` always runs the pure-Python encoder: 14 s for the 48 MB of
# `agreement --by criterion`; compact leaves go through the C encoder.
_JSON_INDENTED_LEVELS = 2


def print_json(data) -> None:
    """Write ``data`` as JSON to stdout: indented near the top, compact below."""
    sys.stdout.writelines(_json_lines(data, 0))
    sys.stdout.write("\n")


def _compact(value) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _json_lines(data, depth: int):
    if depth >= _JSON_INDENTED_LEVELS or not isinstance(data, (dict, list)) or not data:
        yield _compact(data)
        return
    inner, outer = "  " * (depth + 1), "  " * depth
    if isinstance(data, dict):
        # Keys as json.dump writes them: 1 -> "1", None -> "null".
        opening, closing = "{", "}"
        entries = [(_compact(k if isinstance(k, str) else _compact(k)) + ": ", v) for k, v in data.items()]
    else:
        opening, closing = "[", "]"
        entries = [("", v) for v in data]
    yield opening
    for n, (name, value) in enumerate(entries):
        yield ("," if n else "") + "\n" + inner + name
        yield from _json_lines(value, depth + 1)
    yield "\n" + outer + closing


def print_table(rows: list[dict], columns: list[str]) -> None:
    """A plain aligned table; numbers right-aligned."""
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    for row, raw in zip(cells, rows):
        print("  ".join(
            v.rjust(w) if isinstance(raw.get(c), (int, float)) else v.ljust(w)
            for v, w, c in zip(row, widths, columns)).rstrip())


def print_rows(args, rows: list[dict], columns: list[str], *, empty: str, json_rows: list | None = None) -> None:
    """What every listing command prints: JSON with --json (`json_rows` when the
    JSON keeps other fields than the table shows), else a table, or the `empty`
    hint when there is nothing to list."""
    if getattr(args, "json", False):
        print_json(rows if json_rows is None else json_rows)
    elif not rows:
        print(empty)
    else:
        print_table(rows, columns)


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def resolve_run(ws: Workspace, text: str | None) -> str | None:
    """A run id from its text or a unique prefix; answers without a runs row are matched as given."""
    if text is None:
        return None
    if ws.scalar("SELECT 1 FROM answers WHERE run_id = ? LIMIT 1", (text,)):
        return text
    from ..runs import resolve_run_id

    return resolve_run_id(ws, text)
