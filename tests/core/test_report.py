"""The researcher's report, HTML and PDF, from a real workspace file with known grades."""

from __future__ import annotations

import json
import re
from html import escape as html_escape
from html.parser import HTMLParser

import numpy as np
import pytest

from healthqa import store
from healthqa.store import ADJUDICATED_RATER
from healthqa.review import adjudicate
from healthqa.agreement import agreement_report
from healthqa.cli import COMMAND_MODULES
from healthqa.domain import Answer, Question, Usage, new_id
from healthqa.errors import CommandError
from healthqa.formats.report import write_report
from healthqa.review import load_rating_table
from healthqa.scoring import score_workspace
from tests.core.test_cli import healthqa

AXES = ["accuracy", "completeness", "communication_quality", "context_awareness", "instruction_following"]
THEMES = ["emergency_referrals", "context_seeking", "hedging", "communication"]
CLINICIANS = ["Dr Ada Byron", "Dr Ben Carter", "Dr Chen Li"]
GRADER = "gpt-4.1 grader"
HOSTILE_RATER = "Dr <img src=x onerror=alert(1)> $x^2$"
HOSTILE_CRITERION = '<script>alert("criterion")</script> Says to "rest" & <b>ice</b> the ankle.'


def review_workspace(path, *, questions: int = 12, seed: int = 7, hostile: bool = True):
    """A clinical review as it looks after grading: 2 models answer `questions` invented questions;
    3 clinicians (one grading only half the answers) and a model grader judge every criterion around a
    hidden truth; a few "cannot judge"; one flagged criterion.  Deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    with store.Workspace(path) as ws:
        set_id = store.ensure_set(ws, "Demo review")
        clinicians = [store.ensure_rater(ws, name) for name in CLINICIANS]
        grader = store.ensure_rater(ws, GRADER, "model")
        for q in range(questions):
            rubric = []
            for k in range(4 + q % 2):
                text = HOSTILE_CRITERION if (hostile and q == 0 and k == 0) else \
                    f"Criterion {k + 1} of question {q + 1}: mentions point {chr(65 + k)}."
                points = -5 if k == 3 else int(rng.integers(2, 9))
                rubric.append({"criterion": text, "points": points,
                               "tags": [f"axis:{AXES[(q + k) % len(AXES)]}", "level:example"]})
            question = Question.model_validate({
                "prompt_id": f"demo-{q:03d}", "prompt": [{"role": "user", "content": f"Invented question {q + 1}?"}],
                "rubrics": rubric, "example_tags": [f"theme:{THEMES[q % len(THEMES)]}"]})
            qid, _ = store.upsert_question(ws, question, set_id)
            criteria = store.criteria_rows(ws, qid)
            for m, (model, met_rate, tokens) in enumerate((("model-a", 0.72, 420), ("model-b", 0.5, 260))):
                usage = Usage(output_tokens=int(tokens + rng.integers(-80, 80)))
                aid, _ = store.add_answer(ws, qid, Answer(text=f"Answer {q + 1} by {model}.", model=model, usage=usage))
                for c in criteria:
                    truth = rng.random() < (met_rate if c["points"] > 0 else 0.2)
                    for r, rater_id in enumerate(clinicians):
                        if r == 2 and q % 2:
                            continue  # Dr Chen graded half of the answers
                        verdict = "cannot_judge" if rng.random() < 0.03 else \
                            ("met" if (truth if rng.random() < 0.86 else not truth) else "not_met")
                        store.set_grade(ws, aid, c["id"], rater_id, verdict, f"note by rater {r} on {q}/{m}")
                    judged = truth if rng.random() < 0.83 else not truth
                    store.set_grade(ws, aid, c["id"], grader, "met" if judged else "not_met", "grader says so")
        if hostile:  # a name that is markup, and mathtext to matplotlib, grading the first answer
            rater_id = store.ensure_rater(ws, HOSTILE_RATER)
            first = store.answer_rows(ws)[0]
            for c in store.criteria_rows(ws, first["question_id"]):
                store.set_grade(ws, first["id"], c["id"], rater_id, "met")
        flagged = store.criteria_rows(ws, store.question_id_by_prompt_id(ws, "demo-000"))[0]
        with ws.transaction({"criterion_flags"}) as conn:
            conn.execute("INSERT INTO criterion_flags (id, criterion_id, rater_id, reason, comment, created_at) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (new_id(), flagged["id"], clinicians[0], "wrong_sign",
                          "Icing is fine <i>advice</i>; should be positive.", store.now()))
    return path


class _Tables(HTMLParser):
    """Every <table> of a page as rows of cell texts (<br> as a newline), and every tag's
    attribute that can load or link something."""

    def __init__(self, page: str):
        super().__init__()
        self.tables: list[dict] = []
        self.links: list[tuple[str, str, str]] = []
        self.tags: set[str] = set()
        self._cell: list[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.links += [(tag, name, value) for name, value in attrs
                       if name in ("src", "href", "xlink:href", "action", "data", "srcset", "poster")]
        if tag == "table":
            self.tables.append({"caption": "", "rows": []})
        elif tag == "tr":
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th", "caption"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1]["rows"][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "caption":
            self.tables[-1]["caption"] = "".join(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def find(self, first_header: str, caption: str = "") -> list[list[str]]:
        for table in self.tables:
            if table["rows"][0][0] == first_header and caption in table["caption"]:
                return table["rows"]
        raise AssertionError(f"no table starting with {first_header!r}")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo workspace and its HTML report, built once for the read-only tests."""
    path = review_workspace(tmp_path_factory.mktemp("report") / "review.healthqa")
    with store.Workspace(path) as ws:
        out = write_report(ws, path.with_suffix(".html"), title="Ankle review <2025>")
    return path, out.read_text(encoding="utf-8")


