"""What is compared: an answer source's per-question scores under one rater source.

A SOURCE is a model name (every answer from that model) or a run id (or a
unique prefix of one): the answers of that run, whatever model or mode
produced them.  A rater source is a rater's name (a clinician or a model
grader), "majority" (the clinicians' majority verdict per criterion) or
"adjudicated" (the final verdicts recorded by adjudication).

Each answer is scored by scoring.py through results.graded_answers (the one
score formula, the one majority rule); a question's score is the mean over
its scored samples, and so is each of its axis subscores (an axis score is
the HealthBench score over the criteria carrying that axis tag).  A
question whose answers this rater left unscored is not a question of this
source, so it is counted as answered by one side only, never guessed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from ..errors import HealthQAError
from ..results import MAJORITY, graded_answers
from ..scoring import score_example
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
    """Per question (by question id): the overall score, each axis subscore and the theme tags."""

    source: Source
    rater: str
    overall: dict[str, float] = field(default_factory=dict)
    axes: dict[str, dict[str, float]] = field(default_factory=dict)  # "axis:accuracy" -> {question: score}
    themes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # question -> ("theme:hedging",)
    answers: int = 0  # scored answers behind `overall`


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


def load_scores(ws: Workspace, source: Source, rater: str, set_name: str | None = None) -> SourceScores:
    """Per-question scores of `source` from `rater` (canonical name, see resolve_rater)."""
    per_question: dict[str, list[float]] = defaultdict(list)
    per_axis: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    themes: dict[str, tuple[str, ...]] = {}
    answers = 0
    for group in graded_answers(ws, model=source.model, run_id=source.run_id, rater=rater, set_name=set_name):
        for _answer_id, question_id, example in group.answers:
            scored = score_example(example)
            if scored.score is None:
                continue  # no positive-point criterion with a verdict: no score (as scoring counts it)
            answers += 1
            per_question[question_id].append(scored.score)
            themes[question_id] = tuple(t for t in example.example_tags if t.startswith("theme:"))
            for tag, value in scored.metrics.items():
                if tag.startswith("axis:"):
                    per_axis[tag][question_id].append(value)
    return SourceScores(
        source=source, rater=rater,
        overall={q: sum(v) / len(v) for q, v in per_question.items()},
        axes={tag: {q: sum(v) / len(v) for q, v in by_q.items()} for tag, by_q in per_axis.items()},
        themes=themes, answers=answers,
    )
