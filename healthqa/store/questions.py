"""Question sets, questions, their rubrics and image attachments."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re

from ..domain import Criterion, Question, new_id
from ..errors import HealthQAError
from ..limits import MAX_CONVERSATION_CHARS, Label, LimitError, check
from .workspace import Workspace, now

ATTACHMENT_PREFIX = "attachment:"
_DATA_URL = re.compile(r"^data:(image/[\w.+-]+);base64,(.*)$", re.S)


class QuestionConflict(ValueError):
    """A prompt_id already in the workspace arrived with a different rubric or conversation.

    `part` says which ("rubric" or "conversation"), so that an importer can name the field.
    """

    def __init__(self, prompt_id: str, part: str):
        self.prompt_id, self.part = prompt_id, part
        super().__init__(f"prompt_id {prompt_id} is already in the workspace with a different {part}")


class ImageDataError(HealthQAError):
    """An image data URL whose base64 cannot be decoded."""


def decode_data_url(url: str) -> tuple[str, bytes] | None:
    """(mime type, bytes) of a base64 image data URL; None for any other URL
    (kept as it is). Raises ImageDataError for broken base64, which would
    otherwise be stored as a silently damaged image."""
    match = _DATA_URL.match(url)
    if not match:
        return None
    encoded = match.group(2)
    try:
        return match.group(1), base64.b64decode(encoded, validate=True)
    except binascii.Error:
        pass
    try:  # base64 wrapped over lines, as some tools write it
        return match.group(1), base64.b64decode("".join(encoded.split()), validate=True)
    except binascii.Error:
        raise ImageDataError("image data is not valid base64") from None


def ensure_set(ws: Workspace, name: str, description: str | None = None) -> str:
    check(name, Label, "set name")
    row = ws.query_one("SELECT id FROM question_sets WHERE name = ?", (name,))
    if row:
        return row["id"]
    set_id = new_id()
    with ws.transaction({"question_sets"}) as conn:
        conn.execute(
            "INSERT INTO question_sets (id, name, description, created_at) VALUES (?, ?, ?, ?)",
            (set_id, name, description, now()),
        )
    return set_id


def set_id_by_name(ws: Workspace, name: str) -> str | None:
    return ws.scalar("SELECT id FROM question_sets WHERE name = ?", (name,))


def list_sets(ws: Workspace) -> list[dict]:
    return ws.query(
        """SELECT s.id, s.name, s.description, s.created_at,
                  (SELECT count(*) FROM set_members m WHERE m.set_id = s.id) AS questions
           FROM question_sets s ORDER BY s.created_at, s.name"""
    )


def _store_images(conn, content):
    """Move inline images into `attachments` (content-hashed, so stored once).
    Without a connection, only the stored form is computed (to compare with a stored question)."""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if part.get("type") == "image_url":
            decoded = decode_data_url(part["image_url"]["url"])
            if decoded:
                mime, data = decoded
                digest = hashlib.sha256(data).hexdigest()
                if conn is not None:
                    conn.execute(
                        "INSERT OR IGNORE INTO attachments (sha256, mime, data) VALUES (?, ?, ?)",
                        (digest, mime, data),
                    )
                part = {**part, "image_url": {**part["image_url"], "url": ATTACHMENT_PREFIX + digest}}
        parts.append(part)
    return parts


def _conversation_json(conn, dumped: dict) -> str:
    """A question's conversation as the `questions.conversation` column holds it."""
    conversation = [{**m, "content": _store_images(conn, m["content"])} for m in dumped["prompt"]]
    return json.dumps(conversation, ensure_ascii=False)


def load_conversation(ws: Workspace, conversation_json: str) -> list[dict]:
    """Conversation JSON with attachment references turned back into data URLs."""
    messages = json.loads(conversation_json)
    for message in messages:
        if isinstance(message["content"], list):
            for part in message["content"]:
                url = part.get("image_url", {}).get("url", "")
                if url.startswith(ATTACHMENT_PREFIX):
                    row = ws.query_one(
                        "SELECT mime, data FROM attachments WHERE sha256 = ?", (url[len(ATTACHMENT_PREFIX):],)
                    )
                    if row:
                        encoded = base64.b64encode(row["data"]).decode("ascii")
                        part["image_url"]["url"] = f"data:{row['mime']};base64,{encoded}"
    return messages


def _search_text(question: Question) -> str:
    texts = [m.text for m in question.prompt] + [c.criterion for c in question.rubrics]
    return "\n".join(texts)  # LIKE matches it case-insensitively


