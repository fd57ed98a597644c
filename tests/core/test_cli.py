"""The `healthqa` command as a script runs it: a real process, a real workspace file."""

import json
import os
import subprocess
import sys

import pytest

from healthqa.store import Workspace
from tests.conftest import healthbench_row, write_jsonl


def healthqa(*args, workspace=None, env=None, check=True):
    run_env = {**os.environ, **(env or {})}
    cmd = [sys.executable, "-m", "healthqa.cli", *args]
    if workspace is not None:
        cmd[3:3] = ["--workspace", str(workspace)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=run_env, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr}")
    return proc


@pytest.fixture
def graded_file(tmp_path):
    rows = []
    for i, (model, verdicts) in enumerate([("m1", [True, True, False]), ("m2", [True, False, True])]):
        row = healthbench_row("p1", completion=f"answer {i}", model=model)
        for item, met in zip(row["rubrics"], verdicts):
            item["criteria_met"] = met
        rows.append(row)
    return write_jsonl(tmp_path / "graded.jsonl", rows)


def test_import_sets_questions_score_export(tmp_path, graded_file):
    ws = tmp_path / "w.healthqa"
    out = healthqa("import", str(graded_file), "--set", "Demo", "--rater", "gpt-4.1", "--rater-kind", "model",
                   workspace=ws).stdout
    assert "1 new questions" in out and "2 new answers" in out and "6 grades written" in out
    sets = json.loads(healthqa("sets", "--json", workspace=ws).stdout)
    assert [(s["name"], s["questions"]) for s in sets] == [("Demo", 1)]
    questions = json.loads(healthqa("questions", "--set", "Demo", "--json", workspace=ws).stdout)
    assert questions[0]["prompt_id"] == "p1" and questions[0]["criteria"] == 3
    scores = json.loads(healthqa("score", "--json", workspace=ws).stdout)
    assert {(s["model"], s["rater"]): s["score"] for s in scores} == {
        ("m1", "gpt-4.1"): pytest.approx(1.0), ("m2", "gpt-4.1"): 0.0}  # (6-7)/14 clipped to 0
    first = scores[0]
    assert set(first) >= {"model", "rater", "score", "ungraded", "metrics"}
    assert first["metrics"]["axis:accuracy:n_samples"] == 1
    table = healthqa("score", "--model", "m1", workspace=ws).stdout
    assert "m1" in table and "m2" not in table and "1.000" in table
    healthqa("export", "--set", "Demo", "--format", "healthbench", "--out", str(tmp_path / "o.jsonl"), workspace=ws)
    assert json.loads((tmp_path / "o.jsonl").read_text())["prompt_id"] == "p1"


def test_workspace_from_environment(tmp_path):
    ws = tmp_path / "env.healthqa"
    healthqa("import", str(write_jsonl(tmp_path / "q.jsonl", [healthbench_row()])),
             env={"HEALTHQA_WORKSPACE": str(ws)})
    assert ws.exists()


@pytest.mark.parametrize("make", [
    lambda p: p / "missing.jsonl",
    lambda p: p,
    lambda p: (p / "empty.jsonl").write_bytes(b"") or p / "empty.jsonl",
    lambda p: (p / "latin1.jsonl").write_bytes("caf\xe9".encode("latin-1")) or p / "latin1.jsonl",
    lambda p: write_jsonl(p / "zero.jsonl", [healthbench_row(rubrics=[{"criterion": "c", "points": 0, "tags": []}])]),
])
def test_bad_input_is_one_line_no_traceback(tmp_path, make):
    proc = healthqa("import", str(make(tmp_path)), workspace=tmp_path / "w.healthqa", check=False)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1


def test_unknown_set_is_a_clear_error(tmp_path):
    Workspace(tmp_path / "w.healthqa").close()  # it exists: a missing workspace is refused before any set is looked up
    proc = healthqa("questions", "--set", "Nope", workspace=tmp_path / "w.healthqa", check=False)
    assert proc.returncode == 2 and "no question set named 'Nope'" in proc.stderr


