"""The Ask panel: answers stream from loopback servers into side-by-side columns; follow-ups, images, saving."""

from __future__ import annotations

import json

import shiboken6

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QTableWidgetItem

from healthqa.store import get_question, question_id_by_prompt_id
from tests.core.provider_servers import answer_for, openai_server  # noqa: F401  (fixture)
from tests.core.test_runs import add_config
from tests.ui.test_runs_panel import ctx, loopback_key, show_panel  # noqa: F401  (fixtures)
from ui.async_worker import async_worker_for, running_workers
from ui.panels.ask import AskPanel

WAIT_MS = 10000
QUESTION = "My father (78) has had a cough for three weeks and lost weight. Should he see a doctor?"


def ask_panel(qtbot, ctx, ticked: set[str] | None = None) -> AskPanel:
    panel = show_panel(qtbot, AskPanel(ctx))
    qtbot.waitUntil(lambda: bool(panel.configs) and panel.model_list.count() == len(panel.configs))
    if ticked is not None:
        panel.set_checked(ticked)
    return panel


def ask(qtbot, panel: AskPanel, text: str) -> None:
    qtbot.keyClicks(panel.question_edit, text)
    with qtbot.waitSignal(panel.sig_all_finished, timeout=WAIT_MS):
        qtbot.keyClick(panel.question_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        assert panel.is_busy() and panel.stop_button.isVisible()


def test_an_answer_streams_into_its_column_with_tokens_and_time(qtbot, ctx, openai_server, loopback_key):
    add_config(ctx.ws, openai_server, name="Loopback GPT", api_key_env=loopback_key, price_in_per_mtok=2,
               price_out_per_mtok=8)
    panel = ask_panel(qtbot, ctx)
    assert [c.name for c in panel.checked_configs()] == ["Loopback GPT"]  # the first model is ticked to start
    pieces = []
    qtbot.keyClicks(panel.question_edit, QUESTION)
    with qtbot.waitSignal(panel.sig_all_finished, timeout=WAIT_MS):
        qtbot.mouseClick(panel.ask_button, Qt.MouseButton.LeftButton)
        panel.columns[0].task.sig_event.connect(pieces.append)

    column = panel.columns[0]
    assert len(pieces) >= 2 and "".join(pieces) == answer_for(QUESTION)  # it streamed, in pieces
    assert column.text == answer_for(QUESTION)
    assert answer_for(QUESTION).split(":")[0] in column.view.toPlainText()
    assert column.state.text() == "✓ Done" and not column.error_label.isVisible()
    footer = column.footer.text()
    assert "tokens in" in footer and " s" in footer and "$" in footer
    assert openai_server.last.json["stream"] is True
    assert openai_server.last.json["messages"] == [{"role": "user", "content": QUESTION}]
    assert panel.question_edit.toPlainText() == "" and panel.conversation_box.isVisible()
    assert not panel.is_busy() and not panel.stop_button.isVisible()


def test_several_models_answer_side_by_side_and_an_error_stays_in_its_column(qtbot, ctx, openai_server,
                                                                             loopback_key, monkeypatch):
    monkeypatch.delenv("HEALTHQA_UNSET_KEY", raising=False)
    add_config(ctx.ws, openai_server, name="A good model", api_key_env=loopback_key)
    add_config(ctx.ws, openai_server, name="B without key", api_key_env="HEALTHQA_UNSET_KEY")
    add_config(ctx.ws, openai_server, name="C also good", model="gpt-loopback-mini", api_key_env=loopback_key)
    panel = ask_panel(qtbot, ctx, ticked={"A good model", "B without key", "C also good"})
    ask(qtbot, panel, QUESTION)

    columns = {c.config.name: c for c in panel.columns}
    assert list(columns) == ["A good model", "B without key", "C also good"]
    assert panel.columns_splitter.count() == 3
    for name in ("A good model", "C also good"):
        assert columns[name].text == answer_for(QUESTION) and columns[name].error is None
    broken = columns["B without key"]
    assert broken.state.text() == "✗ Error" and broken.error_label.isVisible()
    assert "HEALTHQA_UNSET_KEY" in broken.error_label.text()
    assert not broken.continue_button.isVisible() and columns["A good model"].continue_button.isVisible()
    assert len(openai_server.requests) == 2


def test_continuing_with_an_answer_sends_it_as_the_assistant_turn_of_the_follow_up(qtbot, ctx, openai_server,
                                                                                   loopback_key):
    add_config(ctx.ws, openai_server, name="Loopback GPT", api_key_env=loopback_key)
    panel = ask_panel(qtbot, ctx)
    ask(qtbot, panel, QUESTION)
    first_answer = panel.columns[0].text
    qtbot.mouseClick(panel.columns[0].continue_button, Qt.MouseButton.LeftButton)
    assert not panel.columns and len(panel.turns) == 2 and panel.asked is None
    assert "Your next message follows" in panel.hint.text()

    follow_up = "He also has night sweats. Does that change anything?"
    ask(qtbot, panel, follow_up)
    assert openai_server.last.json["messages"] == [
        {"role": "user", "content": QUESTION}, {"role": "assistant", "content": first_answer},
        {"role": "user", "content": follow_up}]
    assert panel.columns[0].text == answer_for(follow_up)
    assert "2 earlier turns" in panel.conversation_title.text()

    qtbot.mouseClick(panel.new_button, Qt.MouseButton.LeftButton)
    assert panel.turns == [] and panel.asked is None and not panel.conversation_box.isVisible()


def test_an_attached_image_is_sent_as_a_data_url_and_shown_as_a_thumbnail(qtbot, ctx, openai_server, loopback_key,
                                                                          tmp_path):
    add_config(ctx.ws, openai_server, name="Loopback GPT", api_key_env=loopback_key)
    image = QImage(40, 20, QImage.Format.Format_RGB32)
    image.fill(QColor("#cc3333"))
    path = tmp_path / "rash.png"
    assert image.save(str(path))
    panel = ask_panel(qtbot, ctx)
    panel.attach_image(str(path))
    qtbot.waitUntil(lambda: panel.thumbnail.isVisible())
    assert not panel.thumbnail.pixmap().isNull() and panel.image_url.startswith("data:image/png;base64,")

    ask(qtbot, panel, "Is this rash worrying?")
    content = openai_server.last.json["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "Is this rash worrying?"}
    assert content[1]["type"] == "image_url" and content[1]["image_url"]["url"] == panel.asked.images[0]
    assert not panel.thumbnail.isVisible()  # the image went with the question

    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("just text")
    panel.attach_image(str(not_an_image))
    qtbot.waitUntil(lambda: panel.banner.isVisible())
    assert "not a PNG, JPEG, GIF or WebP image" in panel.banner.text() and panel.image_url is None


def test_save_as_question_needs_a_rubric_and_stores_the_conversation(qtbot, ctx, openai_server, loopback_key):
    add_config(ctx.ws, openai_server, name="Loopback GPT", api_key_env=loopback_key)
    panel = ask_panel(qtbot, ctx)
    ask(qtbot, panel, QUESTION)
    qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    dialog = panel.save_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.set_combo.currentText() == "My questions"

    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)  # the criterion row is still empty
    assert dialog.error.isVisible() and "rubric" in dialog.error.text()
    assert dialog.rubric.errors and ctx.ops.is_idle()

    table = dialog.rubric.table
    table.setItem(0, 0, QTableWidgetItem("Advises seeing a doctor within days because of weight loss."))
    points = QTableWidgetItem()
    points.setData(Qt.ItemDataRole.EditRole, 8)
    table.setItem(0, 1, points)
    table.setItem(0, 2, QTableWidgetItem("axis:completeness"))
    dialog.set_combo.setCurrentText("Respiratory")
    qtbot.keyClicks(dialog.tags_edit, "theme:emergency_referrals")
    dialog.reference_combo.setCurrentIndex(1)
    with qtbot.waitSignal(panel.sig_question_saved, timeout=WAIT_MS) as saved:
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)

    question_id = saved.args[0]
    stored = ctx.ws.query_one("SELECT q.prompt_id, s.name FROM questions q JOIN set_members m ON m.question_id = q.id "
                              "JOIN question_sets s ON s.id = m.set_id WHERE q.id = ?", (question_id,))
    assert stored["name"] == "Respiratory"
    assert question_id_by_prompt_id(ctx.ws, stored["prompt_id"]) == question_id
    question = get_question(ctx.ws, question_id)
    assert [m.text for m in question.prompt] == [QUESTION]
    assert [(c.criterion, c.points, c.tags) for c in question.rubrics] == [
        ("Advises seeing a doctor within days because of weight loss.", 8, ["axis:completeness"])]
    assert question.example_tags == ["theme:emergency_referrals"]
    assert question.ideal_completions_data.ideal_completion == answer_for(QUESTION)
    qtbot.waitUntil(lambda: panel.save_dialog is None)
    assert panel.banner.isVisible() and "Respiratory" in panel.banner.text()
    assert panel.last_set == "Respiratory"
    assert json.loads(ctx.ws.query_one("SELECT conversation FROM questions WHERE id = ?",
                                       (question_id,))["conversation"])[0]["role"] == "user"


