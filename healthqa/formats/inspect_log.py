"""Inspect logs of `inspect eval inspect_evals/healthbench` in: `.eval` and `.json`.

Read directly, without Inspect: inspect-ai would pull dozens of packages
into a desktop app for what is a documented zip of JSON files. What we read:

- `.eval`: a zip. `header.json` holds the eval (task, task_args with the
  judge model, the model) and the results (the log's own figures);
  `samples/<id>_epoch_<n>.json` one sample each. Current Inspect compresses
  members with zstd (Python's zipfile reads it from 3.14 only, so the
  `zstandard` package decodes it before that; multi-frame streams too),
  older Inspect wrote deflate. Every member's CRC is checked, so a damaged
  or truncated log is refused, not half read.
- `.json`: the same, as one object with a `samples` list (walked sample by
  sample, json_stream.py).

Per-criterion verdicts come from each sample's score metadata
(`scores[...].metadata.detailed_results`: criterion, points, met,
explanation, tags), never from summaries.json, which drops fields over 1 kB.
The task copies each row's `theme:*` and `physician_agreed_category:*` tags
onto every criterion; they are taken off again (they are the question's
example tags), so the rubric matches the HealthBench row and questions
imported from the HealthBench file are reused.

The log's figures follow inspect_evals' definitions, not simple-evals':
`bootstrap_score` is the clipped mean (HealthQA's overall_score),
`healthbench_score` the unclipped mean, `criteria_met_rate` met criteria
over all criteria, and `axis_*_score` / `theme_*_score` clip each sample's
subset score before averaging. After the import they are recomputed by
those definitions from the stored grades and set beside the log's own.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import struct
import zipfile
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Iterator

import numpy as np
from pydantic import ValidationError

from ..domain import Criterion, Question, Usage, Verdict
from ..scoring import GradedExample, bootstrap_std, graded_examples, score_example, score_workspace
from .graded_import import GradedEntry, GradedImportReport, GradedRun, compare, store_graded_runs
from .healthbench import FormatError, validation_error
from .json_stream import Cursor, JsonShapeError

SOURCE = "inspect_evals/healthbench"
DEFAULT_JUDGE = "openai/gpt-4o-mini"  # the task's default when the log names none
ZIP_ZSTANDARD = 93
SAMPLE_LEVEL_PREFIXES = ("theme:", "physician_agreed_category:")
_TASK = re.compile(r"(^|/)healthbench(_hard|_consensus)?$")
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")


class InspectLog:
    def __init__(self, path: Path, header: dict, samples: Iterator[tuple[str, dict]], sha256: str):
        self.path, self.header, self.samples, self.sha256 = path, header, samples, sha256

    @property
    def eval(self) -> dict:
        return self.header.get("eval") or {}


def is_inspect_log(path: str | Path) -> bool:
    """An .eval zip, or a .json whose first key is Inspect's `version`."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(256)
    except OSError:
        return False
    if head.startswith(b"PK\x03\x04") or path.suffix == ".eval":
        return True
    return bool(re.match(rb'\s*\{\s*"version"\s*:\s*\d+\s*,\s*"status"', head))


# -- reading ---------------------------------------------------------------------------------

def read_log(path: str | Path) -> InspectLog:
    path = Path(path)
    if not path.exists():
        raise FormatError("no such file", path=path)
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if data.startswith(b"PK"):
        return _read_eval(path, data, sha)
    if path.suffix == ".eval":
        raise FormatError("not an Inspect .eval log: not a zip file (damaged or truncated?)", path=path)
    return _read_json(path, data, sha)


def _read_eval(path: Path, data: bytes, sha: str) -> InspectLog:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = {info.filename: info for info in archive.infolist()}
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise FormatError(f"not a readable Inspect .eval log: the zip is damaged or truncated ({exc})",
                          path=path) from None
    if "header.json" in infos:
        header = _json_member(path, data, archive, infos["header.json"])
    elif "_journal/start.json" in infos:
        header = _json_member(path, data, archive, infos["_journal/start.json"])
        header.setdefault("status", "started")
    else:
        raise FormatError("not an Inspect .eval log: the zip has no header.json", path=path)
    names = sorted(n for n in infos if n.startswith("samples/") and n.endswith(".json"))

    def samples() -> Iterator[tuple[str, dict]]:
        for name in names:
            yield name, _json_member(path, data, archive, infos[name])

    return InspectLog(path, header, samples(), sha)


