"""The score formula against hand-computed cases (specs/healthbench.md §4)."""

import numpy as np
import pytest

from healthqa.scoring import (GradedCriterion as C, GradedExample as E, aggregate, bootstrap_std,
                              majority_verdict, score_example, score_examples, subset_score)

ILLUSTRATIVE = [("axis:context_awareness", "level:example"), ("axis:accuracy", "level:example"),
                ("axis:accuracy", "level:example")]


def illustrative(verdicts):
    return E(("theme:context_seeking",), [C(p, m, t) for p, m, t in zip((6, 8, -7), verdicts, ILLUSTRATIVE)])


def test_simple_evals_unit_case():
    # points [7, 5, 10, -6], met [T, F, T, T] -> (7 + 10 - 6) / 22 = 0.5
    assert subset_score([C(7, True), C(5, False), C(10, True), C(-6, True)]) == pytest.approx(0.5)


def test_spec_worked_example_all_graded():
    s = score_example(illustrative([True, False, True]))
    assert s.metrics["overall_score"] == pytest.approx(-1 / 14)
    assert s.metrics["axis:context_awareness"] == pytest.approx(1.0)
    assert s.metrics["axis:accuracy"] == pytest.approx(-7 / 8)
    assert s.metrics["theme:context_seeking"] == pytest.approx(-1 / 14)  # example tags take the example's score
    assert s.metrics["level:example"] == pytest.approx(-1 / 14)
    assert s.ungraded == 0


def test_spec_worked_example_no_verdict_leaves_both_sides():
    s = score_example(illustrative([True, None, True]))
    assert s.metrics["overall_score"] == pytest.approx(-1 / 6)
    assert s.metrics["axis:context_awareness"] == pytest.approx(1.0)
    assert "axis:accuracy" not in s.metrics  # no positive criterion left in the subset
    assert s.ungraded == 1


def test_negative_totals_are_not_clipped_per_example():
    # +10 positive, -25 negative, all met -> (10 - 25) / 10 = -1.5
    e = E((), [C(10, True), C(-10, True), C(-10, True), C(-5, True)])
    assert score_example(e).score == pytest.approx(-1.5)


def test_tag_subset_without_positive_points_is_skipped():
    e = E((), [C(5, True, ("axis:accuracy",)), C(-5, True, ("axis:completeness",))])
    metrics = score_example(e).metrics
    assert "axis:completeness" not in metrics
    assert metrics["axis:accuracy"] == 1.0
    assert metrics["overall_score"] == 0.0


def test_example_without_positive_points_left_is_unscored_and_out_of_mean():
    examples = [E((), [C(5, None), C(-3, True)]), E((), [C(4, True)])]
    result = score_examples(examples)
    assert result.unscored == 1
    assert result.ungraded == 1
    assert result.metrics["overall_score:n_samples"] == 1
    assert result.score == 1.0


def test_mean_is_clipped_once_not_per_example():
    # per-example -0.5 and 0.9: the mean 0.2 is kept; clipping each first would give 0.45
    examples = [E((), [C(10, False), C(-5, True)]), E((), [C(10, True), C(-1, True)])]
    result = score_examples(examples)
    assert result.score == pytest.approx(0.2)
    # a mean below zero is clipped to 0
    assert score_examples([E((), [C(2, False), C(-5, True)])]).score == 0.0


def test_keys_named_as_simple_evals():
    result = score_examples([illustrative([True, True, False]), illustrative([False, True, False])])
    for key in ("overall_score", "overall_score:n_samples", "overall_score:bootstrap_std",
                "axis:accuracy", "axis:accuracy:n_samples", "theme:context_seeking",
                "theme:context_seeking:bootstrap_std", "level:example", "score:n_samples"):
        assert key in result.metrics, key
    assert "score" not in result.metrics
    assert result.metrics["overall_score:n_samples"] == 2
    assert result.score == result.metrics["overall_score"]


