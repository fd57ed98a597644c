"""API keys: from an environment variable or the OS keyring, never from the workspace.

A ModelConfig only says where its key lives (`api_key_env`, `use_keyring`);
the key itself is looked up at call time and handed straight to the provider.
Errors name the place to put the key, never the key.
"""

from __future__ import annotations

import os

import keyring
import keyring.errors

from healthqa.domain import ModelConfig
from healthqa.errors import HealthQAError

SERVICE = "healthqa"  # keyring service; the username is the model config's name
# Where the official SDKs look when a config names no place of its own.
DEFAULT_ENV = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
}


class MissingKeyError(HealthQAError):
    """No key where the config says it is. The message says where to put one."""


class KeyStoreError(HealthQAError):
    """The OS keyring could not store or delete a key."""


def key_source(config: ModelConfig) -> str:
    """Where the key for `config` is looked up, in words for the UI."""
    places = []
    if config.api_key_env:
        places.append(f"environment variable {config.api_key_env}")
    if config.use_keyring:
        places.append(f"keyring entry {SERVICE}/{config.name}")
    if not places:
        places = [f"environment variable {name}" for name in DEFAULT_ENV.get(config.provider, ())]
    return " or ".join(places) or "nowhere (no key needed)"


def get_api_key(config: ModelConfig) -> str | None:
    """The key for `config`, or None for a local server that needs none.

    Order: the named environment variable, then the keyring (when
    `use_keyring`). A config that names neither falls back to the provider's
    usual variable (OPENAI_API_KEY, ...). Raises MissingKeyError when a place
    is named (or a cloud provider is used) but holds no key.
    """
    if config.api_key_env and os.environ.get(config.api_key_env):
        return os.environ[config.api_key_env]
    if config.use_keyring:
        try:
            key = keyring.get_password(SERVICE, config.name)
        except keyring.errors.KeyringError as exc:
            raise MissingKeyError(
                f"No API key for {config.name!r}: the OS keyring is not available "
                f"({type(exc).__name__}); set {key_source(config)} instead"
                if not config.api_key_env else
                f"No API key for {config.name!r}: environment variable {config.api_key_env} "
                f"is not set and the OS keyring is not available"
            ) from None
        if key:
            return key
    if not config.api_key_env and not config.use_keyring:
        for name in DEFAULT_ENV.get(config.provider, ()):
            if os.environ.get(name):
                return os.environ[name]
        if config.provider not in DEFAULT_ENV:
            return None  # local OpenAI-compatible servers need no key
    raise MissingKeyError(f"No API key for {config.name!r}: set {key_source(config)}")


def store_api_key(name: str, key: str) -> None:
    """Save a key in the OS keyring under the model config's name."""
    if not key.strip():
        raise ValueError("the API key is empty")
    try:
        keyring.set_password(SERVICE, name, key.strip())
    except keyring.errors.KeyringError as exc:
        raise KeyStoreError(
            f"Could not save the key for {name!r} in the OS keyring ({type(exc).__name__}); "
            "use an environment variable instead"
        ) from None


def delete_api_key(name: str) -> bool:
    """Remove a stored key; False if there was none."""
    try:
        keyring.delete_password(SERVICE, name)
    except keyring.errors.PasswordDeleteError:
        return False
    except keyring.errors.KeyringError as exc:
        raise KeyStoreError(
            f"Could not delete the key for {name!r} from the OS keyring ({type(exc).__name__})"
        ) from None
    return True
