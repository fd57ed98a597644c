"""Paired statistics over questions: pure functions on arrays of per-question differences.

A difference d_i = score_A(i) − score_B(i) is one number per question both
sources answered.  Everything here resamples or flips whole questions, so
the questions are the unit of replication (answers of one question are
never treated as independent).

Each function accepts `d` as one vector (n,) or as several columns (n, P)
that share the same questions; the columns then share the same resamples
or sign flips, which is what makes comparing every pair of five models on
5,000 questions cheap (one matrix product per chunk).  Results are floats
for a vector and arrays for columns.

Undefined figures are None, never NaN: an interval needs n ≥ 2 and a
p-value needs n ≥ 1 question.
"""

from __future__ import annotations

import zlib

import numpy as np

N_BOOT = 2000
N_FLIPS = 10_000
EXACT_MAX = 20  # up to 2**20 sign patterns are enumerated (vectorised); more are sampled
SEED = 20250507
CHUNK_CELLS = 2_000_000  # entries of one resample / flip block: bounds memory (~16 MB of float64)
TIE = 1e-12  # per-question means from identical verdicts agree to the last bit; this only absorbs rounding


def rng_for(name: str, seed: int = SEED) -> np.random.Generator:
    """One seeded stream per named figure (e.g. "overall", "theme:hedging"): a figure does not change
    when other figures are computed beside it or in another order."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _columns(d) -> tuple[np.ndarray, bool]:
    array = np.asarray(d, dtype=float)
    if array.ndim == 1:
        return array[:, None], True
    if array.ndim != 2:
        raise ValueError("differences must be a vector or an (n, P) matrix")
    return array, False


def _out(values: np.ndarray, single: bool):
    return float(values[0]) if single else values


def mean_delta(d) -> float | np.ndarray | None:
    """Mean paired difference (None without questions)."""
    cols, single = _columns(d)
    if len(cols) == 0:
        return None
    return _out(cols.mean(axis=0), single)


def sd_diff(d) -> float | np.ndarray | None:
    """Sample standard deviation (ddof = 1) of the differences (exactly 0 when they are all equal);
    None for fewer than two questions."""
    cols, single = _columns(d)
    if len(cols) < 2:
        return None
    sd = cols.std(axis=0, ddof=1)
    # Equal differences give a rounding-error sd (1e-17), which would turn "no spread" into a huge effect.
    sd[np.ptp(cols, axis=0) <= TIE] = 0.0
    return _out(sd, single)


def wins_ties_losses(d) -> tuple[int, int, int]:
    """Questions where A scored higher, the same, lower (one vector)."""
    d = np.asarray(d, dtype=float)
    wins = int((d > TIE).sum())
    losses = int((d < -TIE).sum())
    return wins, len(d) - wins - losses, losses


def bootstrap_means(d, *, n_boot: int = N_BOOT, rng: np.random.Generator) -> np.ndarray:
    """Means of `n_boot` paired resamples over questions: (n_boot,) for a vector, (n_boot, P) for columns.

    A resample is n question indices drawn with replacement; its mean is
    counts · d / n, where counts says how often each question was drawn.
    Blocks of resamples keep the count matrix under CHUNK_CELLS entries.
    """
    cols, single = _columns(d)
    n = len(cols)
    if n == 0:
        raise ValueError("no questions to resample")
    # Single precision for the product: counts are small whole numbers (exact), and float32's rounding
    # (~1e-7 of the mean) is far below the Monte Carlo error of any interval drawn from 2,000 resamples.
    single_cols = cols.astype(np.float32)
    means = np.empty((n_boot, cols.shape[1]))
    block = max(1, CHUNK_CELLS // n)
    for start in range(0, n_boot, block):
        rows = min(block, n_boot - start)
        idx = rng.integers(0, n, size=(rows, n), dtype=np.int64)
        idx += (np.arange(rows, dtype=np.int64) * n)[:, None]  # one count row per resample
        counts = np.bincount(idx.ravel(), minlength=rows * n).reshape(rows, n)
        means[start:start + rows] = counts.astype(np.float32) @ single_cols / n
    return means[:, 0] if single else means


def bootstrap_ci(d, *, n_boot: int = N_BOOT, level: float = 0.95, rng: np.random.Generator | None = None,
                 name: str = "overall"):
    """Percentile interval of the mean difference over `n_boot` paired resamples of questions.

    Returns (low, high), or for columns an (P, 2) array; None for fewer than two questions.
    """
    cols, single = _columns(d)
    if len(cols) < 2:
        return None
    rng = rng or rng_for(name)
    means = bootstrap_means(cols, n_boot=n_boot, rng=rng)
    tail = (1 - level) / 2 * 100
    bounds = np.percentile(means, [tail, 100 - tail], axis=0).T  # (P, 2)
    return (float(bounds[0, 0]), float(bounds[0, 1])) if single else bounds


def _exceeding(flipped: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Per column: how many rows of flipped sums reach the observed |Σ d| (rounding-tolerant)."""
    return (np.abs(flipped) >= observed - 1e-9 * np.maximum(1.0, observed)).sum(axis=0)


