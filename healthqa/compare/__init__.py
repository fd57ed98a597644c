"""Is the difference real?  Paired comparisons of answer sources (models or runs) under one rater.

    compare_sources(ws, "model-a", "model-b", rater="majority", by="theme").as_json()
    compare_all(ws, ["m1", "m2", "m3"], rater="grader")      # every pair, Holm-adjusted p

On the questions both sources have a score for (from the same rater
source), Δ = mean(A − B) of the per-question scores, with a paired
bootstrap percentile interval over questions, a two-sided paired sign-flip
permutation p-value, wins / ties / losses, the standard deviation of the
differences and the questions a paired t-test would need to detect |Δ|
with 80 % and 90 % power.  Optionally the same per theme (each question's
overall score) or per axis (each question's axis subscore).

Δ is a difference of unclipped means: HealthBench clips a reported score to
[0, 1] once, after averaging; a paired difference is taken before that.

Every pair and breakdown draws its resamples and sign flips from a stream
seeded by the breakdown's name alone, so a pair's figures are the same
whether it is compared alone or among many; pairs on the same questions are
computed together, as columns of one matrix product.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from ..store import Workspace, set_id_by_name
from .paired import (N_BOOT, N_FLIPS, bootstrap_ci, holm, mean_delta, rng_for, sd_diff, sign_flip_p,
                     wins_ties_losses)
from .power import ALPHA, questions_needed
from .sources import (CompareError, Source, SourceScores, answer_sources, default_rater, load_many, resolve_rater,
                      resolve_source)

BY_CHOICES = ("theme", "axis")
OVERALL = "overall"

__all__ = ["ALPHA", "BY_CHOICES", "N_BOOT", "N_FLIPS", "CompareError", "Comparison", "MultiComparison", "Source",
           "SourceScores", "answer_sources", "compare_all", "compare_loaded", "compare_sources", "default_rater",
           "holm", "load_many", "questions_needed", "resolve_rater", "resolve_source"]


@dataclass
class Comparison:
    """One pair A − B.  `by` maps a tag ("theme:hedging", "axis:accuracy") to its own figures."""

    a: str
    b: str
    rater: str
    n_questions: int
    n_only_a: int
    n_only_b: int
    delta: float | None = None
    delta_ci: tuple[float, float] | None = None
    p_value: float | None = None
    p_holm: float | None = None  # Holm-adjusted over the family of pairs (= p_value for one pair)
    wins: int = 0
    ties: int = 0
    losses: int = 0
    sd_diff: float | None = None
    questions_needed: dict = field(default_factory=lambda: questions_needed(None, None))
    by: dict[str, dict] = field(default_factory=dict)
    a_source: Source | None = None
    b_source: Source | None = None

    def as_json(self) -> dict:
        """The `healthqa compare --json` object (its keys are a contract), plus the sources' kinds."""
        return {
            "a": self.a, "b": self.b, "rater": self.rater,
            "n_questions": self.n_questions, "n_only_a": self.n_only_a, "n_only_b": self.n_only_b,
            "delta": self.delta, "delta_ci": list(self.delta_ci) if self.delta_ci else [None, None],
            "p_value": self.p_value, "p_holm": self.p_holm,
            "wins": self.wins, "ties": self.ties, "losses": self.losses,
            "sd_diff": self.sd_diff, "questions_needed": dict(self.questions_needed),
            "by": {tag: dict(entry, delta_ci=list(entry["delta_ci"]) if entry["delta_ci"] else [None, None])
                   for tag, entry in self.by.items()},
            "a_source": self.a_source.as_json() if self.a_source else None,
            "b_source": self.b_source.as_json() if self.b_source else None,
        }

    def needs_line(self) -> str | None:
        """'a difference of 0.027 on these questions needs about N questions' (None when undefined)."""
        n80, n90 = self.questions_needed.get("power_80"), self.questions_needed.get("power_90")
        if self.delta is None or n80 is None:
            return None
        return (f"a difference of {abs(self.delta):.3f} on these questions needs about {n80:,} questions "
                f"(80% power; {n90:,} for 90%) at α = {ALPHA}, with sd of the differences {self.sd_diff:.3f}")