def test_bootstrap_is_seeded_and_matches_definition():
    values = np.array([0.1, 0.5, 0.9, -0.3, 0.7])
    a = bootstrap_std(values, "overall_score")
    assert a == bootstrap_std(values, "overall_score")
    # the population std of 1,000 clipped resample means, recomputed independently
    import zlib
    rng = np.random.default_rng([20250507, zlib.crc32(b"overall_score")])
    means = values[rng.integers(0, 5, size=(1000, 5))].mean(axis=1)
    assert a == pytest.approx(np.clip(means, 0, 1).std())
    assert bootstrap_std(np.array([0.4] * 10), "x") == pytest.approx(0.0, abs=1e-12)


def test_aggregate_counts_per_tag():
    agg = aggregate([{"overall_score": 0.5, "axis:accuracy": 1.0}, {"overall_score": 0.25}])
    assert agg["axis:accuracy:n_samples"] == 1
    assert agg["overall_score"] == pytest.approx(0.375)
    assert agg["score"] == agg["overall_score"]


@pytest.mark.parametrize("votes,expected", [([True, True, False], True), ([True, False], None),
                                             ([], None), ([False], False)])
def test_majority_verdict(votes, expected):
    assert majority_verdict(votes) is expected


def test_worst_at_k_by_hand_and_against_brute_force():
    import itertools
    import random

    from healthqa.scoring import worst_at_k

    # subsets of 2 of [0.2, 0.5, 0.9]: minima 0.2, 0.2, 0.5 -> 0.3
    assert worst_at_k([[0.9, 0.2, 0.5]], 2) == (pytest.approx(0.3), 1)
    assert worst_at_k([[0.9, 0.2, 0.5]], 1) == (pytest.approx(1.6 / 3), 1)
    assert worst_at_k([[0.9, 0.2, 0.5]], 3) == (pytest.approx(0.2), 1)
    assert worst_at_k([[0.9, 0.2, 0.5], [0.4]], 2) == (pytest.approx(0.3), 1)  # too few samples: left out
    assert worst_at_k([[0.4]], 2) == (None, 0)
    assert worst_at_k([[-0.5, -0.2]], 1) == (0.0, 1)  # the mean over prompts is clipped once
    rng = random.Random(4)
    prompts = [[rng.uniform(-0.5, 1) for _ in range(rng.randint(1, 7))] for _ in range(30)]
    for k in (1, 2, 3, 5):
        kept = [p for p in prompts if len(p) >= k]
        brute = [np.mean([min(c) for c in itertools.combinations(p, k)]) for p in kept]
        assert worst_at_k(prompts, k) == (pytest.approx(float(np.clip(np.mean(brute), 0, 1))), len(kept))
    with pytest.raises(ValueError):
        worst_at_k(prompts, 0)


# -- the vectorised formula (compare uses it over thousands of answers) ---------------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402

from healthqa.scoring import majority_verdicts, subset_scores  # noqa: E402

_POINTS = st.integers(-10, 10).filter(lambda p: p != 0)
_EXAMPLES = st.lists(st.lists(st.tuples(_POINTS, st.sampled_from([True, False, None])), max_size=8), min_size=1,
                     max_size=12)


@settings(max_examples=150, deadline=None)
@given(_EXAMPLES)
def test_subset_scores_equal_subset_score_exactly(examples):
    group = [k for k, criteria in enumerate(examples) for _ in criteria]
    points = [p for criteria in examples for p, _ in criteria]
    met = [np.nan if m is None else float(m) for criteria in examples for _, m in criteria]
    vectorised = subset_scores(np.array(group, dtype=np.int64), np.array(points), np.array(met), len(examples))
    for k, criteria in enumerate(examples):
        expected = subset_score([C(p, m) for p, m in criteria])
        assert (np.isnan(vectorised[k]) if expected is None else vectorised[k] == expected)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.booleans(), max_size=6), min_size=1, max_size=20))
def test_majority_verdicts_equal_majority_verdict(vote_lists):
    met = np.array([sum(v) for v in vote_lists])
    not_met = np.array([len(v) - sum(v) for v in vote_lists])
    for votes, got in zip(vote_lists, majority_verdicts(met, not_met)):
        expected = majority_verdict(votes)
        assert np.isnan(got) if expected is None else got == float(expected)
