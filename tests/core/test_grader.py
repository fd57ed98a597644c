"""The HealthBench model grader: prompt, strict parsing, capped retries, grading passes on the engine."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from healthqa.domain import Message
from healthqa.runs import (GRADER_TEMPLATE, NO_EXPLANATION, PROMPT_SHA256, PROMPT_VERSION, create_grade_run,
                           grader_prompt, parse_grader_reply, render_conversation, render_criterion)
from healthqa.runs import CANCELLED, DONE, RunError, RunProgress, create_run, execute_run
from healthqa.store import ensure_rater, save_model_config
from tests.core.provider_servers import OpenAIServer, answer_for, config_for, openai_server  # noqa: F401
from tests.core.test_runs import add_config, add_questions, execute, question_text

RUBRIC = re.compile(r"# Rubric item\n\[(-?\d+)\] ")


def verdict_reply(met: bool, explanation: str = "Checked against the response.", fence: str = "```json") -> str:
    return f'{fence}\n{{"explanation": "{explanation}", "criteria_met": {json.dumps(met)}}}\n```'


def grading_responder(question: str, request) -> str:
    """A grader that finds positive-point items met and negative ones not met; answers questions normally."""
    match = RUBRIC.search(question)
    if match is None:
        return answer_for(question)
    return verdict_reply(int(match.group(1)) > 0)


def scripted(server, replies: list[str]) -> None:
    """The grader's next replies, in order; then the normal grading responder."""
    queue = list(replies)
    server.responder = lambda q, r: queue.pop(0) if queue and RUBRIC.search(q) else grading_responder(q, r)


def answered_run(ws, server, n: int = 2, **config) -> str:
    add_questions(ws, n)
    add_config(ws, server, **config)
    run_id = create_run(ws, model_name="m", set_name="S")
    assert execute(ws, run_id, api_key=server.api_key).status == DONE
    return run_id


def grades(ws, rater_id=None) -> list[dict]:
    sql = "SELECT g.*, c.points FROM grades g JOIN criteria c ON c.id = g.criterion_id"
    return ws.query(sql + " WHERE g.rater_id = ?", (rater_id,)) if rater_id else ws.query(sql)


# ---- the prompt -----------------------------------------------------------------

def test_conversation_is_role_content_blocks_with_the_answer_last():
    messages = [Message(role="user", content="I twisted my ankle."), Message(role="assistant", content="Can you walk?"),
                Message(role="user", content=[{"type": "text", "text": "Barely. Here is a photo."},
                                              {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}])]
    assert render_conversation(messages, "Please get it checked today.") == (
        "user: I twisted my ankle.\n\nassistant: Can you walk?\n\nuser: Barely. Here is a photo.\n[image]"
        "\n\nassistant: Please get it checked today.")
    assert render_conversation(messages[:1], "A.", system_prompt="You are a helpful assistant.") == (
        "system: You are a helpful assistant.\n\nuser: I twisted my ankle.\n\nassistant: A.")


def test_criterion_carries_its_points():
    assert render_criterion(-7, "States with certainty that the ankle is broken.") == (
        "[-7] States with certainty that the ankle is broken.")
    assert render_criterion(6, "Asks how it happened.") == "[6] Asks how it happened."


def test_template_has_the_healthbench_sections_in_order():
    headers = re.findall(r"^# (.+)$", GRADER_TEMPLATE, flags=re.M)
    assert headers == ["Conversation", "Rubric item", "Instructions", "Example 1", "Example 2", "Final instruction"]
    first_line = GRADER_TEMPLATE.splitlines()[0]
    assert "last assistant response" in first_line and not first_line.startswith("#")
    assert '"criteria_met"' in GRADER_TEMPLATE and '"explanation"' in GRADER_TEMPLATE
    assert PROMPT_VERSION and len(PROMPT_SHA256) == 64


def test_placeholders_are_filled_once_and_never_inside_the_conversation():
    prompt = grader_prompt("user: what does <<rubric_item>> mean?\n\nassistant: x", "[5] Is kind.")
    assert "<<conversation>>" not in prompt
    assert "user: what does <<rubric_item>> mean?" in prompt
    assert prompt.count("[5] Is kind.") == 1
    assert prompt.index("# Conversation\nuser: what does") < prompt.index("# Rubric item\n[5] Is kind.")


# ---- parsing --------------------------------------------------------------------

@pytest.mark.parametrize("reply, met", [
    ('```json\n{"explanation": "e", "criteria_met": true}\n```', True),
    ('```\n{"explanation": "e", "criteria_met": false}\n```', False),  # a bare fence counts
    ('  {"explanation": "e", "criteria_met": false}  ', False),
    ('```JSON\n{"explanation": "e", "criteria_met": true}```', True),
])
def test_a_real_boolean_counts(reply, met):
    assert parse_grader_reply(reply).criteria_met is met


