"""Long-form CSV / JSONL and HealthBench-style results: rows, fields, filters, formula guard, score round trip."""

import csv
from pathlib import Path
import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

from healthqa import store
from healthqa.domain import Answer, Usage
from healthqa.review import flag_criterion
from healthqa.formats.exports import (LONG_COLUMNS, ExportError, export_long, export_results, iter_long_rows,
                                      safe_cell)
from healthqa.formats.healthbench import import_healthbench
from healthqa.scoring import MAJORITY, score_workspace
from tests.conftest import healthbench_row, write_jsonl

N_BOOT = 50
NASTY = '=cmd|\' /C calc\'!A0, "quoted", two\nlines'


@pytest.fixture
def graded(workspace, tmp_path):
    """2 questions x 2 models graded by a model grader; Dr A and Dr B grade some of it; a run answer with tokens."""
    rows = []
    for i, verdicts in enumerate([(True, True, False), (True, False, True)]):
        for model in ("m1", "m2"):
            row = healthbench_row(f"p{i}", completion=f"p{i} answer by {model}", model=model,
                                  example_tags=["theme:hedging" if i else "theme:context_seeking"])
            for item, met in zip(row["rubrics"], verdicts):
                item["criteria_met"], item["explanation"] = met, "grader reason"
            rows.append(row)
    import_healthbench(workspace, write_jsonl(tmp_path / "g.jsonl", rows), set_name="S", rater="grader-g",
                       rater_kind="model")
    ws = workspace
    a, b = store.ensure_rater(ws, "Dr A"), store.ensure_rater(ws, "Dr B")
    m1 = [r["id"] for r in store.answer_rows(ws, model="m1")]
    crit = {aid: [c["id"] for c in store.criteria_rows(ws, ws.scalar(
        "SELECT question_id FROM answers WHERE id = ?", (aid,)))] for aid in m1}
    for verdict, cid in zip(["met", "not_met", "met"], crit[m1[0]]):
        store.set_grade(ws, m1[0], cid, a, verdict, NASTY if verdict == "not_met" else None, active_seconds=4.5)
    store.set_grade(ws, m1[1], crit[m1[1]][0], a, "cannot_judge", "+1 unclear")
    for verdict, cid in zip(["met", "met", "not_met"], crit[m1[0]]):
        store.set_grade(ws, m1[0], cid, b, verdict, "@SUM(A1)")
    flag_criterion(ws, crit[m1[0]][2], "Dr A", "wrong_sign")
    with ws.transaction() as conn:
        conn.execute("INSERT INTO runs (id, kind, created_at) VALUES ('run-9', 'answer', ?)", (store.now(),))
    qid = store.question_id_by_prompt_id(ws, "p0")
    run_answer, _ = store.add_answer(ws, qid, Answer(text="run text", model="m1", usage=Usage(
        input_tokens=10, output_tokens=20, reasoning_tokens=5)), run_id="run-9")
    for cid in crit[m1[0]]:
        store.set_grade(ws, run_answer, cid, a, "met")
    return ws, m1, crit


def test_long_rows_one_per_answer_criterion_rater(graded):
    ws, m1, crit = graded
    rows = list(iter_long_rows(ws))
    # (answer, rater) pairs with a grade: grader 4, Dr A 3, Dr B 1 -> 8 pairs x 3 criteria
    assert len(rows) == 24 and all(set(r) == set(LONG_COLUMNS) for r in rows)
    by_key = {(r["answer_id"], r["rater"], r["criterion_position"]): r for r in rows}  # positions from 1, as shown
    assert len(by_key) == 24  # nothing doubled
    row = by_key[(m1[0], "Dr A", 2)]
    assert row == {
        "prompt_id": "p0", "theme": "context_seeking", "model": "m1", "run_id": None, "answer_id": m1[0],
        "criterion_position": 2, "criterion": healthbench_row()["rubrics"][1]["criterion"], "points": 8,
        "tags": ["axis:accuracy", "level:example"], "axis": "accuracy", "rater": "Dr A", "rater_kind": "clinician",
        "verdict": "not_met", "criteria_met": False, "explanation": NASTY, "active_seconds": 4.5,
        "graded_at": row["graded_at"], "flagged": False, "flag_reason": None}
    assert by_key[(m1[0], "Dr A", 3)]["flagged"] and by_key[(m1[0], "Dr A", 3)]["flag_reason"] == "wrong_sign"
    assert not by_key[(m1[0], "Dr B", 3)]["flagged"]  # a flag is its rater's own
    ungraded = by_key[(m1[1], "Dr A", 2)]  # Dr A judged only the first criterion of that answer
    assert (ungraded["verdict"], ungraded["criteria_met"], ungraded["graded_at"]) == (None, None, None)
    assert by_key[(m1[1], "Dr A", 1)]["verdict"] == "cannot_judge"
    assert by_key[(m1[1], "Dr A", 1)]["criteria_met"] is None


