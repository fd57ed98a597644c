"""`healthqa agreement` end to end: grades in a workspace file -> the published statistics."""

import json

import pytest

from healthqa import store
from healthqa.domain import Answer, Question
from tests.conftest import healthbench_row
from tests.core.test_cli import healthqa


def grant_proposals_workspace(path):
    """Cohen's worked example (a) of specs/agreement.md: 50 items, A/B = Yes/Yes 20, Yes/No 5,
    No/Yes 10, No/No 15, spread over 25 answers of 2 criteria each."""
    cells = [(1, 1)] * 20 + [(1, 0)] * 5 + [(0, 1)] * 10 + [(0, 0)] * 15
    with store.Workspace(path) as ws:
        a = store.ensure_rater(ws, "Dr A")
        b = store.ensure_rater(ws, "Dr B")
        grader = store.ensure_rater(ws, "grader", "model")
        set_id = store.ensure_set(ws, "S")
        for k in range(25):
            row = healthbench_row(f"p{k}")
            row["rubrics"] = row["rubrics"][:2]
            qid, _ = store.upsert_question(ws, Question.model_validate(row), set_id)
            aid, _ = store.add_answer(ws, qid, Answer(text=f"answer {k}", model="m"))
            for crit, (va, vb) in zip(store.criteria_rows(ws, qid), cells[2 * k:2 * k + 2]):
                store.set_grade(ws, aid, crit["id"], a, "met" if va else "not_met")
                store.set_grade(ws, aid, crit["id"], b, "met" if vb else "not_met")
                store.set_grade(ws, aid, crit["id"], grader, "met" if va else "not_met")
        # a "cannot judge" is missing, not a third category
        store.set_grade(ws, aid, crit["id"], store.ensure_rater(ws, "Dr C"), "cannot_judge")


def test_agreement_json_matches_published_cohen_example(tmp_path):
    ws = tmp_path / "w.healthqa"
    grant_proposals_workspace(ws)
    report = json.loads(healthqa("agreement", "--raters", "Dr A,Dr B", "--json", workspace=ws).stdout)
    assert report["items"] == 50 and report["raters"] == ["Dr A", "Dr B"]
    pair = report["pairs"][0]
    assert pair["raters"] == ["Dr A", "Dr B"] and pair["n"] == 50
    assert pair["percent_agreement"] == pytest.approx(0.70, abs=1e-6)
    assert pair["cohen_kappa"] == pytest.approx(0.40, abs=1e-6)
    assert pair["cohen_kappa_se"] == pytest.approx(0.126996, abs=1e-6)
    assert pair["gwet_ac1"] == pytest.approx(0.4059406, abs=1e-6)
    overall = report["overall"]
    for key in ("percent_agreement", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1"):
        lo, hi = overall[f"{key}_ci"]
        assert lo <= overall[key] <= hi


def test_agreement_json_keys_and_model_grader(tmp_path):
    ws = tmp_path / "w.healthqa"
    grant_proposals_workspace(ws)
    report = json.loads(healthqa("agreement", "--json", "--by", "axis", workspace=ws).stdout)
    assert set(report) >= {"items", "raters", "overall", "pairs", "model_graders", "clinicians"}
    assert set(report["raters"]) == {"Dr A", "Dr B", "Dr C", "grader"}
    (grader,) = report["model_graders"]
    assert set(grader) >= {"rater", "macro_f1", "n_pairs", "percentile_among_clinicians"}
    assert grader["rater"] == "grader" and grader["n_pairs"] == 100  # 50 items x 2 clinicians who judged
    assert {c["rater"] for c in report["clinicians"]} >= {"Dr A", "Dr B"}
    assert set(report["by"]) == {"context_awareness", "accuracy"}


def test_agreement_unknown_rater_is_a_clear_error(tmp_path):
    ws = tmp_path / "w.healthqa"
    grant_proposals_workspace(ws)
    proc = healthqa("agreement", "--raters", "Dr A,Dr Z", workspace=ws, check=False)
    assert proc.returncode == 2 and "no rater named 'Dr Z'" in proc.stderr


def test_agreement_text_shows_the_breakdown_it_was_asked_for(tmp_path):
    ws = tmp_path / "w.healthqa"
    grant_proposals_workspace(ws)
    report = json.loads(healthqa("agreement", "--json", "--by", "axis", workspace=ws).stdout)
    lines = healthqa("agreement", "--by", "axis", workspace=ws).stdout.splitlines()
    start = lines.index("by axis:")
    assert lines[start + 1].split()[:4] == ["axis", "items", "percent_agreement", "fleiss_kappa"]
    rows = {line.split()[0]: line for line in lines[start + 2:start + 4]}
    assert set(rows) == set(report["by"])
    for axis, line in rows.items():
        block = report["by"][axis]
        assert line.split()[1] == str(block["items"]) and f"{block['fleiss_kappa']:.3f}" in line
    # A criterion's label is its text, thousands of characters at times: the table shows its start.
    text = healthqa("agreement", "--by", "criterion", workspace=ws).stdout
    criteria = json.loads(healthqa("agreement", "--json", "--by", "criterion", workspace=ws).stdout)["by"]
    assert "by criterion:" in text
    for label in criteria:
        shown = label if len(label) <= 60 else label[:59] + "…"
        assert shown in text
    assert max(len(line) for line in text.splitlines()) < 60 + 160
