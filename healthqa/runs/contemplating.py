"""The contemplating mode: K drafts of an answer, written in parallel, then one synthesis.

One work item per (question, sample), as in answer runs. `perform` sends the
item's missing drafts at once — each a normal call in thinking mode, each
waiting for one of the run's call slots (slots.py), so K drafts of 32
questions never exceed the run's concurrency — and stores every draft the moment it is back
(durably, through the engine's writer), so a killed run resumes without
redoing it. As soon as this item's drafts are in (not every question's: no
barrier across questions), the synthesis call, made by the same model or
the run's aggregator model config, reads the question and the drafts and
writes the answer that clinicians and the grader grade.

Drafts that fail are retried by the provider like any call; one that still
fails is stored with its error and left out, and the answer records how many
drafts the synthesis read (`answers.drafts_used`). With no draft at all the
item fails like any failed call (and a resume tries the failed drafts again).

The answer's usage is the sum over the drafts it used and the synthesis; its
latency is the wall time from the first draft's start to the synthesis's end.
A draft reused after a resume counts with its own latency, not with the time
the run was stopped.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass

from ..domain import Answer, Message, ModelConfig, TextPart, Usage, new_id
from ..providers import Provider, ProviderError, estimate_cost
from ..store import Workspace, add_answer, now
from .jobs import (JobContext, Outcome, WorkItem, conversation_messages, model_config_by_id, register_job_kind,
                   unfinished_items, work_item)
from .modes import DEFAULT_DRAFTS, answer_label

# The one place the synthesis is worded. The drafts go first and the
# instructions last, right before the model writes (long-context models
# follow instructions best at the end).
SYNTHESIS_PROMPT = """\
<drafts>
{drafts}
</drafts>

