"""run, runs list / show, grade, answers: sending questions to models and grading the answers.

`run` and `grade` print the run id as their last stdout line (`run <id>`),
so scripts can pick it up; progress goes to stderr. Exit codes: 0 every item
done, 1 some items failed (resume retries them), 2 the run stopped on an
error that needs fixing, 130 cancelled (Ctrl-C / SIGTERM; resume goes on).
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from typing import TextIO

from ..domain import incomplete_label
from ..errors import CommandError
from ..runs import (BATCH_MAX_ATTEMPTS, CANCELLED, CONTEMPLATING, DEFAULT_DRAFTS, DEFAULT_MAX_ATTEMPTS,
                    DEFAULT_POLL, DONE, FAILED, MAX_POLL, MODES, BatchProgress, RunError, RunProgress, RunSummary,
                    cancel_run, create_grade_run, create_run, execute_batch_run, execute_run, get_run, is_batch_run,
                    list_runs, mark_batch_run, model_config_by_id, resolve_run_id, stop_on_sigterm)
from ..secrets import MissingKeyError, get_api_key
from ..store import Workspace, answer_drafts, get_model_config
from .common import add_command, add_group, open_from, print_json, print_rows, print_table

EXIT_CODES = {DONE: 0, FAILED: 2, CANCELLED: 130}  # anything else (incomplete): 1


def register(sub) -> None:
    p = add_command(sub, "run", cmd_run, "Send a question set to a model (or resume a run).")
    p.add_argument("--set", dest="set_name", metavar="NAME")
    p.add_argument("--model", metavar="NAME", help="a model config (see `healthqa models list`)")
    p.add_argument("--samples", type=int, default=1, metavar="N", help="answers per question (default 1)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N questions of the set")
    p.add_argument("--resume", metavar="RUN_ID", help="finish a stopped run (answer or grade run); a batch run "
                   "re-attaches to its provider batches")
    p.add_argument("--mode", choices=MODES, help="instant (no reasoning), thinking (the config's reasoning "
                   "setting) or contemplating (drafts, then one synthesis); default: the config's own")
    p.add_argument("--drafts", type=int, metavar="K", help=f"contemplating: drafts per answer (default {DEFAULT_DRAFTS})")
    p.add_argument("--aggregator", metavar="MODEL_NAME",
                   help="contemplating: the model config that writes the synthesis (default: the same model)")
    p.add_argument("--max-attempts", type=int, metavar="N",
                   help=f"with --batch: batch submissions per question before it is recorded as failed "
                        f"(default {BATCH_MAX_ATTEMPTS})")
    _add_engine_options(p)

    p = add_command(sub, "grade", cmd_grade, "Grade answers with a model grader (HealthBench prompt): "
                    "a run's, or a question set's (imported answers too).")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", dest="run_id", metavar="RUN_ID", help="the answers of this answer run")
    which.add_argument("--set", dest="set_name", metavar="NAME", help="the answers to this question set's questions")
    p.add_argument("--model", metavar="M", help="with --set: only this model's answers")
    p.add_argument("--grader", metavar="MODEL_NAME", required=True, help="the grader's model config")
    p.add_argument("--max-attempts", type=int, default=DEFAULT_MAX_ATTEMPTS, metavar="N",
                   help=f"grader calls per criterion before it is left without a verdict (default {DEFAULT_MAX_ATTEMPTS})")
    _add_engine_options(p)

    runs = add_group(sub, "runs", "List runs or show one.")
    p = add_command(runs, "list", cmd_runs_list, "Every run with its status and counts, newest first.")
    p.add_argument("--json", action="store_true")
    p = add_command(runs, "show", cmd_runs_show, "One run: settings, summary, batches, unfinished items and "
                    "their errors.")
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--json", action="store_true")
    p = add_command(runs, "cancel", cmd_runs_cancel, "Cancel a run: its provider batches are cancelled and a "
                    "process working on it is stopped (resume sends what is left).")
    p.add_argument("run_id", metavar="RUN_ID")

    p = add_command(sub, "answers", cmd_answers, "A run's answers with their grades.")
    p.add_argument("--run", dest="run_id", metavar="RUN_ID", required=True)
    p.add_argument("--json", action="store_true")


def _add_engine_options(p) -> None:
    p.add_argument("--concurrency", type=int, default=32, metavar="N", help="calls at once (default 32)")
    p.add_argument("--rpm", type=float, metavar="N", help="at most N requests per minute")
    p.add_argument("--batch", action="store_true",
                   help="send as provider batches: about half the price, answers within 24 hours (OpenAI, "
                        "Anthropic, Gemini); closing the command loses nothing, --resume re-attaches")
    p.add_argument("--poll-interval", type=float, default=DEFAULT_POLL, metavar="S",
                   help=f"with --batch: seconds between looks at the batches, backing off to {MAX_POLL:.0f} "
                        f"while nothing changes (default {DEFAULT_POLL:.0f})")


# -- run / grade ------------------------------------------------------------------

def cmd_run(args) -> int:
    _check_engine_options(args)
    with open_from(args) as ws:
        if args.resume:
            if args.set_name or args.model or args.mode or args.drafts is not None or args.aggregator:
                raise CommandError("--resume takes no --set, --model, --mode, --drafts or --aggregator: "
                                   "the run already has them")
            run_id = resolve_run_id(ws, args.resume)
            config = model_config_by_id(ws, ws.scalar("SELECT model_config_id FROM runs WHERE id = ?", (run_id,)))
            return _execute(ws, run_id, _api_key(config), args)
        if not args.set_name or not args.model:
            raise CommandError("give --set NAME and --model NAME (or --resume RUN_ID)")
        config = get_model_config(ws, args.model)
        if config is None:
            raise CommandError(f"no model config named {args.model!r}; add one with `healthqa models add`")
        key = _api_key(config)  # before the run exists: a missing key leaves nothing behind
        if args.batch and args.mode == CONTEMPLATING:
            raise CommandError("contemplating answers are composed in steps (drafts, then a synthesis), not as "
                               "one batch request; run them without --batch")
        if args.aggregator and get_model_config(ws, args.aggregator) is not None:
            _api_key(get_model_config(ws, args.aggregator))
        run_id = create_run(ws, model_name=args.model, set_name=args.set_name, samples=args.samples,
                            limit=args.limit, mode=args.mode, drafts=args.drafts, aggregator=args.aggregator)
        if args.batch:
            mark_batch_run(ws, run_id, max_attempts=args.max_attempts)
        return _execute(ws, run_id, key, args)


def cmd_grade(args) -> int:
    _check_engine_options(args)
    with open_from(args) as ws:
        config = get_model_config(ws, args.grader)
        if config is None:
            raise CommandError(f"no model config named {args.grader!r}; add one with `healthqa models add`")
        key = _api_key(config)
        if args.model and not args.set_name:
            raise CommandError("--model goes with --set (a run's answers are all one model's)")
        source = resolve_run_id(ws, args.run_id) if args.run_id else None
        run_id = create_grade_run(ws, source, args.grader, set_name=args.set_name, model=args.model,
                                  max_attempts=args.max_attempts)
        if args.batch:
            mark_batch_run(ws, run_id)
        return _execute(ws, run_id, key, args)


def _check_engine_options(args) -> None:
    # Checked before a run is created, so a typo leaves no run behind.
    if args.concurrency < 1:
        raise CommandError("--concurrency must be at least 1")
    if args.rpm is not None and args.rpm <= 0:
        raise CommandError("--rpm must be positive")
    if args.poll_interval <= 0:
        raise CommandError("--poll-interval must be positive")
    if args.max_attempts is not None and args.max_attempts < 1:
        raise CommandError("--max-attempts must be at least 1")
    if args.command == "run" and args.max_attempts is not None and not args.batch:
        raise CommandError("--max-attempts goes with --batch (interactive runs retry failed items on resume)")


def _api_key(config) -> str | None:
    try:
        return get_api_key(config)
    except MissingKeyError as exc:
        raise CommandError(str(exc)) from None


def _execute(ws: Workspace, run_id: str, api_key: str | None, args) -> int:
    stop_on_sigterm()  # `runs cancel` from another shell may stop this process
    batch = is_batch_run(ws, run_id)
    printer = BatchPrinter(sys.stderr) if batch else ProgressPrinter(sys.stderr)

    async def go() -> RunSummary:
        cancel = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # stop cleanly: what has arrived is kept
            try:
                loop.add_signal_handler(sig, cancel.set)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # Windows, or not the main thread: Ctrl-C still cancels via asyncio.run
        if batch:  # stopping only stops waiting: the provider batches go on, --resume re-attaches
            return await execute_batch_run(ws, run_id, poll_interval=args.poll_interval, on_progress=printer,
                                           cancel=cancel, api_key=api_key)
        return await execute_run(ws, run_id, concurrency=args.concurrency, rpm=args.rpm, on_progress=printer,
                                 cancel=cancel, api_key=api_key)

    try:
        summary = asyncio.run(go())
    except RunError as exc:
        raise CommandError(str(exc)) from None
    finally:
        printer.close()
    print(describe(summary), file=sys.stderr)
    if summary.status == FAILED:
        print(f"error: {summary.message}", file=sys.stderr)
    if summary.status != DONE:
        print(f"resume with: healthqa run --resume {run_id}", file=sys.stderr)
    print(f"run {run_id}")  # the last stdout line, for scripts
    return EXIT_CODES.get(summary.status, 1)


def describe(summary: RunSummary) -> str:
    what = "answered" if summary.kind == "answer" else "graded"
    text = (f"Run {summary.status}: {summary.done}/{summary.total} {what}, {summary.failed} failed, "
            f"{summary.pending} not started; {summary.calls} calls in {summary.session_elapsed:.1f} s; "
            f"tokens {summary.input_tokens} in"
            + (f" ({summary.cached_input_tokens} cached)" if summary.cached_input_tokens else "")
            + f", {summary.output_tokens} out")
    if summary.cost is not None:
        text += f"; about ${summary.cost:.4f}"
        if summary.cost_basis:
            text += f" at {summary.cost_basis}"
    for error, count in summary.errors.items():
        text += f"\n  {count} × {error}"
    for notice in summary.notices:
        text += f"\nnotice: {notice} (remembered on the model config)"
    return text


class ProgressPrinter:
    """A progress bar on a terminal; plain lines (at most one every 2 s) otherwise."""

    WIDTH = 24
    PLAIN_INTERVAL = 2.0

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last_plain = 0.0
        self.last: RunProgress | None = None
        self.drawn = False

    def __call__(self, progress: RunProgress) -> None:
        self.last = progress
        if self.tty:
            self.stream.write("\r" + self.line(progress, bar=True) + "\x1b[K")
            self.stream.flush()
            self.drawn = True
        elif time.monotonic() - self.last_plain >= self.PLAIN_INTERVAL:
            self.last_plain = time.monotonic()
            self.stream.write(self.line(progress, bar=False) + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty and self.drawn:
            self.stream.write("\n")
        elif not self.tty and self.last is not None:
            self.stream.write(self.line(self.last, bar=False) + "\n")  # the final state
        self.stream.flush()

    def line(self, p: RunProgress, *, bar: bool) -> str:
        parts = [f"{p.done}/{p.total} done", f"{p.failed} failed", f"{p.in_flight} in flight",
                 f"tokens {_short(p.input_tokens)} in / {_short(p.output_tokens)} out"]
        if p.cost is not None:
            parts.append(f"${p.cost:.2f}")
        parts.append(f"ETA {_duration(p.eta)}" if p.eta is not None else "ETA –")
        text = ", ".join(parts)
        if not bar:
            return f"progress: {text}"
        filled = int(self.WIDTH * p.done / p.total) if p.total else self.WIDTH
        return f"[{'#' * filled}{'-' * (self.WIDTH - filled)}] {text}"


class BatchPrinter:
    """While a batch run waits: one line per look at the batches (states, counts, next look)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last_line = ""

    def __call__(self, progress: BatchProgress) -> None:
        line = self.line(progress)
        if line != self.last_line or progress.next_poll_in is None:
            self.stream.write(line + "\n")
            self.stream.flush()
            self.last_line = line

    def close(self) -> None:
        self.stream.flush()

    @staticmethod
    def line(progress: BatchProgress) -> str:
        p = progress.run
        parts = [f"{p.done}/{p.total} done", f"{p.failed} failed"]
        for b in progress.batches:
            parts.append(f"batch {b['provider_id'] or '(sending)'} {b['state']} "
                         f"{b['succeeded'] + b['errored']}/{b['submitted']}")
        if p.cost is not None:
            parts.append(f"${p.cost:.2f} at batch prices")
        if progress.next_poll_in is not None:
            parts.append(f"next look in {_duration(progress.next_poll_in)}")
        return "batch progress: " + ", ".join(parts)


