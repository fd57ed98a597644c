"""The grading session core (healthqa/review/session.py): queue, blinding, reveal, history, active time."""

import pytest

from healthqa import review, store
from healthqa.domain import Answer, Question, RaterKind
from healthqa.review import ActiveClock, ReviewError
from tests.conftest import healthbench_row


def add_question(ws, prompt_id, **overrides):
    question_id, _ = store.upsert_question(ws, Question.model_validate(healthbench_row(prompt_id, **overrides)),
                                           store.ensure_set(ws, "S"))
    return question_id


def add_answers(ws, question_id, models):
    return [store.add_answer(ws, question_id, Answer(text=f"answer number {i}", model=m))[0]
            for i, m in enumerate(models)]


@pytest.fixture
def graded(workspace):
    """One question (3 criteria), one answer by 'secret-model', a model grader's verdicts on it."""
    question_id = add_question(workspace, "p1")
    [answer_id] = add_answers(workspace, question_id, ["secret-model"])
    criteria = [c["id"] for c in store.criteria_rows(workspace, question_id)]
    grader = store.ensure_rater(workspace, "grader-x", RaterKind.MODEL)
    for cid, verdict in zip(criteria, ["met", "not_met", "met"]):
        store.set_grade(workspace, answer_id, cid, grader, verdict, "grader says so")
    clinician = store.ensure_rater(workspace, "Dr A")
    return workspace, answer_id, criteria, clinician


def test_queue_is_a_stable_per_clinician_permutation(workspace):
    question_id = add_question(workspace, "p1")
    answers = add_answers(workspace, question_id, [f"m{i}" for i in range(30)])
    a = store.ensure_rater(workspace, "Dr A")
    b = store.ensure_rater(workspace, "Dr B")
    queue_a = review.grading_queue(workspace, a)
    assert sorted(queue_a) == sorted(answers)
    assert review.grading_queue(workspace, a) == queue_a  # same clinician, same order
    assert review.grading_queue(workspace, b) != queue_a  # another clinician, another order
    assert queue_a != answers  # not the insertion order
    [late] = add_answers(workspace, question_id, ["late"])
    grown = review.grading_queue(workspace, a)
    assert [x for x in grown if x != late] == queue_a  # a new answer does not reshuffle the others


def test_queue_keeps_to_assignments_and_skips_failed_answers(workspace):
    question_id = add_question(workspace, "p1")
    answers = add_answers(workspace, question_id, ["m1", "m2", "m3"])
    failed, _ = store.add_answer(workspace, question_id, Answer(text="", model="m4", error="timeout"))
    a = store.ensure_rater(workspace, "Dr A")
    assert failed not in review.grading_queue(workspace, a)
    with workspace.transaction({"assignments"}) as conn:
        conn.execute("INSERT INTO assignments (answer_id, rater_id, created_at) VALUES (?, ?, 'x')",
                     (answers[1], a))
    assert review.grading_queue(workspace, a) == [answers[1]]


def test_queue_filters_by_set(workspace):
    q1 = add_question(workspace, "p1")
    q2, _ = store.upsert_question(workspace, Question.model_validate(healthbench_row("p2")),
                                  store.ensure_set(workspace, "Other"))
    [in_s] = add_answers(workspace, q1, ["m"])
    add_answers(workspace, q2, ["m"])
    a = store.ensure_rater(workspace, "Dr A")
    assert review.grading_queue(workspace, a, set_id=store.set_id_by_name(workspace, "S")) == [in_s]


def test_model_name_is_hidden_until_submitted(graded):
    ws, answer_id, criteria, me = graded
    view = review.load_answer(ws, answer_id, me)
    assert view.model is None and not view.submitted
    assert "secret-model" not in repr(view)
    assert [c.points for c in view.criteria] == [6, 8, -7]
    assert view.criteria[0].axis == "context_awareness"
    for cid in criteria:
        review.record_grade(ws, answer_id, cid, me, verdict="met")
    review.submit_answer(ws, answer_id, me)
    assert review.load_answer(ws, answer_id, me).model == "secret-model"


def test_submit_is_refused_while_criteria_lack_a_verdict(graded):
    ws, answer_id, criteria, me = graded
    review.record_grade(ws, answer_id, criteria[1], me, verdict="cannot_judge")
    view = review.load_answer(ws, answer_id, me)
    assert view.missing() == [criteria[0], criteria[2]]
    with pytest.raises(ReviewError, match=r"2 criteria still need a verdict: #1, 3"):
        review.submit_answer(ws, answer_id, me)
    assert not review.is_submitted(ws, answer_id, me)


