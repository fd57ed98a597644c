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
