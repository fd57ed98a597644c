"""The change hub: the first notice at once, a burst of commits gathered into a few signals on the GUI thread."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QCoreApplication

from healthqa import store
from healthqa.domain import ModelConfig
from ui.change_hub import COALESCE_MS, ChangeHub


@pytest.fixture
def ws(tmp_path):
    workspace = store.Workspace(tmp_path / "w.healthqa")
    yield workspace
    workspace.close()


def write_on_a_thread(fn, *args) -> None:
    """A write from another thread, as the ops helper or a run's database thread makes them."""
    writer = threading.Thread(target=fn, args=args)
    writer.start()
    writer.join()


def record(hub: ChangeHub) -> list[tuple[set[str], int, float]]:
    """(tables, thread, time) of every signal."""
    received = []
    hub.sig_changed.connect(lambda tables: received.append((tables, threading.get_ident(), time.monotonic())))
    return received


def test_the_first_notice_goes_out_at_once_and_later_ones_wait_to_be_gathered(qtbot, ws):
    hub = ChangeHub(ws, interval_ms=60_000)  # so long that only an immediate signal can arrive during the test
    received = record(hub)
    store.ensure_set(ws, "first")  # on the GUI thread: still queued, never inside the writer's commit
    assert received == []
    qtbot.waitUntil(lambda: bool(received), timeout=2000)
    assert [tables for tables, _, _ in received] == [{"question_sets"}]

    write_on_a_thread(store.ensure_set, ws, "second")
    write_on_a_thread(store.save_model_config, ws, ModelConfig(name="m", provider="openai", model="x"))
    write_on_a_thread(store.ensure_set, ws, "third")
    QCoreApplication.sendPostedEvents(hub)  # the hub has heard of the writes (its queued wake-up ran)
    assert len(received) == 1 and hub.has_pending()  # held back: the interval since the first has not passed

    hub.flush()
    assert [tables for tables, _, _ in received[1:]] == [{"question_sets", "model_configs"}]
    assert not hub.has_pending()
    hub.flush()
    assert len(received) == 2  # nothing gathered, nothing emitted
    hub.detach()


def test_a_stream_of_commits_from_a_writer_thread_reaches_the_gui_thread_at_most_every_interval(qtbot, ws):
    hub = ChangeHub(ws)
    received = record(hub)
    enough = threading.Event()
    hub.sig_changed.connect(lambda tables: len(received) >= 3 and enough.set())
    writes: list[str] = []

    def stream() -> None:  # one commit after another, like a run's batches, until three signals came
        while not enough.is_set() and len(writes) < 5000:
            writes.append(f"set {len(writes)}")
            store.ensure_set(ws, writes[-1])
        store.save_model_config(ws, ModelConfig(name="m", provider="openai", model="x"))

    writer = threading.Thread(target=stream)
    writer.start()
    qtbot.waitUntil(lambda: not writer.is_alive() and not hub.has_pending()
                    and any("model_configs" in tables for tables, _, _ in received), timeout=10000)
    writer.join()
    assert set().union(*(tables for tables, _, _ in received)) == {"question_sets", "model_configs"}
    assert {thread for _, thread, _ in received} == {threading.get_ident()}
    assert 3 <= len(received) < len(writes)
    gaps = [b - a for (_, _, a), (_, _, b) in zip(received, received[1:])]
    assert all(gap >= 0.9 * COALESCE_MS / 1000 for gap in gaps), gaps  # never more often than the interval
    hub.detach()


def test_after_detach_nothing_gathered_is_emitted(qtbot, ws):
    hub = ChangeHub(ws, interval_ms=60_000)
    received = record(hub)
    store.ensure_set(ws, "first")
    qtbot.waitUntil(lambda: bool(received), timeout=2000)
    store.ensure_set(ws, "second")
    hub.detach()
    QCoreApplication.sendPostedEvents(hub)
    hub.flush()
    store.ensure_set(ws, "third")
    QCoreApplication.sendPostedEvents(hub)
    assert len(received) == 1 and not hub.has_pending()


def test_a_panel_is_not_settled_while_a_notice_is_still_gathered(qtbot, make_ctx):
    """--screenshot waits for settled panels: a notice not yet sent would make a panel reload after the grab."""
    from ui.panels import Panel

    class Watcher(Panel):
        watches = frozenset({"question_sets"})

        def refresh(self) -> None:
            pass

    ctx = make_ctx(rater=None)
    panel = Watcher(ctx)
    QCoreApplication.sendPostedEvents(ctx.changes)
    assert panel.is_settled()
    store.ensure_set(ctx.ws, "new set")  # gathered; the hub sends it from the event loop
    assert ctx.changes.has_pending() and not panel.is_settled()
    qtbot.waitUntil(panel.is_settled, timeout=2000)
    assert not ctx.changes.has_pending()

