"""Walking one large JSON document member by member.

simple-evals' `_allresults.json` and Inspect's `.json` logs hold thousands of
examples in one object, next to copies of the same text (`htmls`, `convos`,
`events`) that an import never needs. `json.load` would build all of it at
once; a `Cursor` walks the text instead, decoding one member or one array
element at a time with the standard library's own decoder
(`JSONDecoder.raw_decode`), so the peak is the file's text plus one element.

    cursor = Cursor(text)
    for key in cursor.members():          # the top-level object
        if key == "metadata":
            for key2 in cursor.members():
                ...
        else:
            cursor.skip()                 # every yielded key's value must be consumed
"""

from __future__ import annotations

import json
import re
from typing import Iterator

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class JsonShapeError(ValueError):
    """Text that is not the JSON expected; the message says where (line and column)."""


class Cursor:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def where(self) -> str:
        line = self.text.count("\n", 0, self.pos) + 1
        column = self.pos - (self.text.rfind("\n", 0, self.pos) + 1) + 1
        return f"line {line} column {column}"

    def peek(self) -> str:
        self.pos = _WS.match(self.text, self.pos).end()
        if self.pos >= len(self.text):
            raise JsonShapeError(f"the file ends at {self.where()} before the JSON is complete (truncated?)")
        return self.text[self.pos]

    def _expect(self, char: str) -> None:
        if self.peek() != char:
            raise JsonShapeError(f"expected {char!r} at {self.where()}, found {self.text[self.pos]!r}")
        self.pos += 1

    def value(self):
        """Decode the next value whole."""
        self.peek()
        try:
            value, self.pos = _DECODER.raw_decode(self.text, self.pos)
        except json.JSONDecodeError as exc:
            self.pos = exc.pos
            if exc.pos >= len(self.text) or "Unterminated" in exc.msg:
                raise JsonShapeError(f"the file ends at {self.where()} before the JSON is complete "
                                     "(truncated?)") from None
            raise JsonShapeError(f"invalid JSON at {self.where()} ({exc.msg})") from None
        except RecursionError:
            raise JsonShapeError(f"JSON nested too deeply at {self.where()}") from None
        return value

    skip = value  # the value is decoded and dropped: one member's worth of memory at most

    def kind(self) -> str:
        """'object', 'array' or 'value' for what comes next."""
        char = self.peek()
        return {"{": "object", "[": "array"}.get(char, "value")

    def members(self) -> Iterator[str]:
        """The keys of the object that comes next; consume each key's value before the next."""
        self._expect("{")
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            if self.peek() != '"':
                raise JsonShapeError(f"expected a key at {self.where()}")
            key = self.value()
            self._expect(":")
            yield key
            char = self.peek()
            self.pos += 1
            if char == "}":
                return
            if char != ",":
                raise JsonShapeError(f"expected ',' or '}}' at {self.where()}")

    def elements(self) -> Iterator[int]:
        """Indexes of the array that comes next; consume each element before the next."""
        self._expect("[")
        if self.peek() == "]":
            self.pos += 1
            return
        index = 0
        while True:
            yield index
            index += 1
            char = self.peek()
            self.pos += 1
            if char == "]":
                return
            if char != ",":
                raise JsonShapeError(f"expected ',' or ']' at {self.where()}")

    def end(self) -> None:
        """Only whitespace may follow the document."""
        self.pos = _WS.match(self.text, self.pos).end()
        if self.pos != len(self.text):
            raise JsonShapeError(f"extra data after the JSON document at {self.where()}")
