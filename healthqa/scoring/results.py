"""Scores of the workspace: the grades of each (model, rater) through formula.py.

Every figure is computed from `grades`; nothing here is stored.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field

from ..domain import INCOMPLETE_ANSWERS
from ..store import ADJUDICATED_RATER, Workspace, answer_filter
from .formula import GradedCriterion, GradedExample, majority_verdict, score_examples, worst_at_k

MAJORITY = "clinicians (majority)"
_MET = {"met": True, "not_met": False}


def _graded_rows(ws: Workspace, *, model: str | None, set_name: str | None, run_id: str | None,
                 rater: str | None = None, exclude_truncated: bool = False) -> list[tuple]:
    """(answer, model, question, output tokens, rater, kind, criterion, verdict, finish reason) rows in scope.

    With one rater asked for, only the grades that can matter are read: that
    rater's, or the clinicians' for their majority.
    """
    where, params = answer_filter(model=model, run_id=run_id, set_name=set_name, exclude_truncated=exclude_truncated)
    if rater in (MAJORITY, "majority"):
        where.append("r.kind = 'clinician' AND r.name != ?")
        params.append(ADJUDICATED_RATER)
    elif rater is not None:
        where.append("r.name = ?")
        params.append(rater)
    sql = f"""SELECT a.id, a.model, a.question_id, a.output_tokens, r.name, r.kind, g.criterion_id, g.verdict,
                     a.finish_reason
              FROM grades g JOIN answers a ON a.id = g.answer_id JOIN raters r ON r.id = g.rater_id
              {'WHERE ' + ' AND '.join(where) if where else ''}"""
    with ws._lock:
        return ws.conn.execute(sql, params).fetchall()


def _rubrics(ws: Workspace, question_ids: set[str]) -> tuple[dict, dict]:
    """Criteria (id, points, tags) per question, and each question's example tags."""
    criteria: dict[str, list[tuple[str, int, tuple[str, ...]]]] = defaultdict(list)
    tags: dict[str, tuple[str, ...]] = {}
    parsed: dict[str, tuple[str, ...]] = {}  # a few distinct tag lists recur on thousands of criteria

    def parse(text: str) -> tuple[str, ...]:
        if text not in parsed:
            parsed[text] = tuple(json.loads(text))
        return parsed[text]

    with ws._lock:
        for qid, cid, points, ctags in ws.conn.execute(
                "SELECT question_id, id, points, tags FROM criteria ORDER BY question_id, position"):
            if qid in question_ids:
                criteria[qid].append((cid, points, parse(ctags)))
        for qid, etags in ws.conn.execute("SELECT id, example_tags FROM questions"):
            if qid in question_ids:
                tags[qid] = parse(etags)
    return criteria, tags


def flagged_criterion_ids(ws: Workspace) -> set[str]:
    """Criteria that any clinician flagged as wrong or ambiguous."""
    return {r["criterion_id"] for r in ws.query("SELECT DISTINCT criterion_id FROM criterion_flags")}


@dataclass
class GradedAnswers:
    """One (model, rater)'s graded answers, ready for formula.py: (answer_id, question_id, example) each."""

    model: str
    rater: str
    rater_kind: str
    answers: list[tuple[str, str, GradedExample]]
    # Answers cut off or filtered (domain.INCOMPLETE_ANSWERS), by label: {"Cut off": n, ...}
    incomplete: dict[str, int] = field(default_factory=dict)


