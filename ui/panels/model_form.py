"""The Models panel's form: its fields, and reading them back as a valid ModelConfig.

Like a compiled Designer form, `ModelForm._build_form` creates the fields as
attributes of the panel (each in a FieldRow with its hint and inline error)
and connects them to the panel's handlers. `form_config` validates what was
typed and shows every problem next to its field; the panel decides what to
do with the config (save it, test it) and where its key lives.
"""

from __future__ import annotations

import re

from pydantic import ValidationError
from PySide6.QtCore import Qt, QUrl
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QFormLayout, QFrame, QGridLayout, QHBoxLayout, QLineEdit,
                               QPlainTextEdit, QPushButton, QRadioButton, QScrollArea, QVBoxLayout, QWidget)

from healthqa.domain import PROVIDERS, ModelConfig, ReasoningMode
from healthqa.providers import ADAPTERS, capabilities_for, describe
from healthqa.secrets import DEFAULT_ENV

from ..widgets.banner import make_banner
from ..widgets.panel_header import section_title
from ..widgets.plain_text import plain_label

PROVIDER_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic", "gemini": "Google Gemini",
                  "openai-compatible": "OpenAI-compatible server (Ollama, vLLM, llama.cpp…)"}
SHORT_PROVIDER_NAMES = {**PROVIDER_NAMES, "openai-compatible": "OpenAI-compatible"}
REASONING_NAMES = {"off": "Off", "low": "Low", "medium": "Medium", "high": "High"}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_OUTPUT_TOKENS = 1_000_000


class FieldRow(QWidget):
    """An input with a hint (beside a narrow field, under a wide one) and its inline error message."""

    def __init__(self, field: QWidget, hint: str = "", *, width: int | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.field = field
        # Parented at once: a parentless label made visible would flash up as a window of its own.
        self.hint = plain_label(hint, parent=self)
        self.hint.setObjectName("muted")
        self.hint.setWordWrap(True)
        self.hint.setVisible(bool(hint))
        self.error = plain_label(parent=self)
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


class ModelForm:
    """Mixin for ModelsPanel: builds the form's fields and reads them back.

    Reads the panel's `configs` (names in use), `editing` and `key_stored`, and
    connects the fields to its handlers (save, test_connection, _load, _on_edited,
    _update_key_mode, _refresh_key_status).
    """

    def _build_form(self) -> QScrollArea:
        """The fields, the result banner and the form's buttons, on a card in a scroll area."""
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
        self.timeout_edit = QLineEdit()
        self.timeout_edit.setPlaceholderText("600 when reasoning, else 120")
        # What the model accepts (capability table plus what servers refused): plain text.
        self.accepts_label = plain_label(object_name="muted", wrap=True)
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
        self.key_status = plain_label()
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
            "timeout": FieldRow(self.timeout_edit, "Seconds to wait for one reply before trying again", width=250),
            "system_prompt": FieldRow(self.system_edit),
            "price_in_per_mtok": FieldRow(self.price_in_edit, width=100),
            "price_out_per_mtok": FieldRow(self.price_out_edit, width=100),
            "api_key_env": FieldRow(self.env_edit),
            "key": FieldRow(self.key_edit),
        }
        prices = QHBoxLayout()
        prices.setSpacing(8)
        price_hint = plain_label("US$ per million tokens, for cost estimates")
        price_hint.setObjectName("muted")
        price_hint.setWordWrap(True)
        price_hint.setContentsMargins(0, 6, 0, 0)
        for text, row in (("Input", self.rows["price_in_per_mtok"]), ("Output", self.rows["price_out_per_mtok"])):
            label = plain_label(text)
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
        form.addRow("Reply timeout", self.rows["timeout"])
        form.addRow("Accepts", self.accepts_label)
        form.addRow("System prompt", self.rows["system_prompt"])
        form.addRow("Prices", prices)
        form.addRow("API key", key_box)

        self.result = make_banner()
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

        self.form_title = section_title()
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
                     self.timeout_edit, self.price_in_edit, self.price_out_edit, self.env_edit, self.key_edit):
            edit.textEdited.connect(self._on_edited)
        self.system_edit.textChanged.connect(self._on_edited)
        self.provider_combo.activated.connect(self._on_edited)
        self.reasoning_combo.activated.connect(self._on_edited)
        self.key_mode.buttonClicked.connect(self._on_edited)
        self.name_edit.editingFinished.connect(self._refresh_key_status)
        return scroll

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
                ("timeout", self.timeout_edit, float, 3600.0, "The reply timeout"),
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
                    or None, **numbers, **self._kept_fields())
            except ValidationError as exc:
                for error in exc.errors():
                    field = str(error["loc"][0]) if error["loc"] else "name"
                    problems.setdefault(field if field in self.rows else "name", error["msg"])
        for key, row in self.rows.items():
            row.set_error(problems.get(key))
        return config

    def _kept_fields(self) -> dict:
        """Settings of the config being edited that the form does not show (set with `healthqa
        models add`), so that saving the form keeps them."""
        if self.editing is None:
            return {}
        return {"id": self.editing.id, "price_cached_in_per_mtok": self.editing.price_cached_in_per_mtok,
                "price_cache_write_per_mtok": self.editing.price_cache_write_per_mtok}

    def _show_accepts(self, config: ModelConfig | None) -> None:
        if config is None:
            self.accepts_label.setText("Known after saving (from the model id)")
            return
        caps = capabilities_for(config.provider, config.model).with_learned(config.learned)
        lines = [describe(caps)] + [f"Learned: {note}" for note in config.learned_notes]
        self.accepts_label.setText("\n".join(lines))

    # -- private ------------------------------------------------------------------------------
    def _on_provider_changed(self, *args) -> None:
        provider = self.provider_combo.currentData()
        self.base_url_edit.setPlaceholderText(f"default: {ADAPTERS[provider].default_base_url}")
        defaults = DEFAULT_ENV.get(provider, ())
        self.env_edit.setPlaceholderText(defaults[0] if defaults else "none: the server needs no key")
        hint = (f"Name of the variable that holds the key; empty means {' or '.join(defaults)}." if defaults
                else "Name of the variable that holds the key; leave empty if the server needs no key.")
        self.rows["api_key_env"].hint.setText(hint)
        self.rows["api_key_env"].hint.setVisible(self.env_radio.isChecked())