def _json_member(path: Path, data: bytes, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> dict:
    raw = _member_bytes(path, data, archive, info)
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(f"{info.filename} is not valid JSON ({exc})", path=path) from None
    if not isinstance(value, dict):
        raise FormatError(f"{info.filename} is not a JSON object", path=path)
    return value


def _member_bytes(path: Path, data: bytes, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    damaged = f"{info.filename} is damaged or truncated"
    if info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        try:
            return archive.read(info)  # zipfile checks the CRC
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise FormatError(f"{damaged} ({exc})", path=path) from None
    if info.compress_type != ZIP_ZSTANDARD:
        raise FormatError(f"{info.filename} uses zip compression method {info.compress_type}, which Inspect "
                          "does not write", path=path)
    start = info.header_offset
    fields = _LOCAL_HEADER.unpack_from(data, start) if len(data) >= start + _LOCAL_HEADER.size else None
    if fields is None or fields[0] != b"PK\x03\x04":
        raise FormatError(damaged, path=path)
    begin = start + _LOCAL_HEADER.size + fields[10] + fields[11]  # name and extra field lengths
    raw = data[begin:begin + info.compress_size]
    if len(raw) != info.compress_size:
        raise FormatError(damaged, path=path)
    out = _zstd_decompress(raw, info.file_size)
    if out is None or len(out) != info.file_size or zlib.crc32(out) != info.CRC:
        raise FormatError(damaged, path=path)
    return out


def _zstd_decompress(raw: bytes, size: int) -> bytes | None:
    """All frames of a zstd stream (Inspect writes several for large members); None if damaged."""
    try:
        from compression import zstd  # Python 3.14+

        try:
            return zstd.decompress(raw)
        except zstd.ZstdError:
            return None
    except ImportError:
        pass
    import zstandard

    chunks, total = [], 0
    try:
        with zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True) as reader:
            while chunk := reader.read(1 << 20):
                chunks.append(chunk)
                total += len(chunk)
                if total > size:
                    return None
    except zstandard.ZstdError:
        return None
    return b"".join(chunks)


def _read_json(path: Path, data: bytes, sha: str) -> InspectLog:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FormatError(f"not UTF-8 text (byte {exc.start + 1})", path=path) from None
    del data
    cursor = Cursor(text)
    header: dict = {}
    samples: list[tuple[str, dict]] = []
    try:
        for key in cursor.members():
            if key == "samples" and cursor.kind() == "array":
                for index in cursor.elements():
                    sample = cursor.value()
                    samples.append((f"samples[{index}]", _slim(sample) if isinstance(sample, dict) else sample))
            elif key in ("reductions", "plan", "stats"):
                cursor.skip()
            else:
                header[key] = cursor.value()
        cursor.end()
    except JsonShapeError as exc:
        raise FormatError(f"not a readable Inspect log: {exc}", path=path) from None
    if "eval" not in header:
        raise FormatError("not an Inspect log: no 'eval' section", path=path)
    return InspectLog(path, header, iter(samples), sha)


def _slim(sample: dict) -> dict:
    """Drop what the import never reads (events and attachments are most of a log)."""
    return {k: v for k, v in sample.items() if k not in ("events", "attachments", "events_data", "messages", "store")}


# -- checking the task -------------------------------------------------------------------------

def check_task(log: InspectLog) -> None:
    ev, path = log.eval, log.path
    task = str(ev.get("task_registry_name") or ev.get("task") or "")
    args = ev.get("task_args") or {}
    if args.get("subset") == "meta_eval" or task.endswith("healthbench_meta_eval"):
        raise FormatError("this is Inspect's HealthBench meta-evaluation log: import HealthBench's meta-eval "
                          "file instead (physicians' labels)", path=path, field="eval.task")
    if not _TASK.search(task):
        raise FormatError(f"the log is of task {task!r}, not Inspect's inspect_evals/healthbench: only HealthBench "
                          "logs can be imported", path=path, field="eval.task")
    status = log.header.get("status")
    if status == "started":
        raise FormatError("the eval had not finished when this log was written (status 'started'): import the "
                          "finished log", path=path, field="status")


# -- samples -----------------------------------------------------------------------------------

def sample_entry(sample: dict, *, path: Path, where: str) -> tuple[GradedEntry | None, str | None]:
    """A sample as a graded entry, or (None, why it has nothing to import)."""
    if not isinstance(sample, dict):
        raise FormatError("a sample must be a JSON object", path=path, field=where)
    metadata = sample.get("metadata") if isinstance(sample.get("metadata"), dict) else {}
    prompt_id = metadata.get("prompt_id") or sample.get("id")
    label = f"{where} (sample {sample.get('id')!s}, epoch {sample.get('epoch', 1)})"
    if sample.get("error"):
        return None, f"{label} ended in an error; not imported"
    scored = [(name, s) for name, s in (sample.get("scores") or {}).items()
              if isinstance(s, dict) and isinstance(s.get("metadata"), dict) and "detailed_results" in s["metadata"]]
    output = sample.get("output") if isinstance(sample.get("output"), dict) else {}
    completion = output.get("completion")
    if not scored:
        return None, f"{label} has no graded criteria (no model answer, or the scorer did not run); not imported"
    name, score = scored[0]
    results = score["metadata"]["detailed_results"]
    field = f"{where}.scores.{name}.metadata.detailed_results"
    if not isinstance(results, list) or not results:
        raise FormatError("must be a non-empty list", path=path, field=field)
    if not isinstance(completion, str):
        completion = score.get("answer") if isinstance(score.get("answer"), str) else None
    if completion is None:
        raise FormatError("missing (the model's answer)", path=path, field=f"{where}.output.completion")
    example_tags = metadata.get("example_tags") if isinstance(metadata.get("example_tags"), list) else []
    copied = {t for t in example_tags if isinstance(t, str) and t.startswith(SAMPLE_LEVEL_PREFIXES)}
    criteria, verdicts = [], []
    for i, result in enumerate(results):
        if not isinstance(result, dict):
            raise FormatError("must be an object", path=path, field=f"{field}[{i}]")
        met = result.get("met")
        if not isinstance(met, bool):
            raise FormatError(f"must be true or false, not {met!r} (prompt_id {prompt_id})", path=path,
                              field=f"{field}[{i}].met")
        explanation = result.get("explanation")
        if explanation is not None and not isinstance(explanation, str):
            raise FormatError("must be a string", path=path, field=f"{field}[{i}].explanation")
        tags = [t for t in result.get("tags") or [] if t not in copied]
        try:
            criteria.append(Criterion(criterion=result.get("criterion"), points=result.get("points"), tags=tags))
        except ValidationError as exc:
            error = validation_error(exc, path=path, line=0, prefix=f"{field}[{i}]")
            raise FormatError(error.reason, path=path, field=error.field) from None
        verdicts.append((Verdict.MET if met else Verdict.NOT_MET, explanation))
    try:
        question = Question(prompt_id=str(prompt_id), prompt=_conversation(sample, metadata), rubrics=criteria,
                            example_tags=[t for t in example_tags if isinstance(t, str)])
    except ValidationError as exc:
        error = validation_error(exc, path=path, line=0, prefix=f"{where}.metadata")
        raise FormatError(error.reason, path=path, field=error.field) from None
    usage = output.get("usage") if isinstance(output.get("usage"), dict) else {}
    choices = output.get("choices") if isinstance(output.get("choices"), list) else []
    stop = choices[0].get("stop_reason") if choices and isinstance(choices[0], dict) else None
    return GradedEntry(where=where, line=None, question=question, completion=completion, verdicts=verdicts,
                       usage=Usage(input_tokens=_int(usage.get("input_tokens")),
                                   output_tokens=_int(usage.get("output_tokens")),
                                   reasoning_tokens=_int(usage.get("reasoning_tokens"))),
                       finish_reason=stop if isinstance(stop, str) else None), None


def _conversation(sample: dict, metadata: dict) -> list:
    """The HealthBench row's own messages (the task keeps them in metadata), else the sample's input."""
    if isinstance(metadata.get("conversation"), list):
        return metadata["conversation"]
    given = sample.get("input")
    if isinstance(given, str):
        return [{"role": "user", "content": given}]
    return [{"role": m.get("role"), "content": m.get("content")} for m in given or [] if isinstance(m, dict)]


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# -- the log's figures, and the same figures from HealthQA's grades ------------------------------

def log_metrics(header: dict) -> dict[str, float]:
    """The log's reported figures by their Inspect names (healthbench_score for the plain mean)."""
    out: dict[str, float] = {}
    for score in (header.get("results") or {}).get("scores") or []:
        for name, metric in (score.get("metrics") or {}).items():
            value = metric.get("value") if isinstance(metric, dict) else None
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                key = score.get("name") if name == "mean" and score.get("name") != "_scorer" else name
                out[key] = float(value)
    return out


def inspect_figures(examples: list[GradedExample]) -> dict[str, float]:
    """inspect_evals' healthbench metrics computed from graded examples by its own definitions."""
    scores = [s for s in (score_example(e).score for e in examples) if s is not None]
    if not scores:
        return {}
    values = np.asarray(scores, dtype=float)
    met = sum(c.met is True for e in examples for c in e.criteria)
    total = sum(len(e.criteria) for e in examples)
    out = {"healthbench_score": float(values.mean()), "bootstrap_score": float(np.clip(values.mean(), 0, 1)),
           "std": bootstrap_std(values, "overall_score"), "criteria_met_rate": met / total if total else 0.0}
    for prefix, name in (("axis:", "axis"), ("theme:", "theme")):
        per_sample: dict[str, list[float]] = defaultdict(list)
        for example in examples:
            copied = tuple(t for t in example.example_tags if t.startswith(SAMPLE_LEVEL_PREFIXES))
            points: dict[str, float] = defaultdict(float)
            possible: dict[str, float] = defaultdict(float)
            for c in example.criteria:
                for tag in (*c.tags, *copied):  # the tags Inspect's scorer saw on the criterion
                    if tag.startswith(prefix):
                        category = tag[len(prefix):]
                        if c.points > 0:
                            possible[category] += c.points
                        if c.met:
                            points[category] += c.points
            for category, top in possible.items():
                if top > 0:
                    per_sample[category].append(float(np.clip(points[category] / top, 0.0, 1.0)))
        for category, subset in per_sample.items():
            array = np.asarray(subset)
            key = f"{name}_{category}"
            out[f"{key}_score"] = float(np.clip(array.mean(), 0, 1))
            out[f"{key}_std"] = bootstrap_std(array, f"{prefix}{category}")
            out[f"{key}_n_samples"] = float(len(array))
    return out


# -- importing ---------------------------------------------------------------------------------

def import_inspect_log(ws, path: str | Path, *, set_name: str | None = None, model: str | None = None,
                       grader: str | None = None) -> GradedImportReport:
    """Import an Inspect HealthBench log (one transaction) and compare the log's figures."""
    path = Path(path)
    log = read_log(path)
    check_task(log)
    entries, notes = [], []
    for where, sample in log.samples:
        entry, why = sample_entry(sample, path=path, where=where)
        if entry is None:
            notes.append(why)
        else:
            entries.append(entry)
    if not entries:
        raise FormatError("no graded samples to import" + (f" ({notes[0]})" if notes else ""), path=path)
    ev = log.eval
    args = ev.get("task_args") or {}
    judge = args.get("judge_model") if isinstance(args.get("judge_model"), str) else DEFAULT_JUDGE
    run = GradedRun(
        model=model or str(ev.get("model") or "unknown"),
        grader=grader or f"inspect_evals grader ({judge})",
        entries=entries,
        grader_settings={"source": SOURCE, "judge_model": judge, "judge_temperature": args.get("judge_temperature"),
                         "judge_system_message": args.get("judge_system_message"),
                         "task_version": (ev.get("metadata") or {}).get("full_task_version")},
        settings={"eval_id": ev.get("eval_id"), "task": ev.get("task"), "log_status": log.header.get("status"),
                  "epochs": (ev.get("config") or {}).get("epochs")},
    )
    report = store_graded_runs(ws, path, [run], source=SOURCE, sha256=log.sha256,
                               set_name=set_name or path.stem)
    report.notes += notes
    if log.header.get("status") not in (None, "success"):
        report.notes.append(f"the log's status is {log.header.get('status')!r}: its figures cover the samples "
                            "that finished")
    run_id = report.runs[run.model]
    ours = inspect_figures(graded_examples(ws, run_id=run_id, rater=run.grader))
    theirs = log_metrics(log.header)
    report.checks, report.not_compared = compare(theirs, ours)
    report.ours_label = "HealthQA"
    own = score_workspace(ws, run_id=run_id, rater=run.grader)
    if own:
        report.notes.append(f"HealthQA's HealthBench score of this run (simple-evals rules): {own[0]['score']:.9f}; "
                            "the log's figures below are recomputed from the imported grades by inspect_evals' "
                            "definitions (healthbench_score: unclipped mean; axis and theme scores clip each sample)")
    if notes:
        report.notes.append(f"{len(notes)} samples were not imported, so the log's figures, which count them, "
                            "may differ")
    return report