def _short(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 10_000 else str(n)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


# -- runs list / show ---------------------------------------------------------------

def cmd_runs_list(args) -> int:
    with open_from(args) as ws:
        runs = list_runs(ws)
    rows = [{"id": r["id"], "kind": r["kind"], "set": r["set"], "model": r["model"], "status": r["status"],
             "done": r["counts"]["done"], "failed": r["counts"]["failed"], "total": r["counts"]["total"],
             "created": r["created_at"][:19]} for r in runs]
    print_rows(args, rows, ["id", "kind", "set", "model", "status", "done", "failed", "total", "created"],
               empty="No runs yet: `healthqa run --set NAME --model NAME` starts one.", json_rows=runs)
    return 0


def cmd_runs_show(args) -> int:
    with open_from(args) as ws:
        run = get_run(ws, resolve_run_id(ws, args.run_id))
    if args.json:
        print_json(run)
        return 0
    for name in ("id", "kind", "status", "set", "model", "mode", "drafts", "aggregator", "rater", "source_run_id",
                 "samples", "created_at", "finished_at"):
        if run.get(name) is not None:
            print(f"{name}: {run[name]}")
    c = run["counts"]
    print(f"items: {c['done']} done, {c['failed']} failed, {c['pending']} pending of {c['total']}")
    if run["summary"] and run["summary"].get("message"):
        print(f"message: {run['summary']['message']}")
    for b in run["batches"]:
        print(f"batch {b['provider_id'] or '(not sent)'}: {b['state']}, {b['submitted']} sent, "
              f"{b['succeeded']} succeeded, {b['errored']} errored, {b['expired']} expired "
              f"(created {b['created_at'] or '-'}, ended {b['ended_at'] or '-'})")
    for notice in (run["summary"] or {}).get("notices", ()):
        print(f"notice: {notice}")
    failed = [i for i in run["items"] if i["error"]]
    if failed:
        print_table([{"key": i["key"], "status": i["status"], "attempts": i["attempts"], "error": i["error"]}
                     for i in failed], ["key", "status", "attempts", "error"])
    return 0


def cmd_runs_cancel(args) -> int:
    with open_from(args) as ws:
        run_id = resolve_run_id(ws, args.run_id)
        config = model_config_by_id(ws, ws.scalar("SELECT model_config_id FROM runs WHERE id = ?", (run_id,)))
        key = None
        if ws.scalar("SELECT count(*) FROM provider_batches WHERE run_id = ? AND collected = 0", (run_id,)):
            key = _api_key(config)
        try:
            lines = cancel_run(ws, run_id, api_key=key)
        except RunError as exc:
            raise CommandError(str(exc)) from None
    for line in lines:
        print(line)
    return 0


# -- answers ------------------------------------------------------------------------

def cmd_answers(args) -> int:
    with open_from(args) as ws:
        run_id = resolve_run_id(ws, args.run_id)
        run = ws.query_one("SELECT kind, source_run_id FROM runs WHERE id = ?", (run_id,))
        if run["kind"] == "grade" and run["source_run_id"] is None:  # a set's answers were graded
            answers = run_answers(ws, run_id, graded_by_pass=True)
        else:  # an answer run, or a grading pass over one: that run's answers
            answers = run_answers(ws, run["source_run_id"] if run["kind"] == "grade" else run_id)
    if args.json:
        print_json(answers)
        return 0
    for a in answers:
        usage = a["usage"]
        cut = incomplete_label(a["finish_reason"])
        print(f"== {a['prompt_id']} sample {a['sample']} · {a['model']} · {a['finish_reason']}"
              f"{f' ({cut.upper()})' if cut else ''} · "
              f"{usage['input_tokens']} in / {usage['output_tokens']} out · {a['latency_ms'] or 0:.0f} ms")
        print(a["text"])
        for d in a["drafts"] or ():
            print(f"  -- draft {d['index'] + 1}: " + (d["error"] and f"failed: {d['error']}" or
                                                     d["text"].replace("\n", " ")[:100]))
        for g in a["grades"]:
            print(f"  [{g['points']:+d}] {g['verdict'] or 'no verdict'} ({g['rater']}): {g['criterion'][:70]}")
        print()
    return 0


def run_answers(ws: Workspace, run_id: str, *, graded_by_pass: bool = False) -> list[dict]:
    """A run's answers, each with every grade given to it; with graded_by_pass,
    the answers a grading pass over a question set graded."""
    chosen = ("SELECT answer_id FROM work_items WHERE run_id = ?" if graded_by_pass
              else "SELECT id FROM answers WHERE run_id = ?")
    grades: dict[str, list[dict]] = {}
    for g in ws.query(
            f"""SELECT g.answer_id, c.text AS criterion, c.points, r.name AS rater, g.verdict, g.explanation
               FROM grades g JOIN criteria c ON c.id = g.criterion_id JOIN raters r ON r.id = g.rater_id
               WHERE g.answer_id IN ({chosen})
               ORDER BY c.position, r.name""", (run_id,)):
        grades.setdefault(g.pop("answer_id"), []).append(g)
    drafts = answer_drafts(ws, chosen, (run_id,))
    return [{
        "id": a["id"], "prompt_id": a["prompt_id"], "sample": a["sample"], "model": a["model"], "text": a["text"],
        "finish_reason": a["finish_reason"],
        "incomplete": incomplete_label(a["finish_reason"]),
        "usage": {"input_tokens": a["input_tokens"], "output_tokens": a["output_tokens"],
                  "reasoning_tokens": a["reasoning_tokens"], "cached_input_tokens": a["cached_input_tokens"]},
        "latency_ms": a["latency_ms"], "error": a["error"], "grades": grades.get(a["id"], []),
        # contemplating answers: the drafts the synthesis read (and those that failed); null otherwise
        "drafts_used": a["drafts_used"], "drafts": drafts.get(a["id"]) if a["drafts_used"] is not None else None,
    } for a in ws.query(
        # In the run's own order (question, then sample), not the order replies arrived.
        """SELECT a.*, q.prompt_id FROM answers a JOIN questions q ON q.id = a.question_id
           LEFT JOIN work_items w ON w.run_id = a.run_id AND w.key = a.question_id || ':' || a.sample
           WHERE a.run_id = ? ORDER BY w.rowid, a.rowid""" if not graded_by_pass else
        f"""SELECT a.*, q.prompt_id FROM answers a JOIN questions q ON q.id = a.question_id
            WHERE a.id IN ({chosen}) ORDER BY a.rowid""", (run_id,))]