def test_scores_in_the_report_are_score_workspace_figures(demo):
    path, page = demo
    rows = _Tables(page).find("Model")
    assert rows[0] == ["Model", "Rater", "Kind", "Score", "95% interval", "Scored", "Unscored",
                       "Criteria without verdict", "Mean output tokens"]
    with store.Workspace(path) as ws:
        scores = score_workspace(ws)
    assert len(rows) - 1 == len(scores) == 11  # 2 models x (4 clinicians + grader) + 2 majorities - 1
    by_key = {(r[0], r[1]): r for r in rows[1:]}
    for s in scores:
        row = by_key[s["model"], s["rater"]]
        std = s["metrics"]["overall_score:bootstrap_std"]
        low, high = max(0, s["score"] - 1.96 * std), min(1, s["score"] + 1.96 * std)
        assert row[2:] == [s["rater_kind"], f"{s['score']:.3f}", f"[{low:.3f}, {high:.3f}]",
                           str(s["metrics"]["overall_score:n_samples"]), str(s["unscored"]), str(s["ungraded"]),
                           f"{s['mean_output_tokens']:,.0f}"]
    # per-axis table: value, interval and n of one known cell
    axis = _Tables(page).find("Model · rater")
    assert axis[0][1:] == ["accuracy", "communication quality", "completeness", "context awareness",
                           "instruction following"]
    majority = next(s for s in scores if s["model"] == "model-a" and s["rater"] == "clinicians (majority)")
    cell = next(r for r in axis if r[0] == "model-a · clinicians (majority)")[1]
    m = majority["metrics"]
    low = max(0, m["axis:accuracy"] - 1.96 * m["axis:accuracy:bootstrap_std"])
    high = min(1, m["axis:accuracy"] + 1.96 * m["axis:accuracy:bootstrap_std"])
    assert cell == f"{m['axis:accuracy']:.3f}\n[{low:.3f}, {high:.3f}]\nn={m['axis:accuracy:n_samples']}"
    assert "score ± 1.96 × bootstrap standard error" in page


def test_agreement_in_the_report_is_agreement_report_figures(demo):
    path, page = demo
    tables = _Tables(page)
    with store.Workspace(path) as ws:
        table = load_rating_table(ws)
    report = agreement_report(table, by="axis", n_boot=2000, seed=0)
    overall = report["overall"]
    rows = {r[0]: r[1:] for r in tables.find("Statistic", "All raters")[1:]}
    for key, label in (("percent_agreement", "Percent agreement (unit mean)"),
                       ("krippendorff_alpha", "Krippendorff's α (nominal)"), ("gwet_ac1", "Gwet's AC1")):
        lo, hi = overall[f"{key}_ci"]
        assert rows[label][:2] == [f"{overall[key]:.3f}", f"[{lo:.3f}, {hi:.3f}]"]
    pairs = {(r[0], r[1]): r for r in tables.find("Rater", "Pairs")[1:]}
    assert len(pairs) == len(report["pairs"]) == 10  # 5 raters
    for p in report["pairs"]:
        row = pairs[tuple(p["raters"])]
        assert row[2:4] == [str(p["n"]), f"{p['percent_agreement']:.3f}"]
        if p["cohen_kappa"] is not None:
            assert row[4].startswith(f"{p['cohen_kappa']:.3f}\n[")
    (grader,) = report["model_graders"]
    row = tables.find("Model grader")[1]
    assert row == [GRADER, f"{grader['macro_f1']:.3f}", str(grader["n_pairs"]),
                   f"{grader['percentile_among_clinicians']:.1f} (of 3)"]
    by_axis = {r[0]: r for r in tables.find("Group")[1:]}
    accuracy = report["by"]["accuracy"]
    lo, hi = accuracy["gwet_ac1_ci"]
    assert by_axis["accuracy"][1] == str(accuracy["items"])
    assert by_axis["accuracy"][5] == f"{accuracy['gwet_ac1']:.3f}\n[{lo:.3f}, {hi:.3f}]"
    # the heatmap prints every pair's value and n in its cells, readable without colour
    heatmap = re.search(r"<figure[^>]*aria-label=\"Each cell.*?</figure>", page, re.S).group(0)
    cells = re.findall(r"<text[^>]*>([^<]*)</text>", heatmap)
    for p in report["pairs"]:
        if p["n"] and p["cohen_kappa"] is not None:
            assert f"{p['cohen_kappa']:.2f}" in cells and f"n={p['n']}" in cells


