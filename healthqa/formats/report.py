"""The researcher's report: scores, agreement and method notes as one HTML or PDF file.

The content is built once as a list of blocks (heading, paragraph, bullets,
table, chart); the HTML writer and the PDF typesetter (report_charts) render the
same blocks, so the two formats never drift apart.  The HTML is self-contained:
inline CSS, charts as inline SVG, no script and no URL, so it opens offline and
can be mailed to a colleague.  Every text from the workspace (criteria, rater
names, comments) is untrusted and escaped.

Numbers come from score_workspace (scoring/results.py) and agreement_report
(agreement/report.py): nothing is recomputed here.
"""

from __future__ import annotations

import datetime as _dt
import html
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..agreement import degenerate_note
from ..compare import ALPHA, N_BOOT, N_FLIPS, compare_all
from ..errors import CommandError
from ..review import agreement_overview, answer_scope
from ..runs import mode_study, mode_study_choices
from ..scoring import MAJORITY, N_BOOTSTRAP, SEED, score_workspace
from ..store import ADJUDICATED_RATER, Workspace, rater_id_or_error, set_id_or_error
from .output import output_path
from .report_charts import (BarChart, Estimate, ForestChart, HeatmapChart, ScatterChart, StandingChart, chart_svg,
                            write_pdf)

FORMATS = ("html", "pdf")
Z95 = 1.96
AGREEMENT_RESAMPLES = 2000
AGREEMENT_SEED = 0
MAX_CHART_SERIES = 6  # more bars than this per group are unreadable; the tables keep every series
_CHARTED = "Shown per model: the clinicians' majority and each model grader (all clinicians where there is " \
           "no majority); every rater is in the table."
TAG_COLUMNS = 6  # tags per table, so that a table fits the PDF page width
DASH = "—"
MODE_RESAMPLES = 2000  # the mode study's paired bootstrap


# -- blocks ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 1  # 0 title, 1 section, 2 subsection
    kind: ClassVar[str] = "heading"


@dataclass(frozen=True)
class Paragraph:
    text: str
    small: bool = False
    kind: ClassVar[str] = "paragraph"


@dataclass(frozen=True)
class Bullets:
    items: list[str]
    kind: ClassVar[str] = "bullets"


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[str]]  # formatted cells; "\n" breaks a line
    align: list[str]  # "l" or "r" per column
    widths: list[float]  # relative column widths
    caption: str = ""
    kind: ClassVar[str] = "table"


@dataclass(frozen=True)
class Chart:
    chart: object  # one of report_charts' charts
    caption: str = ""
    kind: ClassVar[str] = "chart"


# -- public API --------------------------------------------------------------------------------

