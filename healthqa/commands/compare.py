"""compare: is the difference between two answer sources (models or runs) real, and how many questions tell?"""

from __future__ import annotations

from ..compare import BY_CHOICES, Comparison, CompareError, compare_all, questions_needed
from ..errors import CommandError
from .common import add_command, open_from, print_json, print_table


def register(sub) -> None:
    p = add_command(sub, "compare", cmd_compare,
                    "Paired comparison A − B on the questions both answered, scored by one rater source: Δ with "
                    "a bootstrap interval, a sign-flip permutation p-value, wins/ties/losses, and how many "
                    "questions a paired t-test needs to detect Δ.")
    p.add_argument("--a", metavar="SOURCE", help="a model name or a run id (or a unique prefix of one)")
    p.add_argument("--b", metavar="SOURCE", help="the source A is compared with")
    p.add_argument("--sources", metavar="A,B,C,...", type=_names,
                   help="instead of --a/--b: every pair of these sources, with Holm-adjusted p-values")
    p.add_argument("--rater", metavar="NAME", help="a rater's name, 'majority' (the clinicians' majority) or "
                   "'adjudicated' (default: the only rater who graded every source)")
    p.add_argument("--set", dest="set_name", metavar="NAME", help="only questions of this set")
    p.add_argument("--by", choices=BY_CHOICES, help="also Δ per theme, or per axis (each question's axis subscore)")
    p.add_argument("--sd", type=float, metavar="SD", help="plan with this sd of the paired differences "
                   "instead of the observed one (adds 'questions_needed_planned')")
    p.add_argument("--detect", type=float, metavar="DELTA", help="plan to detect this difference instead of the "
                   "observed one (adds 'questions_needed_planned')")
    p.add_argument("--json", action="store_true")


def cmd_compare(args) -> int:
    sources = _sources(args)
    with open_from(args) as ws:
        try:
            result = compare_all(ws, sources, args.rater, args.set_name, args.by)
        except CompareError as exc:
            raise CommandError(str(exc)) from None
    planned = args.sd is not None or args.detect is not None
    if args.json:
        pairs = [_with_plan(p, args) if planned else p.as_json() for p in result.pairs]
        print_json(pairs[0] if len(pairs) == 1 else {**result.as_json(), "pairs": pairs})
        return 0
    for k, pair in enumerate(result.pairs):
        if k:
            print()
        _print_pair(pair, several=len(result.pairs) > 1)
        if planned:
            plan = _plan(pair, args)
            print(f"planned: detecting {plan['delta']:.3f} with sd {plan['sd']:.3f} needs about "
                  f"{_count(plan['power_80'])} questions (80% power; {_count(plan['power_90'])} for 90%)")
    if len(result.pairs) > 1:
        print()
        print(f"Every pair (rater: {result.rater}); p (Holm) is adjusted over the {len(result.pairs)} pairs")
        print_table([{"A": p.a, "B": p.b, "n": p.n_questions, "Δ (A − B)": p.delta, "95% CI": _ci(p.delta_ci),
                      "p": p.p_value, "p (Holm)": p.p_holm} for p in result.pairs],
                    ["A", "B", "n", "Δ (A − B)", "95% CI", "p", "p (Holm)"])
    return 0


# -- helpers --------------------------------------------------------------------------------------

def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _sources(args) -> list[str]:
    if args.sources:
        if args.a or args.b:
            raise CommandError("give either --a and --b, or --sources A,B,...; not both")
        if len(args.sources) < 2:
            raise CommandError("--sources needs at least two sources, separated by commas")
        return args.sources
    if not args.a or not args.b:
        raise CommandError("compare needs --a SOURCE and --b SOURCE (a model name or a run id), "
                           "or --sources A,B,...")
    return [args.a, args.b]


def _plan(pair: Comparison, args) -> dict:
    delta = args.detect if args.detect is not None else pair.delta
    sd = args.sd if args.sd is not None else pair.sd_diff
    if sd is not None and sd < 0:
        raise CommandError("--sd must not be negative")
    return {"delta": abs(delta) if delta is not None else None, "sd": sd, **questions_needed(delta, sd)}


def _with_plan(pair: Comparison, args) -> dict:
    return {**pair.as_json(), "questions_needed_planned": _plan(pair, args)}


def _print_pair(pair: Comparison, *, several: bool) -> None:
    def label(text, source) -> str:
        return f"{text} (run of {source.model})" if source and source.kind == "run" else text

    print(f"A: {label(pair.a, pair.a_source)}   B: {label(pair.b, pair.b_source)}   rater: {pair.rater}")
    print(f"questions both have a score for: {pair.n_questions}   only A: {pair.n_only_a}   "
          f"only B: {pair.n_only_b} (left out)")
    p_label = "p (Holm)" if several else "p"
    rows = [_row("overall", pair.n_questions, pair.delta, pair.delta_ci, pair.p_holm if several else pair.p_value,
                 pair.wins, pair.ties, pair.losses, p_label)]
    rows += [_row(tag, e["n"], e["delta"], e["delta_ci"], None, e["wins"], e["ties"], e["losses"], p_label)
             for tag, e in pair.by.items()]
    print_table(rows, ["", "n", "Δ (A − B)", "95% CI", p_label, "wins", "ties", "losses"])
    line = pair.needs_line()
    if line:
        print(line)
    elif pair.delta == 0:
        print("no difference on these questions: nothing to detect")
    elif pair.sd_diff in (None, 0):
        print("the differences do not vary (or there are too few questions): no sample size to give")


def _row(tag, n, delta, ci, p, wins, ties, losses, p_label) -> dict:
    return {"": tag, "n": n, "Δ (A − B)": None if delta is None else f"{delta:+.3f}", "95% CI": _ci(ci),
            p_label: _p(p), "wins": wins, "ties": ties, "losses": losses}


def _ci(ci) -> str:
    return "-" if not ci or ci[0] is None else f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"


def _p(p) -> str:
    if p is None:
        return "-"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def _count(n) -> str:
    return "-" if n is None else f"{n:,}"
