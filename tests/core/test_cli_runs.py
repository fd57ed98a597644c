"""models / run / runs / grade / answers as a script uses them: real processes, a real
workspace file, loopback provider servers. Includes killing a run with SIGKILL."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import keyring
import keyring.backend
import pytest

from healthqa import cli
from healthqa.secrets import SERVICE
from healthqa.store import Workspace
from tests.core.provider_servers import OpenAIServer, answer_for, openai_server  # noqa: F401
from tests.core.test_cli import healthqa
from tests.core.test_grader import grading_responder
from tests.core.test_runs import add_config, add_questions, question_text

KEY = "sk-hqa-Distinctive-7Q2xW9vB4nM1kZ8pL5rT3yH6"
KEY_ENV = "HQA_TEST_API_KEY"
ENV = {KEY_ENV: KEY}


@pytest.fixture
def server():
    with OpenAIServer(api_key=KEY) as srv:
        srv.responder = grading_responder
        yield srv


def prepare(path: Path, server: OpenAIServer, questions: int = 3) -> Path:
    """A workspace with a question set S, an answering config m and a grader config g (keys from KEY_ENV)."""
    with Workspace(path) as ws:
        add_questions(ws, questions)
        add_config(ws, server, name="m", api_key_env=KEY_ENV, price_in_per_mtok=1.0, price_out_per_mtok=4.0)
        add_config(ws, server, name="g", api_key_env=KEY_ENV, temperature=0.5)
    return path


def run_id_from(stdout: str) -> str:
    last = stdout.strip().splitlines()[-1]
    assert last.startswith("run "), stdout
    return last.removeprefix("run ")


def read_json(proc) -> object:
    return json.loads(proc.stdout)


def in_process(capsys, *args: str, workspace: Path) -> subprocess.CompletedProcess:
    """A read-only command run in this process (quicker than a new one; same code path)."""
    capsys.readouterr()
    code = cli.main(["--workspace", str(workspace), *args])
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


# ---- models ---------------------------------------------------------------------

def test_models_add_list_and_test(tmp_path, server, capsys):
    ws = tmp_path / "w.healthqa"
    out = healthqa("models", "add", "m", "--provider", "openai", "--model", server.model, "--base-url",
                   server.base_url, "--api-key-env", KEY_ENV, "--reasoning", "low", "--max-output-tokens", "512",
                   "--price-in", "2", "--price-out", "8", "--system-prompt", "Be brief.", workspace=ws).stdout
    assert "Saved model config 'm'" in out and KEY_ENV in out
    [config] = read_json(in_process(capsys, "models", "list", "--json", workspace=ws))
    assert config["name"] == "m" and config["provider"] == "openai" and config["reasoning"] == "low"
    assert config["api_key_env"] == KEY_ENV and config["key_source"] == f"environment variable {KEY_ENV}"
    assert config["max_output_tokens"] == 512 and config["price_out_per_mtok"] == 8.0

    ok = healthqa("models", "test", "m", workspace=ws, env=ENV)
    assert "answered in" in ok.stdout and server.last.json["max_completion_tokens"] is not None
    wrong = healthqa("models", "test", "m", workspace=ws, env={KEY_ENV: "sk-wrong-key-000000000000"}, check=False)
    assert wrong.returncode == 2 and "rejected the API key" in wrong.stderr and KEY_ENV in wrong.stderr
    missing = healthqa("models", "test", "m", workspace=ws, env={KEY_ENV: ""}, check=False)
    assert missing.returncode == 2 and f"set environment variable {KEY_ENV}" in missing.stderr
    bad = in_process(capsys, "models", "add", "x", "--provider", "openai", "--model", "y", "--max-output-tokens", "0",
                     workspace=ws)
    assert bad.returncode == 2 and "invalid model config: max_output_tokens" in bad.stderr
    for proc in (ok, wrong, missing):
        assert KEY not in proc.stdout + proc.stderr


class MemoryKeyring(keyring.backend.KeyringBackend):
    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.saved: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.saved.get((service, username))

    def set_password(self, service, username, password):
        self.saved[(service, username)] = password

    def delete_password(self, service, username):
        self.saved.pop((service, username))


def test_models_add_keyring_reads_the_key_from_stdin(tmp_path, server, monkeypatch, capsys):
    previous = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    try:
        ws = tmp_path / "w.healthqa"
        monkeypatch.setattr(sys, "stdin", io.StringIO(KEY + "\n"))
        assert cli.main(["--workspace", str(ws), "models", "add", "k", "--provider", "openai", "--model",
                         server.model, "--base-url", server.base_url, "--keyring"]) == 0
        assert memory.saved == {(SERVICE, "k"): KEY}
        assert cli.main(["--workspace", str(ws), "models", "test", "k"]) == 0
        assert server.last.headers["authorization"] == f"Bearer {KEY}"
        assert cli.main(["--workspace", str(ws), "models", "list", "--json"]) == 0
    finally:
        keyring.set_keyring(previous)
    out = capsys.readouterr()
    assert KEY not in out.out + out.err and "keyring entry healthqa/k" in out.out
    assert KEY.encode() not in b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())


def test_models_add_timeout_and_cached_price(tmp_path, server, capsys):
    ws = tmp_path / "w.healthqa"
    healthqa("models", "add", "r", "--provider", "openai", "--model", "o3", "--reasoning", "high",
             "--price-in", "2", "--price-out", "8", "--price-cached-in", "0.5", workspace=ws)
    healthqa("models", "add", "s", "--provider", "openai", "--model", "gpt-4o", "--timeout", "45", workspace=ws)
    r, s = read_json(in_process(capsys, "models", "list", "--json", workspace=ws))
    assert (r["timeout"], r["price_cached_in_per_mtok"]) == (600, 0.5) and r["accepts"].startswith("reasoning: effort")
    assert s["timeout"] == 45 and s["accepts"] == "reasoning: none"


def test_a_refused_parameter_is_told_remembered_and_not_sent_again(tmp_path, server, capsys):
    server.refuses = {"temperature"}
    ws = prepare(tmp_path / "w.healthqa", server)  # config g has temperature 0.5
    first = healthqa("run", "--set", "S", "--model", "g", "--concurrency", "1", workspace=ws, env=ENV)
    assert "Run done: 3/3 answered" in first.stderr
    assert ("notice: g (gpt-loopback): takes only its default temperature; sent without it "
            "(remembered on the model config)") in first.stderr
    assert [("temperature" in r.json) for r in server.requests] == [True, False, False, False]
    configs = {c["name"]: c for c in read_json(in_process(capsys, "models", "list", "--json", workspace=ws))}
    assert configs["g"]["learned"] == ["g (gpt-loopback): takes only its default temperature; sent without it"]
    assert "no temperature" in configs["g"]["accepts"] and configs["m"]["learned"] == []
    shown = in_process(capsys, "runs", "show", run_id_from(first.stdout), workspace=ws).stdout
    assert "notice: g (gpt-loopback): takes only its default temperature; sent without it" in shown
    second = healthqa("run", "--set", "S", "--model", "g", workspace=ws, env=ENV)
    assert "notice" not in second.stderr and len(server.requests) == 7
    assert not any("temperature" in r.json for r in server.requests[4:])
    # Pointing the config at another model forgets what the old one refused.
    healthqa("models", "add", "g", "--provider", "openai", "--model", "gpt-loopback-mini", "--base-url",
             server.base_url, "--api-key-env", KEY_ENV, "--temperature", "0.5", workspace=ws)
    configs = {c["name"]: c for c in read_json(in_process(capsys, "models", "list", "--json", workspace=ws))}
    assert configs["g"]["learned"] == []


# ---- run, grade, answers ------------------------------------------------------------

def test_run_grade_and_answers(tmp_path, server, capsys):
    ws = prepare(tmp_path / "w.healthqa", server)
    run = healthqa("run", "--set", "S", "--model", "m", "--samples", "2", "--concurrency", "4", workspace=ws, env=ENV)
    run_id = run_id_from(run.stdout)
    assert "progress: 6/6 done, 0 failed, 0 in flight" in run.stderr  # plain lines: stderr is not a TTY
    assert "Run done: 6/6 answered" in run.stderr

    grade = healthqa("grade", "--run", run_id, "--grader", "g", "--concurrency", "8", workspace=ws, env=ENV)
    grade_id = run_id_from(grade.stdout)
    assert "Run done: 18/18 graded" in grade.stderr

    answers = read_json(in_process(capsys, "answers", "--run", run_id, "--json", workspace=ws))
    assert len(answers) == 6
    assert [(a["prompt_id"][-1], a["sample"]) for a in answers] == [(p, s) for p in "012" for s in (0, 1)]
    for a in answers:
        assert set(a) >= {"prompt_id", "model", "text", "finish_reason", "usage", "latency_ms", "error", "grades"}
        assert a["model"] == "m" and a["finish_reason"] == "stop" and a["error"] is None
        assert a["text"] == answer_for(question_text(int(a["prompt_id"][-1])))
        assert a["usage"]["input_tokens"] > 0 and a["usage"]["output_tokens"] > 0
        assert [(g["points"], g["rater"], g["verdict"]) for g in a["grades"]] == [
            (6, "g", "met"), (8, "g", "met"), (-7, "g", "not_met")]
        assert all(set(g) == {"criterion", "points", "rater", "verdict", "explanation"} for g in a["grades"])

    runs = read_json(in_process(capsys, "runs", "list", "--json", workspace=ws))
    assert [(r["id"], r["kind"], r["set"], r["model"], r["status"]) for r in runs] == [
        (grade_id, "grade", "S", "g", "done"), (run_id, "answer", "S", "m", "done")]
    assert runs[1]["counts"] == {"total": 6, "done": 6, "failed": 0, "pending": 0}
    shown = read_json(in_process(capsys, "runs", "show", grade_id, "--json", workspace=ws))
    assert shown["source_run_id"] == run_id and shown["rater"] == "g" and shown["summary"]["calls"] == 18
    assert shown["items"] == []


def test_a_missing_key_is_an_error_and_creates_no_run(tmp_path, server, capsys):
    ws = prepare(tmp_path / "w.healthqa", server)
    proc = healthqa("run", "--set", "S", "--model", "m", workspace=ws, env={KEY_ENV: ""}, check=False)
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: No API key for 'm': set environment variable {KEY_ENV}"
    assert read_json(in_process(capsys, "runs", "list", "--json", workspace=ws)) == [] and server.requests == []


def test_a_stopped_run_says_why_and_shows_its_items_errors(tmp_path, server, capsys):
    ws = prepare(tmp_path / "w.healthqa", server)
    server.enqueue(server.insufficient_quota())
    proc = healthqa("run", "--set", "S", "--model", "m", "--concurrency", "1", workspace=ws, env=ENV, check=False)
    run_id = run_id_from(proc.stdout)
    assert proc.returncode == 2 and "error: OpenAI HTTP 429: billing, quota or spending limit" in proc.stderr
    assert f"healthqa run --resume {run_id}" in proc.stderr
    shown = read_json(in_process(capsys, "runs", "show", run_id, "--json", workspace=ws))
    assert shown["status"] == "failed" and "add credit" in shown["summary"]["message"]
    [failed] = [i for i in shown["items"] if i["status"] == "failed"]
    assert failed["attempts"] == 1 and "billing" in failed["error"]
    assert {i["status"] for i in shown["items"]} == {"failed", "pending"}

    server.enqueue(server.error(400, "maximum context length exceeded", "invalid_request_error",
                                "context_length_exceeded"))
    again = healthqa("run", "--resume", run_id, workspace=ws, env=ENV, check=False)
    assert again.returncode == 1 and "Run incomplete: 2/3 answered, 1 failed" in again.stderr
    assert run_id_from(again.stdout) == run_id
    assert healthqa("run", "--resume", run_id, workspace=ws, env=ENV).returncode == 0


# ---- secrets -------------------------------------------------------------------------

def test_no_key_reaches_the_disk_or_the_output(tmp_path, server, capsys):
    ws = prepare(tmp_path / "w.healthqa", server)
    outputs = []
    outputs.append(healthqa("models", "test", "m", workspace=ws, env=ENV))
    run = healthqa("run", "--set", "S", "--model", "m", workspace=ws, env=ENV)
    outputs += [run, healthqa("grade", "--run", run_id_from(run.stdout), "--grader", "g", workspace=ws, env=ENV)]
    # a server that echoes the key back in an error: the message is stored, the key is not
    server.enqueue(lambda request: server.error(400, f"bad request from {request.headers['authorization']}",
                                                "invalid_request_error"))
    outputs.append(healthqa("run", "--set", "S", "--model", "m", workspace=ws, env=ENV, check=False))
    assert outputs[-1].returncode == 2 and "[redacted]" in outputs[-1].stderr
    outputs += [in_process(capsys, "runs", "show", run_id_from(outputs[-1].stdout), "--json", workspace=ws),
                in_process(capsys, "models", "list", "--json", workspace=ws),
                in_process(capsys, "answers", "--run", run_id_from(run.stdout), workspace=ws)]
    assert any("[redacted]" in item["error"] for item in read_json(outputs[-3])["items"] if item["error"])

    files = [p for p in tmp_path.iterdir() if p.is_file()]  # the workspace and any -wal / -shm beside it
    stored = b"".join(p.read_bytes() for p in files)
    text = "".join(p.stdout + p.stderr for p in outputs)
    for fragment in (KEY, KEY[:12], KEY[-12:]):
        assert fragment.encode() not in stored, f"key fragment {fragment!r} in the workspace files"
        assert fragment not in text, f"key fragment {fragment!r} in the output"
    assert all(r.headers.get("authorization") == f"Bearer {KEY}" for r in server.requests)  # it was really used


# ---- kill -9 and SIGTERM ----------------------------------------------------------------

QUESTIONS, SAMPLES, CONCURRENCY = 12, 2, 4


def start_run_until_answers_land(ws: Path, server: OpenAIServer) -> tuple[subprocess.Popen, sqlite3.Connection]:
    """`healthqa run` in its own process, returned once some answers are in the workspace."""
    cmd = [sys.executable, "-m", "healthqa.cli", "--workspace", str(ws), "run", "--set", "S", "--model", "m",
           "--samples", str(SAMPLES), "--concurrency", str(CONCURRENCY)]
    proc = subprocess.Popen(cmd, env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        server.wait_for_requests(2 * CONCURRENCY + 2, timeout=30)
        reader = sqlite3.connect(ws)
        deadline = time.monotonic() + 10
        while reader.execute("SELECT count(*) FROM answers").fetchone()[0] < CONCURRENCY:
            assert time.monotonic() < deadline, "no answers landed"
            time.sleep(0.02)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    return proc, reader


def test_a_killed_run_resumes_to_exactly_one_answer_per_question(tmp_path):
    total = QUESTIONS * SAMPLES
    with OpenAIServer(api_key=KEY, latency=0.25) as server:
        ws = prepare(tmp_path / "w.healthqa", server, questions=QUESTIONS)
        proc, reader = start_run_until_answers_land(ws, server)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        [(run_id, status)] = reader.execute("SELECT id, status FROM runs").fetchall()
        landed = reader.execute("SELECT count(*) FROM answers").fetchone()[0]
        done = reader.execute("SELECT count(*) FROM work_items WHERE status = 'done'").fetchone()[0]
        reader.close()
        assert status == "running" and CONCURRENCY <= landed == done < total
        sent_before = len(server.requests)

        server.latency = 0
        resumed = healthqa("run", "--resume", run_id, "--concurrency", str(CONCURRENCY), workspace=ws, env=ENV)
        assert run_id_from(resumed.stdout) == run_id
        calls = len(server.requests)

    with Workspace(ws) as w:
        rows = w.query("SELECT a.question_id, a.sample, a.text, q.prompt_id FROM answers a "
                       "JOIN questions q ON q.id = a.question_id")
        assert w.scalar("SELECT status FROM runs") == "done"
    pairs = [(r["question_id"], r["sample"]) for r in rows]
    assert len(pairs) == len(set(pairs)) == total  # exactly one answer per (question, sample)
    assert all(r["text"] == answer_for(question_text(int(r["prompt_id"][-12:]))) for r in rows)
    # only the calls in flight at the kill were made again
    assert calls - sent_before == total - landed and total <= calls <= total + CONCURRENCY


def test_sigterm_cancels_cleanly_and_still_prints_the_run_id(tmp_path):
    with OpenAIServer(api_key=KEY, latency=0.25) as server:
        ws = prepare(tmp_path / "w.healthqa", server, questions=QUESTIONS)
        proc, reader = start_run_until_answers_land(ws, server)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Run cancelled" in err and "Traceback" not in err
    run_id = run_id_from(out)
    status, answers, done = reader.execute(
        "SELECT status, (SELECT count(*) FROM answers), (SELECT count(*) FROM work_items WHERE status = 'done') "
        "FROM runs WHERE id = ?", (run_id,)).fetchone()
    reader.close()
    assert status == "cancelled" and answers == done < QUESTIONS * SAMPLES


# ---- the progress display ----------------------------------------------------------

class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_redrawn_bar_on_a_terminal_and_plain_lines_elsewhere():
    from healthqa.commands.runs import ProgressPrinter
    from healthqa.runs import RunProgress
    states = [RunProgress("r", 640, done, 2, 32, 12_345 * done, 100 * done, 0.01 * done, 1.0, 75.0)
              for done in (0, 320, 640)]
    terminal = Terminal()
    bar = ProgressPrinter(terminal)
    for p in states:
        bar(p)
    bar.close()
    drawn = terminal.getvalue()
    assert drawn.count("\r") == 3 and drawn.endswith("\n") and drawn.count("\n") == 1
    assert "\r[############------------] 320/640 done, 2 failed, 32 in flight, tokens 3950.4k in / 32.0k out, " \
           "$3.20, ETA 1:15" in drawn

    pipe = io.StringIO()
    plain = ProgressPrinter(pipe)
    for p in states:
        plain(p)
    plain.close()
    lines = pipe.getvalue().splitlines()
    assert "\r" not in pipe.getvalue() and lines[0].startswith("progress: 0/640 done")
    assert lines[-1].startswith("progress: 640/640 done")  # the final state is always written
