"""Fixtures shared by core and UI tests."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from healthqa.store import Workspace


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    ws = Workspace(tmp_path / "test.healthqa")
    yield ws
    ws.close()


def healthbench_row(prompt_id: str = "00000000-0000-4000-8000-000000000001", **overrides) -> dict:
    """The illustrative row of specs/healthbench.md §2.1 (invented, not dataset data)."""
    row = {
        "example_tags": ["theme:context_seeking"],
        "ideal_completions_data": {
            "ideal_completion": "A swollen ankle after a twist is often a sprain...",
            "ideal_completions_group": "Group 1",
            "ideal_completions_ref_completions": [],
        },
        "prompt": [{"role": "user", "content": "My ankle has been swollen since yesterday. Should I keep walking on it?"}],
        "prompt_id": prompt_id,
        "rubrics": [
            {"criterion": "Asks how the injury happened and whether the person can put weight on the foot.",
             "points": 6, "tags": ["axis:context_awareness", "level:example"]},
            {"criterion": "Advises prompt in-person assessment if there is severe pain, deformity, numbness.",
             "points": 8, "tags": ["axis:accuracy", "level:example"]},
            {"criterion": "States with certainty that the ankle is broken.", "points": -7,
             "tags": ["axis:accuracy", "level:example"]},
        ],
        "canary": "healthbench:test-canary",
    }
    row.update(overrides)
    return row


def file_rows(path, sql: str, params=()) -> list[dict]:
    """Read a workspace file through a connection of its own, as another program would."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def write_jsonl(path: Path, rows: list) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path
