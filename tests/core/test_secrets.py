"""API keys from environment variables and the keyring (an in-memory keyring
backend stands in for the OS one, which this machine does not have)."""

from __future__ import annotations

from typing import Iterator

import keyring
import keyring.backend
import keyring.errors
import pytest

from healthqa.domain import ModelConfig
from healthqa.secrets import (
    SERVICE, KeyStoreError, MissingKeyError, delete_api_key, get_api_key, key_source, store_api_key,
)

SECRET = "sk-secret-value-do-not-print-123456"


class MemoryKeyring(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.items.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("not found")


class BrokenKeyring(MemoryKeyring):
    """What a machine without a keyring daemon gives."""

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.NoKeyringError("no backend")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.NoKeyringError("no backend")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.NoKeyringError("no backend")


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def broken_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(BrokenKeyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def no_default_keys(monkeypatch):
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def config(**fields) -> ModelConfig:
    return ModelConfig(**{"name": "gpt-main", "provider": "openai", "model": "gpt-x", **fields})


def test_key_from_named_env_var(monkeypatch):
    monkeypatch.setenv("HQA_TEST_KEY", SECRET)
    assert get_api_key(config(api_key_env="HQA_TEST_KEY")) == SECRET


def test_missing_env_var_names_it_and_not_a_key(monkeypatch):
    monkeypatch.delenv("HQA_TEST_KEY", raising=False)
    with pytest.raises(MissingKeyError) as info:
        get_api_key(config(api_key_env="HQA_TEST_KEY"))
    assert "HQA_TEST_KEY" in str(info.value) and "gpt-main" in str(info.value)


def test_key_from_keyring_round_trip(memory_keyring):
    store_api_key("gpt-main", f"  {SECRET}\n")  # pasted keys come with stray whitespace
    assert memory_keyring.items[(SERVICE, "gpt-main")] == SECRET
    assert get_api_key(config(use_keyring=True)) == SECRET
    assert delete_api_key("gpt-main") is True
    assert delete_api_key("gpt-main") is False
    with pytest.raises(MissingKeyError) as info:
        get_api_key(config(use_keyring=True))
    assert f"keyring entry {SERVICE}/gpt-main" in str(info.value)


def test_env_var_wins_over_keyring(memory_keyring, monkeypatch):
    store_api_key("gpt-main", "from-keyring")
    monkeypatch.setenv("HQA_TEST_KEY", "from-env")
    assert get_api_key(config(api_key_env="HQA_TEST_KEY", use_keyring=True)) == "from-env"
    monkeypatch.delenv("HQA_TEST_KEY")
    assert get_api_key(config(api_key_env="HQA_TEST_KEY", use_keyring=True)) == "from-keyring"


def test_keyring_unavailable(broken_keyring):
    with pytest.raises(MissingKeyError) as info:
        get_api_key(config(use_keyring=True))
    assert "keyring is not available" in str(info.value)
    with pytest.raises(KeyStoreError):
        store_api_key("gpt-main", SECRET)
    with pytest.raises(KeyStoreError):
        delete_api_key("gpt-main")


def test_empty_key_is_not_stored(memory_keyring):
    with pytest.raises(ValueError):
        store_api_key("gpt-main", "   ")
    assert memory_keyring.items == {}


def test_provider_default_env_var(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    assert get_api_key(config(provider="anthropic")) == SECRET
    with pytest.raises(MissingKeyError) as info:
        get_api_key(config(provider="gemini"))
    assert "GEMINI_API_KEY" in str(info.value) and "GOOGLE_API_KEY" in str(info.value)


def test_local_server_needs_no_key():
    assert get_api_key(config(provider="openai-compatible")) is None
    assert key_source(config(provider="openai-compatible")) == "nowhere (no key needed)"


def test_key_source_words():
    assert key_source(config(api_key_env="K", use_keyring=True)) == (
        f"environment variable K or keyring entry {SERVICE}/gpt-main")
    assert key_source(config()) == "environment variable OPENAI_API_KEY"
