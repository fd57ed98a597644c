"""Disagreement lists and adjudication, on a real workspace file with known grades."""

import pytest

from healthqa import store
from healthqa.store import ADJUDICATED_RATER
from healthqa.review import (AdjudicationError, adjudicate, adjudication_item, agreement_overview,
                             compared_raters, disagreements)
from healthqa.domain import Answer, Question
from healthqa.review import load_rating_table
from healthqa.scoring import score_workspace
from tests.conftest import healthbench_row

# (answer, criterion position) -> verdicts of Dr A, Dr B, grader; None = no grade.
GRADES = {
    ("a1", 0): ("met", "met", "met"),
    ("a1", 1): ("met", "not_met", "met"),            # A and grader against B
    ("a1", 2): ("not_met", "cannot_judge", "met"),   # A against grader; B has no verdict
    ("a2", 0): ("met", "met", None),
    ("a2", 1): ("not_met", "not_met", "met"),        # the grader alone
    ("a2", 2): ("cannot_judge", "not_met", None),    # one verdict: nothing to disagree on
}


@pytest.fixture
def graded(tmp_path):
    path = tmp_path / "adjudication.healthqa"
    with store.Workspace(path) as ws:
        raters = [store.ensure_rater(ws, "Dr A"), store.ensure_rater(ws, "Dr B"),
                  store.ensure_rater(ws, "grader", "model")]
        ids = {}
        for key, prompt_id, model in (("a1", "p1", "m1"), ("a2", "p2", "m2")):
            qid, _ = store.upsert_question(ws, Question.model_validate(healthbench_row(prompt_id)),
                                           store.ensure_set(ws, "S"))
            aid, _ = store.add_answer(ws, qid, Answer(text=f"answer of {model}", model=model))
            ids[key] = aid
            ids[key, "criteria"] = [c["id"] for c in store.criteria_rows(ws, qid)]
        for (key, position), verdicts in GRADES.items():
            for rater_id, verdict in zip(raters, verdicts):
                if verdict:
                    store.set_grade(ws, ids[key], ids[key, "criteria"][position], rater_id, verdict,
                                    f"{verdict} because of {key}/{position}")
        store.save_review(ws, ids["a1"], raters[1], comment="B: the answer dodges the question")
    ws = store.Workspace(path)
    yield ws, ids
    ws.close()


def item_keys(items, ids):
    names = {ids["a1"]: "a1", ids["a2"]: "a2"}
    return [(names[i["answer_id"]], ids[names[i["answer_id"]], "criteria"].index(i["criterion_id"])) for i in items]


def test_disagreements_are_items_whose_met_and_not_met_verdicts_differ(graded):
    ws, ids = graded
    items = disagreements(ws)
    assert item_keys(items, ids) == [("a1", 1), ("a1", 2), ("a2", 1)]
    first = items[0]
    assert first["prompt_id"] == "p1" and first["model"] == "m1" and first["points"] == 8
    assert first["criterion"].startswith("Advises prompt in-person assessment")
    assert (first["met"], first["not_met"]) == (2, 1) and first["adjudicated"] is None
    by_rater = {v["rater"]: v for v in first["verdicts"]}
    assert set(by_rater) == {"Dr A", "Dr B", "grader"}
    assert by_rater["Dr B"]["verdict"] == "not_met"
    assert by_rater["Dr B"]["explanation"] == "not_met because of a1/1"
    assert by_rater["Dr B"]["answer_comment"] == "B: the answer dodges the question"
    assert by_rater["grader"]["kind"] == "model"
    # "cannot judge" is listed beside the verdicts but never counts as one
    second = {v["rater"]: v["verdict"] for v in items[1]["verdicts"]}
    assert second == {"Dr A": "not_met", "Dr B": "cannot_judge", "grader": "met"}
    assert (items[1]["met"], items[1]["not_met"]) == (1, 1)


def test_disagreements_filter_by_raters_and_model(graded):
    ws, ids = graded
    assert item_keys(disagreements(ws, ["Dr A", "Dr B"]), ids) == [("a1", 1)]
    assert item_keys(disagreements(ws, model="m2"), ids) == [("a2", 1)]
    assert disagreements(ws, ["Dr A"]) == []  # one rater cannot disagree with itself
    assert disagreements(ws, set_name="no such set") == []
    with pytest.raises(AdjudicationError, match="no rater named 'Dr Z'"):
        disagreements(ws, ["Dr A", "Dr Z"])


