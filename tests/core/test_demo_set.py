"""The shipped demo set is what a new user needs to grade at once."""

from healthqa import store
from healthqa.formats.healthbench import import_healthbench
from healthqa.paths import demo_set_path

THEMES = {"global_health", "hedging", "communication", "context_seeking", "emergency_referrals",
          "health_data_tasks", "complex_responses"}
AXES = {"accuracy", "completeness", "context_awareness", "communication_quality", "instruction_following"}


def test_demo_set_covers_every_theme_axis_and_case(workspace):
    report = import_healthbench(workspace, demo_set_path(), set_name="Demo")
    assert report.questions_created >= 24 and not report.skipped
    questions = [store.get_question(workspace, r["id"]) for r in store.question_rows(workspace)]
    assert {q.theme for q in questions} == THEMES
    criteria = [c for q in questions for c in q.rubrics]
    assert {c.axis for c in criteria} == AXES
    assert sum(c.points < 0 for c in criteria) >= 10
    assert sum(len(q.prompt) > 1 for q in questions) >= 3
    assert any(m.images for q in questions for m in q.prompt)
    answers = store.answer_rows(workspace)
    assert len(answers) >= len(questions)
    assert all("written for the demo" in a["model"] for a in answers)