@pytest.mark.parametrize("filters, expected", [
    ({"rater": "Dr A"}, 9), ({"rater": "grader-g"}, 12), ({"model": "m2"}, 6), ({"run_id": "run-9"}, 3),
    ({"set_name": "S", "model": "m1", "rater": "Dr B"}, 3),
])
def test_filters(graded, filters, expected):
    ws, _, _ = graded
    rows = list(iter_long_rows(ws, **filters))
    assert len(rows) == expected
    for key, column in (("rater", "rater"), ("model", "model"), ("run_id", "run_id")):
        if key in filters:
            assert {r[column] for r in rows} == {filters[key]}


def test_csv_is_quoted_and_guarded_against_formulas(graded, tmp_path):
    ws, m1, _ = graded
    assert export_long(ws, tmp_path / "long.csv", fmt="csv") == 24
    raw = (tmp_path / "long.csv").read_bytes()
    with open(tmp_path / "long.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 24 and list(rows[0]) == list(LONG_COLUMNS)
    explanations = {r["explanation"] for r in rows}
    assert "'" + NASTY in explanations and "'+1 unclear" in explanations and "'@SUM(A1)" in explanations
    assert not any(cell.startswith(("=", "+", "@")) for r in rows for cell in r.values())
    assert {r["points"] for r in rows} == {"6", "8", "-7"}  # numbers are data, not formulas: no quote
    flagged = [r for r in rows if r["flagged"] == "true"]  # Dr A's flag, on both answers Dr A graded to p0
    assert len(flagged) == 2 and {r["rater"] for r in flagged} == {"Dr A"}
    assert flagged[0]["tags"] == "axis:accuracy;level:example"
    assert b"\r\n" in raw  # RFC 4180 line ends; the newline inside a comment stays inside its quoted cell


def test_jsonl_keeps_types(graded, tmp_path):
    ws, _, _ = graded
    assert export_long(ws, tmp_path / "long.jsonl", fmt="jsonl", rater="Dr B") == 3
    rows = [json.loads(x) for x in (tmp_path / "long.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["criteria_met"] for r in rows] == [True, True, False]
    assert rows[0]["tags"] == ["axis:context_awareness", "level:example"] and rows[0]["points"] == 6
    assert rows[0]["explanation"] == "@SUM(A1)"  # JSON is not a spreadsheet: text as given


@pytest.mark.parametrize("value, shown", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1 day", "'-1 day"), ("@x", "'@x"), ("\tx", "'\tx"), ("ok", "ok"),
    (-7, -7), (2.5, 2.5), (None, ""), (True, "true"), (["a", "=b"], "a;=b"),
])
def test_safe_cell(value, shown):
    assert safe_cell(value) == shown


def test_results_have_the_simple_evals_shape_and_the_workspace_scores(graded, tmp_path):
    ws, m1, _ = graded
    assert export_results(ws, tmp_path / "results.jsonl", n_boot=N_BOOT) == 5
    lines = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    expected = {(r["model"], r["rater"]): r for r in score_workspace(ws, n_boot=N_BOOT)}
    assert {(r["model"], r["rater"]) for r in lines} == set(expected)
    assert ("m1", MAJORITY) in expected  # two clinicians graded m1
    for line in lines:
        want = expected[(line["model"], line["rater"])]
        assert set(line) >= {"score", "metrics", "htmls", "convos", "metadata"}
        assert line["score"] == want["score"] and line["metrics"] == want["metrics"]
        examples = line["metadata"]["example_level_metadata"]
        assert len(examples) == want["answers"]
        scores = [e["score"] for e in examples if e["score"] is not None]
        assert line["score"] == pytest.approx(float(np.clip(np.mean(scores), 0, 1)))  # the examples add up
        for e in examples:
            completion = e["completion"][0]["content"]
            assert e["completion_id"] == hashlib.sha256((e["prompt_id"] + completion).encode()).hexdigest()
            assert e["prompt"][0]["role"] == "user" and len(e["rubric_items"]) == 3
            assert set(e["rubric_items"][0]) == {"criterion", "points", "tags", "criteria_met", "explanation"}
    grader_m1 = next(x for x in lines if (x["model"], x["rater"]) == ("m1", "grader-g"))
    first = next(e for e in grader_m1["metadata"]["example_level_metadata"] if e["prompt_id"] == "p0")
    assert [i["criteria_met"] for i in first["rubric_items"]] == [True, True, False]
    assert first["score"] == pytest.approx(1.0) and first["usage"] is None
    run_line = next(x for x in lines if (x["model"], x["rater"]) == ("m1", "Dr A"))
    run_example = next(e for e in run_line["metadata"]["example_level_metadata"] if e["completion"][0]["content"]
                       == "run text")
    assert run_example["usage"] == {"input_tokens": 10, "output_tokens": 20, "output_reasoning_tokens": 5,
                                    "total_tokens": 30}


def test_results_filters_and_majority(graded, tmp_path):
    ws, _, _ = graded
    assert export_results(ws, tmp_path / "r.jsonl", rater="majority", n_boot=N_BOOT) == 1
    [line] = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    [want] = score_workspace(ws, rater="majority", n_boot=N_BOOT)
    assert line["rater"] == MAJORITY and line["score"] == want["score"]
    items = line["metadata"]["example_level_metadata"][0]["rubric_items"]
    assert [i["criteria_met"] for i in items] == [True, None, None]  # A and B split on two criteria: no majority


def test_failed_export_leaves_the_old_file_and_no_leftovers(graded, tmp_path):
    ws, _, _ = graded
    out = tmp_path / "keep.csv"
    out.write_text("old content")
    for call, message in ((lambda: export_long(ws, out, rater="Dr Nobody"), "no rater named 'Dr Nobody'"),
                          (lambda: export_long(ws, out, set_name="Nope"), "no question set named 'Nope'"),
                          (lambda: export_long(ws, out, fmt="xlsx"), "unknown row format"),
                          (lambda: export_results(ws, out, rater="Dr Nobody"), "no rater named")):
        with pytest.raises(ExportError, match=message):
            call()
    assert out.read_text() == "old content" and sorted(p.name for p in tmp_path.iterdir()) == ["g.jsonl",
                                                                                               "keep.csv",
                                                                                               "test.healthqa",
                                                                                               "test.healthqa-shm",
                                                                                               "test.healthqa-wal"]


def test_cli_export_formats(graded, tmp_path):
    ws, _, _ = graded
    ws.close()

    def run(*args, code=0):
        proc = subprocess.run([sys.executable, "-m", "healthqa.cli", "--workspace", str(tmp_path / "test.healthqa"),
                               "export", *args], capture_output=True, text=True, timeout=60)
        assert proc.returncode == code, proc.stderr
        return proc

    assert "Wrote 9 rows" in run("--format", "csv", "--rater", "Dr A", "--out", str(tmp_path / "a.csv")).stdout
    assert "Wrote 3 rows" in run("--format", "jsonl", "--run", "run-9", "--out", str(tmp_path / "r.jsonl")).stdout
    assert "Wrote 1 (model, rater) results" in run("--format", "healthbench-results", "--model", "m2", "--out",
                                                   str(tmp_path / "res.jsonl")).stdout
    assert "give --set NAME" in run("--format", "healthbench", "--out", str(tmp_path / "x"), code=2).stderr


# -- issue 9, item 5: --out is written, never replaced, unless it is a regular file ----------------

def _bundle_out(ws, out):
    from healthqa.review import assign
    from healthqa.formats.bundle import export_bundle

    if not ws.scalar("SELECT count(*) FROM assignments"):
        assign(ws, ["Dr A"], 1)
    export_bundle(ws, "Dr A", out)


def _report_out(ws, out):
    from healthqa.formats.report import write_report

    write_report(ws, out, "html")


def _healthbench_out(ws, out):
    from healthqa.formats.healthbench import export_healthbench

    export_healthbench(ws, "S", out)


def _flags_out(ws, out):
    from healthqa.review import export_flags

    export_flags(ws, out)


WRITERS = {  # every command that writes what --out names
    "long csv": lambda ws, out: export_long(ws, out, fmt="csv"),
    "results": lambda ws, out: export_results(ws, out, n_boot=N_BOOT),
    "healthbench": _healthbench_out,
    "flags": _flags_out,
    "report": _report_out,
    "bundle": _bundle_out,
}


def _looks_right(name, data: bytes, tmp_path):
    """The bytes that reached the target are a whole file of that kind."""
    if name == "bundle":
        from healthqa.formats.bundle import read_bundle

        copy = tmp_path / "copy.hqbundle"
        copy.write_bytes(data)
        assert read_bundle(copy).manifest.rater == "Dr A"
    elif name == "report":
        assert data.rstrip().endswith(b"</html>")
    else:
        assert data and data.endswith(b"\n")


def _read_fifo_in_background(path):
    """A reader on the FIFO, as another program at the end of the pipe would be."""
    import threading

    box = {}

    def read():
        with open(path, "rb") as pipe:
            box["data"] = pipe.read()

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, box


@pytest.mark.parametrize("name", list(WRITERS))
def test_out_naming_a_fifo_is_written_into_not_replaced(graded, tmp_path, name):
    import os
    import stat

    ws, _, _ = graded
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader, box = _read_fifo_in_background(fifo)
    try:
        WRITERS[name](ws, fifo)
    finally:
        if reader.is_alive() and stat.S_ISFIFO(os.lstat(fifo).st_mode):  # never leave the reader hanging
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
    reader.join(timeout=30)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced by a regular file"
    _looks_right(name, box["data"], tmp_path)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no leftovers beside it


@pytest.mark.parametrize("name", list(WRITERS))
def test_out_naming_a_device_is_written_into_not_replaced(graded, tmp_path, name):
    """A null device made for the test (not /dev/null itself: a bug here must not break the machine)."""
    import os
    import stat

    ws, _, _ = graded
    device = tmp_path / "null"
    try:
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        device = Path("/dev/null")  # not allowed to make device nodes: /dev/null cannot be replaced either
    WRITERS[name](ws, device)
    assert stat.S_ISCHR(os.lstat(device).st_mode) and os.lstat(device).st_rdev == os.makedev(1, 3)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("name", list(WRITERS))
def test_out_naming_a_symlink_writes_its_target_and_keeps_the_link(graded, tmp_path, name):
    import os

    ws, _, _ = graded
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    target = folder / "real.out"
    target.write_text("old content")
    link = tmp_path / "link.out"
    link.symlink_to(target)
    dangling = tmp_path / "dangling.out"
    dangling.symlink_to(folder / "not-yet.out")
    WRITERS[name](ws, link)
    WRITERS[name](ws, dangling)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert dangling.is_symlink() and os.readlink(dangling) == str(folder / "not-yet.out")
    _looks_right(name, target.read_bytes(), tmp_path)
    _looks_right(name, (folder / "not-yet.out").read_bytes(), tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["not-yet.out", "real.out"]  # no leftovers


@pytest.mark.parametrize("name", list(WRITERS))
def test_out_naming_a_regular_file_is_replaced_whole(graded, tmp_path, name):
    ws, _, _ = graded
    out = tmp_path / "plain.out"
    out.write_text("old content")
    WRITERS[name](ws, out)
    _looks_right(name, out.read_bytes(), tmp_path)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".") or p.name.endswith(".part")]
