"""Small helpers shared by the adapters: data URLs and server-sent events."""

from __future__ import annotations

from typing import AsyncIterator, NamedTuple

import httpx


class InlineImage(NamedTuple):
    media_type: str
    data: str  # base64, without the data: prefix


def split_data_url(url: str) -> InlineImage:
    """"data:image/png;base64,AAAA" -> ("image/png", "AAAA")."""
    header, sep, data = url.partition(",")
    if not sep or not header.startswith("data:") or not header.endswith(";base64"):
        raise ValueError("image is not a base64 data URL")
    return InlineImage(header[5:-7] or "image/png", data)


class SSEEvent(NamedTuple):
    event: str | None
    data: str


async def iter_sse(response: httpx.Response) -> AsyncIterator[SSEEvent]:
    """Server-sent events from a streaming response: one per blank-line-ended block."""
    event: str | None = None
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield SSEEvent(event, "\n".join(data))
            event, data = None, []
        elif line.startswith("data:"):
            data.append(line[6:] if line[5:6] == " " else line[5:])  # one space is part of the syntax
        elif line.startswith("event:"):
            event = line[6:].strip()
        # comments (":...") and id:/retry: fields carry nothing we use
    if data:  # a stream may end without the final blank line
        yield SSEEvent(event, "\n".join(data))
