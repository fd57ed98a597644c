"""Criterion flags: one per (criterion, clinician), reasons checked, listed and exported safely."""

import csv
import json
import subprocess
import sys

import pytest

from healthqa import store
from healthqa.domain import Answer, Question, RaterKind
from healthqa.review import (FLAG_REASONS, FlagError, criterion_id_at, export_flags, flag_criterion, list_flags,
                             unflag_criterion)
from healthqa.store import Workspace
from tests.conftest import healthbench_row


@pytest.fixture
def criteria(workspace):
    qid, _ = store.upsert_question(workspace, Question.model_validate(healthbench_row("p1")),
                                   store.ensure_set(workspace, "S"))
    return [c["id"] for c in store.criteria_rows(workspace, qid)]


def test_flag_reflag_and_withdraw(workspace, criteria):
    assert flag_criterion(workspace, criteria[2], "Dr A", "wrong_sign", "should be positive")
    assert not flag_criterion(workspace, criteria[2], "Dr A", "wrong_sign", "should be positive")  # no change
    first = workspace.scalar("SELECT created_at FROM criterion_flags")
    assert flag_criterion(workspace, criteria[2], "Dr A", "ambiguous", "on second thought")
    [flag] = list_flags(workspace)
    assert (flag["prompt_id"], flag["criterion_position"], flag["points"], flag["reason"], flag["comment"]) == (
        "p1", 3, -7, "ambiguous", "on second thought")
    assert flag["flagged_at"] >= first and flag["tags"] == ["axis:accuracy", "level:example"]
    flag_criterion(workspace, criteria[2], "Dr B", "irrelevant")
    assert [f["rater"] for f in list_flags(workspace)] == ["Dr A", "Dr B"]
    assert [f["rater"] for f in list_flags(workspace, rater="Dr B")] == ["Dr B"]
    assert unflag_criterion(workspace, criteria[2], "Dr A")
    assert not unflag_criterion(workspace, criteria[2], "Dr A")
    assert not unflag_criterion(workspace, criteria[2], "Dr Nobody")
    assert [f["rater"] for f in list_flags(workspace)] == ["Dr B"]


@pytest.mark.parametrize("call, message", [
    (lambda ws, c: flag_criterion(ws, c[0], "Dr A", "wrong"), "reason must be one of wrong_sign"),
    (lambda ws, c: flag_criterion(ws, c[0], "Dr A", "other", "x" * 10_001), "longer than 10,000"),
    (lambda ws, c: flag_criterion(ws, "no-such-id", "Dr A", "other"), "no criterion with id"),
    (lambda ws, c: flag_criterion(ws, c[0], "grader", "other"), "exists already as a model"),
    (lambda ws, c: criterion_id_at(ws, "p1", 4), "no criterion #4 in question 'p1'"),
])
def test_bad_flags_are_refused(workspace, criteria, call, message):
    store.ensure_rater(workspace, "grader", RaterKind.MODEL)
    with pytest.raises(FlagError, match=message):
        call(workspace, criteria)
    assert workspace.scalar("SELECT count(*) FROM criterion_flags") == 0


def test_criterion_by_prompt_id_and_number(workspace, criteria):
    assert criterion_id_at(workspace, "p1", 1) == criteria[0]
    assert criterion_id_at(workspace, "p1", 3) == criteria[2]


def test_export_csv_is_spreadsheet_safe_and_jsonl_keeps_types(workspace, criteria, tmp_path):
    flag_criterion(workspace, criteria[0], "Dr A", "other", '=HYPERLINK("http://evil.example","x"), "quoted"')
    flag_criterion(workspace, criteria[1], "Dr A", "wrong_content", "two\nlines, with comma")
    assert export_flags(workspace, tmp_path / "f.csv") == 2
    with open(tmp_path / "f.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["comment"] == '\'=HYPERLINK("http://evil.example","x"), "quoted"'
    assert rows[1]["comment"] == "two\nlines, with comma" and rows[1]["points"] == "8"
    assert export_flags(workspace, tmp_path / "f.jsonl", fmt="jsonl") == 2
    lines = [json.loads(x) for x in (tmp_path / "f.jsonl").read_text().splitlines()]
    assert lines[0]["comment"].startswith("=HYPERLINK") and lines[0]["tags"] == ["axis:context_awareness",
                                                                                  "level:example"]


def test_reasons_are_the_documented_ones():
    assert FLAG_REASONS == ("wrong_sign", "wrong_content", "ambiguous", "irrelevant", "other")


def test_cli_flag_and_flags(tmp_path):
    ws_path = tmp_path / "w.healthqa"
    with Workspace(ws_path) as ws:
        store.upsert_question(ws, Question.model_validate(healthbench_row("p1")), store.ensure_set(ws, "S"))

    def run(*args, code=0):
        proc = subprocess.run([sys.executable, "-m", "healthqa.cli", "--workspace", str(ws_path), *args],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == code, proc.stderr
        return proc

    run("flag", "p1", "3", "--rater", "Dr A", "--reason", "wrong_sign", "--comment", "reads as a good thing")
    assert "give --reason" in run("flag", "p1", "2", "--rater", "Dr A", code=2).stderr
    [flag] = json.loads(run("flags", "--json").stdout)
    assert (flag["criterion_position"], flag["reason"], flag["rater"]) == (3, "wrong_sign", "Dr A")


def _graded_illustrative(ws: Workspace) -> list[str]:
    """The spec's illustrative row (+6, +8, -7) answered once; Dr A: met, not met, met."""
    qid, _ = store.upsert_question(ws, Question.model_validate(healthbench_row("p1")), store.ensure_set(ws, "S"))
    aid, _ = store.add_answer(ws, qid, Answer(text="Rest it.", model="m"))
    rater = store.ensure_rater(ws, "Dr A")
    ids = [c["id"] for c in store.criteria_rows(ws, qid)]
    for cid, verdict in zip(ids, ("met", "not_met", "met")):
        store.set_grade(ws, aid, cid, rater, verdict)
    return ids


def test_scores_without_flagged_criteria(workspace, tmp_path):
    from healthqa.formats.report import write_report
    from healthqa.scoring import score_workspace

    ids = _graded_illustrative(workspace)
    as_written = score_workspace(workspace, rater="Dr A")[0]
    assert as_written["score"] == 0.0  # (6 - 7) / 14, clipped
    flag_criterion(workspace, ids[2], "Dr A", "wrong_sign", "a broken ankle is not certain either way")
    assert score_workspace(workspace, rater="Dr A")[0]["score"] == 0.0  # flags change nothing by default
    without = score_workspace(workspace, rater="Dr A", without_flagged=True)[0]
    assert without["score"] == pytest.approx(6 / 14)
    assert without["metrics"]["axis:accuracy"] == 0.0  # only the +8 criterion (not met) is left on that axis
    report = write_report(workspace, tmp_path / "r.html").read_text()
    assert "Without flagged criteria" in report and "0.429" in report
    for cid in ids[:2]:  # every positive criterion flagged: nothing left to score
        flag_criterion(workspace, cid, "Dr A", "ambiguous")
    left = score_workspace(workspace, rater="Dr A", without_flagged=True)[0]
    assert left["score"] is None and left["unscored"] == 1