Above, before the <drafts> block, is the user's message. {count} independent drafts of a reply to it were \
written and are shown in the <drafts> block; the user has not seen them. Write the one reply the user will read:
- Keep what is correct, important and safe in the drafts. Where they disagree, decide on the medical merits, \
and say plainly what remains uncertain instead of blending contradictory advice.
- Put anything urgent first: warning signs that need emergency care, and when to see a clinician.
- Leave out mistakes, unsupported claims and repetition. Do not add doses or facts that no draft supports \
unless you are sure of them.
- Answer in the user's language, at the length the question deserves.
Reply with the final answer only. Do not mention the drafts, how this answer was written, or that several \
answers exist."""

DRAFT_BLOCK = '<draft number="{number}">\n{text}\n</draft>'


def synthesis_conversation(conversation: list[Message], drafts: list[str]) -> list[Message]:
    """The synthesis call's conversation: the question's own turns (images too),
    the last user turn followed by the drafts and the instructions."""
    block = SYNTHESIS_PROMPT.format(
        drafts="\n\n".join(DRAFT_BLOCK.format(number=i + 1, text=text.strip()) for i, text in enumerate(drafts)),
        count=len(drafts))
    *earlier, last = conversation
    parts = [TextPart(text=last.content)] if isinstance(last.content, str) else list(last.content)
    return [*earlier, Message(role=last.role, content=[*parts, TextPart(text="\n\n" + block)])]


@dataclass
class Draft:
    index: int
    answer: Answer | None  # None: failed after its retries
    error: str | None = None
    reused: bool = False  # stored by an earlier session


def _add(total: Usage, usage: Usage) -> Usage:
    return total.plus(usage)  # cached input tokens too, so the answer's cost counts them as cached


def _cost(parts: list[tuple[ModelConfig, Usage]]) -> float | None:
    """Dollars for several calls; None as soon as one of them has no price."""
    total = 0.0
    for config, usage in parts:
        cost = estimate_cost(config, usage)
        if cost is None:
            return None
        total += cost
    return total


class ContemplatingJob:
    """Answer runs in the contemplating mode (see the module docstring)."""

    def __init__(self, run: dict, config: ModelConfig, aggregator: ModelConfig, drafts: int) -> None:
        self.run_id = run["id"]
        self.config = config  # the drafts' model
        self.aggregator = aggregator  # the synthesis's model (often the same config)
        self.drafts = drafts
        self.label = answer_label(config, run["mode"])
        self.context: JobContext | None = None
        self._started = itertools.count()

    @property
    def configs(self) -> list[ModelConfig]:
        """Every model config this job calls; the engine makes a provider for each."""
        return [self.config] if self.aggregator.id == self.config.id else [self.config, self.aggregator]

    def attach(self, context: JobContext) -> None:
        self.context = context

    # ---- items ----------------------------------------------------------------

    def load_items(self, ws: Workspace, after_rowid: int, limit: int) -> list[WorkItem]:
        rows = unfinished_items(ws, self.run_id, after_rowid, limit, ", q.conversation",
                                "JOIN questions q ON q.id = w.question_id")
        stored: dict[tuple[str, int], dict[int, Draft]] = {}
        if rows:
            marks = ",".join("?" * len(rows))
            for d in ws.query(
                    f"""SELECT question_id, sample, idx, text, finish_reason, input_tokens, output_tokens,
                               reasoning_tokens, latency_ms FROM answer_drafts
                        WHERE run_id = ? AND text IS NOT NULL AND work_item_id IN ({marks})""",
                    (self.run_id, *(r["id"] for r in rows))):
                answer = Answer(text=d["text"], model=self.config.name, finish_reason=d["finish_reason"],
                                usage=Usage(input_tokens=d["input_tokens"], output_tokens=d["output_tokens"],
                                            reasoning_tokens=d["reasoning_tokens"]), latency_ms=d["latency_ms"])
                stored.setdefault((d["question_id"], d["sample"]), {})[d["idx"]] = Draft(d["idx"], answer,
                                                                                          reused=True)
        conversations: dict[str, list[Message]] = {}
        items = []
        for row in rows:
            qid = row["question_id"]
            if qid not in conversations:
                conversations[qid] = conversation_messages(ws, row["conversation"])
            items.append(work_item(row, (conversations[qid], stored.get((qid, row["sample"]), {}))))
        return items

    # ---- the calls -------------------------------------------------------------

    async def perform(self, provider: Provider, item: WorkItem) -> Outcome:
        assert self.context is not None, "the engine attaches a context before the first item"
        conversation, stored = item.payload
        clock = {"first_start": None, "last_end": None}
        order = next(self._started)  # questions begun earlier get the free call slots first (slots.py)

        async def draft(index: int) -> Draft:
            async with self.context.call_slots.take(order):
                started = time.perf_counter()
                if clock["first_start"] is None:
                    clock["first_start"] = started
                try:
                    result = Draft(index, await provider.complete(conversation))
                except ProviderError as exc:
                    if exc.fatal:  # a bad key or model: the whole run stops, as for any call
                        raise
                    result = Draft(index, None, exc.message)
                clock["last_end"] = time.perf_counter()
            await self.context.write(lambda ws: self._store_draft(ws, item, result))
            return result

        missing = [i for i in range(self.drafts) if i not in stored]
        fresh = await asyncio.gather(*(draft(i) for i in missing), return_exceptions=True)
        for outcome in fresh:  # a fatal provider error, or a bug: not the item's to swallow
            if isinstance(outcome, BaseException):
                raise outcome
        drafts = sorted([*stored.values(), *fresh], key=lambda d: d.index)
        good = [d for d in drafts if d.answer is not None]
        new_calls = [(self.config, d.answer.usage) for d in fresh if d.answer is not None]
        if not good:
            errors = sorted({d.error for d in fresh if d.error})
            error = ProviderError(f"all {self.drafts} drafts failed: {'; '.join(errors)}")
            error.calls = len(fresh)  # for the run's count of calls made
            raise error

        # The draft phase: this session's wall time, or a reused draft's own latency if that was longer.
        if clock["first_start"] is not None:
            phase_end, phase = clock["last_end"], clock["last_end"] - clock["first_start"]
        else:  # every draft was stored by an earlier session
            phase_end, phase = time.perf_counter(), 0.0
        phase = max([phase] + [d.answer.latency_ms / 1000 for d in good if d.reused and d.answer.latency_ms])
        aggregator = self.context.providers[self.aggregator.id]
        async with self.context.call_slots.take(order):
            synthesis = await aggregator.complete(synthesis_conversation(conversation, [d.answer.text for d in good]))
        ended = time.perf_counter()
        new_calls.append((self.aggregator, synthesis.usage))

        usage = synthesis.usage
        for d in good:
            usage = _add(usage, d.answer.usage)
        answer = Answer(text=synthesis.text, model=self.label, finish_reason=synthesis.finish_reason, usage=usage,
                        latency_ms=(phase + ended - phase_end) * 1000, response_id=synthesis.response_id)
        session_usage = Usage()
        for _, u in new_calls:
            session_usage = _add(session_usage, u)

        def write(ws: Workspace) -> None:
            answer_id, _ = add_answer(ws, item.question_id, answer, run_id=self.run_id, sample=item.sample,
                                      model_config_id=self.config.id)
            ws.conn.execute("UPDATE answers SET drafts_used = ? WHERE id = ?", (len(good), answer_id))
            ws.conn.execute("UPDATE answer_drafts SET answer_id = ? WHERE run_id = ? AND question_id = ? "
                            "AND sample = ?", (answer_id, self.run_id, item.question_id, item.sample))
        return Outcome(session_usage, write, calls=len(fresh) + 1, cost=_cost(new_calls), priced=True)

    def _store_draft(self, ws: Workspace, item: WorkItem, draft: Draft) -> None:
        a = draft.answer
        usage = a.usage if a is not None else Usage()
        ws.conn.execute(
            """INSERT INTO answer_drafts (id, run_id, work_item_id, question_id, sample, idx, text, finish_reason,
                   input_tokens, output_tokens, reasoning_tokens, latency_ms, error, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (run_id, question_id, sample, idx) DO UPDATE SET
                   text = excluded.text, finish_reason = excluded.finish_reason,
                   input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
                   reasoning_tokens = excluded.reasoning_tokens, latency_ms = excluded.latency_ms,
                   error = excluded.error, created_at = excluded.created_at""",
            (new_id(), self.run_id, item.id, item.question_id, item.sample, draft.index,
             a.text if a else None, a.finish_reason if a else None, usage.input_tokens, usage.output_tokens,
             usage.reasoning_tokens, a.latency_ms if a else None, draft.error, now()))

    # ---- what earlier sessions spent ----------------------------------------------

    def prior_usage(self, ws: Workspace, previous: dict | None) -> Usage:
        """Answers (drafts used + synthesis) plus drafts of items not finished yet."""
        row = ws.query_one(
            """SELECT (SELECT coalesce(sum(input_tokens), 0) FROM answers WHERE run_id = :r)
                    + (SELECT coalesce(sum(input_tokens), 0) FROM answer_drafts WHERE run_id = :r
                       AND answer_id IS NULL) AS i,
                      (SELECT coalesce(sum(output_tokens), 0) FROM answers WHERE run_id = :r)
                    + (SELECT coalesce(sum(output_tokens), 0) FROM answer_drafts WHERE run_id = :r
                       AND answer_id IS NULL) AS o,
                      (SELECT coalesce(sum(reasoning_tokens), 0) FROM answers WHERE run_id = :r)
                    + (SELECT coalesce(sum(reasoning_tokens), 0) FROM answer_drafts WHERE run_id = :r
                       AND answer_id IS NULL) AS rt""", {"r": self.run_id})
        return Usage(input_tokens=row["i"], output_tokens=row["o"], reasoning_tokens=row["rt"])

    def prior_cost(self, ws: Workspace, previous: dict | None) -> float | None:
        """Every stored draft at the drafts' prices, each synthesis (an answer's
        tokens less its drafts') at the aggregator's."""
        drafts = ws.query_one(
            """SELECT coalesce(sum(input_tokens), 0) AS i, coalesce(sum(output_tokens), 0) AS o
               FROM answer_drafts WHERE run_id = ? AND text IS NOT NULL""", (self.run_id,))
        answers = ws.query_one(
            """SELECT coalesce(sum(input_tokens), 0) AS i, coalesce(sum(output_tokens), 0) AS o
               FROM answers WHERE run_id = ?""", (self.run_id,))
        used = ws.query_one(
            """SELECT coalesce(sum(d.input_tokens), 0) AS i, coalesce(sum(d.output_tokens), 0) AS o
               FROM answer_drafts d WHERE d.run_id = ? AND d.answer_id IS NOT NULL AND d.text IS NOT NULL""",
            (self.run_id,))
        synthesis = Usage(input_tokens=answers["i"] - used["i"], output_tokens=answers["o"] - used["o"])
        return _cost([(self.config, Usage(input_tokens=drafts["i"], output_tokens=drafts["o"])),
                      (self.aggregator, synthesis)])


def _contemplating_job(ws: Workspace, run: dict, config: ModelConfig) -> ContemplatingJob:
    aggregator = model_config_by_id(ws, run["aggregator_config_id"]) if run.get("aggregator_config_id") else config
    return ContemplatingJob(run, config, aggregator, run["drafts"] or DEFAULT_DRAFTS)


register_job_kind("answer:contemplating", _contemplating_job)
