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
"""

from __future__ import annotations

import asyncio
import re

import keyring
import keyring.errors
from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QFormLayout, QFrame, QGridLayout, QHBoxLayout, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QMessageBox, QPlainTextEdit, QPushButton, QRadioButton,
                               QScrollArea, QVBoxLayout, QWidget)
from pydantic import ValidationError

from healthqa.domain import PROVIDERS, ModelConfig, ReasoningMode
from healthqa.providers import ADAPTERS, ProviderError, make_provider
from healthqa.providers.errors import redact
from healthqa.secrets import DEFAULT_ENV, SERVICE, delete_api_key, get_api_key, store_api_key
from healthqa.store import delete_model_config, list_model_configs, save_model_config

from .. import look
from . import Panel

PROVIDER_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic", "gemini": "Google Gemini",
                  "openai-compatible": "OpenAI-compatible server (Ollama, vLLM, llama.cpp…)"}
SHORT_PROVIDER_NAMES = {**PROVIDER_NAMES, "openai-compatible": "OpenAI-compatible"}
REASONING_NAMES = {"off": "Off", "low": "Low", "medium": "Medium", "high": "High"}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_OUTPUT_TOKENS = 1_000_000
TEST_TIMEOUT_S = 30.0
KEY_STORED = "Key stored in keyring ✓"


# -- work done off the GUI thread ------------------------------------------------------

def keyring_has_key(name: str) -> bool | None:
    """Whether the keyring holds a key for `name` (None: no keyring); the key itself stays there."""
    try:
        return keyring.get_password(SERVICE, name) is not None
    except keyring.errors.KeyringError:
        return None


def save_config(ws, config: ModelConfig, new_key: str | None, previous: ModelConfig | None) -> bool | None:
    """Store the key (if one was typed) and the config; returns keyring_has_key afterwards.

    A renamed keyring config takes its stored key along (keys are filed
    under the config's name); a config that stops using the keyring has
    its stored key removed, so no secret is left behind.
    """
    if config.use_keyring and new_key:
        store_api_key(config.name, new_key)
    elif config.use_keyring and previous is not None and previous.use_keyring and previous.name != config.name:
        old_key = get_api_key(previous.model_copy(update={"api_key_env": None}))
        store_api_key(config.name, old_key)
    if previous is not None and previous.use_keyring and (not config.use_keyring or previous.name != config.name):
        delete_api_key(previous.name)
    save_model_config(ws, config)
    return keyring_has_key(config.name) if config.use_keyring else None


def remove_config(ws, config: ModelConfig) -> None:
    delete_model_config(ws, config.name)
    if config.use_keyring:
        delete_api_key(config.name)


def probe_connection(config: ModelConfig, typed_key: str | None) -> str:
    """One tiny request with the form's config; a short success line, else ProviderError (key redacted)."""
    key = typed_key or get_api_key(config)

    async def probe() -> str:
        provider = make_provider(config, key, max_connections=1, timeout=TEST_TIMEOUT_S)
        try:
            return await provider.test()
        finally:
            await provider.aclose()

    try:
        return asyncio.run(probe())
    except ProviderError as exc:  # adapters redact already; this guards the typed key as well
        raise ProviderError(redact(exc.message, key), status=exc.status) from None


# -- the form ---------------------------------------------------------------------------

class FieldRow(QWidget):
    """An input with a hint (beside a narrow field, under a wide one) and its inline error message."""

    def __init__(self, field: QWidget, hint: str = "", *, width: int | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.field = field
        self.hint = QLabel(hint)
        self.hint.setObjectName("muted")
        self.hint.setWordWrap(True)
        self.hint.setVisible(bool(hint))
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setObjectName("fieldError")
        self.error.setVisible(False)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setHorizontalSpacing(10)
        layout.setVerticalSpacing(3)
        if width is not None:
            field.setFixedWidth(width)
            layout.addWidget(field, 0, 0)
            layout.addWidget(self.hint, 0, 1)
            layout.setColumnStretch(1, 1)
            layout.addWidget(self.error, 1, 0, 1, 2)
        else:
            layout.addWidget(field, 0, 0)
            layout.addWidget(self.hint, 1, 0)
            layout.addWidget(self.error, 2, 0)

    def set_error(self, message: str | None) -> None:
        self.error.setText(f"⚠ {message}" if message else "")
        self.error.setVisible(bool(message))
        self.field.setAccessibleDescription(message or "")


class ConfigItem(QWidget):
    """A config in the list: its name, and under it the provider and model."""

    def __init__(self, config: ModelConfig, parent: QWidget | None = None):
        super().__init__(parent)
        name = QLabel(config.name)
        name.setStyleSheet("font-weight: 600;")
        detail = QLabel(f"{SHORT_PROVIDER_NAMES[config.provider]} · {config.model}")
        detail.setObjectName("muted")
        for label in (name, detail):
            label.setTextFormat(Qt.TextFormat.PlainText)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 7, 10, 7)
        layout.setSpacing(1)
        layout.addWidget(name)
        layout.addWidget(detail)


def _optional_number(text: str, kind: type, low: float, high: float, what: str) -> tuple[object, str | None]:
    text = text.strip().replace(",", "")
    if not text:
        return None, None
    try:
        value = kind(text)
    except ValueError:
        return None, f"{what} must be {'a whole number' if kind is int else 'a number'} (or empty)"
    if not low <= value <= high:
        return None, f"{what} must be from {low:g} to {high:g}"
    return value, None


class ModelsPanel(Panel):
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
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
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
        title = QLabel("Models")
        title.setObjectName("panelTitle")
        subtitle = QLabel("Where and how to call each model. API keys stay in your OS keyring or an environment "
                          "variable, never in the workspace file.")
        subtitle.setObjectName("panelSubtitle")
        subtitle.setWordWrap(True)

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

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. GPT-4.1 (clinical prompt)")
        self.provider_combo = QComboBox()
        for provider in PROVIDERS:
            self.provider_combo.addItem(PROVIDER_NAMES[provider], provider)
        self.provider_combo.currentIndexChanged.connect(self._on_provider_changed)
        self.base_url_edit = QLineEdit()
        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("the provider's model id, e.g. gpt-4.1")
        self.reasoning_combo = QComboBox()
        for mode in ReasoningMode:
            self.reasoning_combo.addItem(REASONING_NAMES[mode.value], mode.value)
        self.temperature_edit = QLineEdit()
        self.temperature_edit.setPlaceholderText("provider default")
        self.max_tokens_edit = QLineEdit()
        self.max_tokens_edit.setPlaceholderText("provider default")
        self.system_edit = QPlainTextEdit()
        self.system_edit.setPlaceholderText("Optional instructions sent before every conversation")
        self.system_edit.setFixedHeight(72)
        self.price_in_edit = QLineEdit()
        self.price_in_edit.setPlaceholderText("unknown")
        self.price_out_edit = QLineEdit()
        self.price_out_edit.setPlaceholderText("unknown")

        self.env_radio = QRadioButton("Environment variable")
        self.keyring_radio = QRadioButton("OS keyring")
        self.key_mode = QButtonGroup(self)
        self.key_mode.addButton(self.env_radio)
        self.key_mode.addButton(self.keyring_radio)
        self.env_radio.setChecked(True)
        self.env_edit = QLineEdit()
        self.env_edit.setAccessibleName("Environment variable name")
        self.key_edit = QLineEdit()
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setAccessibleName("API key")
        self.key_edit.setPlaceholderText("paste the API key; it is stored in the keyring on Save")
        self.key_status = QLabel()
        self.key_status.setObjectName("muted")
        self.key_mode.buttonToggled.connect(lambda *_: self._update_key_mode())

        self.rows = {
            "name": FieldRow(self.name_edit),
            "provider": FieldRow(self.provider_combo),
            "base_url": FieldRow(self.base_url_edit),
            "model": FieldRow(self.model_edit),
            "reasoning": FieldRow(self.reasoning_combo, "How much the model thinks before answering "
                                  "(reasoning models only)", width=160),
            "temperature": FieldRow(self.temperature_edit, "0 to 2; lower gives more predictable answers",
                                    width=160),
            "max_output_tokens": FieldRow(self.max_tokens_edit, "Longest answer allowed, reasoning included",
                                          width=160),
            "system_prompt": FieldRow(self.system_edit),
            "price_in_per_mtok": FieldRow(self.price_in_edit, width=100),
            "price_out_per_mtok": FieldRow(self.price_out_edit, width=100),
            "api_key_env": FieldRow(self.env_edit),
            "key": FieldRow(self.key_edit),
        }
        prices = QHBoxLayout()
        prices.setSpacing(8)
        price_hint = QLabel("US$ per million tokens, for cost estimates")
        price_hint.setObjectName("muted")
        price_hint.setWordWrap(True)
        price_hint.setContentsMargins(0, 6, 0, 0)
        for text, row in (("Input", self.rows["price_in_per_mtok"]), ("Output", self.rows["price_out_per_mtok"])):
            label = QLabel(text)
            label.setContentsMargins(0, 6, 0, 0)  # level with the text in the field
            prices.addWidget(label, 0, Qt.AlignmentFlag.AlignTop)
            prices.addWidget(row, 0, Qt.AlignmentFlag.AlignTop)
            prices.addSpacing(8)
        prices.addWidget(price_hint, 1, Qt.AlignmentFlag.AlignTop)
        key_box = QVBoxLayout()
        key_box.setSpacing(4)
        env_line = QHBoxLayout()
        env_line.addWidget(self.env_radio)
        env_line.addWidget(self.rows["api_key_env"], 1)
        keyring_line = QHBoxLayout()
        keyring_line.addWidget(self.keyring_radio)
        keyring_line.addWidget(self.rows["key"], 1)
        key_box.addLayout(env_line)
        key_box.addLayout(keyring_line)
        key_box.addWidget(self.key_status)

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        form.setHorizontalSpacing(14)
        form.setVerticalSpacing(10)
        form.addRow("Name", self.rows["name"])
        form.addRow("Provider", self.rows["provider"])
        form.addRow("Base URL", self.rows["base_url"])
        form.addRow("Model id", self.rows["model"])
        form.addRow("Reasoning", self.rows["reasoning"])
        form.addRow("Temperature", self.rows["temperature"])
        form.addRow("Max output tokens", self.rows["max_output_tokens"])
        form.addRow("System prompt", self.rows["system_prompt"])
        form.addRow("Prices", prices)
        form.addRow("API key", key_box)

        self.result = QLabel()
        self.result.setObjectName("banner")
        self.result.setWordWrap(True)
        self.result.setTextFormat(Qt.TextFormat.PlainText)  # provider messages are data
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result.setVisible(False)
        self.test_button = QPushButton("Test connection")
        self.test_button.setToolTip("Send one tiny request with the settings above (nothing is saved)")
        self.test_button.clicked.connect(self.test_connection)
        self.revert_button = QPushButton("Revert")
        self.revert_button.clicked.connect(lambda: self._load(self.editing))
        self.save_button = QPushButton("Save")
        self.save_button.setProperty("primary", True)
        self.save_button.clicked.connect(self.save)
        buttons = QHBoxLayout()
        buttons.addWidget(self.test_button)
        buttons.addStretch(1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)

        self.form_title = QLabel()
        self.form_title.setObjectName("sectionTitle")
        card = QFrame()
        card.setObjectName("card")
        card_layout = QVBoxLayout(card)
        card_layout.setContentsMargins(18, 14, 18, 14)
        card_layout.setSpacing(10)
        card_layout.addWidget(self.form_title)
        card_layout.addLayout(form)
        card_layout.addWidget(self.result)
        card_layout.addStretch(1)
        card_layout.addLayout(buttons)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(card)

        for edit in (self.name_edit, self.base_url_edit, self.model_edit, self.temperature_edit, self.max_tokens_edit,
                     self.price_in_edit, self.price_out_edit, self.env_edit, self.key_edit):
            edit.textEdited.connect(self._on_edited)
        self.system_edit.textChanged.connect(self._on_edited)
        self.provider_combo.activated.connect(self._on_edited)
        self.reasoning_combo.activated.connect(self._on_edited)
        self.key_mode.buttonClicked.connect(self._on_edited)
        self.name_edit.editingFinished.connect(self._refresh_key_status)

        body = QHBoxLayout()
        body.setSpacing(14)
        body.addLayout(left)
        body.addWidget(scroll, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 16)
        layout.setSpacing(12)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addLayout(body, 1)

    # -- public API ------------------------------------------------------------------------
    def refresh(self) -> None:
        self.ctx.ops.run(list_model_configs, self.ctx.ws, on_done=self._show_configs, key="models.list")

    def new_config(self) -> None:
        self.list.blockSignals(True)
        self.list.setCurrentRow(-1)
        self.list.blockSignals(False)
        self._load(None)

    def form_config(self) -> ModelConfig | None:
        """The form as a valid ModelConfig, or None with every problem shown next to its field."""
        problems: dict[str, str] = {}
        provider = self.provider_combo.currentData()
        name = self.name_edit.text().strip()
        if not name:
            problems["name"] = "Give the config a name (it labels the answers of this model)."
        elif any(c.name == name and (self.editing is None or c.id != self.editing.id) for c in self.configs):
            problems["name"] = f"Another config is already called “{name}”."
        base_url = self.base_url_edit.text().strip() or None
        if base_url:
            url = QUrl(base_url, QUrl.ParsingMode.StrictMode)
            if url.scheme() not in ("http", "https") or not url.host():
                problems["base_url"] = "Give a full address starting with http:// or https://, or leave it empty."
        model = self.model_edit.text().strip()
        if not model:
            problems["model"] = "Give the provider's model id (for example gpt-4.1 or claude-sonnet-4-5)."
        numbers = {}
        for key, edit, kind, high, what in (
                ("temperature", self.temperature_edit, float, 2.0, "Temperature"),
                ("max_output_tokens", self.max_tokens_edit, int, MAX_OUTPUT_TOKENS, "Max output tokens"),
                ("price_in_per_mtok", self.price_in_edit, float, 1000.0, "The input price"),
                ("price_out_per_mtok", self.price_out_edit, float, 1000.0, "The output price")):
            low = 1 if kind is int else 0.0
            numbers[key], problem = _optional_number(edit.text(), kind, low, high, what)
            if problem:
                problems[key] = problem
        use_keyring = self.keyring_radio.isChecked()
        env = self.env_edit.text().strip() or None
        if not use_keyring and env and not ENV_NAME.match(env):
            problems["api_key_env"] = "A variable name has letters, digits and underscores only, like MY_API_KEY."
        if use_keyring and not self.key_edit.text().strip() and self.key_stored is False:
            problems["key"] = "Paste the API key: it is stored in your OS keyring, never in the workspace."
        config = None
        if not problems:
            try:
                config = ModelConfig(
                    name=name, provider=provider, model=model, base_url=base_url,
                    api_key_env=None if use_keyring else env, use_keyring=use_keyring,
                    reasoning=self.reasoning_combo.currentData(), system_prompt=self.system_edit.toPlainText().strip()
                    or None, **numbers, **({"id": self.editing.id} if self.editing else {}))
            except ValidationError as exc:
                for error in exc.errors():
                    field = str(error["loc"][0]) if error["loc"] else "name"
                    problems.setdefault(field if field in self.rows else "name", error["msg"])
        for key, row in self.rows.items():
            row.set_error(problems.get(key))
        return config

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
        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

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
                            (self.price_in_edit, c.price_in_per_mtok), (self.price_out_edit, c.price_out_per_mtok)):
            edit.setText("" if value is None else f"{value:g}")
        self.system_edit.setPlainText(c.system_prompt or "")
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

    def _on_provider_changed(self, *args) -> None:
        provider = self.provider_combo.currentData()
        self.base_url_edit.setPlaceholderText(f"default: {ADAPTERS[provider].default_base_url}")
        defaults = DEFAULT_ENV.get(provider, ())
        self.env_edit.setPlaceholderText(defaults[0] if defaults else "none: the server needs no key")
        hint = (f"Name of the variable that holds the key; empty means {' or '.join(defaults)}." if defaults
                else "Name of the variable that holds the key; leave empty if the server needs no key.")
        self.rows["api_key_env"].hint.setText(hint)
        self.rows["api_key_env"].hint.setVisible(self.env_radio.isChecked())

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
        self.result.setText(f"✓ {message}" if ok else f"✗ {message}")
        self.result.setProperty("tone", "success" if ok else "error")
        look.repolish(self.result)
        self.result.setVisible(True)


PANEL = ModelsPanel
