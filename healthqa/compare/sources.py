"""What is compared: an answer source's per-question scores under one rater source.

A SOURCE is a model name (every answer from that model) or a run id (or a
unique prefix of one): the answers of that run, whatever model or mode
produced them.  A rater source is a rater's name (a clinician or a model
grader), "majority" (the clinicians' majority verdict per criterion) or
"adjudicated" (the final verdicts recorded by adjudication).

Each answer is scored with healthqa.scoring's formula in its vectorised form
(subset_scores, tested equal to subset_score; the clinicians' majority with
majority_verdicts, equal to majority_verdict); a question's score is the
mean over its scored samples, and so is each of its axis subscores (an axis
score is the HealthBench score over the criteria carrying that axis tag).  A
question whose answers this rater left unscored is not a question of this
source, so it is counted as answered by one side only, never guessed.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field

import numpy as np

from ..errors import HealthQAError
from ..scoring import MAJORITY, majority_verdicts, subset_scores
from ..store import ADJUDICATED_RATER, Workspace, answer_filter


class CompareError(HealthQAError):
    """A comparison that cannot be made; the message says why."""


@dataclass(frozen=True)
class Source:
    text: str  # as the user gave it
    model: str | None = None
    run_id: str | None = None

    @property
    def kind(self) -> str:
        return "run" if self.run_id else "model"

    def as_json(self) -> dict:
        return {"kind": self.kind, "model": self.model, "run_id": self.run_id}


@dataclass
class SourceScores:
    """Per question of `questions` (shared by every source loaded together): the overall score, each
    axis subscore (NaN: no score) and the question's theme tags."""

    source: Source
    rater: str
    questions: list[str]
    scores: np.ndarray
    axes: dict[str, np.ndarray] = field(default_factory=dict)  # "axis:accuracy" -> per-question subscores
    themes: list[tuple[str, ...]] = field(default_factory=list)  # per question, e.g. ("theme:hedging",)
    answers: int = 0  # scored answers behind `scores`
    answer_mean: float | None = None  # unclipped mean over those answers (Results clips it to [0, 1])

    @property
    def scored(self) -> np.ndarray:
        return ~np.isnan(self.scores)

    @property
    def overall(self) -> dict[str, float]:
        """{question id: score} of the scored questions."""
        return {self.questions[k]: float(self.scores[k]) for k in np.flatnonzero(self.scored)}


def resolve_source(ws: Workspace, text: str) -> Source:
    """A model name, else a run id or a unique prefix of one; CompareError when it names nothing."""
    text = (text or "").strip()
    if not text:
        raise CompareError("a source is empty: give a model name or a run id")
    if ws.scalar("SELECT 1 FROM answers WHERE model = ? LIMIT 1", (text,)):
        return Source(text, model=text)
    pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    runs = [r["run_id"] for r in ws.query(
        "SELECT DISTINCT run_id FROM answers WHERE run_id = ? OR run_id LIKE ? ESCAPE '\\' LIMIT 2",
        (text, pattern))]
    if text in runs or len(runs) == 1:
        run_id = text if text in runs else runs[0]
        models = [r["model"] for r in ws.query("SELECT DISTINCT model FROM answers WHERE run_id = ? LIMIT 2",
                                                (run_id,))]
        return Source(text, model=models[0] if len(models) == 1 else None, run_id=run_id)
    if len(runs) > 1:
        raise CompareError(f"source {text!r} matches more than one run; give more of the run id")
    models = [r["model"] for r in ws.query("SELECT DISTINCT model FROM answers ORDER BY model LIMIT 11")]
    known = ", ".join(models[:10]) + (", …" if len(models) > 10 else "") if models else "none"
    raise CompareError(f"source {text!r} names no model and no run with answers (models: {known})")


