"""The mode study: one model's runs in different reasoning modes on the same question set,
side by side — score, Δ against instant with a paired bootstrap interval, mean output tokens,
latency p50/p95 and cost. For the Results panel's Mode study view and the report.

Scores are HealthBench's (scoring.py) from one rater's grades: a rater's name
(a clinician, the adjudicated verdicts, a model grader) or MAJORITY_RATER for the
clinicians' majority verdict; by default the rater who graded the most of
these runs' answers. A run's score is the clipped mean over its graded
answers, as Results shows it. Δ is paired by question: each question's score
is the mean over its samples, and only questions both runs have scores for
count (how many is reported; the others are left out, never guessed). The
interval resamples those questions (seeded, percentile, 95 %).

Cost is the run's own figure (runs.summary: every call, priced with the
model configs' prices; None without prices); per answer it is that over the
answers stored.
"""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np

from ..domain import ModelConfig
from ..scoring import GradedCriterion, majority_verdict, subset_score
from ..store import ADJUDICATED_RATER, Workspace, get_model_config
from .modes import INSTANT, MODES, default_mode
from .status import RunError

MAJORITY_RATER = "majority"
N_RESAMPLES = 2000
SEED = 20261103
_MET = {"met": True, "not_met": False}


def mode_study_choices(ws: Workspace) -> list[dict]:
    """(model, set) pairs with answer runs in at least one mode, for pickers:
    [{"model", "set", "modes": [...], "runs": n}], most modes first."""
    rows = ws.query(
        """SELECT m.name AS model, s.name AS "set", r.mode, m.config
           FROM runs r JOIN model_configs m ON m.id = r.model_config_id JOIN question_sets s ON s.id = r.set_id
           WHERE r.kind = 'answer' AND EXISTS (SELECT 1 FROM answers a WHERE a.run_id = r.id)""")
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in rows:
        found[(r["model"], r["set"])].append(r["mode"] or _old_run_mode(r["config"]))
    out = [{"model": m, "set": s, "modes": sorted(set(modes), key=MODES.index), "runs": len(modes)}
           for (m, s), modes in found.items()]
    return sorted(out, key=lambda c: (-len(c["modes"]), c["model"], c["set"]))


def _old_run_mode(config_json: str) -> str:
    """Runs from before modes ran as the config said."""
    return default_mode(ModelConfig.model_validate_json(config_json))


def mode_study(ws: Workspace, *, model: str, set_name: str, rater: str | None = None,
               n_resamples: int = N_RESAMPLES, seed: int = SEED) -> dict:
    """{"model", "set", "rater", "baseline_run_id", "rows": [...]}: one row per answer run of
    `model` (a model config name) on `set_name`, in mode order (instant, thinking,
    contemplating), then oldest first. Each row: run_id, mode, drafts, aggregator, answers,
    graded, score, n_paired, delta, delta_ci [lo, hi], mean_output_tokens, latency_p50_ms,
    latency_p95_ms, cost, cost_per_answer. Δ is against the newest instant run (the baseline);
    None where there is no baseline, or fewer than 2 paired questions for an interval."""
    config = get_model_config(ws, model)
    if config is None:
        raise RunError(f"no model config named {model!r}")
    runs = ws.query(
        """SELECT r.id, r.mode, r.drafts, r.summary, r.created_at, ag.name AS aggregator
           FROM runs r JOIN question_sets s ON s.id = r.set_id
           LEFT JOIN model_configs ag ON ag.id = r.aggregator_config_id
           WHERE r.kind = 'answer' AND r.model_config_id = ? AND s.name = ?
           ORDER BY r.created_at, r.rowid""", (config.id, set_name))
    if not runs:
        raise RunError(f"model config {model!r} has no answer runs on question set {set_name!r}")
    for run in runs:
        run["mode"] = run["mode"] or default_mode(config)
    runs.sort(key=lambda r: MODES.index(r["mode"]))  # stable: oldest first within a mode
    run_ids = [r["id"] for r in runs]
    rater = rater or _busiest_rater(ws, run_ids)
    per_answer = _answer_scores(ws, run_ids, rater) if rater else {}
    instant = [r for r in runs if r["mode"] == INSTANT]
    baseline = instant[-1]["id"] if instant else None
    base_q = _question_means(per_answer.get(baseline, {})) if baseline else {}
    rng_seed = seed

    rows = []
    for run in runs:
        answers = ws.query("SELECT id, question_id, output_tokens, latency_ms FROM answers WHERE run_id = ?",
                           (run["id"],))
        scores = per_answer.get(run["id"], {})
        values = [s for s, _ in scores.values()]
        summary = json.loads(run["summary"]) if run["summary"] else {}
        cost = summary.get("cost")
        tokens = [a["output_tokens"] for a in answers if a["output_tokens"] is not None]
        latencies = np.asarray([a["latency_ms"] for a in answers if a["latency_ms"] is not None], dtype=float)
        row = {
            "run_id": run["id"], "mode": run["mode"], "drafts": run["drafts"], "aggregator": run["aggregator"],
            "created_at": run["created_at"], "answers": len(answers), "graded": len(values),
            "score": float(np.clip(np.mean(values), 0.0, 1.0)) if values else None,
            "n_paired": None, "delta": None, "delta_ci": None,
            "mean_output_tokens": float(np.mean(tokens)) if tokens else None,
            "latency_p50_ms": float(np.percentile(latencies, 50)) if latencies.size else None,
            "latency_p95_ms": float(np.percentile(latencies, 95)) if latencies.size else None,
            "cost": cost, "cost_per_answer": cost / len(answers) if cost is not None and answers else None,
        }
        if baseline is not None and run["id"] != baseline:
            mine = _question_means(scores)
            common = sorted(set(mine) & set(base_q))
            row["n_paired"] = len(common)
            if common:
                diffs = np.asarray([mine[q] - base_q[q] for q in common])
                row["delta"] = float(diffs.mean())
                row["delta_ci"] = paired_bootstrap_ci(diffs, n_resamples=n_resamples, seed=rng_seed)
        rows.append(row)
    return {"model": model, "set": set_name, "rater": rater, "baseline_run_id": baseline, "rows": rows}


