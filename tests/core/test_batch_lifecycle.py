"""Batch runs against loopback batch servers of each provider: the whole
lifecycle (validating → in progress → finalizing → completed), expiry with
partial results, cancellation, failed validation, error files, results out of
order, a lost connection while downloading, refusals, unmatched ids, keys."""

from __future__ import annotations

import asyncio
import json
import logging
import os

import pytest

from healthqa.runs import (CANCELLED, DONE, FAILED, INCOMPLETE, BatchProgress, cancel_run, create_grade_run,
                           create_run, execute_batch_run, get_run, mark_batch_run)
from healthqa.store import Workspace
from tests.core.batch_servers import (AnthropicBatchServer, BATCH_SERVERS, GeminiBatchServer, OpenAIBatchServer,
                                      grader_responder)
from tests.core.provider_servers import API_KEY, answer_for
from tests.core.test_runs import add_config, add_questions, answers_by_item, assert_consistent, texts

POLL = 0.01


@pytest.fixture(params=list(BATCH_SERVERS))
def server(request):
    with BATCH_SERVERS[request.param]() as srv:
        yield srv


def batch_run(ws: Workspace, server, n: int = 4, samples: int = 1, max_attempts: int = 3, **config) -> str:
    add_questions(ws, n)
    add_config(ws, server, price_in_per_mtok=2.0, price_out_per_mtok=8.0, **config)
    run_id = create_run(ws, model_name="m", set_name="S", samples=samples)
    mark_batch_run(ws, run_id, max_attempts=max_attempts)
    return run_id


def go(ws: Workspace, run_id: str, server, **options):
    options.setdefault("poll_interval", POLL)
    options.setdefault("api_key", server.api_key)
    return asyncio.run(execute_batch_run(ws, run_id, **options))


def batches(ws: Workspace, run_id: str) -> list[dict]:
    return get_run(ws, run_id)["batches"]


# ---- the normal lifecycle ---------------------------------------------------------

def test_a_batch_walks_its_states_and_every_answer_arrives_once(workspace, server):
    run_id = batch_run(workspace, server, n=5, samples=2)
    seen_states: list[str] = []

    def progress(p: BatchProgress) -> None:
        seen_states.extend(b["state"] for b in p.batches)

    summary = go(workspace, run_id, server, on_progress=progress)
    assert summary.status == DONE and summary.done == summary.total == 10
    assert server.creates == 1 and server.uploads == 1
    assert len(server.submitted_ids) == len(set(server.submitted_ids)) == 10
    # Provider states seen while waiting, as HealthQA names them (docs/batch-apis.md).
    assert "in_progress" in seen_states
    answers = answers_by_item(workspace, run_id)
    questions = texts(workspace)
    assert {a["text"] for a in answers.values()} == {answer_for(questions[q]) for q, _ in answers}
    assert_consistent(workspace, run_id)
    [b] = batches(workspace, run_id)
    assert set(b) == {"provider_id", "state", "submitted", "succeeded", "errored", "expired", "created_at",
                      "ended_at"}
    assert b["state"] == "completed" and b["submitted"] == 10 and b["succeeded"] == 10 and b["errored"] == 0
    assert b["created_at"] and b["ended_at"]
    # Batch prices: half the interactive price, and the summary says so.
    assert summary.cost is not None and summary.cost_basis == "batch prices (50% off)"
    full = (summary.input_tokens * 2.0 + summary.output_tokens * 8.0) / 1e6
    assert summary.cost == pytest.approx(full / 2)


def test_cached_input_in_batch_results_is_counted_and_priced_as_cached(workspace, server):
    server.cached_tokens = 7  # each reply says 7 of its input tokens were read from the provider's cache
    run_id = batch_run(workspace, server, n=3, price_cached_in_per_mtok=0.5)
    summary = go(workspace, run_id, server)
    assert summary.status == DONE and summary.cached_input_tokens == 3 * 7
    stored = json.loads(workspace.scalar("SELECT summary FROM runs WHERE id = ?", (run_id,)))
    assert stored["cached_input_tokens"] == 21
    fresh = summary.input_tokens - summary.cached_input_tokens
    full = (fresh * 2.0 + summary.cached_input_tokens * 0.5 + summary.output_tokens * 8.0) / 1e6
    assert summary.cost == pytest.approx(full / 2)  # cached prices, then the batch discount