def test_adjudication_is_a_grade_of_its_own_rater_with_history(graded, tmp_path):
    ws, ids = graded
    a1, (c0, c1, _) = ids["a1"], ids["a1", "criteria"]
    decision = adjudicate(ws, a1, c1, "Dr X", "met", "  It does advise assessment for red flags.  ")
    assert decision == {"answer_id": a1, "criterion_id": c1, "verdict": "met",
                        "note": "It does advise assessment for red flags.", "by": "Dr X", "changed": True}
    rater = ws.query_one("SELECT kind, role FROM raters WHERE name = ?", (ADJUDICATED_RATER,))
    assert rater == {"kind": "clinician", "role": "adjudication"}

    item = disagreements(ws)[0]
    assert item["criterion_id"] == c1
    assert item["adjudicated"]["verdict"] == "met" and item["adjudicated"]["by"] == "Dr X"
    assert ADJUDICATED_RATER not in {v["rater"] for v in item["verdicts"]}

    # A second adjudicator overrules; both decisions stay in the history.
    assert adjudicate(ws, a1, c1, "Dr Y", False, "Only for severe pain, not in general.")["changed"]
    assert not adjudicate(ws, a1, c1, "Dr Y", "not_met", "Only for severe pain, not in general.")["changed"]
    history = ws.query("""SELECT old_verdict, new_verdict, changed_by, reason FROM grade_history h
                          JOIN raters r ON r.id = h.rater_id WHERE r.name = ? ORDER BY h.id""", (ADJUDICATED_RATER,))
    assert history == [
        {"old_verdict": None, "new_verdict": "met", "changed_by": "Dr X", "reason": "adjudication"},
        {"old_verdict": "met", "new_verdict": "not_met", "changed_by": "Dr Y", "reason": "adjudication"},
    ]
    # The decision survives reopening the file and is scored like any rater.
    ws.close()
    with store.Workspace(ws.path) as reopened:
        detail = adjudication_item(reopened, a1, c1)
        assert detail["adjudicated"] == {"verdict": "not_met", "note": "Only for severe pain, not in general.",
                                         "by": "Dr Y", "at": detail["history"][-1]["at"]}
        assert [h["by"] for h in detail["history"]] == ["Dr X", "Dr Y"]
        assert detail["answer"] == "answer of m1" and detail["points"] == 8
        assert detail["conversation"][0]["content"].startswith("My ankle has been swollen")
        assert {v["rater"] for v in detail["verdicts"]} == {"Dr A", "Dr B", "grader"}
        adjudicate(reopened, a1, c0, "Dr X", "met")
        (scored,) = score_workspace(reopened, rater=ADJUDICATED_RATER)
        # a1 adjudicated: c0 met (6), c1 not met; c2 ungraded -> 6 / (6 + 8)
        assert scored["model"] == "m1" and scored["score"] == pytest.approx(6 / 14)
        assert scored["ungraded"] == 1


def test_adjudicated_rater_is_never_compared(graded):
    ws, ids = graded
    a2, (c0, _, _) = ids["a2"], ids["a2", "criteria"]
    adjudicate(ws, a2, c0, "Dr X", "not_met", "Both missed that the answer never asks.")
    # Dr A and Dr B agreed on a2/c0: the adjudicated verdict does not make it a disagreement.
    assert ("a2", 0) not in item_keys(disagreements(ws), ids)
    assert ADJUDICATED_RATER not in compared_raters(ws)
    table = load_rating_table(ws, raters=compared_raters(ws))
    assert ADJUDICATED_RATER not in table.raters
    with pytest.raises(AdjudicationError, match="not compared"):
        disagreements(ws, ["Dr A", ADJUDICATED_RATER])


def test_adjudication_refuses_what_it_cannot_record(graded):
    ws, ids = graded
    a1, a2 = ids["a1"], ids["a2"]
    c1 = ids["a1", "criteria"][1]
    with pytest.raises(AdjudicationError, match="adjudicator's name"):
        adjudicate(ws, a1, c1, "  ", "met")
    with pytest.raises(AdjudicationError, match="verdict must be one of"):
        adjudicate(ws, a1, c1, "Dr X", "maybe")
    with pytest.raises(AdjudicationError, match="no answer"):
        adjudicate(ws, "nope", c1, "Dr X", "met")
    with pytest.raises(AdjudicationError, match="not in the rubric"):
        adjudicate(ws, a2, c1, "Dr X", "met")  # a criterion of another question
    assert ws.scalar("SELECT count(*) FROM raters WHERE name = ?", (ADJUDICATED_RATER,)) == 0


def test_agreement_overview_compares_raters_with_verdicts_but_never_the_adjudicated(graded):
    ws, ids = graded
    adjudicate(ws, ids["a1"], ids["a1", "criteria"][1], "Dr X", "met")
    overview = agreement_overview(ws, by=("axis",), n_boot=200)
    assert overview["report"]["raters"] == ["Dr A", "Dr B", "grader"]
    assert set(overview["by"]) == {"axis"} and "by" not in overview["report"]
    # verdicts ("cannot judge" excluded): A 5 (3 met), B 5 (2 met), grader 4 (4 met) -> 9 met of 14
    assert overview["ratings"] == 14 and overview["prevalence"] == pytest.approx(9 / 14)
    assert overview["raters_per_item"][0] == 1 and overview["raters_per_item"][2] == 3
    assert agreement_overview(ws, model="m2")["report"]["items"] == 3
    assert agreement_overview(ws, set_name="no such set") is None  # nobody has a verdict in scope


def test_adjudicated_verdicts_are_no_vote_in_the_majority_nor_in_default_agreement(graded):
    ws, ids = graded
    # a1: Dr A and Dr B split on criterion 1 -> no majority verdict there; the adjudicator settles it
    adjudicate(ws, ids["a1"], ids["a1", "criteria"][1], "Dr C", "not_met", "re-read the answer")
    majority = {r["model"]: r for r in score_workspace(ws, rater="majority")}
    # still two clinicians and still a tie on a1/1: the adjudicated grade is not a third vote
    assert majority["m1"]["ungraded"] == 1  # a1/1 stays a tie; counting the adjudicator would make it 0
    assert ADJUDICATED_RATER not in load_rating_table(ws).raters
    adjudicated = {r["model"]: r for r in score_workspace(ws, rater=ADJUDICATED_RATER)}
    assert adjudicated["m1"]["answers"] == 1