def answer_sources(ws: Workspace, set_name: str | None = None) -> list[dict]:
    """What can be compared: every model with answers, then every run with answers (newest first).

    Each: {"source": the SOURCE text (model name or run id), "kind", "model", "answers", "label"}.
    A run's label names its model, its mode when the run records one, when it started and its size.
    """
    where, params = answer_filter(set_name=set_name)
    scope = f"WHERE {' AND '.join(where)}" if where else ""
    models = _rows(ws, f"SELECT a.model, count(*) FROM answers a {scope} GROUP BY a.model ORDER BY a.model", params)
    runs = _rows(ws, f"""SELECT a.run_id, min(a.model), count(*), r.created_at, r.settings FROM answers a
                         LEFT JOIN runs r ON r.id = a.run_id {scope + ' AND' if scope else 'WHERE'}
                         a.run_id IS NOT NULL GROUP BY a.run_id ORDER BY r.created_at DESC""", params)
    out = [{"source": model, "kind": "model", "model": model, "answers": n,
            "label": f"{model} · {n} answers"} for model, n in models]
    for run_id, model, n, created, settings in runs:
        mode = (json.loads(settings or "{}") or {}).get("mode") if settings else None
        when = f" · {created[:16].replace('T', ' ')}" if created else ""
        out.append({"source": run_id, "kind": "run", "model": model, "answers": n,
                    "label": f"run {run_id[:8]} · {model}{' · ' + mode if mode else ''}{when} · {n} answers"})
    return out


def resolve_rater(ws: Workspace, text: str | None) -> str | None:
    """The rater source's canonical name: MAJORITY, ADJUDICATED_RATER or a rater's name (None stays None)."""
    if text is None:
        return None
    if text.strip().lower() in ("majority", MAJORITY):
        return MAJORITY
    if text.strip().lower() == "adjudicated":
        return ADJUDICATED_RATER
    if ws.scalar("SELECT 1 FROM raters WHERE name = ?", (text,)):
        return text
    known = ", ".join(r["name"] for r in ws.query("SELECT name FROM raters ORDER BY kind, name")) or "none"
    raise CompareError(f"no rater named {text!r} (raters: {known}; or 'majority', 'adjudicated')")


def raters_on(ws: Workspace, source: Source, set_name: str | None = None) -> dict[str, str]:
    """{rater name: kind} of the raters with at least one grade on the source's answers."""
    where, params = answer_filter(model=source.model, run_id=source.run_id, set_name=set_name)
    rows = ws.query(f"""SELECT r.name, r.kind FROM raters r WHERE r.id IN (
                            SELECT g.rater_id FROM grades g JOIN answers a ON a.id = g.answer_id
                            WHERE {' AND '.join(where)})""", params)
    return {r["name"]: r["kind"] for r in rows}


def default_rater(ws: Workspace, sources: list[Source], set_name: str | None = None) -> str:
    """The rater when none is named: the only rater with grades on every source; else the user must choose."""
    common: set[str] | None = None
    clinicians = 0
    for source in sources:
        on = raters_on(ws, source, set_name)
        common = set(on) if common is None else common & set(on)
        clinicians = max(clinicians, sum(kind == "clinician" and name != ADJUDICATED_RATER
                                         for name, kind in on.items()))
    common = common or set()
    if len(common) == 1:
        return next(iter(common))
    if not common:
        raise CompareError("no rater has graded answers of every source: grade them first "
                           "(or name a rater with --rater)")
    options = sorted(common) + (["majority"] if clinicians >= 2 else [])
    raise CompareError(f"several raters graded these answers ({', '.join(options)}): choose one with --rater")