def test_a_refused_parameter_is_learned_and_the_items_sent_again_without_it(workspace, server):
    # The model refuses a temperature (a new family the capability table does not know yet):
    # every line of the first batch comes back as an HTTP 400 naming it.
    server.refuses = {"temperature"}
    run_id = batch_run(workspace, server, n=3, max_attempts=1, temperature=0.2)
    summary = go(workspace, run_id, server)
    assert summary.status == DONE and summary.done == 3, summary
    assert server.creates == 2  # the refused lines went again in a second batch, built without it
    assert workspace.scalar("SELECT max(attempts) FROM work_items WHERE run_id = ?", (run_id,)) == 1
    [notice] = summary.notices
    assert "temperature" in notice and "sent without it" in notice
    learned = json.loads(workspace.scalar("SELECT learned FROM model_configs WHERE name = 'm'"))
    assert learned["caps"] == {"temperature": False} and learned["notes"] == [notice]
    # A later run of the config sends no temperature from the start: one batch.
    again = batch_run(workspace, server, n=3, temperature=0.2)
    assert go(workspace, again, server).status == DONE and server.creates == 3


def test_chunks_stay_under_the_request_limit(workspace, monkeypatch):
    with OpenAIBatchServer(instant=True) as server:
        from healthqa.providers.batch import OpenAIBatchClient
        from healthqa.providers.batch.common import Limits
        monkeypatch.setattr(OpenAIBatchClient, "limits", Limits(3, 10_000_000))
        run_id = batch_run(workspace, server, n=7)
        summary = go(workspace, run_id, server)
        assert summary.status == DONE
        assert server.creates == 3 and [b["submitted"] for b in batches(workspace, run_id)] == [3, 3, 1]


def test_chunks_stay_under_the_byte_limit(workspace, monkeypatch):
    with AnthropicBatchServer(instant=True) as server:
        from healthqa.providers.batch import AnthropicBatchClient
        from healthqa.providers.batch.common import Limits
        monkeypatch.setattr(AnthropicBatchClient, "limits", Limits(100, 900))
        run_id = batch_run(workspace, server, n=6)
        assert go(workspace, run_id, server).status == DONE
        assert server.creates >= 2 and len(server.submitted_ids) == 6


def test_results_come_back_out_of_order_and_match_by_id(workspace, server):
    run_id = batch_run(workspace, server, n=12)
    assert go(workspace, run_id, server).status == DONE
    answers = answers_by_item(workspace, run_id)
    questions = texts(workspace)
    assert all(a["text"] == answer_for(questions[q]) for (q, _), a in answers.items())


# ---- endings other than completed -------------------------------------------------

def test_expired_batch_keeps_partial_results_and_resubmits_the_rest(workspace, server):
    run_id = batch_run(workspace, server, n=6)
    server.plans.append(["validating", "in_progress", "expired"])
    summary = go(workspace, run_id, server)
    assert summary.status == DONE and summary.done == 6
    first, second = batches(workspace, run_id)
    assert first["state"] == "expired" and first["succeeded"] == 3 and first["expired"] == 3
    assert second["state"] == "completed" and second["submitted"] == 3
    # Only the expired items were sent again; each was answered once.
    assert len(server.submitted_ids) == 9 and len(set(server.submitted_ids)) == 6
    assert_consistent(workspace, run_id)


def test_errored_items_are_retried_up_to_the_cap_then_failed(workspace, server):
    run_id = batch_run(workspace, server, n=4, max_attempts=2)
    bad = {}

    def error(custom_id: str):
        if not bad:
            bad[custom_id] = True
        return "model produced invalid output" if custom_id in bad else None
    server.request_error = error
    summary = go(workspace, run_id, server)
    assert summary.status == INCOMPLETE and summary.done == 3 and summary.failed == 1
    item = workspace.query_one("SELECT * FROM work_items WHERE run_id = ? AND status = 'failed'", (run_id,))
    assert item["attempts"] == 2 and "invalid output" in item["error"]
    assert server.submitted_ids.count(item["id"]) == 2
    # Resuming does not send an item that has used up its attempts.
    creates = server.creates
    assert go(workspace, run_id, server).status == INCOMPLETE and server.creates == creates


def test_failed_validation_stops_the_run_with_the_providers_reason(workspace):
    with OpenAIBatchServer() as server:
        run_id = batch_run(workspace, server, n=3)
        server.plans.append(["validating", "failed"])
        server.fail_errors = [{"code": "invalid_request", "message": "Line 2: body.messages is required", "line": 2}]
        summary = go(workspace, run_id, server)
        assert summary.status == FAILED and "Line 2: body.messages is required" in summary.message
        assert summary.done == 0 and workspace.scalar("SELECT count(*) FROM answers") == 0
        assert workspace.scalar("SELECT max(attempts) FROM work_items") == 0