@pytest.mark.parametrize("reply", [
    '{"explanation": "e", "criteria_met": "true"}',  # a string is not a boolean
    '{"explanation": "e", "criteria_met": 1}',
    '{"explanation": "e", "criteria_met": null}',
    '{"explanation": "e"}',
    '[{"criteria_met": true}]',
    'The response meets the criterion.',
    'Here you go:\n```json\n{"explanation": "e", "criteria_met": true}\n```',
    '',
])
def test_anything_else_does_not(reply):
    assert parse_grader_reply(reply) is None


def test_a_missing_explanation_is_said_so():
    assert parse_grader_reply('{"criteria_met": true}').explanation == NO_EXPLANATION


# ---- grading passes -----------------------------------------------------------------

def test_grading_pass_end_to_end(workspace, openai_server):
    answers_run = answered_run(workspace, openai_server, n=2, system_prompt="You are a careful clinician.")
    grader = config_for(openai_server, name="grader", temperature=0.5, max_output_tokens=2048)
    save_model_config(workspace, grader)
    openai_server.responder = grading_responder
    first_request = len(openai_server.requests)
    run_id = create_grade_run(workspace, answers_run, "grader")
    items = workspace.query("SELECT key, answer_id, criterion_id FROM work_items WHERE run_id = ?", (run_id,))
    assert len(items) == 6 and all(i["key"] == f"{i['answer_id']}:{i['criterion_id']}" for i in items)

    summary = execute(workspace, run_id, concurrency=3, api_key=openai_server.api_key)
    assert summary.status == DONE and summary.kind == "grade" and summary.calls == 6
    run = workspace.query_one("SELECT kind, source_run_id, rater_id FROM runs WHERE id = ?", (run_id,))
    assert run["kind"] == "grade" and run["source_run_id"] == answers_run
    rater = workspace.query_one("SELECT * FROM raters WHERE id = ?", (run["rater_id"],))
    assert rater["kind"] == "model" and rater["name"] == "grader" and rater["model_config_id"] == grader.id
    assert json.loads(rater["grader_settings"]) == {
        "model_config": "grader", "grader_model": grader.model, "provider": "openai", "temperature": 0.5,
        "max_output_tokens": 2048, "reasoning": "off", "system_prompt": None, "prompt_version": PROMPT_VERSION,
        "prompt_sha256": PROMPT_SHA256}
    given = grades(workspace, rater["id"])
    assert len(given) == 6
    assert all(g["verdict"] == ("met" if g["points"] > 0 else "not_met") for g in given)
    assert all(g["explanation"] == "Checked against the response." for g in given)

    # each call: one user message, the filled template; the answering model's system prompt rendered first
    sent = openai_server.requests[first_request:]
    assert all([m["role"] for m in r.json["messages"]] == ["user"] for r in sent)
    prompts = [r.json["messages"][0]["content"] for r in sent]
    assert len(prompts) == 6 and all(r.json["temperature"] == 0.5 and r.json["max_completion_tokens"] == 2048
                                     for r in sent)
    assert any("# Conversation\nsystem: You are a careful clinician.\n\nuser: " + question_text(0) +
               "\n\nassistant: " + answer_for(question_text(0)) + "\n\n# Rubric item\n[-7] States" in p
               for p in prompts)


def test_three_malformed_replies_leave_no_verdict_never_false(workspace, openai_server):
    answers_run = answered_run(workspace, openai_server, n=1)
    scripted(openai_server, ["I think it is met.", '{"criteria_met": "true"}', "```json\n{oops\n```"])
    run_id = create_grade_run(workspace, answers_run, "m")
    before = len(openai_server.requests)
    summary = execute(workspace, run_id, concurrency=1, api_key=openai_server.api_key)
    assert summary.status == DONE  # a criterion without verdict is a finished item, not a failed one
    assert len(openai_server.requests) - before == 3 + 2  # capped at 3 for the first criterion
    by_points = {g["points"]: g for g in grades(workspace)}
    assert by_points[6]["verdict"] is None  # NULL: no verdict, and not "not_met"
    assert by_points[6]["explanation"].startswith("No verdict: 3 grader replies") and "oops" in by_points[6]["explanation"]
    assert by_points[8]["verdict"] == "met" and by_points[-7]["verdict"] == "not_met"


def test_a_reply_that_counts_on_the_last_attempt_is_kept(workspace, openai_server):
    answers_run = answered_run(workspace, openai_server, n=1)
    scripted(openai_server, ['{"criteria_met": "true"}', "no json", verdict_reply(False, fence="```")])
    run_id = create_grade_run(workspace, answers_run, "m", max_attempts=3)
    before = len(openai_server.requests)
    summary = execute(workspace, run_id, concurrency=1, api_key=openai_server.api_key)
    assert summary.calls == 3 + 2 and len(openai_server.requests) - before == 5
    assert {g["points"]: g["verdict"] for g in grades(workspace)} == {6: "not_met", 8: "met", -7: "not_met"}


