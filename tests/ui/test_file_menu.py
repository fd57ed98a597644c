"""The File menu: Export…, review bundles out and back, assignments — through the real window and dialogs.

File names and yes/no answers come from scripted prompts (no modal dialog
opens); every file written is checked against the core function that
writes that format, and the workspace files are read with connections of
our own.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections import Counter, deque
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu

from healthqa import review, store
from healthqa.review import assign
from healthqa.review import FLAG_COLUMNS, export_flags, flag_criterion
from healthqa.formats.bundle import MANIFEST_KEY, export_bundle
from healthqa.formats.exports import LONG_COLUMNS, export_long, export_results
from healthqa.formats.healthbench import export_healthbench
from tests.conftest import file_rows as db
from tests.ui.conftest import graded_rows, import_rows, wait_idle
from ui.context import RaterIdentity
from ui.dialogs.assign_dialog import AssignDialog
from ui.dialogs.bundle_dialogs import BundleExportDialog, ImportSummaryDialog
from ui.dialogs.bundle_flow import MERGE_ANYWAY
from ui.dialogs.export_dialog import FORMATS, ExportDialog
from ui.main_window import MainWindow
from ui.panels.grading import GradingPanel

REVIEWER = "Dr Bravo"  # graded at home, in the imported file
OFFLINE = "Dr Alpha"  # grades offline in a bundle


class ScriptedPrompts:
    """Answers the window's modal questions from lists, and remembers what was asked."""

    def __init__(self):
        self.files: deque[str] = deque()
        self.confirms: deque[bool] = deque()
        self.asked: list[tuple[str, str, str]] = []

    def save_file(self, parent, caption, suggested, filters):
        return self.files.popleft()

    def open_file(self, parent, caption, filters):
        return self.files.popleft()

    def confirm(self, parent, title, text, accept):
        self.asked.append((title, text, accept))
        return self.confirms.popleft()


# -- fixtures and helpers ---------------------------------------------------------------------

def fill_home(ws, tmp_path) -> None:
    """Set 'S': three questions answered by m1 and m2, graded by Dr Bravo; one rubric item flagged."""
    rows = []
    for prompt_id in ("p1", "p2", "p3"):
        rows += graded_rows({"m1": [True, False, True], "m2": [False, False, True]}, prompt_id=prompt_id)
    import_rows(ws, tmp_path, rows, set_name="S", rater=REVIEWER)
    criterion = ws.scalar("SELECT c.id FROM criteria c JOIN questions q ON q.id = c.question_id "
                          "WHERE q.prompt_id = 'p2' AND c.position = 2")
    flag_criterion(ws, criterion, REVIEWER, "wrong_sign", "should be a reward")


@pytest.fixture
def window(make_ctx, settings, qtbot, tmp_path):
    ctx = make_ctx(rater="Dr Lead")
    fill_home(ctx.ws, tmp_path)
    win = MainWindow(ctx, settings, interactive=False)
    win.prompts = ScriptedPrompts()
    qtbot.addWidget(win)
    win.show()
    wait_idle(qtbot, ctx)
    return win


def menu_action(win: MainWindow, text: str):
    """The File-menu action (or one in a submenu) whose text, without '&', is `text`."""
    def search(menu: QMenu):
        for action in menu.actions():
            if action.menu() is not None:
                found = search(action.menu())
                if found:
                    return found
            elif action.text().replace("&", "") == text:
                return action
        return None

    file_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&File")
    action = search(file_menu)
    assert action is not None, f"no File-menu item {text!r}"
    return action


def open_from_menu(qtbot, win, text: str, cls):
    menu_action(win, text).trigger()
    dialog = next(d for d in win.findChildren(cls) if d.isVisible())
    qtbot.waitUntil(lambda: dialog.message.text() == "" or "Loading" not in dialog.message.text())
    return dialog