def test_a_lost_connection_while_downloading_is_read_again(workspace, server):
    run_id = batch_run(workspace, server, n=8)
    server.cut_downloads = 1
    summary = go(workspace, run_id, server)
    assert summary.status == DONE and summary.done == 8
    assert_consistent(workspace, run_id)
    if not isinstance(server, GeminiBatchServer):  # small Gemini batches come back inline: nothing to download
        assert server.downloads >= 2


def test_cancel_cancels_provider_batches_and_resume_sends_the_rest(workspace, server):
    run_id = batch_run(workspace, server, n=6)
    server.plans.append(["validating"] + ["in_progress"] * 1000)
    cancel = asyncio.Event()

    def progress(p: BatchProgress) -> None:
        if p.batches and p.batches[0]["provider_id"]:
            cancel.set()
    summary = go(workspace, run_id, server, on_progress=progress, cancel=cancel)
    assert summary.status == CANCELLED
    [b] = batches(workspace, run_id)
    assert b["state"] not in ("completed", "cancelled")  # the provider batch goes on after the CLI stops
    lines = cancel_run(workspace, run_id, api_key=server.api_key)
    assert server.cancels == 1 and any("cancelled batch" in line for line in lines)
    # Resume: the cancelled batch's finished half is stored, the rest sent again (no attempt spent).
    summary = go(workspace, run_id, server)
    assert summary.status == DONE and summary.done == 6
    first, second = batches(workspace, run_id)
    assert first["state"] == "cancelled" and second["submitted"] == 3
    assert workspace.scalar("SELECT max(attempts) FROM work_items WHERE run_id = ?", (run_id,)) == 1
    assert_consistent(workspace, run_id)


# ---- refusals --------------------------------------------------------------------

REFUSALS = {
    "openai": [
        (lambda s: OpenAIBatchServer.not_found(s, "gpt-nope"), "does not exist"),
        (lambda s: OpenAIBatchServer.insufficient_quota(s), "quota"),
    ],
    "anthropic": [
        (lambda s: s.error(400, "invalid_request_error", "requests.0.params.model: model 'x' not found"), "not found"),
        (lambda s: s.error(400, "invalid_request_error", "Your credit balance is too low to access the API."),
         "credit balance"),
    ],
    "gemini": [
        (lambda s: s.resource_exhausted(None, per_day=True), "quota"),
    ],
}


@pytest.mark.parametrize("case", [(k, i) for k, v in REFUSALS.items() for i in range(len(v))])
def test_a_refused_batch_fails_the_run_with_the_reason_and_stores_nothing(workspace, case):
    kind, index = case
    make, words = REFUSALS[kind][index]
    with BATCH_SERVERS[kind]() as server:
        run_id = batch_run(workspace, server, n=3)
        server.reject_create = make(server)
        summary = go(workspace, run_id, server)
        assert summary.status == FAILED and words in summary.message
        assert "\n" not in summary.message
        assert batches(workspace, run_id) == []  # nothing half-stored
        assert workspace.scalar("SELECT max(attempts) FROM work_items") == 0


def test_a_file_too_large_is_refused_with_the_reason(workspace):
    with OpenAIBatchServer() as server:
        run_id = batch_run(workspace, server, n=3)
        server.max_request_bytes = 100
        summary = go(workspace, run_id, server)
        assert summary.status == FAILED and "too large" in summary.message
        assert batches(workspace, run_id) == []


def test_a_bad_model_in_gemini_is_refused(workspace):
    with GeminiBatchServer() as server:
        run_id = batch_run(workspace, server, n=2, model="gemini-nope")
        summary = go(workspace, run_id, server)
        assert summary.status == FAILED and "not found" in summary.message


# ---- odd result lines ---------------------------------------------------------------