def graded_answers(ws: Workspace, *, model: str | None = None, rater: str | None = None,
                   set_name: str | None = None, run_id: str | None = None,
                   without_flagged: bool = False, exclude_truncated: bool = False) -> list[GradedAnswers]:
    """The graded answers of each (model, rater) in scope, sorted by (model, rater).

    `rater` may be a rater's name or MAJORITY ("majority" works too) for the
    clinicians' majority verdict; without it every rater is taken, plus the
    majority wherever at least two clinicians graded the same model.
    `without_flagged` leaves out the criteria a clinician flagged (published
    rubrics contain errors), as if the rubric lacked them. `exclude_truncated`
    leaves out answers cut off at the output cap or stopped by a filter.
    """
    rows = _graded_rows(ws, model=model, set_name=set_name, run_id=run_id, rater=rater,
                        exclude_truncated=exclude_truncated)
    # verdicts[(model, rater)][answer_id] = {criterion_id: met}
    verdicts: dict[tuple[str, str], dict[str, dict[str, bool | None]]] = defaultdict(lambda: defaultdict(dict))
    votes: dict[str, dict[str, dict[str, list[bool]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    clinicians_per_model: dict[str, set[str]] = defaultdict(set)
    answer_info: dict[str, tuple[str, int | None]] = {}
    incomplete: dict[str, str] = {}  # answer id -> "Cut off" / "Filtered" / "Refused"
    kinds: dict[str, str] = {}
    for answer_id, answer_model, question_id, out_tokens, rater_name, kind, criterion_id, verdict, finish in rows:
        answer_info[answer_id] = (question_id, out_tokens)
        if finish in INCOMPLETE_ANSWERS:
            incomplete[answer_id] = INCOMPLETE_ANSWERS[finish]
        kinds[rater_name] = kind
        met = _MET.get(verdict)
        verdicts[(answer_model, rater_name)][answer_id][criterion_id] = met
        if kind == "clinician" and rater_name != ADJUDICATED_RATER:
            clinicians_per_model[answer_model].add(rater_name)
            if met is not None:
                votes[answer_model][answer_id][criterion_id].append(met)
            else:
                votes[answer_model][answer_id]  # graded, even if only "cannot judge"
    for answer_model, by_answer in votes.items():
        wanted = rater in (MAJORITY, "majority") or (rater is None and len(clinicians_per_model[answer_model]) >= 2)
        if wanted:
            verdicts[(answer_model, MAJORITY)] = {
                a: {c: majority_verdict(v) for c, v in crits.items()} for a, crits in by_answer.items()
            }
            kinds[MAJORITY] = "clinician"
    criteria, example_tags = _rubrics(ws, {q for q, _ in answer_info.values()})
    left_out = flagged_criterion_ids(ws) if without_flagged else set()
    out = []
    for (answer_model, rater_name), by_answer in sorted(verdicts.items()):
        if rater not in (None, rater_name) and not (rater == "majority" and rater_name == MAJORITY):
            continue
        answers = []
        for answer_id, given in by_answer.items():
            question_id, out_tokens = answer_info[answer_id]
            answers.append((answer_id, question_id, GradedExample(
                example_tags=example_tags.get(question_id, ()),
                criteria=[GradedCriterion(points, given.get(cid), ctags) for cid, points, ctags in criteria[question_id]
                          if cid not in left_out],
                output_tokens=out_tokens,
            )))
        cut: dict[str, int] = defaultdict(int)
        for answer_id in by_answer:
            if answer_id in incomplete:
                cut[incomplete[answer_id]] += 1
        out.append(GradedAnswers(answer_model, rater_name, kinds[rater_name], answers, dict(cut)))
    return out


def score_workspace(ws: Workspace, *, model: str | None = None, rater: str | None = None,
                    set_name: str | None = None, run_id: str | None = None,
                    n_boot: int = 1000, without_flagged: bool = False,
                    worst_at: tuple[int, ...] = (), exclude_truncated: bool = False) -> list[dict]:
    """One entry per (model, rater): {model, rater, rater_kind, score, ungraded, unscored, answers,
    incomplete, metrics}.

    Scope and raters as in `graded_answers`. `incomplete` counts the answers
    cut off or filtered, by label; `exclude_truncated` scores without them.
    `worst_at` adds {"worst_at_k": {k: {"value", "prompts"}}} for runs with
    several samples per question (HealthBench's worst-at-k reliability).
    """
    results = []
    for group in graded_answers(ws, model=model, rater=rater, set_name=set_name, run_id=run_id,
                                without_flagged=without_flagged, exclude_truncated=exclude_truncated):
        answer_model, rater_name = group.model, group.rater
        prompts = [question_id for _, question_id, _ in group.answers]
        examples = [example for _, _, example in group.answers]
        result = score_examples(examples, n_boot=n_boot)
        tokens = [e.output_tokens for e in examples if e.output_tokens is not None]
        results.append({
            "model": answer_model,
            "rater": rater_name,
            "rater_kind": group.rater_kind,
            "answers": len(examples),
            "incomplete": group.incomplete,
            "mean_output_tokens": sum(tokens) / len(tokens) if tokens else None,
            **result.as_json(),
        })
        if worst_at:
            by_prompt: dict[str, list[float]] = defaultdict(list)
            for question_id, example in zip(prompts, result.per_example):
                if example.score is not None:
                    by_prompt[question_id].append(example.score)
            results[-1]["worst_at_k"] = {
                str(k): dict(zip(("value", "prompts"), worst_at_k(list(by_prompt.values()), k))) for k in worst_at}
    return results


def graded_examples(ws: Workspace, *, run_id: str, rater: str) -> list[GradedExample]:
    """One rater's grades of one run's answers, as scoring.py takes them (answers in run order).

    For checks that recompute another tool's own figures from the stored grades
    (formats/inspect_log.py); HealthQA's scores come from `score_workspace`.
    """
    answers = [entry for group in graded_answers(ws, run_id=run_id, rater=rater) for entry in group.answers]
    order = {r["id"]: i for i, r in enumerate(ws.query(
        "SELECT id FROM answers WHERE run_id = ? ORDER BY question_id, sample", (run_id,)))}
    return [example for answer_id, _, example in sorted(answers, key=lambda entry: order.get(entry[0], 0))]
