"""The paired statistics against independent recomputations: plain numpy, hand enumeration, scipy,
statsmodels."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

from healthqa.compare.paired import (bootstrap_ci, bootstrap_means, holm, mean_delta, rng_for, sd_diff, sign_flip_p,
                                     wins_ties_losses)
from healthqa.compare.power import paired_t_power, questions_needed, solve_nobs


@pytest.fixture
def diffs() -> np.ndarray:
    rng = np.random.default_rng(42)
    return np.round(rng.normal(0.03, 0.25, size=80), 4)


# -- bootstrap -------------------------------------------------------------------------------------

def test_bootstrap_means_are_the_means_of_index_resamples(diffs):
    """The count-matrix shortcut gives exactly the mean of d[idx] for the same drawn indices."""
    ours = bootstrap_means(diffs, n_boot=500, rng=np.random.default_rng(5))
    idx = np.random.default_rng(5).integers(0, len(diffs), size=(500, len(diffs)), dtype=np.int64)
    np.testing.assert_allclose(ours, diffs[idx].mean(axis=1), rtol=0, atol=1e-6)  # float32 products


def test_bootstrap_interval_matches_a_plain_numpy_recomputation_within_monte_carlo_error(diffs):
    low, high = bootstrap_ci(diffs, n_boot=2000, rng=rng_for("overall"))
    # Independent: another generator, many more resamples, indexing instead of counts.
    rng = np.random.default_rng(2024)
    means = np.concatenate([diffs[rng.integers(0, len(diffs), size=(10_000, len(diffs)))].mean(axis=1)
                            for _ in range(5)])
    ref_low, ref_high = np.percentile(means, [2.5, 97.5])
    # Monte Carlo standard error of a 2.5% quantile from B resamples ~ sqrt(p(1-p)/B) / density there;
    # the resampled means are near normal with sd = sd(d) / sqrt(n).
    spread = diffs.std(ddof=0) / math.sqrt(len(diffs))
    density = stats.norm.pdf(1.96) / spread
    se = math.sqrt(0.025 * 0.975) / density * math.sqrt(1 / 2000 + 1 / 50_000)
    assert abs(low - ref_low) < 4 * se and abs(high - ref_high) < 4 * se
    assert low < diffs.mean() < high


def test_bootstrap_is_seeded_and_columns_share_resamples(diffs):
    one = bootstrap_ci(diffs)
    assert one == bootstrap_ci(diffs)  # same seed, same interval
    other = diffs[::-1] * 2
    both = bootstrap_ci(np.column_stack([diffs, other]))
    assert tuple(both[0]) == pytest.approx(one, abs=1e-6)  # a column's figures do not depend on its neighbours
    assert tuple(both[1]) == pytest.approx(bootstrap_ci(other), abs=1e-6)


def test_bootstrap_in_blocks_bounds_memory_and_keeps_the_result(diffs, monkeypatch):
    from healthqa.compare import paired

    whole = bootstrap_means(diffs, n_boot=300, rng=np.random.default_rng(1))
    monkeypatch.setattr(paired, "CHUNK_CELLS", len(diffs) * 7)  # 7 resamples per block
    blocks = bootstrap_means(diffs, n_boot=300, rng=np.random.default_rng(1))
    # Drawing in blocks draws the same stream: identical resamples.
    np.testing.assert_allclose(blocks, whole, atol=1e-6)


# -- permutation -------------------------------------------------------------------------------------

def test_sign_flip_p_by_hand():
    # d = 1, 2, 3: the 8 sign patterns give |sum| = 6, 4, 2, 0, 0, 2, 4, 6; two reach the observed 6.
    assert sign_flip_p([1.0, 2.0, 3.0]) == pytest.approx(2 / 8)
    # d = 1, -1: patterns give |sum| 0, 2, 2, 0; observed 0 -> every pattern is at least as extreme.
    assert sign_flip_p([1.0, -1.0]) == 1.0


def test_sign_flip_p_exact_matches_full_enumeration():
    d = np.array([0.21, -0.05, 0.33, 0.12, 0.0, 0.4, -0.1, 0.27, 0.15, 0.08, -0.02])
    observed = abs(d.sum())
    extreme = sum(abs(sum(s * x for s, x in zip(signs, d))) >= observed - 1e-12
                  for signs in itertools.product((1, -1), repeat=len(d)))
    assert sign_flip_p(d) == pytest.approx(extreme / 2 ** len(d), abs=1e-15)


def test_sign_flip_p_exact_matches_scipy_permutation_test():
    rng = np.random.default_rng(8)
    for n in (6, 9, 13):
        a, b = rng.uniform(0, 1, n).round(3), rng.uniform(0, 1, n).round(3)
        ref = stats.permutation_test((a, b), lambda x, y, axis: np.mean(x - y, axis=axis), vectorized=True,
                                     permutation_type="samples", alternative="two-sided", n_resamples=np.inf)
        assert sign_flip_p(a - b) == pytest.approx(ref.pvalue, abs=1e-12)


def test_sign_flip_p_sampled_is_close_to_exact_and_never_zero():
    rng = np.random.default_rng(3)
    d = rng.normal(0.1, 0.4, 16)
    exact = sign_flip_p(d)
    sampled = sign_flip_p(d, exact_max=0, n_flips=20_000, rng=np.random.default_rng(9))
    assert abs(sampled - exact) < 4 * math.sqrt(exact * (1 - exact) / 20_000) + 1 / 20_001
    strong = np.full(40, 0.3) + rng.normal(0, 0.01, 40)
    assert sign_flip_p(strong, n_flips=10_000) == pytest.approx(1 / 10_001)  # (b + 1) / (m + 1) with b = 0


def test_sign_flip_p_columns_and_seed():
    rng = np.random.default_rng(4)
    d = rng.normal(0.05, 0.3, (300, 3))
    together = sign_flip_p(d, n_flips=2000)
    alone = [sign_flip_p(d[:, k], n_flips=2000) for k in range(3)]
    np.testing.assert_allclose(together, alone, atol=1e-15)
    assert sign_flip_p(d[:, 0], n_flips=2000) == alone[0]  # seeded


# -- power -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("delta, sd", [(0.027, 0.2), (0.05, 0.3), (0.1, 0.25), (0.02, 0.05), (0.3, 0.35),
                                       (-0.04, 0.18)])
def test_questions_needed_agree_with_statsmodels(delta, sd):
    for power, key in ((0.8, "power_80"), (0.9, "power_90")):
        reference = TTestPower().solve_power(effect_size=abs(delta) / sd, alpha=0.05, power=power,
                                             alternative="two-sided")
        assert solve_nobs(abs(delta) / sd, power) == pytest.approx(reference, rel=1e-6)
        assert questions_needed(delta, sd)[key] == math.ceil(reference)


def test_power_function_agrees_with_statsmodels():
    for effect, nobs in ((0.2, 50), (0.5, 12.5), (0.05, 3000), (1.0, 4)):
        assert paired_t_power(effect, nobs) == pytest.approx(TTestPower().power(effect, nobs, 0.05), abs=1e-10)


def test_questions_needed_undefined():
    assert questions_needed(0.0, 0.2) == {"power_80": None, "power_90": None}
    assert questions_needed(0.03, 0.0) == {"power_80": None, "power_90": None}
    assert questions_needed(None, 0.2) == {"power_80": None, "power_90": None}
    assert questions_needed(0.03, None) == {"power_80": None, "power_90": None}
    assert questions_needed(1.0, 0.01) == {"power_80": 2, "power_90": 2}  # the smallest paired design


# -- Holm, counts, undefined figures ---------------------------------------------------------------------------

def test_holm_by_hand_and_against_statsmodels():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005 x4 = 0.02; 0.01 x3 = 0.03; 0.03 x2 = 0.06; 0.04 x1 = 0.04 -> raised to 0.06 (monotone)
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    rng = np.random.default_rng(1)
    for _ in range(20):
        ps = list(rng.uniform(0, 0.2, rng.integers(1, 12)))
        assert holm(ps) == pytest.approx(list(multipletests(ps, method="holm")[1]))
    assert holm([0.02, None, 0.04]) == pytest.approx([0.04, None, 0.04])  # None is not counted in the family


def test_wins_ties_losses_and_undefined_figures():
    assert wins_ties_losses([0.1, 0.0, -0.2, 0.3, 1e-15]) == (2, 2, 1)
    assert bootstrap_ci([0.2]) is None and sd_diff([0.2]) is None
    assert mean_delta([]) is None and sign_flip_p([]) is None
    assert bootstrap_ci([0.1, 0.1, 0.1]) == pytest.approx((0.1, 0.1))  # zero variance: a point, not NaN
    assert sd_diff([0.1, 0.1, 0.1]) == 0.0


def test_byte_tables_give_the_flipped_sums_of_the_random_bits():
    """A random pattern's sum via per-byte tables equals the plain product with its ±1 signs."""
    from healthqa.compare.paired import _byte_tables

    rng = np.random.default_rng(12)
    cols = rng.normal(0, 0.3, (45, 3))  # 45 questions: the last byte is only partly used
    tables = _byte_tables(cols)
    raw = np.frombuffer(np.random.default_rng(1).bytes(50 * len(tables)), dtype=np.uint8).reshape(50, -1)
    via_tables = cols.sum(axis=0) - 2 * sum(tables[j][raw[:, j]] for j in range(len(tables)))
    bits = np.unpackbits(raw, axis=1, bitorder="little", count=45)
    np.testing.assert_allclose(via_tables, (1.0 - 2.0 * bits) @ cols, atol=1e-12)
