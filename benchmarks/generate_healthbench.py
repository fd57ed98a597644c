"""A HealthBench-sized synthetic file: invented rows in the official schema.

Usage: python benchmarks/generate_healthbench.py OUT.jsonl [ROWS] [--graded]
(--graded adds a completion, a model and per-criterion criteria_met).
"""

from __future__ import annotations

import json
import random
import sys
import uuid

THEMES = ["global_health", "hedging", "communication", "context_seeking", "emergency_referrals",
          "health_data_tasks", "complex_responses"]
AXES = ["completeness", "accuracy", "context_awareness", "communication_quality", "instruction_following"]
WORDS = ("patient dose fever pain advice clinic blood pressure symptom urgent rest fluids referral "
         "medication allergy infant screening follow-up dizziness rash cough").split()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def make_row(rng: random.Random, index: int, graded: bool, models: list[str]) -> list[dict]:
    turns = rng.choice([1, 1, 1, 3, 5])
    prompt = [{"role": "user" if t % 2 == 0 else "assistant", "content": sentence(rng, rng.randint(15, 60))}
              for t in range(turns)]
    n_criteria = max(2, int(rng.gauss(11, 3)))
    rubrics = []
    for _ in range(n_criteria):
        points = rng.choice([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, -1, -2, -5, -8])
        rubrics.append({"criterion": sentence(rng, rng.randint(8, 25)), "points": points,
                        "tags": [f"axis:{rng.choice(AXES)}", "level:example"]})
    if not any(r["points"] > 0 for r in rubrics):
        rubrics[0]["points"] = 5
    base = {
        "example_tags": [f"theme:{rng.choice(THEMES)}"],
        "ideal_completions_data": None,
        "prompt": prompt,
        "prompt_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "rubrics": rubrics,
        "canary": "healthqa-synthetic:not-healthbench-data",
    }
    if not graded:
        return [base]
    rows = []
    for model in models:
        row = dict(base, completion=sentence(rng, rng.randint(80, 250)), model=model)
        row["rubrics"] = [dict(r, criteria_met=rng.random() < 0.55, explanation="synthetic") for r in rubrics]
        rows.append(row)
    return rows


def generate(path: str, rows: int = 5000, *, graded: bool = True, models: list[str] | None = None,
             seed: int = 7) -> int:
    rng = random.Random(seed)
    models = models or ["synthetic-model"]
    written = 0
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(rows):
            for row in make_row(rng, i, graded, models):
                handle.write(json.dumps(row) + "\n")
                written += 1
    return written


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    print(generate(args[0], int(args[1]) if len(args) > 1 else 5000, graded="--graded" in sys.argv))
