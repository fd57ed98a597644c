"""Jobs: what a run does per work item. Answer runs live here; grade runs (the model
grader) in grader.py. The engine (engine.py) drives any job through this protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Protocol

from ..domain import Message, ModelConfig, Usage
from ..limits import fit_answer
from ..providers import LENGTH, Provider
from ..store import Workspace, add_answer, get_model_config, load_conversation
from .status import RunError

from .modes import answer_label, config_for_mode
from .slots import CallSlots

@dataclass
class WorkItem:
    """A work item as the engine hands it to a job; `payload` is whatever the
    job loaded to make the call (a conversation, a grader prompt...)."""

    rowid: int
    id: str
    key: str
    question_id: str | None
    sample: int
    answer_id: str | None
    criterion_id: str | None
    attempts: int
    status: str  # before this session: pending, or failed earlier
    payload: Any = None


@dataclass
class Outcome:
    """A finished call: its usage (for tokens and cost) and how to store it.

    `write(ws)` runs on the database thread inside the transaction that also
    marks the item done, so the result and the mark land together or not at all.
    """

    usage: Usage
    write: Callable[[Workspace], None]
    calls: int = 1
    # priced: `cost` is what the calls cost (None: unknown), for jobs that call
    # several model configs; otherwise the engine prices `usage` with the job's config.
    cost: float | None = None
    priced: bool = False


@dataclass
class JobContext:
    """What the engine lends a job whose items make several calls: a provider
    per model config (by id), the run's call slots, and a durable write."""

    providers: dict[str, Provider]
    call_slots: CallSlots
    write: Callable[[Callable[[Workspace], None]], Awaitable[None]]


class Job(Protocol):
    config: ModelConfig  # the model that is called

    def load_items(self, ws: Workspace, after_rowid: int, limit: int) -> list[WorkItem]:
        """Up to `limit` unfinished items after `after_rowid`, in rowid order, payloads loaded."""

    async def perform(self, provider: Provider, item: WorkItem) -> Outcome:
        """Make the call(s) for one item. Raises ProviderError."""

    def prior_usage(self, ws: Workspace, previous: dict | None) -> Usage:
        """Tokens spent by earlier sessions of this run."""

    # Optional, for jobs that make several calls per item (contemplating.py):
    # `configs` (every model config called; a provider is made for each),
    # `attach(context: JobContext)` (called before the first item) and
    # `prior_cost(ws, previous)` (what earlier sessions spent, priced per config).


def unfinished_items(ws: Workspace, run_id: str, after_rowid: int, limit: int, columns: str = "",
                     joins: str = "") -> list[dict]:
    """The shared query behind every job's `load_items`."""
    return ws.query(
        f"""SELECT w.rowid AS rowid, w.id, w.key, w.question_id, w.sample, w.answer_id, w.criterion_id,
                   w.attempts, w.status {columns}
            FROM work_items w {joins}
            WHERE w.run_id = ? AND w.status IN ('pending', 'failed') AND w.rowid > ?
            ORDER BY w.rowid LIMIT ?""",
        (run_id, after_rowid, limit),
    )


def work_item(row: dict, payload: Any) -> WorkItem:
    return WorkItem(row["rowid"], row["id"], row["key"], row["question_id"], row["sample"], row["answer_id"],
                    row["criterion_id"], row["attempts"], row["status"], payload)


def conversation_messages(ws: Workspace, conversation_json: str) -> list[Message]:
    return [Message.model_validate(m) for m in load_conversation(ws, conversation_json)]


class AnswerJob:
    """Answer runs: one call per (question, sample), the reply stored as an answer."""

    def __init__(self, run: dict, config: ModelConfig) -> None:
        self.run_id = run["id"]
        mode = run.get("mode")
        self.config = config_for_mode(config, mode) if mode else config  # instant: reasoning off
        self.label = answer_label(config, mode)

    def load_items(self, ws: Workspace, after_rowid: int, limit: int) -> list[WorkItem]:
        rows = unfinished_items(ws, self.run_id, after_rowid, limit, ", q.conversation",
                                "JOIN questions q ON q.id = w.question_id")
        conversations: dict[str, list[Message]] = {}  # samples of one question share it
        items = []
        for row in rows:
            qid = row["question_id"]
            if qid not in conversations:
                conversations[qid] = conversation_messages(ws, row["conversation"])
            items.append(work_item(row, conversations[qid]))
        return items

    async def perform(self, provider: Provider, item: WorkItem) -> Outcome:
        answer = await provider.complete(item.payload)
        # Answers are labelled with the config's name (the served model id is
        # often a dated snapshot; the config says which settings produced it),
        # and the mode when it is not the config's own (modes.answer_label).
        answer.model = self.label
        answer = fit_answer(answer, cut_reason=LENGTH)  # paid for: kept, within the limits, never refused

        def write(ws: Workspace) -> None:
            add_answer(ws, item.question_id, answer, run_id=self.run_id, sample=item.sample,
                       model_config_id=self.config.id)
        return Outcome(answer.usage, write)

    def prior_usage(self, ws: Workspace, previous: dict | None) -> Usage:
        row = ws.query_one(
            """SELECT coalesce(sum(input_tokens), 0) AS i, coalesce(sum(output_tokens), 0) AS o,
                      coalesce(sum(reasoning_tokens), 0) AS r, coalesce(sum(cached_input_tokens), 0) AS c,
                      coalesce(sum(cache_write_tokens), 0) AS w FROM answers WHERE run_id = ?""", (self.run_id,))
        return Usage(input_tokens=row["i"], output_tokens=row["o"], reasoning_tokens=row["r"],
                     cached_input_tokens=row["c"], cache_write_tokens=row["w"])


def previous_session_usage(previous: dict | None) -> Usage:
    """Tokens recorded by earlier sessions' summaries (for jobs whose results
    do not keep token counts, like grades)."""
    previous = previous or {}
    return Usage(input_tokens=previous.get("input_tokens", 0), output_tokens=previous.get("output_tokens", 0),
                 reasoning_tokens=previous.get("reasoning_tokens", 0),
                 cached_input_tokens=previous.get("cached_input_tokens", 0))


# What each kind of run does per item: run kind -> factory(ws, run row, model config).
# A job kind registers itself here (grader.py registers "grade"), so the
# engine never imports the jobs built on top of it.
JobFactory = Callable[[Workspace, dict, ModelConfig], Job]
JOB_KINDS: dict[str, JobFactory] = {"answer": lambda ws, run, config: AnswerJob(run, config)}


def register_job_kind(kind: str, factory: JobFactory) -> None:
    JOB_KINDS[kind] = factory


def make_job(ws: Workspace, run: dict) -> Job:
    config = model_config_by_id(ws, run["model_config_id"])
    # A mode of a kind may bring its own job (contemplating.py registers "answer:contemplating").
    factory = JOB_KINDS.get(f"{run['kind']}:{run.get('mode')}") or JOB_KINDS.get(run["kind"])
    if factory is None:
        raise RunError(f"this run is of a kind this version of HealthQA cannot run: {run['kind']!r}")
    return factory(ws, run, config)


def model_config_by_id(ws: Workspace, config_id: str | None) -> ModelConfig:
    config = get_model_config(ws, config_id) if config_id else None
    if config is None:
        raise RunError("the model config of this run was deleted; add it again with `healthqa models add`")
    return config
