"""import, sets, questions, score."""

from __future__ import annotations

import argparse

from ..errors import CommandError
from ..scoring import MAJORITY, score_workspace
from ..store import list_sets, question_rows, rater_id_or_error, set_id_or_error
from .common import add_command, open_from, print_json, print_rows, print_table


def register(sub) -> None:
    p = add_command(sub, "import", cmd_import, "Import a file in one transaction: HealthBench JSONL; HealthBench's "
                    "meta-eval file (physicians' labels, as clinician grades); simple-evals HealthBench results "
                    "(_allresults.json, or its entries as JSONL) or an Inspect inspect_evals/healthbench log "
                    "(.eval or .json): answers plus the model grader's verdicts, compared with the file's own "
                    "figures.")
    p.add_argument("file")
    p.add_argument("--set", dest="set_name", metavar="NAME", help="question set (default: the file's name)")
    p.add_argument("--model", metavar="NAME", help="who wrote the completions in the file (results and logs: "
                   "default the model the file names)")
    p.add_argument("--grader", metavar="NAME", help="results and logs: the name of their model grader (default "
                   "'simple-evals grader', or 'inspect_evals grader (JUDGE)')")
    p.add_argument("--rater", metavar="NAME", help="who gave the verdicts (criteria_met) in the file")
    p.add_argument("--rater-kind", choices=["clinician", "model"], default="clinician")
    p.add_argument("--skip-invalid", action="store_true", help="import the good rows, list the bad ones")

    p = add_command(sub, "sets", cmd_sets, "List question sets.")
    p.add_argument("--json", action="store_true")

    p = add_command(sub, "questions", cmd_questions, "List the questions of a set.")
    p.add_argument("--set", dest="set_name", metavar="NAME", required=True)
    p.add_argument("--search", metavar="TEXT")
    p.add_argument("--tag", metavar="TAG", help="e.g. theme:hedging or axis:accuracy")
    p.add_argument("--json", action="store_true")

    p = add_command(sub, "score", cmd_score, "HealthBench scores per (model, rater).")
    p.add_argument("--model", metavar="M")
    p.add_argument("--rater", metavar="R", help="a rater's name, or 'majority' for the clinicians' majority")
    p.add_argument("--set", dest="set_name", metavar="NAME")
    p.add_argument("--run", dest="run_id", metavar="RUN_ID")
    p.add_argument("--without-flagged", action="store_true",
                   help="leave out the rubric criteria that a clinician flagged as wrong or ambiguous")
    p.add_argument("--exclude-truncated", action="store_true",
                   help="leave out answers that were cut off at the output cap or stopped by a safety filter")
    p.add_argument("--worst-at-k", metavar="K,K,...", type=_ks,
                   help="also HealthBench's worst-at-k over each question's samples, e.g. 1,2,4")
    p.add_argument("--json", action="store_true")


def cmd_import(args) -> int:
    # Imported here: the readers of other tools' files (zstandard, JSON streaming)
    # are not needed by `sets`, `questions` or `score`, which share this module.
    from ..formats.detect import import_file

    with open_from(args, create=True) as ws:
        report = import_file(ws, args.file, set_name=args.set_name, model=args.model, rater=args.rater,
                             rater_kind=args.rater_kind, grader=args.grader, skip_invalid=args.skip_invalid)
    print(report.summary())
    return 0


def cmd_sets(args) -> int:
    with open_from(args) as ws:
        sets = list_sets(ws)
    rows = [{"name": s["name"], "questions": s["questions"], "id": s["id"], "created_at": s["created_at"]}
            for s in sets]
    print_rows(args, rows, ["name", "questions", "created_at"],
               empty="No question sets yet: `healthqa import FILE` adds one.")
    return 0


def cmd_questions(args) -> int:
    with open_from(args) as ws:
        set_id = set_id_or_error(ws, args.set_name, CommandError)
        rows = question_rows(ws, set_id, search=args.search, tag=args.tag)
    if args.json:
        print_json([{"prompt_id": r["prompt_id"], "theme": r["theme"], "criteria": r["criteria"],
                     "preview": r["preview"], "id": r["id"]} for r in rows])
    else:
        for r in rows:
            r["preview"] = r["preview"].replace("\n", " ")[:70]
        print_table(rows, ["prompt_id", "theme", "criteria", "preview"])
    return 0


def cmd_score(args) -> int:
    with open_from(args) as ws:
        if args.rater and args.rater not in ("majority", MAJORITY):
            rater_id_or_error(ws, args.rater, CommandError, also=["majority"])
        results = score_workspace(ws, model=args.model, rater=args.rater, set_name=args.set_name,
                                  run_id=args.run_id, without_flagged=args.without_flagged,
                                  worst_at=args.worst_at_k or (), exclude_truncated=args.exclude_truncated)
    if args.json:
        print_json(results)
        return 0
    if not results:
        print("No grades to score yet.")
        return 0
    rows = [{"model": r["model"], "rater": r["rater"], "score": r["score"],
             "± se": r["metrics"].get("overall_score:bootstrap_std"), "answers": r["answers"],
             "ungraded": r["ungraded"], "unscored": r["unscored"],
             "incomplete": ", ".join(f"{n} {label.lower()}" for label, n in sorted(r["incomplete"].items())) or "-"}
            for r in results]
    print_table(rows, ["model", "rater", "score", "± se", "answers", "ungraded", "unscored", "incomplete"])
    if any(r["incomplete"] for r in results):
        print("incomplete: answers cut off at the output cap or stopped by a safety filter are scored as they are; "
              "--exclude-truncated leaves them out")
    for r in results:
        for k, worst in r.get("worst_at_k", {}).items():
            value = "-" if worst["value"] is None else f"{worst['value']:.3f}"
            print(f"{r['model']} / {r['rater']}: worst-at-{k} {value} over {worst['prompts']} questions")
    return 0


def _ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers like 1,2,4, not {text!r}") from None
    if any(k < 1 for k in ks):
        raise argparse.ArgumentTypeError("each k must be at least 1")
    return ks
