"""Clients for the model APIs HealthQA talks to, on plain httpx.

    provider = make_provider(config, get_api_key(config))
    answer = await provider.complete(conversation)      # retried per RetryPolicy
    async for piece in provider.stream(conversation):  # str pieces, then the Answer
        ...
    await provider.aclose()

Every failure is a ProviderError (retryable / fatal / message without the key).
Answers are normalised: finish_reason is "stop", "length", "refusal",
"content_filter" or the provider's own word lowercased; usage.output_tokens
includes reasoning tokens for every provider.
"""

from __future__ import annotations

import asyncio

from healthqa.domain import ModelConfig

from .anthropic import AnthropicProvider
from .base import CONTENT_FILTER, LENGTH, REFUSAL, STOP, LearnedHook, Provider, read_timeout
from .capabilities import Capabilities, capabilities_for, describe
from .errors import ProviderError, redact
from .gemini import GeminiProvider
from .openai import OpenAICompatibleProvider, OpenAIProvider
from .batch import (BATCH_CLIENTS, CANCELLED as BATCH_CANCELLED, ERRORED as BATCH_ERRORED,
                    EXPIRED as BATCH_EXPIRED, FAILED as BATCH_FAILED, SUCCEEDED as BATCH_SUCCEEDED, BatchClient,
                    BatchResult, BatchStatus, ChunkFile, LostReply)
from .pricing import batch_price_factor, estimate_cost
from .ratelimit import RateLimiter
from .retry import NO_RETRY, RetryPolicy, wait_from_google_details, wait_from_headers
from .transport import env_proxy

ADAPTERS: dict[str, type[Provider]] = {
    cls.kind: cls for cls in (OpenAIProvider, AnthropicProvider, GeminiProvider, OpenAICompatibleProvider)
}
# Providers that cannot be called without a key (local servers usually need none).
KEY_REQUIRED = frozenset({"openai", "anthropic", "gemini"})


def make_provider(
    config: ModelConfig,
    api_key: str | None,
    *,
    max_connections: int = 32,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,
    rate_limiter: RateLimiter | None = None,
    on_learned: LearnedHook | None = None,
) -> Provider:
    """The adapter for `config.provider`, with its own connection pool.

    `timeout` (read timeout, seconds) defaults to the config's, else 600 s when
    the model reasons and 120 s when not (`read_timeout`). `on_learned(caps,
    note)` hears when a server refused a parameter and the call was resent
    without it (see capabilities.py), so the caller can remember it.
    Raises ProviderError(fatal=True) at once for a config that cannot work
    (no key for a cloud provider, a reasoning budget that does not fit).
    """
    cls = ADAPTERS[config.provider]
    if not api_key and config.provider in KEY_REQUIRED:
        where = (
            f"environment variable {config.api_key_env}" if config.api_key_env
            else f"the keyring entry for {config.name!r}" if config.use_keyring
            else "an environment variable or the keyring"
        )
        raise ProviderError(f"{cls.label}: no API key for {config.name!r}; set one in {where}", fatal=True)
    return cls(config, api_key, max_connections=max_connections, retry=retry, timeout=timeout,
               rate_limiter=rate_limiter, on_learned=on_learned)


def make_batch_client(config: ModelConfig, api_key: str | None) -> BatchClient:
    """The batch API client for `config.provider` (docs/batch-apis.md), on the interactive adapter's
    request bodies and reply parsing; ProviderError(fatal) for a provider without one."""
    cls = BATCH_CLIENTS.get(config.provider)
    if cls is None:
        raise ProviderError(f"{config.provider} has no batch API in HealthQA; run {config.name!r} without --batch",
                            fatal=True)
    return cls(make_provider(config, api_key, max_connections=1), api_key)


def check_connection(config: ModelConfig, api_key: str | None, *, timeout: float | None = None,
                     on_learned: LearnedHook | None = None) -> str:
    """One tiny request (`Provider.test`), run to completion: a short success
    line, or ProviderError saying what to fix. For `healthqa models test` and
    the app's "Test connection"; never call it on a thread that runs a loop."""

    async def probe() -> str:
        provider = make_provider(config, api_key, max_connections=1, timeout=timeout, on_learned=on_learned)
        try:
            return await provider.test()
        finally:
            await provider.aclose()

    return asyncio.run(probe())


__all__ = [
    "BATCH_CANCELLED", "BATCH_ERRORED", "BATCH_EXPIRED", "BATCH_FAILED", "BATCH_SUCCEEDED", "BatchClient",
    "BatchResult", "BatchStatus", "ChunkFile", "LostReply", "batch_price_factor", "make_batch_client",
    "ADAPTERS", "CONTENT_FILTER", "LENGTH", "NO_RETRY", "REFUSAL", "STOP",
    "AnthropicProvider", "Capabilities", "GeminiProvider", "LearnedHook", "OpenAICompatibleProvider",
    "OpenAIProvider", "capabilities_for", "describe", "read_timeout",
    "Provider", "ProviderError", "RateLimiter", "RetryPolicy", "check_connection", "estimate_cost",
    "make_provider", "redact", "wait_from_google_details", "wait_from_headers", "env_proxy",
]
