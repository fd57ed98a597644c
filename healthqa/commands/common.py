"""What every command shares: the --workspace option and output helpers."""

from __future__ import annotations

import argparse
import json
import sys

from ..paths import WORKSPACE_ENV, default_workspace
from ..store import Workspace


def add_workspace_option(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """--workspace before or after the command name; the sub-command's copy
    is suppressed when absent so it does not overwrite the top-level one."""
    parser.add_argument("--workspace", metavar="PATH", default=None if top else argparse.SUPPRESS,
                        help=f"workspace file (default: ${WORKSPACE_ENV}, else {default_workspace()})")


def open_from(args: argparse.Namespace) -> Workspace:
    return Workspace(args.workspace or default_workspace())


def add_command(sub, name: str, func, help: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help, description=help)
    add_workspace_option(parser)
    parser.set_defaults(func=func)
    return parser


def print_json(data) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


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
