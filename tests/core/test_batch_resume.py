"""`healthqa run --batch` / `grade --batch` as a script uses them: a real
process killed with SIGKILL while its batch is live at the provider, then
`--resume`: the live batch is re-attached to, never sent again, and every
answer and verdict arrives exactly once. Also `runs cancel` and
`runs show --json`'s batches."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from healthqa.store import Workspace
from tests.core.batch_servers import BATCH_SERVERS, grader_responder
from tests.core.provider_servers import answer_for
from tests.core.test_cli import healthqa
from tests.core.test_runs import add_config, add_questions, question_text

KEY = "sk-hqa-Batch-Distinctive-4kP9sD2fG7hJ1lZ"
KEY_ENV = "HQA_TEST_BATCH_KEY"
ENV = {KEY_ENV: KEY}
QUESTIONS, SAMPLES = 5, 2
BATCH_KEYS = {"provider_id", "state", "submitted", "succeeded", "errored", "expired", "created_at", "ended_at"}


def prepare(path: Path, server) -> Path:
    with Workspace(path) as ws:
        add_questions(ws, QUESTIONS)
        add_config(ws, server, name="m", api_key_env=KEY_ENV, price_in_per_mtok=1.0, price_out_per_mtok=4.0)
    return path


def start(*args: str, workspace: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "healthqa.cli", "--workspace", str(workspace), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **ENV})


def wait_for_live_batch(path: Path, proc: subprocess.Popen, timeout: float = 30) -> sqlite3.Connection:
    """Until the process has a batch at the provider (an id stored) that is not finished."""
    reader = sqlite3.connect(path, timeout=10)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if reader.execute("SELECT count(*) FROM provider_batches WHERE provider_id IS NOT NULL AND collected = 0 "
                              "AND state = 'in_progress'").fetchone()[0]:
                return reader
        except sqlite3.OperationalError:
            pass  # the schema is not there yet
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.communicate()}")
        time.sleep(0.02)
    raise AssertionError("no live batch appeared")


@pytest.mark.parametrize("kind", list(BATCH_SERVERS))
def test_killed_mid_batch_resume_reattaches_and_stores_everything_once(tmp_path, kind):
    with BATCH_SERVERS[kind](api_key=KEY) as server:
        ws = prepare(tmp_path / "w.healthqa", server)
        # The batch stays in progress for 20 looks: long enough to kill the process while it is live.
        server.plans.append(["validating"] + ["in_progress"] * 20 + ["completed"])
        proc = start("run", "--set", "S", "--model", "m", "--samples", str(SAMPLES), "--batch",
                     "--poll-interval", "0.02", workspace=ws)
        reader = wait_for_live_batch(ws, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        (run_id,) = reader.execute("SELECT id FROM runs").fetchone()
        assert reader.execute("SELECT count(*) FROM answers").fetchone()[0] == 0
        reader.close()
        assert server.creates == 1 and len(server.submitted_ids) == QUESTIONS * SAMPLES

        resumed = healthqa("run", "--resume", run_id, "--poll-interval", "0.01", workspace=ws, env=ENV)
        assert resumed.stdout.strip().splitlines()[-1] == f"run {run_id}"
        assert "batch progress:" in resumed.stderr and "at batch prices (50% off)" in resumed.stderr
        # Re-attached: the live batch was polled to its end, nothing was sent again.
        assert server.creates == 1 and len(server.submitted_ids) == len(set(server.submitted_ids))

        shown = json.loads(healthqa("runs", "show", run_id, "--json", workspace=ws).stdout)
        [batch] = shown["batches"]
        assert set(batch) == BATCH_KEYS
        assert batch["state"] == "completed" and batch["submitted"] == batch["succeeded"] == QUESTIONS * SAMPLES

        # The grading pass, killed the same way, then resumed.
        server.responder = grader_responder
        server.plans.append(["validating"] + ["in_progress"] * 20 + ["completed"])
        proc = start("grade", "--run", run_id, "--grader", "m", "--batch", "--poll-interval", "0.02", workspace=ws)
        reader = wait_for_live_batch(ws, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        (grade_id,) = reader.execute("SELECT id FROM runs WHERE kind = 'grade'").fetchone()
        reader.close()
        healthqa("run", "--resume", grade_id, "--poll-interval", "0.01", workspace=ws, env=ENV)
        assert server.creates == 2 and len(server.submitted_ids) == len(set(server.submitted_ids))

    with Workspace(ws) as w:
        rows = w.query("SELECT a.question_id, a.sample, a.text, q.prompt_id FROM answers a "
                       "JOIN questions q ON q.id = a.question_id")
        pairs = [(r["question_id"], r["sample"]) for r in rows]
        assert len(pairs) == len(set(pairs)) == QUESTIONS * SAMPLES
        assert all(r["text"] == answer_for(question_text(int(r["prompt_id"][-12:]))) for r in rows)
        grades = w.query("SELECT answer_id, criterion_id, verdict FROM grades")
        assert len(grades) == len({(g["answer_id"], g["criterion_id"]) for g in grades}) == QUESTIONS * SAMPLES * 3
        assert all(g["verdict"] in ("met", "not_met") for g in grades)
        assert {r["status"] for r in w.query("SELECT status FROM runs")} == {"done"}
        assert KEY not in json.dumps(w.query("SELECT * FROM provider_batches"))


def test_runs_cancel_cancels_the_provider_batch_and_stops_the_process(tmp_path):
    with BATCH_SERVERS["openai"](api_key=KEY) as server:
        ws = prepare(tmp_path / "w.healthqa", server)
        server.plans.append(["validating"] + ["in_progress"] * 10_000)
        proc = start("run", "--set", "S", "--model", "m", "--batch", "--poll-interval", "0.02", workspace=ws)
        reader = wait_for_live_batch(ws, proc)
        (run_id,) = reader.execute("SELECT id FROM runs").fetchone()
        reader.close()
        out = healthqa("runs", "cancel", run_id[:8], workspace=ws, env=ENV).stdout
        assert f"asked process {proc.pid} to stop" in out and "cancelled batch" in out
        stdout, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 130 and stdout.strip().endswith(f"run {run_id}")
        assert server.cancels == 1
        # Resume reads the cancelled batch's finished half and sends the rest once.
        healthqa("run", "--resume", run_id, "--poll-interval", "0.01", workspace=ws, env=ENV)
        shown = json.loads(healthqa("runs", "show", run_id, "--json", workspace=ws).stdout)
        assert [b["state"] for b in shown["batches"]] == ["cancelled", "completed"]
        assert shown["status"] == "done" and shown["counts"]["done"] == QUESTIONS


def test_a_local_server_without_the_batch_api_fails_the_run_in_one_line(tmp_path):
    from tests.core.provider_servers import OpenAICompatServer
    with OpenAICompatServer() as server:
        ws = tmp_path / "w.healthqa"
        with Workspace(ws) as w:
            add_questions(w, 2)
            add_config(w, server, name="local")
        proc = healthqa("run", "--set", "S", "--model", "local", "--batch", workspace=ws, check=False)
        assert proc.returncode == 2 and "does not offer the OpenAI batch API" in proc.stderr
        with Workspace(ws) as w:
            assert w.scalar("SELECT count(*) FROM provider_batches") == 0
            assert w.scalar("SELECT status FROM runs") == "failed"


def test_runs_cancel_stops_an_interactive_run(tmp_path):
    from tests.core.test_cli_runs import prepare as prepare_interactive, start_run_until_answers_land
    from tests.core.provider_servers import OpenAIServer
    from tests.core.test_cli_runs import ENV as INTERACTIVE_ENV
    with OpenAIServer(api_key=INTERACTIVE_ENV["HQA_TEST_API_KEY"], latency=1.0) as server:  # 6 s of calls
        ws = prepare_interactive(tmp_path / "w.healthqa", server, questions=12)
        proc, reader = start_run_until_answers_land(ws, server)
        (run_id,) = reader.execute("SELECT id FROM runs").fetchone()
        reader.close()
        out = healthqa("runs", "cancel", run_id, workspace=ws).stdout
        assert f"asked process {proc.pid} to stop" in out
        stdout, _ = proc.communicate(timeout=30)
        assert proc.returncode == 130 and stdout.strip().endswith(f"run {run_id}")


def test_contemplating_answers_are_not_sent_as_a_batch(tmp_path):
    with BATCH_SERVERS["openai"](api_key=KEY) as server:
        ws = prepare(tmp_path / "w.healthqa", server)
        proc = healthqa("run", "--set", "S", "--model", "m", "--batch", "--mode", "contemplating", workspace=ws,
                        env=ENV, check=False)
        assert proc.returncode != 0 and "without --batch" in proc.stderr
        with Workspace(ws) as w:
            assert w.scalar("SELECT count(*) FROM runs") == 0
        assert server.requests == []