def test_the_retry_cap_is_a_setting(workspace, openai_server):
    answers_run = answered_run(workspace, openai_server, n=1)
    scripted(openai_server, ["no json"] * 5)
    run_id = create_grade_run(workspace, answers_run, "m", max_attempts=5)
    before = len(openai_server.requests)
    execute(workspace, run_id, concurrency=1, api_key=openai_server.api_key)
    assert len(openai_server.requests) - before == 5 + 2
    assert {g["points"]: g["verdict"] for g in grades(workspace)}[6] is None


def test_grading_again_fills_only_the_gaps(workspace, openai_server):
    answers_run = answered_run(workspace, openai_server, n=2)
    scripted(openai_server, ["no json"] * 3)
    first = create_grade_run(workspace, answers_run, "m")
    execute(workspace, first, concurrency=1, api_key=openai_server.api_key)
    assert sum(g["verdict"] is None for g in grades(workspace)) == 1
    second = create_grade_run(workspace, answers_run, "m")
    assert workspace.scalar("SELECT count(*) FROM work_items WHERE run_id = ?", (second,)) == 1
    assert execute(workspace, second, api_key=openai_server.api_key).status == DONE
    assert len(grades(workspace)) == 6 and all(g["verdict"] for g in grades(workspace))
    history = workspace.query("SELECT old_verdict, new_verdict, reason FROM grade_history")
    assert history == [{"old_verdict": None, "new_verdict": "met", "reason": "model_grader"}]


def test_a_grading_pass_is_resumable(workspace):
    with OpenAIServer(latency=0.05) as server:
        answers_run = answered_run(workspace, server, n=8)
        server.responder = grading_responder
        run_id = create_grade_run(workspace, answers_run, "m")
        before = len(server.requests)

        async def go():
            cancel = asyncio.Event()

            def progress(p: RunProgress) -> None:
                if p.done >= 5:
                    cancel.set()
            return await execute_run(workspace, run_id, concurrency=3, cancel=cancel, on_progress=progress,
                                     api_key=server.api_key)
        summary = asyncio.run(go())
        assert summary.status == CANCELLED and 5 <= summary.done < 24
        graded = {(g["answer_id"], g["criterion_id"]) for g in grades(workspace)}
        done = {(r["answer_id"], r["criterion_id"]) for r in workspace.query(
            "SELECT answer_id, criterion_id FROM work_items WHERE run_id = ? AND status = 'done'", (run_id,))}
        assert graded == done  # each verdict lands with its item's "done" mark
        again = execute(workspace, run_id, concurrency=3, api_key=server.api_key)
        calls = len(server.requests) - before
    assert again.status == DONE and again.done == 24
    assert len(grades(workspace)) == 24  # one grade per answer × criterion: none twice
    assert 24 <= calls <= 24 + 3  # at most the abandoned in-flight calls were repeated
    assert again.input_tokens > summary.input_tokens  # grade runs carry tokens across sessions


def test_an_edited_grader_is_a_new_rater(workspace, openai_server):
    answers_run = answered_run(workspace, openai_server, n=1)
    openai_server.responder = grading_responder
    execute(workspace, create_grade_run(workspace, answers_run, "m"), api_key=openai_server.api_key)
    add_config(workspace, openai_server, temperature=0.0)  # same name, other settings
    execute(workspace, create_grade_run(workspace, answers_run, "m"), api_key=openai_server.api_key)
    raters = [r["name"] for r in workspace.query("SELECT name FROM raters ORDER BY created_at")]
    assert raters[0] == "m" and re.fullmatch(r"m \([0-9a-f]{8}\)", raters[1])
    assert len(grades(workspace)) == 6


def test_a_clinician_with_the_grader_configs_name_is_left_alone(workspace, openai_server):
    answers_run = answered_run(workspace, openai_server, n=1)
    clinician = ensure_rater(workspace, "m", "clinician")
    openai_server.responder = grading_responder
    execute(workspace, create_grade_run(workspace, answers_run, "m"), api_key=openai_server.api_key)
    assert grades(workspace, clinician) == [] and len(grades(workspace)) == 3


def test_only_answer_runs_with_answers_can_be_graded(workspace, openai_server):
    add_questions(workspace, 1)
    add_config(workspace, openai_server)
    empty = create_run(workspace, model_name="m", set_name="S")
    with pytest.raises(RunError, match="no answers to grade yet"):
        create_grade_run(workspace, empty, "m")
    execute(workspace, empty, api_key=openai_server.api_key)
    with pytest.raises(RunError, match="no model config named 'nope'"):
        create_grade_run(workspace, empty, "nope")
    openai_server.responder = grading_responder
    grade_run = create_grade_run(workspace, empty, "m")
    with pytest.raises(RunError, match="is a grading pass"):
        create_grade_run(workspace, grade_run, "m")
