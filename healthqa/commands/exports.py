"""export: a question set, grades or results, in the format asked for."""

from __future__ import annotations

from ..formats.healthbench import export_healthbench
from .common import add_command, open_from


def register(sub) -> None:
    p = add_command(sub, "export", cmd_export, "Export a question set, grades or results.")
    p.add_argument("--set", dest="set_name", metavar="NAME", required=True)
    p.add_argument("--format", choices=["healthbench"], default="healthbench")
    p.add_argument("--out", metavar="FILE", required=True)
    p.add_argument("--with-answers", action="store_true", help="one row per answer, with completion and model")
    p.add_argument("--model", metavar="NAME", help="only this model's answers (implies --with-answers)")
    p.add_argument("--rater", metavar="NAME", help="add this rater's verdicts as criteria_met (implies --with-answers)")


def cmd_export(args) -> int:
    with open_from(args) as ws:
        with_answers = args.with_answers or bool(args.model or args.rater)
        count = export_healthbench(ws, args.set_name, args.out, with_answers=with_answers, model=args.model,
                                   rater=args.rater)
    print(f"Wrote {count} rows to {args.out}")
    return 0
