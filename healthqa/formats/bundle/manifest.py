"""A bundle's manifest and baseline (its meta entries), its format version, and its checksum.

What they hold and why the checksum covers only the read-only part: see `healthqa.formats.bundle.exchange`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Annotated, Literal

from pydantic import StringConstraints

from ...limits import PlainName
from .rows import _BASELINE_FIELD, CONTENT, KINDS, WORK, Count, Id, Seconds, Stamp, _Row

FORMAT = "healthqa-bundle"
FORMAT_VERSION = 1
MANIFEST_KEY = "bundle_manifest"
BASELINE_KEY = "bundle_baseline"


class Manifest(_Row):
    format: Literal["healthqa-bundle"]
    format_version: int
    bundle_id: Id
    source_workspace_id: Id
    rater: PlainName
    rater_id: Id
    created_at: Stamp
    blinded: bool
    run_id: Id | None
    answers: Count
    schema_version: int
    checksum: Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]
    tables: dict[str, str]


Version = tuple[Stamp, Seconds]  # a work row's version stamp and active seconds


class Baseline(_Row):
    grades: dict[str, Version]
    reviews: dict[str, Version]
    flags: dict[str, Version]


def _encoded(value) -> bytes:
    """Type-tagged, length-prefixed: no two different rows hash alike, and a changed type shows.
    (Exact types first: this runs for every value of every row, at export and at import.)"""
    kind = type(value)
    if kind is str:
        data = value.encode("utf-8", "surrogatepass")
        return b"S%d:%b" % (len(data), data)
    if value is None:
        return b"N"
    if kind is int:
        return b"I%d;" % value
    if kind is float:
        return b"F" + value.hex().encode() + b";"
    if isinstance(value, bytes):
        return b"B%d:%b" % (len(value), value)
    if isinstance(value, int):
        return b"I%d;" % value
    if isinstance(value, float):
        return b"F" + value.hex().encode() + b";"
    data = str(value).encode("utf-8", "surrogatepass")
    return b"S%d:%b" % (len(data), data)


def _signed_manifest(manifest: dict) -> bytes:
    return json.dumps({k: v for k, v in manifest.items() if k not in ("checksum", "tables")},
                      sort_keys=True, ensure_ascii=True).encode()


def content_checksum(conn: sqlite3.Connection, manifest: dict) -> tuple[str, dict[str, str]]:
    """('sha256:<hex>', per-table digests) over the bundle's read-only part (see the module docstring)."""
    rater_id = manifest["rater_id"]
    total = hashlib.sha256()
    parts: dict[str, str] = {}
    h = hashlib.sha256(_signed_manifest(manifest))
    parts["manifest"] = h.hexdigest()
    h = hashlib.sha256()
    h.update(_encoded(_meta(conn, BASELINE_KEY)))
    parts["baseline"] = h.hexdigest()
    for table, where in [(t, "") for t in CONTENT] + [(t, " WHERE rater_id != ?") for t in WORK]:
        h = hashlib.sha256()
        cursor = conn.execute(f"SELECT {', '.join(table.columns)} FROM {table.name}{where} ORDER BY {table.order}",
                              (rater_id,) if where else ())
        while batch := cursor.fetchmany(1000):  # hashing the rows joined equals hashing them one by one
            h.update(b"".join([b"R" + b"".join(map(_encoded, row)) for row in batch]))
        parts[table.name + ("" if not where else ":others")] = h.hexdigest()
    for name in sorted(parts):
        total.update(f"{name}={parts[name]};".encode())
    return "sha256:" + total.hexdigest(), parts


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def _baseline(conn: sqlite3.Connection, rater_id: str) -> dict:
    out = {}
    for kind in KINDS:
        cols = ", ".join(kind.key + (kind.stamp, kind.active or "0"))
        out[_BASELINE_FIELD[kind]] = {
            "|".join(row[:len(kind.key)]): [row[-2], float(row[-1])]
            for row in conn.execute(f"SELECT {cols} FROM {kind.table.name} WHERE rater_id = ?", (rater_id,))
        }
    return out
