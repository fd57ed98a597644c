"""The mode study over real runs (loopback server) and grades in a real workspace,
checked against an independent recomputation."""

from __future__ import annotations

import asyncio
import random

import numpy as np
import pytest

from healthqa.scoring import score_workspace
from healthqa.compare import compare_sources
from healthqa.runs import mode_study, mode_study_choices
from healthqa.runs import RunError, create_run, execute_run
from healthqa.store import Workspace, add_new_grades, ensure_rater
from tests.core.provider_servers import openai_server  # noqa: F401  (fixture)
from tests.core.test_contemplating import draft_responder
from tests.core.test_runs import add_config, add_questions

QUESTIONS = 12
# per mode, the chance a positive criterion is met: contemplating > thinking > instant
MET = {"instant": 0.4, "thinking": 0.6, "contemplating": 0.8}


def grade_run(ws: Workspace, run_id: str, rater_id: str, mode: str, rng: random.Random) -> None:
    for answer in ws.query("SELECT id, question_id FROM answers WHERE run_id = ?", (run_id,)):
        grades = []
        for c in ws.query("SELECT id, points FROM criteria WHERE question_id = ?", (answer["question_id"],)):
            met = rng.random() < (MET[mode] if c["points"] > 0 else 0.2)
            grades.append((c["id"], "met" if met else "not_met", None))
        add_new_grades(ws, answer["id"], rater_id, grades)


@pytest.fixture
def study_ws(tmp_path, openai_server):
    openai_server.responder = draft_responder
    ws = Workspace(tmp_path / "w.healthqa")
    add_questions(ws, QUESTIONS)
    add_config(ws, openai_server, reasoning="low", price_in_per_mtok=1.0, price_out_per_mtok=4.0)
    grader = ensure_rater(ws, "grader-model", "model")
    rng = random.Random(7)
    runs = {}
    for mode in ("contemplating", "instant", "thinking"):  # created out of order on purpose
        kwargs = {"drafts": 2} if mode == "contemplating" else {}
        runs[mode] = create_run(ws, model_name="m", set_name="S", mode=mode, samples=2, **kwargs)
        asyncio.run(execute_run(ws, runs[mode], api_key=openai_server.api_key))
        grade_run(ws, runs[mode], grader, mode, rng)
    # one question of the thinking run lost its grades: it must be left out of the pairing
    ws.conn.execute("DELETE FROM grades WHERE answer_id IN (SELECT id FROM answers WHERE run_id = ? AND "
                    "question_id = (SELECT min(question_id) FROM answers))", (runs["thinking"],))
    yield ws, runs
    ws.close()


def test_mode_study_rows_match_an_independent_recomputation(study_ws):
    ws, runs = study_ws
    study = mode_study(ws, model="m", set_name="S")
    assert study["rater"] == "grader-model" and study["baseline_run_id"] == runs["instant"]
    rows = {r["mode"]: r for r in study["rows"]}
    assert [r["mode"] for r in study["rows"]] == ["instant", "thinking", "contemplating"]
    assert rows["contemplating"]["drafts"] == 2 and rows["instant"]["delta"] is None

    for mode, row in rows.items():
        [scored] = score_workspace(ws, run_id=runs[mode], rater="grader-model")
        assert row["score"] == pytest.approx(scored["score"])  # the score Results shows
        answers = ws.query("SELECT output_tokens, latency_ms FROM answers WHERE run_id = ?", (runs[mode],))
        assert row["answers"] == 2 * QUESTIONS
        assert row["mean_output_tokens"] == pytest.approx(np.mean([a["output_tokens"] for a in answers]))
        lat = sorted(a["latency_ms"] for a in answers)
        assert row["latency_p50_ms"] == pytest.approx((lat[11] + lat[12]) / 2)
        summary_cost = ws.scalar("SELECT json_extract(summary, '$.cost') FROM runs WHERE id = ?", (runs[mode],))
        assert row["cost"] == pytest.approx(summary_cost) and row["cost"] > 0
        assert row["cost_per_answer"] == pytest.approx(summary_cost / (2 * QUESTIONS))
    # contemplating costs more per answer: K drafts and a synthesis
    assert rows["contemplating"]["cost_per_answer"] > 2 * rows["instant"]["cost_per_answer"]

    # Δ by hand: per question, the mean over samples of sum(met points) / sum(positive points)
    def by_question(run_id):
        out = {}
        for q in {a["question_id"] for a in ws.query("SELECT question_id FROM answers WHERE run_id = ?", (run_id,))}:
            scores = []
            for a in ws.query("SELECT id FROM answers WHERE run_id = ? AND question_id = ?", (run_id, q)):
                grades = ws.query("SELECT c.points, g.verdict FROM grades g JOIN criteria c ON c.id = g.criterion_id "
                                  "WHERE g.answer_id = ?", (a["id"],))
                if grades:
                    positive = sum(g["points"] for g in grades if g["points"] > 0)
                    scores.append(sum(g["points"] for g in grades if g["verdict"] == "met") / positive)
            if scores:
                out[q] = sum(scores) / len(scores)
        return out
    base = by_question(runs["instant"])
    for mode in ("thinking", "contemplating"):
        mine = by_question(runs[mode])
        common = sorted(set(mine) & set(base))
        diffs = np.array([mine[q] - base[q] for q in common])
        row = rows[mode]
        assert row["n_paired"] == len(common) == (QUESTIONS - 1 if mode == "thinking" else QUESTIONS)
        assert row["delta"] == pytest.approx(diffs.mean())
        # an independent bootstrap (another generator, loop by loop): the same interval within Monte Carlo error
        rng = random.Random(1)
        means = sorted(np.mean([diffs[rng.randrange(len(diffs))] for _ in diffs]) for _ in range(4000))
        lo, hi = means[int(0.025 * 4000)], means[int(0.975 * 4000)]
        assert row["delta_ci"][0] == pytest.approx(lo, abs=0.02) and row["delta_ci"][1] == pytest.approx(hi, abs=0.02)
        assert row["delta_ci"][0] < row["delta"] < row["delta_ci"][1]