def paired_bootstrap_ci(diffs: np.ndarray, *, n_resamples: int = N_RESAMPLES, seed: int = SEED,
                        level: float = 0.95) -> list[float] | None:
    """Percentile interval of the mean paired difference, resampling questions; None for n < 2."""
    n = len(diffs)
    if n < 2:
        return None
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, n, size=(n_resamples, n))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return [float(lo), float(hi)]


# ---- scores from grades ---------------------------------------------------------------

def _busiest_rater(ws: Workspace, run_ids: list[str]) -> str | None:
    marks = ",".join("?" * len(run_ids))
    row = ws.query_one(
        f"""SELECT r.name, count(DISTINCT g.answer_id) AS n FROM grades g JOIN raters r ON r.id = g.rater_id
            JOIN answers a ON a.id = g.answer_id WHERE a.run_id IN ({marks}) AND g.verdict IS NOT NULL
            GROUP BY r.name ORDER BY n DESC, r.kind = 'model' DESC, r.name LIMIT 1""", run_ids)
    return row["name"] if row else None


def _answer_scores(ws: Workspace, run_ids: list[str], rater: str) -> dict[str, dict[str, tuple[float, str]]]:
    """{run id: {answer id: (score, question id)}} for answers the rater's verdicts score."""
    marks = ",".join("?" * len(run_ids))
    majority = rater.lower() in (MAJORITY_RATER, "clinicians (majority)")
    if majority:
        who, params = "r.kind = 'clinician' AND r.name != ?", (*run_ids, ADJUDICATED_RATER)
    else:
        if ws.scalar("SELECT count(*) FROM raters WHERE name = ?", (rater,)) == 0:
            raise RunError(f"no rater named {rater!r}")
        who, params = "r.name = ?", (*run_ids, rater)
    votes: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    where: dict[str, tuple[str, str]] = {}
    for answer_id, run_id, question_id, criterion_id, verdict in (tuple(g.values()) for g in ws.query(
            f"""SELECT g.answer_id, a.run_id, a.question_id, g.criterion_id, g.verdict
                FROM grades g JOIN answers a ON a.id = g.answer_id JOIN raters r ON r.id = g.rater_id
                WHERE a.run_id IN ({marks}) AND {who}""", params)):
        where[answer_id] = (run_id, question_id)
        met = _MET.get(verdict)
        votes[answer_id][criterion_id]  # graded, even if only "cannot judge"
        if met is not None:
            votes[answer_id][criterion_id].append(met)
    points: dict[str, list[tuple[str, int]]] = defaultdict(list)
    questions = {q for _, q in where.values()}
    for c in ws.query("SELECT question_id, id, points FROM criteria ORDER BY question_id, position"):
        if c["question_id"] in questions:
            points[c["question_id"]].append((c["id"], c["points"]))
    out: dict[str, dict[str, tuple[float, str]]] = defaultdict(dict)
    for answer_id, crits in votes.items():
        run_id, question_id = where[answer_id]
        given = {c: (majority_verdict(v) if majority else (v[0] if v else None)) for c, v in crits.items()}
        score = subset_score([GradedCriterion(p, given.get(c)) for c, p in points[question_id]])
        if score is not None:
            out[run_id][answer_id] = (score, question_id)
    return out


def _question_means(scores: dict[str, tuple[float, str]]) -> dict[str, float]:
    by_q: dict[str, list[float]] = defaultdict(list)
    for score, question_id in scores.values():
        by_q[question_id].append(score)
    return {q: float(np.mean(v)) for q, v in by_q.items()}

