"""Who grades which answer: a pool of answers shared among named clinicians.

`assign` gives every answer of a pool (a run's, a set's, a model's, or any
mix of those filters) to `overlap` of the named clinicians, so that each
answer is graded by k of them and agreement can be measured:

- **balanced**: each answer goes to the clinicians with the fewest answers
  of this pool so far, so on a fresh pool their loads differ by at most one;
- **deterministic**: answers are taken in a seeded random order and ties
  are broken by the same seeded generator, so one seed gives one plan;
- **idempotent**: existing assignments are kept and count towards k, so
  running it again assigns nothing new, and adding a clinician or answers
  later only fills the gaps;
- **blinded**: the listings here show a clinician's own progress only,
  never anyone's verdicts;
- **sampled** (optional): `sample=N` hands out a seeded random N of the
  pool instead of all of it, and `stratify="theme"` draws it theme by
  theme: every theme present gets at least one answer (when N allows) and
  the rest goes in proportion to each theme's share of the pool (largest
  remainder). An audit of an imported run: a clinician grades such a sample
  and the agreement panel sets the run's model grader against them.

A clinician's queue order in the grading panel is `review.grading_queue`'s;
`position` here is the order in which answers were handed out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Sequence

from ..domain import RaterKind
from ..errors import HealthQAError
from ..store import Workspace, answer_rows, ensure_rater, now, rater_id_or_error, set_id_or_error


class AssignmentError(HealthQAError):
    """An assignment that cannot be made; the message says why."""


STRATA = ("theme",)  # what a sample can be stratified by


@dataclass
class AssignReport:
    answers: int
    overlap: int
    created: int
    kept: int
    loads: dict[str, int] = field(default_factory=dict)  # rater name -> answers of this pool assigned
    pool: int | None = None  # answers the sample was drawn from (None: no sample, the whole pool)
    strata: dict[str, int] = field(default_factory=dict)  # theme -> answers in the sample

    def summary(self) -> str:
        loads = ", ".join(f"{name} {count}" for name, count in self.loads.items())
        text = (f"{self.answers} answers, each for {self.overlap} of {len(self.loads)} clinicians: "
                f"{self.created} new assignments ({self.kept} kept); answers per clinician: {loads}")
        if self.pool is not None:
            by = "; by theme: " + ", ".join(f"{k} {v}" for k, v in self.strata.items()) if self.strata else ""
            text = f"A random sample of {self.answers} of {self.pool} answers{by}.\n" + text
        return text


def _pool(ws: Workspace, *, run_id: str | None, set_name: str | None, model: str | None) -> list[str]:
    set_id = None
    if set_name is not None:
        set_id = set_id_or_error(ws, set_name, AssignmentError)
    rows = answer_rows(ws, run_id=run_id, set_id=set_id, model=model)
    # A failed call has no answer to grade.
    return [r["id"] for r in rows if r["error"] is None]


def _rater_ids(ws: Workspace, names: Sequence[str]) -> dict[str, str]:
    names = [n.strip() for n in names]
    if not names or any(not n for n in names):
        raise AssignmentError("name the clinicians, e.g. --raters 'Dr A,Dr B,Dr C'")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise AssignmentError(f"clinician named twice: {', '.join(duplicates)}")
    ids = {}
    for name in names:
        try:
            ids[name] = ensure_rater(ws, name, RaterKind.CLINICIAN)
        except ValueError as exc:  # the name belongs to a model grader
            raise AssignmentError(str(exc)) from None
    return ids


def sample_answers(ws: Workspace, answers: list[str], size: int, *, stratify: str | None = None,
                   seed: int = 0) -> tuple[list[str], dict[str, int]]:
    """A seeded random `size` of `answers` (all when fewer), optionally stratified by theme.

    Returns the sample (in pool order) and, when stratified, how many each theme got.
    """
    if size < 1:
        raise AssignmentError(f"a sample needs at least one answer, not {size}")
    if stratify is not None and stratify not in STRATA:
        raise AssignmentError(f"a sample can be stratified by {', '.join(STRATA)}, not {stratify!r}")
    rng = random.Random(seed)
    theme_of: dict[str, str] = {}
    if stratify is not None:
        for start in range(0, len(answers), 500):
            part = answers[start:start + 500]
            theme_of.update((r["id"], r["theme"] or "(no theme)") for r in ws.query(
                f"""SELECT a.id, q.theme FROM answers a JOIN questions q ON q.id = a.question_id
                    WHERE a.id IN ({','.join('?' * len(part))})""", part))
    if size >= len(answers):
        chosen = set(answers)
    elif stratify is None:
        chosen = set(rng.sample(answers, size))
    else:
        groups: dict[str, list[str]] = {}
        for answer_id in answers:
            groups.setdefault(theme_of[answer_id], []).append(answer_id)
        quotas = _quotas({theme: len(ids) for theme, ids in sorted(groups.items())}, size, rng)
        chosen = {a for theme, n in quotas.items() for a in rng.sample(groups[theme], n)}
    sample = [a for a in answers if a in chosen]
    if stratify is None:
        return sample, {}
    counts: dict[str, int] = {}
    for answer_id in sample:
        counts[theme_of[answer_id]] = counts.get(theme_of[answer_id], 0) + 1
    return sample, dict(sorted(counts.items()))


def _quotas(sizes: dict[str, int], total: int, rng: random.Random) -> dict[str, int]:
    """Per stratum: one each first (so no theme is missed), the rest by largest remainder of its share."""
    strata = list(sizes)
    if total < len(strata):  # not enough for one each: a random choice of themes, one answer each
        return dict.fromkeys(rng.sample(strata, total), 1)
    left = total - len(strata)
    weight = sum(sizes[s] - 1 for s in strata)  # at least `left`, since the sample is smaller than the pool
    exact = {s: left * (sizes[s] - 1) / weight if weight else 0.0 for s in strata}
    quotas = {s: 1 + int(exact[s]) for s in strata}
    # The fractions add up to what rounding down left out; the largest get one more each.
    by_fraction = sorted(strata, key=lambda s: (int(exact[s]) - exact[s], -sizes[s], s))
    for s in by_fraction[:total - sum(quotas.values())]:
        quotas[s] += 1
    return quotas


def assign(ws: Workspace, raters: Sequence[str], overlap: int, *, run_id: str | None = None,
           set_name: str | None = None, model: str | None = None, seed: int = 0, sample: int | None = None,
           stratify: str | None = None) -> AssignReport:
    """Give each answer of the pool (or of a random sample of it) to `overlap` of `raters` (module docstring)."""
    if not 1 <= overlap <= len(raters):
        raise AssignmentError(f"overlap must be from 1 to the number of clinicians ({len(raters)}), not {overlap}")
    if stratify is not None and sample is None:
        raise AssignmentError("--stratify draws a sample: give its size with --sample N")
    answers = _pool(ws, run_id=run_id, set_name=set_name, model=model)
    if not answers:
        raise AssignmentError("no answers match (check --run, --set and --model)")
    pool_size, strata = None, {}
    if sample is not None:
        pool_size = len(answers)
        answers, strata = sample_answers(ws, answers, sample, stratify=stratify, seed=seed)
    with ws.transaction({"assignments", "raters"}) as conn:
        ids = _rater_ids(ws, raters)
        by_id = {rid: name for name, rid in ids.items()}
        pool = set(answers)
        holders: dict[str, set[str]] = {a: set() for a in answers}
        loads = dict.fromkeys(ids.values(), 0)
        marks = ",".join("?" * len(ids))
        for answer_id, rater_id in conn.execute(
                f"SELECT answer_id, rater_id FROM assignments WHERE rater_id IN ({marks})", list(ids.values())):
            if answer_id in pool:
                holders[answer_id].add(rater_id)
                loads[rater_id] += 1
        kept = sum(loads.values())
        next_position = {rid: 0 for rid in ids.values()}
        for rater_id, top in conn.execute(
                f"SELECT rater_id, max(position) FROM assignments WHERE rater_id IN ({marks}) GROUP BY rater_id",
                list(ids.values())):
            next_position[rater_id] = top + 1
        rng = random.Random(seed)
        order = list(answers)
        rng.shuffle(order)
        rater_order = list(ids.values())  # insertion order of the names given: part of the seed's plan
        new_rows, stamp = [], now()
        for answer_id in order:
            have = holders[answer_id]
            need = overlap - len(have)
            if need <= 0:
                continue
            # Fewest answers first; a fresh random key per answer breaks ties, so pairs of
            # clinicians vary instead of the same two always grading together.
            ranked = sorted((r for r in rater_order if r not in have), key=lambda r: (loads[r], rng.random()))
            for rater_id in ranked[:need]:
                new_rows.append((answer_id, rater_id, next_position[rater_id], stamp))
                next_position[rater_id] += 1
                loads[rater_id] += 1
        conn.executemany("INSERT INTO assignments (answer_id, rater_id, position, created_at) VALUES (?, ?, ?, ?)",
                         new_rows)
    return AssignReport(answers=len(answers), overlap=overlap, created=len(new_rows), kept=kept,
                        loads={by_id[rid]: loads[rid] for rid in rater_order}, pool=pool_size, strata=strata)


# -- reading assignments (blinded: a clinician's own progress only) ---------------------

_QUEUE_SQL = """
SELECT r.name AS rater, s.position, s.answer_id, q.prompt_id, q.theme, a.model, a.run_id,
       (SELECT count(*) FROM criteria c WHERE c.question_id = a.question_id) AS criteria,
       (SELECT count(*) FROM grades g WHERE g.answer_id = s.answer_id AND g.rater_id = s.rater_id
            AND g.verdict IS NOT NULL) AS graded,
       (SELECT v.submitted_at IS NOT NULL FROM answer_reviews v
            WHERE v.answer_id = s.answer_id AND v.rater_id = s.rater_id) AS submitted
