"""The Models panel: the form, keys in the keyring, validation, Test connection against loopback servers.

An in-memory keyring backend stands in for the OS one (this machine has none).
"""

from __future__ import annotations

from PySide6.QtCore import Qt

from healthqa.secrets import SERVICE
from healthqa.store import get_model_config, list_model_configs, save_model_config
from tests.core.provider_servers import API_KEY, OpenAIServer, config_for, openai_server  # noqa: F401  (fixture)
from tests.core.test_secrets import memory_keyring  # noqa: F401  (fixture)
from tests.ui.test_runs_panel import ctx, loopback_key, show_panel  # noqa: F401  (fixtures)
from ui.panels.models import KEY_STORED, ModelsPanel

WAIT_MS = 10000


def models_panel(qtbot, ctx) -> ModelsPanel:
    return show_panel(qtbot, ModelsPanel(ctx))


def click(qtbot, widget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def fill_form(qtbot, panel: ModelsPanel, server: OpenAIServer, name: str = "Loopback GPT") -> None:
    """Type a config pointing at the loopback server, as a person would."""
    qtbot.mouseClick(panel.new_button, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(panel.name_edit, name)
    panel.provider_combo.setCurrentIndex(panel.provider_combo.findData("openai"))
    qtbot.keyClicks(panel.base_url_edit, server.base_url)
    qtbot.keyClicks(panel.model_edit, server.model)
    qtbot.keyClicks(panel.temperature_edit, "0.3")
    qtbot.keyClicks(panel.max_tokens_edit, "2048")
    qtbot.keyClicks(panel.price_in_edit, "2.5")
    qtbot.keyClicks(panel.price_out_edit, "10")
    qtbot.keyClicks(panel.system_edit, "You are a careful clinical assistant.")


def save(qtbot, panel: ModelsPanel) -> str:
    with qtbot.waitSignal(panel.sig_saved, timeout=WAIT_MS) as saved:
        click(qtbot, panel.save_button)
    return saved.args[0]


def run_connection_test(qtbot, panel: ModelsPanel) -> tuple[bool, str]:
    with qtbot.waitSignal(panel.sig_tested, timeout=WAIT_MS) as tested:
        click(qtbot, panel.test_button)
        assert not panel.test_button.isEnabled()  # the request runs in the background
    return tuple(tested.args)


def visible_texts(panel: ModelsPanel) -> str:
    from PySide6.QtWidgets import QLabel, QLineEdit
    texts = [w.text() for w in panel.findChildren(QLabel)]
    texts += [w.text() for w in panel.findChildren(QLineEdit) if w.echoMode() == QLineEdit.EchoMode.Normal]
    return "\n".join(texts)


# ---- tests ---------------------------------------------------------------------------------------

def test_a_model_added_through_the_form_is_saved_and_its_connection_test_succeeds(qtbot, ctx, openai_server,
                                                                                   loopback_key):
    panel = models_panel(qtbot, ctx)
    fill_form(qtbot, panel, openai_server)
    click(qtbot, panel.env_radio)
    qtbot.keyClicks(panel.env_edit, loopback_key)

    assert save(qtbot, panel) == "Loopback GPT"
    stored = get_model_config(ctx.ws, "Loopback GPT")
    assert (stored.provider, stored.model, stored.base_url) == ("openai", openai_server.model, openai_server.base_url)
    assert (stored.temperature, stored.max_output_tokens) == (0.3, 2048)
    assert (stored.price_in_per_mtok, stored.price_out_per_mtok) == (2.5, 10.0)
    assert (stored.api_key_env, stored.use_keyring) == (loopback_key, False)
    assert stored.system_prompt == "You are a careful clinical assistant."
    qtbot.waitUntil(lambda: panel.list.count() == 1 and panel.list.currentRow() == 0)

    ok, message = run_connection_test(qtbot, panel)
    assert ok, message
    assert "answered in" in message and panel.result.isVisible()
    assert panel.result.text().startswith("✓ Connected")
    assert openai_server.last.headers["authorization"] == f"Bearer {API_KEY}"
    assert openai_server.last.json["model"] == openai_server.model


def test_a_key_typed_into_the_keyring_field_is_stored_there_cleared_and_never_shown(qtbot, ctx, openai_server,
                                                                                     memory_keyring):
    panel = models_panel(qtbot, ctx)
    fill_form(qtbot, panel, openai_server)
    click(qtbot, panel.keyring_radio)
    assert not panel.env_edit.isEnabled() and panel.key_edit.isEnabled()
    qtbot.keyClicks(panel.key_edit, API_KEY)
    assert panel.key_edit.echoMode() == panel.key_edit.EchoMode.Password

    save(qtbot, panel)
    assert memory_keyring.items[(SERVICE, "Loopback GPT")] == API_KEY
    assert panel.key_edit.text() == ""
    qtbot.waitUntil(lambda: KEY_STORED in panel.key_status.text())
    stored = get_model_config(ctx.ws, "Loopback GPT")
    assert stored.use_keyring and stored.api_key_env is None
    assert API_KEY.encode() not in ctx.ws.path.read_bytes()  # the workspace holds no key
    assert API_KEY not in visible_texts(panel)

    ok, message = run_connection_test(qtbot, panel)  # the key now comes from the keyring
    assert ok, message
    assert openai_server.last.headers["authorization"] == f"Bearer {API_KEY}"


def test_a_wrong_key_gives_a_clear_message_without_the_key(qtbot, ctx, openai_server, memory_keyring):
    wrong = "sk-proj-wrongwrongwrong-0123456789abcdefXYZ"
    panel = models_panel(qtbot, ctx)
    fill_form(qtbot, panel, openai_server)
    click(qtbot, panel.keyring_radio)
    qtbot.keyClicks(panel.key_edit, wrong)  # tested before saving: the typed key is used

    ok, message = run_connection_test(qtbot, panel)
    assert not ok
    assert "rejected the API key" in message and "keyring" in message
    shown = panel.result.text()
    assert shown.startswith("✗") and "rejected the API key" in shown
    for piece in (wrong, wrong[:8], wrong[-6:]):
        assert piece not in message and piece not in shown
    assert not list_model_configs(ctx.ws)  # testing saves nothing
    assert not memory_keyring.items


def test_a_missing_environment_variable_is_named_in_the_message(qtbot, ctx, openai_server, monkeypatch):
    monkeypatch.delenv("HEALTHQA_NOT_SET", raising=False)
    panel = models_panel(qtbot, ctx)
    fill_form(qtbot, panel, openai_server)
    qtbot.keyClicks(panel.env_edit, "HEALTHQA_NOT_SET")
    ok, message = run_connection_test(qtbot, panel)
    assert not ok and "HEALTHQA_NOT_SET" in message
    assert not openai_server.requests


def test_invalid_fields_get_inline_messages_and_nothing_is_saved(qtbot, ctx):
    panel = models_panel(qtbot, ctx)
    qtbot.keyClicks(panel.base_url_edit, "localhost:11434")
    qtbot.keyClicks(panel.temperature_edit, "warm")
    qtbot.keyClicks(panel.max_tokens_edit, "-5")
    qtbot.keyClicks(panel.price_out_edit, "abc")
    qtbot.keyClicks(panel.env_edit, "MY-KEY")
    click(qtbot, panel.save_button)

    errors = {key: row.error.text() for key, row in panel.rows.items() if row.error.isVisible()}
    assert set(errors) == {"name", "base_url", "model", "temperature", "max_output_tokens", "price_out_per_mtok",
                           "api_key_env"}
    assert "http://" in errors["base_url"]
    assert "number" in errors["temperature"]
    assert "from 1" in errors["max_output_tokens"]
    assert "letters, digits and underscores" in errors["api_key_env"]
    assert panel.result.text().startswith("✗ Fix the fields")
    assert ctx.ops.is_idle() and not list_model_configs(ctx.ws)

    panel.name_edit.setText("Fixed")
    panel.model_edit.setText("m")
    for edit in (panel.base_url_edit, panel.temperature_edit, panel.max_tokens_edit, panel.price_out_edit,
                 panel.env_edit):
        edit.clear()
    save(qtbot, panel)
    assert not any(row.error.isVisible() for row in panel.rows.values())
    assert [c.name for c in list_model_configs(ctx.ws)] == ["Fixed"]


def test_a_name_in_use_is_refused_and_keyring_needs_a_key(qtbot, ctx, openai_server, memory_keyring):
    save_model_config(ctx.ws, config_for(openai_server, name="Taken"))
    panel = models_panel(qtbot, ctx)
    qtbot.waitUntil(lambda: panel.list.count() == 1)
    fill_form(qtbot, panel, openai_server, name="Taken")
    click(qtbot, panel.keyring_radio)
    qtbot.waitUntil(lambda: panel.key_stored is False)
    click(qtbot, panel.save_button)
    assert "already called" in panel.rows["name"].error.text()
    assert "Paste the API key" in panel.rows["key"].error.text()


def test_renaming_a_keyring_config_takes_its_key_along(qtbot, ctx, openai_server, memory_keyring):
    memory_keyring.items[(SERVICE, "Old name")] = API_KEY
    save_model_config(ctx.ws, config_for(openai_server, name="Old name", use_keyring=True))
    panel = models_panel(qtbot, ctx)
    qtbot.waitUntil(lambda: panel.editing is not None and KEY_STORED in panel.key_status.text())
    panel.name_edit.selectAll()
    qtbot.keyClicks(panel.name_edit, "New name")
    save(qtbot, panel)
    assert memory_keyring.items == {(SERVICE, "New name"): API_KEY}
    assert [c.name for c in list_model_configs(ctx.ws)] == ["New name"]  # the same config, renamed


def test_delete_asks_first_and_removes_the_config_and_its_stored_key(qtbot, ctx, openai_server, memory_keyring,
                                                                     monkeypatch):
    memory_keyring.items[(SERVICE, "Doomed")] = API_KEY
    save_model_config(ctx.ws, config_for(openai_server, name="Doomed", use_keyring=True))
    panel = models_panel(qtbot, ctx)
    qtbot.waitUntil(lambda: panel.editing is not None and panel.delete_button.isEnabled())
    questions = []
    monkeypatch.setattr(panel, "confirm", lambda title, text: questions.append(text) or False)
    click(qtbot, panel.delete_button)
    assert "Doomed" in questions[0] and "keyring" in questions[0]
    assert ctx.ops.is_idle() and [c.name for c in list_model_configs(ctx.ws)] == ["Doomed"]

    monkeypatch.setattr(panel, "confirm", lambda title, text: True)
    with qtbot.waitSignal(panel.sig_deleted, timeout=WAIT_MS):
        click(qtbot, panel.delete_button)
    assert not list_model_configs(ctx.ws) and not memory_keyring.items
    qtbot.waitUntil(lambda: panel.list.count() == 0)
    assert panel.editing is None and panel.name_edit.text() == ""


def test_what_a_model_accepts_and_learned_is_shown_and_saving_keeps_it(qtbot, ctx, openai_server, loopback_key):
    from healthqa.store import remember_learned

    config = config_for(openai_server, name="g", api_key_env=loopback_key, temperature=0.5, timeout=45,
                        price_in_per_mtok=2.0, price_out_per_mtok=8.0, price_cached_in_per_mtok=0.25)
    save_model_config(ctx.ws, config)
    remember_learned(ctx.ws, config.id, config.model, {"temperature": False},
                     "g (gpt-loopback): takes only its default temperature; sent without it")
    panel = models_panel(qtbot, ctx)
    qtbot.waitUntil(lambda: panel.editing is not None and panel.editing.name == "g")
    assert panel.timeout_edit.text() == "45"
    assert panel.accepts_label.text() == ("reasoning: effort, no temperature\n"
                                          "Learned: g (gpt-loopback): takes only its default temperature; "
                                          "sent without it")
    assert "Settings adjusted" in visible_texts(panel)
    panel.timeout_edit.clear()
    qtbot.keyClicks(panel.timeout_edit, "90")
    save(qtbot, panel)
    stored = get_model_config(ctx.ws, "g")
    assert stored.timeout == 90 and stored.price_cached_in_per_mtok == 0.25  # kept though the form lacks it
    assert stored.learned == {"temperature": False}  # saving the form does not forget it


def test_a_connection_test_says_what_it_had_to_change(qtbot, ctx, openai_server, loopback_key):
    openai_server.refuses = {"temperature"}
    save_model_config(ctx.ws, config_for(openai_server, name="g", api_key_env=loopback_key, temperature=0.5))
    panel = models_panel(qtbot, ctx)
    qtbot.waitUntil(lambda: panel.editing is not None)
    ok, message = run_connection_test(qtbot, panel)
    assert ok and "Changed: g (gpt-loopback): takes only its default temperature; sent without it" in message