def test_a_result_whose_id_matches_nothing_is_counted_never_stored(workspace, server, caplog):
    run_id = batch_run(workspace, server, n=3)
    stranger = {"openai": {"id": "batch_req_x", "custom_id": "not-ours", "response": {
        "status_code": 200, "request_id": "r", "body": {"choices": [{"message": {"content": "stray"}}]}}},
        "anthropic": {"custom_id": "not-ours", "result": {"type": "succeeded", "message": {
            "content": [{"type": "text", "text": "stray"}]}}},
        "gemini": {"key": "not-ours", "response": {"candidates": [{"content": {"parts": [{"text": "stray"}]},
                                                                    "finishReason": "STOP"}]}}}[server.kind]
    server.extra_lines = [json.dumps(stranger).encode()]
    with caplog.at_level(logging.WARNING):
        assert go(workspace, run_id, server).status == DONE
    assert workspace.scalar("SELECT count(*) FROM answers WHERE text = 'stray'") == 0
    assert workspace.scalar("SELECT unmatched FROM provider_batches") == 1
    assert "matched no work item" in caplog.text


def test_the_key_never_reaches_the_workspace_or_the_logs(workspace, server, caplog, tmp_path):
    run_id = batch_run(workspace, server, n=3)
    server.request_error = lambda cid: f"bad request for key {API_KEY}"
    with caplog.at_level(logging.DEBUG):
        go(workspace, run_id, server, workdir=tmp_path / "chunks")
    workspace.conn.execute("PRAGMA wal_checkpoint(FULL)")
    assert API_KEY.encode() not in workspace.path.read_bytes()
    assert API_KEY not in caplog.text
    assert API_KEY[:8] not in json.dumps(workspace.query("SELECT * FROM provider_batches"))
    assert not any((tmp_path / "chunks").rglob("*.jsonl"))  # chunk files are removed once sent


# ---- grading passes -------------------------------------------------------------------

def answered(ws: Workspace, server) -> str:
    """An answer run, answered through a batch."""
    run_id = batch_run(ws, server, n=2)
    assert go(ws, run_id, server).status == DONE
    return run_id


def test_a_grading_pass_as_a_batch_stores_every_verdict_once(workspace, server):
    source = answered(workspace, server)
    server.responder = grader_responder
    grade_id = create_grade_run(workspace, source, "m")
    mark_batch_run(workspace, grade_id)
    summary = go(workspace, grade_id, server)
    assert summary.status == DONE and summary.done == summary.total == 6
    rows = workspace.query("""SELECT g.verdict, c.points FROM grades g JOIN criteria c ON c.id = g.criterion_id""")
    assert len(rows) == 6
    assert all((r["verdict"] == "met") == (r["points"] > 0) for r in rows)


def test_unparseable_grader_replies_are_retried_then_no_verdict(workspace, server):
    source = answered(workspace, server)
    calls = {"n": 0}

    def responder(question, request):
        calls["n"] += 1
        if "States with certainty" in question:  # this criterion never gets a usable reply
            return "I think it is met."
        return grader_responder(question, request)
    server.responder = responder
    grade_id = create_grade_run(workspace, source, "m", max_attempts=2)
    mark_batch_run(workspace, grade_id)
    summary = go(workspace, grade_id, server)
    assert summary.status == DONE
    none = workspace.query("SELECT * FROM grades WHERE verdict IS NULL")
    assert len(none) == 2 and all("No verdict: 2 grader replies" in g["explanation"] for g in none)
    assert workspace.scalar("SELECT count(*) FROM grades WHERE verdict IS NOT NULL") == 4


# ---- a create call whose reply is lost -------------------------------------------------------

@pytest.mark.parametrize("kind", ["openai", "gemini"])
def test_a_lost_create_reply_finds_the_batch_by_name_and_never_sends_twice(workspace, kind):
    with BATCH_SERVERS[kind]() as server:
        run_id = batch_run(workspace, server, n=4)
        server.lose_create_reply = True
        summary = go(workspace, run_id, server)
        assert summary.status == DONE and summary.done == 4
        assert server.creates == 1 and len(server.submitted_ids) == 4  # adopted, not created again
        [b] = batches(workspace, run_id)
        assert b["provider_id"] and b["state"] == "completed"


def test_a_lost_create_reply_where_the_batch_cannot_be_looked_up_stops_the_run(workspace):
    with AnthropicBatchServer() as server:
        run_id = batch_run(workspace, server, n=3)
        server.lose_create_reply = True
        summary = go(workspace, run_id, server)
        assert summary.status == FAILED and "console" in summary.message
        assert server.creates == 1 and batches(workspace, run_id) == []


def test_a_process_killed_during_the_create_call_adopts_the_batch_on_resume(workspace):
    """What a kill between storing the batch row and storing the provider's id leaves: a
    'submitting' row. Resume looks the batch up by its name instead of sending again."""
    with OpenAIBatchServer() as server:
        run_id = batch_run(workspace, server, n=3)
        server.lose_create_reply = True
        from healthqa.providers.batch import OpenAIBatchClient
        real_find = OpenAIBatchClient.find

        async def unreachable(self, name):  # the process "dies" before it can look
            raise asyncio.CancelledError

        OpenAIBatchClient.find = unreachable
        try:
            with pytest.raises(asyncio.CancelledError):
                go(workspace, run_id, server)
        finally:
            OpenAIBatchClient.find = real_find
        assert workspace.scalar("SELECT state FROM provider_batches") == "submitting"
        summary = go(workspace, run_id, server)
        assert summary.status == DONE and server.creates == 1 and len(server.submitted_ids) == 3


# ---- polling, the poller, reading twice, Gemini files ------------------------------------------

def test_polling_honours_retry_after(workspace):
    import time
    with OpenAIBatchServer() as server:
        run_id = batch_run(workspace, server, n=2)
        refused: list[float] = []

        def rate_limited(request):
            refused.append(time.monotonic())
            return server.rate_limited(retry_after=0.6)

        def progress(p: BatchProgress) -> None:
            if not refused and not server.pending:  # the next request is the first poll of the batch just sent
                server.enqueue(rate_limited)
        assert go(workspace, run_id, server, on_progress=progress).status == DONE
    # The poll after the 429 waited the server's 0.6 s, not the 0.01 s poll interval.
    assert refused and server.poll_times[0] - refused[0] >= 0.55


def test_one_poller_per_workspace(workspace):
    import os
    import socket
    with OpenAIBatchServer() as server:
        run_id = batch_run(workspace, server, n=2)
        other = {"pid": os.getppid(), "host": socket.gethostname()}  # a live process that is not this one
        workspace.set_meta("batch_poller", json.dumps(other))
        from healthqa.runs import RunError
        with pytest.raises(RunError, match="already polling"):
            go(workspace, run_id, server)
        assert server.creates == 0
        workspace.set_meta("batch_poller", json.dumps({"pid": 2 ** 22 + 7, "host": socket.gethostname()}))
        assert go(workspace, run_id, server).status == DONE  # a dead poller's claim does not hold


def test_results_read_twice_are_stored_once(workspace, server):
    run_id = batch_run(workspace, server, n=3, samples=2)
    first = go(workspace, run_id, server)
    assert first.status == DONE and first.cost
    before = workspace.query("SELECT id, attempts FROM work_items ORDER BY id")
    # As if the process died after storing the results but before marking the batch read.
    with workspace.transaction():
        workspace.conn.execute("UPDATE provider_batches SET collected = 0")
        workspace.conn.execute("UPDATE runs SET status = 'running'")
    again = go(workspace, run_id, server)
    assert again.status == DONE
    assert workspace.query("SELECT id, attempts FROM work_items ORDER BY id") == before
    assert len(answers_by_item(workspace, run_id)) == 6 and server.creates == 1
    assert again.cost == pytest.approx(first.cost)  # nothing counted twice


def test_gemini_sends_a_big_batch_as_an_uploaded_file(workspace, monkeypatch):
    from healthqa.providers.batch import gemini as gemini_batch
    monkeypatch.setattr(gemini_batch, "INLINE_LIMIT", 100)
    with GeminiBatchServer() as server:
        run_id = batch_run(workspace, server, n=5)
        server.cut_downloads = 1
        assert go(workspace, run_id, server).status == DONE
        assert any(r.path == "/upload/v1beta/files" for r in server.requests)
        assert [b.input_kind for b in server.batches.values()] == ["file"]
        assert server.downloads == 2  # the responses file, read again after the lost connection
    assert_consistent(workspace, run_id)


def test_an_openai_compatible_server_with_the_batch_api(workspace):
    with OpenAIBatchServer(api_key=None) as server:
        run_id = batch_run(workspace, server, n=3, provider="openai-compatible")
        summary = go(workspace, run_id, server, api_key=None)
        assert summary.status == DONE and server.creates == 1
        assert summary.cost_basis is None  # no documented discount: the cost is not said to be one