FROM assignments s JOIN raters r ON r.id = s.rater_id
JOIN answers a ON a.id = s.answer_id JOIN questions q ON q.id = a.question_id
{where}
ORDER BY r.name, s.position
"""


def list_assignments(ws: Workspace, rater: str | None = None) -> list[dict]:
    """Assigned answers with the assignee's own progress (graded criteria, submitted)."""
    where, params = "", []
    if rater is not None:
        rater_id = rater_id_or_error(ws, rater, AssignmentError)
        where, params = "WHERE s.rater_id = ?", [rater_id]
    rows = ws.query(_QUEUE_SQL.format(where=where), params)
    for row in rows:
        row["submitted"] = bool(row["submitted"])
    return rows


def assignment_summary(ws: Workspace) -> list[dict]:
    """Per clinician: answers assigned, submitted, and started but not submitted."""
    out: dict[str, dict] = {}
    for row in list_assignments(ws):
        entry = out.setdefault(row["rater"], {"rater": row["rater"], "assigned": 0, "submitted": 0, "started": 0})
        entry["assigned"] += 1
        entry["submitted"] += row["submitted"]
        entry["started"] += bool(row["graded"]) and not row["submitted"]
    return list(out.values())


def assigned_answer_ids(ws: Workspace, rater_id: str, *, run_id: str | None = None) -> list[str]:
    """A clinician's assigned answers in hand-out order, optionally one run's only."""
    sql = "SELECT s.answer_id FROM assignments s JOIN answers a ON a.id = s.answer_id WHERE s.rater_id = ?"
    params: list = [rater_id]
    if run_id is not None:
        sql += " AND a.run_id = ?"
        params.append(run_id)
    return [r["answer_id"] for r in ws.query(sql + " ORDER BY s.position", params)]
