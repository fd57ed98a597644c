"""The run engine against real loopback provider servers and a real workspace file."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time

import pytest

from healthqa.domain import Question
from healthqa.providers import NO_RETRY, make_provider
from healthqa.runs import (CANCELLED, DONE, FAILED, INCOMPLETE, PENDING, RunError, RunProgress, create_run,
                           execute_run, failed_items, get_run, list_runs, resolve_run_id, resume_run, run_row)
from healthqa.store import Workspace, ensure_set, save_model_config, upsert_question
from tests.conftest import healthbench_row
from tests.core.provider_servers import (  # noqa: F401  (fixtures)
    LoopbackServer, OpenAIServer, Recorded, answer_for, config_for, gemini_server, openai_server, provider_server,
)


# ---- helpers shared with test_grader.py and test_cli_runs.py ----------------------

def question_text(i: int) -> str:
    return f"Question {i}: my ankle has been swollen since yesterday. Should I keep walking on it?"


def question_row(i: int) -> dict:
    """An invented HealthBench row (spec §2.1 style) with its own text, so answers map to questions."""
    row = healthbench_row(f"00000000-0000-4000-8000-{i:012d}")
    row["prompt"] = [{"role": "user", "content": question_text(i)}]
    return row


def add_questions(ws: Workspace, n: int, set_name: str = "S") -> list[str]:
    set_id = ensure_set(ws, set_name)
    with ws.transaction():
        return [upsert_question(ws, Question.model_validate(question_row(i)), set_id)[0] for i in range(n)]


def add_config(ws: Workspace, server: LoopbackServer, name: str = "m", **overrides):
    config = config_for(server, name=name, **overrides)
    save_model_config(ws, config)
    return config


def execute(ws: Workspace, run_id: str, **options):
    return asyncio.run(execute_run(ws, run_id, **options))


def answers_by_item(ws: Workspace, run_id: str) -> dict[tuple[str, int], dict]:
    rows = ws.query("SELECT * FROM answers WHERE run_id = ?", (run_id,))
    keyed = {(r["question_id"], r["sample"]): r for r in rows}
    assert len(keyed) == len(rows), "a (question, sample) was answered twice"
    return keyed


def done_keys(ws: Workspace, run_id: str) -> set[str]:
    return {r["key"] for r in ws.query("SELECT key FROM work_items WHERE run_id = ? AND status = 'done'", (run_id,))}


def assert_consistent(ws: Workspace, run_id: str) -> None:
    """Every done item has its answer and every answer its done item: nothing half-written."""
    answered = {f"{q}:{s}" for q, s in answers_by_item(ws, run_id)}
    assert answered == done_keys(ws, run_id)


def texts(ws: Workspace) -> dict[str, str]:
    """question id -> the question's text."""
    return {r["id"]: json.loads(r["conversation"])[-1]["content"] for r in ws.query("SELECT id, conversation FROM questions")}


# ---- creating runs -------------------------------------------------------------

def test_work_items_are_written_before_any_call(workspace, openai_server):
    ids = add_questions(workspace, 5)
    add_config(workspace, openai_server)
    run_id = create_run(workspace, model_name="m", set_name="S", samples=2, limit=3)
    items = workspace.query("SELECT key, question_id, sample, status, attempts FROM work_items WHERE run_id = ? "
                            "ORDER BY rowid", (run_id,))
    assert [i["key"] for i in items] == [f"{q}:{s}" for q in ids[:3] for s in (0, 1)]
    assert {(i["status"], i["attempts"]) for i in items} == {("pending", 0)}
    run = get_run(workspace, run_id)
    assert run["status"] == PENDING and run["set"] == "S" and run["model"] == "m" and run["samples"] == 2
    assert run["counts"] == {"total": 6, "done": 0, "failed": 0, "pending": 6}
    assert openai_server.requests == []


def test_run_over_question_ids(workspace, openai_server):
    ids = add_questions(workspace, 4)
    add_config(workspace, openai_server)
    run_id = create_run(workspace, model_name="m", question_ids=[ids[2], ids[0], ids[2]])
    assert execute(workspace, run_id, api_key=openai_server.api_key).status == DONE
    assert set(answers_by_item(workspace, run_id)) == {(ids[2], 0), (ids[0], 0)}


@pytest.mark.parametrize("kwargs, message", [
    ({"model_name": "nope", "set_name": "S"}, "no model config named 'nope'"),
    ({"model_name": "m", "set_name": "Nope"}, "no question set named 'Nope'"),
    ({"model_name": "m"}, "give a question set or a list of question ids"),
    ({"model_name": "m", "set_name": "S", "question_ids": ["x"]}, "give a question set or a list"),
    ({"model_name": "m", "question_ids": ["x"]}, "unknown question ids: x"),
    ({"model_name": "m", "set_name": "S", "samples": 0}, "samples must be at least 1"),
])
def test_bad_run_requests_are_refused_with_a_reason(workspace, openai_server, kwargs, message):
    add_questions(workspace, 1)
    add_config(workspace, openai_server)
    with pytest.raises(RunError, match=message):
        create_run(workspace, **kwargs)
    assert workspace.scalar("SELECT count(*) FROM runs") == 0


def test_run_ids_resolve_from_a_unique_prefix(workspace, openai_server):
    add_questions(workspace, 1)
    add_config(workspace, openai_server)
    run_id = create_run(workspace, model_name="m", set_name="S")
    assert resolve_run_id(workspace, run_id[:30]) == run_id
    with pytest.raises(RunError, match="no run"):
        resolve_run_id(workspace, "zzz")


# ---- end to end -------------------------------------------------------------------

def test_run_end_to_end_against_each_provider(workspace, provider_server):
    ids = add_questions(workspace, 6)
    config = add_config(workspace, provider_server, price_in_per_mtok=2.0, price_out_per_mtok=8.0)
    run_id = create_run(workspace, model_name="m", set_name="S", samples=2)
    events: list[RunProgress] = []
    summary = execute(workspace, run_id, concurrency=4, api_key=provider_server.api_key, on_progress=events.append)

    assert summary.status == DONE and (summary.total, summary.done, summary.failed, summary.pending) == (12, 12, 0, 0)
    answers = answers_by_item(workspace, run_id)
    assert set(answers) == {(q, s) for q in ids for s in (0, 1)}
    question = texts(workspace)
    for (qid, _), a in answers.items():
        assert a["text"] == answer_for(question[qid])  # each answer is its own question's
        assert a["model"] == "m" and a["model_config_id"] == config.id and a["finish_reason"] == "stop"
        assert a["input_tokens"] > 0 and a["output_tokens"] > 0 and a["latency_ms"] > 0
    assert summary.input_tokens == sum(a["input_tokens"] for a in answers.values())
    assert summary.output_tokens == sum(a["output_tokens"] for a in answers.values())
    assert summary.cost == pytest.approx((summary.input_tokens * 2 + summary.output_tokens * 8) / 1e6)
    assert summary.calls == 12 and len(provider_server.requests) == 12
    assert {(r["status"], r["attempts"], r["error"]) for r in
            workspace.query("SELECT status, attempts, error FROM work_items WHERE run_id = ?", (run_id,))} == {
        ("done", 1, None)}
    stored = workspace.query_one("SELECT status, summary, finished_at FROM runs WHERE id = ?", (run_id,))
    assert stored["status"] == DONE and stored["finished_at"]
    assert json.loads(stored["summary"]) == summary.as_dict()
    # progress: whole-run counts that only grow, never more in flight than allowed, a final event
    assert [e.done for e in events] == sorted(e.done for e in events)
    assert all(e.total == 12 and 0 <= e.in_flight <= 4 for e in events)
    assert (events[-1].done, events[-1].in_flight, events[-1].output_tokens) == (12, 0, summary.output_tokens)
    assert events[-1].cost == pytest.approx(summary.cost)
    assert provider_server.failures == []


