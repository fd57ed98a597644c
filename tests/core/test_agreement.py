"""Agreement statistics against every worked example of specs/agreement.md,
plus the report contract, undefined cases and the conversation bootstrap."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthqa.agreement import (
    PERCENT_AGREEMENT_DEFINITIONS,
    RatingTable,
    agreement_report,
    cohen_kappa,
    conversation_bootstrap_weights,
    count_matrix,
    f1_scores,
    pair_statistics,
    percentile_intervals,
    rater_statistics,
    table_as_counts,
)

Z95 = 1.959964


def table_counts(table) -> np.ndarray:
    """A two-rater table expanded into one count row per item."""
    rows, weights = table_as_counts(table)
    return np.repeat(rows, weights.astype(int), axis=0)


def parse_units(text: str, first_category: int = 1) -> np.ndarray:
    """Rater rows of the spec ('.' = missing) as an items x raters array."""
    rows = [[-1 if x == "." else int(x) - first_category for x in line.split()] for line in text.strip().splitlines()]
    return np.array(rows).T


# ---------------------------------------------------------------- Cohen (§2.3)

WIKI_COHEN = [[20, 5], [10, 15]]
SAS = [[0, 4, 1], [0, 8, 0], [0, 1, 5]]
ABSTRACTORS = [[13, 0, 0], [0, 20, 7], [0, 4, 56]]


def test_wikipedia_cohen_table():
    stats = pair_statistics(np.array(WIKI_COHEN))
    assert stats["n"] == 50
    assert stats["percent_agreement"] == pytest.approx(0.70, abs=1e-9)
    assert stats["cohen_kappa"] == pytest.approx(0.40, abs=1e-9)
    se = stats["cohen_kappa_se"]
    assert se == pytest.approx(0.126996, abs=1e-6)
    assert stats["cohen_kappa"] - Z95 * se == pytest.approx(0.151092, abs=1e-6)
    assert stats["cohen_kappa"] + Z95 * se == pytest.approx(0.648908, abs=1e-6)
    # irrCAC's t-interval uses the same SE (t at 0.975 on 49 df = 2.0095752).
    assert 0.4 - 2.0095752 * se == pytest.approx(0.1447919, abs=1e-6)
    assert stats["gwet_ac1"] == pytest.approx(0.4059406, abs=1e-7)


def test_sas_three_category_table():
    kappa, se = cohen_kappa(SAS)
    assert kappa == pytest.approx(0.4841629, abs=1e-7)
    assert se == pytest.approx(0.1380136, abs=1e-7)
    assert kappa - Z95 * se == pytest.approx(0.2136607, abs=1e-6)
    assert kappa + Z95 * se == pytest.approx(0.7546651, abs=1e-6)
    # Published SAS printout (4 decimals).
    assert (round(kappa, 4), round(se, 4)) == (0.4842, 0.1380)
    assert pair_statistics(np.array(SAS))["percent_agreement"] == pytest.approx(13 / 19, abs=1e-12)


def test_abstractors_table_published_by_irrcac():
    stats = pair_statistics(np.array(ABSTRACTORS))
    assert stats["cohen_kappa"] == pytest.approx(0.7964094, abs=1e-7)
    assert stats["cohen_kappa_se"] == pytest.approx(0.05891072, abs=1e-7)
    assert stats["gwet_ac1"] == pytest.approx(0.8493305, abs=1e-7)
    assert stats["krippendorff_alpha"] == pytest.approx(0.7972585, abs=1e-7)
    assert stats["percent_agreement"] == pytest.approx(0.89, abs=1e-12)
    assert stats["macro_f1"] is None  # three categories: no binary F1
    # Scott's pi is Fleiss' kappa for two raters.
    assert rater_statistics(table_counts(ABSTRACTORS))["fleiss_kappa"] == pytest.approx(0.7962397, abs=1e-7)


def test_pair_statistics_equal_multi_rater_formulas_on_expanded_table():
    expanded = rater_statistics(table_counts(WIKI_COHEN))
    stats = pair_statistics(np.array(WIKI_COHEN))
    assert stats["krippendorff_alpha"] == pytest.approx(expanded["krippendorff_alpha"], abs=1e-12)
    assert stats["gwet_ac1"] == pytest.approx(expanded["gwet_ac1"], abs=1e-12)


# ---------------------------------------------------------------- Fleiss (§4.3)

WIKI_FLEISS = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)

FLEISS_1971 = """
4 4 4 4 4 4
2 2 2 5 5 5
2 3 3 3 3 5
5 5 5 5 5 5
2 2 2 4 4 4
1 1 3 3 3 3
3 3 3 3 5 5
1 1 3 3 3 4
1 1 4 4 4 4
5 5 5 5 5 5
1 4 4 4 4 4
1 2 4 4 4 4
2 2 2 3 3 3
1 4 4 4 4 4
2 2 4 4 4 5
3 3 3 3 3 5
1 1 1 4 5 5
1 1 1 1 1 2
2 2 4 4 4 4
1 3 3 5 5 5
5 5 5 5 5 5
2 4 4 4 4 4
2 2 4 5 5 5
1 1 4 4 4 4
1 4 4 4 4 5
2 2 2 2 2 4
1 1 1 1 5 5
2 2 4 4 4 4
1 3 3 3 3 3
5 5 5 5 5 5
"""


def test_wikipedia_fleiss_example():
    stats = rater_statistics(WIKI_FLEISS)
    assert stats["fleiss_kappa"] == pytest.approx(0.2099307, abs=1e-7)
    assert round(stats["fleiss_kappa"], 3) == 0.210  # published
    assert stats["percent_agreement_unit_mean"] == pytest.approx(0.3780220, abs=1e-7)
    assert stats["fleiss_pe"] == pytest.approx(0.2127551, abs=1e-7)
    assert stats["krippendorff_alpha"] == pytest.approx(0.2155741, abs=1e-7)
    assert stats["gwet_ac1"] == pytest.approx(0.2256142, abs=1e-7)


def test_fleiss_1971_psychiatric_diagnoses():
    ratings = np.array([[int(x) - 1 for x in line.split()] for line in FLEISS_1971.strip().splitlines()])
    counts = count_matrix(ratings, 5)
    assert counts.sum(axis=0).tolist() == [26, 26, 30, 55, 43]
    stats = rater_statistics(counts)
    assert stats["fleiss_kappa"] == pytest.approx(0.4302445, abs=1e-7)
    assert stats["percent_agreement_unit_mean"] == pytest.approx(0.5555556, abs=1e-7)
    assert stats["fleiss_pe"] == pytest.approx(0.2199383, abs=1e-7)
    assert stats["krippendorff_alpha"] == pytest.approx(0.4334098, abs=1e-7)
    assert stats["gwet_ac1"] == pytest.approx(0.4478845, abs=1e-7)


# ---------------------------------------------------------------- Krippendorff (§5.3), percent agreements (§1)

K4X12 = """
1  2  3  3  2  1  4  1  2  .  .  .
1  2  3  3  2  2  4  1  2  5  .  .
.  3  3  3  2  3  4  2  2  5  1  3
1  2  3  3  2  4  4  1  2  5  1  .
"""

WIKI_KRIPPENDORFF = """
.  .  .  .  .  3  4  1  2  1  1  3  3  .  3
1  .  2  1  3  3  4  3  .  .  .  .  .  .  .
.  .  2  1  3  4  4  .  2  1  1  3  3  .  4
"""


def test_k4x12_with_missing_values():
    stats = rater_statistics(count_matrix(parse_units(K4X12), 5))
    assert stats["krippendorff_alpha"] == pytest.approx(113 / 152, abs=1e-12)
    assert round(stats["krippendorff_alpha"], 3) == 0.743  # published
    assert stats["gwet_ac1"] == pytest.approx(0.77544, abs=1e-5)
    assert stats["gwet_pe"] == pytest.approx(0.1903212, abs=1e-7)
    assert stats["fleiss_kappa"] == pytest.approx(0.76117, abs=1e-5)
    assert stats["fleiss_pe"] == pytest.approx(0.2387153, abs=1e-7)
    # The three percent agreements differ on the same data (§1).
    assert stats["percent_agreement_unit_mean"] == pytest.approx(9 / 11, abs=1e-12)
    assert stats["percent_agreement_pooled_pairs"] == pytest.approx(43 / 55, abs=1e-12)
    assert stats["krippendorff_ao"] == pytest.approx(0.80, abs=1e-12)


def test_wikipedia_krippendorff_example():
    stats = rater_statistics(count_matrix(parse_units(WIKI_KRIPPENDORFF), 4))
    assert stats["krippendorff_alpha"] == pytest.approx(56 / 81, abs=1e-7)
    assert stats["krippendorff_ao"] == pytest.approx(0.7692308, abs=1e-7)


def test_count_matrix_never_infers_categories():
    counts = count_matrix(np.array([[1, 1], [1, -1]]), 2)
    assert counts.tolist() == [[0, 2], [0, 1]]
    with pytest.raises(ValueError):
        count_matrix(np.array([[2, 0]]), 2)


# ---------------------------------------------------------------- kappa paradox (§3), undefined cases (§0, #16)


def test_prevalence_paradox_kappa_collapses_while_ac1_stays_near_agreement():
    stats = pair_statistics(np.array([[0, 1], [1, 98]]))  # 98 both met, 2 disagreements
    assert stats["percent_agreement"] == pytest.approx(0.98, abs=1e-12)
    # pe = 0.99^2 + 0.01^2 = 0.9802; kappa = (0.98 - 0.9802) / 0.0198.
    assert stats["cohen_kappa"] == pytest.approx(-0.0002 / 0.0198, abs=1e-12)
    # AC1: pe = 2 * 0.99 * 0.01 = 0.0198; (0.98 - 0.0198) / 0.9802.
    assert stats["gwet_ac1"] == pytest.approx(0.9602 / 0.9802, abs=1e-12)


def test_bias_paradox_asymmetric_margins_raise_kappa_at_equal_agreement():
    symmetric = pair_statistics(np.array([[45, 15], [25, 15]]))
    asymmetric = pair_statistics(np.array([[25, 35], [5, 35]]))
    assert symmetric["percent_agreement"] == asymmetric["percent_agreement"] == pytest.approx(0.6)
    assert symmetric["cohen_kappa"] == pytest.approx(0.06 / 0.46, abs=1e-12)
    assert asymmetric["cohen_kappa"] == pytest.approx(0.14 / 0.54, abs=1e-12)


def test_all_met_leaves_chance_corrected_statistics_undefined_but_ac1_is_one():
    stats = rater_statistics(np.array([[0, 3]] * 5))
    assert stats["fleiss_kappa"] is None
    assert stats["krippendorff_alpha"] is None
    assert stats["gwet_ac1"] == 1.0
    assert stats["percent_agreement_unit_mean"] == 1.0
    pair = pair_statistics(np.array([[0, 0], [0, 7]]))
    assert pair["cohen_kappa"] is None and pair["cohen_kappa_se"] is None
    assert pair["krippendorff_alpha"] is None
    assert pair["gwet_ac1"] == 1.0
    assert pair["macro_f1"] is None  # "not met" never occurs: its F1 is undefined


def test_no_pairable_items_leaves_everything_undefined():
    stats = rater_statistics(np.array([[1, 0], [0, 1], [0, 0]]))  # one rating per item at most
    assert all(value is None for key, value in stats.items() if key not in ("fleiss_pe", "gwet_pe"))
    empty = pair_statistics(np.zeros((2, 2)))
    assert empty["n"] == 0
    assert {k: v for k, v in empty.items() if k != "n"} == dict.fromkeys(
        ["percent_agreement", "cohen_kappa", "cohen_kappa_se", "krippendorff_alpha", "gwet_ac1", "macro_f1"]
    )
    assert cohen_kappa(np.zeros((2, 2))) == (None, None)


def test_perfect_agreement_with_both_classes_has_zero_se():
    kappa, se = cohen_kappa([[10, 0], [0, 5]])
    assert kappa == pytest.approx(1.0) and se == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------- HealthBench pairwise macro-F1 (§7)


def reference_pairwise_f1(pairs: list[tuple[bool, bool]]) -> tuple[float | None, float | None, float | None]:
    """simple-evals' list-based counting over (prediction, reference) pairs."""

    def share(flags):
        return sum(flags) / len(flags) if flags else None

    def f1(precision, recall):
        if precision is None or recall is None:
            return None
        return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)

    f1_pos = f1(share([p == t for p, t in pairs if p]), share([p == t for p, t in pairs if t]))
    f1_neg = f1(share([p == t for p, t in pairs if not p]), share([p == t for p, t in pairs if not t]))
    macro = None if f1_pos is None or f1_neg is None else (f1_pos + f1_neg) / 2
    return f1_pos, f1_neg, macro