def load_many(ws: Workspace, sources: list[Source], rater: str, set_name: str | None = None) -> list[SourceScores]:
    """Per-question scores of each source from `rater`, reading the grades once for all of them.

    Every answer in any source is scored once with scoring.subset_scores (the
    HealthBench formula, vectorised; the clinicians' majority with
    scoring.majority_verdicts); each source then averages its own answers per
    question.  An answer can belong to several sources (a run, and its model).
    """
    answer_ids: dict[str, int] = {}
    answer_question: list[str] = []
    members: list[list[int]] = []
    for source in sources:
        where, params = answer_filter(model=source.model, run_id=source.run_id, set_name=set_name)
        rows = _rows(ws, f"SELECT a.id, a.question_id FROM answers a WHERE {' AND '.join(where)}", params)
        mine = []
        for answer_id, question_id in rows:
            if answer_id not in answer_ids:
                answer_ids[answer_id] = len(answer_question)
                answer_question.append(question_id)
            mine.append(answer_ids[answer_id])
        members.append(mine)
    overall, axes, axis_names = _answer_scores(ws, answer_ids, _rater_ids(ws, rater))
    themes, prompt_ids = _question_tags(ws, set(answer_question))
    # In prompt-id order, which a workspace's copies and merges share (internal ids differ between
    # workspaces): seeded resamples then pick the same questions wherever the same data is compared.
    questions = sorted(set(answer_question), key=lambda q: (prompt_ids.get(q, ""), q))
    question_index = {q: k for k, q in enumerate(questions)}
    answer_q = np.fromiter(map(question_index.__getitem__, answer_question), dtype=np.int64,
                           count=len(answer_question))
    out = []
    for source, mine in zip(sources, members):
        mine = np.asarray(mine, dtype=np.int64)
        means = _per_question(answer_q[mine], overall[mine], len(questions))
        # An answer without an overall score has no axis score either (no positive criterion graded).
        by_axis = {name: _per_question(answer_q[mine], axes[mine, a], len(questions))
                   for a, name in enumerate(axis_names)}
        answered = overall[mine][~np.isnan(overall[mine])]
        out.append(SourceScores(source=source, rater=rater, questions=questions, scores=means,
                                axes={k: v for k, v in by_axis.items() if (~np.isnan(v)).any()},
                                themes=[themes.get(q, ()) for q in questions], answers=len(answered),
                                answer_mean=float(answered.mean()) if len(answered) else None))
    return out


def _rater_ids(ws: Workspace, rater: str) -> dict[str, bool]:
    """{rater id: is a vote} — the rater's own id, or every clinician's (not the adjudicated) for the majority."""
    if rater == MAJORITY:
        rows = ws.query("SELECT id FROM raters WHERE kind = 'clinician' AND name != ?", (ADJUDICATED_RATER,))
        return {r["id"]: True for r in rows}
    rater_id = ws.scalar("SELECT id FROM raters WHERE name = ?", (rater,))
    return {rater_id: False} if rater_id else {}