def test_a_batch_the_provider_no_longer_has_frees_its_items(workspace):
    with OpenAIBatchServer() as server:
        run_id = batch_run(workspace, server, n=3)
        server.plans.append(["validating"] + ["in_progress"] * 1000)
        cancel = asyncio.Event()
        assert go(workspace, run_id, server, on_progress=lambda p: cancel.set(), cancel=cancel).status == CANCELLED
        server.batches.clear()  # deleted in the provider's console meanwhile
        summary = go(workspace, run_id, server)
        assert summary.status == DONE and server.creates == 2
        first, second = batches(workspace, run_id)
        assert first["state"] == "failed" and second["state"] == "completed"
        assert workspace.scalar("SELECT max(attempts) FROM work_items") == 1  # the lost batch cost no attempt


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_results_no_longer_kept_are_asked_for_again(workspace, kind):
    with BATCH_SERVERS[kind]() as server:
        run_id = batch_run(workspace, server, n=3)
        server.plans.append(["validating", "completed"])
        server.results_gone = 1
        summary = go(workspace, run_id, server)
        assert summary.status == DONE and server.creates == 2
        assert workspace.scalar("SELECT max(attempts) FROM work_items") == 2  # the lost results cost one attempt


def test_grader_requests_that_keep_erroring_end_without_a_verdict(workspace, server):
    source = answered(workspace, server)
    server.responder = grader_responder
    grade_id = create_grade_run(workspace, source, "m", max_attempts=2)
    mark_batch_run(workspace, grade_id)
    items = {r["id"]: r["key"] for r in workspace.query("SELECT id, key FROM work_items WHERE run_id = ?",
                                                          (grade_id,))}
    doomed = sorted(items)[0]
    server.request_error = lambda custom_id: "overloaded" if custom_id == doomed else None
    summary = go(workspace, grade_id, server)
    assert summary.status == DONE and summary.done == 6  # as interactive grading: done, without a verdict
    answer_id, criterion_id = items[doomed].split(":")
    grade = workspace.query_one("SELECT * FROM grades WHERE answer_id = ? AND criterion_id = ?",
                                (answer_id, criterion_id))
    assert grade["verdict"] is None and "No verdict: 2 batch attempts failed" in grade["explanation"]
    assert server.submitted_ids.count(doomed) == 2


def test_runs_cancel_asks_a_desktop_poller_to_stop_without_a_signal(workspace):
    """A run polled by another process that does not stop on SIGTERM (the desktop app): `cancel_run`
    cancels the provider batch and leaves a stop request that the poller reads at its next look."""
    import threading
    with OpenAIBatchServer() as server:
        run_id = batch_run(workspace, server, n=2)
        server.plans.append(["validating"] + ["in_progress"] * 100_000)
        result = {}
        # The poller runs in this process on another thread, with its own connection, like the app's worker.
        from healthqa.store import Workspace as W
        other = W(workspace.path)

        def poll() -> None:
            result["summary"] = go(other, run_id, server, poll_interval=0.02)
        thread = threading.Thread(target=poll)
        thread.start()
        deadline = __import__("time").monotonic() + 10
        while not workspace.scalar("SELECT count(*) FROM provider_batches WHERE provider_id IS NOT NULL"):
            assert __import__("time").monotonic() < deadline
            __import__("time").sleep(0.02)
        owner = json.loads(workspace.scalar("SELECT settings FROM runs"))["owner"]
        fake = {**owner, "pid": os.getppid()}  # seen from here, another live process without "sigterm"
        with workspace.transaction():
            workspace.conn.execute("UPDATE runs SET settings = json_set(settings, '$.owner', json(?))",
                                   (json.dumps(fake),))
        lines = cancel_run(workspace, run_id, api_key=server.api_key)
        thread.join(10)
        other.close()
        assert not thread.is_alive() and result["summary"].status == CANCELLED
        assert any("desktop app" in line for line in lines) and server.cancels == 1


def test_a_batch_run_is_never_sent_call_by_call(workspace):
    from healthqa.runs import RunError, execute_run
    with OpenAIBatchServer() as server:
        run_id = batch_run(workspace, server, n=2)
        with pytest.raises(RunError, match="provider batches"):
            asyncio.run(execute_run(workspace, run_id, api_key=server.api_key))
        assert server.requests == [] and workspace.scalar("SELECT count(*) FROM answers") == 0


def test_an_answer_that_echoes_the_key_is_stored_without_it(workspace, server):
    run_id = batch_run(workspace, server, n=2)
    server.responder = lambda question, request: f"Your key is {API_KEY}, by the way."
    assert go(workspace, run_id, server).status == DONE
    texts_stored = [r["text"] for r in workspace.query("SELECT text FROM answers")]
    assert len(texts_stored) == 2 and not any(API_KEY in t or API_KEY[:12] in t for t in texts_stored)
