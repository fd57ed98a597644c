"""Answers cut off at the output cap or stopped by a filter: stored with their finish
reason by a run, counted per model in scores, left out with --exclude-truncated
(issue 9 item 13)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from healthqa import cli
from healthqa.domain import incomplete_label
from healthqa.scoring import score_workspace
from healthqa.runs import DONE, create_run, execute_run
from healthqa.store import Workspace, ensure_rater, set_grade
from tests.core.provider_servers import OpenAIServer, anthropic_server, gemini_server, openai_server  # noqa: F401
from tests.core.test_runs import add_config, add_questions


def graded_run(ws: Workspace, server: OpenAIServer) -> dict[str, str | None]:
    """Three answers from a run (one cut off, one filtered, one whole), every criterion met
    by one clinician; returns finish reason per answer id."""
    add_questions(ws, 3)
    add_config(ws, server)
    server.enqueue(lambda request: server._normal(request, finish="length"), server.content_filter())
    run_id = create_run(ws, model_name="m", set_name="S")
    assert asyncio.run(execute_run(ws, run_id, concurrency=1, api_key=server.api_key)).status == DONE
    rater = ensure_rater(ws, "dr-a")
    answers = ws.query("SELECT a.id, a.finish_reason, c.id AS criterion FROM answers a "
                       "JOIN criteria c ON c.question_id = a.question_id")
    for row in answers:
        set_grade(ws, row["id"], row["criterion"], rater, "met")
    return {r["id"]: r["finish_reason"] for r in answers}


def test_answers_of_a_run_say_which_are_incomplete(tmp_path: Path, openai_server, capsys):
    path = tmp_path / "w.healthqa"
    with Workspace(path) as ws:
        graded_run(ws, openai_server)
        run_id = ws.query_one("SELECT id FROM runs")["id"]
    assert cli.main(["--workspace", str(path), "answers", "--run", run_id]) == 0
    text = capsys.readouterr().out
    assert "· length (CUT OFF) ·" in text and "· content_filter (FILTERED) ·" in text
    assert cli.main(["--workspace", str(path), "answers", "--run", run_id, "--json"]) == 0
    assert sorted(map(str, (a["incomplete"] for a in json.loads(capsys.readouterr().out)))) == [
        "Cut off", "Filtered", "None"]


def test_labels_for_incomplete_answers():
    assert [incomplete_label(r) for r in ("length", "content_filter", "refusal", "stop", None)] == [
        "Cut off", "Filtered", "Refused", None, None]


def test_scores_count_incomplete_answers_and_can_leave_them_out(workspace, openai_server):
    finishes = graded_run(workspace, openai_server)
    assert sorted(map(str, set(finishes.values()))) == ["content_filter", "length", "stop"]
    [whole] = score_workspace(workspace, n_boot=10)
    assert whole["answers"] == 3 and whole["incomplete"] == {"Cut off": 1, "Filtered": 1}
    [kept] = score_workspace(workspace, n_boot=10, exclude_truncated=True)
    assert kept["answers"] == 1 and kept["incomplete"] == {}


def test_score_exclude_truncated_on_the_command_line(tmp_path: Path, openai_server, capsys):
    path = tmp_path / "w.healthqa"
    with Workspace(path) as ws:
        graded_run(ws, openai_server)
    assert cli.main(["--workspace", str(path), "score"]) == 0
    text = capsys.readouterr().out
    assert "1 cut off, 1 filtered" in text and "--exclude-truncated leaves them out" in text
    assert cli.main(["--workspace", str(path), "score", "--exclude-truncated", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["answers"] == 1 and row["incomplete"] == {}


def test_each_provider_marks_cut_off_and_filtered_answers(anthropic_server, gemini_server):
    from tests.core.test_capabilities import ask
    anthropic_server.enqueue(anthropic_server.refusal())
    gemini_server.enqueue(gemini_server.safety_finish())
    assert incomplete_label(ask(anthropic_server).finish_reason) == "Refused"
    assert incomplete_label(ask(anthropic_server, max_output_tokens=3).finish_reason) == "Cut off"
    assert incomplete_label(ask(gemini_server).finish_reason) == "Filtered"
    assert incomplete_label(ask(gemini_server, max_output_tokens=3).finish_reason) == "Cut off"