@dataclass
class MultiComparison:
    """Every pair of several sources; p_holm is adjusted over all pairs."""

    rater: str
    sources: list[str]
    pairs: list[Comparison]

    def as_json(self) -> dict:
        return {"rater": self.rater, "sources": self.sources, "pairs": [p.as_json() for p in self.pairs]}


# -- public API --------------------------------------------------------------------------------

def compare_sources(ws: Workspace, a: str, b: str, rater: str | None = None, set_name: str | None = None,
                    by: str | tuple[str, ...] | None = None, *, n_boot: int = N_BOOT,
                    n_flips: int = N_FLIPS) -> Comparison:
    """A − B on the questions both have scores for.  CompareError for a source naming nothing, no
    question in common, or a rater with no grades on either."""
    return compare_all(ws, [a, b], rater, set_name, by, n_boot=n_boot, n_flips=n_flips).pairs[0]


def compare_all(ws: Workspace, sources: list[str], rater: str | None = None, set_name: str | None = None,
                by: str | tuple[str, ...] | None = None, *, n_boot: int = N_BOOT, n_flips: int = N_FLIPS,
                require_overlap: bool = True) -> MultiComparison:
    """Every pair (i < j, in the order given) of `sources`, with Holm-adjusted p-values.

    `require_overlap=False` keeps a pair with no question in common (all its figures None) instead
    of refusing; the report uses that so one disjoint pair does not hide the others.
    """
    if len(sources) < 2:
        raise CompareError("a comparison needs at least two sources")
    if len(set(sources)) != len(sources):
        raise CompareError("a source is named twice: compare different models or runs")
    if set_name and set_id_by_name(ws, set_name) is None:
        raise CompareError(f"no question set named {set_name!r}")
    resolved = [resolve_source(ws, s) for s in sources]
    rater_name = resolve_rater(ws, rater) if rater else default_rater(ws, resolved, set_name)
    loaded = load_many(ws, resolved, rater_name, set_name)
    for s in loaded:
        if not s.scored.any():
            raise CompareError(f"{rater or rater_name!r} has no scored grades on the answers of {s.source.text!r}"
                               + (f" in set {set_name!r}" if set_name else ""))
    return compare_loaded(loaded, by, n_boot=n_boot, n_flips=n_flips, require_overlap=require_overlap)


def compare_loaded(loaded: list[SourceScores], by: str | tuple[str, ...] | None = None, *, n_boot: int = N_BOOT,
                   n_flips: int = N_FLIPS, require_overlap: bool = True) -> MultiComparison:
    """The statistics for every pair of already loaded sources (same rater)."""
    kinds = _by_kinds(by)
    if any(s.questions is not loaded[0].questions and s.questions != loaded[0].questions for s in loaded):
        raise ValueError("sources must be loaded together (load_many), on one list of questions")
    theme_rows = _theme_rows(loaded[0].themes) if "theme" in kinds else {}
    jobs: list[_Job] = []
    pairs: list[Comparison] = []
    for i, j in itertools.combinations(range(len(loaded)), 2):
        a, b = loaded[i], loaded[j]
        both = a.scored & b.scored
        common = np.flatnonzero(both)
        if not len(common) and require_overlap:
            raise CompareError(f"{a.source.text!r} and {b.source.text!r} have no scored question in common")
        pair = Comparison(a.source.text, b.source.text, a.rater, len(common),
                          int((a.scored & ~b.scored).sum()), int((b.scored & ~a.scored).sum()),
                          a_source=a.source, b_source=b.source)
        pairs.append(pair)
        jobs += _jobs(len(pairs) - 1, a, b, both, theme_rows, "axis" in kinds)
    _run(jobs, pairs, n_boot=n_boot, n_flips=n_flips)
    for pair in pairs:
        pair.by = dict(sorted(pair.by.items()))
    adjusted = holm([p.p_value for p in pairs])
    for pair, p in zip(pairs, adjusted):
        pair.p_holm = p
    return MultiComparison(loaded[0].rater if loaded else "", [s.source.text for s in loaded], pairs)