def _byte_tables(cols: np.ndarray) -> np.ndarray:
    """For each run of 8 questions and each of the 256 ways of flipping some of them: the sum of the
    flipped differences, shape (n / 8, 256, P).  A random pattern's flipped sum is then one table
    look-up per byte of random bits, instead of a product over all n questions."""
    n, width = cols.shape
    padded = np.zeros(((n + 7) // 8 * 8, width))
    padded[:n] = cols
    bits = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(float)  # bit k of a byte: question 8j + k
    return np.einsum("bk,jkp->jbp", bits, padded.reshape(-1, 8, width))


def sign_flip_p(d, *, n_flips: int = N_FLIPS, exact_max: int = EXACT_MAX, rng: np.random.Generator | None = None,
                name: str = "overall"):
    """Two-sided paired sign-flip permutation p-value of the mean difference.

    Under "A and B are exchangeable on each question" every d_i is as likely
    as −d_i.  With n ≤ exact_max all 2**n sign patterns are enumerated and p
    is their share with |Σ s·d| ≥ |Σ d| (exact).  Otherwise `n_flips` random
    patterns are drawn (seeded) and p = (b + 1) / (n_flips + 1), b counting
    those at least as extreme — the observed pattern counts once, so p is
    never 0 (Phipson & Smyth 2010).  None without questions.
    """
    cols, single = _columns(d)
    n = len(cols)
    if n == 0:
        return None
    total = cols.sum(axis=0)
    observed = np.abs(total)
    hits = np.zeros(cols.shape[1], dtype=np.int64)
    if n <= exact_max:
        patterns_total = 1 << n
        bits = np.arange(n, dtype=np.int64)
        block = max(1, CHUNK_CELLS // n)
        for start in range(0, patterns_total, block):
            patterns = np.arange(start, min(patterns_total, start + block), dtype=np.int64)
            signs = 1.0 - 2.0 * ((patterns[:, None] >> bits) & 1)
            hits += _exceeding(signs @ cols, observed)
        p = hits / patterns_total
    else:
        rng = rng or rng_for(f"flips:{name}")
        tables = _byte_tables(cols)
        n_bytes = len(tables)
        block = max(1, CHUNK_CELLS // n_bytes)  # a block holds one byte per 8 questions and pattern
        for start in range(0, n_flips, block):
            rows = min(block, n_flips - start)
            # One random bit per question and pattern; a set bit flips that question's sign.
            raw = np.frombuffer(rng.bytes(rows * n_bytes), dtype=np.uint8).reshape(rows, n_bytes)
            raw = np.ascontiguousarray(raw.T)  # one contiguous row per byte position
            flipped_part = np.zeros((rows, cols.shape[1]))
            for j in range(n_bytes):
                flipped_part += tables[j][raw[j]]
            hits += _exceeding(total - 2.0 * flipped_part, observed)
        p = (hits + 1) / (n_flips + 1)
    return _out(np.minimum(p, 1.0), single)


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment for the family of `p_values` (None stays None and is not counted).

    The k-th smallest of m p-values becomes max over j ≤ k of min(1, (m − j + 1) · p_(j)).
    """
    present = [(p, i) for i, p in enumerate(p_values) if p is not None]
    m = len(present)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(present)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted
