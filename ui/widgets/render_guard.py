"""Bounds on the work one untrusted text may cost before it is shown (no Qt here).

Model output and imported conversations can be hostile or just odd, and two
engines can take seconds or minutes on them (issue 9, items 2 and 7):

- python-markdown: unmatched "[" cost about n² (2,000 took 3.7 s, 10,000
  took 38 s); a list nested 600 deep took 4.4 s and then raised
  RecursionError; a blockquote 500 deep 1.8 s.
- Qt's text layout: a line without a break opportunity is laid out in about
  n² (30,000 characters took 0.22 s, 100,000 took 2.5 s), and a single
  1 MB paragraph 1.3 s, on the GUI thread.

So a text is converted from Markdown only when it passes the cheap, linear
checks below; otherwise it is shown as plain text with a note saying why.
The plain-text form is itself bounded for Qt: lines are cut into blocks of
at most PLAIN_BLOCK_CHARS and every run without a space gets an invisible
break opportunity (U+200B) every PLAIN_RUN characters.
"""

from __future__ import annotations

import html
import re

MAX_MARKDOWN_CHARS = 50_000
"""Longer texts are shown as plain text (a typical answer is 2,000-10,000 characters)."""
MAX_NESTING = 16
"""List / quote levels a line may open (answers use 2-4; 600 raised RecursionError)."""
MAX_RUN = 1_000
"""Characters without whitespace (a URL is a few hundred; longer is a blob, not prose)."""
BRACKET_BUDGET = 100_000
"""Unmatched "[" times the length of their paragraph (the link parser's quadratic work)."""
MAX_HTML_TAGS = 2_000
"""Elements in the converted HTML: Qt parses about 10,000 a second here (a 49 kB soup of []()*_ made
15,000 and took 0.3 s to show); an 8 kB answer has about 200, a long formatted one 2,000."""
MAX_SHOWN_CHARS = 50_000
"""A plain-text form shows at most this much; the note says how much more there is (1 MB took Qt 0.1 s
to parse, and the conversation and the answer are shown together)."""
PLAIN_BLOCK_CHARS = 2_000
PLAIN_RUN = 80
ZWSP = "\u200b"

_PREFIX = re.compile(r"(?:[ \t]*(?:>|[-*+](?=[ \t])|\d{1,9}[.)](?=[ \t])))*[ \t]*")
_MARKER = re.compile(r">|[-*+](?=[ \t])|\d{1,9}[.)](?=[ \t])")
_LONG_RUN = re.compile(r"\S{%d}" % (MAX_RUN + 1))
_PARAGRAPHS = re.compile(r"\n[ \t]*\n")
_BRACKETS = re.compile(r"[\[\]]")
_RUN = re.compile(r"\S{%d,}" % (PLAIN_RUN + 1))


def plain_text_reason(text: str) -> str | None:
    """Why `text` must not go through Markdown (a short phrase for the note), or None when it may.

    Linear in the text's length and cheap (a 1 MB text is refused by its size first).
    """
    if len(text) > MAX_MARKDOWN_CHARS:
        return f"it is very long ({len(text):,} characters)"
    if _LONG_RUN.search(text):
        return f"it has a run of more than {MAX_RUN:,} characters without a space"
    depth = max((_nesting(line) for line in text.split("\n")), default=0)
    if depth > MAX_NESTING:
        return f"it is nested {depth} levels deep"
    for paragraph in _PARAGRAPHS.split(text):
        if "[" in paragraph and _unmatched_brackets(paragraph) * len(paragraph) > BRACKET_BUDGET:
            return "it has too many unmatched “[”"
    return None


def plain_text_html(text: str) -> str:
    """`text` as safe HTML showing it literally, cheap for Qt to lay out.

    One <pre> element (Qt parses an element's style for each element: a <p> per
    line of a 49 kB text took 107 ms, one <pre> 35 ms); each line is a block of
    its own, long lines are cut into blocks, long runs get break opportunities.
    """
    lines = []
    for line in text.split("\n"):
        for block in _blocks(line):
            if len(block) > PLAIN_RUN:  # break before escaping: a break must not split "&amp;"
                block = _RUN.sub(_break_run, block)
            lines.append(block)
    return ('<pre style="white-space: pre-wrap; background-color: transparent; padding: 0px;">'
            + html.escape("\n".join(lines), quote=False) + "</pre>")


def too_much_markup(converted: str) -> str | None:
    """Why converted HTML is too costly for Qt to show, or None."""
    tags = converted.count("<")
    return f"it has too much formatting to show quickly ({tags:,} elements)" if tags > MAX_HTML_TAGS else None


def note_html(text: str) -> str:
    """A muted note above a text shown in a fallback form (CSS class `note` of the Markdown view)."""
    return f'<p class="note">{html.escape(text)}</p>'


# -- private ---------------------------------------------------------------------------------
def _nesting(line: str) -> int:
    prefix = _PREFIX.match(line).group(0)
    if not prefix:
        return 0
    indent = len(prefix.expandtabs(4)) - len(prefix.expandtabs(4).lstrip(" "))
    return len(_MARKER.findall(prefix)) + indent // 2


def _unmatched_brackets(paragraph: str) -> int:
    open_count = unmatched = 0
    for match in _BRACKETS.finditer(paragraph):
        if match.group(0) == "[":
            open_count += 1
            unmatched = max(unmatched, open_count)
        elif open_count:
            open_count -= 1
    return max(unmatched, open_count)


def _blocks(line: str) -> list[str]:
    """A line cut into pieces of at most PLAIN_BLOCK_CHARS, at a space where there is one."""
    blocks = []
    while len(line) > PLAIN_BLOCK_CHARS:
        cut = line.rfind(" ", PLAIN_BLOCK_CHARS // 2, PLAIN_BLOCK_CHARS)
        cut = cut + 1 if cut > 0 else PLAIN_BLOCK_CHARS
        blocks.append(line[:cut])
        line = line[cut:]
    blocks.append(line)
    return blocks


def _break_run(match: re.Match) -> str:
    run = match.group(0)
    return ZWSP.join(run[i:i + PLAIN_RUN] for i in range(0, len(run), PLAIN_RUN))
