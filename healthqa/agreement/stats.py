"""Agreement formulas on count matrices and contingency tables (numpy, Qt-free).

Every multi-rater statistic here (percent agreement, generalised Fleiss' kappa,
Krippendorff's nominal alpha, Gwet's AC1) is a function of a handful of *sums
over items* of per-item quantities.  We compute those per-item quantities once
(:func:`item_sums`) and derive the statistics from their sums
(:func:`statistics_from_sums`).  The same code then serves a point estimate
(sum over items) and a whole bootstrap (a weight matrix times per-cluster sums),
vectorised over any leading axes.  Formulas and worked examples:
``specs/agreement.md``.

Undefined values are NaN inside numpy and ``None`` in every public result.
"""

from __future__ import annotations

import numpy as np

# Definitions of multi-rater percent agreement (agreement.md §1).  They give
# different numbers on the same data, so every output names the one it uses.
PERCENT_AGREEMENT_DEFINITIONS = {
    "unit_mean": "unit mean (Gwet pa): mean over items with >= 2 ratings of the "
    "share of agreeing rater pairs on the item",
    "pooled_pairs": "pooled pairs: agreeing rater pairs / all rater pairs, "
    "summed over items",
    "krippendorff_ao": "Krippendorff Ao = 1 - Do: share of agreeing pairs "
    "weighted by the item's pairable values",
}

# Column layout of the per-item sums; q-wide blocks follow the scalar columns.
_A, _C2, _C1, _N, _D, _PP, _PT = range(7)
_SCALARS = 7


def n_sum_columns(n_categories: int) -> int:
    """Width of the vectors returned by :func:`item_sums`."""
    return _SCALARS + 3 * n_categories


def count_matrix(ratings: np.ndarray, n_categories: int) -> np.ndarray:
    """Items x raters labels (0..q-1, negative = missing) -> items x q counts.

    q is given, never inferred: a category nobody used still exists (§0).
    """
    ratings = np.asarray(ratings)
    if ratings.ndim != 2:
        raise ValueError("ratings must be a 2-D items x raters array")
    if ratings.max(initial=-1) >= n_categories:
        raise ValueError(f"a rating is >= n_categories ({n_categories})")
    counts = np.stack([(ratings == k).sum(axis=1) for k in range(n_categories)], axis=1)
    return counts.astype(np.int64)