def test_comparison_in_the_report_is_compare_all_figures(demo):
    from healthqa.compare import compare_all

    path, page = demo
    tables = _Tables(page)
    with store.Workspace(path) as ws:
        majority = compare_all(ws, ["model-a", "model-b"], "majority", by=("theme", "axis"), require_overlap=False)
        grader = compare_all(ws, ["model-a", "model-b"], GRADER, by=("theme", "axis"), require_overlap=False)
    for result, rater in ((majority, "clinicians (majority)"), (grader, GRADER)):
        rows = tables.find("A", f"rater: {rater}")
        assert rows[0] == ["A", "B", "Questions (+ only A / B)", "Δ (A − B)", "95% interval", "p", "p (Holm)",
                           "Wins / ties / losses", "Questions needed"]
        (pair,) = result.pairs
        lo, hi = pair.delta_ci
        needed = pair.questions_needed["power_80"]
        p = "< 0.0001" if pair.p_value < 1e-4 else f"{pair.p_value:.4f}"
        assert rows[1] == ["model-a", "model-b", f"{pair.n_questions}\n(+0 / +0)", f"{pair.delta:+.3f}",
                           f"[{lo:.3f}, {hi:.3f}]", p, p, f"{pair.wins} / {pair.ties} / {pair.losses}",
                           "—" if needed is None else f"{needed:,}"]
    assert grader.pairs[0].delta > 0  # model-a meets more criteria (0.72 against 0.5 of the hidden truth)
    # forest plots: every pair, then per theme and axis, with each row's value and interval printed
    forest = re.search(r"<figure[^>]*aria-label=\"Δ = A − B with its 95%.*?</figure>", page, re.S).group(0)
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", forest)
    assert f"model-a − model-b (n={majority.pairs[0].n_questions})" in texts
    assert f"{majority.pairs[0].delta:+.3f}  [{majority.pairs[0].delta_ci[0]:+.3f}, " \
           f"{majority.pairs[0].delta_ci[1]:+.3f}]" in texts
    breakdown = re.search(r"<figure[^>]*aria-label=\"model-a − model-b by theme.*?</figure>", page, re.S).group(0)
    labels = re.findall(r"<text[^>]*>([^<]*)</text>", breakdown)
    by = majority.pairs[0].by  # the clinicians' majority comes first
    assert {f"theme:hedging (n={by['theme:hedging']['n']})", f"axis:accuracy (n={by['axis:accuracy']['n']})"} \
        <= set(labels)
    assert "exact noncentral-t sample size" in page


def test_untrusted_text_is_escaped_and_nothing_is_loaded(demo):
    _, page = demo
    assert "<script" not in page.lower() and "<img" not in page.lower() and "<i>" not in page
    assert html_escape(HOSTILE_CRITERION) in page  # the flagged criterion, escaped, in the flags table
    flags = _Tables(page).find("Prompt")
    assert flags[1][:4] == ["demo-000", "1", f"[+{_first_points(demo[0])}] {HOSTILE_CRITERION}", "wrong sign"]
    assert flags[1][4] == "Icing is fine <i>advice</i>; should be positive."
    assert "<title>Ankle review &lt;2025&gt;</title>" in page
    # the hostile rater's name is drawn literally (no mathtext) in the charts' SVG text
    assert "Dr &lt;img src=x onerror=alert(1)&gt; $x^2$" in page
    # self-contained: no URL at all, no external resource, no script
    assert not re.search(r"https?://", page)
    parsed = _Tables(page)
    assert parsed.links and all(value.startswith("#") for _, _, value in parsed.links)  # in-page links only
    assert not parsed.tags & {"script", "link", "img", "iframe", "object", "embed", "image"}
    assert "@import" not in page and not re.search(r"url\((?!#)", page)  # SVG clip paths: url(#id)