def write_report(ws: Workspace, out: str | Path, fmt: str = "html", *, set_name: str | None = None,
                 model: str | None = None, rater: str | None = None, title: str | None = None) -> Path:
    """Write the report of the workspace (optionally one set, model, rater) to `out`; returns the path.

    The file appears whole or not at all (`output.output_path`).
    """
    if fmt not in FORMATS:
        raise CommandError(f"report format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    out = Path(out)
    title = title or "HealthQA report"
    blocks = report_blocks(ws, set_name=set_name, model=model, rater=rater, title=title)
    with output_path(out) as partial:
        if fmt == "html":
            partial.write_text(render_html(blocks, title), encoding="utf-8")
        else:
            write_pdf(blocks, partial, title=title)
    return out


def report_blocks(ws: Workspace, *, set_name: str | None = None, model: str | None = None,
                  rater: str | None = None, title: str = "HealthQA report") -> list:
    """The report's content, format-free."""
    _check_filters(ws, set_name, model, rater)
    scores = score_workspace(ws, model=model, rater=rater, set_name=set_name)
    overview = agreement_overview(ws, model=model, set_name=set_name, by=("axis", "theme"),
                                  n_boot=AGREEMENT_RESAMPLES, seed=AGREEMENT_SEED)

    blocks: list = [Heading(title, 0), Paragraph(_scope_line(ws, set_name, model, rater), small=True)]
    blocks += _summary_section(ws, set_name, model)
    blocks += _score_sections(scores)
    blocks += _comparison_sections(ws, scores, set_name)
    blocks += _mode_study_sections(ws, set_name, model, rater)
    blocks += _agreement_sections(overview)
    blocks += _flag_section(ws, set_name, model, rater, scores)
    blocks += _method_notes(overview["report"] if overview else None)
    return blocks


# -- sections ----------------------------------------------------------------------------------

def _check_filters(ws: Workspace, set_name, model, rater) -> None:
    if set_name:
        set_id_or_error(ws, set_name, CommandError)
    if model and ws.scalar("SELECT 1 FROM answers WHERE model = ? LIMIT 1", (model,)) is None:
        raise CommandError(f"no answers from a model named {model!r}")
    if rater and rater not in (MAJORITY, "majority"):
        rater_id_or_error(ws, rater, CommandError, also=["majority"])


def _scope_line(ws: Workspace, set_name, model, rater) -> str:
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    scope = [f"{label}: {value}" for label, value in (("set", set_name), ("model", model), ("rater", rater)) if value]
    return (f"Generated {stamp} by HealthQA from workspace {ws.path.name}. "
            f"Scope: {'; '.join(scope) if scope else 'the whole workspace'}.")


def _summary_section(ws: Workspace, set_name, model) -> list:
    scope, params = answer_scope(model, set_name)
    answers = ws.query_one(f"SELECT count(*) AS n, count(DISTINCT a.question_id) AS questions, "
                           f"count(DISTINCT a.model) AS models FROM answers a WHERE 1 = 1 {scope}", params)
    if set_name:
        questions = ws.scalar("SELECT count(*) FROM set_members m JOIN question_sets s ON s.id = m.set_id "
                              "WHERE s.name = ?", (set_name,))
    elif model:
        questions = answers["questions"]
    else:
        questions = ws.scalar("SELECT count(*) FROM questions")
    raters = ws.query(f"""SELECT r.kind, r.name FROM raters r WHERE r.id IN (
                              SELECT g.rater_id FROM grades g JOIN answers a ON a.id = g.answer_id WHERE 1 = 1 {scope})
                          ORDER BY r.kind, r.name""", params)
    verdicts = dict(ws.conn.execute(f"SELECT coalesce(g.verdict, 'none'), count(*) FROM grades g "
                                    f"JOIN answers a ON a.id = g.answer_id WHERE 1 = 1 {scope} GROUP BY 1",
                                    params).fetchall())
    clinicians = [r["name"] for r in raters if r["kind"] == "clinician"]
    graders = [r["name"] for r in raters if r["kind"] == "model"]
    rows = [
        ["Questions", f"{questions}", f"{answers['questions']} answered"],
        ["Answers", f"{answers['n']}", f"from {answers['models']} model(s)"],
        ["Clinician raters", f"{len(clinicians)}", ", ".join(clinicians) or DASH],
        ["Model graders", f"{len(graders)}", ", ".join(graders) or DASH],
        ["Grades", f"{sum(verdicts.values())}",
         f"met {verdicts.get('met', 0)}, not met {verdicts.get('not_met', 0)}, cannot judge "
         f"{verdicts.get('cannot_judge', 0)}, no verdict {verdicts.get('none', 0)}"],
    ]
    return [Heading("Workspace summary"),
            Table(["", "count", "details"], rows, ["l", "r", "l"], [1.3, 0.7, 4.5])]


def _score_sections(scores: list[dict]) -> list:
    blocks: list = [Heading("HealthBench scores")]
    if not scores:
        return blocks + [Paragraph("No grades in scope: nothing to score yet.")]
    blocks.append(Paragraph(
        f"Score per model and rater. The 95% interval is score ± {Z95} × bootstrap standard error "
        f"({N_BOOTSTRAP:,} resamples of the scored examples), clipped to [0, 1]."))
    rows = []
    for s in scores:
        m = s["metrics"]
        est = _estimate(m, "overall_score")
        rows.append([s["model"], s["rater"], s["rater_kind"], _num(est.value), _interval(est),
                     f"{int(m.get('overall_score:n_samples', 0))}", f"{s['unscored']}", f"{s['ungraded']}",
                     _num(s["mean_output_tokens"], 0)])
    blocks.append(Table(["Model", "Rater", "Kind", "Score", "95% interval", "Scored", "Unscored",
                         "Criteria without verdict", "Mean output tokens"], rows,
                        ["l", "l", "l", "r", "r", "r", "r", "r", "r"], [1.3, 1.5, 0.7, 0.6, 1.2, 0.65, 0.8, 0.8, 0.8]))
    scored = [s for s in scores if s["score"] is not None]
    blocks.append(Chart(BarChart([_series_label(s) for s in scored],
                                 [("score", [_estimate(s["metrics"], "overall_score") for s in scored])]),
                        "Overall score with 95% interval, per model and rater."))
    charted = _reference_series(scores)
    for prefix, name in (("axis", "axis"), ("theme", "theme")):
        blocks += _tag_section(scores, charted, prefix, name)
    blocks += _length_section(charted)
    return blocks


def _tag_section(scores: list[dict], charted: list[dict], prefix: str, name: str) -> list:
    tags = sorted({key.split(":")[1] for s in scores for key in s["metrics"]
                   if key.startswith(prefix + ":") and key.count(":") == 1})
    blocks: list = [Heading(f"Scores by {name}", 2)]
    if not tags:
        return blocks + [Paragraph(f"No {name} tags on the graded criteria.")]
    series = [(_series_label(s), [_estimate(s["metrics"], f"{prefix}:{t}") for t in tags]) for s in charted]
    blocks.append(Chart(BarChart([_tag_label(t) for t in tags], series),
                        f"Score by {name} with 95% intervals (score ± {Z95} × bootstrap SE). {_CHARTED}"))
    for start in range(0, len(tags), TAG_COLUMNS):
        chunk = tags[start:start + TAG_COLUMNS]
        rows = []
        for s in scores:
            cells = []
            for t in chunk:
                est = _estimate(s["metrics"], f"{prefix}:{t}")
                n = int(s["metrics"].get(f"{prefix}:{t}:n_samples", 0))
                cells.append(DASH if est.value is None else f"{_num(est.value)}\n{_interval(est)}\nn={n}")
            rows.append([_series_label(s)] + cells)
        blocks.append(Table(["Model · rater"] + [_tag_label(t) for t in chunk], rows,
                            ["l"] + ["r"] * len(chunk), [1.6] + [1.0] * len(chunk)))
    return blocks


def _length_section(charted: list[dict]) -> list:
    points = [(s["model"], s["rater"], s["mean_output_tokens"], _estimate(s["metrics"], "overall_score"))
              for s in charted if s["mean_output_tokens"] is not None]
    blocks: list = [Heading("Score and answer length", 2)]
    if not points:
        return blocks + [Paragraph("No output token counts recorded for these answers "
                                   "(imported answers often have none).")]
    return blocks + [Chart(ScatterChart(points),
                           "Score against the mean number of output tokens per answer, as the provider "
                           f"reported it; error bars are 95% intervals. {_CHARTED}")]


def _mode_study_sections(ws: Workspace, set_name, model, rater) -> list:
    """For each model config with runs in several reasoning modes on one set (in scope): what each
    mode buys — score, Δ against instant, tokens, latency, cost (healthqa.runs.study)."""
    studies = [c for c in mode_study_choices(ws) if len(c["modes"]) > 1
               and (set_name is None or c["set"] == set_name)
               and (model is None or model == c["model"] or model.startswith(f"{c['model']} ("))]
    if not studies:
        return []
    blocks: list = [Heading("Reasoning modes"), Paragraph(
        "One model's runs in its reasoning modes on the same questions: instant (no reasoning), thinking (the "
        "model config's reasoning setting) and contemplating (K drafts in parallel, then one answer composed from "
        f"them). Δ is the mean paired difference in score against the instant run, question by question (each "
        f"question's score the mean over its samples; questions only one run has scores for are left out); the "
        f"interval is a 95% paired bootstrap ({MODE_RESAMPLES:,} seeded resamples of the questions). Latency is "
        "per answer (contemplating: first draft's start to the synthesis's end); cost is the run's, from the "
        "model configs' prices.")]
    for choice in studies:
        study = mode_study(ws, model=choice["model"], set_name=choice["set"], rater=rater, n_resamples=MODE_RESAMPLES)
        rows = study["rows"]
        blocks.append(Heading(f"{study['model']} on {study['set']}", 2))
        blocks.append(Paragraph(f"Scores from {study['rater'] or 'nobody (no grades yet)'}."
                                + ("" if study["baseline_run_id"] else " No instant run: Δ needs one."), small=True))
        table = []
        for r in rows:
            ci = r["delta_ci"]
            table.append([_mode_label(r, rows), f"{r['graded']} / {r['answers']}", _num(r["score"]),
                          (f"{r['delta']:+.3f}" if r["delta"] is not None else
                           ("baseline" if r["run_id"] == study["baseline_run_id"] else DASH)),
                          f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else DASH,
                          DASH if r["n_paired"] is None else str(r["n_paired"]), _num(r["mean_output_tokens"], 0),
                          _seconds(r["latency_p50_ms"]), _seconds(r["latency_p95_ms"]),
                          DASH if r["cost"] is None else f"${r['cost']:.4f}",
                          DASH if r["cost_per_answer"] is None else f"${r['cost_per_answer'] * 1000:.2f}"])
        blocks.append(Table(["Mode", "Graded", "Score", "Δ vs instant", "95% interval", "Paired", "Output tokens",
                             "p50 latency", "p95 latency", "Run cost", "Per 1,000 answers"], table,
                            ["l"] + ["r"] * 10, [1.5, 0.7, 0.6, 0.8, 1.2, 0.6, 0.7, 0.7, 0.7, 0.8, 0.8]))
        priced = [r for r in rows if r["score"] is not None and r["cost_per_answer"] is not None]
        if priced:
            points = [(_mode_label(r, rows), study["rater"], r["cost_per_answer"] * 1000, Estimate(r["score"]))
                      for r in priced]
            blocks.append(Chart(ScatterChart(points, xlabel="cost per 1,000 answers ($)", ylabel="score"),
                                "Score against cost, one point per run: higher and further left is better."))
        else:
            points = [(_mode_label(r, rows), study["rater"], r["mean_output_tokens"], Estimate(r["score"]))
                      for r in rows if r["score"] is not None and r["mean_output_tokens"] is not None]
            if points:
                blocks.append(Chart(ScatterChart(points, ylabel="score"),
                                    "Score against mean output tokens (no prices in the model configs, so no cost)."))
    return blocks


def _mode_label(row: dict, rows: list[dict]) -> str:
    """The mode, with the run's last digits when one mode has several runs."""
    label = row["mode"]
    if row["mode"] == "contemplating":
        label += f" ×{row['drafts']}" + (f" via {row['aggregator']}" if row["aggregator"] else "")
    if sum(r["mode"] == row["mode"] for r in rows) > 1:
        label += f" (…{row['run_id'][-6:]})"
    return label


def _seconds(ms: float | None) -> str:
    return DASH if ms is None else f"{ms / 1000:.1f} s"


MAX_COMPARISON_RATERS = 3  # rater sources compared on; more would repeat the same story
MAX_BREAKDOWN_PAIRS = 3  # pairs that get a forest plot by theme and by axis


def _comparison_sections(ws: Workspace, scores: list[dict], set_name) -> list:
    """Every pair of models scored by the same rater source: Δ, its interval, p (Holm), a forest plot."""
    blocks: list = [Heading("Is the difference real? Paired comparisons")]
    by_rater: dict[str, list[str]] = {}
    for s in _reference_series(scores, limit=None):
        by_rater.setdefault(s["rater"], []).append(s["model"])
    compared = [(rater, models) for rater, models in by_rater.items() if len(models) >= 2][:MAX_COMPARISON_RATERS]
    if not compared:
        return blocks + [Paragraph("A comparison needs at least two models in scope scored by the same rater.")]
    blocks.append(Paragraph(
        "For two models A and B, on the questions both have a score for from the same rater source: Δ = mean "
        "over questions of A's score minus B's (a question's score is the mean over its answers), a 95% paired "
        f"bootstrap interval ({N_BOOT:,} resamples of questions), a two-sided paired sign-flip permutation "
        f"p-value, and p adjusted over all pairs of the table (Holm). “Questions needed” is how many questions "
        f"a paired t-test needs to detect the observed |Δ| with 80% power at α = {ALPHA}."))
    for rater, models in compared:
        result = compare_all(ws, models, rater, set_name, by=("theme", "axis"), require_overlap=False)
        blocks.append(Heading(f"Scored by {rater}", 2))
        rows = []
        for pair in result.pairs:
            needed = pair.questions_needed.get("power_80")
            rows.append([pair.a, pair.b, f"{pair.n_questions}\n(+{pair.n_only_a} / +{pair.n_only_b})",
                         _signed(pair.delta), _ci(pair.delta_ci), _p(pair.p_value), _p(pair.p_holm),
                         f"{pair.wins} / {pair.ties} / {pair.losses}", DASH if needed is None else f"{needed:,}"])
        blocks.append(Table(["A", "B", "Questions (+ only A / B)", "Δ (A − B)", "95% interval", "p", "p (Holm)",
                             "Wins / ties / losses", "Questions needed"], rows,
                            ["l", "l", "r", "r", "r", "r", "r", "r", "r"],
                            [1.1, 1.1, 0.85, 0.8, 1.3, 0.65, 0.7, 0.9, 0.95],
                            caption=f"Every pair of models, rater: {rater}"))
        blocks.append(Chart(ForestChart([(f"{p.a} − {p.b} (n={p.n_questions})",
                                          Estimate(p.delta, *(p.delta_ci or (None, None)))) for p in result.pairs]),
                            "Δ = A − B with its 95% paired bootstrap interval; filled squares: the interval "
                            "excludes 0. Right of the line, A scores higher."))
        for pair in result.pairs[:MAX_BREAKDOWN_PAIRS]:
            tags = list(pair.by.items())
            if tags:
                blocks.append(Chart(
                    ForestChart([(f"{_tag_label(tag)} (n={e['n']})",
                                  Estimate(e["delta"], *(e["delta_ci"] or (None, None)))) for tag, e in tags]),
                    f"{pair.a} − {pair.b} by theme (each question's score) and by axis (each question's axis "
                    f"subscore), with 95% intervals; n: questions in the row."))
        if len(result.pairs) > MAX_BREAKDOWN_PAIRS:
            blocks.append(Paragraph(f"Breakdowns by theme and axis are drawn for the first {MAX_BREAKDOWN_PAIRS} "
                                    "pairs; `healthqa compare --a A --b B --by theme` gives any other.", small=True))
    return blocks


def _agreement_sections(overview: dict | None) -> list:
    blocks: list = [Heading("Agreement between raters")]
    if overview is None:
        return blocks + [Paragraph("Agreement needs at least two raters with verdicts on the same items.")]
    report = overview["report"]
    least, mean, most = overview["raters_per_item"]
    blocks.append(Paragraph(
        f"{report['items']} items (answer × criterion) rated by {len(report['raters'])} raters: "
        f"{overview['ratings']} met / not-met ratings, {least}–{most} raters per item "
        f"(mean {mean:.1f}); {_num(overview['prevalence'])} of ratings are “met”. "
        f"“Cannot judge” is a missing rating. {ADJUDICATED_RATER!r} verdicts are left out."))
    blocks.append(_heatmap(report))
    overall = report["overall"]
    degenerate = overall["bootstrap"]["degenerate"]
    rows = [[label, _num(overall[key]), _ci(overall.get(f"{key}_ci")) + _note(overall, key),
             f"{degenerate.get(key, 0)}"] for key, label in _OVERALL_LABELS.items()]
    blocks.append(Table(["Statistic", "Value", "95% CI", "Undefined resamples"], rows, ["l", "r", "r", "r"],
                        [2.4, 0.8, 1.4, 1.2], caption="All raters together"))
    pair_rows = []
    for p in report["pairs"]:
        kappa = p["cohen_kappa"]
        se = p.get("cohen_kappa_se")
        kappa_ci = _ci([kappa - Z95 * se, kappa + Z95 * se]) if kappa is not None and se is not None else DASH
        pair_rows.append([p["raters"][0], p["raters"][1], f"{p['n']}", _num(p["percent_agreement"]),
                          f"{_num(kappa)}\n{kappa_ci}", _num(p["gwet_ac1"]), _num(p["macro_f1"])])
    blocks.append(Table(["Rater", "Rater", "Items both rated", "Percent agreement", "Cohen's κ (95% CI)",
                         "Gwet's AC1", "Macro-F1"], pair_rows, ["l", "l", "r", "r", "r", "r", "r"],
                        [1.5, 1.5, 0.8, 0.9, 1.2, 0.7, 0.7], caption="Pairs of raters (items both rated)"))
    for name, groups in overview["by"].items():
        if groups:
            blocks += [Heading(f"Agreement by {name}", 2), _group_table(groups)]
    blocks += _grader_section(report)
    return blocks


_OVERALL_LABELS = {
    "percent_agreement": "Percent agreement (unit mean)",
    "fleiss_kappa": "Fleiss' κ (Gwet's generalisation)",
    "krippendorff_alpha": "Krippendorff's α (nominal)",
    "gwet_ac1": "Gwet's AC1",
}


def _heatmap(report: dict) -> Chart:
    raters = report["raters"]
    index = {name: i for i, name in enumerate(raters)}
    n = len(raters)
    agreement = [[None] * n for _ in range(n)]
    kappa = [[None] * n for _ in range(n)]
    counts = [[0] * n for _ in range(n)]
    for p in report["pairs"]:
        i, j = (index[r] for r in p["raters"])
        for a, b in ((i, j), (j, i)):
            agreement[a][b], kappa[a][b], counts[a][b] = p["percent_agreement"], p["cohen_kappa"], p["n"]
    chart = HeatmapChart(raters, [("Percent agreement", agreement), ("Cohen's κ", kappa)], counts)
    return Chart(chart, "Each cell: the statistic for that pair of raters on the items both rated, and that "
                        "number of items (n). Darker is higher; κ below 0 is drawn as 0 but printed as is.")


def _group_table(groups: dict) -> Table:
    rows = []
    for label, block in groups.items():
        rows.append([_tag_label(label), f"{block['items']}"] +
                    [f"{_num(block[key])}\n{_ci(block.get(f'{key}_ci'))}{_note(block, key)}" for key in _OVERALL_LABELS])
    return Table(["Group", "Items", "Percent agreement", "Fleiss' κ", "Krippendorff's α", "Gwet's AC1"], rows,
                 ["l", "r", "r", "r", "r", "r"], [1.8, 0.6, 1.1, 1.1, 1.1, 1.1],
                 caption="Value and 95% CI (same resamples as the overall figures)")


def _grader_section(report: dict) -> list:
    blocks: list = [Heading("Model graders against clinicians", 2)]
    clinicians = [c for c in report["clinicians"] if c["macro_f1_leave_one_out"] is not None]
    if not report["model_graders"]:
        blocks.append(Paragraph("No model grader among the raters."))
    else:
        blocks.append(Chart(
            StandingChart([(c["rater"], c["macro_f1_leave_one_out"]) for c in clinicians],
                          [(g["rater"], g["macro_f1"], g["percentile_among_clinicians"])
                           for g in report["model_graders"] if g["macro_f1"] is not None]),
            "Grey dots: each clinician's macro-F1 against the other clinicians (leave-one-out). "
            "Diamonds: each model grader's macro-F1 against every clinician."))
        rows = [[g["rater"], _num(g["macro_f1"]), f"{g['n_pairs']}",
                 DASH if g["percentile_among_clinicians"] is None
                 else f"{g['percentile_among_clinicians']:.1f} (of {len(clinicians)})"]
                for g in report["model_graders"]]
        blocks.append(Table(["Model grader", "Macro-F1", "Pairs", "Percentile among clinicians"], rows,
                            ["l", "r", "r", "r"], [2.6, 1.0, 1.0, 1.8]))
    if report["clinicians"]:
        rows = [[c["rater"], _num(c["macro_f1_leave_one_out"]), f"{c['n']}"] for c in report["clinicians"]]
        blocks.append(Table(["Clinician", "Macro-F1 vs other clinicians", "Pairs"], rows, ["l", "r", "r"],
                            [2.6, 1.8, 1.0]))
    return blocks


def _flag_section(ws: Workspace, set_name, model, rater, scores: list[dict]) -> list:
    scope, params = answer_scope(model, set_name)
    flags = ws.query(
        f"""SELECT q.prompt_id, c.position, c.text, c.points, f.reason, f.comment, r.name AS rater, f.created_at
            FROM criterion_flags f JOIN criteria c ON c.id = f.criterion_id JOIN questions q ON q.id = c.question_id
            JOIN raters r ON r.id = f.rater_id
            WHERE {'q.id IN (SELECT a.question_id FROM answers a WHERE 1 = 1 ' + scope + ')' if scope else '1 = 1'}
            ORDER BY q.prompt_id, c.position, r.name""",
        params,
    )
    blocks: list = [Heading("Flagged criteria")]
    if not flags:
        return blocks + [Paragraph("No rubric criterion has been flagged.")]
    blocks.append(Paragraph(f"{len(flags)} flag(s) by clinicians on rubric items they judged wrong (sign, "
                            "content, relevance). The scores above count flagged criteria as written; the "
                            "table after the list shows each score with them left out."))
    rows = [[f["prompt_id"], f"{f['position'] + 1}", f"[{f['points']:+d}] {f['text']}",
             f["reason"].replace("_", " "), f["comment"] or "", f["rater"], f["created_at"][:10]] for f in flags]
    blocks.append(Table(["Prompt", "#", "Criterion", "Reason", "Comment", "By", "Date"], rows,
                        ["l", "r", "l", "l", "l", "l", "l"], [1.1, 0.3, 2.6, 0.9, 1.6, 0.9, 0.9]))
    without = {(s["model"], s["rater"]): s for s in
               score_workspace(ws, model=model, rater=rater, set_name=set_name, without_flagged=True)}
    rows = []
    for s in scores:
        other = without.get((s["model"], s["rater"]))
        rows.append([s["model"], s["rater"], _num(s["score"]), _num(other["score"] if other else None),
                     f"{other['unscored'] if other else '—'}"])
    blocks.append(Table(["Model", "Rater", "Score as written", "Without flagged criteria", "Unscored without"],
                        rows, ["l", "l", "r", "r", "r"], [1.4, 1.6, 1.0, 1.2, 1.0],
                        "Scores with the flagged criteria left out of numerator and denominator."))
    return blocks


def _method_notes(agreement: dict | None) -> list:
    definition = agreement["overall"]["percent_agreement_definition"] if agreement else \
        "unit mean (Gwet pa): mean over items with >= 2 ratings of the share of agreeing rater pairs on the item"
    return [Heading("Method notes"), Bullets([
        "Score (HealthBench): per answer, the points of the criteria judged met (negative criteria included) "
        "divided by the sum of positive points; not clipped per answer. A score is the mean over answers, "
        "clipped once to [0, 1]. Axis scores recompute this on the criteria carrying the axis tag; theme "
        "scores take the answer's overall score.",
        "No verdict: a clinician's “cannot judge”, or a grader reply still unparseable after its retries, leaves "
        "numerator and denominator and is counted (criteria without verdict). An answer left with no positive-point "
        "criterion gets no score and is counted as unscored; it takes no part in means or n.",
        f"Intervals on scores: score ± {Z95} × bootstrap standard error, the population standard deviation of "
        f"the clipped means of {N_BOOTSTRAP:,} resamples of the scored answers (seed {SEED}, one stream per "
        f"metric); a normal approximation, clipped to [0, 1].",
        f"“{MAJORITY}” is the clinicians' majority verdict per criterion; a tie is no verdict.",
        f"Agreement items are (answer, criterion) pairs; only met / not met count, “cannot judge” is missing. "
        f"Percent agreement is the {definition}. Fleiss' κ is Gwet's generalisation for missing ratings, "
        f"Krippendorff's α is nominal. Their 95% intervals are percentile intervals from {AGREEMENT_RESAMPLES:,} "
        f"bootstrap resamples of whole answers (seed {AGREEMENT_SEED}); resamples where a statistic is undefined "
        f"are counted, not dropped silently.",
        f"Paired comparisons: Δ is a difference of unclipped means over the questions both models have a score "
        f"for (questions only one answered are counted and left out). The interval is the 2.5th–97.5th "
        f"percentile of Δ over {N_BOOT:,} resamples of whole questions; the p-value flips the sign of each "
        f"question's difference — all 2^n ways for up to 20 questions (exact), else {N_FLIPS:,} seeded random "
        f"flips with p = (b + 1) / (m + 1); Holm's step-down adjustment is over the pairs of one table. "
        f"Questions needed: the exact noncentral-t sample size of a two-sided paired t-test (as statsmodels' "
        f"TTestPower) at the observed sd of the differences.",
        "Cohen's κ is computed per pair of raters on the items both rated; its interval is κ ± 1.96 × the "
        "Fleiss-Cohen-Everitt large-sample standard error.",
        "Kappa paradox: when most items are “met” (high prevalence), κ and α can be low or negative although "
        "raw agreement is high, because chance agreement is then high too. Gwet's AC1 is shown beside them for "
        "that reason; read every coefficient together with percent agreement and prevalence.",
        "Macro-F1 follows the HealthBench meta-evaluation: every (model label, clinician label) pair on the same "
        "item is one comparison, with no majority vote; F1 of “met” and of “not met” are averaged. Pairs are "
        "pooled over all items (not averaged per criterion). Each clinician is scored the same way against the "
        "other clinicians (leave-one-out). A grader's percentile among clinicians is (clinicians below + half "
        "the clinicians tied) / clinicians × 100.",
        f"Final verdicts recorded by adjudication are grades of the rater {ADJUDICATED_RATER!r}: they are scored "
        f"like any rater but left out of agreement, since they derive from the other raters' verdicts. "
        "The rater filter applies to scores; agreement always compares all raters in scope.",
    ])]


# -- formatting helpers ------------------------------------------------------------------------

def _estimate(metrics: dict, name: str) -> Estimate:
    value = metrics.get(name)
    if value is None:
        return Estimate(None)
    std = metrics.get(f"{name}:bootstrap_std")
    if std is None:
        return Estimate(value)
    return Estimate(value, max(0.0, value - Z95 * std), min(1.0, value + Z95 * std))


def _reference_series(scores: list[dict], limit: int | None = MAX_CHART_SERIES) -> list[dict]:
    """What the per-tag and length charts compare: per model, the clinicians' majority and each model
    grader; a model without a majority shows its clinicians.  The tables keep every series."""
    chosen = []
    for model in dict.fromkeys(s["model"] for s in scores):
        rows = [s for s in scores if s["model"] == model and s["score"] is not None]
        reference = [s for s in rows if s["rater"] == MAJORITY or s["rater_kind"] == "model"]
        chosen += reference if any(s["rater"] == MAJORITY for s in reference) else rows
    return chosen[:limit]


def _series_label(s: dict) -> str:
    return f"{s['model']} · {s['rater']}"


def _tag_label(tag: str) -> str:
    return tag.replace("_", " ")


def _num(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return DASH
    return f"{value:,.{digits}f}" if digits == 0 else f"{value:.{digits}f}"


def _signed(value) -> str:
    return DASH if value is None else f"{value:+.3f}"


def _p(value) -> str:
    if value is None:
        return DASH
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def _interval(est: Estimate) -> str:
    return DASH if est.low is None else f"[{est.low:.3f}, {est.high:.3f}]"


def _note(block: dict, key: str) -> str:
    """The warning shown next to an interval built from too few defined resamples."""
    note = degenerate_note(block, key)
    return f"\n({note})" if note else ""


def _ci(ci) -> str:
    return DASH if not ci or ci[0] is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


# -- HTML --------------------------------------------------------------------------------------

_CSS = """
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #1a1a1a; background: #fff; margin: 0; }
main { max-width: 62rem; margin: 0 auto; padding: 2rem 1.5rem 4rem; }
h1 { font-size: 1.9rem; margin: 0 0 .3rem; }
h2 { font-size: 1.35rem; margin: 2.4rem 0 .6rem; padding-bottom: .25rem; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.08rem; margin: 1.8rem 0 .5rem; }
p.small { color: #555; font-size: .88rem; margin-top: 0; }
nav { font-size: .9rem; margin: .6rem 0 0; padding: .5rem 0; border-top: 1px solid #eee; }
nav a { color: #0b5394; margin-right: 1rem; text-decoration: none; white-space: nowrap; }
table { border-collapse: collapse; margin: .6rem 0 1.2rem; font-size: .86rem; width: 100%; }
caption { text-align: left; font-weight: 600; padding: .2rem 0 .4rem; }
th, td { border-bottom: 1px solid #e0e0e0; padding: .35rem .55rem; vertical-align: top; text-align: left; }
th { border-bottom: 2px solid #999; font-weight: 600; background: #f6f6f6; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td { overflow-wrap: break-word; }
tbody tr:nth-child(even) td { background: #fbfbfb; }
figure { margin: 1rem 0 1.6rem; }
figure svg { width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: .85rem; margin-top: .3rem; }
ul.notes li { margin-bottom: .45rem; }
@media print { body { font-size: 11pt; } main { max-width: none; padding: 0; }
               h2 { break-after: avoid; } figure, tr { break-inside: avoid; } nav { display: none; } }
"""


def render_html(blocks: list, title: str) -> str:
    """One self-contained HTML page; all text escaped."""
    esc = html.escape
    body: list[str] = []
    sections = [b for b in blocks if b.kind == "heading" and b.level == 1]
    anchors = {id(b): f"s{k}" for k, b in enumerate(sections, start=1)}
    chart_number = 0
    for block in blocks:
        if block.kind == "heading":
            tag = f"h{block.level + 1}"
            anchor = f' id="{anchors[id(block)]}"' if id(block) in anchors else ""
            if anchor == ' id="s1"':
                body.append("<!--nav-->")  # the contents, just before the first section
            body.append(f"<{tag}{anchor}>{esc(block.text)}</{tag}>")
        elif block.kind == "paragraph":
            body.append(f'<p{" class=small" if block.small else ""}>{esc(block.text)}</p>')
        elif block.kind == "bullets":
            body.append('<ul class="notes">' + "".join(f"<li>{esc(i)}</li>" for i in block.items) + "</ul>")
        elif block.kind == "table":
            body.append(_html_table(block))
        elif block.kind == "chart":
            chart_number += 1
            body.append(f'<figure role="img" aria-label="{esc(block.caption)}">'
                        f"{chart_svg(block.chart, salt=f'chart{chart_number}')}"
                        f"<figcaption>{esc(block.caption)}</figcaption></figure>")
    nav = "<nav>" + "".join(f'<a href="#{anchors[id(b)]}">{esc(b.text)}</a>' for b in sections) + "</nav>"
    page = "\n".join(body).replace("<!--nav-->", nav, 1)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n{page}\n"
            f"</main>\n</body>\n</html>\n")


def _html_table(table: Table) -> str:
    def cell(tag: str, text: str, align: str) -> str:
        content = "<br>".join(html.escape(line) for line in text.split("\n"))
        return f'<{tag}{" class=r" if align == "r" else ""}>{content}</{tag}>'

    caption = f"<caption>{html.escape(table.caption)}</caption>" if table.caption else ""
    head = "".join(cell("th", c, a) for c, a in zip(table.columns, table.align))
    rows = "".join("<tr>" + "".join(cell("td", c, a) for c, a in zip(row, table.align)) + "</tr>"
                   for row in table.rows)
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
