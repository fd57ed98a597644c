"""The workspace's grades as a RatingTable for agreement statistics.

An item is one (answer, criterion) that at least one chosen rater judged
met or not met; "cannot judge" and absent grades are missing (-1).
"""

from __future__ import annotations

import json

import numpy as np

from ..agreement import RatingTable
from ..errors import CommandError
from ..store import ADJUDICATED_RATER, Workspace, answer_filter, check_rater_names

_CODE = {"met": 1, "not_met": 0}


def load_rating_table(ws: Workspace, *, raters: list[str] | None = None, model: str | None = None,
                      set_name: str | None = None, run_id: str | None = None) -> RatingTable:
    known = {r["name"]: r for r in ws.query("SELECT id, name, kind FROM raters ORDER BY kind, name")}
    if raters:
        check_rater_names(raters, known, CommandError)
    chosen = raters or [name for name in known if name != ADJUDICATED_RATER]
    column = {known[name]["id"]: j for j, name in enumerate(chosen)}
    where, params = answer_filter(model=model, run_id=run_id, set_name=set_name)
    where.append("g.verdict IN ('met', 'not_met')")
    sql = f"""SELECT g.answer_id, g.criterion_id, g.rater_id, g.verdict, c.text, c.tags, q.theme
              FROM grades g JOIN answers a ON a.id = g.answer_id JOIN criteria c ON c.id = g.criterion_id
              JOIN questions q ON q.id = a.question_id
              WHERE {' AND '.join(where)}
              ORDER BY g.answer_id, g.criterion_id"""
    with ws._lock:
        rows = ws.conn.execute(sql, params).fetchall()
    item_index: dict[tuple[str, str], int] = {}
    conversation_index: dict[str, int] = {}
    cells, conversations, criterion_text, axes, themes = [], [], [], [], []
    tags_cache: dict[str, str] = {}
    for answer_id, criterion_id, rater_id, verdict, text, tags, theme in rows:
        j = column.get(rater_id)
        if j is None:
            continue
        key = (answer_id, criterion_id)
        i = item_index.get(key)
        if i is None:
            i = item_index[key] = len(item_index)
            conversations.append(conversation_index.setdefault(answer_id, len(conversation_index)))
            criterion_text.append(text)
            if tags not in tags_cache:
                tags_cache[tags] = next((t.split(":", 1)[1] for t in json.loads(tags) if t.startswith("axis:")),
                                        "none")
            axes.append(tags_cache[tags])
            themes.append(theme or "none")
        cells.append((i, j, _CODE[verdict]))
    values = np.full((len(item_index), len(chosen)), -1, dtype=np.int8)
    if cells:
        i, j, v = np.array(cells, dtype=np.int64).T
        values[i, j] = v
    return RatingTable(
        values=values,
        conversation=np.asarray(conversations, dtype=np.int64),
        raters=chosen,
        kinds=[known[name]["kind"] for name in chosen],
        groups={"criterion": np.asarray(criterion_text, dtype=object), "axis": np.asarray(axes, dtype=object),
                "theme": np.asarray(themes, dtype=object)},
    )
