"""Assignments: k clinicians per answer, balanced loads, one plan per seed, re-runs keep what
exists, blinded listings."""

import json
import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from healthqa import store
from healthqa.review import AssignmentError, assign, assignment_summary, assigned_answer_ids, list_assignments
from healthqa.domain import Answer, Question, RaterKind
from healthqa.store import Workspace
from tests.conftest import healthbench_row


def fill(ws, questions: int, models=("m1", "m2"), set_name="S") -> list[str]:
    """`questions` questions with one answer per model; returns answer ids in insertion order."""
    set_id = store.ensure_set(ws, set_name)
    answers = []
    for i in range(questions):
        qid, _ = store.upsert_question(ws, Question.model_validate(healthbench_row(f"{set_name}-p{i}")), set_id)
        answers += [store.add_answer(ws, qid, Answer(text=f"{set_name} answer {i} {m}", model=m))[0] for m in models]
    return answers


def plan(ws) -> dict[str, set[str]]:
    """answer id -> names of the clinicians it is assigned to."""
    out: dict[str, set[str]] = {}
    for row in list_assignments(ws):
        out.setdefault(row["answer_id"], set()).add(row["rater"])
    return out


def test_each_answer_goes_to_k_clinicians_with_balanced_loads(workspace):
    answers = fill(workspace, 7)  # 14 answers x 3 = 42 assignments over 4 clinicians: 10 or 11 each
    report = assign(workspace, ["A", "B", "C", "D"], 3)
    assigned = plan(workspace)
    assert set(assigned) == set(answers) and all(len(r) == 3 for r in assigned.values())
    loads = Counter(name for names in assigned.values() for name in names)
    assert sorted(loads.values()) == [10, 10, 11, 11] and report.loads == dict(loads)
    assert (report.created, report.kept, report.answers) == (42, 0, 14)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_answers=st.integers(1, 30), n_raters=st.integers(1, 6), data=st.data())
def test_balance_holds_for_any_pool(tmp_path_factory, n_answers, n_raters, data):
    overlap = data.draw(st.integers(1, n_raters))
    seed = data.draw(st.integers(0, 2**32))
    with Workspace(tmp_path_factory.mktemp("prop") / "w.healthqa") as ws:
        fill(ws, n_answers, models=("m",))
        raters = [f"R{i}" for i in range(n_raters)]
        assign(ws, raters, overlap, seed=seed)
        assigned = plan(ws)
        assert len(assigned) == n_answers and all(len(r) == overlap for r in assigned.values())
        loads = Counter(name for names in assigned.values() for name in names)
        counts = [loads.get(r, 0) for r in raters]
        assert max(counts) - min(counts) <= 1


def by_content(ws) -> dict[tuple, frozenset]:
    """The plan in terms that two workspaces share: (prompt_id, model) -> clinicians."""
    return {(r["prompt_id"], r["model"]): frozenset(names) for r in store.answer_rows(ws)
            for a, names in plan(ws).items() if a == r["id"]}


