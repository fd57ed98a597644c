"""UI test fixtures: a real workspace file per test, a fake clock, and the dangling-work guard.

Every test must leave no background work behind: the autouse guard fails a
test that ends with a QThread running, a QThreadPool task active, or an
ops call whose callbacks have not run (wait with `wait_idle`).
"""

from __future__ import annotations

import gc

import pytest
from PySide6.QtCore import QThread, QThreadPool

from healthqa import store
from healthqa.formats.healthbench import import_healthbench
from tests.conftest import healthbench_row, write_jsonl
from ui import look
from ui.context import AppContext, RaterIdentity
from ui.ops import live_ops
from ui.settings import AppSettings


class FakeClock:
    """A clock the test moves by hand (active time, idle pauses)."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def dangling_work(qapp) -> list[str]:
    """What background work is still going on (empty when none)."""
    problems = []
    for ops in live_ops():
        if ops.active_threads():
            problems.append(f"{ops.active_threads()} ops thread(s) still running")
        if not ops.is_idle():
            problems.append(f"{ops.pending_count()} ops call(s) whose callbacks never ran")
    if QThreadPool.globalInstance().activeThreadCount():
        problems.append("global QThreadPool still has active tasks")
    main = qapp.thread()
    running = [t for t in gc.get_objects() if isinstance(t, QThread) and t is not main and t.isRunning()]
    if running:
        problems.append(f"{len(running)} QThread(s) still running")
    return problems


@pytest.fixture(autouse=True)
def _no_dangling_work(qapp):
    look.register_resources()
    yield
    problems = dangling_work(qapp)
    if problems:
        pytest.fail("test left background work behind: " + "; ".join(problems))


def wait_idle(qtbot, ctx: AppContext, timeout: int = 10000) -> None:
    """Until every ops call has finished and its callbacks have run."""
    qtbot.waitUntil(ctx.ops.is_idle, timeout=timeout)


@pytest.fixture
def settings(tmp_path) -> AppSettings:
    return AppSettings.at(tmp_path / "settings.ini")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_ctx(tmp_path, qtbot, clock):
    """make_ctx(rater="Dr A") -> an AppContext on a fresh workspace file; closed at the end."""
    made: list[AppContext] = []

    def make(*, rater: str | None = "Dr A", path=None) -> AppContext:
        ws = store.Workspace(path or tmp_path / f"ws{len(made)}.healthqa")
        identity = None
        if rater:
            identity = RaterIdentity(store.ensure_rater(ws, rater), rater)
        ctx = AppContext(ws, rater=identity, clock=clock)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        qtbot.waitUntil(ctx.ops.is_idle, timeout=10000)
        ctx.close()  # safe twice: a test may have closed it already


def graded_rows(models_verdicts: dict[str, list[bool | None] | None], prompt_id: str = "p1",
                **overrides) -> list[dict]:
    """One row per model for the same question (criteria 6, 8, −7); verdicts None: an answer without any."""
    rows = []
    for model, verdicts in models_verdicts.items():
        row = healthbench_row(prompt_id, **overrides)
        row["completion"], row["model"] = f"Advice number {len(rows) + 1}: rest, ice and elevation.", model
        for item, met in zip(row["rubrics"], verdicts or []):
            item["criteria_met"] = met
            item["explanation"] = f"grader thinks {met}"
        rows.append(row)
    return rows


def import_rows(ws, tmp_path, rows: list[dict], name: str = "in.jsonl", **kwargs):
    return import_healthbench(ws, write_jsonl(tmp_path / name, rows), **kwargs)