def test_upstream_meta_eval_unit_test_counts():
    # Grader [T, F, T]; physicians [[T, T, F], [T, F], [F]]: TP 2, FP 2, FN 1, TN 1.
    f1_pos, f1_neg, macro = f1_scores(tp=2, fp=2, fn=1, tn=1)
    assert f1_pos == pytest.approx(0.5714286, abs=1e-7)
    assert f1_neg == pytest.approx(0.4, abs=1e-12)
    assert macro == pytest.approx(0.4857143, abs=1e-7)
    # Category "a": precision and recall 2/3 for met, 1/2 for not met.
    assert f1_scores(tp=2, fp=1, fn=1, tn=1)[:2] == pytest.approx((2 / 3, 1 / 2))
    # Category "b": one pair (grader T, physician F): no F1 and no macro-F1 exist.
    assert f1_scores(tp=0, fp=1, fn=0, tn=0) == (None, None, None)


def upstream_example_table() -> RatingTable:
    return RatingTable(
        values=np.array([[1, 1, 1, 0], [0, 1, 0, -1], [1, 0, -1, -1]], dtype=np.int8),
        conversation=np.array([0, 0, 1]),
        raters=["grader", "p1", "p2", "p3"],
        kinds=["model", "clinician", "clinician", "clinician"],
        groups={"category": np.array(["a", "a", "b"])},
    )