def test_one_seed_one_plan_another_seed_another(tmp_path):
    plans = {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        with Workspace(tmp_path / f"{name}.healthqa") as ws:
            fill(ws, 10)
            assign(ws, ["A", "B", "C"], 1, seed=seed)
            plans[name] = by_content(ws)
    assert plans["a"] == plans["b"]  # ids differ between workspaces; the plan does not
    assert plans["a"] != plans["c"]


def test_running_again_keeps_everything_and_adds_nothing(workspace):
    fill(workspace, 5)
    assign(workspace, ["A", "B", "C"], 2)
    before = workspace.query("SELECT * FROM assignments ORDER BY answer_id, rater_id")
    again = assign(workspace, ["A", "B", "C"], 2, seed=99)
    assert (again.created, again.kept) == (0, 20)
    assert workspace.query("SELECT * FROM assignments ORDER BY answer_id, rater_id") == before


def test_new_answers_only_fill_the_gaps(workspace):
    fill(workspace, 4)
    assign(workspace, ["A", "B"], 1)
    first = plan(workspace)
    late = fill(workspace, 2, set_name="T")
    report = assign(workspace, ["A", "B"], 1)
    assert report.created == 4 and report.kept == 8
    now = plan(workspace)
    assert {a: now[a] for a in first} == first and all(len(now[a]) == 1 for a in late)
    assert sorted(report.loads.values()) == [6, 6]


def test_raising_the_overlap_tops_up_existing_answers(workspace):
    fill(workspace, 3)
    assign(workspace, ["A", "B", "C"], 1)
    report = assign(workspace, ["A", "B", "C"], 2)
    assert report.created == 6 and all(len(r) == 2 for r in plan(workspace).values())


def test_filters_choose_the_pool(workspace):
    in_s = fill(workspace, 2)
    fill(workspace, 2, set_name="T")
    assign(workspace, ["A"], 1, set_name="S", model="m2")
    assert set(plan(workspace)) == {in_s[1], in_s[3]}
    question = store.question_id_by_prompt_id(workspace, "T-p0")
    with workspace.transaction() as conn:
        conn.execute("INSERT INTO runs (id, kind, created_at) VALUES ('r1', 'answer', 'x')")
    [run_answer] = [store.add_answer(workspace, question, Answer(text="from run", model="m1"), run_id="r1")[0]]
    failed, _ = store.add_answer(workspace, question, Answer(text="", model="m1", error="timeout"), run_id="r1",
                                 sample=1)
    report = assign(workspace, ["B"], 1, run_id="r1")
    assert report.answers == 1 and assigned_answer_ids(workspace, store.rater_id_by_name(workspace, "B")) == [
        run_answer]  # a failed call is nothing to grade
    assert failed not in plan(workspace)


def test_listings_show_only_each_clinicians_own_progress(workspace):
    answers = fill(workspace, 1)
    assign(workspace, ["A", "B"], 2)
    a, b = (store.rater_id_by_name(workspace, n) for n in "AB")
    criteria = [c["id"] for c in store.criteria_rows(workspace, store.question_id_by_prompt_id(workspace, "S-p0"))]
    grader = store.ensure_rater(workspace, "G", RaterKind.MODEL)
    for cid in criteria:
        store.set_grade(workspace, answers[0], cid, b, "met", "B's secret reasoning")
        store.set_grade(workspace, answers[0], cid, grader, "not_met", "grader says")
    store.save_review(workspace, answers[0], b, comment="B's review", submitted=True)
    store.set_grade(workspace, answers[0], criteria[0], a, "not_met")
    rows = list_assignments(workspace, "A")
    assert [(r["answer_id"], r["graded"], r["criteria"], r["submitted"]) for r in rows] == [
        (answers[0], 1, 3, False), (answers[1], 0, 3, False)]
    text = json.dumps(rows + list_assignments(workspace) + assignment_summary(workspace))
    for secret in ("secret reasoning", "grader says", "B's review", "verdict", "met"):
        assert secret not in text.replace("submitted", "")
    assert assignment_summary(workspace) == [
        {"rater": "A", "assigned": 2, "submitted": 0, "started": 1},
        {"rater": "B", "assigned": 2, "submitted": 1, "started": 0}]


@pytest.mark.parametrize("raters, overlap, kwargs, message", [
    (["A", "B"], 3, {}, "overlap must be from 1 to the number of clinicians"),
    (["A", "B"], 0, {}, "overlap must be from 1"),
    (["A", "A"], 1, {}, "clinician named twice: A"),
    (["A", " "], 1, {}, "name the clinicians"),
    (["G"], 1, {}, "exists already as a model"),
    (["A"], 1, {"set_name": "Nope"}, "no question set named 'Nope'"),
    (["A"], 1, {"model": "nobody"}, "no answers match"),
])
def test_bad_requests_are_refused_and_change_nothing(workspace, raters, overlap, kwargs, message):
    fill(workspace, 1)
    store.ensure_rater(workspace, "G", RaterKind.MODEL)
    before = list(workspace.conn.iterdump())
    with pytest.raises(AssignmentError, match=message):
        assign(workspace, raters, overlap, **kwargs)
    assert list(workspace.conn.iterdump()) == before


def test_unknown_rater_listing_is_a_clear_error(workspace):
    with pytest.raises(AssignmentError, match="no rater named 'Z'"):
        list_assignments(workspace, "Z")


def test_cli_assign_and_list(tmp_path):
    ws_path = tmp_path / "w.healthqa"
    with Workspace(ws_path) as ws:
        fill(ws, 3)

    def run(*args):
        proc = subprocess.run([sys.executable, "-m", "healthqa.cli", "--workspace", str(ws_path), *args],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    report = json.loads(run("assign", "--raters", "Dr A,Dr B,Dr C", "--overlap", "2", "--set", "S", "--json"))
    assert report["created"] == 12 and report["loads"] == {"Dr A": 4, "Dr B": 4, "Dr C": 4}
    summary = json.loads(run("assignments", "--json"))
    assert [(r["rater"], r["assigned"]) for r in summary] == [("Dr A", 4), ("Dr B", 4), ("Dr C", 4)]
    table = run("assignments", "--rater", "Dr B")
    assert table.count("S-p") == 4 and "prompt_id" in table
