"""HealthBench scoring, exactly as simple-evals computes it (specs/healthbench.md §4).

Per example: sum of met points (negative ones too) over the sum of positive
points, never clipped. Example-level tags take the example's score;
rubric-level tags (axis, level, cluster) are rescored on their own subset and
skipped where it has no positive points. Each metric is the mean clipped to
[0, 1], with `:n_samples` and a seeded 1,000-resample `:bootstrap_std`.

HealthQA's rule for missing verdicts: a criterion with no verdict leaves
numerator and denominator and is counted as `ungraded`; an example left with
no positive points gets no score and is counted as `unscored`.
"""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

N_BOOTSTRAP = 1000
SEED = 20250507  # fixed so that every figure repeats; upstream is unseeded


@dataclass(frozen=True)
class GradedCriterion:
    points: int
    met: bool | None  # None: no verdict (cannot judge, or an unparseable grader reply)
    tags: tuple[str, ...] = ()


@dataclass
class GradedExample:
    example_tags: tuple[str, ...]
    criteria: list[GradedCriterion]
    output_tokens: int | None = None


@dataclass
class ExampleScore:
    metrics: dict[str, float]  # 'overall_score' and one key per tag; absent when unscored
    ungraded: int

    @property
    def score(self) -> float | None:
        return self.metrics.get("overall_score")


def subset_score(criteria: list[GradedCriterion]) -> float | None:
    """sum(met points) / sum(positive points) over criteria with a verdict."""
    graded = [c for c in criteria if c.met is not None]
    denominator = sum(c.points for c in graded if c.points > 0)
    if denominator <= 0:
        return None
    return sum(c.points for c in graded if c.met) / denominator


def subset_scores(group: np.ndarray, points: np.ndarray, met: np.ndarray, n_groups: int) -> np.ndarray:
    """`subset_score` for many subsets at once, for speed over thousands of answers.

    One entry per verdict row: `group` (0 … n_groups − 1) says which subset (an
    answer, or an answer's axis) the row belongs to, `points` the criterion's
    points, `met` 1.0 (met), 0.0 (not met) or NaN (no verdict).  Returns the
    subsets' sum(met points) / sum(positive points with a verdict), NaN where that
    denominator is 0 (no score).  Integer sums, so equal to `subset_score` exactly.
    """
    points = np.asarray(points, dtype=float)
    met = np.asarray(met, dtype=float)
    graded = ~np.isnan(met)
    denominator = np.bincount(group, weights=np.where(graded & (points > 0), points, 0.0), minlength=n_groups)
    numerator = np.bincount(group, weights=np.where(met == 1.0, points, 0.0), minlength=n_groups)
    out = np.full(n_groups, np.nan)
    scored = denominator > 0
    out[scored] = numerator[scored] / denominator[scored]
    return out


def majority_verdicts(met_votes: np.ndarray, not_met_votes: np.ndarray) -> np.ndarray:
    """`majority_verdict` for many criteria at once: 1.0 met, 0.0 not met, NaN for a tie or no vote."""
    met_votes, not_met_votes = np.asarray(met_votes), np.asarray(not_met_votes)
    return np.where(met_votes > not_met_votes, 1.0, np.where(met_votes < not_met_votes, 0.0, np.nan))


def score_example(example: GradedExample) -> ExampleScore:
    ungraded = sum(c.met is None for c in example.criteria)
    overall = subset_score(example.criteria)
    if overall is None:
        return ExampleScore({}, ungraded)
    metrics = {"overall_score": overall}
    for tag in example.example_tags:
        metrics[tag] = overall
    by_tag: dict[str, list[GradedCriterion]] = defaultdict(list)
    for criterion in example.criteria:
        for tag in set(criterion.tags):
            by_tag[tag].append(criterion)
    for tag, subset in by_tag.items():
        value = subset_score(subset)
        if value is not None:
            metrics[tag] = value
    return ExampleScore(metrics, ungraded)


def clipped_mean(values: np.ndarray) -> float:
    return float(np.clip(np.mean(values), 0.0, 1.0))


def bootstrap_std(values: np.ndarray, name: str, *, n_boot: int = N_BOOTSTRAP, seed: int = SEED) -> float:
    """Population std of the clipped means of resamples (the standard error).

    Each metric gets its own stream, seeded from its name, so a figure does
    not change when other metrics are added or removed.
    """
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    n = len(values)
    means = np.empty(n_boot)
    # Chunks keep the index matrix small for large sets.
    chunk = max(1, 4_000_000 // max(n, 1))
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[idx].mean(axis=1)
    return float(np.clip(means, 0.0, 1.0).std())


def aggregate(example_metrics: list[dict[str, float]], *, n_boot: int = N_BOOTSTRAP,
              seed: int = SEED) -> dict[str, float]:
    """simple-evals' flat metrics dict: name, name:n_samples, name:bootstrap_std."""
    values: dict[str, list[float]] = defaultdict(list)
    for metrics in example_metrics:
        for name, value in metrics.items():
            values[name].append(value)
            if name == "overall_score":
                values["score"].append(value)
    out: dict[str, float] = {}
    for name in sorted(values):
        array = np.asarray(values[name], dtype=float)
        out[name] = clipped_mean(array)
        out[f"{name}:n_samples"] = len(array)
        out[f"{name}:bootstrap_std"] = bootstrap_std(array, name, n_boot=n_boot, seed=seed)
    return out


@dataclass
class ScoreResult:
    score: float | None
    metrics: dict[str, float]
    examples: int
    unscored: int  # examples with no positive-point criterion left
    ungraded: int  # criteria with no verdict
    per_example: list[ExampleScore] = field(default_factory=list, repr=False)

    def as_json(self) -> dict:
        return {"score": self.score, "ungraded": self.ungraded, "unscored": self.unscored,
                "examples": self.examples, "metrics": self.metrics}


def score_examples(examples: list[GradedExample], *, n_boot: int = N_BOOTSTRAP, seed: int = SEED) -> ScoreResult:
    scored = [score_example(e) for e in examples]
    metrics = aggregate([s.metrics for s in scored if s.score is not None], n_boot=n_boot, seed=seed)
    score = metrics.pop("score", None)  # as simple-evals: only 'score' itself leaves the dict
    return ScoreResult(
        score=score,
        metrics=metrics,
        examples=len(examples),
        unscored=sum(s.score is None for s in scored),
        ungraded=sum(s.ungraded for s in scored),
        per_example=scored,
    )


def worst_at_k(scores_by_prompt: list[list[float]], k: int) -> tuple[float | None, int]:
    """HealthBench's worst-at-k (paper §6.4): per prompt, the mean over all
    k-subsets of its samples of the lowest score; the mean over prompts,
    clipped to [0, 1]. Prompts with fewer than k scored samples are left out.
    Returns (value or None, prompts counted).

    The mean over subsets needs no enumeration: with the N scores sorted
    ascending, the i-th (from 0) is a subset's minimum in C(N-1-i, k-1) of
    the C(N, k) subsets.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    per_prompt = []
    for scores in scores_by_prompt:
        n = len(scores)
        if n < k:
            continue
        ordered = sorted(scores)
        per_prompt.append(sum(s * math.comb(n - 1 - i, k - 1) for i, s in enumerate(ordered)) / math.comb(n, k))
    if not per_prompt:
        return None, 0
    return clipped_mean(np.asarray(per_prompt)), len(per_prompt)


def majority_verdict(votes: list[bool]) -> bool | None:
    """The clinicians' majority; a tie (or no vote) is no verdict."""
    met = sum(votes)
    not_met = len(votes) - met
    if met == not_met:
        return None
    return met > not_met
