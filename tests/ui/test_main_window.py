"""The window: panel registry (lazy, skipping panels not built), identity, workspaces, --screenshot."""

import os
import subprocess
import sys
import textwrap

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QImage
from PySide6.QtWidgets import QDialogButtonBox, QLabel

from healthqa import review, store
from tests.ui.conftest import wait_idle
from ui import panels, session
from ui.dialogs.identity import IdentityDialog
from ui.main_window import BrokenPanel, MainWindow
from ui.panels import PanelSpec


@pytest.fixture
def window(make_ctx, settings, qtbot):
    def make(ctx=None):
        ctx = ctx or make_ctx()
        win = MainWindow(ctx, settings, interactive=False)
        qtbot.addWidget(win)
        win.show()
        return win

    return make


def test_registry_skips_panels_not_built_and_imports_lazily(tmp_path, monkeypatch, window, qtbot):
    module = tmp_path / "hq_fake_panel.py"
    module.write_text(textwrap.dedent("""
        from PySide6.QtWidgets import QLabel, QVBoxLayout
        from ui.panels import Panel

        class FakePanel(Panel):
            name = "fake"
            title = "Fake"

            def __init__(self, ctx, parent=None):
                super().__init__(ctx, parent)
                self.refreshed = 0
                QVBoxLayout(self).addWidget(QLabel("a panel added by someone else"))

            def refresh(self):
                self.refreshed += 1

        PANEL = FakePanel
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(panels, "PANELS", [*panels.PANELS[:1], PanelSpec("nowhere", "ui.panels.not_built_yet", "Nope"),
                                           PanelSpec("fake", "hq_fake_panel", "Fake", "runs")])
    names = [s.name for s in panels.available_panels()]
    assert names == ["questions", "fake"]
    assert "hq_fake_panel" not in sys.modules  # finding a panel does not import it
    win = window()
    assert win.panel_names() == ["questions", "fake"]
    assert "hq_fake_panel" not in sys.modules  # nor does listing it in the sidebar
    fake = win.show_panel("fake")
    assert "hq_fake_panel" in sys.modules
    qtbot.waitUntil(lambda: fake.refreshed == 1)  # shown -> refreshed once
    wait_idle(qtbot, win.ctx)


def test_a_panel_that_fails_to_load_does_not_take_the_window_down(tmp_path, monkeypatch, window, qtbot):
    (tmp_path / "hq_broken_panel.py").write_text("from ui.panels.nothing_here import X\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(panels, "PANELS", [*panels.PANELS[:1], PanelSpec("broken", "hq_broken_panel", "Broken")])
    win = window()
    broken = win.show_panel("broken")
    assert isinstance(broken, BrokenPanel)
    assert "The Broken panel could not be loaded" in broken.findChild(QLabel).text()
    assert win.show_panel("questions").name == "questions"  # the rest still works
    wait_idle(qtbot, win.ctx)


def test_panels_switch_with_the_sidebar_and_shortcuts(window, qtbot):
    win = window()
    assert isinstance(win.current_panel(), panels.panel_class(panels.spec_by_name("questions")))
    index = win.panel_names().index("grading")
    action = next(a for a in win.findChildren(QAction) if a.shortcut().toString() == f"Ctrl+{index + 1}")
    assert action.text() == "Grading"
    action.trigger()
    assert win.current_panel().name == "grading"
    win._sidebar.setCurrentRow(win.panel_names().index("results"))
    assert win.current_panel().name == "results"
    wait_idle(qtbot, win.ctx)


def test_signing_in_remembers_the_clinician_for_this_workspace(make_ctx, settings, qtbot, tmp_path):
    ctx = make_ctx(rater=None)
    win = MainWindow(ctx, settings, interactive=False)
    qtbot.addWidget(win)
    assert "No clinician" in win._identity_label.text()
    with qtbot.waitSignal(ctx.sig_rater_changed):
        win._on_identity_given("Dr. Amara Okafor", "Physician", "Emergency medicine")
    assert ctx.rater.describe() == "Dr. Amara Okafor (Physician, Emergency medicine)"
    assert "Dr. Amara Okafor" in win._identity_label.text()
    assert settings.rater_for(ctx.ws.workspace_id) == ctx.rater.id
    wait_idle(qtbot, ctx)
    reopened = session.open_context(ctx.ws.path, settings)  # the same workspace, next start
    assert reopened.rater == ctx.rater
    assert settings.recent_workspaces()[0] == str(ctx.ws.path.resolve())
    reopened.close()


def test_first_start_asks_who_is_grading(make_ctx, settings, qtbot):
    ctx = make_ctx(rater=None)
    win = MainWindow(ctx, settings)  # interactive, as a clinician starts it
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.findChild(IdentityDialog) is not None and win.findChild(IdentityDialog).isVisible())
    dialog = win.findChild(IdentityDialog)
    qtbot.keyClicks(dialog.name_edit, "Dr. Lee Chen")
    dialog.specialty_edit.setText("General practice")
    with qtbot.waitSignal(ctx.sig_rater_changed):
        qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert ctx.rater.name == "Dr. Lee Chen" and ctx.rater.specialty == "General practice"
    assert store.list_raters(ctx.ws, "clinician")[0]["name"] == "Dr. Lee Chen"
    wait_idle(qtbot, ctx)


def test_identity_dialog_requires_a_name_and_offers_known_clinicians(qtbot):
    known = [session.RaterIdentity("id1", "Dr. Lee Chen", "Physician", "General practice")]
    dialog = IdentityDialog(known)
    qtbot.addWidget(dialog)
    dialog._on_accept()
    assert dialog.error.text() == "Please enter your name." and dialog.result() == 0
    dialog.name_edit.setCurrentText("Dr. Lee Chen")
    assert dialog.specialty_edit.text() == "General practice"
    with qtbot.waitSignal(dialog.accepted):
        dialog._on_accept()
    assert dialog.values() == ("Dr. Lee Chen", "Physician", "General practice")


def test_opening_another_workspace_rebuilds_the_panels(window, qtbot, tmp_path):
    win = window()
    first = win.ctx
    questions = win.current_panel()
    assert win.open_workspace(tmp_path / "other.healthqa")
    assert win.ctx is not first and win.ctx.ws.path.name == "other.healthqa"
    assert win.current_panel() is not questions
    assert "other.healthqa" in win.windowTitle()
    assert first.ops.run(lambda: None) == 0  # the old workspace's helper is shut down
    wait_idle(qtbot, win.ctx)
    win.ctx.close()


def test_a_bad_workspace_file_is_reported_not_raised(window, qtbot, tmp_path):
    win = window()
    bad = tmp_path / "notes.healthqa"
    bad.write_text("not a database " * 200)
    assert not win.open_workspace(bad)
    assert "not a HealthQA workspace" in win.statusBar().currentMessage()
    wait_idle(qtbot, win.ctx)


def test_empty_workspace_gets_the_demo_set(tmp_path):
    with store.Workspace(tmp_path / "w.healthqa") as ws:
        report = session.import_demo_if_empty(ws)
        assert report is not None and review.question_count(ws) == report.questions_created > 0
        assert session.import_demo_if_empty(ws) is None  # only into an empty workspace


def run_app(*args, tmp_path, timeout=60):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HEALTHQA_SETTINGS": str(tmp_path / "settings.ini")}
    return subprocess.run([sys.executable, "-m", "ui.app", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=os.getcwd())


def test_screenshot_of_a_new_workspace_in_a_subprocess(tmp_path):
    shot = tmp_path / "grading.png"
    workspace = tmp_path / "new.healthqa"
    proc = run_app("--workspace", str(workspace), "--screenshot", str(shot), "--panel", "grading",
                   "--rater", "Dr. Smoke", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    image = QImage(str(shot))
    assert (image.width(), image.height()) == (1280, 800)
    with store.Workspace(workspace) as ws:  # the demo set was imported before the picture was taken
        assert review.question_count(ws) > 0
        assert store.rater_id_by_name(ws, "Dr. Smoke")


def test_unknown_panel_is_an_error(tmp_path):
    proc = run_app("--workspace", str(tmp_path / "w.healthqa"), "--screenshot", str(tmp_path / "x.png"),
                   "--panel", "nope", tmp_path=tmp_path)
    assert proc.returncode == 2 and "no panel 'nope'" in proc.stderr
