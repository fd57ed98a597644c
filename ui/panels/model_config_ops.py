"""What the Models panel runs through the ops helper: a config with its keyring key, and a connection test.

Keys are filed in the OS keyring under the config's name and never travel
back to the GUI thread: the panel only learns *whether* the keyring holds
one. A failed test's message never holds the key, even a typed one.
"""

from __future__ import annotations


import keyring
import keyring.errors

from healthqa.domain import ModelConfig
from healthqa.providers import ProviderError, check_connection
from healthqa.providers import redact
from healthqa.secrets import SERVICE, delete_api_key, get_api_key, store_api_key
from healthqa.store import delete_model_config, save_model_config

TEST_TIMEOUT_S = 30.0


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

    lessons: list[str] = []
    try:
        message = check_connection(config, key, timeout=TEST_TIMEOUT_S,
                                   on_learned=lambda caps, note: lessons.append(note))
        # Runs remember such a change on the config; the test only says what it had to change.
        return "\n".join([message] + [f"Changed: {note}" for note in lessons])
    except ProviderError as exc:  # adapters redact already; this guards the typed key as well
        raise ProviderError(redact(exc.message, key), status=exc.status) from None