def test_scope_filters_and_refusals(tmp_path, demo):
    path, _ = demo
    with store.Workspace(path) as ws:
        page = write_report(ws, tmp_path / "a.html", model="model-a", rater="majority").read_text()
        rows = _Tables(page).find("Model")[1:]
        assert [(r[0], r[1]) for r in rows] == [("model-a", "clinicians (majority)")]
        assert "Scope: model: model-a; rater: majority." in page
        with pytest.raises(CommandError, match="no question set named 'Nope'"):
            write_report(ws, tmp_path / "b.html", set_name="Nope")
        with pytest.raises(CommandError, match="no rater named 'Dr Who'"):
            write_report(ws, tmp_path / "b.html", rater="Dr Who")
        with pytest.raises(CommandError, match="format must be one of"):
            write_report(ws, tmp_path / "b.docx", "docx")
    assert not (tmp_path / "b.html").exists()


def test_adjudicated_verdicts_are_scored_but_not_compared(tmp_path):
    path = review_workspace(tmp_path / "w.healthqa", questions=4, hostile=False)
    with store.Workspace(path) as ws:
        answer = store.answer_rows(ws)[0]
        for c in store.criteria_rows(ws, answer["question_id"]):
            adjudicate(ws, answer["id"], c["id"], "Dr X", "met")
        page = write_report(ws, tmp_path / "r.html").read_text()
    tables = _Tables(page)
    assert ("model-a", ADJUDICATED_RATER) in {(r[0], r[1]) for r in tables.find("Model")[1:]}
    raters = {name for row in tables.find("Rater", "Pairs")[1:] for name in row[:2]}
    assert raters == set(CLINICIANS) | {GRADER}


def test_empty_workspace_still_makes_a_report(tmp_path):
    with store.Workspace(tmp_path / "empty.healthqa") as ws:
        page = write_report(ws, tmp_path / "e.html").read_text()
        pdf = write_report(ws, tmp_path / "e.pdf", "pdf").read_bytes()
    assert "No grades in scope: nothing to score yet." in page
    assert "Agreement needs at least two raters" in page
    assert pdf.startswith(b"%PDF-")


def test_report_command_writes_a_real_pdf(tmp_path, demo):
    import argparse

    from healthqa.commands.report import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    out = tmp_path / "review.pdf"
    args = parser.parse_args(["report", "--workspace", str(demo[0]), "--out", str(out), "--title", "Ankle review"])
    assert args.func(args) == 0  # the format follows the file name
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type\s*/Page\b", data)) >= 5  # pages, not the /Pages tree
    assert b"(Ankle review)" in data  # the title, in the PDF's metadata
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.skipif("report" not in COMMAND_MODULES, reason="the report group is not registered in healthqa/cli.py")
def test_report_disagreements_adjudicate_from_the_shell(tmp_path):
    ws = review_workspace(tmp_path / "w.healthqa", questions=2, hostile=False)
    out = healthqa("report", "--out", str(tmp_path / "r.html"), "--title", "Shell", workspace=ws).stdout
    assert out.startswith(f"wrote {tmp_path / 'r.html'}") and "html" in out
    items = json.loads(healthqa("disagreements", "--json", workspace=ws).stdout)
    assert items and all(item["met"] and item["not_met"] for item in items)
    first = items[0]
    said = healthqa("adjudicate", first["answer_id"], first["criterion_id"], "--by", "Dr X", "--verdict", "met",
                    "--note", "clear", workspace=ws).stdout
    assert "final verdict met by Dr X: recorded" in said
    again = json.loads(healthqa("disagreements", "--json", workspace=ws).stdout)[0]
    assert again["adjudicated"]["verdict"] == "met" and again["adjudicated"]["by"] == "Dr X"
    table = healthqa("disagreements", workspace=ws).stdout
    assert f"{len(items)} items where raters disagree" in table and first["answer_id"] in table


def _first_points(path) -> int:
    with store.Workspace(path) as ws:
        return store.criteria_rows(ws, store.question_id_by_prompt_id(ws, "demo-000"))[0]["points"]
