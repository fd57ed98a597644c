"""assign, assignments, flag, flags, bundle export / import / verify: sharing the grading out."""

from __future__ import annotations

from ..errors import CommandError
from ..formats.bundle import export_bundle, import_bundle, verify_bundle
from ..review import (FLAG_REASONS, assign, assignment_summary, criterion_id_at, export_flags, flag_criterion,
                      list_assignments, list_flags, unflag_criterion)
from .common import add_command, add_group, open_from, output_path, print_json, print_rows, resolve_run


def register(sub) -> None:
    p = add_command(sub, "assign", cmd_assign, "Share answers among clinicians, each answer for K of them "
                    "(or only a random sample of the answers: --sample N [--stratify theme]).")
    p.add_argument("--raters", metavar="A,B,C", required=True, help="the clinicians, comma-separated")
    p.add_argument("--overlap", type=int, metavar="K", default=1, help="clinicians per answer (default 1)")
    p.add_argument("--run", dest="run_id", metavar="RUN_ID", help="only this run's answers")
    p.add_argument("--set", dest="set_name", metavar="NAME", help="only answers to this set's questions")
    p.add_argument("--model", metavar="M", help="only this model's answers")
    p.add_argument("--seed", type=int, default=0, help="another seed, another (equally balanced) plan")
    p.add_argument("--sample", type=int, metavar="N", help="hand out a seeded random N of the answers, not all")
    p.add_argument("--stratify", choices=["theme"], help="draw the sample theme by theme (every theme present "
                   "gets at least one answer, the rest in proportion)")
    p.add_argument("--json", action="store_true")

    p = add_command(sub, "assignments", cmd_assignments,
                    "Who has which answers, and their own progress (never anyone's verdicts).")
    p.add_argument("--rater", metavar="NAME", help="one clinician's answers")
    p.add_argument("--json", action="store_true")

    p = add_command(sub, "flag", cmd_flag, "Flag a rubric criterion as wrong or unclear (or --remove the flag).")
    p.add_argument("prompt_id", metavar="PROMPT_ID")
    p.add_argument("criterion", type=int, metavar="N", help="the criterion's number in the rubric, from 1")
    p.add_argument("--rater", metavar="NAME", required=True)
    p.add_argument("--reason", choices=FLAG_REASONS)
    p.add_argument("--comment", metavar="TEXT")
    p.add_argument("--remove", action="store_true", help="withdraw this rater's flag")

    p = add_command(sub, "flags", cmd_flags, "List criterion flags, or write them to a file.")
    p.add_argument("--rater", metavar="NAME")
    p.add_argument("--out", metavar="FILE", help="write CSV or JSONL instead of listing")
    p.add_argument("--format", dest="fmt", choices=["csv", "jsonl"], default="csv")
    p.add_argument("--json", action="store_true")

    bundle = add_group(sub, "bundle", "Offline review bundles: export, import, verify.",
                       "Offline review bundles: one clinician's assignment in one file.")
    p = add_command(bundle, "export", cmd_bundle_export, "Write a clinician's assigned answers to one file.")
    p.add_argument("--rater", metavar="NAME", required=True)
    p.add_argument("--out", metavar="FILE", required=True)
    p.add_argument("--run", dest="run_id", metavar="RUN_ID", help="only this run's assigned answers")
    p.add_argument("--unblinded", action="store_true", help="include other raters' grades (off by default)")
    p.add_argument("--json", action="store_true")
    p = add_command(bundle, "import", cmd_bundle_import, "Merge a graded bundle back (idempotent).")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--force", action="store_true",
                   help="merge a bundle from another workspace, matching questions by prompt_id")
    p.add_argument("--json", action="store_true")
    p = add_command(bundle, "verify", cmd_bundle_verify, "Check a bundle file without merging anything.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true")


def cmd_assign(args) -> int:
    names = [n.strip() for n in args.raters.split(",") if n.strip()]
    with open_from(args) as ws:
        report = assign(ws, names, args.overlap, run_id=resolve_run(ws, args.run_id), set_name=args.set_name,
                        model=args.model, seed=args.seed, sample=args.sample, stratify=args.stratify)
    if args.json:
        print_json(vars(report))
    else:
        print(report.summary())
    return 0


def cmd_assignments(args) -> int:
    with open_from(args) as ws:
        rows = list_assignments(ws, args.rater) if args.rater else assignment_summary(ws)
    columns = (["position", "prompt_id", "model", "graded", "criteria", "submitted"] if args.rater
               else ["rater", "assigned", "submitted", "started"])
    print_rows(args, rows, columns, empty="No assignments yet: `healthqa assign --raters A,B --overlap 2` makes some.")
    return 0


def cmd_flag(args) -> int:
    with open_from(args) as ws:
        criterion_id = criterion_id_at(ws, args.prompt_id, args.criterion)
        if args.remove:
            changed = unflag_criterion(ws, criterion_id, args.rater)
            print("Flag withdrawn." if changed else "There was no flag to withdraw.")
            return 0
        if not args.reason:
            raise CommandError(f"give --reason ({', '.join(FLAG_REASONS)})")
        flag_criterion(ws, criterion_id, args.rater, args.reason, args.comment)
    print(f"Flagged criterion #{args.criterion} of {args.prompt_id} as {args.reason}.")
    return 0


def cmd_flags(args) -> int:
    if args.out:
        output_path(args.out)
    with open_from(args) as ws:
        if args.out:
            count = export_flags(ws, args.out, fmt=args.fmt, rater=args.rater)
            print(f"Wrote {count} flags to {args.out}")
            return 0
        rows = list_flags(ws, rater=args.rater)
    shown = [{**row, "criterion": row["criterion"].replace("\n", " ")[:60]} for row in rows]
    print_rows(args, shown, ["prompt_id", "criterion_position", "criterion", "rater", "reason", "comment"],
               empty="No criterion flags.", json_rows=rows)
    return 0


def cmd_bundle_export(args) -> int:
    output_path(args.out)
    with open_from(args) as ws:
        report = export_bundle(ws, args.rater, args.out, run_id=resolve_run(ws, args.run_id),
                               blinded=not args.unblinded)
    _show(args, report)
    return 0


def cmd_bundle_import(args) -> int:
    with open_from(args, create=True) as ws:
        report = import_bundle(ws, args.file, force=args.force)
    _show(args, report)
    return 0


def _show(args, report) -> None:
    if args.json:
        print_json(report.as_json())
    else:
        print(report.summary())


def cmd_bundle_verify(args) -> int:
    manifest = verify_bundle(args.file)
    if args.json:
        print_json(manifest.model_dump())
    else:
        print(f"{args.file}: a sound bundle for {manifest.rater}, {manifest.answers} answers, exported "
              f"{manifest.created_at} from workspace {manifest.source_workspace_id}; "
              f"{'blinded' if manifest.blinded else 'NOT blinded'}; {manifest.checksum}")
    return 0