def test_stop_ends_a_slow_answer_and_says_so_in_its_column(qtbot, ctx, openai_server, loopback_key):
    add_config(ctx.ws, openai_server, name="Loopback GPT", api_key_env=loopback_key)
    openai_server.enqueue(openai_server.slow(30))
    panel = ask_panel(qtbot, ctx)
    qtbot.keyClicks(panel.question_edit, QUESTION)
    with qtbot.waitSignal(panel.sig_all_finished, timeout=WAIT_MS):
        qtbot.mouseClick(panel.ask_button, Qt.MouseButton.LeftButton)
        openai_server.wait_for_requests(1)
        qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    column = panel.columns[0]
    assert column.error == "Stopped before the answer was complete." and column.state.text() == "✗ Error"
    assert not panel.ask_button.isEnabled()  # the question box was emptied when it was sent
    assert not panel.is_busy()


def test_closing_the_panel_mid_answer_stops_the_stream_and_joins_the_thread(qtbot, ctx, openai_server,
                                                                             loopback_key):
    add_config(ctx.ws, openai_server, name="Loopback GPT", api_key_env=loopback_key)
    openai_server.enqueue(openai_server.slow(30))
    panel = ask_panel(qtbot, ctx)
    qtbot.keyClicks(panel.question_edit, QUESTION)
    qtbot.mouseClick(panel.ask_button, Qt.MouseButton.LeftButton)
    openai_server.wait_for_requests(1)
    worker = async_worker_for(ctx)
    panel.close()  # what the main window does on quit: before_close
    assert not running_workers()
    # The "stopped" notice is still queued; it arrives after the panel is gone and must reach
    # nobody (pytest-qt fails a test on an exception raised in a slot).
    shiboken6.delete(panel)
    qtbot.waitUntil(lambda: not worker.active_tasks(), timeout=WAIT_MS)


def test_a_setting_the_model_refused_is_dropped_said_and_remembered(qtbot, ctx, openai_server, loopback_key):
    openai_server.refuses = {"temperature"}  # a model the capability table does not know refuses it
    add_config(ctx.ws, openai_server, name="New model", api_key_env=loopback_key, temperature=0.2)
    panel = ask_panel(qtbot, ctx)
    ask(qtbot, panel, QUESTION)
    column = panel.columns[0]
    assert column.text == answer_for(QUESTION) and not column.error_label.isVisible()
    assert "Adjusted:" in column.footer.text() and "sent without it" in column.footer.text()
    qtbot.waitUntil(lambda: bool(ctx.ws.scalar("SELECT learned FROM model_configs WHERE name = 'New model'")))
    learned = json.loads(ctx.ws.scalar("SELECT learned FROM model_configs WHERE name = 'New model'"))
    assert learned["caps"] == {"temperature": False}
    # The next question goes without a temperature from the start: one request, not a refusal and a retry.
    before = len(openai_server.requests)
    panel = ask_panel(qtbot, ctx)
    ask(qtbot, panel, QUESTION)
    assert len(openai_server.requests) == before + 1 and "temperature" not in openai_server.last.json
