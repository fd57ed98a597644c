"""Domain models shared by the core, the CLI and the desktop app.

Pydantic models validate what enters the workspace (imports, the rubric
editor, bundles); the store hands plain rows back for speed and the app
wraps them in these models where it needs validation.
"""

from __future__ import annotations

import enum
import os
import time
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .limits import MAX_CRITERIA, Comment, CriterionText, Label, Tags, image_size


def new_id() -> str:
    """A UUIDv7 as text: unique across machines, so workspaces and bundles
    merge without clashes, and time-ordered, so inserts append to the
    primary-key index instead of scattering over it (2x faster imports)."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64 | (0b10 << 62) | (rand & _LOW62)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_LOW62 = (1 << 62) - 1


class Verdict(str, enum.Enum):
    MET = "met"
    NOT_MET = "not_met"
    CANNOT_JUDGE = "cannot_judge"

    @classmethod
    def from_criteria_met(cls, value: bool | None) -> "Verdict | None":
        """HealthBench's `criteria_met` (true / false / null) as a verdict."""
        if value is None:
            return None
        return cls.MET if value else cls.NOT_MET

    def as_criteria_met(self) -> bool | None:
        return {Verdict.MET: True, Verdict.NOT_MET: False}.get(self)


class RaterKind(str, enum.Enum):
    CLINICIAN = "clinician"
    MODEL = "model"


class ReasoningMode(str, enum.Enum):
    OFF = "off"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


PROVIDERS = ("openai", "anthropic", "gemini", "openai-compatible")

# Finish reasons (as the provider adapters normalise them) of an answer that is not
# the model's whole reply: cut off at the output cap, or stopped by a safety filter or
# classifier. Grading and Results mark them; `score --exclude-truncated` leaves them out.
INCOMPLETE_ANSWERS = {"length": "Cut off", "content_filter": "Filtered", "refusal": "Refused"}


def incomplete_label(finish_reason: str | None) -> str | None:
    """"Cut off" / "Filtered" / "Refused" for an incomplete answer, else None."""
    return INCOMPLETE_ANSWERS.get(finish_reason or "")
ROLES = ("system", "developer", "user", "assistant")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TextPart(_Strict):
    type: Literal["text"] = "text"
    text: str


class ImageURL(_Strict):
    url: str  # a data URL: data:image/png;base64,...
    detail: str | None = None

    @field_validator("url")
    @classmethod
    def _data_url(cls, url: str) -> str:
        # Remote images would be fetched when rendered; only inline data is allowed.
        if not url.startswith("data:image/"):
            raise ValueError("images must be data URLs (data:image/...;base64,...)")
        return image_size(url)


class ImagePart(_Strict):
    type: Literal["image_url"] = "image_url"
    image_url: ImageURL


Part = Annotated[Union[TextPart, ImagePart], Field(discriminator="type")]


class Message(_Strict):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[Part]

    @property
    def text(self) -> str:
        """The message's text, image parts left out."""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(p.text for p in self.content if isinstance(p, TextPart))

    @property
    def images(self) -> list[str]:
        if isinstance(self.content, str):
            return []
        return [p.image_url.url for p in self.content if isinstance(p, ImagePart)]


class Criterion(_Strict):
    criterion: CriterionText = Field(min_length=1)
    points: int
    tags: Tags = Field(default_factory=list)

    @field_validator("points", mode="before")
    @classmethod
    def _integer(cls, v):
        # HealthBench stores points as JSON numbers; 5.0 is fine, 5.5 or "5" is not.
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError("points must be an integer")
        if isinstance(v, float):
            if not v.is_integer():
                raise ValueError("points must be an integer")
            v = int(v)
        return v

    @field_validator("points")
    @classmethod
    def _range(cls, v: int) -> int:
        if v == 0 or not -10 <= v <= 10:
            raise ValueError("points must be a nonzero integer from -10 to 10")
        return v

    @field_validator("criterion")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("criterion text is empty")
        return v

    @property
    def axis(self) -> str | None:
        return next((t.split(":", 1)[1] for t in self.tags if t.startswith("axis:")), None)


class IdealCompletions(BaseModel):
    model_config = ConfigDict(extra="allow")
    ideal_completion: str | None = None
    ideal_completions_group: str | None = None
    ideal_completions_ref_completions: list[str] = Field(default_factory=list)


class Question(_Strict):
    prompt_id: Label
    prompt: list[Message] = Field(min_length=1)
    rubrics: list[Criterion] = Field(min_length=1, max_length=MAX_CRITERIA)
    example_tags: Tags = Field(default_factory=list)
    ideal_completions_data: IdealCompletions | None = None
    canary: Comment | None = None

    @field_validator("prompt")
    @classmethod
    def _ends_with_user(cls, prompt: list[Message]) -> list[Message]:
        if prompt[-1].role != "user":
            raise ValueError("the conversation must end with a user turn")
        return prompt

    @property
    def theme(self) -> str | None:
        return next((t.split(":", 1)[1] for t in self.example_tags if t.startswith("theme:")), None)


class Rater(_Strict):
    name: str = Field(min_length=1)
    kind: RaterKind = RaterKind.CLINICIAN
    role: str | None = None
    specialty: str | None = None


class ModelConfig(BaseModel):
    """Where and how to call a model. Holds no key: only where to find one."""

    model_config = ConfigDict(extra="forbid")
    name: Label  # answers are labelled with it
    provider: Literal["openai", "anthropic", "gemini", "openai-compatible"]
    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key_env: str | None = None
    use_keyring: bool = False
    reasoning: ReasoningMode = ReasoningMode.OFF
    temperature: float | None = None
    max_output_tokens: int | None = Field(default=None, gt=0)
    system_prompt: str | None = None
    price_in_per_mtok: float | None = Field(default=None, ge=0)
    price_out_per_mtok: float | None = Field(default=None, ge=0)
    # Cached input (cache reads) and Anthropic cache writes; unset: the provider's usual
    # fraction of the input price for this model family (providers/capabilities.py).
    price_cached_in_per_mtok: float | None = Field(default=None, ge=0)
    price_cache_write_per_mtok: float | None = Field(default=None, ge=0)
    # Read timeout in seconds; unset: 600 s for reasoning calls (as the SDKs), 120 s otherwise.
    timeout: float | None = Field(default=None, gt=0)
    id: str = Field(default_factory=new_id)
    # What servers taught us this model does not accept (capability overrides,
    # see providers/capabilities.py) and a note per change for the user. Kept in
    # its own column of model_configs, not in the config JSON: editing the
    # config must not forget it, and changing the model id must.
    learned: dict[str, Any] = Field(default_factory=dict, exclude=True)
    learned_notes: list[str] = Field(default_factory=list, exclude=True)


class Usage(BaseModel):
    input_tokens: int | None = None  # all input, cached or not
    output_tokens: int | None = None  # including reasoning
    reasoning_tokens: int | None = None
    cached_input_tokens: int | None = None  # part of input_tokens read from the provider's cache
    cache_write_tokens: int | None = None  # part of input_tokens written to the cache (Anthropic)

    def plus(self, other: "Usage") -> "Usage":
        """Both calls' counts summed (an unknown count adds nothing)."""
        return Usage(**{k: (getattr(self, k) or 0) + (getattr(other, k) or 0) for k in Usage.model_fields})


class Answer(BaseModel):
    text: str
    model: str
    finish_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    latency_ms: float | None = None
    response_id: str | None = None
    error: str | None = None
