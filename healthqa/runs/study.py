"""The mode study: one model's runs in different reasoning modes on the same question set,
side by side — score, Δ against instant with a paired bootstrap interval, mean output tokens,
latency p50/p95 and cost. For the Results panel's Mode study view and the report.

Scores are HealthBench's, from one rater source: a rater's name (a clinician,
the adjudicated verdicts, a model grader) or MAJORITY_RATER for the
clinicians' majority verdict; by default the rater who graded the most of
these runs' answers. Each run is a source of healthqa.compare, so scores and
Δ are computed the one way comparisons are: a run's score is the clipped
mean over its scored answers, as Results shows it; Δ is compare's paired
difference against the baseline run by question (each question's score is
the mean over its samples; only questions both runs have scores for count),
with its bootstrap interval over questions and sign-flip p-value.

Cost is the run's own figure (runs.summary: every call, priced with the
model configs' prices; None without prices); per answer it is that over the
answers stored.
"""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np

from ..compare import CompareError, Source, compare_loaded, load_many, resolve_rater
from ..domain import ModelConfig
from ..store import Workspace, get_model_config
from .modes import INSTANT, MODES, default_mode
from .status import RunError

MAJORITY_RATER = "majority"
N_RESAMPLES = 2000


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
               n_resamples: int = N_RESAMPLES) -> dict:
    """{"model", "set", "rater", "baseline_run_id", "rows": [...]}: one row per answer run of
    `model` (a model config name) on `set_name`, in mode order (instant, thinking,
    contemplating), then oldest first. Each row: run_id, mode, drafts, aggregator, answers,
    graded, score, n_paired, delta, delta_ci [lo, hi], p_value, mean_output_tokens,
    latency_p50_ms, latency_p95_ms, cost, cost_per_answer. Δ is against the newest instant run
    (the baseline) and is healthqa.compare's paired comparison of the two runs; None where there
    is no baseline, or fewer than 2 paired questions for an interval."""
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
    rater = rater or _busiest_rater(ws, [r["id"] for r in runs])
    try:
        scores = load_many(ws, [Source(r["id"], run_id=r["id"]) for r in runs], resolve_rater(ws, rater),
                           set_name) if rater else []
    except CompareError as exc:
        raise RunError(str(exc)) from None
    instant = [k for k, r in enumerate(runs) if r["mode"] == INSTANT]
    baseline = instant[-1] if instant else None

    rows = []
    for k, run in enumerate(runs):
        answers = ws.query("SELECT output_tokens, latency_ms FROM answers WHERE run_id = ?", (run["id"],))
        mine = scores[k] if scores else None
        summary = json.loads(run["summary"]) if run["summary"] else {}
        cost = summary.get("cost")
        tokens = [a["output_tokens"] for a in answers if a["output_tokens"] is not None]
        latencies = np.asarray([a["latency_ms"] for a in answers if a["latency_ms"] is not None], dtype=float)
        row = {
            "run_id": run["id"], "mode": run["mode"], "drafts": run["drafts"], "aggregator": run["aggregator"],
            "created_at": run["created_at"], "answers": len(answers), "graded": mine.answers if mine else 0,
            # The score Results shows: the clipped mean over the run's scored answers.
            "score": float(np.clip(mine.answer_mean, 0.0, 1.0)) if mine and mine.answer_mean is not None else None,
            "n_paired": None, "delta": None, "delta_ci": None, "p_value": None,
            "mean_output_tokens": float(np.mean(tokens)) if tokens else None,
            "latency_p50_ms": float(np.percentile(latencies, 50)) if latencies.size else None,
            "latency_p95_ms": float(np.percentile(latencies, 95)) if latencies.size else None,
            "cost": cost, "cost_per_answer": cost / len(answers) if cost is not None and answers else None,
        }
        if baseline is not None and k != baseline and mine is not None:
            # This run − the baseline, paired by question (each question's mean over its samples).
            [pair] = compare_loaded([mine, scores[baseline]], n_boot=n_resamples, require_overlap=False).pairs
            row.update(n_paired=pair.n_questions, delta=pair.delta, p_value=pair.p_value,
                       delta_ci=list(pair.delta_ci) if pair.delta_ci else None)
        rows.append(row)
    return {"model": model, "set": set_name, "rater": rater,
            "baseline_run_id": runs[baseline]["id"] if baseline is not None else None, "rows": rows}


def _busiest_rater(ws: Workspace, run_ids: list[str]) -> str | None:
    marks = ",".join("?" * len(run_ids))
    row = ws.query_one(
        f"""SELECT r.name, count(DISTINCT g.answer_id) AS n FROM grades g JOIN raters r ON r.id = g.rater_id
            JOIN answers a ON a.id = g.answer_id WHERE a.run_id IN ({marks}) AND g.verdict IS NOT NULL
            GROUP BY r.name ORDER BY n DESC, r.kind = 'model' DESC, r.name LIMIT 1""", run_ids)
    return row["name"] if row else None