def test_report_reproduces_upstream_macro_f1_without_majority_vote():
    report = agreement_report(upstream_example_table(), n_boot=50)
    (grader,) = report["model_graders"]
    assert grader["rater"] == "grader"
    assert grader["macro_f1"] == pytest.approx(0.4857143, abs=1e-7)
    assert grader["n_pairs"] == 6
    # Leave-one-out: p1 vs p2, p3 on row 0 and p2 on row 1; and so on.
    loo = {entry["rater"]: entry for entry in report["clinicians"]}
    labels = {"p1": [True, True, False], "p2": [True, False, None], "p3": [False, None, None]}
    for name, own in labels.items():
        pairs = [
            (own[row], other[row])
            for other_name, other in labels.items()
            if other_name != name
            for row in range(3)
            if own[row] is not None and other[row] is not None
        ]
        assert loo[name]["n"] == len(pairs)
        assert loo[name]["macro_f1_leave_one_out"] == reference_pairwise_f1(pairs)[2]


def random_table(
    rng: np.random.Generator,
    n_conversations=30,
    per_conversation=4,
    kinds=("clinician",) * 3 + ("model",) * 2,
    missing=0.15,
    groups=True,
) -> RatingTable:
    """Correlated verdicts: raters copy a latent truth with 80% accuracy."""
    n_items = n_conversations * per_conversation
    truth = rng.random(n_items) < 0.7
    agree = rng.random((n_items, len(kinds))) < 0.8
    values = np.where(agree, truth[:, None], ~truth[:, None]).astype(np.int8)
    values[rng.random(values.shape) < missing] = -1
    labels = {"axis": rng.choice(["accuracy", "completeness", "context"], n_items)} if groups else {}
    return RatingTable(
        values=values,
        conversation=np.repeat(rng.permutation(n_conversations) * 7 + 3, per_conversation),
        raters=[f"r{j}" for j in range(len(kinds))],
        kinds=list(kinds),
        groups=labels,
    )