def test_mode_study_choices_and_bad_input(study_ws):
    ws, runs = study_ws
    assert mode_study_choices(ws) == [{"model": "m", "set": "S", "modes": ["instant", "thinking", "contemplating"],
                                       "runs": 3}]
    with pytest.raises(RunError, match="no model config named 'x'"):
        mode_study(ws, model="x", set_name="S")
    with pytest.raises(RunError, match="no answer runs on question set 'T'"):
        mode_study(ws, model="m", set_name="T")
    with pytest.raises(RunError, match="no rater named 'nobody'"):
        mode_study(ws, model="m", set_name="S", rater="nobody")
    # no clinician grades: the majority scores nothing, and says so with None, never NaN
    study = mode_study(ws, model="m", set_name="S", rater="majority")
    assert all(r["score"] is None and r["delta"] is None for r in study["rows"])


def test_mode_study_delta_is_the_comparison_of_the_two_runs(study_ws):
    ws, runs = study_ws
    rows = {r["mode"]: r for r in mode_study(ws, model="m", set_name="S")["rows"]}
    for mode in ("thinking", "contemplating"):
        pair = compare_sources(ws, runs[mode], runs["instant"], rater="grader-model", set_name="S")
        row = rows[mode]
        assert (row["n_paired"], row["delta"], row["p_value"]) == (pair.n_questions, pair.delta, pair.p_value)
        assert row["delta_ci"] == list(pair.delta_ci)
    assert mode_study(ws, model="m", set_name="S") == mode_study(ws, model="m", set_name="S")  # seeded


def test_the_report_carries_the_mode_study_when_the_scope_has_several_modes(study_ws, tmp_path):
    from healthqa.formats.report import write_report
    from tests.core.test_report import _Tables
    ws, runs = study_ws
    page = write_report(ws, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Reasoning modes" in page and "m on S" in page
    table = _Tables(page).find("Mode")
    assert table[0] == ["Mode", "Graded", "Score", "Δ vs instant", "95% interval", "Paired", "Output tokens",
                        "p50 latency", "p95 latency", "Run cost", "Per 1,000 answers"]
    study = mode_study(ws, model="m", set_name="S")
    for cells, row in zip(table[1:], study["rows"]):
        assert cells[0].startswith(row["mode"]) and cells[2] == f"{row['score']:.3f}"
        if row["delta"] is not None:
            lo, hi = row["delta_ci"]
            assert cells[3] == f"{row['delta']:+.3f}" and cells[4] == f"[{lo:+.3f}, {hi:+.3f}]"
        assert cells[9] == f"${row['cost']:.4f}"
    assert "cost per 1,000 answers" in page  # the chart's axis
    assert write_report(ws, tmp_path / "r.pdf", "pdf").read_bytes().startswith(b"%PDF-")
    # scoped to one of the model's modes, the study stays (it is about that model)
    assert "Reasoning modes" in write_report(ws, tmp_path / "c.html", model="m (contemplating)").read_text()


def test_no_mode_study_in_the_report_with_a_single_mode(tmp_path, openai_server):
    from healthqa.formats.report import write_report
    with Workspace(tmp_path / "w.healthqa") as ws:
        add_questions(ws, 2)
        add_config(ws, openai_server, reasoning="low")
        run_id = create_run(ws, model_name="m", set_name="S", mode="thinking")
        asyncio.run(execute_run(ws, run_id, api_key=openai_server.api_key))
        page = write_report(ws, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Reasoning modes" not in page
