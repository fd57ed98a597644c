"""The background-operation helper and the change notice: threads, errors, ordering."""

import threading

import pytest
import shiboken6
from PySide6.QtCore import QObject

from healthqa import store
from healthqa.errors import HealthQAError
from ui.change_hub import ChangeHub
from ui.ops import Ops, describe_error


@pytest.fixture
def ops(qtbot):
    helper = Ops()
    yield helper
    qtbot.waitUntil(helper.is_idle)
    helper.shutdown()


def test_result_comes_back_on_the_gui_thread(ops, qtbot):
    gui = threading.get_ident()
    ran_on, seen = [], []

    def work(a, b):
        ran_on.append(threading.get_ident())
        return a + b

    with qtbot.waitSignal(ops.sig_idle):
        ops.run(work, 2, 3, on_done=lambda result: seen.append((result, threading.get_ident())))
    assert ran_on[0] != gui
    assert seen == [(5, gui)]


def test_workspace_calls_run_one_at_a_time_in_order(ops, qtbot):
    order = []
    with qtbot.waitSignal(ops.sig_idle):
        for i in range(20):
            ops.run(order.append, i)
    assert order == list(range(20))


def test_errors_become_readable_messages(ops, qtbot):
    got = []

    def fail_ours():
        raise HealthQAError("the file has no rows")

    def fail_other():
        raise KeyError("prompt_id")

    with qtbot.waitSignal(ops.sig_idle):
        ops.run(fail_ours, on_error=lambda message, exc: got.append(message))
    with qtbot.waitSignal(ops.sig_error) as blocker:  # no on_error: the window's default handler
        ops.run(fail_other)
    assert got == ["the file has no rows"]
    assert blocker.args[0] == "Something went wrong (KeyError: 'prompt_id'). The details are in the log."
    assert describe_error(FileNotFoundError(2, "No such file or directory", "/x.jsonl")) == \
        "Could not access a file (/x.jsonl): No such file or directory."


def test_latest_call_with_a_key_wins(ops, qtbot):
    seen = []
    with qtbot.waitSignal(ops.sig_idle):
        for text in ("a", "as", "asp"):
            ops.run(str.upper, text, key="search", on_done=seen.append)
    assert seen == ["ASP"]


def test_callbacks_of_a_deleted_owner_are_dropped(ops, qtbot):
    owner = QObject()
    seen = []
    ops.run(lambda: 1, on_done=seen.append, owner=owner)
    shiboken6.delete(owner)  # the panel is gone before the result arrives
    with qtbot.waitSignal(ops.sig_idle):
        pass
    assert seen == []


def test_busy_signal_brackets_the_work(ops, qtbot):
    states = []
    ops.sig_busy_changed.connect(states.append)
    with qtbot.waitSignal(ops.sig_idle):
        ops.run(lambda: None)
        ops.run(lambda: None)
    assert states == [True, False]


def test_shutdown_finishes_queued_writes_and_refuses_new_work(tmp_path, qtbot):
    ops = Ops()
    ws = store.Workspace(tmp_path / "w.healthqa")
    for i in range(5):
        ops.run(store.ensure_set, ws, f"set {i}")
    ops.shutdown()
    assert len(store.list_sets(ws)) == 5
    assert ops.run(store.ensure_set, ws, "late") == 0 and ops.is_idle()
    ws.close()


def test_change_notice_from_a_worker_reaches_the_gui_thread(ops, qtbot, tmp_path):
    ws = store.Workspace(tmp_path / "w.healthqa")
    hub = ChangeHub(ws)
    received = []
    hub.sig_changed.connect(lambda tables: received.append((tables, threading.get_ident())))
    with qtbot.waitSignal(hub.sig_changed):
        ops.run(store.ensure_set, ws, "demo")
    assert received == [({"question_sets"}, threading.get_ident())]
    qtbot.waitUntil(ops.is_idle)
    hub.detach()
    assert hub._notify not in ws.listeners
    ws.close()


def test_the_dangling_work_guard_sees_running_and_undelivered_work(qapp, qtbot):
    from tests.ui.conftest import dangling_work

    helper = Ops()
    release = threading.Event()
    helper.run(release.wait, 5)
    qtbot.waitUntil(lambda: helper.active_threads() == 1)
    problems = dangling_work(qapp)
    assert "1 ops thread(s) still running" in problems and "1 ops call(s) whose callbacks never ran" in problems
    release.set()
    with qtbot.waitSignal(helper.sig_idle):
        pass
    qtbot.waitUntil(lambda: not dangling_work(qapp))
    helper.shutdown()
