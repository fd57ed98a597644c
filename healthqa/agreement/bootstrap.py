"""Cluster bootstrap by weight matrices (numpy, Qt-free).

Resampling whole conversations with replacement is the same as giving each
conversation a multinomial count w (how often it was drawn).  Any statistic
that is a function of sums over items then needs, per resample, only
``w @ per-conversation sums``: one matmul for all resamples instead of
thousands of Python-level recomputations (agreement.md §8).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

# Draw at most this many cluster indices at a time, so peak memory stays a
# few tens of MB whatever n_boot x n_clusters is.
_DRAWS_PER_CHUNK = 2_000_000
# Resampled sums held at once by grouped_resampled_sums (32 MB of floats).
_SUMS_PER_CHUNK = 4_000_000


def conversation_bootstrap_weights(n_clusters: int, n_boot: int, seed: int) -> np.ndarray:
    """n_boot x n_clusters float matrix: row b counts how often each cluster is drawn.

    Each row is one resample of n_clusters clusters with replacement
    (multinomial counts summing to n_clusters), from ``default_rng(seed)``,
    so the same (n_clusters, n_boot, seed) always gives the same matrix.
    """
    if n_boot < 0 or n_clusters < 0:
        raise ValueError("n_boot and n_clusters must be >= 0")
    # Filled as n_clusters x n_boot and returned transposed (Fortran order):
    # the grouped sums gather a cluster's weights as one contiguous row.
    by_cluster = np.zeros((n_clusters, n_boot))
    if n_clusters == 0:
        return by_cluster.T
    rng = np.random.default_rng(seed)
    rows_per_chunk = max(1, _DRAWS_PER_CHUNK // n_clusters)
    for start in range(0, n_boot, rows_per_chunk):
        rows = min(rows_per_chunk, n_boot - start)
        draws = rng.integers(0, n_clusters, size=(rows, n_clusters))
        # Code (cluster, resample) as cluster * rows + resample so that one
        # bincount counts every resample of the chunk at once.
        draws *= rows
        draws += np.arange(rows)[:, None]
        counts = np.bincount(draws.ravel(), minlength=rows * n_clusters)
        by_cluster[:, start : start + rows] = counts.reshape(n_clusters, rows)
    return by_cluster.T


def cluster_sums(item_values: np.ndarray, cluster: np.ndarray, n_clusters: int) -> np.ndarray:
    """n_clusters x k sums of the items x k ``item_values`` within each cluster."""
    item_values = np.asarray(item_values, dtype=np.float64)
    return np.stack(
        [np.bincount(cluster, weights=column, minlength=n_clusters) for column in item_values.T],
        axis=1,
    ).reshape(n_clusters, item_values.shape[1])


def grouped_resampled_sums(
    weights: np.ndarray, item_values: np.ndarray, cluster: np.ndarray, group: np.ndarray, n_groups: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Sums of ``item_values`` per group and resample, a chunk of groups at a time.

    ``weights`` is n_boot x n_clusters, ``cluster`` and ``group`` give each
    item's cluster (column of ``weights``) and group (0..n_groups-1).  Yields
    (group ids, array of shape ids x n_boot x k).  Every group sees the same
    resamples, so differences between groups are paired.
    """
    n_boot, n_clusters = weights.shape
    item_values = np.asarray(item_values, dtype=np.float64)
    k = item_values.shape[1]
    # Items sharing a (group, cluster) cell always move together: sum them once.
    keys, cell = np.unique(group.astype(np.int64) * n_clusters + cluster, return_inverse=True)
    cell_values = cluster_sums(item_values, cell, len(keys))
    cell_group, cell_cluster = keys // n_clusters, keys % n_clusters
    starts = np.searchsorted(cell_group, np.arange(n_groups + 1))
    # Rows of the transposed weights are contiguous (no copy for the matrix of
    # conversation_bootstrap_weights), so gathering clusters is a row copy.
    weights_t = np.ascontiguousarray(weights.T)
    per_chunk = max(1, _SUMS_PER_CHUNK // max(1, k * n_boot))
    for first in range(0, n_groups, per_chunk):
        ids = np.arange(first, min(n_groups, first + per_chunk))
        sums = np.empty((len(ids), k, n_boot))
        for row, g in enumerate(ids):
            cells = slice(starts[g], starts[g + 1])
            values, clusters = cell_values[cells], cell_cluster[cells]
            if 4 * len(clusters) >= n_clusters:
                # A group spread over most clusters: one dense BLAS product.
                dense = np.zeros((n_clusters, k))
                dense[clusters] = values
                np.matmul(dense.T, weights_t, out=sums[row])
            else:
                np.matmul(values.T, weights_t[clusters], out=sums[row])
        yield ids, sums.transpose(0, 2, 1)


def percentile_intervals(samples: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile interval along the last axis, ignoring and counting NaNs.

    Returns (lo, hi, undefined count) with the leading shape of ``samples``;
    lo and hi are NaN where no sample is defined.  Same interpolation as
    ``np.quantile(..., method="linear")`` on the defined samples, but
    vectorised over rows with different numbers of undefined samples.
    Undefined (degenerate) resamples are counted, never zeroed.
    """
    samples = np.asarray(samples, dtype=np.float64)
    defined = (~np.isnan(samples)).sum(axis=-1)
    undefined = samples.shape[-1] - defined
    if samples.shape[-1] == 0:
        nothing = np.full(defined.shape, np.nan)
        return nothing, nothing, undefined
    ordered = np.sort(samples, axis=-1)  # NaN sorts last
    last = np.maximum(defined - 1, 0)
    tail = (1 - ci) / 2
    bounds = []
    for p in (tail, 1 - tail):
        position = last * p
        below = np.floor(position).astype(np.int64)
        above = np.minimum(below + 1, last)
        low = np.take_along_axis(ordered, below[..., None], axis=-1)[..., 0]
        high = np.take_along_axis(ordered, above[..., None], axis=-1)[..., 0]
        bounds.append(np.where(defined > 0, low + (position - below) * (high - low), np.nan))
    return bounds[0], bounds[1], undefined
