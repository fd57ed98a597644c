"""Conversations and answers rendered from Markdown, safely.

Model output (and imported question text) is untrusted: it must not load
anything from the network, run anything, or inject markup.

- Raw HTML in the Markdown is escaped, never passed through: the
  Markdown converter runs without its raw-HTML block and inline rules.
- Images written in Markdown (``![x](https://…)``) become a text note; the
  only images shown are the conversation's own attachments, which we hand
  to the document ourselves.
- `SafeTextBrowser.loadResource` refuses every other resource (http, file,
  qrc, CSS backgrounds…) and records the refusal; links are not followed.
- Work is bounded (render_guard.py): a text too long, too deep or too odd
  for the converter or for Qt's layout is shown as plain text with a note,
  and so is one the converter fails on (e.g. RecursionError). The render_*
  functions touch no Qt object, so panels run them on a worker thread.
"""

from __future__ import annotations

import base64
import html
import logging
import re
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import markdown
from markdown.extensions import Extension
from markdown.preprocessors import Preprocessor
from markdown.treeprocessors import Treeprocessor
from PySide6.QtCore import QUrl
from PySide6.QtGui import QFont, QImage, QTextDocument
from PySide6.QtWidgets import QTextBrowser, QWidget

from ..look import THEME
from .render_guard import MAX_SHOWN_CHARS, note_html, plain_text_html, plain_text_reason, too_much_markup

log = logging.getLogger(__name__)

IMAGE_SCHEME = "healthqa-image"
BUBBLE_MAX_CHARS = 6_000  # HTML inside a message's box; longer goes without the box (see message_bubble)
MAX_IMAGE_WIDTH = 460
_DATA_URL = re.compile(r"^data:(image/[\w.+-]+);base64,(.*)$", re.S)
ROLE_LABELS = {"user": "User", "assistant": "Assistant (earlier turn)", "system": "System prompt",
               "developer": "Developer prompt"}

DOCUMENT_CSS = f"""
p {{ margin-top: 0px; margin-bottom: 8px; line-height: 135%; }}
h1 {{ font-size: 15pt; margin: 10px 0 6px 0; }}
h2 {{ font-size: 13pt; margin: 10px 0 6px 0; }}
h3, h4 {{ font-size: 11pt; margin: 8px 0 4px 0; }}
ul, ol {{ margin-top: 0px; margin-bottom: 8px; }}
li {{ margin-bottom: 3px; }}
code {{ font-family: 'DejaVu Sans Mono', monospace; background-color: {THEME['chip']}; }}
pre {{ font-family: 'DejaVu Sans Mono', monospace; background-color: {THEME['chip']}; padding: 6px; }}
blockquote {{ color: {THEME['muted']}; margin-left: 12px; }}
table {{ margin-bottom: 8px; }}
th {{ padding: 3px 12px 3px 0px; text-align: left; border-bottom: 1px solid {THEME['border']}; }}
td {{ padding: 3px 12px 3px 0px; }}
.role {{ color: {THEME['muted']}; font-weight: 600; font-size: 9pt; }}
.note {{ color: {THEME['muted']}; font-style: italic; }}
"""


class _NoRawHtml(Extension):
    """Treat raw HTML as text: it is escaped on output instead of passed through."""

    def extendMarkdown(self, md) -> None:  # noqa: N802 - markdown API
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")


_LIST_ITEM = re.compile(r"^\s{0,3}([-*+]|\d{1,3}[.)])\s+\S")
_FENCE = re.compile(r"^\s*(```|~~~)")


class _ListsAfterText(Preprocessor):
    """Start a list even without a blank line before it, as chat models write them."""

    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        fenced = False
        for line in lines:
            if _FENCE.match(line):
                fenced = not fenced
            elif (not fenced and _LIST_ITEM.match(line) and out and out[-1].strip()
                  and not _LIST_ITEM.match(out[-1]) and not out[-1].startswith((" ", "\t"))):
                out.append("")
            out.append(line)
        return out


class _ImagesAsText(Treeprocessor):
    """A Markdown image in untrusted text becomes a note; we never fetch it."""

    def run(self, root: ET.Element) -> None:
        for parent in root.iter():
            for i, child in enumerate(list(parent)):
                if child.tag == "img":
                    note = ET.Element("em")
                    note.text = f"[image not shown: {child.get('alt') or 'no description'}]"
                    note.tail = child.tail
                    parent.remove(child)
                    parent.insert(i, note)


class _ChatMarkdown(Extension):
    def extendMarkdown(self, md) -> None:  # noqa: N802 - markdown API
        md.treeprocessors.register(_ImagesAsText(md), "images_as_text", 0)
        md.preprocessors.register(_ListsAfterText(md), "lists_after_text", 25)


_local = threading.local()  # a Markdown converter keeps state while converting: one per thread


def _convert(text: str) -> str:
    converter = getattr(_local, "converter", None)
    if converter is None:
        converter = _local.converter = markdown.Markdown(
            extensions=[_NoRawHtml(), _ChatMarkdown(), "fenced_code", "tables", "sane_lists", "nl2br"])
    converter.reset()
    return converter.convert(text)


def markdown_html(text: str) -> str:
    """Untrusted Markdown as HTML with raw HTML escaped and images removed; any thread.

    Past the render guard's limits, or when the converter fails, the text is
    shown literally instead, under a note that says so.
    """
    reason = plain_text_reason(text)
    if reason is None:
        try:
            converted = _convert(text)
            reason = too_much_markup(converted)
            if reason is None:
                return converted
        except Exception as exc:  # noqa: BLE001 - RecursionError and the like: show the text anyway
            log.warning("Markdown conversion failed (%s): showing plain text", type(exc).__name__)
            reason = f"it could not be formatted ({type(exc).__name__})"
    return plain_html(text, f"Shown as plain text: {reason}.")


