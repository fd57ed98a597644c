"""Opening a workspace fails with one clear line, never a traceback: two
processes creating it at once, another writer holding it, another
application's SQLite file, permissions. Real files, real processes."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from healthqa.store import Workspace, WorkspaceError, schema
from tests.conftest import file_rows


# ---- two processes creating the same new workspace -------------------------------


def _open_when_released(path: str, barrier, results) -> None:
    barrier.wait()  # every process opens the new file at the same moment
    try:
        with Workspace(path) as ws:
            results.put(("ok", ws.workspace_id))
    except Exception as exc:  # noqa: BLE001 - reported to the test, which shows it
        results.put(("error", f"{type(exc).__name__}: {exc}"))


@pytest.mark.parametrize("round_", range(3))
def test_processes_creating_one_new_workspace_at_once_all_succeed(tmp_path, round_):
    context = multiprocessing.get_context("fork")
    path, n = str(tmp_path / "new.healthqa"), 4
    barrier, results = context.Barrier(n), context.Queue()
    workers = [context.Process(target=_open_when_released, args=(path, barrier, results)) for _ in range(n)]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=10)
    assert [kind for kind, _ in outcomes] == ["ok"] * n, outcomes
    assert len({workspace_id for _, workspace_id in outcomes}) == 1  # one workspace, created once
    assert file_rows(path, "SELECT count(*) AS n FROM meta WHERE key = 'workspace_id'") == [{"n": 1}]


def test_threads_creating_one_new_workspace_at_once_all_succeed(tmp_path):
    path, n = tmp_path / "new.healthqa", 6
    barrier, outcomes = threading.Barrier(n), []

    def open_it() -> None:
        barrier.wait()
        try:
            with Workspace(path) as ws:
                outcomes.append(ws.workspace_id)
        except Exception as exc:  # noqa: BLE001
            outcomes.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(isinstance(o, str) for o in outcomes) and len(set(outcomes)) == 1, outcomes


# ---- another process holding the write lock --------------------------------------

HOLD = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
sys.stdin.readline()  # until the test lets go (or goes away)
conn.execute("COMMIT")
"""


def hold_write_lock(path) -> subprocess.Popen:
    """Another process that holds the workspace's write lock until `release(proc)`."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def release(holder: subprocess.Popen) -> None:
    holder.stdin.close()
    holder.wait(timeout=30)


def test_waiting_for_another_writer_says_so_then_goes_on(tmp_path):
    path = tmp_path / "w.healthqa"
    Workspace(path).close()
    heard = []
    holder = hold_write_lock(path)
    timer = threading.Timer(2.5, release, [holder])
    try:
        with Workspace(path, on_wait=heard.append) as ws:
            t0 = time.monotonic()
            timer.start()
            ws.set_meta("note", "written after the other process")
            waited = time.monotonic() - t0
    finally:
        timer.join()
    assert waited >= 2
    assert len(heard) == 1 and "another process" in heard[0] and str(path) in heard[0]
    assert file_rows(path, "SELECT value FROM meta WHERE key = 'note'") == [{"value": "written after the other process"}]


def test_a_writer_that_never_lets_go_is_one_clear_error(tmp_path):
    path = tmp_path / "w.healthqa"
    Workspace(path).close()
    holder = hold_write_lock(path)
    with Workspace(path, lock_wait=1.5) as ws:
        try:
            with pytest.raises(WorkspaceError) as caught:
                ws.set_meta("note", "never written")
        finally:
            release(holder)
        assert ws.meta("note") is None
        ws.set_meta("other", "the workspace still works")  # no transaction was left half-open
    message = str(caught.value)
    assert "\n" not in message and "another process" in message and "database is locked" not in message


# ---- another application's SQLite file ---------------------------------------------


def foreign_file(path, user_version: int = 0):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.execute("INSERT INTO notes (body) VALUES ('not ours')")
    conn.execute(f"PRAGMA user_version = {user_version}")
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize("user_version", [0, 1, schema.SCHEMA_VERSION + 7])
def test_foreign_sqlite_file_is_refused_before_anything_is_written(tmp_path, user_version):
    path = foreign_file(tmp_path / "other.db", user_version)
    before = path.read_bytes()
    with pytest.raises(WorkspaceError) as caught:
        Workspace(path)
    assert path.read_bytes() == before  # still in its own journal mode, header untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]
    message = str(caught.value)
    assert "not a HealthQA workspace" in message and "newer HealthQA" not in message


def test_a_foreign_meta_table_does_not_make_a_workspace(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE meta (name TEXT, version INTEGER)")  # a common table name, another layout
    conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(WorkspaceError, match="not a HealthQA workspace"):
        Workspace(path)


def test_a_newer_healthqa_workspace_is_named_as_such(tmp_path):
    path = tmp_path / "future.healthqa"
    Workspace(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(WorkspaceError, match="newer HealthQA"):
        Workspace(path)


def test_an_empty_file_becomes_a_workspace(tmp_path):
    path = tmp_path / "empty.healthqa"
    path.write_bytes(b"")
    with Workspace(path) as ws:
        assert ws.schema_version == schema.SCHEMA_VERSION and ws.workspace_id


def test_a_missing_workspace_is_not_created_when_asked_not_to(tmp_path):
    path = tmp_path / "typo" / "w.healthqa"
    with pytest.raises(WorkspaceError, match="no workspace at"):
        Workspace(path, create=False)
    assert not (tmp_path / "typo").exists()