def test_reveal_only_after_submit_and_disagreements(graded):
    ws, answer_id, criteria, me = graded
    with pytest.raises(ReviewError, match="once you have submitted"):
        review.reveal(ws, answer_id, me)
    # grader: met, not_met, met; clinician: met, met, cannot_judge
    for cid, verdict in zip(criteria, ["met", "met", "cannot_judge"]):
        review.record_grade(ws, answer_id, cid, me, verdict=verdict)
    result = review.submit_answer(ws, answer_id, me, comment="fine", unsafe=True, active_seconds=12.5)
    assert result.model == "secret-model"
    assert result.grader_names == ["grader-x"]
    assert result.disagreements == [criteria[1]]  # cannot judge vs met is no disagreement
    assert result.graders[criteria[1]][0].verdict == "not_met"
    saved = store.get_review(ws, answer_id, me)
    assert (saved["comment"], saved["unsafe"], saved["active_seconds"]) == ("fine", 1, 12.5)
    assert saved["submitted_at"]


def test_change_after_reveal_keeps_both_values_in_history(graded):
    ws, answer_id, criteria, me = graded
    review.record_grade(ws, answer_id, criteria[0], me, verdict="not_met")
    review.record_grade(ws, answer_id, criteria[0], me, verdict="met")  # changed mind before submitting
    for cid in criteria[1:]:
        review.record_grade(ws, answer_id, cid, me, verdict="met")
    review.submit_answer(ws, answer_id, me)
    review.record_grade(ws, answer_id, criteria[1], me, verdict="not_met")
    history = store.grade_history(ws, answer_id)
    mine = [(h["old_verdict"], h["new_verdict"], h["reason"]) for h in history if h["rater_id"] == me]
    assert mine == [("not_met", "met", None), ("met", "not_met", review.AFTER_REVEAL)]
    current = {g["criterion_id"]: g["verdict"] for g in store.grades_for_answer(ws, answer_id, me)}
    assert current[criteria[1]] == "not_met"
    assert review.reveal(ws, answer_id, me).disagreements == []  # now agrees with the grader


def test_comment_and_verdict_are_saved_independently(graded):
    ws, answer_id, criteria, me = graded
    review.record_grade(ws, answer_id, criteria[0], me, verdict="met", active_seconds=2)
    review.record_grade(ws, answer_id, criteria[0], me, comment="asks about weight bearing", active_seconds=3)
    review.record_grade(ws, answer_id, criteria[0], me, verdict="not_met")
    [grade] = store.grades_for_answer(ws, answer_id, me)
    assert (grade["verdict"], grade["explanation"], grade["active_seconds"]) == (
        "not_met", "asks about weight bearing", 5)
    review.record_grade(ws, answer_id, criteria[0], me, comment="")
    assert store.grades_for_answer(ws, answer_id, me)[0]["explanation"] is None


def test_progress_counts_submitted_and_started(graded):
    ws, answer_id, criteria, me = graded
    question_id = ws.scalar("SELECT question_id FROM answers WHERE id = ?", (answer_id,))
    other, third = add_answers(ws, question_id, ["m2", "m3"])
    queue = review.grading_queue(ws, me)
    assert review.progress(ws, me, queue) == review.Progress(total=3, submitted=0, started=0)
    for cid in criteria:
        review.record_grade(ws, answer_id, cid, me, verdict="met")
    review.submit_answer(ws, answer_id, me)
    review.record_grade(ws, other, criteria[0], me, verdict="met")
    progress = review.progress(ws, me, queue)
    assert progress == review.Progress(total=3, submitted=1, started=1)
    assert progress.position_text(36) == "answer 37 of 3"
    assert review.blind_label(36) == "Answer 37"
    start = review.first_open_index(queue, review.submitted_ids(ws, me))
    assert queue[start] != answer_id


def test_active_clock_leaves_out_idle_pauses():
    now = [100.0]
    clock = ActiveClock(clock=lambda: now[0])
    clock.touch()  # the first action starts the clock
    for step in (5, 10, 61, 20):  # the 61 s pause is idle
        now[0] += step
        clock.touch()
    assert clock.total == 35
    assert clock.take("grade") == 35
    now[0] += 4
    clock.touch()
    assert clock.take("grade") == 4
    assert clock.take("review") == 39  # each key has its own lap
    clock.reset()
    assert clock.total == 0 and clock.take("grade") == 0


def test_active_clock_counts_exactly_the_limit():
    now = [0.0]
    clock = ActiveClock(clock=lambda: now[0], idle_limit=60)
    clock.touch()
    now[0] = 60.0
    clock.touch()
    assert clock.total == 60


def test_filter_tags_and_grade_counts(graded):
    ws, answer_id, criteria, me = graded
    add_question(ws, "p2", example_tags=["theme:hedging", "physician_agreed_category:x"])
    assert review.filter_tags(ws) == ["axis:accuracy", "axis:context_awareness", "theme:context_seeking",
                                      "theme:hedging"]
    question_id = ws.scalar("SELECT question_id FROM answers WHERE id = ?", (answer_id,))
    assert review.grades_on_question(ws, question_id) == 3
    assert review.question_count(ws) == 2
