"""Agreement at full scale (issue 9, items 14-15): per-group intervals in bounded memory,
degenerate resamples called out next to the interval, and --min-pairs for the grader's percentile."""

import json
import tracemalloc

import numpy as np
import pytest

import healthqa.agreement.bootstrap as bootstrap
from healthqa.agreement import RatingTable, agreement_report, degenerate_note
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
