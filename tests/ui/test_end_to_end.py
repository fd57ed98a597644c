"""End to end in the real main window: from a new, empty workspace to graded answers and scores, keyboard first.

One clinician's first session, with nothing but the desktop app: the demo set
is imported in the background, they say who they are, add a model pointed at
a loopback OpenAI server, run the demo set on it, grade answers with Y / N / ?
and Enter, and read the model's score from their own verdicts. Panels are
switched with the View menu's Ctrl+<n> shortcuts. What each step wrote is
checked in the SQLite file through a connection of the test's own.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QApplication, QWidget

from healthqa.scoring import score_workspace
from healthqa.runs import DONE
from tests.core.provider_servers import openai_server  # noqa: F401  (fixture)
from tests.ui.conftest import wait_idle
from tests.ui.test_grading_panel import db_rows, press
from tests.ui.test_models_panel import fill_form, run_connection_test, save
from tests.ui.test_runs_panel import RUN_TIMEOUT_MS, loopback_key  # noqa: F401  (fixture)
from ui import session
from ui.async_worker import running_workers
from ui.dialogs.identity import IdentityDialog
from ui.main_window import MainWindow
from ui.settings import SETTINGS_ENV, AppSettings

CLINICIAN = ("Dr. Amara Okafor", "Physician", "Emergency medicine")
MODEL_NAME = "Loopback GPT"
DEMO_QUESTIONS = 28  # rubrics/demo.jsonl: 28 questions, each with two demo answers
KEYS = ("Y", "N", "?")  # the verdict keys, used in turn on the criteria
STORED = {"Y": "met", "N": "not_met", "?": "cannot_judge"}
SECONDS_PER_VERDICT = 2  # the fake clock moves this much before each verdict key
SECONDS_BEFORE_SUBMIT = 1
LOOPBACK_ANSWERS_TO_GRADE = 3
WAIT_MS = 10000


def switch_panel(qtbot, win: MainWindow, name: str):
    """Ctrl+<n> from the View menu, typed where the keyboard focus is, as a clinician would."""
    n = win.panel_names().index(name) + 1
    target = QApplication.focusWidget() or win
    qtbot.keyClick(target, getattr(Qt.Key, f"Key_{n}"), Qt.KeyboardModifier.ControlModifier)
    assert win.current_panel().name == name, f"Ctrl+{n} did not show the {name} panel"
    return win.current_panel()


def focus_back_to(qtbot, win: MainWindow) -> None:
    """What a desktop's window manager does when a window in front of ours goes away: the focus comes back.

    The offscreen platform has no window manager: once another top-level window was shown and hidden, no
    window is active and the View menu's shortcuts would go nowhere.
    """
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=WAIT_MS)


def sign_in_through_the_dialog(qtbot, win: MainWindow) -> None:
    """The first-start dialog (opened with open(), not exec()): typed into, Enter to accept."""
    qtbot.waitUntil(lambda: (dialog := win.findChild(IdentityDialog)) is not None and dialog.isVisible(),
                    timeout=WAIT_MS)
    dialog = win.findChild(IdentityDialog)
    name, role, specialty = CLINICIAN
    qtbot.keyClicks(dialog.name_edit, name)
    dialog.role_edit.lineEdit().clear()
    qtbot.keyClicks(dialog.role_edit, role)
    qtbot.keyClicks(dialog.specialty_edit, specialty)
    with qtbot.waitSignal(win.ctx.sig_rater_changed, timeout=WAIT_MS):
        qtbot.keyClick(dialog.specialty_edit, Qt.Key.Key_Return)


def grade_open_answer(qtbot, panel, clock) -> tuple[str, list[tuple[str, str]]]:
    """Y / N / ? in turn on every criterion, then Enter; returns the answer and (criterion, key) pairs."""
    answer_id = panel.current_answer_id()
    given = []
    for i, criterion in enumerate(panel.view.criteria):
        key = KEYS[i % len(KEYS)]
        clock.advance(SECONDS_PER_VERDICT)
        press(qtbot, panel, key)
        given.append((criterion.id, key))
    clock.advance(SECONDS_BEFORE_SUBMIT)
    last = panel.index == len(panel.queue) - 1
    signals = [panel.sig_submitted] + ([] if last else [panel.sig_answer_shown])  # Enter: submit, next answer
    with qtbot.waitSignals(signals, timeout=WAIT_MS):
        press(qtbot, panel, Qt.Key.Key_Return)
    return answer_id, given


def test_a_clinician_goes_from_an_empty_workspace_to_graded_answers_and_scores(
        qtbot, tmp_path, monkeypatch, clock, openai_server, loopback_key):
    # -- 1. a new workspace opens; the demo set arrives in the background; who is grading? ----------
    monkeypatch.setenv(SETTINGS_ENV, str(tmp_path / "settings.ini"))
    settings = AppSettings()
    ctx = session.open_context(tmp_path / "first.healthqa", settings)
    ctx.clock = clock  # the active-time clock, moved by hand (set before the grading panel reads it)
    win = MainWindow(ctx, settings)  # interactive, as a clinician starts it
    qtbot.addWidget(win)
    imported = []
    ctx.ops.run(session.import_demo_if_empty, ctx.ws, on_done=imported.append)  # as app.main does
    win.show()
    qtbot.waitUntil(lambda: bool(imported), timeout=WAIT_MS)
    assert imported[0].questions_created == DEMO_QUESTIONS
    sign_in_through_the_dialog(qtbot, win)
    rater = ctx.rater
    assert (rater.name, rater.role, rater.specialty) == CLINICIAN
    assert CLINICIAN[0] in win._identity_label.text()
    qtbot.waitUntil(lambda: win.findChild(IdentityDialog) is None, timeout=WAIT_MS)  # deleted on close
    focus_back_to(qtbot, win)

    # -- 2. Models: a config typed into the form, key from an environment variable; Test connection ----
    models = switch_panel(qtbot, win, "models")
    qtbot.waitUntil(lambda: models.is_settled() and ctx.ops.is_idle(), timeout=WAIT_MS)
    fill_form(qtbot, models, openai_server, name=MODEL_NAME)
    qtbot.keyClicks(models.env_edit, loopback_key)
    assert save(qtbot, models) == MODEL_NAME
    ok, message = run_connection_test(qtbot, models)
    assert ok, message

    # -- 3. Runs: the demo set × that model, to the end ------------------------------------------------
    runs = switch_panel(qtbot, win, "runs")
    qtbot.waitUntil(lambda: runs.start_button.isEnabled() and runs.model_combo.currentData() == MODEL_NAME,
                    timeout=WAIT_MS)
    assert runs.set_combo.currentData() == session.DEMO_SET_NAME
    runs.start_button.setFocus()
    with qtbot.waitSignal(runs.sig_run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.keyClick(runs.start_button, Qt.Key.Key_Space)
    summary = finished.args[0]
    assert (summary.status, summary.done, summary.failed, summary.total) == (DONE, DEMO_QUESTIONS, 0, DEMO_QUESTIONS)
    assert runs.progress.bar.value() == runs.progress.bar.maximum() == DEMO_QUESTIONS
    assert f"{DEMO_QUESTIONS} of {DEMO_QUESTIONS} (100%)" in runs.progress.percent.text()
    loopback_answers = {r["id"] for r in db_rows(ctx.ws.path, "SELECT id FROM answers WHERE run_id = ? "
                                                 "AND error IS NULL", (summary.run_id,))}
    assert len(loopback_answers) == DEMO_QUESTIONS

    # -- 4. Grading, keyboard only, until the clinician has graded 3 of the loopback model's answers ----
    # The queue (demo answers and the run's, in the clinician's own random order) hides the model; the
    # test knows which answers the run made and grades on until three of them are done.
    grading = switch_panel(qtbot, win, "grading")
    # No waiting for the run's last change notices: grading starts at once, so a queue reload may land
    # while Enter moves on (the panel must keep its place: checked below, never the same answer twice).
    qtbot.waitUntil(lambda: grading.current_answer_id() is not None and grading.checklist.hasFocus(),
                    timeout=WAIT_MS)
    assert len(grading.queue) == 3 * DEMO_QUESTIONS
    graded: dict[str, list[tuple[str, str]]] = {}
    while len(loopback_answers & graded.keys()) < LOOPBACK_ANSWERS_TO_GRADE:
        answer_id, given = grade_open_answer(qtbot, grading, clock)
        assert answer_id not in graded, "Enter brought back an answer already submitted"
        graded[answer_id] = given
    wait_idle(qtbot, ctx)

    [signer] = db_rows(ctx.ws.path, "SELECT * FROM raters WHERE id = ?", (rater.id,))
    assert (signer["name"], signer["kind"]) == (CLINICIAN[0], "clinician")
    for answer_id, given in graded.items():
        stored = {g["criterion_id"]: g for g in db_rows(ctx.ws.path, "SELECT * FROM grades WHERE answer_id = ? "
                                                        "AND rater_id = ?", (answer_id, rater.id))}
        assert {cid: stored[cid]["verdict"] for cid, _ in given} == {cid: STORED[key] for cid, key in given}
        assert len(stored) == len(given)
        assert all(stored[cid]["active_seconds"] == SECONDS_PER_VERDICT for cid, _ in given)
        [saved] = db_rows(ctx.ws.path, "SELECT * FROM answer_reviews WHERE answer_id = ? AND rater_id = ?",
                          (answer_id, rater.id))
        assert saved["submitted_at"]
        assert saved["active_seconds"] == SECONDS_PER_VERDICT * len(given) + SECONDS_BEFORE_SUBMIT
    assert len(db_rows(ctx.ws.path, "SELECT id FROM grades WHERE rater_id != ?", (rater.id,))) == 0

    # -- 5. Results: the clinician's own verdicts as the source; the score is the core's ----------------
    results = switch_panel(qtbot, win, "results")
    qtbot.waitUntil(lambda: results.rater_combo.findData(CLINICIAN[0]) >= 0 and bool(results.rows), timeout=WAIT_MS)
    assert results.rater_combo.currentIndex() == 0  # the clinicians' majority comes first
    assert results.rater_combo.findData(CLINICIAN[0]) == 1
    results.rater_combo.setFocus()
    with qtbot.waitSignal(results.sig_results_shown, timeout=WAIT_MS) as shown:
        qtbot.keyClick(results.rater_combo, Qt.Key.Key_Down)  # picked with the keyboard
    assert results.rater_combo.currentData() == CLINICIAN[0]
    wait_idle(qtbot, ctx)
    expected = {r["model"]: r for r in score_workspace(ctx.ws, rater=CLINICIAN[0])}
    shown_rows = {r["model"]: r for r in shown.args[0]}
    [loopback_model] = {r["model"] for r in db_rows(ctx.ws.path, "SELECT model FROM answers WHERE run_id = ?",
                                                    (summary.run_id,))}
    assert loopback_model in shown_rows and shown_rows.keys() == expected.keys()
    mine, core = shown_rows[loopback_model], expected[loopback_model]
    assert mine["score"] == core["score"] and core["score"] is not None
    assert mine["answers"] == core["answers"] == len(loopback_answers & graded.keys())
    table = results.table.model()
    row = next(i for i in range(table.rowCount()) if table.index(i, 0).data() == loopback_model)
    assert table.index(row, 2).data() == f"{core['score']:.3f}"
    assert table.index(row, 1).data() == str(core["answers"])

    # -- closing the window stops the async worker and closes the workspace ----------------------------
    win.close()
    assert not running_workers()
    assert ctx.ops.run(lambda: None) == 0  # the workspace's helper is shut down


class ShownWindows(QObject):
    """Records every widget shown as a top-level window while installed on the application."""

    def __init__(self):
        super().__init__()
        self.shown: list[str] = []

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Show and isinstance(watched, QWidget) and watched.isWindow():
            self.shown.append(f"{type(watched).__name__} {watched.objectName()!r}")
        return False


def test_building_panels_flashes_no_window(make_ctx, settings, qtbot):
    ctx = make_ctx()
    win = MainWindow(ctx, settings, interactive=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(win.isActiveWindow, timeout=WAIT_MS)
    recorder = ShownWindows()
    QApplication.instance().installEventFilter(recorder)
    try:
        stray = {}
        for name in win.panel_names():
            recorder.shown.clear()
            win.show_panel(name)
            wait_idle(qtbot, ctx)
            if recorder.shown:
                stray[name] = list(recorder.shown)
    finally:
        QApplication.instance().removeEventFilter(recorder)
    assert stray == {}
