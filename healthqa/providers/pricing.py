"""What a call cost, from the per-million-token prices in the model config."""

from __future__ import annotations

from healthqa.domain import ModelConfig, Usage

from .capabilities import capabilities_for


def cached_prices(config: ModelConfig) -> tuple[float | None, float | None]:
    """(cache read, cache write) dollars per million tokens: the config's own,
    else the provider's usual fraction of the input price for this model family."""
    price_in = config.price_in_per_mtok
    if price_in is None:
        return config.price_cached_in_per_mtok, config.price_cache_write_per_mtok
    caps = capabilities_for(config.provider, config.model)
    read = config.price_cached_in_per_mtok
    write = config.price_cache_write_per_mtok
    return (price_in * caps.cache_read if read is None else read,
            price_in * caps.cache_write if write is None else write)


def estimate_cost(config: ModelConfig, usage: Usage) -> float | None:
    """Dollars for one call, or None when a price or a token count is unknown.

    `usage.input_tokens` is all input: the parts read from or written to the
    provider's prompt cache (`cached_input_tokens`, `cache_write_tokens`) are
    billed at their own prices, the rest at the input price.
    `usage.output_tokens` already includes reasoning tokens (the adapters
    normalise this), and providers bill reasoning as output, so reasoning is
    not added again.
    """
    if config.price_in_per_mtok is None or config.price_out_per_mtok is None:
        return None
    if usage.input_tokens is None or usage.output_tokens is None:
        return None
    read, write = usage.cached_input_tokens or 0, usage.cache_write_tokens or 0
    fresh = max(0, usage.input_tokens - read - write)
    price_read, price_write = cached_prices(config)
    return (
        fresh * config.price_in_per_mtok
        + read * price_read
        + write * price_write
        + usage.output_tokens * config.price_out_per_mtok
    ) / 1_000_000


# Share of the interactive price a provider bills for batch requests
# (docs/batch-apis.md: OpenAI, Anthropic and Gemini all halve it).
BATCH_PRICE_FACTOR = {"openai": 0.5, "anthropic": 0.5, "gemini": 0.5}


def batch_price_factor(provider: str) -> float:
    """What batch requests cost relative to interactive ones (1.0: no documented discount)."""
    return BATCH_PRICE_FACTOR.get(provider, 1.0)