def test_each_answer_is_durable_when_its_item_is_marked_done(workspace, openai_server):
    """At every progress event a separate connection already sees every counted answer."""
    add_questions(workspace, 20)
    add_config(workspace, openai_server)
    run_id = create_run(workspace, model_name="m", set_name="S")
    reader = sqlite3.connect(workspace.path)
    seen: list[tuple[int, int]] = []

    def check(p: RunProgress) -> None:
        answered = reader.execute("SELECT count(*) FROM answers WHERE run_id = ?", (run_id,)).fetchone()[0]
        done = reader.execute("SELECT count(*) FROM work_items WHERE run_id = ? AND status = 'done'",
                              (run_id,)).fetchone()[0]
        seen.append((p.done, answered))
        assert answered == done >= p.done

    assert execute(workspace, run_id, concurrency=3, api_key=openai_server.api_key, on_progress=check).status == DONE
    reader.close()
    assert seen[-1] == (20, 20)


def test_a_finished_run_resumes_to_nothing(workspace, openai_server):
    add_questions(workspace, 3)
    add_config(workspace, openai_server)
    run_id = create_run(workspace, model_name="m", set_name="S")
    first = execute(workspace, run_id, api_key=openai_server.api_key)
    again = asyncio.run(resume_run(workspace, run_id, api_key=openai_server.api_key))
    assert again.status == DONE and again.calls == 0 and len(openai_server.requests) == 3
    assert again.output_tokens == first.output_tokens  # whole-run totals, from the stored answers


# ---- failures ---------------------------------------------------------------------

def timed(server: LoopbackServer, reply, log: list[float]):
    """A scripted reply that notes when its request arrived."""
    def render(request: Recorded):
        log.append(time.monotonic())
        return reply
    return render


@pytest.mark.parametrize("fixture, make_reply, wait", [
    ("openai_server", lambda s: s.rate_limited(retry_after_ms=300), 0.3),
    ("gemini_server", lambda s: s.resource_exhausted("0.4s"), 0.4),
])
def test_retries_honour_the_servers_wait(request, workspace, fixture, make_reply, wait):
    server = request.getfixturevalue(fixture)
    add_questions(workspace, 1)
    add_config(workspace, server)
    arrivals: list[float] = []
    server.enqueue(timed(server, make_reply(server), arrivals))
    answered = server.responder
    server.responder = lambda q, r: (arrivals.append(time.monotonic()), answered(q, r))[1]
    run_id = create_run(workspace, model_name="m", set_name="S")
    summary = execute(workspace, run_id, api_key=server.api_key)
    assert summary.status == DONE and summary.done == 1
    assert len(arrivals) == 2 and arrivals[1] - arrivals[0] >= wait - 0.02
    item = workspace.query_one("SELECT attempts, error FROM work_items WHERE run_id = ?", (run_id,))
    assert item == {"attempts": 1, "error": None}  # provider retries are not item failures


@pytest.mark.parametrize("script, words", [
    (lambda s: s.insufficient_quota(), ["billing, quota or spending limit", "add credit"]),
    (lambda s: s.unauthorized("sk-wrong"), ["rejected the API key", "check the API key"]),
])
def test_a_fatal_error_stops_the_run_with_what_to_fix(workspace, openai_server, script, words):
    ids = add_questions(workspace, 30)
    add_config(workspace, openai_server)
    openai_server.enqueue(script(openai_server))
    run_id = create_run(workspace, model_name="m", set_name="S")
    summary = execute(workspace, run_id, concurrency=2, api_key=openai_server.api_key)

    assert summary.status == FAILED
    assert all(w in summary.message for w in words), summary.message
    assert len(openai_server.requests) <= 4  # stopped at once, not 30 calls
    assert summary.pending >= 26 and summary.done + summary.failed + summary.pending == 30
    run = get_run(workspace, run_id)
    assert run["status"] == FAILED and run["summary"]["message"] == summary.message
    failed = [i for i in run["items"] if i["status"] == "failed"]
    assert failed and all(words[0] in i["error"] and i["attempts"] == 1 for i in failed)
    assert_consistent(workspace, run_id)
    # fixed (the scripted error is used up): resuming finishes each question exactly once
    again = execute(workspace, run_id, concurrency=2, api_key=openai_server.api_key)
    assert again.status == DONE and again.message is None
    assert set(answers_by_item(workspace, run_id)) == {(q, 0) for q in ids}