def upsert_question(ws: Workspace, question: Question, set_id: str | None = None) -> tuple[str, bool]:
    """Store a question (idempotent by prompt_id); returns (id, created).

    A prompt_id that exists with the same conversation and rubric is reused
    (the same question again, or another answer to it); with a different
    rubric or conversation it is refused (QuestionConflict): grades point at
    its criteria, and answers answer its conversation.
    """
    rubric = [(c.criterion, c.points, c.tags) for c in question.rubrics]
    dumped = question.model_dump(mode="json", exclude_none=True)
    with ws.transaction({"questions", "criteria", "set_members"}) as conn:
        row = conn.execute("SELECT id, conversation FROM questions WHERE prompt_id = ?",
                           (question.prompt_id,)).fetchone()
        if row:
            question_id, created = row[0], False
            stored = conn.execute(
                "SELECT text, points, tags FROM criteria WHERE question_id = ? ORDER BY position", (question_id,)
            ).fetchall()
            if [(t, p, json.loads(g)) for t, p, g in stored] != rubric:
                raise QuestionConflict(question.prompt_id, "rubric")
            if _conversation_json(None, dumped) != row[1]:
                raise QuestionConflict(question.prompt_id, "conversation")
        else:
            question_id, created = new_id(), True
            conversation, search_text = _conversation_json(conn, dumped), _search_text(question)
            ideal = (json.dumps(dumped["ideal_completions_data"], ensure_ascii=False)
                     if question.ideal_completions_data is not None else None)
            for value, field in ((conversation, "prompt"), (search_text, "prompt"), (ideal, "ideal_completions_data")):
                if value is not None and len(value) > MAX_CONVERSATION_CHARS:
                    raise LimitError(field, f"the question is too long to store ({len(value):,} characters with its "
                                            f"rubric; the limit is {MAX_CONVERSATION_CHARS:,})")
            stamp = now()
            conn.execute(
                """INSERT INTO questions (id, prompt_id, conversation, example_tags, ideal_completions,
                       canary, theme, search_text, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    question_id,
                    question.prompt_id,
                    conversation,
                    json.dumps(question.example_tags),
                    ideal,
                    question.canary,
                    question.theme,
                    search_text,
                    stamp,
                    stamp,
                ),
            )
            conn.executemany(
                "INSERT INTO criteria (id, question_id, position, text, points, tags) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (new_id(), question_id, i, c.criterion, c.points, json.dumps(c.tags))
                    for i, c in enumerate(question.rubrics)
                ],
            )
        if set_id is not None:
            conn.execute(
                """INSERT OR IGNORE INTO set_members (set_id, question_id, position)
                   VALUES (?, ?, (SELECT coalesce(max(position) + 1, 0) FROM set_members WHERE set_id = ?))""",
                (set_id, question_id, set_id),
            )
    return question_id, created


def update_rubric(ws: Workspace, question_id: str, criteria: list[Criterion]) -> None:
    """Edit a rubric in place: criteria keep their ids (and grades) by position."""
    with ws.transaction({"criteria"}) as conn:
        existing = conn.execute(
            "SELECT id, position FROM criteria WHERE question_id = ? ORDER BY position", (question_id,)
        ).fetchall()
        for i, c in enumerate(criteria):
            if i < len(existing):
                conn.execute(
                    "UPDATE criteria SET text = ?, points = ?, tags = ? WHERE id = ?",
                    (c.criterion, c.points, json.dumps(c.tags), existing[i][0]),
                )
            else:
                conn.execute(
                    "INSERT INTO criteria (id, question_id, position, text, points, tags) VALUES (?, ?, ?, ?, ?, ?)",
                    (new_id(), question_id, i, c.criterion, c.points, json.dumps(c.tags)),
                )
        for crit_id, _ in existing[len(criteria):]:
            conn.execute("DELETE FROM criteria WHERE id = ?", (crit_id,))
        conn.execute("UPDATE questions SET updated_at = ? WHERE id = ?", (now(), question_id))


def question_rows(ws: Workspace, set_id: str | None = None, *, search: str | None = None,
                  tag: str | None = None) -> list[dict]:
    """Light rows for lists: id, prompt_id, theme, first user text, criteria count."""
    where, params = [], []
    if set_id:
        where.append("q.id IN (SELECT question_id FROM set_members WHERE set_id = ?)")
        params.append(set_id)
    if search:
        where.append("q.search_text LIKE ?")
        params.append(f"%{search}%")
    if tag:
        where.append(
            "(q.example_tags LIKE ? OR EXISTS (SELECT 1 FROM criteria c WHERE c.question_id = q.id AND c.tags LIKE ?))"
        )
        params += [f'%"{tag}"%', f'%"{tag}"%']
    sql = f"""SELECT q.id, q.prompt_id, q.theme, q.example_tags,
                     substr(q.search_text, 1, 200) AS preview,
                     (SELECT count(*) FROM criteria c WHERE c.question_id = q.id) AS criteria
              FROM questions q {'WHERE ' + ' AND '.join(where) if where else ''}
              ORDER BY (SELECT min(position) FROM set_members m WHERE m.question_id = q.id), q.created_at"""
    return ws.query(sql, params)


def criteria_rows(ws: Workspace, question_id: str) -> list[dict]:
    rows = ws.query(
        "SELECT id, position, text, points, tags FROM criteria WHERE question_id = ? ORDER BY position",
        (question_id,),
    )
    for r in rows:
        r["tags"] = json.loads(r["tags"])
    return rows


def get_question(ws: Workspace, question_id: str) -> Question:
    row = ws.query_one("SELECT * FROM questions WHERE id = ?", (question_id,))
    if row is None:
        raise KeyError(question_id)
    return Question.model_validate(
        {
            "prompt_id": row["prompt_id"],
            "prompt": load_conversation(ws, row["conversation"]),
            "rubrics": [
                {"criterion": c["text"], "points": c["points"], "tags": c["tags"]}
                for c in criteria_rows(ws, question_id)
            ],
            "example_tags": json.loads(row["example_tags"]),
            "ideal_completions_data": json.loads(row["ideal_completions"]) if row["ideal_completions"] else None,
            "canary": row["canary"],
        }
    )


def question_id_by_prompt_id(ws: Workspace, prompt_id: str) -> str | None:
    return ws.scalar("SELECT id FROM questions WHERE prompt_id = ?", (prompt_id,))