def _answer_scores(ws: Workspace, answer_ids: dict[str, int], raters: dict[str, bool]):
    """Per answer: the overall score and each axis subscore (NaN: no score), and the axis names.

    Built for 5 models x 5,000 questions: the grade rows are turned into index arrays with C-level
    map() calls, not a Python loop.
    """
    n_answers = len(answer_ids)
    if not raters or not n_answers:
        return np.full(n_answers, np.nan), np.full((n_answers, 0), np.nan), []
    marks = ", ".join("?" * len(raters))
    rows = _rows(ws, f"""SELECT answer_id, criterion_id, CASE verdict WHEN 'met' THEN 1 WHEN 'not_met' THEN 0 END
                         FROM grades WHERE rater_id IN ({marks})""", list(raters))
    criterion_index, points, pair_criterion, pair_axis, axis_names = _criteria(ws)
    if not rows:
        return np.full(n_answers, np.nan), np.full((n_answers, len(axis_names)), np.nan), axis_names
    answer_col, criterion_col, verdict_col = zip(*rows)
    a_idx = np.fromiter(map(answer_ids.get, answer_col, itertools.repeat(-1)), dtype=np.int64, count=len(rows))
    c_idx = np.fromiter(map(criterion_index.get, criterion_col), dtype=np.int64, count=len(rows))
    met = np.array(verdict_col, dtype=float)  # None (cannot judge, no verdict) becomes NaN
    mine = a_idx >= 0  # the others are another model's, run's or set's answers
    a_idx, c_idx, met = a_idx[mine], c_idx[mine], met[mine]
    n_criteria = len(points)
    if any(raters.values()):  # the clinicians' majority: one verdict per (answer, criterion)
        keys, inverse = np.unique(a_idx * n_criteria + c_idx, return_inverse=True)
        verdicts = majority_verdicts(np.bincount(inverse, weights=met == 1.0, minlength=len(keys)),
                                     np.bincount(inverse, weights=met == 0.0, minlength=len(keys)))
        a_idx, c_idx, met = keys // n_criteria, keys % n_criteria, verdicts
    overall = subset_scores(a_idx, points[c_idx], met, n_answers)
    # Axis subscores: each row once per (criterion, axis tag) pair of its criterion (normally exactly one).
    per_criterion = np.bincount(pair_criterion, minlength=n_criteria)
    first = np.concatenate(([0], np.cumsum(per_criterion)[:-1]))
    repeat = per_criterion[c_idx]
    row = np.repeat(np.arange(len(c_idx)), repeat)
    within = np.arange(len(row)) - np.repeat(np.cumsum(repeat) - repeat, repeat)
    axis = pair_axis[first[c_idx][row] + within]
    n_axes = len(axis_names)
    axes = subset_scores(a_idx[row] * n_axes + axis, points[c_idx][row], met[row], n_answers * n_axes)
    return overall, axes.reshape(n_answers, n_axes), axis_names


def _criteria(ws: Workspace):
    """Every criterion: {id: index}, points by index, its (criterion, axis) pairs sorted by criterion,
    and the axis names the pairs index."""
    rows = _rows(ws, "SELECT id, points, tags FROM criteria")
    index = {cid: k for k, (cid, _, _) in enumerate(rows)}
    points = np.fromiter((pts for _, pts, _ in rows), dtype=float, count=len(rows))
    parsed: dict[str, tuple[str, ...]] = {}  # a few distinct tag lists recur on thousands of criteria
    for _, _, tags in rows:
        if tags not in parsed:
            parsed[tags] = tuple(sorted({t for t in json.loads(tags) if t.startswith("axis:")}))
    names = sorted({name for axes in parsed.values() for name in axes})
    number = {name: k for k, name in enumerate(names)}
    pairs = [(k, number[name]) for k, (_, _, tags) in enumerate(rows) for name in parsed[tags]]
    pair_criterion = np.array([k for k, _ in pairs], dtype=np.int64)
    pair_axis = np.array([a for _, a in pairs], dtype=np.int64)
    return index, points, pair_criterion, pair_axis, names


def _question_tags(ws: Workspace, wanted: set[str]) -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """Theme tags and prompt id of each wanted question."""
    parsed: dict[str, tuple[str, ...]] = {}
    themes, prompt_ids = {}, {}
    for qid, prompt_id, tags in _rows(ws, "SELECT id, prompt_id, example_tags FROM questions"):
        if qid in wanted:
            if tags not in parsed:
                parsed[tags] = tuple(t for t in json.loads(tags) if t.startswith("theme:"))
            themes[qid], prompt_ids[qid] = parsed[tags], prompt_id
    return themes, prompt_ids


def _rows(ws: Workspace, sql: str, params=()) -> list[tuple]:
    """Plain tuples (not dicts: these are the large reads), under the workspace's lock."""
    with ws._lock:
        return ws.conn.execute(sql, params).fetchall()


def _per_question(question_of: np.ndarray, values: np.ndarray, n_questions: int) -> np.ndarray:
    """Mean per question of the values that are not NaN (NaN where a question has none)."""
    present = ~np.isnan(values)
    sums = np.bincount(question_of[present], weights=values[present], minlength=n_questions)
    counts = np.bincount(question_of[present], minlength=n_questions)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