def test_unknown_rater_in_score_is_a_clear_error(tmp_path, graded_file):
    ws = tmp_path / "w.healthqa"
    healthqa("import", str(graded_file), "--rater", "Dr A", workspace=ws)
    proc = healthqa("score", "--rater", "Dr Nobody", workspace=ws, check=False)
    assert proc.returncode == 2 and "no rater named 'Dr Nobody' (raters: Dr A, or 'majority')" in proc.stderr


def test_skip_invalid_lists_each_skipped_line(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [healthbench_row("a"), "{bad", healthbench_row("b")])
    out = healthqa("import", str(path), "--skip-invalid", workspace=tmp_path / "w.healthqa").stdout
    assert "skipped 1 invalid rows" in out and "m.jsonl:2: invalid JSON" in out


def test_score_without_flagged_criteria(tmp_path, graded_file):
    ws = tmp_path / "w.healthqa"
    healthqa("import", str(graded_file), "--rater", "Dr A", workspace=ws)
    healthqa("flag", "p1", "3", "--rater", "Dr A", "--reason", "wrong_sign", workspace=ws)
    as_written = {s["model"]: s["score"] for s in json.loads(healthqa("score", "--json", workspace=ws).stdout)}
    without = {s["model"]: s["score"] for s in
               json.loads(healthqa("score", "--json", "--without-flagged", workspace=ws).stdout)}
    assert as_written == {"m1": pytest.approx(1.0), "m2": 0.0}  # m2 met the -7 criterion: (6 - 7) / 14
    assert without == {"m1": pytest.approx(1.0), "m2": pytest.approx(6 / 14)}


def test_score_worst_at_k_over_samples(tmp_path):
    # one question, three samples of model m graded by Dr A: scores 1.0, 6/14, 0 (unclipped (6-7)/14)
    rows = []
    for i, verdicts in enumerate([(True, True, False), (True, False, False), (True, False, True)]):
        row = healthbench_row("p1", completion=f"sample {i}", model="m")
        for item, met in zip(row["rubrics"], verdicts):
            item["criteria_met"] = met
        rows.append(row)
    ws = tmp_path / "w.healthqa"
    healthqa("import", str(write_jsonl(tmp_path / "s.jsonl", rows)), "--rater", "Dr A", workspace=ws)
    [result] = json.loads(healthqa("score", "--json", "--worst-at-k", "1,2,3", workspace=ws).stdout)
    scores = sorted([1.0, 6 / 14, -1 / 14])
    assert result["worst_at_k"]["1"] == {"value": pytest.approx(sum(scores) / 3), "prompts": 1}
    assert result["worst_at_k"]["2"]["value"] == pytest.approx((2 * scores[0] + scores[1]) / 3)
    assert result["worst_at_k"]["3"]["value"] == 0.0  # -1/14, clipped
    assert "worst-at-2" in healthqa("score", "--worst-at-k", "2", workspace=ws).stdout
    bad = healthqa("score", "--worst-at-k", "two", workspace=ws, check=False)
    assert bad.returncode == 2 and "whole numbers" in bad.stderr


def test_command_table_says_what_each_module_registers():
    """healthqa.cli.COMMANDS decides which module a command line imports: it must match registration."""
    import argparse
    import importlib

    from healthqa.cli import COMMAND_MODULES, COMMANDS
    registered = {}
    for name in COMMAND_MODULES:
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"healthqa.commands.{name}").register(sub)
        registered.update({command: name for command in sub.choices})
    assert registered == COMMANDS


def test_a_command_line_imports_only_its_own_command_module():
    from healthqa.cli import _command_word, build_parser
    assert _command_word(["--workspace", "sets", "score", "--json"]) == "score"
    assert set(build_parser(["sets"])._subparsers._group_actions[0].choices) == {"import", "sets", "questions",
                                                                                  "score"}
    assert "compare" in build_parser(["--help"])._subparsers._group_actions[0].choices
    assert "compare" in build_parser(["no-such-command"])._subparsers._group_actions[0].choices
