"""Cached input tokens: read from each provider's usage, stored with the answer,
and billed at the cached price (issue 9 item 13)."""

from __future__ import annotations

import asyncio

import pytest

from healthqa.domain import Message, ModelConfig, Usage
from healthqa.providers import estimate_cost, make_provider
from healthqa.runs import DONE, create_run, execute_run
from tests.core.provider_servers import (  # noqa: F401  (fixtures)
    LoopbackServer, anthropic_server, config_for, gemini_server, ollama_server, openai_server,
)
from tests.core.test_runs import add_config, add_questions

QUESTION = [Message(role="user", content="Is it safe to take ibuprofen with a glass of wine tonight?")]


def usage_of(server: LoopbackServer, *, stream: bool = False, **config) -> Usage:
    async def go() -> Usage:
        provider = make_provider(config_for(server, **config), server.api_key)
        try:
            if stream:
                return [p async for p in provider.stream(QUESTION)][-1].usage
            return (await provider.complete(QUESTION)).usage
        finally:
            await provider.aclose()
    return asyncio.run(go())


@pytest.mark.parametrize("stream", [False, True])
def test_openai_cached_tokens_are_read(openai_server, stream):
    openai_server.cached_tokens = 5
    usage = usage_of(openai_server, stream=stream)
    assert usage.cached_input_tokens == 5 and usage.input_tokens == 12  # prompt_tokens includes them


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_cache_reads_and_writes_are_read(anthropic_server, stream):
    anthropic_server.cached_tokens, anthropic_server.cache_write_tokens = 4, 3
    usage = usage_of(anthropic_server, stream=stream)
    # input_tokens on the wire is only the uncached part; ours is all input.
    assert (usage.input_tokens, usage.cached_input_tokens, usage.cache_write_tokens) == (12, 4, 3)


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_cached_content_tokens_are_read(gemini_server, stream):
    gemini_server.cached_tokens = 6
    usage = usage_of(gemini_server, stream=stream)
    assert usage.cached_input_tokens == 6 and usage.input_tokens == 12


def test_a_server_without_cache_details_reports_none(ollama_server):
    assert usage_of(ollama_server).cached_input_tokens is None


@pytest.mark.parametrize("provider,model,read,write", [
    ("openai", "gpt-5-mini", 0.1, 1.0), ("openai", "gpt-4o", 0.5, 1.0), ("openai", "new-model", 1.0, 1.0),
    ("anthropic", "claude-sonnet-4-5", 0.1, 1.25), ("gemini", "gemini-2.5-pro", 0.1, 1.0)])
def test_cached_input_costs_the_providers_cached_price(provider, model, read, write):
    config = ModelConfig(name="c", provider=provider, model=model, price_in_per_mtok=2.0, price_out_per_mtok=8.0)
    usage = Usage(input_tokens=1000, cached_input_tokens=600, cache_write_tokens=100, output_tokens=50)
    expected = (300 * 2.0 + 600 * 2.0 * read + 100 * 2.0 * write + 50 * 8.0) / 1e6
    assert estimate_cost(config, usage) == pytest.approx(expected)


def test_configured_cached_prices_win():
    config = ModelConfig(name="c", provider="openai", model="gpt-4o", price_in_per_mtok=2.0, price_out_per_mtok=8.0,
                         price_cached_in_per_mtok=0.3, price_cache_write_per_mtok=2.5)
    usage = Usage(input_tokens=1000, cached_input_tokens=600, cache_write_tokens=100, output_tokens=0)
    assert estimate_cost(config, usage) == pytest.approx((300 * 2.0 + 600 * 0.3 + 100 * 2.5) / 1e6)


def test_a_run_stores_cached_tokens_and_costs_them_cheaper(workspace, anthropic_server):
    anthropic_server.cached_tokens = 4
    add_questions(workspace, 3)
    add_config(workspace, anthropic_server, model="claude-sonnet-4-5", price_in_per_mtok=3.0, price_out_per_mtok=15.0)
    run_id = create_run(workspace, model_name="m", set_name="S")
    summary = asyncio.run(execute_run(workspace, run_id, api_key=anthropic_server.api_key))
    assert summary.status == DONE
    rows = workspace.query("SELECT input_tokens, cached_input_tokens, output_tokens FROM answers WHERE run_id = ?",
                           (run_id,))
    assert [r["cached_input_tokens"] for r in rows] == [4, 4, 4] and summary.cached_input_tokens == 12
    fresh = summary.input_tokens - 12
    assert summary.cost == pytest.approx((fresh * 3.0 + 12 * 0.3 + summary.output_tokens * 15.0) / 1e6)
