"""Imported and model text is shown as text, never as markup, in every panel (issue 9 item 6).

A prompt_id `<img src="/dev/zero">` shown as rich text made Qt read /dev/zero
until std::bad_alloc aborted the app; a local image path showed a local file.
Here every piece of data a file or a model can name carries markup (an image
of a real local file, bold), the main window visits every panel, and then
every label, tooltip and table tooltip in it is checked. (No /dev/zero here:
a label that still rendered it would take the test process down with it.)
"""

import base64
import re
from pathlib import Path

from PySide6.QtCore import QAbstractListModel, Qt
from PySide6.QtGui import Qt as QtGui_Qt
from PySide6.QtWidgets import QAbstractItemView, QLabel, QMessageBox, QWidget

from healthqa import review, store
from healthqa.domain import ModelConfig
from tests.conftest import healthbench_row
from tests.ui.conftest import import_rows, wait_idle
from ui.main_window import MainWindow
from ui.widgets.plain_text import plain_label, plain_message_box, plain_tooltip

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def hostile(tmp_path, what: str) -> str:
    image = tmp_path / "local.png"
    image.write_bytes(PNG)
    return f'<img src="{image}"><b>{what}</b>'


def test_a_label_shows_markup_literally():
    text = '<img src="/dev/zero"><b>p1</b>'
    label = plain_label(text)
    assert label.textFormat() == Qt.TextFormat.PlainText and label.text() == text
    tip = plain_tooltip(text)
    assert "<img" not in tip and "&lt;img" in tip  # rich text that shows the characters themselves
    box = plain_message_box(QMessageBox.Icon.Warning, "HealthQA", text)
    assert box.textFormat() == Qt.TextFormat.PlainText and box.text() == text


def test_every_panel_shows_hostile_data_as_plain_text(make_ctx, settings, qtbot, tmp_path):
    # A clinician's name holds no slash (it must travel in review bundles): markup without one.
    rater = '<img src="local.png"><b>Dr Evil'
    assert "/" not in rater
    ctx = make_ctx(rater=rater)
    prompt_id, model, grader = hostile(tmp_path, "prompt"), hostile(tmp_path, "model"), hostile(tmp_path, "grader")
    row = healthbench_row(prompt_id, completion="An answer.", model=model,
                          example_tags=[f"theme:{hostile(tmp_path, 'tag')}"])
    for item in row["rubrics"]:
        item["criterion"] = hostile(tmp_path, "criterion") + " " + item["criterion"]
        item["tags"] = [*item["tags"], f"axis:{hostile(tmp_path, 'axis')}"]
        item["criteria_met"], item["explanation"] = True, hostile(tmp_path, "explanation")
    import_rows(ctx.ws, tmp_path, [row], set_name=hostile(tmp_path, "set"), rater=grader, rater_kind="model")
    [answer] = store.answer_rows(ctx.ws)
    for criterion in review.load_answer(ctx.ws, answer["id"], ctx.rater.id).criteria:
        review.record_grade(ctx.ws, answer["id"], criterion.id, ctx.rater.id, verdict="not_met",
                            comment=hostile(tmp_path, "comment"))
    store.save_model_config(ctx.ws, ModelConfig(name=hostile(tmp_path, "config"), provider="openai",
                                                model=hostile(tmp_path, "model id")))

    window = MainWindow(ctx, settings, interactive=False)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    for name in window.panel_names():
        window.show_panel(name)
        wait_idle(qtbot, ctx)
        window.grab()  # lays out and paints what the panel shows
    wait_idle(qtbot, ctx)

    labels = window.findChildren(QLabel)
    shown = [label.text() for label in labels]
    assert any(prompt_id in text for text in shown), "the prompt_id is shown somewhere (Questions)"
    assert any(rater in text for text in shown), "the clinician's name is shown somewhere"
    # An AutoText label that looks like markup renders it by accident; a RichText one is a deliberate
    # exception (figures in a chosen size) and must not hold data. (QFormLayout makes the row captions'
    # labels itself, AutoText, from our fixed wording.)
    rich = [f"{label.objectName() or type(label.parent()).__name__}: {label.text()[:80]!r}"
            for label in labels if label.textFormat() != Qt.TextFormat.PlainText
            and (QtGui_Qt.mightBeRichText(label.text()) if label.textFormat() == Qt.TextFormat.AutoText
                 else "<img" in label.text() or "<b>" in label.text())]
    assert rich == [], "labels that may render markup:\n" + "\n".join(rich)
    tips = [w.toolTip() for w in window.findChildren(QWidget) if "<img" in w.toolTip() or "<b>" in w.toolTip()]
    for view in window.findChildren(QAbstractItemView):
        model = view.model()
        columns = 1 if isinstance(model, QAbstractListModel) else model.columnCount()
        for r in range(model.rowCount()):
            for c in range(columns):
                tip = model.index(r, c).data(Qt.ItemDataRole.ToolTipRole)
                if isinstance(tip, str) and QtGui_Qt.mightBeRichText(tip) and ("<img" in tip or "<b>" in tip):
                    tips.append(tip)
    assert tips == [], "tooltips that render markup from data:\n" + "\n".join(tips)
    window.close()


def test_every_label_under_ui_is_made_by_the_one_helper():
    """One way to make a label: a new `QLabel(` would be AutoText, and render markup the day it shows data."""
    root = Path(__file__).resolve().parents[2] / "ui"
    offenders = [f"{path.relative_to(root.parent)}:{number}"
                 for path in root.rglob("*.py") if path.name != "plain_text.py"
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if re.search(r"(?<![\w.])QLabel\(", line)]
    assert offenders == [], "use ui.widgets.plain_text.plain_label: " + ", ".join(offenders)
