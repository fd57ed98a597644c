"""Models: the model configs a run or a question can be sent to, and where their keys live.

A config says which provider and model to call and how (reasoning, temperature,
output cap, system prompt, prices). Its API key is never in the workspace:
either an environment variable named here, or the OS keyring, where a key
typed into the password field is stored on Save. The field is then cleared
and the key is never shown again ("Key stored in keyring ✓"), nor sent back
to this thread: the keyring is asked only *whether* it holds a key.

"Test connection" sends one tiny request from the form as it stands (the
typed key if there is one) in the background and shows the provider's
answer or its error message, which never holds the key.

The form's fields and validation are in model_form.py; the calls that touch
the workspace, the keyring or the network in model_config_ops.py.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (QHBoxLayout, QListWidget, QListWidgetItem, QMessageBox, QPushButton, QVBoxLayout,
                               QWidget)

from healthqa.domain import ModelConfig
from healthqa.store import list_model_configs

from .. import look
from ..widgets.banner import show_banner
from ..widgets.panel_header import page_layout, panel_intro
from ..widgets.plain_text import plain_label, plain_message_box
from . import Panel
from .model_config_ops import keyring_has_key, probe_connection, remove_config, save_config
from .model_form import SHORT_PROVIDER_NAMES, ModelForm

KEY_STORED = "Key stored in keyring ✓"


# -- the list ---------------------------------------------------------------------------

class ConfigItem(QWidget):
    """A config in the list: its name, and under it the provider and model."""

    def __init__(self, config: ModelConfig, parent: QWidget | None = None):
        super().__init__(parent)
        name = plain_label(config.name)
        name.setStyleSheet("font-weight: 600;")
        detail = plain_label(f"{SHORT_PROVIDER_NAMES[config.provider]} · {config.model}")
        detail.setObjectName("muted")
        for label in (name, detail):
            label.setTextFormat(Qt.TextFormat.PlainText)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 7, 10, 7)
        layout.setSpacing(1)
        layout.addWidget(name)
        layout.addWidget(detail)
        if config.learned_notes:  # a server refused a setting; the form says which
            learned = plain_label("Settings adjusted", "muted")
            layout.addWidget(learned)


class ModelsPanel(ModelForm, Panel):
    name = "models"
    title = "Models"
    watches = frozenset({"model_configs"})

    sig_saved = Signal(str)
    """config name — the config (and a typed key) reached the workspace (and the keyring)."""
    sig_deleted = Signal(str)
    """config name — the config was deleted."""
    sig_tested = Signal(bool, str)
    """(ok, message) — a connection test finished; the message never holds the key."""

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.configs: list[ModelConfig] = []
        self.editing: ModelConfig | None = None  # the stored config being edited; None for a new one
        self.key_stored: bool | None = None  # keyring holds a key for the edited config (None: unknown)
        self._dirty = False
        self._select_after_refresh: str | None = None
        self._shown_once = False
        self._build()
        self.new_config()

    # -- building ------------------------------------------------------------------------
    def _build(self) -> None:
        header = panel_intro("Models", "Where and how to call each model. API keys stay in your OS keyring or an "
                                       "environment variable, never in the workspace file.")
        self.list = QListWidget()
        self.list.setAccessibleName("Model configs")
        self.list.setFixedWidth(280)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.currentRowChanged.connect(self._on_list_row)
        self.new_button = QPushButton(look.icon("add"), "New model")
        self.new_button.clicked.connect(self._on_new_clicked)
        self.delete_button = QPushButton(look.icon("remove"), "Delete…")
        self.delete_button.clicked.connect(self._on_delete_clicked)
        list_buttons = QHBoxLayout()
        list_buttons.addWidget(self.new_button)
        list_buttons.addWidget(self.delete_button)
        left = QVBoxLayout()
        left.addWidget(self.list, 1)
        left.addLayout(list_buttons)

        scroll = self._build_form()

        body = QHBoxLayout()
        body.setSpacing(14)
        body.addLayout(left)
        body.addWidget(scroll, 1)
        page_layout(self, header, spacing=12).addLayout(body, 1)

    # -- public API ------------------------------------------------------------------------
    def refresh(self) -> None:
        self.ctx.ops.run(list_model_configs, self.ctx.ws, on_done=self._show_configs, key="models.list")

    def new_config(self) -> None:
        self.list.blockSignals(True)
        self.list.setCurrentRow(-1)
        self.list.blockSignals(False)
        self._load(None)

    def save(self) -> None:
        config = self.form_config()
        if config is None:
            self._show_result(False, "Fix the fields marked above, then save again.")
            return
        new_key = (self.key_edit.text().strip() or None) if config.use_keyring else None
        self.key_edit.clear()  # the key leaves the form now; it is never shown again
        self.save_button.setEnabled(False)
        self.ctx.ops.run(save_config, self.ctx.ws, config, new_key, self.editing,
                         on_done=lambda stored: self._on_saved(config, stored), on_error=self._on_save_failed,
                         owner=self)

    def test_connection(self) -> None:
        config = self.form_config()
        if config is None:
            self._show_result(False, "Fix the fields marked above, then test again.")
            return
        typed = (self.key_edit.text().strip() or None) if config.use_keyring else None
        self.test_button.setEnabled(False)
        self.test_button.setText("Testing…")
        self.result.setVisible(False)
        self.ctx.ops.run(probe_connection, config, typed, io=True, on_done=self._on_tested,
                         on_error=lambda message, exc: self._on_tested(message, ok=False), owner=self)

    def delete_selected(self) -> None:
        config = self.editing
        if config is None:
            return
        if not self.confirm("Delete model config",
                            f"Delete “{config.name}”? Answers and grades made with it are kept, but its runs can "
                            f"no longer be resumed." + (" Its key is removed from the keyring." if config.use_keyring
                                                        else "")):
            return
        self.ctx.ops.run(remove_config, self.ctx.ws, config, on_done=lambda _: self._on_deleted(config.name),
                         on_error=lambda message, exc: self._show_result(False, message), owner=self)

    def confirm(self, title: str, text: str) -> bool:
        """Ask yes/no (tests replace this; the one modal question of the panel)."""
        box = plain_message_box(QMessageBox.Icon.Question, title, text,
                                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        return box.exec() == QMessageBox.StandardButton.Yes

    # -- private: loading ---------------------------------------------------------------------
    def _show_configs(self, configs: list[ModelConfig]) -> None:
        self.configs = configs
        wanted = self._select_after_refresh or (self.editing.id if self.editing else None)
        self._select_after_refresh = None
        self.list.blockSignals(True)
        self.list.clear()
        for config in configs:
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, config.id)
            item.setData(Qt.ItemDataRole.AccessibleTextRole, config.name)
            widget = ConfigItem(config)
            widget.ensurePolished()  # the stylesheet's fonts count in the height
            item.setSizeHint(widget.sizeHint() + QSize(0, 4))
            self.list.addItem(item)
            self.list.setItemWidget(item, widget)
        row = next((i for i, c in enumerate(configs) if c.id == wanted or c.name == wanted), -1)
        if row < 0 and configs and not self._dirty and self.editing is None and not self._shown_once:
            row = 0  # first visit: show a config rather than an empty form
        self._shown_once = True
        self.list.setCurrentRow(row)
        self.list.blockSignals(False)
        if row >= 0 and not self._dirty:
            self._load(configs[row])
        self.delete_button.setEnabled(self.editing is not None)

    def _load(self, config: ModelConfig | None) -> None:
        self.editing = config
        c = config or ModelConfig(name="-", provider="openai", model="-")
        self.name_edit.setText(config.name if config else "")
        self.provider_combo.setCurrentIndex(self.provider_combo.findData(c.provider))
        self.base_url_edit.setText(c.base_url or "")
        self.model_edit.setText(config.model if config else "")
        self.reasoning_combo.setCurrentIndex(self.reasoning_combo.findData(c.reasoning.value))
        for edit, value in ((self.temperature_edit, c.temperature), (self.max_tokens_edit, c.max_output_tokens),
                            (self.timeout_edit, c.timeout),
                            (self.price_in_edit, c.price_in_per_mtok), (self.price_out_edit, c.price_out_per_mtok)):
            edit.setText("" if value is None else f"{value:g}")
        self.system_edit.setPlainText(c.system_prompt or "")
        self._show_accepts(config)
        (self.keyring_radio if c.use_keyring else self.env_radio).setChecked(True)
        self.env_edit.setText(c.api_key_env or "")
        self.key_edit.clear()
        self.key_stored = None
        for row in self.rows.values():
            row.set_error(None)
        self.result.setVisible(False)
        self.form_title.setText(f"EDIT “{config.name.upper()}”" if config else "NEW MODEL")
        self.delete_button.setEnabled(config is not None)
        self._on_provider_changed()
        self._update_key_mode()
        self._refresh_key_status()
        self._dirty = False

    def _refresh_key_status(self) -> None:
        name = self.name_edit.text().strip()
        if not self.keyring_radio.isChecked() or not name:
            self.key_stored = None
            self._update_key_status()
            return
        self.ctx.ops.run(keyring_has_key, name, io=True, key="models.keyring", owner=self,
                         on_done=lambda stored, n=name: self._on_key_status(n, stored))

    def _on_key_status(self, name: str, stored: bool | None) -> None:
        if name == self.name_edit.text().strip():
            self.key_stored = stored
            self._update_key_status()

    def _update_key_status(self) -> None:
        self.key_status.setProperty("tone", "success" if self.key_stored else None)
        look.repolish(self.key_status)
        if not self.keyring_radio.isChecked():
            self.key_status.setText("")
        elif self.key_stored:
            self.key_status.setText(f"{KEY_STORED}   To replace it, paste a new key and save.")
        elif self.key_stored is None and self.name_edit.text().strip():
            self.key_status.setText("The OS keyring could not be reached; an environment variable works anywhere.")
        else:
            self.key_status.setText("No key stored yet.")
        self.key_status.setVisible(bool(self.key_status.text()))

    # -- private: handlers ----------------------------------------------------------------------
    def _on_list_row(self, row: int) -> None:
        if not 0 <= row < len(self.configs):
            return
        target = self.configs[row]
        if self._dirty and not self.confirm("Unsaved changes", "Discard the changes to this model config?"):
            self.list.blockSignals(True)
            self.list.setCurrentRow(next((i for i, c in enumerate(self.configs)
                                          if self.editing and c.id == self.editing.id), -1))
            self.list.blockSignals(False)
            return
        self._load(target)

    def _on_new_clicked(self) -> None:
        if self._dirty and not self.confirm("Unsaved changes", "Discard the changes to this model config?"):
            return
        self.new_config()
        self.name_edit.setFocus()

    def _on_delete_clicked(self) -> None:
        self.delete_selected()

    def _on_edited(self, *args) -> None:
        self._dirty = True

    def _update_key_mode(self) -> None:
        env = self.env_radio.isChecked()
        self.rows["api_key_env"].setEnabled(env)
        self.rows["api_key_env"].hint.setVisible(env)
        self.rows["key"].setEnabled(not env)
        (self.rows["key"] if env else self.rows["api_key_env"]).set_error(None)
        if not env and self.key_stored is None:
            self._refresh_key_status()
        self._update_key_status()

    def _on_saved(self, config: ModelConfig, stored: bool | None) -> None:
        self.save_button.setEnabled(True)
        self.editing = config
        self._dirty = False
        self.key_stored = stored
        self._update_key_status()
        self.form_title.setText(f"EDIT “{config.name.upper()}”")
        self._select_after_refresh = config.id
        self._show_result(True, f"Saved “{config.name}”.")
        self.sig_status.emit(f"Model config {config.name} saved")
        self.sig_saved.emit(config.name)

    def _on_save_failed(self, message: str, exc: object) -> None:
        self.save_button.setEnabled(True)
        self._show_result(False, message)

    def _on_tested(self, message: str, ok: bool = True) -> None:
        self.test_button.setEnabled(True)
        self.test_button.setText("Test connection")
        self._show_result(ok, f"Connected: {message}" if ok else message)
        self.sig_tested.emit(ok, message)

    def _on_deleted(self, name: str) -> None:
        self.sig_status.emit(f"Model config {name} deleted")
        self.new_config()
        self.sig_deleted.emit(name)

    def _show_result(self, ok: bool, message: str) -> None:
        show_banner(self.result, f"✓ {message}" if ok else f"✗ {message}", "success" if ok else "error")


PANEL = ModelsPanel