def click(qtbot, button):
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def dump(path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def summary_dialog(win) -> ImportSummaryDialog | None:
    shown = [d for d in win.findChildren(ImportSummaryDialog) if d.isVisible()]
    return shown[-1] if shown else None


def close_summaries(win) -> None:
    for dialog in win.findChildren(ImportSummaryDialog):
        dialog.close()


def jsonl(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


# -- Export… -------------------------------------------------------------------------------------

def export_through_dialog(qtbot, win, tmp_path, key: str, **filters) -> tuple[Path, str]:
    spec = next(f for f in FORMATS if f.key == key)
    out = tmp_path / f"exported-{key}{spec.suffix}"
    dialog = open_from_menu(qtbot, win, "Export…", ExportDialog)
    dialog.choose(key, **filters)
    win.prompts.files.append(str(out))
    click(qtbot, dialog.file.button)  # "Choose…": the scripted file name
    assert dialog.file.path() == str(out)
    with qtbot.waitSignal(dialog.sig_exported, timeout=20000) as written:
        click(qtbot, dialog.export_button)
    assert win.statusBar().currentMessage() == written.args[0]
    qtbot.waitUntil(lambda: not dialog.isVisible())
    return out, written.args[0]


def test_export_lists_every_format_and_only_the_filters_that_apply(window, qtbot):
    dialog = open_from_menu(qtbot, window, "Export…", ExportDialog)
    assert [dialog.format_combo.itemData(i) for i in range(dialog.format_combo.count())] == [f.key for f in FORMATS]
    assert len(FORMATS) == 8
    dialog.choose("flags")
    assert not dialog.set_combo.isVisible() and not dialog.run_combo.isVisible() and dialog.rater_combo.isVisible()
    assert dialog.file.path().endswith("-flags.csv")
    dialog.choose("long_csv", set="S", model="m2", rater=REVIEWER)
    assert all(c.isVisible() for c in (dialog.set_combo, dialog.model_combo, dialog.rater_combo, dialog.run_combo))
    assert dialog.file.path().endswith("-grades.csv")  # the suggested name follows the format
    dialog.choose("healthbench")
    assert dialog.set_combo.currentData() == "S"  # a question set is required: no "all sets"
    assert dialog.set_combo.findData(None) == -1
    dialog.reject()
    wait_idle(qtbot, window.ctx)


def test_export_healthbench_questions(window, qtbot, tmp_path):
    out, message = export_through_dialog(qtbot, window, tmp_path, "healthbench", set="S")
    assert message == f"Wrote 3 rows to {out}"
    rows = jsonl(out)
    assert [r["prompt_id"] for r in rows] == ["p1", "p2", "p3"]
    assert all("completion" not in r and len(r["rubrics"]) == 3 for r in rows)
    export_healthbench(window.ctx.ws, "S", tmp_path / "ref.jsonl")
    assert out.read_bytes() == (tmp_path / "ref.jsonl").read_bytes()
    wait_idle(qtbot, window.ctx)


def test_export_healthbench_with_answers_and_a_raters_verdicts(window, qtbot, tmp_path):
    out, message = export_through_dialog(qtbot, window, tmp_path, "healthbench_answers", set="S", model="m2",
                                         rater=REVIEWER)
    assert message == f"Wrote 3 rows to {out}"
    rows = jsonl(out)
    assert {r["model"] for r in rows} == {"m2"}
    assert [[item["criteria_met"] for item in r["rubrics"]] for r in rows] == [[False, False, True]] * 3
    export_healthbench(window.ctx.ws, "S", tmp_path / "ref.jsonl", with_answers=True, model="m2", rater=REVIEWER)
    assert out.read_bytes() == (tmp_path / "ref.jsonl").read_bytes()
    wait_idle(qtbot, window.ctx)


def test_export_long_csv_with_a_model_filter(window, qtbot, tmp_path):
    out, message = export_through_dialog(qtbot, window, tmp_path, "long_csv", model="m1")
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert message == f"Wrote {len(rows)} rows to {out}" and len(rows) == 9  # 3 answers × 3 criteria × Dr Bravo
    assert {r["model"] for r in rows} == {"m1"} and {r["rater"] for r in rows} == {REVIEWER}
    assert list(rows[0]) == list(LONG_COLUMNS)
    assert export_long(window.ctx.ws, tmp_path / "ref.csv", fmt="csv", model="m1") == 9
    assert out.read_bytes() == (tmp_path / "ref.csv").read_bytes()
    wait_idle(qtbot, window.ctx)


def test_export_long_jsonl_with_a_rater_filter(window, qtbot, tmp_path):
    out, message = export_through_dialog(qtbot, window, tmp_path, "long_jsonl", rater=REVIEWER, set="S")
    rows = jsonl(out)
    assert message == f"Wrote 18 rows to {out}" and len(rows) == 18
    flagged = [r for r in rows if r["flagged"]]
    # rubric items are numbered from 1, as the app shows them (the third is 3), here and in the flags CSV
    assert {(r["prompt_id"], r["criterion_position"], r["flag_reason"]) for r in flagged} == {("p2", 3, "wrong_sign")}
    export_long(window.ctx.ws, tmp_path / "ref.jsonl", fmt="jsonl", rater=REVIEWER, set_name="S")
    assert out.read_bytes() == (tmp_path / "ref.jsonl").read_bytes()
    wait_idle(qtbot, window.ctx)


def test_export_healthbench_results(window, qtbot, tmp_path):
    out, message = export_through_dialog(qtbot, window, tmp_path, "results", rater=REVIEWER)
    lines = jsonl(out)
    assert message == f"Wrote 2 results (one per model and rater) to {out}"
    assert sorted((r["model"], r["rater"]) for r in lines) == [("m1", REVIEWER), ("m2", REVIEWER)]
    examples = {r["model"]: r["metadata"]["example_level_metadata"] for r in lines}
    assert len(examples["m1"]) == 3 and {e["prompt_id"] for e in examples["m1"]} == {"p1", "p2", "p3"}
    assert export_results(window.ctx.ws, tmp_path / "ref.jsonl", rater=REVIEWER) == 2
    assert out.read_bytes() == (tmp_path / "ref.jsonl").read_bytes()  # scores seeded: the same figures
    wait_idle(qtbot, window.ctx)


@pytest.mark.parametrize("key, magic", [("report_html", b"<!DOCTYPE html"), ("report_pdf", b"%PDF-")])
def test_export_reports(window, qtbot, tmp_path, key, magic):
    out, message = export_through_dialog(qtbot, window, tmp_path, key, set="S")
    assert message == f"Wrote the {key.removeprefix('report_').upper()} report to {out}"
    data = out.read_bytes()
    assert data.startswith(magic) and len(data) > 1000
    if key == "report_html":
        text = data.decode("utf-8")
        assert "HealthQA report" in text and "m1" in text and REVIEWER in text
    wait_idle(qtbot, window.ctx)


def test_export_flags_csv(window, qtbot, tmp_path):
    out, message = export_through_dialog(qtbot, window, tmp_path, "flags")
    assert message == f"Wrote 1 flags to {out}"
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(FLAG_COLUMNS)
    assert [(r["prompt_id"], r["criterion_position"], r["reason"], r["comment"]) for r in rows] == [
        ("p2", "3", "wrong_sign", "should be a reward")]
    export_flags(window.ctx.ws, tmp_path / "ref.csv")
    assert out.read_bytes() == (tmp_path / "ref.csv").read_bytes()
    wait_idle(qtbot, window.ctx)


def test_a_failed_export_is_said_in_the_dialog_which_stays_open(window, qtbot, tmp_path):
    dialog = open_from_menu(qtbot, window, "Export…", ExportDialog)
    dialog.choose("long_csv")
    out = tmp_path / "no-such-folder" / "grades.csv"
    dialog.file.edit.setText(str(out))
    with qtbot.waitSignal(dialog.sig_failed, timeout=10000) as failed:
        click(qtbot, dialog.export_button)
    assert "no-such-folder" in failed.args[0]
    assert dialog.isVisible() and dialog.message.isVisible() and dialog.message.text() == failed.args[0]
    assert dialog.export_button.isEnabled() and not out.exists()
    dialog.reject()
    wait_idle(qtbot, window.ctx)


# -- review bundles --------------------------------------------------------------------------------

def grade_queue_with_keys(qtbot, panel: GradingPanel, keys: str) -> list[str]:
    """Every answer of the open queue: a verdict key per rubric item, then Enter. Returns the answer ids."""
    graded = []
    for _ in range(len(panel.queue)):
        qtbot.waitUntil(lambda: panel.view is not None and panel.current_answer_id() not in graded)
        graded.append(panel.current_answer_id())
        for key in keys:
            qtbot.keyClicks(panel.checklist, key)
        with qtbot.waitSignal(panel.sig_submitted, timeout=5000):
            qtbot.keyClick(panel.checklist, Qt.Key.Key_Return)
    return graded


def test_bundle_out_graded_offline_with_the_keyboard_and_back(window, qtbot, tmp_path):
    home = window.ctx.ws.path
    assign(window.ctx.ws, [OFFLINE], 1, model="m1")  # three answers for Dr Alpha
    bundle = tmp_path / "alpha.hqbundle"

    dialog = open_from_menu(qtbot, window, "Export bundle for a clinician…", BundleExportDialog)
    assert dialog.clinician_combo.currentData() == OFFLINE  # the clinician with work assigned
    assert "3 answers assigned" in dialog.clinician_combo.currentText()
    assert dialog.blinded_box.isChecked()  # blinded unless unticked
    window.prompts.files.append(str(bundle))
    click(qtbot, dialog.file.button)
    with qtbot.waitSignal(dialog.sig_exported, timeout=10000) as exported:
        click(qtbot, dialog.export_button)
    report = exported.args[0]
    assert bundle.exists() and report.counts["answers"] == 3 and report.blinded
    shown = dialog.message.text()
    assert shown.startswith(f"Wrote {bundle} for {OFFLINE}: 3 answers") and "blinded" in shown
    assert "Open bundle to grade offline" in shown and not dialog.export_button.isVisible()
    assert window.statusBar().currentMessage() == report.summary()
    dialog.close()

    window.prompts.files.append(str(bundle))
    menu_action(window, "Open bundle to grade offline…").trigger()
    qtbot.waitUntil(lambda: window.ctx.ws.path == bundle and window.ctx.rater is not None)
    assert window.ctx.rater.name == OFFLINE  # signed in as the bundle's clinician
    assert window.windowTitle() == f"HealthQA — review bundle for {OFFLINE} — alpha.hqbundle"
    assert "Review bundle for Dr Alpha" in window._workspace_label.text()
    grading = window.show_panel("grading")
    qtbot.waitUntil(lambda: len(grading.queue) == 3 and grading.view is not None)
    qtbot.keyClick(grading.checklist, Qt.Key.Key_F)  # offline, a rubric item flagged too
    qtbot.keyClicks(grading.flag_dialog.reasons, "3")
    with qtbot.waitSignal(grading.sig_flag_saved, timeout=5000):
        qtbot.keyClick(grading.flag_dialog.reasons, Qt.Key.Key_Return)
    graded = grade_queue_with_keys(qtbot, grading, "yn?")
    wait_idle(qtbot, window.ctx)

    assert window.open_workspace(home)  # back home: the bundle file is closed, whole
    assert not Path(f"{bundle}-wal").exists()
    before = dump(home)
    window.prompts.files.append(str(bundle))
    menu_action(window, "Import graded bundle…").trigger()
    qtbot.waitUntil(lambda: summary_dialog(window) is not None, timeout=10000)
    shown = summary_dialog(window)
    assert shown.text().startswith(f"Merged the work of {OFFLINE} from alpha.hqbundle.")
    assert shown.report.added["grade"] == 9 and shown.report.added["review"] == 3 and not shown.report.conflicts
    assert shown.report.added["flag"] == 1
    assert [(f["rater"], f["reason"]) for f in db(home, "SELECT r.name AS rater, f.reason FROM criterion_flags f "
                                                        "JOIN raters r ON r.id = f.rater_id WHERE r.name = ?",
                                                  (OFFLINE,))] == [(OFFLINE, "ambiguous")]
    mine = db(home, """SELECT g.answer_id, c.position, g.verdict FROM grades g JOIN raters r ON r.id = g.rater_id
                       JOIN criteria c ON c.id = g.criterion_id WHERE r.name = ? ORDER BY 1, 2""", (OFFLINE,))
    assert {m["answer_id"] for m in mine} == set(graded)
    assert Counter(m["verdict"] for m in mine) == {"met": 3, "not_met": 3, "cannot_judge": 3}
    assert all(m["verdict"] == ("met", "not_met", "cannot_judge")[m["position"]] for m in mine)
    submitted = db(home, "SELECT count(*) AS n FROM answer_reviews v JOIN raters r ON r.id = v.rater_id "
                         "WHERE r.name = ? AND v.submitted_at IS NOT NULL", (OFFLINE,))
    assert submitted == [{"n": 3}] and dump(home) != before
    close_summaries(window)

    after_first = dump(home)
    window.prompts.files.append(str(bundle))
    menu_action(window, "Import graded bundle…").trigger()  # again: nothing changes
    qtbot.waitUntil(lambda: summary_dialog(window) is not None, timeout=10000)
    assert summary_dialog(window).text().startswith(f"Nothing new from {OFFLINE} in alpha.hqbundle")
    wait_idle(qtbot, window.ctx)
    assert dump(home) == after_first


def test_a_tampered_bundle_shows_the_clear_error_and_changes_nothing(window, qtbot, tmp_path):
    ws = window.ctx.ws
    assign(ws, [OFFLINE], 1)
    bundle = tmp_path / "alpha.hqbundle"
    export_bundle(ws, OFFLINE, bundle)
    conn = sqlite3.connect(bundle)
    conn.execute("UPDATE questions SET conversation = replace(conversation, 'ankle', 'wrist')")
    conn.commit()
    conn.close()
    before = dump(ws.path)
    window.prompts.files.append(str(bundle))
    menu_action(window, "Import graded bundle…").trigger()
    qtbot.waitUntil(lambda: "checksum" in window.statusBar().currentMessage(), timeout=10000)
    message = window.statusBar().currentMessage()
    assert message.startswith(str(bundle)) and "checksum mismatch" in message and "questions" in message
    wait_idle(qtbot, window.ctx)
    assert summary_dialog(window) is None and dump(ws.path) == before


def test_a_bundle_from_another_workspace_is_merged_only_when_the_person_agrees(window, qtbot, tmp_path,
                                                                                 make_ctx):
    other = make_ctx(rater=None).ws  # the same questions and answers, in another workspace file
    fill_home(other, tmp_path)
    assign(other, [OFFLINE], 1, model="m2")
    bundle = tmp_path / "from-elsewhere.hqbundle"
    export_bundle(other, OFFLINE, bundle)
    offline = store.Workspace(bundle, create=False)  # graded offline
    alpha = store.rater_id_by_name(offline, OFFLINE)
    for answer in offline.query("SELECT id FROM answers"):
        for c in store.criteria_rows(offline, offline.scalar("SELECT question_id FROM answers WHERE id = ?",
                                                             (answer["id"],))):
            store.set_grade(offline, answer["id"], c["id"], alpha, "met")
    offline.close()
    home = window.ctx.ws.path
    before = dump(home)

    window.prompts.files.append(str(bundle))
    window.prompts.confirms.append(False)
    with qtbot.waitSignal(window.statusBar().messageChanged, timeout=10000,
                          check_params_cb=lambda text: text == "Bundle not imported."):
        menu_action(window, "Import graded bundle…").trigger()
    [(title, text, accept)] = window.prompts.asked
    assert title == "Bundle from another workspace" and accept == MERGE_ANYWAY
    assert "another workspace" in text and OFFLINE in text and "prompt id" in text
    wait_idle(qtbot, window.ctx)
    assert dump(home) == before and summary_dialog(window) is None

    window.prompts.files.append(str(bundle))
    window.prompts.confirms.append(True)
    menu_action(window, "Import graded bundle…").trigger()
    qtbot.waitUntil(lambda: summary_dialog(window) is not None, timeout=10000)
    report = summary_dialog(window).report
    assert report.forced and report.added["grade"] == 9 and report.answers_created == 0  # matched by text
    merged = db(home, """SELECT a.model, g.verdict FROM grades g JOIN raters r ON r.id = g.rater_id
                         JOIN answers a ON a.id = g.answer_id WHERE r.name = ?""", (OFFLINE,))
    assert len(merged) == 9 and {(m["model"], m["verdict"]) for m in merged} == {("m2", "met")}
    wait_idle(qtbot, window.ctx)


def test_opening_a_bundle_reads_whose_it_is_from_its_manifest(window, qtbot, tmp_path):
    assign(window.ctx.ws, [OFFLINE, "Dr Charlie"], 1)
    bundle = tmp_path / "charlie.hqbundle"
    export_bundle(window.ctx.ws, "Dr Charlie", bundle)
    assert json.loads(db(bundle, "SELECT value FROM meta WHERE key = ?", (MANIFEST_KEY,))[0]["value"])["rater"] \
        == "Dr Charlie"
    assert window.open_workspace(bundle)
    qtbot.waitUntil(lambda: window.ctx.rater is not None and window.ctx.rater.name == "Dr Charlie")
    assert "review bundle for Dr Charlie" in window.windowTitle()
    assert "Review bundle for Dr Charlie" in window.statusBar().currentMessage()
    window._on_identity_given("Dr Someone Else", "", "")  # what the "Who is grading?" dialog hands over
    assert "This review bundle is for Dr Charlie" in window.statusBar().currentMessage()
    wait_idle(qtbot, window.ctx)
    assert window.ctx.rater.name == "Dr Charlie"
    assert db(bundle, "SELECT count(*) AS n FROM raters WHERE name = 'Dr Someone Else'") == [{"n": 0}]


# -- assignments -------------------------------------------------------------------------------------

def test_assign_dialog_balances_answers_and_the_queue_shows_only_the_assigned(window, qtbot):
    ws = window.ctx.ws
    dialog = open_from_menu(qtbot, window, "Assign answers to clinicians…", AssignDialog)
    names = [dialog.clinician_list.item(i).text() for i in range(dialog.clinician_list.count())]
    assert set(names) == {REVIEWER, "Dr Lead"}
    for name in ("Dr Charlie", "Dr Delta"):  # new names, typed
        qtbot.keyClicks(dialog.new_name, name)
        qtbot.keyClick(dialog.new_name, Qt.Key.Key_Return)
    assert dialog.isVisible()  # Enter in the name field adds the name; it does not assign
    bravo = dialog.clinician_list.findItems(REVIEWER, Qt.MatchFlag.MatchExactly)[0]
    dialog.clinician_list.setCurrentItem(bravo)
    qtbot.keyClick(dialog.clinician_list, Qt.Key.Key_Space)  # check an existing one with the keyboard
    assert dialog.chosen() == [REVIEWER, "Dr Charlie", "Dr Delta"]
    assert dialog.overlap_spin.maximum() == 3
    dialog.overlap_spin.setFocus()
    dialog.overlap_spin.selectAll()
    qtbot.keyClicks(dialog.overlap_spin, "2")
    dialog.set_combo.setCurrentIndex(dialog.set_combo.findData("S"))
    with qtbot.waitSignal(dialog.sig_assigned, timeout=10000) as assigned:
        click(qtbot, dialog.assign_button)
    report = assigned.args[0]
    assert (report.answers, report.overlap, report.created) == (6, 2, 12)

    rows = db(ws.path, "SELECT s.answer_id, r.name FROM assignments s JOIN raters r ON r.id = s.rater_id")
    per_answer = Counter(r["answer_id"] for r in rows)
    per_clinician = Counter(r["name"] for r in rows)
    assert len(per_answer) == 6 and set(per_answer.values()) == {2}  # every answer, by two of them
    assert per_clinician == {REVIEWER: 4, "Dr Charlie": 4, "Dr Delta": 4}  # balanced
    table = {dialog.summary.item(r, 0).text(): dialog.summary.item(r, 1).text()
             for r in range(dialog.summary.rowCount())}
    assert table == {REVIEWER: "4", "Dr Charlie": "4", "Dr Delta": "4"} and dialog.summary.isVisible()
    assert window.statusBar().currentMessage() == report.summary()
    dialog.close()

    charlie = RaterIdentity(store.rater_id_by_name(ws, "Dr Charlie"), "Dr Charlie")
    window.ctx.set_rater(charlie)
    grading = window.show_panel("grading")
    qtbot.waitUntil(lambda: len(grading.queue) == 4 and grading.view is not None)
    assigned_to_charlie = {r["answer_id"] for r in rows if r["name"] == "Dr Charlie"}
    assert set(grading.queue) == assigned_to_charlie
    assert grading.progress_text.text() == "0 of 4 submitted"
    assert set(review.grading_queue(ws, charlie.id)) == assigned_to_charlie
    wait_idle(qtbot, window.ctx)


def test_assigning_with_no_clinician_checked_says_so(window, qtbot):
    dialog = open_from_menu(qtbot, window, "Assign answers to clinicians…", AssignDialog)
    click(qtbot, dialog.assign_button)
    assert dialog.message.text() == "Check at least one clinician." and dialog.isVisible()
    dialog.reject()
    wait_idle(qtbot, window.ctx)
    assert db(window.ctx.ws.path, "SELECT count(*) AS n FROM assignments") == [{"n": 0}]
