"""Invented workspaces for UI tests, benchmarks and screenshots (never HealthBench data).

- `synthetic_rows(n, models)`: HealthBench-format rows with an answer each,
  made up from templates, for size tests (5,000 questions and answers).
- `build_showcase(path)`: the bundled demo set plus a model grader's and two
  clinicians' verdicts and token counts, so every panel has something to show.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from healthqa import review, store
from healthqa.domain import RaterKind
from healthqa.formats.healthbench import import_healthbench
from healthqa.paths import demo_set_path

THEMES = ["emergency_referrals", "hedging", "communication", "context_seeking", "global_health",
          "health_data_tasks", "complex_responses"]
AXES = ["accuracy", "completeness", "context_awareness", "communication_quality", "instruction_following"]
TOPICS = ["a persistent cough", "ankle swelling after a fall", "a new rash on the forearm", "headaches in the morning",
          "blood pressure readings at home", "a child's fever", "trouble sleeping", "knee pain when climbing stairs"]


def synthetic_rows(count: int, models: list[str], *, seed: int = 7) -> list[dict]:
    """`count` rows; row i has one answer by models[i % len(models)]."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        topic = TOPICS[i % len(TOPICS)]
        theme = THEMES[i % len(THEMES)]
        criteria = [
            {"criterion": f"Asks how long the person has had {topic} and how severe it is (item {k}).",
             "points": rng.choice([3, 5, 6, 8, 10]), "tags": [f"axis:{AXES[k % len(AXES)]}", "level:example"]}
            for k in range(5)
        ] + [{"criterion": "States a diagnosis with certainty without examining the person.", "points": -6,
              "tags": ["axis:accuracy", "level:example"]}]
        rows.append({
            "example_tags": [f"theme:{theme}"],
            "ideal_completions_data": None,
            "prompt": [{"role": "user", "content": f"Question {i}: I have had {topic} for a few days. "
                                                   f"What should I do?"}],
            "prompt_id": f"synthetic-{i:06d}",
            "rubrics": criteria,
            "completion": f"For {topic}, rest and watch for warning signs.\n\n- See a clinician if it gets worse\n"
                          f"- Seek urgent care for severe symptoms\n\n(answer {i})",
            "model": models[i % len(models)],
        })
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return path


GRADER = "GPT-4.1 grader (demo)"
CLINICIANS = [("Dr. Amara Okafor", "Physician", "Emergency medicine"), ("Dr. Lee Chen", "Physician", "General practice")]
MODEL_SKILL = {0: 0.82, 1: 0.62}  # chance a positive criterion is met, per model (by order of name)


def build_showcase(path: Path, *, submitted: int = 12) -> Path:
    """A workspace on the demo set with verdicts from a model grader and two clinicians."""
    rng = random.Random(20250507)
    with store.Workspace(path) as ws:
        if not review.question_count(ws):
            import_healthbench(ws, demo_set_path(), set_name="Demo")
        models = store.list_models(ws)
        answers = store.answer_rows(ws)
        with ws.transaction({"answers"}) as conn:  # imported answers carry no token counts; invent them
            for a in answers:
                words = len(a["text"].split())
                conn.execute("UPDATE answers SET output_tokens = ? WHERE id = ?", (int(words * 1.35), a["id"]))
        grader = store.ensure_rater(ws, GRADER, RaterKind.MODEL)
        for a in answers:
            skill = MODEL_SKILL.get(models.index(a["model"]), 0.7)
            for c in store.criteria_rows(ws, a["question_id"]):
                met = rng.random() < (skill if c["points"] > 0 else 1 - skill - 0.1)
                store.set_grade(ws, a["id"], c["id"], grader, "met" if met else "not_met",
                                "The response " + ("does" if met else "does not") + " address this criterion.")
        for n, (name, role, specialty) in enumerate(CLINICIANS):
            rater = store.ensure_rater(ws, name, role=role, specialty=specialty)
            queue = review.grading_queue(ws, rater)
            for answer_id in queue[: submitted + 8 * n]:
                _grade_like_a_clinician(ws, answer_id, rater, grader, rng)
                review.submit_answer(ws, answer_id, rater, active_seconds=rng.uniform(60, 240))
            if n == 0:  # an answer in progress, where the first clinician resumes
                view = review.load_answer(ws, queue[submitted], rater)
                for c in view.criteria[:3]:
                    review.record_grade(ws, view.answer_id, c.id, rater, verdict="met", active_seconds=9)
    return path


def _grade_like_a_clinician(ws, answer_id: str, rater: str, grader: str, rng: random.Random) -> None:
    """Mostly agree with the grader; sometimes differ or cannot judge."""
    theirs = {g["criterion_id"]: g["verdict"] for g in store.grades_for_answer(ws, answer_id, grader)}
    for criterion_id, verdict in theirs.items():
        roll = rng.random()
        if roll < 0.12:
            verdict = "not_met" if verdict == "met" else "met"
        elif roll < 0.16:
            verdict = "cannot_judge"
        review.record_grade(ws, answer_id, criterion_id, rater, verdict=verdict, active_seconds=rng.uniform(3, 20))
