"""agreement: how far clinicians agree with each other and with model graders."""

from __future__ import annotations

from ..agreement import agreement_report, degenerate_note
from ..errors import CommandError
from ..review import load_rating_table
from .common import add_command, open_from, print_json, print_table


def register(sub) -> None:
    p = add_command(sub, "agreement", cmd_agreement,
                    "Agreement between raters: percent agreement, kappas, alpha, AC1, HealthBench macro-F1.")
    p.add_argument("--raters", metavar="A,B,...", help="raters to compare (default: all)")
    p.add_argument("--model", metavar="M", help="only answers of this model")
    p.add_argument("--set", dest="set_name", metavar="NAME")
    p.add_argument("--run", dest="run_id", metavar="RUN_ID")
    p.add_argument("--by", choices=["criterion", "axis", "theme"], help="also break the statistics down")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-pairs", type=int, default=50, metavar="N",
                   help="clinicians with fewer (label, other clinician's label) pairs are left out of a model "
                        "grader's percentile among clinicians (default 50, as HealthBench's meta-evaluation)")
    p.add_argument("--json", action="store_true")


def cmd_agreement(args) -> int:
    raters = [r.strip() for r in args.raters.split(",") if r.strip()] if args.raters else None
    with open_from(args) as ws:
        table = load_rating_table(ws, raters=raters, model=args.model, set_name=args.set_name, run_id=args.run_id)
    if args.min_pairs < 0:
        raise CommandError("--min-pairs must be 0 or more")
    report = agreement_report(table, by=args.by, n_boot=args.resamples, seed=args.seed, min_clinician_n=args.min_pairs)
    if args.json:
        print_json(report)
        return 0
    overall = report["overall"]
    print(f"{report['items']} items (answer x criterion), raters: {', '.join(report['raters'])}")
    print(f"percent agreement is {overall.get('percent_agreement_definition', 'pairwise, averaged over items')}\n")
    print_table([{"statistic": name, "value": overall.get(name),
                  "95% CI": _interval(overall.get(f"{name}_ci")), "note": degenerate_note(overall, name) or ""}
                 for name in ("percent_agreement", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1")],
                ["statistic", "value", "95% CI", "note"])
    if "by" in report:
        print(f"\nby {args.by}:")
        print_table([_breakdown_row(args.by, label, block) for label, block in report["by"].items()],
                    [args.by, "items", "percent_agreement", "fleiss_kappa", "kappa 95% CI", "gwet_ac1", "AC1 95% CI",
                     "note"])
    if report["pairs"]:
        print()
        print_table([{"pair": " / ".join(p["raters"]), **p} for p in report["pairs"]],
                    ["pair", "n", "percent_agreement", "cohen_kappa", "gwet_ac1", "macro_f1"])
    if report["model_graders"]:
        print()
        print_table([{**g, "95% CI": _interval(g.get("macro_f1_ci"))} for g in report["model_graders"]],
                    ["rater", "macro_f1", "95% CI", "n_pairs", "percentile_among_clinicians"])
        print(f"percentile among the clinicians with at least {args.min_pairs} pairs:")
        print_table([{**c, "in_percentile": "yes" if c["in_percentile"] else "no"} for c in report["clinicians"]],
                    ["rater", "macro_f1_leave_one_out", "n", "in_percentile"])
    return 0


LABEL_CHARS = 60  # a criterion runs to thousands of characters: the table shows its start (--json has it whole)


def _breakdown_row(by: str, label: str, block: dict) -> dict:
    short = " ".join(label.split())
    notes = [f"{name}: {note}" for name in ("fleiss_kappa", "gwet_ac1") if (note := degenerate_note(block, name))]
    return {by: short if len(short) <= LABEL_CHARS else short[:LABEL_CHARS - 1] + "…", "items": block["items"],
            "percent_agreement": block["percent_agreement"], "fleiss_kappa": block["fleiss_kappa"],
            "kappa 95% CI": _interval(block.get("fleiss_kappa_ci")), "gwet_ac1": block["gwet_ac1"],
            "AC1 95% CI": _interval(block.get("gwet_ac1_ci")), "note": "; ".join(notes)}


def _interval(ci) -> str | None:
    if not ci or ci[0] is None:
        return None
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]"