def test_a_missing_key_fails_the_run_before_any_call(workspace, openai_server, monkeypatch):
    monkeypatch.delenv("HQA_TEST_NO_SUCH_KEY", raising=False)
    add_questions(workspace, 2)
    add_config(workspace, openai_server, api_key_env="HQA_TEST_NO_SUCH_KEY")
    run_id = create_run(workspace, model_name="m", set_name="S")
    summary = execute(workspace, run_id)
    assert summary.status == FAILED and "HQA_TEST_NO_SUCH_KEY" in summary.message
    assert openai_server.requests == [] and summary.pending == 2


def test_a_failed_item_keeps_its_error_and_attempts_and_resume_retries_it(workspace, openai_server):
    ids = add_questions(workspace, 4)
    add_config(workspace, openai_server)
    openai_server.enqueue(openai_server.error(400, "This model's maximum context length is 8192 tokens.",
                                              "invalid_request_error", "context_length_exceeded"))
    run_id = create_run(workspace, model_name="m", set_name="S")
    summary = execute(workspace, run_id, concurrency=1, api_key=openai_server.api_key)
    assert summary.status == INCOMPLETE and (summary.done, summary.failed) == (3, 1)
    assert list(summary.errors.values()) == [1] and "too long for this model" in next(iter(summary.errors))
    failed = workspace.query_one("SELECT key, attempts, error FROM work_items WHERE status = 'failed'")
    assert failed["key"] == f"{ids[0]}:0" and failed["attempts"] == 1 and "maximum context length" in failed["error"]
    assert (ids[0], 0) not in answers_by_item(workspace, run_id)  # no answer row for a failure

    again = execute(workspace, run_id, api_key=openai_server.api_key)
    assert again.status == DONE and again.calls == 1
    item = workspace.query_one("SELECT status, attempts, error FROM work_items WHERE key = ?", (failed["key"],))
    assert item == {"status": "done", "attempts": 2, "error": None}
    assert len(answers_by_item(workspace, run_id)) == 4


def test_a_server_that_keeps_failing_stops_the_run(workspace, openai_server):
    add_questions(workspace, 10)
    config = add_config(workspace, openai_server)
    openai_server.enqueue(*[openai_server.server_error(503) for _ in range(10)])
    run_id = create_run(workspace, model_name="m", set_name="S")

    async def go():
        async with make_provider(config, openai_server.api_key, retry=NO_RETRY) as provider:
            return await execute_run(workspace, run_id, concurrency=1, provider=provider, max_consecutive_failures=3)
    summary = asyncio.run(go())
    assert summary.status == FAILED and "3 calls in a row failed" in summary.message
    assert "temporary failure" in summary.message and (summary.failed, summary.pending) == (3, 7)


# ---- cancelling -----------------------------------------------------------------

