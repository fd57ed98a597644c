"""Who is grading: a new clinician's name must be one their review bundles can carry."""

from __future__ import annotations

from PySide6.QtWidgets import QDialogButtonBox

from ui.context import RaterIdentity
from ui.dialogs.identity import IdentityDialog


def press_ok(dialog: IdentityDialog) -> None:
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()


def test_a_new_name_with_a_slash_is_refused_in_the_dialog(qtbot):
    dialog = IdentityDialog([])
    qtbot.addWidget(dialog)
    accepted = []
    dialog.accepted.connect(lambda: accepted.append(True))
    dialog.name_edit.setCurrentText("Dr A/B")
    press_ok(dialog)
    assert not accepted and "cannot sign verdicts" in dialog.error.text() and "path separators" in dialog.error.text()
    dialog.name_edit.setCurrentText("Dr A and B")
    press_ok(dialog)
    assert accepted and dialog.values()[0] == "Dr A and B"


def test_a_clinician_already_in_the_workspace_signs_in_under_their_name(qtbot):
    # Saved before names had to be plain: they can still grade (and be renamed with `healthqa raters rename`).
    dialog = IdentityDialog([RaterIdentity("id-1", "Dr A/B", "Physician", None)])
    qtbot.addWidget(dialog)
    accepted = []
    dialog.accepted.connect(lambda: accepted.append(True))
    dialog.name_edit.setCurrentText("Dr A/B")
    press_ok(dialog)
    assert accepted and dialog.error.text() == ""