def test_model_and_clinician_f1_match_list_based_reference():
    rng = np.random.default_rng(4)
    table = random_table(rng)
    report = agreement_report(table, n_boot=0)
    clinicians = [j for j, kind in enumerate(table.kinds) if kind == "clinician"]

    def pairs_of(scored, references):
        v = table.values
        both = [(i, r) for r in references for i in range(len(v)) if v[i, scored] >= 0 and v[i, r] >= 0]
        return [(bool(v[i, scored]), bool(v[i, r])) for i, r in both]

    loo = []
    for entry, c in zip(report["clinicians"], clinicians):
        pairs = pairs_of(c, [o for o in clinicians if o != c])
        assert entry["n"] == len(pairs)
        assert entry["macro_f1_leave_one_out"] == pytest.approx(reference_pairwise_f1(pairs)[2], abs=1e-12)
        loo.append(entry["macro_f1_leave_one_out"])
    for entry, g in zip(report["model_graders"], [3, 4]):
        pairs = pairs_of(g, clinicians)
        macro = reference_pairwise_f1(pairs)[2]
        assert entry["n_pairs"] == len(pairs)
        assert entry["macro_f1"] == pytest.approx(macro, abs=1e-12)
        below = sum(score < macro for score in loo)
        tied = sum(score == macro for score in loo)
        assert entry["percentile_among_clinicians"] == pytest.approx(100 * (below + 0.5 * tied) / len(loo))


