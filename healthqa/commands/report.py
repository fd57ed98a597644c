"""report: the researcher's HTML / PDF report; disagreements between raters and their adjudication."""

from __future__ import annotations

from ..domain import Verdict
from ..review import adjudicate, disagreements
from .common import add_command, open_from, output_path, print_json, print_table


def register(sub) -> None:
    p = add_command(sub, "report", cmd_report, "Write the researcher's report (HTML or PDF): scores with "
                    "intervals, per-axis and per-theme charts, agreement, flagged criteria, method notes.")
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--format", choices=["html", "pdf"], help="default: pdf for a .pdf file name, else html")
    p.add_argument("--set", dest="set_name", metavar="NAME", help="only questions of this set")
    p.add_argument("--model", metavar="M", help="only answers of this model")
    p.add_argument("--rater", metavar="R", help="score only this rater ('majority': the clinicians' majority)")
    p.add_argument("--title", help="default: HealthQA report")

    d = add_command(sub, "disagreements", cmd_disagreements,
                    "Answer x criterion items where raters' met / not-met verdicts differ, for adjudication.")
    d.add_argument("--raters", metavar="A,B,...", help="raters to compare (default: all but 'Adjudicated')")
    d.add_argument("--model", metavar="M")
    d.add_argument("--set", dest="set_name", metavar="NAME")
    d.add_argument("--json", action="store_true", help="with every rater's verdict and comment")

    a = add_command(sub, "adjudicate", cmd_adjudicate,
                    "Record the final verdict on one answer x criterion (a grade of the rater 'Adjudicated').")
    a.add_argument("answer_id")
    a.add_argument("criterion_id")
    a.add_argument("--by", required=True, metavar="NAME", help="who adjudicates")
    a.add_argument("--verdict", required=True, choices=[v.value for v in Verdict])
    a.add_argument("--note", help="why")


def cmd_report(args) -> int:
    from ..formats.report import write_report  # matplotlib loads only for this command

    out = output_path(args.out)
    fmt = args.format or ("pdf" if out.suffix.lower() == ".pdf" else "html")
    with open_from(args) as ws:
        path = write_report(ws, out, fmt, set_name=args.set_name, model=args.model, rater=args.rater,
                            title=args.title)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB, {fmt})")
    return 0


def cmd_disagreements(args) -> int:
    raters = [r.strip() for r in args.raters.split(",") if r.strip()] if args.raters else None
    with open_from(args) as ws:
        items = disagreements(ws, raters, args.model, set_name=args.set_name)
    if args.json:
        print_json(items)
        return 0
    print(f"{len(items)} items where raters disagree")
    if items:
        print_table([{
            "prompt": i["prompt_id"], "model": i["model"], "points": i["points"],
            "criterion": i["criterion"] if len(i["criterion"]) <= 50 else i["criterion"][:49] + "…",
            "met": i["met"], "not met": i["not_met"],
            "adjudicated": i["adjudicated"]["verdict"] if i["adjudicated"] else None,
            "answer_id": i["answer_id"], "criterion_id": i["criterion_id"],
        } for i in items], ["prompt", "model", "points", "criterion", "met", "not met", "adjudicated",
                            "answer_id", "criterion_id"])
    return 0


def cmd_adjudicate(args) -> int:
    with open_from(args) as ws:
        decision = adjudicate(ws, args.answer_id, args.criterion_id, args.by, args.verdict, args.note)
    state = "recorded" if decision["changed"] else "unchanged (same verdict and note)"
    print(f"final verdict {decision['verdict']} by {decision['by']}: {state}")
    return 0