def test_cancel_stops_cleanly_and_resume_finishes_exactly_once(workspace):
    ids = add_questions(workspace, 30)
    with OpenAIServer(latency=0.2) as server:
        add_config(workspace, server)
        run_id = create_run(workspace, model_name="m", set_name="S")

        async def go():
            cancel = asyncio.Event()

            def progress(p: RunProgress) -> None:
                if p.done >= 4:
                    cancel.set()
            return await execute_run(workspace, run_id, concurrency=4, cancel=cancel, on_progress=progress,
                                     api_key=server.api_key)
        summary = asyncio.run(go())
        assert summary.status == CANCELLED and 4 <= summary.done < 30
        assert summary.session_elapsed < 2.0  # in-flight calls abandoned, not awaited one by one
        assert workspace.scalar("SELECT status FROM runs WHERE id = ?", (run_id,)) == CANCELLED
        assert_consistent(workspace, run_id)
        server.latency = 0
        again = execute(workspace, run_id, concurrency=4, api_key=server.api_key)
    assert again.status == DONE and again.done == 30 and again.calls == 30 - summary.done
    assert set(answers_by_item(workspace, run_id)) == {(q, 0) for q in ids}


def test_cancel_from_another_thread(workspace):
    add_questions(workspace, 40)
    with OpenAIServer(latency=0.1) as server:
        add_config(workspace, server)
        run_id = create_run(workspace, model_name="m", set_name="S")
        cancel = threading.Event()
        setter = threading.Thread(target=lambda: (server.wait_for_requests(6), cancel.set()))
        setter.start()
        summary = execute(workspace, run_id, concurrency=2, cancel=cancel, api_key=server.api_key)
        setter.join()
    assert summary.status == CANCELLED and summary.done < 40
    assert_consistent(workspace, run_id)


