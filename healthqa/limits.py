"""The limits on what a workspace holds: one set, defined here, checked everywhere data comes in.

A clinician's offline work travels in a bundle, and a bundle comes back from elsewhere and is
never trusted, so its reader refuses rows over these limits. If anything could enter a
workspace beyond them, a bundle export would carry it and the import would refuse the bundle,
stranding the clinician's grades. So the same limits are checked:

- where questions come in (the domain models: HealthBench and meta-eval files, the rubric
  editor, a question saved from the Ask panel; `store.upsert_question` for the stored sizes),
- where answers come in (`store.add_answer`; a run's answer is first fitted, see `fit_answer`),
- at bundle export (every row, so that no file is written that the import would refuse),
- at bundle import (every row, again, as read).

The numbers are generous: HealthBench's longest conversation is ~60,000 characters, its longest
criterion ~3,200, and a model's answer rarely tops 100,000 characters.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from .errors import HealthQAError

MAX_ANSWER_CHARS = 1_000_000
MAX_CONVERSATION_CHARS = 4_000_000  # a conversation as stored (images as references), and its search text
MAX_COMMENT_CHARS = 100_000  # explanations, comments, tag lists, canaries, errors
MAX_CRITERION_CHARS = 10_000
MAX_FLAG_COMMENT = 10_000  # a note on a criterion, not a document
MAX_CRITERIA = 10_000  # criteria in one rubric
MAX_TAGS = 100  # tags on one question or criterion
MAX_NAME_CHARS = 200  # names and labels: prompt_id, model, set, rater, tag, finish reason
MAX_ATTACHMENT_BYTES = 32 * 2**20  # one image
MAX_CLOCK_SKEW = timedelta(days=1)  # how far ahead of ours another machine's clock may be


class LimitError(HealthQAError, ValueError):
    """A value beyond one of the limits; `field` names it, the message says which limit."""

    def __init__(self, field: str, message: str):
        self.field, self.reason = field, message
        super().__init__(f"{field}: {message}")


# -- checks, as pydantic validators and as types ---------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f]")
_UNSAFE_IN_NAMES = re.compile(r"[\x00-\x1f\x7f/\\]|\.\.")


def no_controls(value: str) -> str:
    """Names and labels are one line of text: a tab or line break would break exports and lists."""
    if _CONTROL.search(value):
        raise ValueError("control characters (a tab, a line break...) are not allowed here")
    return value


def plain_name(value: str) -> str:
    """A name that may end up in a file name or path: nothing that could climb out of a folder."""
    if _UNSAFE_IN_NAMES.search(value):
        raise ValueError("names may not hold path separators, '..' or control characters")
    return value


IMAGE_MIME = r"image/[\w.+-]{1,50}"  # an image's media type as stored (attachments.mime)


def image_size(url: str) -> str:
    """An inline image no larger than MAX_ATTACHMENT_BYTES once decoded (known from the base64 length),
    with a media type an attachment may have."""
    header, _, data = url.partition(",")
    if header.endswith(";base64"):
        if not re.fullmatch(IMAGE_MIME, header.removeprefix("data:").removesuffix(";base64")):
            raise ValueError("image media type must look like image/png (at most 50 characters after image/)")
        size = len(data) * 3 // 4 - data[-2:].count("=")
        if size > MAX_ATTACHMENT_BYTES:
            raise ValueError(f"image is {size / 2**20:.1f} MiB; the limit is {MAX_ATTACHMENT_BYTES // 2**20} MiB")
    return url


def _at_most(limit: int):
    return StringConstraints(max_length=limit)


Label = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_CHARS), AfterValidator(no_controls)]


def _tags(tags: list[str]) -> list[str]:
    # One check per list, not per tag: a HealthBench file holds ~100,000 tags.
    if tags and (max(map(len, tags)) > MAX_NAME_CHARS or _CONTROL.search("".join(tags))):
        bad = next(i for i, t in enumerate(tags) if len(t) > MAX_NAME_CHARS or _CONTROL.search(t))
        problem = (f"is longer than {MAX_NAME_CHARS} characters" if len(tags[bad]) > MAX_NAME_CHARS
                   else "holds control characters (a tab, a line break...)")
        raise ValueError(f"tag {bad + 1} {problem}")
    return tags


Tags = Annotated[list[str], Field(max_length=MAX_TAGS), AfterValidator(_tags)]
PlainName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_CHARS), AfterValidator(plain_name)]
Comment = Annotated[str, _at_most(MAX_COMMENT_CHARS)]
AnswerText = Annotated[str, _at_most(MAX_ANSWER_CHARS)]
CriterionText = Annotated[str, _at_most(MAX_CRITERION_CHARS)]
ConversationText = Annotated[str, _at_most(MAX_CONVERSATION_CHARS)]


def check(value, kind, field: str) -> None:
    """Raise LimitError (naming `field`) unless `value` passes `kind`, one of the types above."""
    adapter = _ADAPTERS.get(id(kind))
    if adapter is None:
        adapter = _ADAPTERS[id(kind)] = TypeAdapter(kind)
    try:
        adapter.validate_python(value)
    except ValidationError as exc:
        raise LimitError(field, exc.errors()[0]["msg"].removeprefix("Value error, ")) from None


_ADAPTERS: dict[int, TypeAdapter] = {}


# -- answers -----------------------------------------------------------------------------------

class _StoredAnswer(BaseModel):
    """What an answer row may hold (the bundle's answer rows are held to the same)."""

    model_config = ConfigDict(extra="ignore")
    text: AnswerText
    model: Label
    finish_reason: Label | None = None
    response_id: Label | None = None
    error: Comment | None = None


def check_answer(answer) -> None:
    """Raise LimitError unless `answer` (a domain Answer) fits the limits."""
    try:
        _StoredAnswer.model_validate(answer, from_attributes=True)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise LimitError(str(error["loc"][0]), error["msg"].removeprefix("Value error, ")) from None


def one_line(value: str | None, limit: int = MAX_NAME_CHARS) -> str | None:
    """A label made to fit rather than refused: control characters become spaces, cut to `limit`
    (None stays None; nothing left is None). For a server's labels, and for old workspaces' names."""
    if value is None:
        return None
    return "".join(c if ord(c) >= 32 else " " for c in value)[:limit] or None


def fit_answer(answer, *, cut_reason: str):
    """A model's answer made to fit, for a run: the call is made and paid for, so nothing is refused.
    A text over the limit keeps its first MAX_ANSWER_CHARS characters and is marked as cut off
    (`cut_reason`, the finish reason of a length cut-off); labels from the server become one line."""
    update = {"finish_reason": one_line(answer.finish_reason), "response_id": one_line(answer.response_id),
              "model": one_line(answer.model) or "unknown"}
    if answer.error is not None:
        update["error"] = answer.error[:MAX_COMMENT_CHARS]
    if len(answer.text) > MAX_ANSWER_CHARS:
        update.update(text=answer.text[:MAX_ANSWER_CHARS], finish_reason=cut_reason)
    return answer.model_copy(update=update)


# -- time stamps -------------------------------------------------------------------------------

def latest_believable(now: datetime | None = None) -> datetime:
    """The latest time another machine's clock may plausibly show now."""
    return (now or datetime.now(timezone.utc)) + MAX_CLOCK_SKEW


def is_from_the_future(stamp: str, now: datetime | None = None) -> bool:
    """True for an ISO time (with a zone) later than any believable clock: such a stamp would win
    every later "which is newer" comparison, so it must not be stored as it is."""
    return datetime.fromisoformat(stamp) > latest_believable(now)
