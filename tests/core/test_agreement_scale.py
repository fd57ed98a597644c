"""Agreement at full scale (issue 9, items 14-15): per-group intervals in bounded memory,
degenerate resamples called out next to the interval, and --min-pairs for the grader's percentile."""

import json
import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import healthqa.agreement.bootstrap as bootstrap
from healthqa.agreement import RatingTable, agreement_report, degenerate_note, percentile_intervals
from tests.core.test_cli import healthqa
from tests.core.test_cli_agreement import grant_proposals_workspace


def many_groups_table(n_items: int = 5000, raters: int = 3, seed: int = 1) -> RatingTable:
    """Every item its own group (as --by criterion gives), two items per conversation."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n_items)
    values = np.stack([np.where(rng.random(n_items) < 0.85, truth, 1 - truth) for _ in range(raters)], axis=1)
    return RatingTable(values, np.arange(n_items) // 2, [f"c{j}" for j in range(raters)], ["clinician"] * raters,
                       groups={"criterion": np.arange(n_items)})


def peak_bytes(n_groups: int) -> int:
    table = many_groups_table(n_items=n_groups)
    tracemalloc.start()
    try:
        report = agreement_report(table, by="criterion", n_boot=500, seed=0)
        assert len(report["by"]) == n_groups
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_per_group_intervals_do_not_hold_every_groups_resamples():
    # Holding groups x resamples x 4 statistics at once grows by 8,000 x 500 x 4 x 8 B = 128 MB
    # from 2,000 to 10,000 groups; computed a chunk of groups at a time, only the report grows.
    growth = peak_bytes(10_000) - peak_bytes(2_000)
    assert growth < 64e6, f"peak grew by {growth / 1e6:.0f} MB"


def test_chunked_intervals_equal_the_unchunked_ones(monkeypatch):
    table = many_groups_table(n_items=300)
    whole = agreement_report(table, by="criterion", n_boot=200, seed=3)
    monkeypatch.setattr(bootstrap, "_SUMS_PER_CHUNK", 1)  # one group per chunk
    chunked = agreement_report(table, by="criterion", n_boot=200, seed=3)
    assert chunked == whole


def test_degenerate_note_past_one_percent_of_resamples():
    block = {"bootstrap": {"n_boot": 2000, "degenerate": {"fleiss_kappa": 30, "gwet_ac1": 20}}}
    assert degenerate_note(block, "fleiss_kappa") == "1.5% of resamples undefined"
    assert degenerate_note(block, "gwet_ac1") is None  # exactly 1 %: not more than 1 %
    assert degenerate_note(block, "krippendorff_alpha") is None
    assert degenerate_note({}, "fleiss_kappa") is None


def mostly_unanimous_table() -> RatingTable:
    """Three conversations; only the last holds a "not met", so any resample
    without it has a single category and an undefined kappa (about 30 %)."""
    values = np.array([[1, 1], [1, 1], [1, 1], [1, 1], [0, 1], [0, 0]])
    return RatingTable(values, np.array([0, 0, 1, 1, 2, 2]), ["a", "b"], ["clinician", "clinician"])


def test_report_counts_degenerate_resamples_and_notes_them():
    report = agreement_report(mostly_unanimous_table(), n_boot=2000, seed=0)
    undefined = report["overall"]["bootstrap"]["degenerate"]["fleiss_kappa"]
    assert 400 < undefined < 800  # (2/3)^3 of 2,000 resamples, about 593
    assert degenerate_note(report["overall"], "fleiss_kappa") == f"{100 * undefined / 2000:.1f}% of resamples undefined"


def test_cli_text_says_so_next_to_the_interval(tmp_path):
    from healthqa import store
    from healthqa.domain import Answer, Question
    from tests.conftest import healthbench_row

    path = tmp_path / "w.healthqa"
    with store.Workspace(path) as ws:
        a, b = store.ensure_rater(ws, "Dr A"), store.ensure_rater(ws, "Dr B")
        set_id = store.ensure_set(ws, "S")
        for k, verdicts in enumerate([("met", "met"), ("met", "met"), ("not_met", "met")]):
            qid, _ = store.upsert_question(ws, Question.model_validate(healthbench_row(f"p{k}")), set_id)
            aid, _ = store.add_answer(ws, qid, Answer(text=f"answer {k}", model="m"))
            crit = store.criteria_rows(ws, qid)[0]
            store.set_grade(ws, aid, crit["id"], a, verdicts[0])
            store.set_grade(ws, aid, crit["id"], b, verdicts[1])
    out = healthqa("agreement", workspace=path).stdout
    kappa_line = next(line for line in out.splitlines() if line.startswith("fleiss_kappa"))
    assert "% of resamples undefined" in kappa_line


def test_min_pairs_sets_who_counts_in_the_graders_percentile(tmp_path):
    ws = tmp_path / "w.healthqa"
    grant_proposals_workspace(ws)  # Dr A and Dr B share 50 items: 50 pairs each
    default = json.loads(healthqa("agreement", "--json", workspace=ws).stdout)
    assert {c["rater"]: (c["n"], c["in_percentile"]) for c in default["clinicians"]}["Dr A"] == (50, True)
    (grader,) = default["model_graders"]
    assert grader["percentile_min_pairs"] == 50 and grader["percentile_clinicians"] == 2
    strict = json.loads(healthqa("agreement", "--json", "--min-pairs", "51", workspace=ws).stdout)
    (grader,) = strict["model_graders"]
    assert grader["percentile_clinicians"] == 0 and grader["percentile_among_clinicians"] is None
    assert not any(c["in_percentile"] for c in strict["clinicians"])
    text = healthqa("agreement", "--min-pairs", "51", workspace=ws).stdout
    assert "at least 51 pairs" in text


@pytest.mark.parametrize("value", ["-1"])
def test_min_pairs_must_not_be_negative(tmp_path, value):
    ws = tmp_path / "w.healthqa"
    grant_proposals_workspace(ws)
    proc = healthqa("agreement", "--min-pairs", value, workspace=ws, check=False)
    assert proc.returncode == 2 and "--min-pairs" in proc.stderr


def few_clusters_table(seed: int = 4) -> RatingTable:
    """Groups lying in one, two or three conversations (criteria of one answer,
    or of one question answered by several models), with missing ratings and
    groups whose every resample is degenerate."""
    rng = np.random.default_rng(seed)
    n_items = 240
    conversation = rng.integers(0, 40, n_items)
    values = rng.integers(0, 2, (n_items, 3))
    values[rng.random((n_items, 3)) < 0.2] = -1
    values[:20] = 1  # unanimous items: kappa undefined in their groups
    group = np.where(np.arange(n_items) < 120, conversation, 100 + conversation // 3)  # 1 or 3 conversations
    group[:20] = 999  # one unanimous group over several conversations
    return RatingTable(values, conversation, ["a", "b", "c"], ["clinician"] * 3, groups={"criterion": group})


def reports_are_equal(one: dict, other: dict) -> None:
    assert one.keys() == other.keys()
    for label, block in one.items():
        assert block["bootstrap"] == other[label]["bootstrap"], label
        for key, value in block.items():
            if key.endswith("_ci") and value is not None:
                assert other[label][key] == pytest.approx(value, abs=1e-12), (label, key)
            else:
                assert other[label][key] == value, (label, key)


@pytest.mark.parametrize("n_boot", [0, 1, 7, 400])
def test_groups_in_few_conversations_give_the_intervals_of_every_resample(monkeypatch, n_boot):
    table = few_clusters_table()
    used = []
    original = bootstrap._patterned_chunks

    def spy(*args):
        for chunk in original(*args):
            used.append(chunk)
            yield chunk

    monkeypatch.setattr(bootstrap, "_patterned_chunks", spy)
    fast = agreement_report(table, by="criterion", n_boot=n_boot, seed=2)["by"]
    if n_boot == 400:  # with 1 or 7 resamples, nearly every resample is its own weighting
        assert used, "groups in a few conversations took the per-resample path"
    monkeypatch.setattr(bootstrap, "_PATTERN_SHARE", -1.0)  # never group resamples by weighting
    every = agreement_report(table, by="criterion", n_boot=n_boot, seed=2)["by"]
    reports_are_equal(fast, every)
    if n_boot == 400:
        assert any(block["bootstrap"]["degenerate"]["fleiss_kappa"] for block in fast.values())


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(st.lists(st.tuples(st.one_of(st.floats(-5, 5), st.just(math.nan)), st.integers(0, 4)),
                           min_size=1, max_size=12), min_size=1, max_size=4)
    .map(lambda rows: [row + [(math.nan, 0)] * (12 - len(row)) for row in rows]),
    ci=st.sampled_from([0.5, 0.9, 0.95]),
)
def test_weighted_percentiles_equal_those_of_the_repeated_samples(rows, ci):
    samples = np.array([[value for value, _ in row] for row in rows])
    counts = np.array([[count for _, count in row] for row in rows])
    lo, hi, undefined = percentile_intervals(samples, ci, counts)
    for row, row_counts, a, b, n in zip(samples, counts, lo, hi, undefined):
        repeated = np.repeat(row, row_counts)
        ref_lo, ref_hi, ref_n = percentile_intervals(repeated[None], ci)
        assert n == ref_n[0]
        assert (np.isnan(a), np.isnan(b)) == (np.isnan(ref_lo[0]), np.isnan(ref_hi[0]))
        if not np.isnan(a):
            assert [a, b] == pytest.approx([ref_lo[0], ref_hi[0]], abs=1e-12)
