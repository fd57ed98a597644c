"""What a call cost, from the per-million-token prices in the model config."""

from __future__ import annotations

from healthqa.domain import ModelConfig, Usage


def estimate_cost(config: ModelConfig, usage: Usage) -> float | None:
    """Dollars for one call, or None when a price or a token count is unknown.

    `usage.output_tokens` already includes reasoning tokens (the adapters
    normalise this), and providers bill reasoning as output, so reasoning is
    not added again.
    """
    if config.price_in_per_mtok is None or config.price_out_per_mtok is None:
        return None
    if usage.input_tokens is None or usage.output_tokens is None:
        return None
    return (
        usage.input_tokens * config.price_in_per_mtok
        + usage.output_tokens * config.price_out_per_mtok
    ) / 1_000_000


# Share of the interactive price a provider bills for batch requests
# (docs/batch-apis.md: OpenAI, Anthropic and Gemini all halve it).
BATCH_PRICE_FACTOR = {"openai": 0.5, "anthropic": 0.5, "gemini": 0.5}


def batch_price_factor(provider: str) -> float:
    """What batch requests cost relative to interactive ones (1.0: no documented discount)."""
    return BATCH_PRICE_FACTOR.get(provider, 1.0)
