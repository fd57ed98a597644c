"""Long rubric criteria made readable: text shared by several criteria once, long parts collapsed (no Qt).

HealthBench's consensus criteria are templated instructions of up to 3,200
characters; the criteria of one question repeat the same template around a
short part of their own, so in Grading one criterion filled the rubric pane
(issue 9 item 16). `split_shared` finds the template (the longest beginning,
and then end, that two or more criteria share, cut at a sentence or line
boundary) so the checklist shows it once above the list and each criterion
shows only what is its own; `collapsed` gives the first lines of a long text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MIN_SHARED_CHARS = 200
"""Shorter common text is not a template (e.g. "Asks whether the person ..." in two criteria)."""
COLLAPSED_LINES = 3
COLLAPSED_CHARS = 240
"""A part longer than this (or than COLLAPSED_LINES lines) is shown collapsed, the rest a key press away."""

_BOUNDARY = re.compile(r"(?<=[.!?])\s+|\n")  # where shared text may end: after a sentence or a line


@dataclass
class SharedText:
    """Text several criteria share: `prefix` (and `suffix`) of the criteria at `members` (indexes)."""

    prefix: str
    suffix: str = ""
    members: list[int] = field(default_factory=list)

    def text(self) -> str:
        """What to show once: the shared beginning, and the shared end after a marker."""
        if not self.suffix:
            return self.prefix.strip()
        return f"{self.prefix.strip()}\n\n[… each criterion's own part …]\n\n{self.suffix.strip()}"


def split_shared(texts: list[str]) -> tuple[SharedText | None, list[str]]:
    """(the shared text or None, what each criterion shows of its own: its distinct part, or all of it)."""
    prefix, members = _best_prefix(texts)
    if not members:
        return None, list(texts)
    rests = [texts[i][len(prefix):] for i in members]
    suffix = _common_suffix(rests)
    parts = list(texts)
    for i, rest in zip(members, rests):
        own = rest[:len(rest) - len(suffix)] if suffix else rest
        parts[i] = own.strip() or rest.strip()
    return SharedText(prefix, suffix, members), parts


def collapsed(text: str) -> str | None:
    """The first lines of `text` followed by "…", or None when it is short enough to show whole."""
    lines = text.strip().split("\n")
    if len(text) <= COLLAPSED_CHARS and len(lines) <= COLLAPSED_LINES:
        return None
    head = "\n".join(lines[:COLLAPSED_LINES])[:COLLAPSED_CHARS]
    if len(head) == COLLAPSED_CHARS and " " in head[COLLAPSED_CHARS // 2:]:
        head = head[:head.rindex(" ")]  # end on a whole word
    return head.rstrip(" ,;:") + " …"


# -- private ----------------------------------------------------------------------------------
def _best_prefix(texts: list[str]) -> tuple[str, list[int]]:
    """The longest boundary-cut beginning of at least MIN_SHARED_CHARS shared by two or more texts."""
    best = ""
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            if len(texts[i]) < MIN_SHARED_CHARS or len(texts[j]) < MIN_SHARED_CHARS:
                continue
            common = _cut_at_boundary(_common_prefix(texts[i], texts[j]), whole=texts[i])
            if len(common) > len(best):
                best = common
    if len(best) < MIN_SHARED_CHARS:
        return "", []
    return best, [i for i, t in enumerate(texts) if t.startswith(best)]


def _common_prefix(a: str, b: str) -> str:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return a[:n]


def _cut_at_boundary(common: str, *, whole: str) -> str:
    """`common` shortened to its last sentence or line end (the whole text when it ends there)."""
    if len(common) == len(whole):
        return common
    ends = [m.end() for m in _BOUNDARY.finditer(common)]
    return common[:ends[-1]] if ends else ""


def _common_suffix(texts: list[str]) -> str:
    """The longest end all `texts` share, from a sentence or line start within it, if long enough."""
    common = texts[0][::-1]
    for t in texts[1:]:
        common = _common_prefix(common, t[::-1])
    suffix = common[::-1]
    if not all(t[:len(t) - len(suffix)].endswith(("\n", " ")) for t in texts):
        first = _BOUNDARY.search(suffix)  # it starts mid-sentence: from the next sentence on
        suffix = suffix[first.end():] if first else ""
    long_enough = len(suffix.strip()) >= MIN_SHARED_CHARS // 2
    return suffix if long_enough and all(len(t) > len(suffix) for t in texts) else ""
