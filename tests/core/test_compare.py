"""Paired comparisons on a real workspace file with known grades: the core and `healthqa compare`."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from healthqa import store
from healthqa.compare import CompareError, compare_all, compare_sources
from healthqa.domain import Answer, Question
from healthqa.store import ADJUDICATED_RATER
from tests.conftest import healthbench_row
from tests.core.test_cli import healthqa

# Criteria of healthbench_row: +6 (context_awareness), +8 (accuracy), -7 (accuracy).
# An answer's score = (6·c1 + 8·c2 - 7·c3) / 14; its accuracy subscore = (8·c2 - 7·c3) / 8.
VERDICTS = {  # question -> model -> verdicts of the grader
    "q1": {"m1": (1, 1, 0), "m2": (1, 0, 0)},   # 14/14 vs 6/14
    "q2": {"m1": (1, 0, 0), "m2": (1, 0, 0)},   # tie 6/14
    "q3": {"m1": (0, 1, 1), "m2": (1, 1, 0)},   # 1/14 vs 14/14
    "q4": {"m1": (1, 1, 0), "m2": (0, 1, 0)},   # 14/14 vs 8/14
    "q5": {"m1": (1, 1, 1), "lone": (1, 0, 0)},  # m1 (and "lone", which has nothing in common with m2)
    "q6": {"m2": (1, 1, 0)},                    # only m2 answered
}
THEMES = {"q1": "hedging", "q2": "hedging", "q3": "emergency_referrals", "q4": "emergency_referrals",
          "q5": "hedging", "q6": "hedging"}


def score(verdicts) -> float:
    return (6 * verdicts[0] + 8 * verdicts[1] - 7 * verdicts[2]) / 14


def grade(ws, answer_id, question_id, rater_id, verdicts) -> None:
    for criterion, met in zip(store.criteria_rows(ws, question_id), verdicts):
        store.set_grade(ws, answer_id, criterion["id"], rater_id, "met" if met else "not_met")


def add_run(ws, run_id: str, set_id: str) -> None:
    with ws.transaction({"runs"}) as conn:
        conn.execute("INSERT INTO runs (id, kind, set_id, status, created_at) VALUES (?, 'answer', ?, 'done', ?)",
                     (run_id, set_id, store.now()))


@pytest.fixture
def ws_path(tmp_path):
    """m1 and m2 imported and graded by a model grader; a run of m1 with two samples per question; two
    clinicians on q1-q4 of m1 and m2; adjudicated verdicts on q1 only."""
    path = tmp_path / "compare.healthqa"
    with store.Workspace(path) as ws:
        set_id = store.ensure_set(ws, "Demo")
        grader = store.ensure_rater(ws, "grader", "model")
        doctors = [store.ensure_rater(ws, name) for name in ("Dr A", "Dr B")]
        adjudicated = store.ensure_rater(ws, ADJUDICATED_RATER)
        add_run(ws, "run-7f3a-0001", set_id)
        questions = {}
        for prompt_id, by_model in VERDICTS.items():
            row = healthbench_row(prompt_id, example_tags=[f"theme:{THEMES[prompt_id]}"])
            qid, _ = store.upsert_question(ws, Question.model_validate(row), set_id)
            questions[prompt_id] = qid
            for model, verdicts in by_model.items():
                aid, _ = store.add_answer(ws, qid, Answer(text=f"{model} on {prompt_id}", model=model))
                grade(ws, aid, qid, grader, verdicts)
                if prompt_id in ("q1", "q2", "q3", "q4"):
                    grade(ws, aid, qid, doctors[0], verdicts)
                    grade(ws, aid, qid, doctors[1], verdicts)
                if prompt_id == "q1":
                    grade(ws, aid, qid, adjudicated, (1, 1, 1) if model == "m1" else (0, 0, 0))
        for prompt_id in ("q1", "q2", "q3"):  # the run: m1 again, two samples, one met-all and one met-none
            for sample, verdicts in enumerate(((1, 1, 0), (0, 0, 0))):
                aid, _ = store.add_answer(ws, questions[prompt_id], Answer(text=f"run {prompt_id} {sample}",
                                                                            model="m1-run"),
                                          run_id="run-7f3a-0001", sample=sample)
                grade(ws, aid, questions[prompt_id], grader, verdicts)
        store.ensure_set(ws, "Empty")
    return path


def expected_diffs(pairs=("q1", "q2", "q3", "q4")) -> np.ndarray:
    return np.array([score(VERDICTS[q]["m1"]) - score(VERDICTS[q]["m2"]) for q in pairs])


def test_two_models_by_hand(ws_path):
    with store.Workspace(ws_path) as ws:
        result = compare_sources(ws, "m1", "m2", rater="grader", by="theme")
    d = expected_diffs()
    assert result.n_questions == 4 and result.n_only_a == 1 and result.n_only_b == 1  # q5 and q6 left out
    assert result.delta == pytest.approx(d.mean())
    assert (result.wins, result.ties, result.losses) == (2, 1, 1)
    assert result.sd_diff == pytest.approx(d.std(ddof=1))
    # 4 questions: every one of the 16 sign patterns is enumerated.
    extreme = sum(abs(np.dot(s, d)) >= abs(d.sum()) - 1e-12 for s in itertools.product((1, -1), repeat=4))
    assert result.p_value == pytest.approx(extreme / 16)
    assert result.p_holm == result.p_value  # a family of one
    low, high = result.delta_ci
    assert d.min() <= low <= result.delta <= high <= d.max()
    assert set(result.by) == {"theme:hedging", "theme:emergency_referrals"}
    hedging = result.by["theme:hedging"]  # q1 and q2 (q5, q6 are one-sided)
    assert hedging["n"] == 2 and hedging["delta"] == pytest.approx(d[:2].mean())
    assert result.questions_needed["power_80"] > 4


def test_axis_breakdown_uses_each_questions_axis_subscore(ws_path):
    with store.Workspace(ws_path) as ws:
        result = compare_sources(ws, "m1", "m2", rater="grader", by="axis")

    def accuracy(v):
        return (8 * v[1] - 7 * v[2]) / 8

    d = [accuracy(VERDICTS[q]["m1"]) - accuracy(VERDICTS[q]["m2"]) for q in ("q1", "q2", "q3", "q4")]
    assert result.by["axis:accuracy"]["delta"] == pytest.approx(np.mean(d))
    assert result.by["axis:context_awareness"]["n"] == 4


def test_a_run_is_a_source_and_its_samples_are_averaged(ws_path):
    with store.Workspace(ws_path) as ws:
        result = compare_sources(ws, "run-7f3a", "m1", rater="grader")  # a unique prefix of the run id
    run_mean = (1.0 + 0.0) / 2  # per question: mean of the samples' scores (14/14 and 0/14)
    d = [run_mean - score(VERDICTS[q]["m1"]) for q in ("q1", "q2", "q3")]
    assert result.n_questions == 3 and result.n_only_a == 0 and result.n_only_b == 2
    assert result.delta == pytest.approx(np.mean(d))
    assert result.a_source.run_id == "run-7f3a-0001" and result.a_source.model == "m1-run"


def test_majority_and_adjudicated_raters(ws_path):
    with store.Workspace(ws_path) as ws:
        majority = compare_sources(ws, "m1", "m2", rater="majority")
        adjudicated = compare_sources(ws, "m1", "m2", rater="adjudicated")
    assert majority.n_questions == 4 and majority.delta == pytest.approx(expected_diffs().mean())
    assert majority.rater == "clinicians (majority)"
    # Adjudicated: q1 only; m1 met all (7/14), m2 none (0); one question -> no interval, no p, no sd.
    assert adjudicated.n_questions == 1 and adjudicated.delta == pytest.approx(0.5)
    assert adjudicated.delta_ci is None and adjudicated.p_value is None and adjudicated.sd_diff is None
    assert adjudicated.questions_needed == {"power_80": None, "power_90": None}
    assert json.dumps(adjudicated.as_json(), allow_nan=False)  # null, never NaN


def test_every_pair_with_holm(ws_path):
    with store.Workspace(ws_path) as ws:
        many = compare_all(ws, ["m1", "m2", "run-7f3a-0001"], rater="grader")
        alone = compare_sources(ws, "m1", "m2", rater="grader")
    assert [(p.a, p.b) for p in many.pairs] == [("m1", "m2"), ("m1", "run-7f3a-0001"), ("m2", "run-7f3a-0001")]
    ps = [p.p_value for p in many.pairs]
    order = np.argsort(ps)
    holm = [None] * 3
    running = 0.0
    for rank, k in enumerate(order):
        running = max(running, min(1.0, (3 - rank) * ps[k]))
        holm[k] = running
    assert [p.p_holm for p in many.pairs] == pytest.approx(holm)
    first = many.pairs[0]  # the same figures as the pair compared alone (same resamples, same flips)
    assert (first.delta, first.p_value) == (alone.delta, alone.p_value)
    assert first.delta_ci == pytest.approx(alone.delta_ci, abs=1e-6)


def test_bad_input_is_one_clear_error(ws_path):
    with store.Workspace(ws_path) as ws:
        with pytest.raises(CompareError, match="names no model and no run"):
            compare_sources(ws, "m1", "nobody", rater="grader")
        with pytest.raises(CompareError, match="no rater named 'Dr Z'"):
            compare_sources(ws, "m1", "m2", rater="Dr Z")
        with pytest.raises(CompareError, match="no scored grades on the answers of 'm1-run'"):
            compare_sources(ws, "m1", "m1-run", rater="Dr A")
        with pytest.raises(CompareError, match="no question set named"):
            compare_sources(ws, "m1", "m2", rater="grader", set_name="Nope")
        with pytest.raises(CompareError, match="several raters graded"):
            compare_sources(ws, "m1", "m2")
    with store.Workspace(ws_path) as ws:  # m1 only on q5, m2 only on q6: nothing in common
        qid = store.question_id_by_prompt_id(ws, "q5")
        aid, _ = store.add_answer(ws, qid, Answer(text="solo", model="solo"))
        grade(ws, aid, qid, store.rater_id_by_name(ws, "grader"), (1, 0, 0))
        with pytest.raises(CompareError, match="no scored question in common"):
            compare_sources(ws, "solo", "m2", rater="grader")  # m2 never answered q5
        assert compare_sources(ws, "solo", "m1", rater="grader").n_questions == 1  # the only rater: by default


# -- the command --------------------------------------------------------------------------------------

def test_cli_json_contract(ws_path):
    out = json.loads(healthqa("compare", "--a", "m1", "--b", "m2", "--rater", "grader", "--by", "theme", "--json",
                              workspace=ws_path).stdout)
    assert set(out) >= {"a", "b", "rater", "n_questions", "n_only_a", "n_only_b", "delta", "delta_ci", "p_value",
                        "wins", "ties", "losses", "sd_diff", "questions_needed", "by"}
    assert (out["a"], out["b"], out["rater"]) == ("m1", "m2", "grader")
    assert (out["n_questions"], out["n_only_a"], out["n_only_b"]) == (4, 1, 1)
    assert out["delta"] == pytest.approx(expected_diffs().mean())
    assert len(out["delta_ci"]) == 2 and set(out["questions_needed"]) == {"power_80", "power_90"}
    assert set(out["by"]) == {"theme:hedging", "theme:emergency_referrals"}
    assert set(out["by"]["theme:hedging"]) >= {"n", "delta", "delta_ci"}


def test_cli_text_several_sources_and_set(ws_path):
    text = healthqa("compare", "--a", "m1", "--b", "m2", "--rater", "grader", "--set", "Demo",
                    workspace=ws_path).stdout
    assert "questions both have a score for: 4" in text and "only A: 1" in text
    assert f"a difference of {expected_diffs().mean():.3f} on these questions needs about" in text
    many = json.loads(healthqa("compare", "--sources", "m1,m2,run-7f3a", "--rater", "grader", "--json",
                               workspace=ws_path).stdout)
    assert many["sources"] == ["m1", "m2", "run-7f3a"] and len(many["pairs"]) == 3
    assert all(p["p_holm"] >= p["p_value"] for p in many["pairs"])
    table = healthqa("compare", "--sources", "m1,m2,run-7f3a", "--rater", "grader", workspace=ws_path).stdout
    assert "p (Holm)" in table and "Every pair" in table
    planned = json.loads(healthqa("compare", "--a", "m1", "--b", "m2", "--rater", "grader", "--sd", "0.2",
                                  "--detect", "0.027", "--json", workspace=ws_path).stdout)
    assert planned["questions_needed_planned"] == {"delta": 0.027, "sd": 0.2, "power_80": 433, "power_90": 579}


@pytest.mark.parametrize("args, message", [
    (["--a", "m1", "--b", "ghost", "--rater", "grader"], "source 'ghost' names no model and no run"),
    (["--a", "solo-none", "--b", "m2"], "names no model"),
    (["--a", "m1", "--b", "m2", "--rater", "Dr Q"], "no rater named 'Dr Q'"),
    (["--a", "m1", "--b", "m1-run", "--rater", "Dr A"], "'Dr A' has no scored grades on the answers of 'm1-run'"),
    (["--a", "m1", "--b", "m2", "--set", "Empty", "--rater", "grader"], "has no scored grades"),
    (["--a", "m1"], "compare needs --a SOURCE and --b SOURCE"),
    (["--a", "lone", "--b", "m2", "--rater", "grader"], "'lone' and 'm2' have no scored question in common"),
    (["--sources", "m1,lone,m2", "--rater", "grader"], "'lone' and 'm2' have no scored question in common"),
])
def test_cli_bad_input_one_line_nonzero_exit(ws_path, args, message):
    proc = healthqa("compare", *args, workspace=ws_path, check=False)
    assert proc.returncode != 0 and proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0 and message in proc.stderr


def test_loaded_scores_equal_score_example_over_graded_answers(tmp_path):
    """The vectorised loader against the one-answer-at-a-time path (results.graded_answers +
    scoring.score_example): three clinicians, 'cannot judge', two samples per question, a model grader."""
    from healthqa.compare.sources import load_many, resolve_source
    from healthqa.scoring import MAJORITY, graded_answers, score_example

    rng = np.random.default_rng(5)
    with store.Workspace(tmp_path / "random.healthqa") as ws:
        set_id = store.ensure_set(ws, "R")
        raters = [store.ensure_rater(ws, name) for name in ("Dr A", "Dr B", "Dr C")]
        raters.append(store.ensure_rater(ws, "grader", "model"))
        axes = ["axis:accuracy", "axis:completeness", "axis:communication_quality"]
        for q in range(25):
            rubric = [{"criterion": f"criterion {k} of {q}", "points": int(rng.choice([-6, -2, 3, 5, 8])),
                       "tags": [str(rng.choice(axes)), "level:example"]} for k in range(int(rng.integers(2, 7)))]
            row = healthbench_row(f"r{q}", rubrics=rubric, example_tags=[f"theme:t{q % 3}"])
            qid, _ = store.upsert_question(ws, Question.model_validate(row), set_id)
            for model in ("x", "y"):
                for sample in range(2):
                    aid, _ = store.add_answer(ws, qid, Answer(text=f"{model} {q} {sample}", model=model))
                    for criterion in store.criteria_rows(ws, qid):
                        for rater_id in raters:
                            if rng.random() < 0.15:
                                continue  # this rater left this criterion ungraded
                            verdict = str(rng.choice(["met", "not_met", "cannot_judge"], p=[0.5, 0.4, 0.1]))
                            store.set_grade(ws, aid, criterion["id"], rater_id, verdict)
        for rater in ("Dr A", "grader", MAJORITY):
            loaded = {s.source.text: s for s in load_many(ws, [resolve_source(ws, m) for m in ("x", "y")], rater)}
            for group in graded_answers(ws, rater=rater):
                per_question: dict[str, list[dict]] = {}
                for _, question_id, example in group.answers:
                    scored = score_example(example)
                    if scored.score is not None:
                        per_question.setdefault(question_id, []).append(scored.metrics)
                got = loaded[group.model]
                assert got.overall == pytest.approx(
                    {q: np.mean([m["overall_score"] for m in ms]) for q, ms in per_question.items()}, abs=1e-12)
                for axis in axes:
                    expected = {q: np.mean(v) for q, ms in per_question.items()
                                if (v := [m[axis] for m in ms if axis in m])}
                    values = got.axes.get(axis, np.full(len(got.questions), np.nan))
                    assert {got.questions[k]: values[k] for k in np.flatnonzero(~np.isnan(values))} == \
                        pytest.approx(expected, abs=1e-12)


def test_same_data_in_two_workspaces_gives_the_same_figures(tmp_path):
    """Questions are resampled in prompt-id order, not by internal ids (which differ between workspaces)."""
    from healthqa.formats.healthbench import import_healthbench
    from tests.conftest import write_jsonl

    rng = np.random.default_rng(2)
    rows = []
    for q in range(30):
        for model in ("m1", "m2"):
            row = healthbench_row(f"p{q:02d}", completion=f"{model} answer {q}", model=model)
            for item in row["rubrics"]:
                item["criteria_met"] = bool(rng.random() < (0.7 if model == "m1" else 0.5))
            rows.append(row)
    source = write_jsonl(tmp_path / "graded.jsonl", rows)
    figures = []
    for name in ("one", "two"):
        with store.Workspace(tmp_path / f"{name}.healthqa") as ws:
            import_healthbench(ws, source, rater="grader", rater_kind="model")
            c = compare_sources(ws, "m1", "m2", rater="grader")
            figures.append((c.delta, c.delta_ci, c.p_value))
    assert figures[0] == figures[1]


def test_answer_sources_lists_models_then_runs(ws_path):
    from healthqa.compare import answer_sources

    with store.Workspace(ws_path) as ws:
        with ws.transaction({"runs"}) as conn:
            conn.execute("UPDATE runs SET settings = ? WHERE id = ?", ('{"mode": "thinking"}', "run-7f3a-0001"))
        sources = answer_sources(ws)
    assert [(s["source"], s["kind"], s["answers"]) for s in sources] == [
        ("lone", "model", 1), ("m1", "model", 5), ("m1-run", "model", 6), ("m2", "model", 5),
        ("run-7f3a-0001", "run", 6)]
    assert sources[-1]["label"].startswith("run run-7f3a · m1-run · thinking · ")  # the first 8 characters