def plain_html(text: str, note: str) -> str:
    """`text` shown literally (bounded for Qt's layout) under a note saying why."""
    if len(text) > MAX_SHOWN_CHARS:
        note += f" Only its first {MAX_SHOWN_CHARS:,} of {len(text):,} characters are shown."
        text = text[:MAX_SHOWN_CHARS]
    return note_html(note) + plain_text_html(text)


@dataclass
class RenderedDocument:
    html: str
    images: dict[str, bytes] = field(default_factory=dict)  # resource name -> image bytes


def _message_parts(message: dict) -> tuple[str, list[str]]:
    content = message.get("content")
    if isinstance(content, str):
        return content, []
    texts = [p.get("text", "") for p in content if p.get("type") == "text"]
    urls = [p["image_url"]["url"] for p in content if p.get("type") == "image_url"]
    return "\n\n".join(texts), urls


def message_bubble(inner: str, *, background: str, border: str | None = None) -> str:
    """One message of a conversation as HTML: `inner` in a full-width box on `background`.

    `inner` must already be safe HTML (from `markdown_html`, or escaped); a `border`
    colour draws a 1 px frame. A one-cell table, because QTextDocument's HTML subset
    draws padding and borders only on tables. Used for the turns here and by views
    that show an answer after a conversation, so the answer looks like a turn.

    Qt lays out a table cell all at once (a long text elsewhere is laid out as it
    scrolls into view): a list nested 2,000 deep shown as plain text took 7 s
    inside a bubble, an ordinary 8 kB answer 45 ms more than without. So a long
    `inner` is shown without the box, between rules.
    """
    if len(inner) > BUBBLE_MAX_CHARS:
        return f"<hr>{inner}<hr><p></p>"
    frame = (f' border="1" style="border-collapse: collapse; border-color:{border}; border-style:solid;"'
             if border else ' border="0"')
    return (f'<table width="100%" cellspacing="0" cellpadding="12"{frame} bgcolor="{background}">'
            f"<tr><td>{inner}</td></tr></table><p></p>")


def render_conversation(messages: list[dict], *, reference: str | None = None) -> RenderedDocument:
    """The conversation's turns (images from its attachments), then optionally a reference answer."""
    doc = RenderedDocument("")
    parts: list[str] = []
    for message in messages:
        text, urls = _message_parts(message)
        body = markdown_html(text)
        for url in urls:
            match = _DATA_URL.match(url)
            if not match:
                body += '<p class="note">[image not shown: not an attachment]</p>'
                continue
            name = f"{IMAGE_SCHEME}:{len(doc.images) + 1}"
            doc.images[name] = base64.b64decode(match.group(2))
            body += f'<p><img src="{name}"></p>'
        role = message.get("role", "user")
        label = html.escape(ROLE_LABELS.get(role, role.title()))
        background = THEME["window"] if role == "user" else THEME["surface"]
        parts.append(message_bubble(f'<p class="role">{label.upper()}</p>{body}', background=background,
                                    border=None if role == "user" else THEME["border"]))
    if reference:
        parts.append(message_bubble(
            f'<p class="role">REFERENCE ANSWER (FROM THE QUESTION SET)</p>{markdown_html(reference)}',
            background=THEME["zebra"], border=THEME["border"]))
    doc.html = "".join(parts)
    return doc


def render_answer(text: str) -> RenderedDocument:
    """An answer to grade: untrusted Markdown, nothing else."""
    return RenderedDocument(markdown_html(text))


def plain_conversation(messages: list[dict]) -> RenderedDocument:
    """The conversation as plain text only (the last resort when showing it formatted failed)."""
    parts = []
    for message in messages:
        text, _ = _message_parts(message)
        role = message.get("role", "user")
        parts.append(f'<p class="role">{html.escape(ROLE_LABELS.get(role, role.title())).upper()}</p>'
                     + plain_text_html(text[:MAX_SHOWN_CHARS]))
    return RenderedDocument(note_html("Shown as plain text: it could not be shown formatted.") + "".join(parts))


class SafeTextBrowser(QTextBrowser):
    """A read-only rich-text view that loads no remote resource and follows no link."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setReadOnly(True)
        self.document().setDefaultStyleSheet(DOCUMENT_CSS)
        self.document().setDocumentMargin(10)
        font = QFont(self.font())
        font.setPointSizeF(max(font.pointSizeF(), 11.0))  # reading text a little larger than the chrome
        self.setFont(font)
        self._images: set[str] = set()
        self.refused: list[str] = []  # every resource we declined to load (tests read it)

    def show_document(self, doc: RenderedDocument) -> None:
        self.clear()
        document = self.document()
        self._images = set()
        for name, data in doc.images.items():
            image = QImage.fromData(data)
            if image.isNull():
                continue
            if image.width() > MAX_IMAGE_WIDTH:
                image = image.scaledToWidth(MAX_IMAGE_WIDTH)
            document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), image)
            self._images.add(name)
        self.setHtml(doc.html)

    def loadResource(self, kind: int, url: QUrl):  # noqa: N802 - Qt override
        # Our attachments were added to the document up front, so Qt finds them without
        # asking; anything that reaches here is something else, and is refused.
        self.refused.append(url.toString())
        return None
