"""What each model family accepts: ONE table, read by every adapter.

A new model family used to need a new name check in an adapter; now it needs
a row here. Rows are (provider, pattern searched in the lower-cased model id,
Capabilities); the first matching row wins, and each provider ends with a
catch-all row that keeps what the adapter sent before this table existed, so
a model nobody has heard of still gets a request that most models accept.
When a server still refuses a parameter, the adapter retries once without it
and the config remembers it (`learned`, see base.Provider), so the table is
a head start, not the only source of truth.

Sources (checked Dec 2026): providers.md §2.2/§3.2/§4.2; Anthropic's
migration guides (Opus 4.7+, Claude 5, Fable/Mythos: no temperature, no
budget_tokens, adaptive thinking; Fable/Mythos always think); OpenAI's
"Only the default (1) value is supported" for o-series / GPT-5 temperature;
Gemini 3 Pro's "Thinking level MEDIUM is not supported for this model";
published cached-input prices (Anthropic cache reads 0.1x, 5-minute cache
writes 1.25x; OpenAI GPT-5 0.1x, GPT-4.1 / o3 / o4 0.25x, GPT-4o / o1 0.5x;
Gemini 2.5+ 0.1x, 2.0 0.25x).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from typing import Any

# How a model takes its reasoning setting.
NONE = "none"  # it has none: nothing is sent
EFFORT = "effort"  # OpenAI reasoning_effort (and local servers that copy it)
BUDGET = "budget"  # a token budget: Anthropic thinking.budget_tokens, Gemini thinkingBudget
ADAPTIVE = "adaptive"  # Anthropic thinking {type: adaptive} + output_config.effort
LEVEL = "level"  # Gemini 3 thinkingLevel
STYLES = (NONE, EFFORT, BUDGET, ADAPTIVE, LEVEL)

# Effort words from least to most thinking; a mode the model lacks goes to the nearest it has.
ORDER = ("minimal", "low", "medium", "high", "xhigh", "max")


@dataclass(frozen=True)
class Capabilities:
    reasoning: str = EFFORT
    # Effort or level words the model takes (lowest first); empty: whatever we send.
    levels: tuple[str, ...] = ()
    temperature: bool = True  # accepts a temperature at all
    temperature_with_reasoning: bool = True  # ... also while reasoning
    thinks_by_default: bool = False  # reasons even when the config's reasoning is "off"
    # Cached input as a fraction of the input price; 1.0 when unknown (never under-counts).
    cache_read: float = 1.0
    cache_write: float = 1.0  # Anthropic cache writes

    def with_learned(self, learned: dict[str, Any] | None) -> "Capabilities":
        """This row with what a server taught us about the model (see `learn`)."""
        if not learned:
            return self
        fields = {f.name for f in dataclasses.fields(self)}
        changes = {k: tuple(v) if k == "levels" else v for k, v in learned.items() if k in fields}
        return dataclasses.replace(self, **changes)

    def sends_temperature(self, reasoning_on: bool) -> bool:
        return self.temperature and (self.temperature_with_reasoning or not reasoning_on)

    def level_for(self, mode: str) -> str:
        """The model's word for a reasoning mode ("low"/"medium"/"high"): the
        nearest it accepts, rounding up on a tie (a reviewer asked for thinking)."""
        if not self.levels:
            return mode
        want = ORDER.index(mode)
        return min(self.levels, key=lambda level: (abs(ORDER.index(level.lower()) - want),
                                                   -ORDER.index(level.lower())))


_ANTHROPIC = dict(cache_read=0.1, cache_write=1.25)
_NO_TEMPERATURE = dict(temperature=False, temperature_with_reasoning=False)

RULES: tuple[tuple[str, str, Capabilities], ...] = (
    # ---- Anthropic: thinking tokens count in max_tokens; temperature never while thinking
    ("anthropic", r"claude-(?:fable|mythos)-", Capabilities(
        ADAPTIVE, **_NO_TEMPERATURE, thinks_by_default=True, **_ANTHROPIC)),
    ("anthropic", r"claude-(?:opus|sonnet|haiku)-(?:[5-9]|\d\d)(?!\d)", Capabilities(
        ADAPTIVE, **_NO_TEMPERATURE, **_ANTHROPIC)),
    ("anthropic", r"claude-opus-4-[7-9](?!\d)", Capabilities(ADAPTIVE, **_NO_TEMPERATURE, **_ANTHROPIC)),
    ("anthropic", r"claude-(?:opus|sonnet|haiku)-4-[7-9](?!\d)|claude-(?:opus|sonnet)-4-6(?!\d)", Capabilities(
        ADAPTIVE, temperature_with_reasoning=False, **_ANTHROPIC)),
    ("anthropic", r"claude-(?:opus|sonnet|haiku)-4|claude-3-7-sonnet", Capabilities(
        BUDGET, temperature_with_reasoning=False, **_ANTHROPIC)),
    ("anthropic", r"claude-3", Capabilities(NONE, **_ANTHROPIC)),
    ("anthropic", r"", Capabilities(BUDGET, temperature_with_reasoning=False, **_ANTHROPIC)),
    # ---- OpenAI: reasoning models take only the default temperature
    ("openai", r"^o1", Capabilities(EFFORT, ("low", "medium", "high"), **_NO_TEMPERATURE,
                                    thinks_by_default=True, cache_read=0.5)),
    ("openai", r"^o\d", Capabilities(EFFORT, ("low", "medium", "high"), **_NO_TEMPERATURE,
                                     thinks_by_default=True, cache_read=0.25)),
    # GPT-5.1 and later reason only when asked (default effort "none") and then refuse temperature.
    ("openai", r"^gpt-5\.\d", Capabilities(EFFORT, temperature_with_reasoning=False, cache_read=0.1)),
    ("openai", r"^gpt-5", Capabilities(EFFORT, ("minimal", "low", "medium", "high"), **_NO_TEMPERATURE,
                                       thinks_by_default=True, cache_read=0.1)),
    ("openai", r"^gpt-4\.1", Capabilities(NONE, cache_read=0.25)),
    ("openai", r"^(?:gpt-4|gpt-3\.5|chatgpt-)", Capabilities(NONE, cache_read=0.5)),
    ("openai", r"", Capabilities(EFFORT)),
    # ---- local OpenAI-compatible servers pass what they get to the model's template
    ("openai-compatible", r"", Capabilities(EFFORT)),
    # ---- Gemini: thinking tokens count in maxOutputTokens
    ("gemini", r"gemini-3(?:\.0)?-pro", Capabilities(LEVEL, ("LOW", "HIGH"), thinks_by_default=True,
                                                     cache_read=0.1)),
    ("gemini", r"gemini-3\.\d+-pro", Capabilities(
        LEVEL, ("LOW", "MEDIUM", "HIGH"), thinks_by_default=True, cache_read=0.1)),
    ("gemini", r"gemini-3.*flash", Capabilities(LEVEL, ("MINIMAL", "LOW", "MEDIUM", "HIGH"),
                                                thinks_by_default=True, cache_read=0.1)),
    # A Gemini newer than this table: levels, and only the two every level model takes.
    ("gemini", r"gemini-(?:[3-9]|\d\d)", Capabilities(LEVEL, ("LOW", "HIGH"), thinks_by_default=True,
                                                      cache_read=0.1)),
    ("gemini", r"gemini-2\.5", Capabilities(BUDGET, thinks_by_default=True, cache_read=0.1)),
    ("gemini", r"gemini-(?:1\.|2\.0)", Capabilities(NONE, cache_read=0.25)),
    ("gemini", r"", Capabilities(BUDGET)),
)
_COMPILED = tuple((provider, re.compile(pattern), caps) for provider, pattern, caps in RULES)


@functools.lru_cache(maxsize=256)
def capabilities_for(provider: str, model: str) -> Capabilities:
    """The first row for this provider whose pattern occurs in the model id."""
    model = model.lower().removeprefix("models/")
    for row_provider, pattern, caps in _COMPILED:
        if row_provider == provider and pattern.search(model):
            return caps
    return Capabilities()


def describe(caps: Capabilities) -> str:
    """A short line for the Models panel and `models list --json`."""
    parts = [f"reasoning: {caps.reasoning}" + (f" ({'/'.join(caps.levels).lower()})" if caps.levels else "")]
    if not caps.temperature:
        parts.append("no temperature")
    elif not caps.temperature_with_reasoning:
        parts.append("no temperature while reasoning")
    if caps.thinks_by_default:
        parts.append("always reasons")
    return ", ".join(parts)
