"""raters / raters rename: who grades in this workspace, and a clinician's name put right."""

from __future__ import annotations

from ..errors import CommandError
from ..store import rename_clinician
from .common import add_command, add_group, open_from, print_rows


def register(sub) -> None:
    raters = add_group(sub, "raters", "Raters (clinicians and model graders): list, rename.",
                       "Who grades in this workspace.")
    p = add_command(raters, "list", cmd_list, "List raters with how many answers each has graded.")
    p.add_argument("--json", action="store_true")
    p = add_command(raters, "rename", cmd_rename,
                    "Give a clinician another name; their grades, assignments and flags stay theirs.")
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")


def cmd_list(args) -> int:
    with open_from(args) as ws:
        rows = ws.query("""SELECT r.name, r.kind, r.role, r.specialty,
                                  (SELECT count(DISTINCT answer_id) FROM grades g WHERE g.rater_id = r.id)
                                      AS answers_graded
                           FROM raters r ORDER BY r.kind, r.name""")
    print_rows(args, rows, ["name", "kind", "role", "specialty", "answers_graded"],
               empty="No raters yet: a clinician appears when they first grade, import or are assigned answers.")
    return 0


def cmd_rename(args) -> int:
    with open_from(args) as ws:
        rename_clinician(ws, args.old, args.new, error=CommandError)
    print(f"Renamed {args.old!r} to {args.new!r}")
    return 0
