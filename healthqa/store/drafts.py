"""Drafts of contemplating answers (runs/contemplating.py), read back for the
`answers` command, the JSONL export and the Grading panel after the reveal.

Review bundles never carry them: a clinician grading offline sees only the
final answer, as before the reveal at home.
"""

from __future__ import annotations

from .workspace import Workspace


def answer_drafts(ws: Workspace, answer_ids_sql: str, params: tuple = ()) -> dict[str, list[dict]]:
    """{answer id: [{index, text, finish_reason, usage, latency_ms, error}, ...] in draft order}
    for the answers `answer_ids_sql` (a SELECT of answer ids) names."""
    drafts: dict[str, list[dict]] = {}
    for d in ws.query(
            f"""SELECT answer_id, idx, text, finish_reason, input_tokens, output_tokens, reasoning_tokens,
                       latency_ms, error FROM answer_drafts
                WHERE answer_id IN ({answer_ids_sql}) ORDER BY answer_id, idx""", params):
        drafts.setdefault(d["answer_id"], []).append({
            "index": d["idx"], "text": d["text"], "finish_reason": d["finish_reason"],
            "usage": {"input_tokens": d["input_tokens"], "output_tokens": d["output_tokens"],
                      "reasoning_tokens": d["reasoning_tokens"]},
            "latency_ms": d["latency_ms"], "error": d["error"],
        })
    return drafts