# -- the statistics, batched ---------------------------------------------------------------------

@dataclass
class _Job:
    pair: int
    tag: str  # OVERALL or a theme / axis tag
    rows: np.ndarray  # indices of the questions (in the sources' shared list)
    d: np.ndarray

    @property
    def key(self) -> tuple[str, bytes]:
        return self.tag, self.rows.tobytes()


def _by_kinds(by) -> tuple[str, ...]:
    if not by:
        return ()
    kinds = (by,) if isinstance(by, str) else tuple(by)
    unknown = [k for k in kinds if k not in BY_CHOICES]
    if unknown:
        raise CompareError(f"--by must be one of {', '.join(BY_CHOICES)}, not {unknown[0]!r}")
    return kinds


def _theme_rows(themes: list[tuple[str, ...]]) -> dict[str, np.ndarray]:
    """{theme tag: boolean mask over the questions}."""
    masks: dict[str, np.ndarray] = {}
    for k, tags in enumerate(themes):
        for tag in tags:
            masks.setdefault(tag, np.zeros(len(themes), dtype=bool))[k] = True
    return dict(sorted(masks.items()))


def _jobs(pair: int, a: SourceScores, b: SourceScores, both: np.ndarray, theme_rows: dict[str, np.ndarray],
          axes: bool) -> list[_Job]:
    rows = np.flatnonzero(both)
    jobs = [_Job(pair, OVERALL, rows, a.scores[rows] - b.scores[rows])]
    for tag, mask in theme_rows.items():
        mine = np.flatnonzero(both & mask)
        if len(mine):
            jobs.append(_Job(pair, tag, mine, a.scores[mine] - b.scores[mine]))
    if axes:
        for tag in sorted(a.axes.keys() | b.axes.keys()):
            if tag in a.axes and tag in b.axes:
                # This axis scored on both sides (only ever where the overall score is).
                mine = np.flatnonzero(both & ~np.isnan(a.axes[tag]) & ~np.isnan(b.axes[tag]))
                if len(mine):
                    jobs.append(_Job(pair, tag, mine, a.axes[tag][mine] - b.axes[tag][mine]))
    return jobs


def _run(jobs: list[_Job], pairs: list[Comparison], *, n_boot: int, n_flips: int) -> None:
    """Fill in every pair's figures.  Jobs on the same tag and questions share resamples (one column each)."""
    batches: dict[tuple[str, bytes], list[_Job]] = {}
    for job in jobs:
        batches.setdefault(job.key, []).append(job)
    for (tag, _), batch in batches.items():
        n = len(batch[0].rows)
        if n == 0:
            continue  # a pair without common questions: its figures stay None
        cols = np.column_stack([job.d for job in batch])
        cis = bootstrap_ci(cols, n_boot=n_boot, rng=rng_for(tag)) if n >= 2 else None
        # The p-value is for the comparison as a whole; per-tag p-values would be a family of their own.
        ps = sign_flip_p(cols, n_flips=n_flips, rng=rng_for(f"flips:{tag}")) if n >= 2 and tag == OVERALL else None
        for c, job in enumerate(batch):
            delta, sd = mean_delta(job.d), sd_diff(job.d)
            figures = {
                "n": n,
                "delta": delta,
                "delta_ci": None if cis is None else (float(cis[c, 0]), float(cis[c, 1])),
                "sd_diff": sd,
            }
            figures["wins"], figures["ties"], figures["losses"] = wins_ties_losses(job.d)
            pair = pairs[job.pair]
            if tag == OVERALL:
                pair.delta, pair.delta_ci = delta, figures["delta_ci"]
                pair.p_value = None if ps is None else float(ps[c])
                pair.wins, pair.ties, pair.losses = figures["wins"], figures["ties"], figures["losses"]
                pair.sd_diff = sd
                pair.questions_needed = questions_needed(delta, sd)
            else:
                pair.by[tag] = figures
