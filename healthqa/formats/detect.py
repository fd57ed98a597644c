"""Which importer a file needs: the one entry point of `healthqa import` and File → Import.

- an Inspect log (`.eval` zip, or `.json` starting with Inspect's `version`)
  → inspect_log.py;
- simple-evals HealthBench results (whole `_allresults.json`, its entries
  one per line, or HealthQA's `healthbench-results` export) → simple_evals.py;
- HealthBench's meta-eval file (physicians' labels) → meta_eval.py;
- anything else is read as HealthBench JSONL (healthbench.py), whose
  errors then say what is wrong with it.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

from .healthbench import FormatError, ImportReport, import_healthbench
from .inspect_log import import_inspect_log, is_inspect_log
from .meta_eval import import_meta_eval, is_meta_eval_file
from .simple_evals import import_simple_evals

HEALTHBENCH, META_EVAL, SIMPLE_EVALS, INSPECT_LOG = "healthbench", "meta-eval", "simple-evals", "inspect-log"
GRADED_RUNS = (SIMPLE_EVALS, INSPECT_LOG)  # files of answers graded by another tool's model grader
_HEAD = 64 * 1024
_KEY = re.compile(r'"([A-Za-z_][\w:]*)"\s*:')
_SIMPLE_EVALS_KEYS = {"rubric_items", "example_level_metadata", "htmls", "convos"}


def detect_format(path: str | Path) -> str:
    path = Path(path)
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            # A pipe or a device can be read once, and that reading belongs to the
            # import: read as HealthBench JSONL (whose errors say what a row is).
            return HEALTHBENCH
    except OSError:
        return HEALTHBENCH  # its reader names the problem (missing file, permissions, ...)
    if is_inspect_log(path):
        return INSPECT_LOG
    try:
        with path.open("rb") as handle:
            head = handle.read(_HEAD).decode("utf-8", errors="replace")
    except OSError:
        return HEALTHBENCH  # its reader names the problem (missing file, a folder, ...)
    if _SIMPLE_EVALS_KEYS & set(_KEY.findall(head)):
        return SIMPLE_EVALS
    if is_meta_eval_file(path):
        return META_EVAL
    return HEALTHBENCH


def import_file(ws, path: str | Path, *, set_name: str | None = None, model: str | None = None,
                rater: str | None = None, rater_kind: str = "clinician", grader: str | None = None,
                skip_invalid: bool = False) -> ImportReport:
    """Import any file HealthQA reads, by its detected format (each import is one transaction)."""
    kind = detect_format(path)
    if kind in GRADED_RUNS:
        if rater is not None or skip_invalid:
            raise FormatError(f"this is a {kind} file of model-graded answers: name its grader with --grader "
                              "(not --rater), and it is imported whole (no --skip-invalid)", path=path)
        importer = import_simple_evals if kind == SIMPLE_EVALS else import_inspect_log
        return importer(ws, path, set_name=set_name, model=model, grader=grader)
    if grader is not None:
        raise FormatError("--grader names the model grader of a simple-evals results file or an Inspect log; "
                          "for verdicts in a HealthBench file use --rater NAME --rater-kind model", path=path)
    if kind == META_EVAL:
        if model or rater:
            raise FormatError("a HealthBench meta-eval file names its own physicians and completions: "
                              "drop --model and --rater", path=path)
        return import_meta_eval(ws, path, set_name=set_name, skip_invalid=skip_invalid)
    return import_healthbench(ws, path, set_name=set_name, model=model, rater=rater, rater_kind=rater_kind,
                              skip_invalid=skip_invalid)
