"""simple-evals' HealthBench results in: `healthbench_<model>_<date>_allresults.json`.

simple-evals (openai/simple-evals, healthbench_eval.py) writes one JSON
object: `score`, `metrics` (simple-evals keys: `overall_score`,
`axis:accuracy`, `theme:hedging`, each with `:n_samples` and an unseeded
`:bootstrap_std`), `htmls`, `convos` and `metadata.example_level_metadata`:
one entry per graded answer with `prompt` (the conversation as sent, with the
sampler's system message first), `completion` ([{role, content}]),
`prompt_id`, `completion_id`, `usage` and `rubric_items` (criterion, points,
tags, `criteria_met`, `explanation`). Also read:

- the same entries one per line (JSONL);
- HealthQA's own `export --format healthbench-results`: one such object per
  line, with the `model` and `rater` it is for (the round trip).

The file is walked entry by entry (json_stream.py): `htmls` and `convos`
repeat every answer and are never kept. Entries carry no example tags:
import the HealthBench question file first and the questions keep theirs
(theme scores then compare too).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from ..domain import Criterion, Message, Question, RaterKind, Usage, Verdict
from ..scoring import score_workspace
from .graded_import import GradedEntry, GradedImportReport, GradedRun, compare, store_graded_runs
from .healthbench import FormatError, validation_error
from .json_stream import Cursor, JsonShapeError

SOURCE = "simple-evals"
DEFAULT_GRADER = "simple-evals grader"
MAJORITY_RATER = "clinicians (majority)"  # results.MAJORITY: derived from other raters, never imported
_MESSAGES = TypeAdapter(list[Message])
_STEM = re.compile(r"^(?:healthbench(?:_hard|_consensus)?_)?(?P<model>.+?)(?:_\d{8}_\d{4,6})?(?:_DEBUG)?$")


class ResultsFile:
    """What a results file holds: its runs (one per model and rater) and its own figures."""

    def __init__(self, path: Path):
        self.path = path
        self.runs: list[dict] = []  # {"model", "rater", "rater_kind", "entries", "metrics", "score"}
        self.skipped: list[str] = []
        self.sha256 = ""


def model_from_name(path: Path) -> str:
    """The model simple_evals.py put in the file name: healthbench_<model>_<date>[_DEBUG]_allresults.json."""
    stem = path.name
    for suffix in (".jsonl", ".json"):
        stem = stem.removesuffix(suffix)
    stem = stem.removesuffix("_allresults")
    match = _STEM.match(stem)
    return match.group("model") if match else stem


def default_set_name(path: Path) -> str:
    return path.name.removesuffix(".jsonl").removesuffix(".json").removesuffix("_allresults")


def _read_text(path: Path) -> tuple[str, str]:
    if not path.exists():
        raise FormatError("no such file", path=path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot be read ({exc.strerror})", path=path) from None
    sha = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FormatError(f"not UTF-8 text (byte {exc.start + 1})", path=path) from None
    del data
    if not text.strip():
        raise FormatError("file is empty", path=path)
    return text, sha


def read_results(path: str | Path) -> ResultsFile:
    """Parse and check the whole file (nothing is stored); FormatError names the file and the entry."""
    path = Path(path)
    text, sha = _read_text(path)
    result = ResultsFile(path)
    result.sha256 = sha
    cursor = Cursor(text)
    loose: list[GradedEntry] = []
    try:
        while True:
            try:  # documents follow one another (JSONL), or there is one (JSON)
                cursor.peek()
            except JsonShapeError:
                break  # only whitespace left
            line = cursor.text.count("\n", 0, cursor.pos) + 1
            if cursor.text.startswith("{\n", cursor.pos) or cursor.text.startswith("{\r\n", cursor.pos):
                line = None  # one pretty-printed document: entries are named by index, not by line
            if cursor.kind() != "object":
                raise FormatError("expected a JSON object (a simple-evals results file or one entry per line)",
                                  path=path, line=line)
            head, entries = _walk_document(cursor, path, line)
            if entries is None:  # a bare entry: one JSONL line
                if "rubric_items" not in head:
                    raise _not_healthbench(path, head, line=line)
                loose.append(parse_entry(head, path=path, where=f"line {line}", line=line))
                continue
            if head.get("rater") == MAJORITY_RATER:
                result.skipped.append(f"{path.name}:{line}: the clinicians' majority is derived from their own "
                                      "grades; not imported")
                continue
            result.runs.append({"model": head.get("model"), "rater": head.get("rater"),
                                "rater_kind": head.get("rater_kind"), "entries": entries,
                                "metrics": head.get("metrics") if isinstance(head.get("metrics"), dict) else {},
                                "score": head.get("score"), "line": line})
    except JsonShapeError as exc:
        raise FormatError(str(exc), path=path) from None
    if loose:
        if result.runs:
            raise FormatError("mixes whole results objects with single entries", path=path)
        result.runs.append({"model": None, "rater": None, "rater_kind": None, "entries": loose, "metrics": {},
                            "score": None, "line": None})
    if not result.runs:
        raise FormatError("no results to import", path=path)
    return result


def _walk_document(cursor: Cursor, path: Path, line: int | None) -> tuple[dict, list[GradedEntry] | None]:
    """One top-level object: its small members in `head`; its entries parsed one by one as they come."""
    head: dict = {}
    entries: list[GradedEntry] | None = None
    for key in cursor.members():
        if key in ("htmls", "convos"):
            cursor.skip()
        elif key == "metadata" and cursor.kind() == "object":
            for inner in cursor.members():
                if inner == "example_level_metadata" and cursor.kind() == "array":
                    entries = []
                    for index in cursor.elements():
                        where = f"metadata.example_level_metadata[{index}]"
                        item = cursor.value()
                        if not isinstance(item, dict) or "rubric_items" not in item:
                            raise _not_healthbench(path, head, where=where, line=line)
                        entries.append(parse_entry(item, path=path, where=where, line=line))
                else:
                    cursor.skip()
        else:
            head[key] = cursor.value()
    if entries is None and any(k in head for k in ("htmls", "metrics", "convos", "score")) \
            and "rubric_items" not in head:
        raise _not_healthbench(path, head, where="metadata.example_level_metadata", line=line)
    return head, entries


def _not_healthbench(path: Path, head: dict, *, where: str | None = None, line: int | None = None) -> FormatError:
    metrics = head.get("metrics") if isinstance(head.get("metrics"), dict) else {}
    names = ", ".join(list(metrics)[:4])
    hint = f" (its metrics: {names})" if names else ""
    return FormatError(f"not a HealthBench result: no rubric_items — this looks like the results of another "
                       f"simple-evals eval{hint}; only HealthBench results can be imported",
                       path=path, line=line, field=where)


def parse_entry(data: dict, *, path: Path, where: str, line: int | None) -> GradedEntry:
    """One example_level_metadata entry, checked field by field."""
    def fail(message: str, name: str) -> FormatError:
        pid = data.get("prompt_id")
        suffix = f" (prompt_id {pid})" if isinstance(pid, str) else ""
        return FormatError(message + suffix, path=path, line=line, field=f"{where}.{name}")

    for key in ("prompt", "completion", "prompt_id", "rubric_items"):
        if key not in data:
            raise fail("missing", key)
    prompt_id = data["prompt_id"]
    if not isinstance(prompt_id, str) or not prompt_id.strip():
        raise fail("must be a non-empty string", "prompt_id")
    try:
        messages = _MESSAGES.validate_python(data["prompt"])
    except ValidationError as exc:
        error = validation_error(exc, path=path, line=line or 0, prefix=f"{where}.prompt")
        raise FormatError(error.reason, path=path, line=line, field=error.field) from None
    # simple-evals records the conversation as sent: the sampler's system message comes first.
    system = [m.text for m in messages if m.role in ("system", "developer")]
    conversation = [m for m in messages if m.role not in ("system", "developer")]
    completion = _completion_text(data["completion"])
    if completion is None:
        raise fail("must be [{\"role\": \"assistant\", \"content\": TEXT}]", "completion")
    items = data["rubric_items"]
    if not isinstance(items, list) or not items:
        raise fail("must be a non-empty list", "rubric_items")
    criteria, verdicts = [], []
    for i, item in enumerate(items):
        name = f"rubric_items[{i}]"
        if not isinstance(item, dict):
            raise fail("must be an object", name)
        if "criteria_met" not in item:
            raise fail("missing (the grader's verdict)", f"{name}.criteria_met")
        met = item["criteria_met"]
        if not isinstance(met, bool):
            raise fail(f"must be true or false, not {met!r}", f"{name}.criteria_met")
        explanation = item.get("explanation")
        if explanation is not None and not isinstance(explanation, str):
            raise fail("must be a string", f"{name}.explanation")
        try:
            criteria.append(Criterion.model_validate(
                {k: item[k] for k in ("criterion", "points", "tags") if k in item}))
        except ValidationError as exc:
            error = validation_error(exc, path=path, line=line or 0, prefix=f"{where}.{name}")
            raise FormatError(error.reason, path=path, line=line, field=error.field) from None
        verdicts.append((Verdict.MET if met else Verdict.NOT_MET, explanation))
    tags = data.get("example_tags")  # HealthQA's own export adds them; simple-evals' entries have none
    tags = tags if isinstance(tags, list) and all(isinstance(t, str) for t in tags) else []
    try:
        question = Question(prompt_id=prompt_id, prompt=conversation, rubrics=criteria, example_tags=tags)
    except ValidationError as exc:
        error = validation_error(exc, path=path, line=line or 0, prefix=where)
        raise FormatError(error.reason, path=path, line=line, field=error.field) from None
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    entry = GradedEntry(where=where, line=line, question=question, completion=completion, verdicts=verdicts,
                        usage=Usage(input_tokens=_int(usage.get("input_tokens")),
                                    output_tokens=_int(usage.get("output_tokens")),
                                    reasoning_tokens=_int(usage.get("output_reasoning_tokens"))),
                        response_id=data.get("completion_id") if isinstance(data.get("completion_id"), str) else None,
                        system=system[0] if system else None)
    return entry


def _completion_text(value) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict) \
            and isinstance(value[0].get("content"), str):
        return value[0]["content"]
    return None


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def import_simple_evals(ws, path: str | Path, *, set_name: str | None = None, model: str | None = None,
                        grader: str | None = None, n_boot: int = 1000) -> GradedImportReport:
    """Import a simple-evals HealthBench results file (one transaction) and compare the figures."""
    path = Path(path)
    parsed = read_results(path)
    runs = []
    for part in parsed.runs:
        entries: list[GradedEntry] = part["entries"]
        if not entries:
            raise FormatError("no entries in metadata.example_level_metadata", path=path, line=part["line"])
        kind = part["rater_kind"] if part["rater_kind"] in ("clinician", "model") else RaterKind.MODEL.value
        systems = {e.system for e in entries} - {None}
        runs.append(GradedRun(
            model=model or part["model"] or model_from_name(path),
            grader=grader or part["rater"] or DEFAULT_GRADER,
            grader_kind=kind,
            grader_settings={"source": SOURCE, "file": path.name},
            entries=entries,
            settings={"system_message": sorted(systems)[0]} if len(systems) == 1 else {},
        ))
    report = store_graded_runs(ws, path, runs, source=SOURCE, sha256=parsed.sha256,
                               set_name=set_name or default_set_name(path))
    report.notes += parsed.skipped
    for part, run in zip(parsed.runs, runs):
        if not part["metrics"]:
            continue
        ours = score_workspace(ws, run_id=report.runs[run.model], rater=run.grader, n_boot=n_boot)
        if not ours:
            continue
        theirs = dict(part["metrics"])
        if isinstance(part["score"], (int, float)):
            theirs = {"score": part["score"], **theirs}
        checks, missing = compare(theirs, {"score": ours[0]["score"], **ours[0]["metrics"]})
        if len(runs) > 1:  # several (model, grader) results in one file: say whose each figure is
            for check in checks:
                check.key = f"{run.model} · {run.grader}: {check.key}"
        report.checks += checks
        report.not_compared += missing
        if any(k.startswith(("theme:", "physician_agreed_category:")) for k in missing) and not any(
                "example tags" in note for note in report.notes):
            report.notes.append("the file's entries carry no example tags, so theme and category figures "
                                "cannot be compared: import the HealthBench question file first, then this file")
    return report
