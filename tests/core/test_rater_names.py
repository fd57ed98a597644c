"""A clinician's name can always travel in a review bundle: new names are plain, and a name
saved before that rule (or with a typo) can be put right with `healthqa raters rename`."""

from __future__ import annotations

import json
import sqlite3

import pytest

from healthqa import store
from healthqa.domain import Answer, Question
from healthqa.formats.bundle import export_bundle
from healthqa.limits import LimitError
from healthqa.review import assign
from tests.conftest import healthbench_row
from tests.core.test_cli import healthqa


@pytest.mark.parametrize("name", ["Dr A/B", "Dr A\\B", "a..b", "Dr\tTab", "x" * 201])
def test_a_new_clinician_needs_a_name_a_bundle_can_carry(workspace, name):
    with pytest.raises(LimitError, match="rater name"):
        store.ensure_rater(workspace, name)
    assert store.list_raters(workspace) == []


def test_a_model_grader_may_be_named_after_an_org_model_config(workspace):
    assert store.ensure_rater(workspace, "meta-llama/Llama-4", "model")
    with pytest.raises(LimitError):
        store.ensure_rater(workspace, "grader\nx", "model")


def legacy_workspace(path) -> None:
    """A workspace whose clinician got a name the bundle rules refuse (allowed before them)."""
    with store.Workspace(path) as ws:
        set_id = store.ensure_set(ws, "S")
        qid, _ = store.upsert_question(ws, Question.model_validate(healthbench_row("p1")), set_id)
        aid, _ = store.add_answer(ws, qid, Answer(text="Rest and ice.", model="m"))
        rater = store.ensure_rater(ws, "Dr A")
        store.set_grade(ws, aid, store.criteria_rows(ws, qid)[0]["id"], rater, "met")
        assign(ws, ["Dr A"], 1)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE raters SET name = 'Dr A/B' WHERE name = 'Dr A'")
    conn.commit()
    conn.close()


def test_renaming_a_clinician_keeps_their_work_and_lets_their_bundle_be_written(tmp_path):
    path = tmp_path / "w.healthqa"
    legacy_workspace(path)
    refused = healthqa("bundle", "export", "--rater", "Dr A/B", "--out", str(tmp_path / "b.hqa"),
                       workspace=path, check=False)
    assert refused.returncode == 2 and "healthqa raters rename" in refused.stderr
    listed = json.loads(healthqa("raters", "list", "--json", workspace=path).stdout)
    assert listed == [{"name": "Dr A/B", "kind": "clinician", "role": None, "specialty": None, "answers_graded": 1}]
    assert "Renamed" in healthqa("raters", "rename", "Dr A/B", "Dr A and B", workspace=path).stdout
    with store.Workspace(path) as ws:
        rater_id = store.rater_id_by_name(ws, "Dr A and B")
        assert ws.scalar("SELECT count(*) FROM grades WHERE rater_id = ?", (rater_id,)) == 1
        assert ws.scalar("SELECT count(*) FROM assignments WHERE rater_id = ?", (rater_id,)) == 1
        report = export_bundle(ws, "Dr A and B", tmp_path / "b.hqa")
        assert report.rater == "Dr A and B"


@pytest.mark.parametrize("args, message", [
    (("nobody", "x"), "no clinician named 'nobody' (clinicians: Dr A/B)"),
    (("Dr A/B", "Dr C/D"), "new name: names may not hold path separators"),
    (("Dr A/B", "grader"), "a rater named 'grader' exists already"),
    (("grader", "x"), "'grader' is a model grader"),
    (("Dr A/B", "Adjudicated"), "holds the adjudicated verdicts"),
])
def test_rename_refuses_with_one_line(tmp_path, args, message):
    path = tmp_path / "w.healthqa"
    legacy_workspace(path)
    with store.Workspace(path) as ws:
        store.ensure_rater(ws, "grader", "model")
    proc = healthqa("raters", "rename", *args, workspace=path, check=False)
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    with store.Workspace(path) as ws:
        assert {r["name"] for r in store.list_raters(ws)} == {"Dr A/B", "grader"}
