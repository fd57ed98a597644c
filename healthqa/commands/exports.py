"""export: a question set, grades or results, in the format asked for."""

from __future__ import annotations

from ..errors import CommandError
from ..formats.exports import export_long, export_results
from ..formats.healthbench import export_healthbench
from .common import add_command, open_from, output_path, resolve_run

FORMATS = {
    "healthbench": "HealthBench JSONL: the set's questions (with --with-answers, one row per answer)",
    "csv": "long form, one row per answer x criterion x rater",
    "jsonl": "long form as JSON Lines",
    "healthbench-results": "simple-evals-shaped results, one JSON line per (model, rater)",
}


def register(sub) -> None:
    p = add_command(sub, "export", cmd_export, "Export a question set, grades or results.")
    p.add_argument("--format", choices=list(FORMATS), default="healthbench",
                   help="; ".join(f"{name}: {text}" for name, text in FORMATS.items()))
    p.add_argument("--out", metavar="FILE", required=True)
    p.add_argument("--set", dest="set_name", metavar="NAME", help="the question set (required for healthbench)")
    p.add_argument("--model", metavar="NAME", help="only this model's answers (healthbench: implies --with-answers)")
    p.add_argument("--rater", metavar="NAME",
                   help="only this rater (healthbench: add their verdicts as criteria_met; results: 'majority' "
                        "for the clinicians' majority)")
    p.add_argument("--run", dest="run_id", metavar="RUN_ID", help="only this run's answers (not healthbench)")
    p.add_argument("--with-answers", action="store_true", help="healthbench: one row per answer")


def cmd_export(args) -> int:
    output_path(args.out)
    with open_from(args) as ws:
        if args.format == "healthbench":
            if args.set_name is None:
                raise CommandError("--format healthbench exports a question set: give --set NAME")
            if args.run_id:
                raise CommandError("--run does not apply to --format healthbench (use --model)")
            with_answers = args.with_answers or bool(args.model or args.rater)
            count = export_healthbench(ws, args.set_name, args.out, with_answers=with_answers, model=args.model,
                                       rater=args.rater)
            what = "rows"
        else:
            filters = dict(set_name=args.set_name, model=args.model, rater=args.rater,
                           run_id=resolve_run(ws, args.run_id))
            if args.format == "healthbench-results":
                count, what = export_results(ws, args.out, **filters), "(model, rater) results"
            else:
                count, what = export_long(ws, args.out, fmt=args.format, **filters), "rows"
    print(f"Wrote {count} {what} to {args.out}")
    return 0