def item_sums(counts: np.ndarray) -> np.ndarray:
    """Per-item quantities whose sums over items determine every statistic.

    ``counts`` is items x q (raters per category).  Columns: sum of a_i over
    pairable items, number of pairable items (r >= 2), number of rated items
    (r >= 1), pairable values, diagonal coincidences, agreeing pairs, all pairs,
    then per category: n_ik / r_i over rated items, pairable values n_ik,
    all values n_ik.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[1] < 2:
        raise ValueError("counts must be items x q with q >= 2")
    n_items, q = counts.shape
    r = counts.sum(axis=1)
    rated = r >= 1
    pairable = r >= 2
    pairs = r * (r - 1)
    agreeing = (counts * (counts - 1)).sum(axis=1)
    out = np.zeros((n_items, n_sum_columns(q)))
    safe_pairs = np.where(pairable, pairs, 1.0)
    safe_r = np.where(rated, r, 1.0)
    out[:, _A] = np.where(pairable, agreeing / safe_pairs, 0.0)
    out[:, _C2] = pairable
    out[:, _C1] = rated
    out[:, _N] = np.where(pairable, r, 0.0)
    # Coincidence weights 1/(r_i - 1), Krippendorff 2011.
    out[:, _D] = np.where(pairable, agreeing / np.where(pairable, r - 1, 1.0), 0.0)
    out[:, _PP] = agreeing
    out[:, _PT] = pairs
    out[:, _SCALARS : _SCALARS + q] = counts / safe_r[:, None]
    out[:, _SCALARS + q : _SCALARS + 2 * q] = counts * pairable[:, None]
    out[:, _SCALARS + 2 * q :] = counts
    return out


def statistics_from_sums(sums: np.ndarray, n_categories: int) -> dict[str, np.ndarray]:
    """All multi-rater statistics from summed :func:`item_sums` rows.

    Works on any leading shape (e.g. n_boot x n_columns); NaN where undefined.
    """
    s = np.asarray(sums, dtype=np.float64)
    q = n_categories
    a, c2, c1, n = s[..., _A], s[..., _C2], s[..., _C1], s[..., _N]
    diag, agree_pairs, all_pairs = s[..., _D], s[..., _PP], s[..., _PT]
    share = s[..., _SCALARS : _SCALARS + q]
    pairable_k = s[..., _SCALARS + q : _SCALARS + 2 * q]
    values_k = s[..., _SCALARS + 2 * q :]
    has_pairs = c2 > 0
    # Chance terms are 0/0 when every value falls in one category (§0).
    several_categories = (values_k > 0).sum(axis=-1) >= 2
    several_pairable = (pairable_k > 0).sum(axis=-1) >= 2
    with np.errstate(divide="ignore", invalid="ignore"):
        pa = np.where(has_pairs, a / c2, np.nan)
        pi = share / c1[..., None]
        fleiss_pe = (pi**2).sum(axis=-1)
        fleiss = np.where(has_pairs & several_categories, (pa - fleiss_pe) / (1 - fleiss_pe), np.nan)
        ac1_pe = (pi * (1 - pi)).sum(axis=-1) / (q - 1)
        ac1 = np.where(has_pairs, (pa - ac1_pe) / (1 - ac1_pe), np.nan)
        observed = (n - diag) / n
        expected = (n**2 - (pairable_k**2).sum(axis=-1)) / (n * (n - 1))
        alpha = np.where(several_pairable, 1 - observed / expected, np.nan)
        pooled = np.where(all_pairs > 0, agree_pairs / all_pairs, np.nan)
        ao = np.where(has_pairs, diag / n, np.nan)
    return {
        "percent_agreement_unit_mean": pa,
        "percent_agreement_pooled_pairs": pooled,
        "krippendorff_ao": ao,
        "fleiss_kappa": fleiss,
        "fleiss_pe": np.where(c1 > 0, fleiss_pe, np.nan),
        "krippendorff_alpha": alpha,
        "gwet_ac1": ac1,
        "gwet_pe": np.where(c1 > 0, ac1_pe, np.nan),
    }


def to_number(x) -> float | None:
    """A JSON-ready float, or None for an undefined (NaN) value."""
    x = float(x)
    return None if np.isnan(x) else x


def rater_statistics(counts: np.ndarray) -> dict[str, float | None]:
    """Multi-rater statistics of an items x q count matrix, missing data allowed.

    Keys: percent_agreement_unit_mean, percent_agreement_pooled_pairs,
    krippendorff_ao, fleiss_kappa (Gwet's missing-data form), fleiss_pe,
    krippendorff_alpha (nominal), gwet_ac1, gwet_pe.
    """
    counts = np.asarray(counts)
    stats = statistics_from_sums(item_sums(counts).sum(axis=0), counts.shape[1])
    return {name: to_number(value) for name, value in stats.items()}


def table_as_counts(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A two-rater q x q table as (distinct item count rows, how many items each).

    Cell (i, j) stands for table[i, j] items with one rating i and one rating j,
    so the multi-rater formulas apply to a pair without expanding the table.
    """
    table = np.asarray(table, dtype=np.float64)
    q = table.shape[0]
    eye = np.eye(q)
    rows = (eye[:, None, :] + eye[None, :, :]).reshape(q * q, q)
    return rows, table.reshape(q * q)


def cohen_kappa(table: np.ndarray) -> tuple[float | None, float | None]:
    """Cohen's kappa and its large-sample SE (Fleiss, Cohen & Everitt 1969).

    ``table[i, j]`` counts items rater A put in i and rater B in j.  Both are
    None when undefined (no items, or all ratings in one category: pe = 1).
    """
    table = np.asarray(table, dtype=np.float64)
    n = table.sum()
    if n == 0:
        return None, None
    p = table / n
    row, col = p.sum(axis=1), p.sum(axis=0)
    po = np.trace(p)
    pe = float(row @ col)
    if pe >= 1.0:
        return None, None
    kappa = (po - pe) / (1 - pe)
    diag = np.diag(p)
    a = (diag * (1 - (row + col) * (1 - kappa)) ** 2).sum()
    off = p * (col[:, None] + row[None, :]) ** 2  # p_ij (p_.i + p_j.)^2
    b = (1 - kappa) ** 2 * (off.sum() - np.trace(off))
    c = (kappa - pe * (1 - kappa)) ** 2
    variance = max(a + b - c, 0.0) / (n * (1 - pe) ** 2)  # rounding can dip below 0
    return float(kappa), float(np.sqrt(variance))


def _class_f1(hits: float, false_pred: float, false_true: float) -> float | None:
    """F1 of one class; None when precision or recall has no pairs (HealthBench)."""
    if hits + false_pred == 0 or hits + false_true == 0:
        return None
    if hits == 0:
        return 0.0
    return 2 * hits / (2 * hits + false_pred + false_true)


def f1_scores(tp: float, fp: float, fn: float, tn: float) -> tuple[float | None, float | None, float | None]:
    """(F1 of "met", F1 of "not met", macro-F1) from pairwise counts.

    The reference ("truth") is the other rater, the prediction the rater scored:
    fp = rater says met, reference says not met.  HealthBench semantics
    (agreement.md §7): macro-F1 is None when either class F1 is None.
    """
    tp, fp, fn, tn = float(tp), float(fp), float(fn), float(tn)
    f1_pos = _class_f1(tp, fp, fn)
    f1_neg = _class_f1(tn, fn, fp)
    macro = None if f1_pos is None or f1_neg is None else (f1_pos + f1_neg) / 2
    return f1_pos, f1_neg, macro


def pair_statistics(table: np.ndarray) -> dict[str, float | int | None]:
    """Agreement of two raters from their q x q table (items both rated).

    Keys: n, percent_agreement, cohen_kappa, cohen_kappa_se,
    krippendorff_alpha, gwet_ac1, macro_f1 (binary tables only,
    row rater scored against column rater; the value is symmetric).
    """
    table = np.asarray(table)
    q = table.shape[0]
    if table.shape != (q, q) or q < 2:
        raise ValueError("table must be q x q with q >= 2")
    rows, weights = table_as_counts(table)
    sums = weights @ item_sums(rows)
    multi = statistics_from_sums(sums, q)
    kappa, se = cohen_kappa(table)
    macro = f1_scores(table[1, 1], table[1, 0], table[0, 1], table[0, 0])[2] if q == 2 else None
    return {
        "n": int(table.sum()),
        "percent_agreement": to_number(multi["percent_agreement_unit_mean"]),
        "cohen_kappa": kappa,
        "cohen_kappa_se": se,
        "krippendorff_alpha": to_number(multi["krippendorff_alpha"]),
        "gwet_ac1": to_number(multi["gwet_ac1"]),
        "macro_f1": macro,
    }
