"""Reasoning modes, a run setting: how hard a model works on each question.

- `instant`: no reasoning (the config with its reasoning turned off);
- `thinking`: the model config's own reasoning setting;
- `contemplating`: K drafts in thinking mode, written in parallel, then one
  synthesis call (the same model, or a chosen aggregator model config) that
  reads the question and the drafts and writes the answer (contemplating.py).

A run without an explicit mode runs as the config says, as runs always did:
thinking when the config has a reasoning effort, instant when it has none.
"""

from __future__ import annotations

from ..domain import ModelConfig, ReasoningMode
from .status import RunError

INSTANT, THINKING, CONTEMPLATING = "instant", "thinking", "contemplating"
MODES = (INSTANT, THINKING, CONTEMPLATING)
DEFAULT_DRAFTS = 4
MAX_DRAFTS = 16  # more drafts than this overflow most models' context in the synthesis


def default_mode(config: ModelConfig) -> str:
    """The mode a run of this config has when none is chosen (what the config's reasoning setting means)."""
    return INSTANT if config.reasoning == ReasoningMode.OFF else THINKING


def config_for_mode(config: ModelConfig, mode: str) -> ModelConfig:
    """The config the calls of a run in `mode` use (drafts, for contemplating)."""
    if mode == INSTANT and config.reasoning != ReasoningMode.OFF:
        return config.model_copy(update={"reasoning": ReasoningMode.OFF})
    return config


def answer_label(config: ModelConfig, mode: str | None) -> str:
    """The model label a run's answers carry: the config's name in its default
    mode (as before modes existed), "<name> (<mode>)" otherwise, so Results and
    scores keep one model's modes apart."""
    if mode is None or mode == default_mode(config):
        return config.name
    return f"{config.name} ({mode})"


def check_mode(config: ModelConfig, mode: str, drafts: int | None, aggregator: ModelConfig | None) -> int | None:
    """Raise RunError (one line saying what to change) for a mode the config
    cannot run; return the number of drafts (None unless contemplating)."""
    if mode not in MODES:
        raise RunError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode != CONTEMPLATING:
        if drafts is not None or aggregator is not None:
            raise RunError("drafts and an aggregator go with the contemplating mode only")
        if mode == THINKING and config.reasoning == ReasoningMode.OFF:
            raise RunError(f"model config {config.name!r} has reasoning off, so it has no thinking mode; "
                           "give it a reasoning effort (models add --reasoning low|medium|high) or use instant")
        return None
    drafts = DEFAULT_DRAFTS if drafts is None else drafts
    if not 1 <= drafts <= MAX_DRAFTS:
        raise RunError(f"drafts must be between 1 and {MAX_DRAFTS} (got {drafts})")
    return drafts
