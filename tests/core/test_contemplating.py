"""Reasoning modes and the contemplating mode, against real loopback provider servers
(all four wire formats) and a real workspace file; a SIGKILLed `healthqa run` resumes."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from healthqa.domain import Usage
from healthqa.providers import make_provider
from healthqa.runs.contemplating import synthesis_conversation
from healthqa.runs import DONE, INCOMPLETE, RunError, create_run, execute_run, get_run
from healthqa.store import Workspace
from tests.core.provider_servers import (  # noqa: F401  (fixtures)
    SERVERS, AnthropicServer, LoopbackServer, OpenAIServer, Recorded, answer_for, openai_server, provider_server,
)
from tests.core.test_runs import add_config, add_questions, question_text

DRAFT_MARK = "<drafts>"  # in the synthesis request only


def request_text(request: Recorded) -> str:
    return str(request.json)


def is_synthesis(request: Recorded) -> bool:
    return DRAFT_MARK in request_text(request)


def final_for(question: str) -> str:
    """The synthesis's answer: not the drafts' text, so a test can tell which one it sees."""
    return "Final: " + answer_for("synthesis of " + question)


def draft_responder(question: str, request: Recorded) -> str:
    """Drafts differ by nothing (same request), so the synthesis is told apart by its prompt."""
    if DRAFT_MARK in question:
        return final_for(question.split(DRAFT_MARK)[0].strip())
    return answer_for(question)


def replay(server: LoopbackServer, config, request: Recorded) -> Usage:
    """What the server bills for exactly this request body, measured again over the wire."""

    async def go() -> Usage:
        provider = make_provider(config, server.api_key)
        try:
            path = request.path + (f"?{'&'.join(f'{k}={v}' for k, v in request.query.items())}"
                                   if request.query else "")
            answer = await provider._post_once(server.root_url + path, request.json)
            return answer.usage
        finally:
            await provider.aclose()
    return asyncio.run(go())


def total(usages: list[Usage]) -> tuple[int, int, int]:
    return (sum(u.input_tokens or 0 for u in usages), sum(u.output_tokens or 0 for u in usages),
            sum(u.reasoning_tokens or 0 for u in usages))


def execute(ws, run_id, server, **options):
    return asyncio.run(execute_run(ws, run_id, api_key=server.api_key, **options))


# ---- the contemplating mode on every provider -------------------------------------

def test_contemplating_sums_k_drafts_and_the_synthesis_on_every_provider(tmp_path, provider_server):
    server = provider_server
    server.responder = draft_responder
    server.latency = 0.3
    with Workspace(tmp_path / "w.healthqa") as ws:
        [qid] = add_questions(ws, 1)
        config = add_config(ws, server, reasoning="low", price_in_per_mtok=1.0, price_out_per_mtok=4.0)
        run_id = create_run(ws, model_name="m", set_name="S", mode="contemplating", drafts=4)
        t0 = time.perf_counter()
        summary = execute(ws, run_id, server, concurrency=8)
        wall = time.perf_counter() - t0
        assert summary.status == DONE and summary.calls == 5
        requests = [r for r in server.requests if r.method == "POST"]
        drafts = [r for r in requests if not is_synthesis(r)]
        [synthesis] = [r for r in requests if is_synthesis(r)]
        assert len(drafts) == 4 and requests[-1] is synthesis  # the synthesis waits for its drafts
        draft_answer = answer_for(question_text(0))
        assert request_text(synthesis).count(draft_answer) == 4  # it reads every draft

        [answer] = ws.query("SELECT * FROM answers WHERE run_id = ?", (run_id,))
        assert answer["text"] == final_for(question_text(0))
        assert answer["model"] == "m (contemplating)" and answer["drafts_used"] == 4
        stored = ws.query("SELECT * FROM answer_drafts WHERE answer_id = ? ORDER BY idx", (answer["id"],))
        assert [d["idx"] for d in stored] == [0, 1, 2, 3] and all(d["text"] == draft_answer for d in stored)

        # usage: the sum over the K + 1 calls, each billed again over the wire
        expected = total([replay(server, config, d) for d in drafts] + [replay(server, config, synthesis)])
        assert (answer["input_tokens"], answer["output_tokens"], answer["reasoning_tokens"]) == expected
        assert (summary.input_tokens, summary.output_tokens) == expected[:2]
        assert summary.cost == pytest.approx((expected[0] * 1.0 + expected[1] * 4.0) / 1e6)
        # latency: first draft's start to the synthesis's end — parallel drafts (0.3 s) then the
        # synthesis (0.3 s); four drafts one after another would take 1.5 s
        assert 600 <= answer["latency_ms"] < 1100 and answer["latency_ms"] <= wall * 1000


def test_the_aggregator_model_writes_the_synthesis_and_is_priced_as_itself(tmp_path, monkeypatch):
    monkeypatch.setenv("HQA_AGG_KEY", AnthropicServer().api_key)
    with OpenAIServer() as drafter, AnthropicServer() as aggregator, Workspace(tmp_path / "w.healthqa") as ws:
        drafter.responder = aggregator.responder = draft_responder
        add_questions(ws, 3)
        config = add_config(ws, drafter, reasoning="low", price_in_per_mtok=1.0, price_out_per_mtok=2.0)
        agg = add_config(ws, aggregator, name="judge", api_key_env="HQA_AGG_KEY",
                         price_in_per_mtok=10.0, price_out_per_mtok=20.0)
        run_id = create_run(ws, model_name="m", set_name="S", mode="contemplating", drafts=2, aggregator="judge")
        summary = execute(ws, run_id, drafter, concurrency=4)
        assert summary.status == DONE and summary.calls == 9
        assert len(drafter.requests) == 6 and not any(is_synthesis(r) for r in drafter.requests)
        assert len(aggregator.requests) == 3 and all(is_synthesis(r) for r in aggregator.requests)
        answers = ws.query("SELECT * FROM answers WHERE run_id = ?", (run_id,))
        assert all(a["text"].startswith("Final: ") and a["model"] == "m (contemplating)" for a in answers)
        sent_drafts, sent_syntheses = list(drafter.requests), list(aggregator.requests)
        draft_usage = [replay(drafter, config, r) for r in sent_drafts]
        synth_usage = [replay(aggregator, agg, r) for r in sent_syntheses]
        d_in, d_out, _ = total(draft_usage)
        s_in, s_out, _ = total(synth_usage)
        assert summary.cost == pytest.approx((d_in * 1 + d_out * 2 + s_in * 10 + s_out * 20) / 1e6)
        run = get_run(ws, run_id)
        assert (run["mode"], run["drafts"], run["aggregator"]) == ("contemplating", 2, "judge")


def test_drafts_that_fail_after_retries_are_left_out_and_counted(tmp_path, openai_server):
    server = openai_server
    server.responder = draft_responder
    permanent = server.server_error(500, **{"x-should-retry": "false"})  # not retried
    # one call slot, so the drafts go one after another: draft 0 fails once and is
    # retried (then succeeds), draft 1 fails for good
    server.enqueue(server.server_error(500), server.slow(0), permanent)
    with Workspace(tmp_path / "w.healthqa") as ws:
        add_questions(ws, 1)
        add_config(ws, server, reasoning="low")
        run_id = create_run(ws, model_name="m", set_name="S", mode="contemplating", drafts=4)
        summary = execute(ws, run_id, server, concurrency=1)
        assert summary.status == DONE
        [answer] = ws.query("SELECT * FROM answers WHERE run_id = ?", (run_id,))
        assert answer["drafts_used"] == 3
        drafts = ws.query("SELECT idx, text, error FROM answer_drafts WHERE run_id = ? ORDER BY idx", (run_id,))
        assert [d["text"] is None for d in drafts] == [False, True, False, False]
        assert "HTTP 500" in drafts[1]["error"]
        [synthesis] = [r for r in server.requests if is_synthesis(r)]
        assert request_text(synthesis).count(answer_for(question_text(0))) == 3
        assert len(server.requests) == 6  # 4 drafts + 1 retry + the synthesis


def test_an_item_whose_drafts_all_fail_fails_and_a_resume_redoes_only_those(tmp_path, openai_server):
    server = openai_server
    server.responder = draft_responder
    permanent = server.server_error(500, **{"x-should-retry": "false"})
    server.enqueue(*[permanent] * 3)
    with Workspace(tmp_path / "w.healthqa") as ws:
        add_questions(ws, 2)
        add_config(ws, server, reasoning="low")
        run_id = create_run(ws, model_name="m", set_name="S", mode="contemplating", drafts=3)
        summary = execute(ws, run_id, server, concurrency=1)  # question 0's drafts come first
        assert summary.status == INCOMPLETE and (summary.done, summary.failed) == (1, 1)
        assert summary.calls == 3 + 4  # the failed item's three drafts, the other item's drafts and synthesis
        [failed] = get_run(ws, run_id)["items"]
        assert "all 3 drafts failed" in failed["error"]
        sent = len(server.requests)
        summary = execute(ws, run_id, server, concurrency=1)
        assert summary.status == DONE and len(server.requests) - sent == 4  # 3 drafts + synthesis
        assert ws.scalar("SELECT count(*) FROM answers WHERE drafts_used = 3") == 2


# ---- instant and thinking ----------------------------------------------------------

def test_instant_turns_reasoning_off_and_thinking_keeps_the_configs_setting(tmp_path, openai_server):
    with Workspace(tmp_path / "w.healthqa") as ws:
        add_questions(ws, 1)
        add_config(ws, openai_server, reasoning="medium")
        instant = create_run(ws, model_name="m", set_name="S", mode="instant")
        default = create_run(ws, model_name="m", set_name="S")
        execute(ws, instant, openai_server)
        execute(ws, default, openai_server)
        first, second = [r.json for r in openai_server.requests]
        assert "reasoning_effort" not in first and second["reasoning_effort"] == "medium"
        assert get_run(ws, default)["mode"] == "thinking" and get_run(ws, instant)["drafts"] is None
        labels = {r["run_id"]: r["model"] for r in ws.query("SELECT run_id, model FROM answers")}
        assert labels == {instant: "m (instant)", default: "m"}


def test_bad_mode_settings_are_refused_with_one_line(tmp_path, openai_server):
    with Workspace(tmp_path / "w.healthqa") as ws:
        add_questions(ws, 1)
        add_config(ws, openai_server)  # reasoning off
        for kwargs, words in [({"mode": "thinking"}, "has reasoning off"), ({"mode": "fast"}, "unknown mode"),
                              ({"mode": "instant", "drafts": 3}, "contemplating mode only"),
                              ({"mode": "contemplating", "drafts": 0}, "between 1 and"),
                              ({"mode": "contemplating", "aggregator": "nope"}, "no model config named 'nope'")]:
            with pytest.raises(RunError, match=words):
                create_run(ws, model_name="m", set_name="S", **kwargs)
        assert ws.scalar("SELECT count(*) FROM runs") == 0
        run_id = create_run(ws, model_name="m", set_name="S")
        assert get_run(ws, run_id)["mode"] == "instant"


def test_review_bundles_carry_no_drafts(tmp_path, openai_server):
    from healthqa.review import assign
    from healthqa.formats.bundle import export_bundle
    from healthqa.store import ensure_rater
    openai_server.responder = draft_responder
    with Workspace(tmp_path / "w.healthqa") as ws:
        add_questions(ws, 2)
        add_config(ws, openai_server, reasoning="low")
        run_id = create_run(ws, model_name="m", set_name="S", mode="contemplating", drafts=2)
        execute(ws, run_id, openai_server)
        assert ws.scalar("SELECT count(*) FROM answer_drafts") == 4
        ensure_rater(ws, "Dr A")
        assign(ws, ["Dr A"], 1, run_id=run_id)
        report = export_bundle(ws, "Dr A", tmp_path / "a.hqbundle", run_id=run_id)
    conn = sqlite3.connect(report.path)
    assert conn.execute("SELECT count(*) FROM answers").fetchone()[0] == 2
    assert conn.execute("SELECT count(*) FROM answer_drafts").fetchone()[0] == 0
    conn.close()


def test_the_jsonl_export_carries_the_drafts_and_importing_it_back_ignores_them(tmp_path, openai_server):
    import json

    from healthqa.formats.healthbench import export_healthbench, import_healthbench
    openai_server.responder = draft_responder
    with Workspace(tmp_path / "w.healthqa") as ws:
        add_questions(ws, 2)
        add_config(ws, openai_server, reasoning="low")
        contemplating = create_run(ws, model_name="m", set_name="S", mode="contemplating", drafts=2)
        plain = create_run(ws, model_name="m", set_name="S")
        execute(ws, contemplating, openai_server)
        execute(ws, plain, openai_server)
        assert export_healthbench(ws, "S", tmp_path / "out.jsonl", with_answers=True) == 4
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    composed = [r for r in rows if r["model"] == "m (contemplating)"]
    assert len(composed) == 2 and all("drafts" not in r for r in rows if r["model"] == "m")
    for row in composed:
        assert [d["index"] for d in row["drafts"]] == [0, 1]
        assert all(d["text"].startswith("Answer ") and d["usage"]["output_tokens"] > 0 for d in row["drafts"])
    with Workspace(tmp_path / "other.healthqa") as other:
        import_healthbench(other, tmp_path / "out.jsonl", set_name="S")
        assert other.scalar("SELECT count(*) FROM answers") == 4
        assert other.scalar("SELECT count(*) FROM answer_drafts") == 0


# ---- a killed contemplating run ---------------------------------------------------

KEY_ENV = "HQA_TEST_API_KEY"


def test_a_killed_contemplating_run_resumes_without_redoing_stored_drafts(tmp_path):
    questions, drafts, concurrency = 12, 4, 4
    ws_path = tmp_path / "w.healthqa"
    with OpenAIServer(latency=0.25) as server:
        server.responder = draft_responder
        with Workspace(ws_path) as ws:
            add_questions(ws, questions)
            add_config(ws, server, reasoning="low", api_key_env=KEY_ENV)
        env = {**os.environ, KEY_ENV: server.api_key}
        cmd = [sys.executable, "-m", "healthqa.cli", "--workspace", str(ws_path), "run", "--set", "S", "--model",
               "m", "--mode", "contemplating", "--drafts", str(drafts), "--concurrency", str(concurrency)]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        reader = sqlite3.connect(ws_path)
        try:
            deadline = time.monotonic() + 30
            # kill once some answers are in and some drafts wait for their synthesis
            while not (reader.execute("SELECT count(*) FROM answers").fetchone()[0] >= 2 and reader.execute(
                    "SELECT count(*) FROM answer_drafts WHERE answer_id IS NULL").fetchone()[0] >= 1):
                assert time.monotonic() < deadline and proc.poll() is None, "no drafts landed"
                time.sleep(0.01)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        kept = {tuple(r[:4]): r[4] for r in reader.execute(
            "SELECT question_id, sample, idx, id, created_at FROM answer_drafts WHERE text IS NOT NULL")}
        answered = reader.execute("SELECT count(*) FROM answers").fetchone()[0]
        [run_id] = [r[0] for r in reader.execute("SELECT id FROM runs")]
        reader.close()
        assert answered < questions and len(kept) < questions * drafts
        sent = len(server.requests)

        server.latency = 0
        resumed = subprocess.run([sys.executable, "-m", "healthqa.cli", "--workspace", str(ws_path), "run",
                                  "--resume", run_id], env=env, capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        after = server.requests[sent:]

    draft_calls = [r for r in after if not is_synthesis(r)]
    assert len(draft_calls) == questions * drafts - len(kept)  # no stored draft was asked for again
    assert len(after) - len(draft_calls) == questions - answered  # one synthesis per unanswered question
    with Workspace(ws_path) as ws:
        assert ws.scalar("SELECT status FROM runs") == "done"
        assert ws.scalar("SELECT count(DISTINCT question_id) FROM answers") == questions == ws.scalar(
            "SELECT count(*) FROM answers")
        assert ws.scalar("SELECT count(*) FROM answers WHERE drafts_used = ?", (drafts,)) == questions
        now_stored = {(r["question_id"], r["sample"], r["idx"], r["id"]): r["created_at"] for r in ws.query(
            "SELECT question_id, sample, idx, id, created_at FROM answer_drafts WHERE answer_id IS NOT NULL")}
        assert len(now_stored) == questions * drafts
        assert all(now_stored[key] == stamp for key, stamp in kept.items())  # untouched by the resume


# ---- the command line (a contract) ---------------------------------------------------

def test_cli_run_mode_runs_show_and_answers_json(tmp_path):
    import json

    from tests.core.test_cli import healthqa
    ws_path = tmp_path / "w.healthqa"
    with OpenAIServer() as server:
        server.responder = draft_responder
        with Workspace(ws_path) as ws:
            add_questions(ws, 2)
            add_config(ws, server, reasoning="low", api_key_env=KEY_ENV)
            add_config(ws, server, name="plain", api_key_env=KEY_ENV)
            add_config(ws, server, name="judge", api_key_env=KEY_ENV)
        env = {KEY_ENV: server.api_key}
        out = healthqa("run", "--set", "S", "--model", "m", "--mode", "contemplating", "--drafts", "3",
                       "--aggregator", "judge", workspace=ws_path, env=env).stdout
        run_id = out.strip().splitlines()[-1].removeprefix("run ")
        shown = json.loads(healthqa("runs", "show", run_id, "--json", workspace=ws_path).stdout)
        assert (shown["mode"], shown["drafts"], shown["aggregator"]) == ("contemplating", 3, "judge")
        answers = json.loads(healthqa("answers", "--run", run_id, "--json", workspace=ws_path).stdout)
        assert len(answers) == 2 and all(a["drafts_used"] == 3 and len(a["drafts"]) == 3 for a in answers)
        draft = answers[0]["drafts"][0]
        assert draft["text"].startswith("Answer ") and draft["usage"]["output_tokens"] > 0
        assert "draft 1:" in healthqa("answers", "--run", run_id, workspace=ws_path).stdout

        out = healthqa("run", "--set", "S", "--model", "m", "--mode", "instant", workspace=ws_path, env=env).stdout
        instant = out.strip().splitlines()[-1].removeprefix("run ")
        shown = json.loads(healthqa("runs", "show", instant, "--json", workspace=ws_path).stdout)
        assert (shown["mode"], shown["drafts"]) == ("instant", None)
        assert all(a["drafts"] is None for a in json.loads(
            healthqa("answers", "--run", instant, "--json", workspace=ws_path).stdout))

        bad = healthqa("run", "--set", "S", "--model", "plain", "--mode", "thinking", workspace=ws_path, env=env,
                       check=False)
        assert bad.returncode != 0 and "has reasoning off" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
        bad = healthqa("run", "--set", "S", "--model", "m", "--drafts", "3", workspace=ws_path, env=env, check=False)
        assert bad.returncode != 0 and "contemplating mode only" in bad.stderr
        with Workspace(ws_path) as ws:
            assert ws.scalar("SELECT count(*) FROM runs") == 2  # refused runs leave nothing behind


# ---- call slots ---------------------------------------------------------------------

def test_call_slots_serve_lower_priority_numbers_first_and_survive_cancelled_waiters():
    from healthqa.runs.slots import CallSlots

    async def scenario() -> list[str]:
        slots, order = CallSlots(1), []
        release = asyncio.Event()

        async def hold():
            async with slots.take(0):
                await release.wait()

        async def call(name: str, priority: int):
            async with slots.take(priority):
                order.append(name)
                await asyncio.sleep(0)

        holder = asyncio.create_task(hold())
        await asyncio.sleep(0)
        waiters = [asyncio.create_task(call(n, p)) for n, p in (("late", 5), ("early", 1), ("gone", 0),
                                                                ("early-too", 1))]
        await asyncio.sleep(0)
        waiters[2].cancel()  # a cancelled waiter must neither run nor swallow a slot
        release.set()
        await asyncio.gather(holder, *waiters, return_exceptions=True)
        assert slots.free == 1  # every slot came back
        return order
    assert asyncio.run(scenario()) == ["early", "early-too", "late"]