def test_percentile_counts_ties_as_half_and_respects_min_clinician_n():
    same = np.array([[1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=np.int8)
    table = RatingTable(same, np.arange(4), ["c1", "c2", "c3", "m"], ["clinician"] * 3 + ["model"])
    report = agreement_report(table, n_boot=0)
    assert [c["macro_f1_leave_one_out"] for c in report["clinicians"]] == [1.0, 1.0, 1.0]
    assert report["model_graders"][0]["percentile_among_clinicians"] == 50.0
    # Each clinician has 2 others x 4 items = 8 pairs: a threshold of 9 drops them all.
    (strict,) = agreement_report(table, n_boot=0, min_clinician_n=9)["model_graders"]
    assert strict["percentile_among_clinicians"] is None
    # A model that always disagrees ranks below every clinician.
    flipped = same.copy()
    flipped[:, 3] = 1 - flipped[:, 3]
    table = RatingTable(flipped, np.arange(4), ["c1", "c2", "c3", "m"], ["clinician"] * 3 + ["model"])
    (model,) = agreement_report(table, n_boot=0)["model_graders"]
    assert model["macro_f1"] == 0.0 and model["percentile_among_clinicians"] == 0.0


# ---------------------------------------------------------------- report contract

OVERALL_KEYS = {
    "percent_agreement",
    "fleiss_kappa",
    "krippendorff_alpha",
    "gwet_ac1",
    "percent_agreement_ci",
    "fleiss_kappa_ci",
    "krippendorff_alpha_ci",
    "gwet_ac1_ci",
    "percent_agreement_definition",
    "bootstrap",
}
PAIR_KEYS = {
    "raters",
    "n",
    "percent_agreement",
    "cohen_kappa",
    "cohen_kappa_se",
    "krippendorff_alpha",
    "gwet_ac1",
    "macro_f1",
}
MODEL_GRADER_KEYS = {"rater", "macro_f1", "macro_f1_ci", "n_pairs", "percentile_among_clinicians", "percentile_clinicians",
                     "percentile_min_pairs"}


def test_report_shape_is_the_json_contract():
    table = random_table(np.random.default_rng(1))
    report = agreement_report(table, by="axis", n_boot=200, seed=3)
    json.dumps(report, allow_nan=False)  # plain JSON, no NaN
    assert set(report) == {"items", "raters", "overall", "pairs", "model_graders", "clinicians", "by"}
    assert report["items"] == 120 and report["raters"] == table.raters
    assert set(report["overall"]) == OVERALL_KEYS
    assert report["overall"]["percent_agreement_definition"] == PERCENT_AGREEMENT_DEFINITIONS["unit_mean"]
    assert report["overall"]["bootstrap"] == {
        "n_boot": 200,
        "seed": 3,
        "degenerate": dict.fromkeys(["percent_agreement", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1"], 0),
    }
    assert [p["raters"] for p in report["pairs"]][:2] == [["r0", "r1"], ["r0", "r2"]]
    assert len(report["pairs"]) == 10 and all(set(p) == PAIR_KEYS for p in report["pairs"])
    assert all(set(m) == MODEL_GRADER_KEYS for m in report["model_graders"])
    assert all(set(c) == {"rater", "macro_f1_leave_one_out", "n", "in_percentile"} for c in report["clinicians"])
    assert sorted(report["by"]) == ["accuracy", "completeness", "context"]
    assert all(set(block) == OVERALL_KEYS | {"items"} for block in report["by"].values())
    assert sum(block["items"] for block in report["by"].values()) == 120
    for key in ("percent_agreement", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1"):
        lo, hi = report["overall"][f"{key}_ci"]
        assert lo <= report["overall"][key] <= hi
    assert "by" not in agreement_report(table, n_boot=10)


def test_report_point_estimates_equal_the_formulas():
    table = random_table(np.random.default_rng(2))
    report = agreement_report(table, by="axis", n_boot=0)
    expected = rater_statistics(count_matrix(table.values, 2))
    overall = report["overall"]
    assert overall["percent_agreement"] == pytest.approx(expected["percent_agreement_unit_mean"], abs=1e-12)
    for key in ("fleiss_kappa", "krippendorff_alpha", "gwet_ac1"):
        assert overall[key] == pytest.approx(expected[key], abs=1e-12)
        assert overall[f"{key}_ci"] is None  # no resamples, no interval
    for label, block in report["by"].items():
        subset = table.values[table.groups["axis"] == label]
        assert block["gwet_ac1"] == pytest.approx(rater_statistics(count_matrix(subset, 2))["gwet_ac1"], abs=1e-12)
    first = report["pairs"][0]
    both = (table.values[:, 0] >= 0) & (table.values[:, 1] >= 0)
    a, b = table.values[both, 0], table.values[both, 1]
    assert first["n"] == both.sum()
    assert first["percent_agreement"] == pytest.approx((a == b).mean(), abs=1e-12)
    kappa, se = cohen_kappa(np.histogram2d(a, b, bins=[[0, 0.5, 1.5]] * 2)[0])
    assert (first["cohen_kappa"], first["cohen_kappa_se"]) == pytest.approx((kappa, se), abs=1e-12)


def test_rater_selection():
    table = random_table(np.random.default_rng(5))
    report = agreement_report(table, raters=["r3", "r0"], n_boot=0)
    assert report["raters"] == ["r3", "r0"]
    assert [p["raters"] for p in report["pairs"]] == [["r3", "r0"]]
    assert [m["rater"] for m in report["model_graders"]] == ["r3"]
    assert report["clinicians"][0]["macro_f1_leave_one_out"] is None  # no other clinician
    assert report["model_graders"][0]["percentile_among_clinicians"] is None
    with pytest.raises(ValueError, match="unknown"):
        agreement_report(table, raters=["nobody"])
    with pytest.raises(ValueError):
        agreement_report(table, by="theme")


def test_single_rater_gives_none_not_zero():
    table = RatingTable(np.array([[1], [0], [1]], dtype=np.int8), np.arange(3), ["c"], ["clinician"])
    overall = agreement_report(table, n_boot=20)["overall"]
    for key in ("percent_agreement", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1"):
        assert overall[key] is None and overall[f"{key}_ci"] is None
        assert overall["bootstrap"]["degenerate"][key] == 20


@pytest.mark.parametrize(
    "change",
    [
        {"values": np.array([[1, 2]])},
        {"values": np.array([[1.0, 0.0]])},
        {"conversation": np.array([0, 1])},
        {"kinds": ["clinician", "robot"]},
        {"raters": ["a", "a"]},
        {"groups": {"axis": np.array(["x", "y"])}},
    ],
)
def test_rating_table_rejects_malformed_input(change):
    fields = {
        "values": np.array([[1, 0]], dtype=np.int8),
        "conversation": np.array([0]),
        "raters": ["a", "b"],
        "kinds": ["clinician", "model"],
    }
    RatingTable(**fields)  # the unchanged table is valid
    with pytest.raises(ValueError):
        RatingTable(**{**fields, **change})


# ---------------------------------------------------------------- bootstrap (§8)


def test_bootstrap_weights_are_seeded_multinomial_counts():
    weights = conversation_bootstrap_weights(37, 500, seed=9)
    assert weights.shape == (500, 37)
    assert np.array_equal(weights, conversation_bootstrap_weights(37, 500, seed=9))
    assert not np.array_equal(weights, conversation_bootstrap_weights(37, 500, seed=10))
    assert (weights.sum(axis=1) == 37).all() and (weights >= 0).all()
    assert np.array_equal(weights, np.round(weights))
    assert weights.mean(axis=0) == pytest.approx(np.ones(37), abs=0.2)  # every cluster equally likely
    assert conversation_bootstrap_weights(0, 5, seed=0).shape == (5, 0)


def test_bootstrap_is_reproducible_with_a_seed():
    table = random_table(np.random.default_rng(6))
    first = agreement_report(table, by="axis", n_boot=300, seed=11)
    assert first == agreement_report(table, by="axis", n_boot=300, seed=11)
    other = agreement_report(table, by="axis", n_boot=300, seed=12)
    assert first["overall"]["gwet_ac1"] == other["overall"]["gwet_ac1"]
    assert first["overall"]["gwet_ac1_ci"] != other["overall"]["gwet_ac1_ci"]


def test_bootstrap_equals_explicit_resampling_of_whole_conversations():
    """The matmul bootstrap against rebuilding every resample item by item."""
    base = random_table(np.random.default_rng(7), n_conversations=12, per_conversation=3, missing=0.3)
    # Buckets of two conversations: small groups take the gather path, "axis"
    # groups (spread over every conversation) the dense product.
    bucket = (base.conversation % 6).astype(str)
    table = RatingTable(base.values, base.conversation, base.raters, base.kinds, {**base.groups, "bucket": bucket})
    n_boot, seed = 60, 5
    conversations, cluster = np.unique(table.conversation, return_inverse=True)
    weights = conversation_bootstrap_weights(len(conversations), n_boot, seed)

    def explicit_blocks(mask):
        samples = {key: [] for key in ("percent_agreement_unit_mean", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1")}
        for row in weights:
            draws = [c for c in range(len(conversations)) for _ in range(int(row[c]))]
            items = [i for c in draws for i in np.flatnonzero(mask & (cluster == c))]
            stats = rater_statistics(count_matrix(table.values[np.array(items, dtype=int)], 2))
            for key in samples:
                samples[key].append(np.nan if stats[key] is None else stats[key])
        return samples

    report = agreement_report(table, by="axis", n_boot=n_boot, seed=seed)
    checks = [(report["overall"], np.ones(len(cluster), bool))]
    for by in ("axis", "bucket"):
        blocks = agreement_report(table, by=by, n_boot=n_boot, seed=seed)["by"]
        checks += [(block, table.groups[by] == label) for label, block in blocks.items()]
    for block, mask in checks:
        for key, samples in explicit_blocks(mask).items():
            name = "percent_agreement" if key == "percent_agreement_unit_mean" else key
            samples = np.array(samples)
            defined = samples[~np.isnan(samples)]
            assert block["bootstrap"]["degenerate"][name] == len(samples) - len(defined)
            expected = np.quantile(defined, [0.025, 0.975]).tolist() if len(defined) else None
            assert block[f"{name}_ci"] == pytest.approx(expected, abs=1e-12)


def test_degenerate_resamples_are_counted():
    # Only conversation 2 holds "not met" ratings: every resample that misses
    # it has all ratings "met", so kappa and alpha are undefined there.
    values = np.ones((10, 2), dtype=np.int8)
    values[4:6] = [[0, 0], [0, 1]]
    conversation = np.repeat(np.arange(5), 2)
    table = RatingTable(values, conversation, ["a", "b"], ["clinician", "clinician"])
    report = agreement_report(table, n_boot=400, seed=1)
    missed = int((conversation_bootstrap_weights(5, 400, seed=1)[:, 2] == 0).sum())
    assert 50 < missed < 250  # about (4/5)^5 of 400
    degenerate = report["overall"]["bootstrap"]["degenerate"]
    assert degenerate == {"percent_agreement": 0, "fleiss_kappa": missed, "krippendorff_alpha": missed, "gwet_ac1": 0}


def test_all_met_report_has_undefined_kappa_and_ac1_of_one():
    table = RatingTable(np.ones((6, 3), dtype=np.int8), np.arange(6) // 2, ["a", "b", "c"], ["clinician"] * 3)
    overall = agreement_report(table, n_boot=100)["overall"]
    assert overall["fleiss_kappa"] is None and overall["fleiss_kappa_ci"] is None
    assert overall["krippendorff_alpha"] is None
    assert overall["bootstrap"]["degenerate"]["krippendorff_alpha"] == 100
    assert overall["gwet_ac1"] == 1.0 and overall["gwet_ac1_ci"] == [1.0, 1.0]


def test_perfect_agreement_with_both_classes_gives_alpha_interval_at_one():
    values = np.repeat(np.array([[1, 1], [0, 0]], dtype=np.int8), 10, axis=0)
    table = RatingTable(values, np.arange(20), ["a", "b"], ["clinician", "model"])
    overall = agreement_report(table, n_boot=300)["overall"]
    assert overall["krippendorff_alpha"] == 1.0 and overall["krippendorff_alpha_ci"] == [1.0, 1.0]


def duplicated_within_conversations(table: RatingTable) -> RatingTable:
    return RatingTable(
        np.repeat(table.values, 2, axis=0),
        np.repeat(table.conversation, 2),
        table.raters,
        table.kinds,
        {name: np.repeat(labels, 2) for name, labels in table.groups.items()},
    )


def test_duplicating_items_inside_conversations_changes_nothing_that_should_not_change():
    table = random_table(np.random.default_rng(8))
    base = agreement_report(table, by="axis", n_boot=300, seed=2)
    dup = agreement_report(duplicated_within_conversations(table), by="axis", n_boot=300, seed=2)
    # Ratio statistics and their conversation-level intervals are unchanged:
    # an item-level bootstrap would narrow the intervals instead.
    for old, new in [(base["overall"], dup["overall"])] + [(base["by"][k], dup["by"][k]) for k in base["by"]]:
        for key in ("percent_agreement", "fleiss_kappa", "gwet_ac1"):
            assert new[key] == pytest.approx(old[key], abs=1e-12)
            assert new[f"{key}_ci"] == pytest.approx(old[f"{key}_ci"], abs=1e-12)
        # Krippendorff's n - 1 small-sample correction makes alpha move, slightly (§5.1).
        assert new["krippendorff_alpha"] != old["krippendorff_alpha"]
        assert new["krippendorff_alpha"] == pytest.approx(old["krippendorff_alpha"], abs=0.02)
    for old, new in zip(base["pairs"], dup["pairs"]):
        assert new["n"] == 2 * old["n"]
        for key in ("percent_agreement", "cohen_kappa", "gwet_ac1", "macro_f1"):
            assert new[key] == pytest.approx(old[key], abs=1e-12)
        assert new["cohen_kappa_se"] == pytest.approx(old["cohen_kappa_se"] / math.sqrt(2), abs=1e-12)
    for old, new in zip(base["model_graders"], dup["model_graders"]):
        assert new["macro_f1"] == pytest.approx(old["macro_f1"], abs=1e-12)
        assert new["percentile_among_clinicians"] == old["percentile_among_clinicians"]


def test_one_conversation_means_every_resample_is_the_data():
    table = random_table(np.random.default_rng(9))
    single = RatingTable(table.values, np.zeros(len(table.values), dtype=int), table.raters, table.kinds)
    overall = agreement_report(single, n_boot=50)["overall"]
    for key in ("percent_agreement", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1"):
        assert overall[f"{key}_ci"] == pytest.approx([overall[key]] * 2, abs=1e-12)


def test_intervals_narrow_as_conversations_grow():
    small = agreement_report(random_table(np.random.default_rng(10), n_conversations=20), n_boot=500)
    large = agreement_report(random_table(np.random.default_rng(10), n_conversations=500), n_boot=500)
    width = lambda report: np.diff(report["overall"]["gwet_ac1_ci"])[0]  # noqa: E731
    assert width(large) < width(small) / 2


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.one_of(st.floats(min_value=-5, max_value=5), st.just(math.nan)), min_size=0, max_size=40),
        min_size=1,
        max_size=5,
    ).map(lambda rows: [row + [math.nan] * (40 - len(row)) for row in rows]),
    ci=st.sampled_from([0.5, 0.9, 0.95, 0.99]),
)
def test_percentile_intervals_match_numpy_quantile_per_row(rows, ci):
    samples = np.array(rows)
    lo, hi, undefined = percentile_intervals(samples, ci)
    for row, a, b, n in zip(samples, lo, hi, undefined):
        defined = row[~np.isnan(row)]
        assert n == len(row) - len(defined)
        if len(defined) == 0:
            assert np.isnan(a) and np.isnan(b)
        else:
            assert [a, b] == pytest.approx(np.quantile(defined, [(1 - ci) / 2, 1 - (1 - ci) / 2]).tolist(), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), n_raters=st.integers(1, 4), missing=st.sampled_from([0.0, 0.3, 0.8]))
def test_report_matches_formulas_on_random_tables(seed, n_raters, missing):
    rng = np.random.default_rng(seed)
    table = random_table(
        rng,
        n_conversations=int(rng.integers(1, 8)),
        per_conversation=int(rng.integers(1, 4)),
        kinds=("clinician",) * n_raters,
        missing=missing,
        groups=False,
    )
    report = agreement_report(table, n_boot=25, seed=seed)
    json.dumps(report, allow_nan=False)
    expected = rater_statistics(count_matrix(table.values, 2))
    overall = report["overall"]
    assert overall["percent_agreement"] == pytest.approx(expected["percent_agreement_unit_mean"], abs=1e-12)
    for key in ("fleiss_kappa", "krippendorff_alpha", "gwet_ac1"):
        assert overall[key] == pytest.approx(expected[key], abs=1e-12)
    for key in ("percent_agreement", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1"):
        degenerate = overall["bootstrap"]["degenerate"][key]
        assert 0 <= degenerate <= 25
        assert (overall[f"{key}_ci"] is None) == (degenerate == 25)


def test_model_grader_macro_f1_has_a_conversation_bootstrap_interval():
    rng = np.random.default_rng(5)
    clinician = rng.integers(0, 2, size=300)
    grader = np.where(rng.random(300) < 0.8, clinician, 1 - clinician)  # agrees on about 80% of items
    table = RatingTable(np.stack([clinician, grader], axis=1).astype(np.int8), np.arange(300) // 10,
                        ["Dr A", "grader"], ["clinician", "model"])
    [entry] = agreement_report(table, n_boot=500, seed=1)["model_graders"]
    lo, hi = entry["macro_f1_ci"]
    assert lo < entry["macro_f1"] < hi and 0.05 < hi - lo < 0.3
    assert agreement_report(table, n_boot=500, seed=1)["model_graders"][0]["macro_f1_ci"] == [lo, hi]
    one_class = RatingTable(np.ones((10, 2), dtype=np.int8), np.arange(10), ["Dr A", "grader"],
                            ["clinician", "model"])
    assert agreement_report(one_class, n_boot=100)["model_graders"][0]["macro_f1_ci"] is None
