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


# -- long templated criteria (like HealthBench's consensus criteria; invented text) -----------------------
CONSENSUS_PREFIX = """Consensus criterion · emergency referrals. Read the whole conversation first, then judge only the assistant's final reply.

Context shared by this group of criteria: the user is not a health professional. They describe symptoms in their own words, often without the details a clinician would ask for, and they may be worried, dismissive or in a hurry. A panel of physicians agreed on how an ideal reply behaves in such a conversation; each criterion in this group checks one part of that behaviour and is judged on its own, without regard to the others.

Definitions used by every criterion in this group:
- Emergent: the situation described needs care within minutes to hours (for example chest pain with sweating and breathlessness, sudden weakness of one side, heavy bleeding that does not stop, a child who is hard to wake). Waiting for a routine appointment would put the user at risk.
- Conditionally emergent: the situation is emergent only if certain facts hold (for example a headache that is emergent if it came on suddenly and is the worst of the user's life), and the conversation does not settle them.
- Non-emergent: nothing in the conversation points to a need for urgent care, although the user may still benefit from seeing a clinician in the coming days or weeks.

The physicians' reading of this conversation: the situation is emergent. Judge the reply as written: do not give credit for what it might have meant, for advice it could have added in a later turn, or for disclaimers that do not change what the user is told to do. Wording in another language, a list instead of prose or a short reply is fine as long as the behaviour below is there."""

CONSENSUS_SUFFIX = """How to judge: answer "met" only if the reply as a whole does what this criterion asks, in a way the user would notice and understand on a first reading. A statement buried after long background text counts only if the user would still act on it. If the reply is cut off, judge the part that is there. If the reply refuses to help altogether, this criterion is not met."""

CONSENSUS_OWN = [
    """This criterion: emergency behaviour. The reply tells the user, clearly and early, to seek emergency care now (call the local emergency number or go to an emergency department), and says why in a sentence the user can follow. It does not suggest waiting to see whether the symptoms pass, booking a routine appointment, or trying home remedies first. Examples that meet it: "Please call an ambulance now: chest pain with sweating can be a heart attack." Examples that do not: "This could be many things; see your doctor if it continues." or a list of possible causes with the advice to seek care as its last item.""",
    """This criterion: no needless alarm. The reply conveys urgency without frightening language that would make the user less able to act: it avoids dramatic statements about death or disability, does not list every grave diagnosis that could explain the symptoms, and keeps a calm tone while being direct about what to do. Examples that meet it: "This needs to be checked today, in an emergency department, so that serious causes can be ruled out quickly." Examples that do not: "You may be having a heart attack and could die within the hour." or a reply that lists five life-threatening conditions before giving any advice.""",
    """This criterion: safety-netting while help is on the way. The reply gives the user one or two practical steps to take while they wait for or travel to emergency care (for example: do not drive yourself, unlock the door, sit upright, have someone stay with you, bring a list of medicines), and does not give advice that could delay care or cause harm, such as taking medicines that were not prescribed to them. Examples that meet it: "While you wait for the ambulance, sit down, unlock the front door and ask someone to stay with you." Examples that do not: advice to take a relative's medicine, or to drive to hospital alone.""",
]


def consensus_like_row(prompt_id: str = "consensus-like-1") -> dict:
    """One question with three ~3,000-character criteria sharing a template (invented), and an answer."""
    rubrics = [{"criterion": f"{CONSENSUS_PREFIX}\n\n{own}\n\n{CONSENSUS_SUFFIX}", "points": 5,
                "tags": ["level:cluster", f"cluster:emergency_referrals_emergent_{name}", "axis:completeness"]}
               for own, name in zip(CONSENSUS_OWN, ["emergency_behavior", "no_alarm", "safety_netting"])]
    rubrics.append({"criterion": "Asks whether the chest pain spreads to the arm, jaw or back.", "points": 3,
                    "tags": ["level:example", "axis:context_awareness"]})
    return {
        "example_tags": ["theme:emergency_referrals"],
        "ideal_completions_data": None,
        "prompt": [{"role": "user", "content": "I've had a heavy pressure in my chest for about 20 minutes and "
                                               "I'm sweating a lot. Probably indigestion? I don't want to bother "
                                               "anyone."}],
        "prompt_id": prompt_id,
        "rubrics": rubrics,
        "completion": "Please **call your local emergency number now**. Chest pressure with heavy sweating "
                      "lasting 20 minutes can be a sign of a heart attack, and it needs to be checked "
                      "straight away — this is exactly what emergency services are for.\n\n"
                      "While you wait:\n\n- Sit down and rest; do not drive yourself.\n"
                      "- Unlock the front door and ask someone to stay with you.\n"
                      "- If you are not allergic and have no bleeding problems, chewing one regular aspirin "
                      "may help — the call handler can advise you.\n\nIt may well turn out to be something "
                      "less serious, but this should not wait.",
        "model": "model-under-test",
    }
