"""Inter-rater agreement report for binary rubric verdicts (numpy, Qt-free).

Input is a pure-data :class:`RatingTable` (items x raters, 1 met, 0 not met,
-1 missing); :func:`agreement_report` returns the JSON-ready report printed by
``healthqa agreement --json`` and shown by the desktop app.  Formulas live in
``stats`` and the cluster bootstrap in ``bootstrap``; both
are re-exported here.  Reference: ``specs/agreement.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from healthqa.agreement.bootstrap import (cluster_sums, conversation_bootstrap_weights, grouped_resampled_sums,
                                          percentile_intervals)
from healthqa.agreement.stats import (PERCENT_AGREEMENT_DEFINITIONS, f1_scores, item_sums, pair_statistics,
                                      statistics_from_sums, to_number)

RATER_KINDS = ("clinician", "model")

# Report key -> key of statistics_from_sums.  The overall percent agreement is
# Gwet's unit mean: the same pa that Fleiss' kappa and AC1 correct for chance.
_OVERALL_STATISTICS = {
    "percent_agreement": "percent_agreement_unit_mean",
    "fleiss_kappa": "fleiss_kappa",
    "krippendorff_alpha": "krippendorff_alpha",
    "gwet_ac1": "gwet_ac1",
}
_BINARY = 2


@dataclass(frozen=True, eq=False)  # eq=False: numpy arrays have no truth value
class RatingTable:
    """Binary verdicts of several raters on the same items.

    An item is one (answer, criterion).  ``values[i, j]`` is rater j's verdict
    on item i: 1 met, 0 not met, -1 missing (cannot judge / not rated).
    ``conversation[i]`` is the answer item i belongs to: the bootstrap
    resamples whole conversations.  ``groups`` holds optional per-item
    breakdown labels, e.g. ``{"axis": np.array([...])}``.
    """

    values: np.ndarray
    conversation: np.ndarray
    raters: list[str]
    kinds: list[str]
    groups: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        values = np.asarray(self.values)
        if values.ndim != 2 or not np.issubdtype(values.dtype, np.integer):
            raise ValueError("values must be a 2-D integer array (items x raters)")
        if values.size and not np.isin(values, (-1, 0, 1)).all():
            raise ValueError("values must be 1 (met), 0 (not met) or -1 (missing)")
        n_items, n_raters = values.shape
        conversation = np.asarray(self.conversation)
        if conversation.shape != (n_items,) or not np.issubdtype(conversation.dtype, np.integer):
            raise ValueError("conversation must be one integer per item")
        if len(self.raters) != n_raters or len(self.kinds) != n_raters:
            raise ValueError("raters and kinds need one entry per column of values")
        if len(set(self.raters)) != n_raters:
            raise ValueError("rater names must be unique")
        if any(kind not in RATER_KINDS for kind in self.kinds):
            raise ValueError(f"kinds must be one of {RATER_KINDS}")
        groups = {name: np.asarray(labels) for name, labels in self.groups.items()}
        if any(labels.shape != (n_items,) for labels in groups.values()):
            raise ValueError("every groups array needs one label per item")
        object.__setattr__(self, "values", values.astype(np.int8, copy=False))
        object.__setattr__(self, "conversation", conversation)
        object.__setattr__(self, "raters", list(self.raters))
        object.__setattr__(self, "kinds", list(self.kinds))
        object.__setattr__(self, "groups", groups)


def agreement_report(
    table: RatingTable,
    *,
    raters: list[str] | None = None,
    by: str | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    ci: float = 0.95,
    min_clinician_n: int = 0,
) -> dict:
    """JSON-ready agreement report of ``raters`` (default: all) on ``table``.

    - ``overall`` (and each ``by`` group): percent agreement (Gwet unit mean,
      named in ``percent_agreement_definition``), generalised Fleiss' kappa,
      Krippendorff's nominal alpha and Gwet's AC1, each with a percentile
      interval from ``n_boot`` conversation-level resamples; resamples where a
      statistic is undefined are counted in ``bootstrap.degenerate``.
    - ``pairs``: every pair of raters on the items both rated.
    - ``model_graders``: HealthBench pairwise macro-F1 of each model rater
      against every clinician label (no majority vote), pooled over all items,
      and its percentile (0-100) among the clinicians' leave-one-out macro-F1:
      (clinicians below + 0.5 x tied) / clinicians x 100.  Clinicians with an
      undefined macro-F1 or fewer than ``min_clinician_n`` pairs are left out
      of the percentile (HealthBench's plot kept physicians with n > 50, its n
      counting pairs of both classes, so roughly ``min_clinician_n=51``).
    - ``clinicians``: each clinician's macro-F1 against the other clinicians;
      ``n`` is the number of (own label, other clinician's label) pairs.

    Undefined values are None.
    """
    if not 0 < ci < 1:
        raise ValueError("ci must be between 0 and 1")
    if n_boot < 0:
        raise ValueError("n_boot must be >= 0")
    columns = _rater_columns(table, raters)
    values = table.values[:, columns]
    names = [table.raters[j] for j in columns]
    kinds = [table.kinds[j] for j in columns]

    counts = np.stack([(values == 0).sum(axis=1), (values == 1).sum(axis=1)], axis=1)
    sums = item_sums(counts)
    _, cluster = np.unique(table.conversation, return_inverse=True)
    n_clusters = int(cluster.max(initial=-1)) + 1
    weights = conversation_bootstrap_weights(n_clusters, n_boot, seed)
    settings = {"n_boot": n_boot, "seed": seed, "ci": ci}

    report = {
        "items": int(values.shape[0]),
        "raters": names,
        "overall": _summary_blocks(sums, cluster, np.zeros_like(cluster), 1, weights, settings)[0],
        **_pairwise_sections(values, names, kinds, min_clinician_n),
    }
    _grader_intervals(report["model_graders"], values, kinds, cluster, weights, ci)
    if by is not None:
        report["by"] = _breakdown(table, by, sums, cluster, weights, settings)
    return report


# Above this share of undefined resamples an interval is shown with a note:
# it was computed on fewer resamples than asked (agreement.md).
DEGENERATE_NOTE_SHARE = 0.01


def degenerate_note(block: dict, key: str) -> str | None:
    """"12% of resamples undefined" when more than 1% of a statistic's
    bootstrap resamples were degenerate, else None (for the CLI, the
    Agreement panel and the report alike)."""
    boot = block.get("bootstrap") or {}
    undefined, n_boot = (boot.get("degenerate") or {}).get(key, 0), boot.get("n_boot") or 0
    if not n_boot or undefined <= DEGENERATE_NOTE_SHARE * n_boot:
        return None
    return f"{100 * undefined / n_boot:.1f}% of resamples undefined"


def _grader_intervals(graders: list[dict], values: np.ndarray, kinds: list[str], cluster: np.ndarray,
                      weights: np.ndarray, ci: float) -> None:
    """Add each model grader's `macro_f1_ci`: a percentile interval over the same
    whole-conversation resamples as the other statistics (None when undefined)."""
    clinicians = [j for j, kind in enumerate(kinds) if kind == "clinician"]
    models = [j for j, kind in enumerate(kinds) if kind == "model"]
    met_c = (values[:, clinicians] == 1).sum(axis=1)
    not_met_c = (values[:, clinicians] == 0).sum(axis=1)
    n_clusters = weights.shape[1]
    for entry, g in zip(graders, models):
        met_g, not_met_g = values[:, g] == 1, values[:, g] == 0
        # Per item, its (grader label, clinician label) pairs: tp, fp, fn, tn.
        pairs = np.stack([met_g * met_c, met_g * not_met_c, not_met_g * met_c, not_met_g * not_met_c], axis=1)
        if weights.shape[0] == 0 or n_clusters == 0 or not pairs.any():
            entry["macro_f1_ci"] = None
            continue
        tp, fp, fn, tn = (weights @ cluster_sums(pairs, cluster, n_clusters)).T
        with np.errstate(divide="ignore", invalid="ignore"):
            f1_pos = np.where((tp + fp == 0) | (tp + fn == 0), np.nan, 2 * tp / (2 * tp + fp + fn))
            f1_neg = np.where((tn + fn == 0) | (tn + fp == 0), np.nan, 2 * tn / (2 * tn + fn + fp))
        lo, hi, _ = percentile_intervals((f1_pos + f1_neg) / 2, ci)
        entry["macro_f1_ci"] = None if np.isnan(lo) else [float(lo), float(hi)]


def _rater_columns(table: RatingTable, raters: list[str] | None) -> list[int]:
    if raters is None:
        return list(range(len(table.raters)))
    unknown = [name for name in raters if name not in table.raters]
    if unknown:
        raise ValueError(f"unknown raters: {unknown}")
    if len(set(raters)) != len(raters):
        raise ValueError("raters must not repeat")
    return [table.raters.index(name) for name in raters]


def _summary_blocks(
    sums: np.ndarray, cluster: np.ndarray, group: np.ndarray, n_groups: int, weights: np.ndarray, settings: dict
) -> list[dict]:
    """Point estimates and bootstrap intervals of the overall statistics, per group."""
    point = statistics_from_sums(cluster_sums(sums, group, n_groups), _BINARY)
    # Each chunk of groups is reduced to its intervals at once, so memory
    # holds one chunk's resamples, never groups x resamples x statistics
    # (that was 4.7 GB for 55,000 criteria x 2,000 resamples).
    intervals = {key: (np.full(n_groups, np.nan), np.full(n_groups, np.nan), np.zeros(n_groups, dtype=np.int64))
                 for key in _OVERALL_STATISTICS}
    for ids, chunk, counts in grouped_resampled_sums(weights, sums, cluster, group, n_groups):
        stats = statistics_from_sums(chunk, _BINARY)
        for key, source in _OVERALL_STATISTICS.items():
            for whole, part in zip(intervals[key], percentile_intervals(stats[source], settings["ci"], counts)):
                whole[ids] = part
    blocks = []
    for g in range(n_groups):
        block: dict = {}
        for key, source in _OVERALL_STATISTICS.items():
            lo, hi, _ = intervals[key]
            block[key] = to_number(point[source][g])
            block[f"{key}_ci"] = None if np.isnan(lo[g]) else [float(lo[g]), float(hi[g])]
        block["percent_agreement_definition"] = PERCENT_AGREEMENT_DEFINITIONS["unit_mean"]
        degenerate = {key: int(intervals[key][2][g]) for key in _OVERALL_STATISTICS}
        block["bootstrap"] = {"n_boot": settings["n_boot"], "seed": settings["seed"], "degenerate": degenerate}
        blocks.append(block)
    return blocks


def _breakdown(
    table: RatingTable, by: str, sums: np.ndarray, cluster: np.ndarray, weights: np.ndarray, settings: dict
) -> dict:
    """One summary block per label of ``table.groups[by]``, on the same resamples."""
    if by not in table.groups:
        raise ValueError(f"no group labels named {by!r}; have {sorted(table.groups)}")
    labels, label_of_item = np.unique(table.groups[by], return_inverse=True)
    blocks = _summary_blocks(sums, cluster, label_of_item, len(labels), weights, settings)
    items = np.bincount(label_of_item, minlength=len(labels))
    return {str(label): {**block, "items": int(n)} for label, block, n in zip(labels, blocks, items)}


def _pairwise_sections(values: np.ndarray, names: list[str], kinds: list[str], min_clinician_n: int) -> dict:
    """pairs, model_graders and clinicians sections, from one set of 2 x 2 counts."""
    met = (values == 1).astype(np.float64)
    not_met = (values == 0).astype(np.float64)
    # tables[a, b, i, j]: items where rater a said i and rater b said j.
    tables = np.empty((len(names), len(names), 2, 2))
    tables[:, :, 0, 0] = not_met.T @ not_met
    tables[:, :, 0, 1] = not_met.T @ met
    tables[:, :, 1, 0] = met.T @ not_met
    tables[:, :, 1, 1] = met.T @ met

    pairs = [
        {"raters": [names[a], names[b]], **pair_statistics(tables[a, b])}
        for a, b in combinations(range(len(names)), 2)
    ]
    clinician_columns = [j for j, kind in enumerate(kinds) if kind == "clinician"]

    def pooled_f1(scored: int, references: list[int]) -> tuple[float | None, int]:
        # HealthBench pairing: every (scored label, reference label) on an item.
        pooled = tables[scored, references].sum(axis=0) if references else np.zeros((2, 2))
        macro = f1_scores(tp=pooled[1, 1], fp=pooled[1, 0], fn=pooled[0, 1], tn=pooled[0, 0])[2]
        return macro, int(pooled.sum())

    clinicians = []
    for c in clinician_columns:
        macro, n = pooled_f1(c, [o for o in clinician_columns if o != c])
        # Whether this clinician counts in the graders' percentile (enough pairs, a defined F1).
        counted = macro is not None and n >= min_clinician_n
        clinicians.append({"rater": names[c], "macro_f1_leave_one_out": macro, "n": n, "in_percentile": counted})
    baseline = [entry["macro_f1_leave_one_out"] for entry in clinicians if entry["in_percentile"]]
    model_graders = []
    for g, kind in enumerate(kinds):
        if kind == "model":
            macro, n = pooled_f1(g, clinician_columns)
            percentile = _percentile(macro, baseline)
            model_graders.append(
                {"rater": names[g], "macro_f1": macro, "n_pairs": n, "percentile_among_clinicians": percentile,
                 "percentile_clinicians": len(baseline), "percentile_min_pairs": min_clinician_n}
            )
    return {"pairs": pairs, "model_graders": model_graders, "clinicians": clinicians}


def _percentile(score: float | None, population: list[float]) -> float | None:
    """HealthBench percentile: (below + 0.5 x tied) / n x 100."""
    if score is None or not population:
        return None
    scores = np.asarray(population)
    # Equal F1 values reached through different counts may differ in the last bits.
    tied = np.isclose(scores, score, rtol=0.0, atol=1e-12)
    below = int(((scores < score) & ~tied).sum())
    tied = int(tied.sum())
    return 100.0 * (below + 0.5 * tied) / len(scores)
