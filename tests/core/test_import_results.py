"""Importing what researchers already ran: simple-evals results and Inspect logs.

The files under tests/fixtures/external/ were written by the tools themselves
(simple-evals' HealthBenchEval and `inspect eval inspect_evals/healthbench`)
against a loopback server: tests/fixtures/make_external_fixtures.py.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import pytest

from healthqa.formats.detect import INSPECT_LOG, SIMPLE_EVALS, detect_format, import_file
from healthqa.formats.exports import export_results
from healthqa.formats.healthbench import FormatError, import_healthbench
from healthqa.formats.inspect_log import import_inspect_log
from healthqa.formats.simple_evals import import_simple_evals, model_from_name
from healthqa.scoring import score_workspace
from healthqa.store import Workspace
from tests.core.test_cli import healthqa

EXTERNAL = Path(__file__).resolve().parents[1] / "fixtures" / "external"
ROWS = EXTERNAL / "healthbench_rows.jsonl"
SIMPLE = next((EXTERNAL / "simple_evals").glob("healthbench_*_allresults.json"))
INSPECT = EXTERNAL / "inspect"
INSPECT_LOGS = [INSPECT / "healthbench.eval", INSPECT / "healthbench_deflate.eval", INSPECT / "healthbench.json"]
TABLES = ("questions", "answers", "grades", "runs", "raters")


def counts(ws: Workspace) -> dict[str, int]:
    return {t: ws.scalar(f"SELECT count(*) FROM {t}") for t in TABLES}


def entries(path: Path = SIMPLE) -> list[dict]:
    return json.loads(path.read_text())["metadata"]["example_level_metadata"]


# -- simple-evals ----------------------------------------------------------------------------

def test_simple_evals_results_import_and_match_the_files_own_figures(workspace):
    import_healthbench(workspace, ROWS)  # the question file first: questions keep their example tags
    report = import_simple_evals(workspace, SIMPLE)
    data = json.loads(SIMPLE.read_text())
    n = len(data["metadata"]["example_level_metadata"])
    assert (report.rows, report.answers_created, report.questions_existing) == (n, n, 5)
    assert report.grades_written == sum(len(e["rubric_items"]) for e in entries())
    checks = {c.key: c for c in report.checks}
    for key in ("score", "overall_score", "overall_score:n_samples", "axis:accuracy", "level:cluster",
                "theme:emergency_referrals", "physician_agreed_category:emergent"):
        assert checks[key].must_agree and checks[key].agrees, key
    assert not checks["overall_score:bootstrap_std"].must_agree  # simple-evals does not seed it
    assert report.agrees and not report.not_compared
    # The same figure straight from the workspace's grades.
    [result] = score_workspace(workspace, run_id=report.runs["loopback-answerer"], rater="simple-evals grader")
    assert math.isclose(result["score"], data["score"], abs_tol=1e-9)
    assert "agrees with the file's on all" in report.summary()


def test_a_figure_that_does_not_match_is_called_out(tmp_path, workspace):
    data = json.loads(SIMPLE.read_text())
    data["metrics"]["axis:accuracy"] += 1e-6  # a grade lost or misread would move a figure like this
    changed = tmp_path / SIMPLE.name
    changed.write_text(json.dumps(data, indent=2))
    report = import_simple_evals(workspace, changed)
    assert not report.agrees
    assert "DIFFERS from the file's on 1 of" in report.summary() and "axis:accuracy" in report.summary()


def test_simple_evals_entries_keep_samples_model_grader_and_usage(workspace):
    report = import_simple_evals(workspace, SIMPLE, grader="simple-evals grader (gpt-4.1)")
    run_id = report.runs["loopback-answerer"]
    rows = workspace.query("""SELECT q.prompt_id, a.sample, a.model, a.text, a.input_tokens, a.output_tokens,
                                     a.response_id FROM answers a JOIN questions q ON q.id = a.question_id
                              WHERE a.run_id = ? ORDER BY q.prompt_id, a.sample""", (run_id,))
    by_prompt: dict[str, list[int]] = {}
    for r in rows:
        by_prompt.setdefault(r["prompt_id"], []).append(r["sample"])
    assert all(samples == [0, 1] for samples in by_prompt.values())  # n_repeats=2: two samples per prompt
    first = next(e for e in entries() if e["prompt_id"] == rows[0]["prompt_id"])
    assert {r["model"] for r in rows} == {"loopback-answerer"}
    stored = [r for r in rows if r["text"] == first["completion"][0]["content"]][0]
    assert (stored["input_tokens"], stored["output_tokens"], stored["response_id"]) == (
        first["usage"]["input_tokens"], first["usage"]["output_tokens"], first["completion_id"])
    rater = workspace.query_one("SELECT kind, grader_settings FROM raters WHERE name = 'simple-evals grader (gpt-4.1)'")
    assert rater["kind"] == "model" and json.loads(rater["grader_settings"])["source"] == "simple-evals"
    # The sampler's system message is not part of the HealthBench conversation.
    conversation = json.loads(workspace.scalar("SELECT conversation FROM questions WHERE prompt_id = ?",
                                               (first["prompt_id"],)))
    assert first["prompt"][0]["role"] == "system" and conversation == first["prompt"][1:]
    settings = json.loads(workspace.scalar("SELECT settings FROM runs WHERE id = ?", (run_id,)))
    assert settings["imported"]["system_message"] == "You are a helpful assistant."


def test_without_the_question_file_themes_are_not_compared_and_that_is_said(workspace):
    report = import_simple_evals(workspace, SIMPLE)
    assert report.questions_created == 5 and report.agrees
    assert "theme:hedging" in report.not_compared
    assert any("import the HealthBench question file first" in note for note in report.notes)


def test_the_same_entries_one_per_line(tmp_path, workspace):
    lines = tmp_path / "entries.jsonl"
    lines.write_text("".join(json.dumps(e) + "\n" for e in entries()))
    assert detect_format(lines) == SIMPLE_EVALS
    report = import_file(workspace, lines, model="gpt-4.1")
    assert report.rows == len(entries()) and report.runs.keys() == {"gpt-4.1"}
    assert not report.checks  # entries alone carry no figures


def test_model_name_from_simple_evals_file_names():
    assert model_from_name(Path("healthbench_gpt-4.1_20250512_101010_allresults.json")) == "gpt-4.1"
    assert model_from_name(Path("healthbench_hard_o3_high_20250512_101010_DEBUG_allresults.json")) == "o3_high"
    assert model_from_name(SIMPLE) == "loopback-answerer"


# -- Inspect ---------------------------------------------------------------------------------

def test_fixture_logs_are_zstd_and_deflate_as_inspect_writes_them():
    with zipfile.ZipFile(INSPECT / "healthbench.eval") as z:
        assert {i.compress_type for i in z.infolist()} == {93}  # zstd: Python < 3.14's zipfile cannot read it
    with zipfile.ZipFile(INSPECT / "healthbench_deflate.eval") as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_DEFLATED}


@pytest.mark.parametrize("log", INSPECT_LOGS, ids=lambda p: p.name)
def test_inspect_logs_import_and_match_the_logs_own_figures(workspace, log):
    import_healthbench(workspace, ROWS)
    assert detect_format(log) == INSPECT_LOG
    report = import_file(workspace, log)
    # The task's copied theme/category tags are taken off: the questions from the HealthBench file are reused.
    assert report.questions_existing == 5 and report.questions_created == 0
    assert report.rows == 5 and report.graders == ["inspect_evals grader (openai-api/loopback/loopback-grader)"]
    assert list(report.runs) == ["openai-api/loopback/loopback-answerer"]
    checks = {c.key: c for c in report.checks}
    for key in ("bootstrap_score", "healthbench_score", "criteria_met_rate", "axis_accuracy_score",
                "axis_completeness_n_samples", "theme_hedging_score"):
        assert checks[key].must_agree and checks[key].agrees, key
    assert report.agrees
    header = _log_header(log)
    [ours] = score_workspace(workspace, run_id=report.runs["openai-api/loopback/loopback-answerer"])
    theirs = next(s for s in header["results"]["scores"] if s["name"] == "_scorer")["metrics"]["bootstrap_score"]
    assert math.isclose(ours["score"], theirs["value"], abs_tol=1e-9)
    tags = [json.loads(t) for (t,) in workspace.conn.execute("SELECT tags FROM criteria")]
    assert not any(t.startswith(("theme:", "physician_agreed_category:")) for tag in tags for t in tag)


def test_an_inspect_log_alone_creates_questions_with_their_example_tags(workspace):
    report = import_inspect_log(workspace, INSPECT / "healthbench.eval")
    assert report.questions_created == 5
    themes = {r["theme"] for r in workspace.query("SELECT theme FROM questions")}
    assert themes == {"emergency_referrals", "hedging", "context_seeking", "communication", "global_health"}


def _log_header(log: Path) -> dict:
    if log.suffix == ".json":
        return json.loads(log.read_text())
    from healthqa.formats.inspect_log import read_log
    return read_log(log).header


# -- bad input: one clear line naming file and entry, nothing stored ---------------------------

def _refused(ws: Workspace, path: Path, *needles: str) -> str:
    before = counts(ws)
    with pytest.raises(FormatError) as info:
        import_file(ws, path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message, message
    for needle in needles:
        assert needle in message, message
    assert counts(ws) == before
    return message


def test_a_verdict_neither_true_nor_false_in_simple_evals_results(tmp_path, workspace):
    data = json.loads(SIMPLE.read_text())
    data["metadata"]["example_level_metadata"][3]["rubric_items"][1]["criteria_met"] = "yes"
    bad = tmp_path / "healthbench_m_20250101_000000_allresults.json"
    bad.write_text(json.dumps(data, indent=2))
    _refused(workspace, bad, "metadata.example_level_metadata[3].rubric_items[1].criteria_met",
             "must be true or false", data["metadata"]["example_level_metadata"][3]["prompt_id"])


def test_a_verdict_neither_true_nor_false_in_an_inspect_log(tmp_path, workspace):
    data = json.loads((INSPECT / "healthbench.json").read_text())
    data["samples"][2]["scores"]["_scorer"]["metadata"]["detailed_results"][0]["met"] = None
    bad = tmp_path / "log.json"
    bad.write_text(json.dumps(data))
    _refused(workspace, bad, "samples[2].scores._scorer.metadata.detailed_results[0].met", "must be true or false")


def test_results_of_another_simple_evals_eval(tmp_path, workspace):
    other = tmp_path / "simpleqa_gpt-4.1_20250101_000000_allresults.json"
    other.write_text(json.dumps({"score": 0.4, "metrics": {"is_correct": 0.4, "is_incorrect": 0.5, "score:std": 0.49},
                                 "htmls": ["<p>x</p>"], "convos": [[{"role": "user", "content": "q"}]],
                                 "metadata": {"example_level_metadata": [None]}}, indent=2))
    _refused(workspace, other, "another simple-evals eval", "is_correct", "example_level_metadata[0]")


def test_an_inspect_log_of_another_task(workspace):
    _refused(workspace, INSPECT / "other_task.eval", "'arithmetic'", "not Inspect's inspect_evals/healthbench")


def test_a_truncated_eval_log(tmp_path, workspace):
    data = (INSPECT / "healthbench.eval").read_bytes()
    bad = tmp_path / "cut.eval"
    bad.write_bytes(data[: len(data) // 2])
    _refused(workspace, bad, "damaged or truncated")


@pytest.mark.parametrize("log", ["healthbench.eval", "healthbench_deflate.eval"])
def test_a_zip_whose_sample_member_is_damaged(tmp_path, workspace, log):
    data = bytearray((INSPECT / log).read_bytes())
    with zipfile.ZipFile(INSPECT / log) as z:
        info = next(i for i in z.infolist() if i.filename.startswith("samples/"))
    middle = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size // 2
    data[middle:middle + 8] = bytes(b ^ 0x5A for b in data[middle:middle + 8])
    bad = tmp_path / log
    bad.write_bytes(bytes(data))
    _refused(workspace, bad, info.filename, "damaged")


def test_a_truncated_simple_evals_file(tmp_path, workspace):
    text = SIMPLE.read_text()
    bad = tmp_path / "healthbench_m_20250101_000000_allresults.json"
    bad.write_text(text[: int(len(text) * 0.8)])
    _refused(workspace, bad, "truncated")


def test_the_same_file_twice_is_refused(workspace):
    import_file(workspace, SIMPLE)
    _refused(workspace, SIMPLE, "imported already")


# -- round trip ---------------------------------------------------------------------------------

def _answers_and_grades(ws: Workspace) -> tuple[set, set]:
    answers = {tuple(r.values()) for r in ws.query(
        """SELECT q.prompt_id, a.model, a.text, a.input_tokens, a.output_tokens FROM answers a
           JOIN questions q ON q.id = a.question_id""")}
    grades = {tuple(r.values()) for r in ws.query(
        """SELECT q.prompt_id, a.model, a.text, c.position, r.name, r.kind, g.verdict, g.explanation
           FROM grades g JOIN answers a ON a.id = g.answer_id JOIN questions q ON q.id = a.question_id
           JOIN criteria c ON c.id = g.criterion_id JOIN raters r ON r.id = g.rater_id""")}
    return answers, grades


def test_round_trip_through_the_results_export(tmp_path, workspace):
    import_file(workspace, SIMPLE)
    import_file(workspace, INSPECT / "healthbench.eval")
    out = tmp_path / "results.jsonl"
    assert export_results(workspace, out) == 2
    other = Workspace(tmp_path / "other.healthqa")
    try:
        report = import_file(other, out)
        assert report.agrees and len(report.runs) == 2
        assert _answers_and_grades(other) == _answers_and_grades(workspace)
    finally:
        other.close()
    # What simple-evals' own readers take: the same keys and nesting as its _allresults.json.
    real = json.loads(SIMPLE.read_text())
    real_entry_keys = set(real["metadata"]["example_level_metadata"][0])
    real_item_keys = set(real["metadata"]["example_level_metadata"][0]["rubric_items"][0])
    for line in out.read_text().splitlines():
        exported = json.loads(line)
        assert set(real) <= set(exported)
        for entry in exported["metadata"]["example_level_metadata"]:
            assert real_entry_keys <= set(entry)
            assert all(real_item_keys <= set(item) for item in entry["rubric_items"])
            assert entry["completion"][0]["role"] == "assistant"


# -- the command ---------------------------------------------------------------------------------

def test_cli_import_prints_the_comparison(tmp_path):
    ws = tmp_path / "w.healthqa"
    healthqa("import", str(ROWS), workspace=ws)
    out = healthqa("import", str(SIMPLE), "--model", "gpt-4.1", "--grader", "simple-evals grader (gpt-4.1)",
                   workspace=ws).stdout
    assert "overall_score" in out and "agrees with the file's on all" in out
    assert "gpt-4.1 (run " in out
    proc = healthqa("import", str(INSPECT / "healthbench.eval"), "--rater", "x", workspace=ws, check=False)
    assert proc.returncode != 0 and "--grader" in proc.stderr


# -- the audit: a stratified sample for a clinician, graded blind, set against the grader ----------

def test_audit_flow_sample_grade_blinded_and_agreement(workspace):
    from healthqa.agreement import agreement_report
    from healthqa.review import assign
    from healthqa.review import load_rating_table
    from healthqa.review import grading_queue, load_answer, record_grade
    from healthqa.store import rater_id_by_name

    import_healthbench(workspace, ROWS)
    run_id = import_file(workspace, SIMPLE).runs["loopback-answerer"]
    report = assign(workspace, ["Dr Lee"], 1, run_id=run_id, sample=6, stratify="theme", seed=11)
    assert (report.answers, report.pool, report.created) == (6, 10, 6)
    assert set(report.strata) == {"emergency_referrals", "hedging", "context_seeking", "communication",
                                  "global_health"}  # every theme of the run is in the sample
    lee = rater_id_by_name(workspace, "Dr Lee")
    queue = grading_queue(workspace, lee)
    assert len(queue) == 6
    grader = rater_id_by_name(workspace, "simple-evals grader")
    for i, answer_id in enumerate(queue):
        view = load_answer(workspace, answer_id, lee)
        assert view.model is None  # blinded: not told which model wrote it
        for j, criterion in enumerate(view.criteria):
            theirs = workspace.scalar("SELECT verdict FROM grades WHERE answer_id = ? AND criterion_id = ? "
                                      "AND rater_id = ?", (answer_id, criterion.id, grader))
            flip = (i + j) % 4 == 0  # the clinician disagrees with the grader now and then
            mine = ("not_met" if theirs == "met" else "met") if flip else theirs
            record_grade(workspace, answer_id, criterion.id, lee, verdict=mine)
    table = load_rating_table(workspace, run_id=run_id)
    [entry] = agreement_report(table, n_boot=300, seed=0)["model_graders"]
    assert entry["rater"] == "simple-evals grader" and 0 < entry["macro_f1"] < 1
    lo, hi = entry["macro_f1_ci"]
    assert lo <= entry["macro_f1"] <= hi


def test_stratified_samples_repeat_by_seed_and_spread_over_themes(workspace):
    from healthqa.review import AssignmentError, assign, sample_answers

    import_healthbench(workspace, ROWS)
    run_id = import_file(workspace, SIMPLE).runs["loopback-answerer"]
    pool = [r["id"] for r in workspace.query("SELECT id FROM answers WHERE run_id = ? ORDER BY rowid", (run_id,))]
    first, strata = sample_answers(workspace, pool, 7, stratify="theme", seed=4)
    assert sample_answers(workspace, pool, 7, stratify="theme", seed=4) == (first, strata)
    assert len(first) == 7 and sum(strata.values()) == 7 and len(strata) == 5 and max(strata.values()) == 2
    assert sample_answers(workspace, pool, 3, stratify="theme", seed=4)[1].keys() <= set(strata)
    assert len(sample_answers(workspace, pool, 50, stratify="theme")[0]) == len(pool)  # more than there are: all
    with pytest.raises(AssignmentError, match="--sample"):
        assign(workspace, ["Dr Lee"], 1, run_id=run_id, stratify="theme")


def test_cli_assign_sample_stratified(tmp_path):
    ws = tmp_path / "w.healthqa"
    healthqa("import", str(ROWS), workspace=ws)
    healthqa("import", str(SIMPLE), workspace=ws)
    run_id = json.loads(healthqa("runs", "list", "--json", workspace=ws).stdout)[0]["id"]
    out = healthqa("assign", "--raters", "Dr Lee", "--run", run_id, "--sample", "5", "--stratify", "theme",
                   "--seed", "2", workspace=ws).stdout
    assert "A random sample of 5 of 10 answers; by theme:" in out
    agreement = healthqa("agreement", "--run", run_id, workspace=ws).stdout
    assert "simple-evals grader" in agreement