def test_cancelling_the_task_itself_keeps_the_run_consistent(workspace):
    """What Ctrl-C under asyncio.run does: the run's task is cancelled."""
    add_questions(workspace, 40)
    with OpenAIServer(latency=0.1) as server:
        add_config(workspace, server)
        run_id = create_run(workspace, model_name="m", set_name="S")

        async def go():
            task = asyncio.create_task(execute_run(workspace, run_id, concurrency=2, api_key=server.api_key))
            await asyncio.to_thread(server.wait_for_requests, 5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        asyncio.run(go())
    assert workspace.scalar("SELECT status FROM runs WHERE id = ?", (run_id,)) == CANCELLED
    assert_consistent(workspace, run_id)


# ---- pacing -----------------------------------------------------------------------

def test_requests_per_minute_are_spaced(workspace, openai_server):
    add_questions(workspace, 5)
    add_config(workspace, openai_server)
    run_id = create_run(workspace, model_name="m", set_name="S")
    started = time.monotonic()
    summary = execute(workspace, run_id, concurrency=5, rpm=600, api_key=openai_server.api_key)  # one per 0.1 s
    assert summary.status == DONE and time.monotonic() - started >= 0.4 - 0.02


def test_list_runs_shows_counts(workspace, openai_server):
    add_questions(workspace, 3)
    add_config(workspace, openai_server)
    first = create_run(workspace, model_name="m", set_name="S")
    execute(workspace, first, api_key=openai_server.api_key)
    second = create_run(workspace, model_name="m", set_name="S", limit=2)
    runs = list_runs(workspace)
    assert [r["id"] for r in runs] == [second, first]
    assert runs[0]["counts"] == {"total": 2, "done": 0, "failed": 0, "pending": 2} and runs[0]["status"] == PENDING
    assert runs[1]["counts"]["done"] == 3 and runs[1]["status"] == DONE and runs[1]["set"] == "S"


def test_failed_items_lists_only_the_failures_with_their_errors_oldest_first_up_to_a_limit(workspace, openai_server):
    add_questions(workspace, 6)
    add_config(workspace, openai_server)
    too_long = openai_server.error(400, "This model's maximum context length is 8192 tokens.",
                                   "invalid_request_error", "context_length_exceeded")
    answer = openai_server.slow(0)  # the normal answer
    openai_server.enqueue(answer, too_long, answer, too_long, too_long)  # questions 1, 3 and 4 fail
    run_id = create_run(workspace, model_name="m", set_name="S")
    waiting = create_run(workspace, model_name="m", set_name="S")  # six pending items, none failed
    summary = execute(workspace, run_id, concurrency=1, api_key=openai_server.api_key)
    assert (summary.done, summary.failed) == (3, 3)

    failed = failed_items(workspace, run_id)
    assert [i["prompt_id"] for i in failed] == [question_row(i)["prompt_id"] for i in (1, 3, 4)]
    assert all(i["status"] == "failed" and i["attempts"] == 1 and "maximum context length" in i["error"]
               and i["sample"] == 0 for i in failed)
    assert [i["prompt_id"] for i in failed_items(workspace, run_id, limit=2)] == [i["prompt_id"] for i in failed[:2]]
    assert failed_items(workspace, waiting) == []

    assert execute(workspace, run_id, api_key=openai_server.api_key).status == DONE
    assert failed_items(workspace, run_id) == []  # a retried item that succeeds is no longer a failure


def test_run_row_is_the_listed_run_without_counts_and_reads_no_work_items(workspace, openai_server):
    add_questions(workspace, 3)
    add_config(workspace, openai_server)
    run_id = create_run(workspace, model_name="m", set_name="S", samples=2)
    statements: list[str] = []
    workspace.conn.set_trace_callback(statements.append)
    try:
        row = run_row(workspace, run_id)
    finally:
        workspace.conn.set_trace_callback(None)
    assert statements and not any("work_items" in sql for sql in statements)
    listed = next(r for r in list_runs(workspace) if r["id"] == run_id)
    assert row == {key: value for key, value in listed.items() if key != "counts"}
    assert (row["kind"], row["set"], row["model"], row["samples"], row["status"]) == ("answer", "S", "m", 2, PENDING)
    with pytest.raises(RunError, match="no run 'nope'"):
        run_row(workspace, "nope")


# ---- which process works on a run ---------------------------------------------

def _stamp(ws: Workspace, run_id: str, pid: int) -> None:
    """As a process that started the run and was then killed or is still at it leaves it."""
    import socket

    with ws.transaction() as conn:
        conn.execute("UPDATE runs SET status = 'running', settings = json_set(settings, '$.owner', json(?)) "
                     "WHERE id = ?", (json.dumps({"pid": pid, "host": socket.gethostname()}), run_id))


def test_a_run_whose_process_is_gone_reads_interrupted_and_resumes(workspace, openai_server):
    import subprocess
    import sys

    add_questions(workspace, 3)
    add_config(workspace, openai_server)
    run_id = create_run(workspace, model_name="m", set_name="S")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _stamp(workspace, run_id, gone.pid)
    assert workspace.scalar("SELECT status FROM runs WHERE id = ?", (run_id,)) == "running"  # as stored
    assert [r["status"] for r in list_runs(workspace)] == ["interrupted"]  # as reported
    assert get_run(workspace, run_id)["status"] == run_row(workspace, run_id)["status"] == "interrupted"
    assert execute(workspace, run_id, api_key=openai_server.api_key).status == DONE
    assert run_row(workspace, run_id)["status"] == DONE
    assert "owner" not in json.loads(workspace.scalar("SELECT settings FROM runs WHERE id = ?", (run_id,)))


def test_a_run_a_live_process_works_on_is_not_run_twice(workspace, openai_server):
    import subprocess
    import sys

    add_questions(workspace, 3)
    add_config(workspace, openai_server)
    run_id = create_run(workspace, model_name="m", set_name="S")
    busy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _stamp(workspace, run_id, busy.pid)
        assert run_row(workspace, run_id)["status"] == "running"
        with pytest.raises(RunError, match=f"being worked on by process {busy.pid}"):
            execute(workspace, run_id, api_key=openai_server.api_key)
        assert openai_server.requests == [] and done_keys(workspace, run_id) == set()
    finally:
        busy.kill()
        busy.wait()
    assert run_row(workspace, run_id)["status"] == "interrupted"
    assert execute(workspace, run_id, api_key=openai_server.api_key).status == DONE
