"""Offline review bundles: out and back with nothing lost or doubled, conflicts, other
workspaces, blinding, no keys, and every kind of bad file refused with the workspace untouched."""

import base64
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import zipfile

import pytest

from healthqa import store
from healthqa.review import assign
from healthqa.domain import Answer, ModelConfig, RaterKind
from healthqa.review import flag_criterion
from healthqa.formats import bundle as bundle_module
from healthqa.formats.bundle import exchange as bundle_exchange
from healthqa.formats.bundle import BundleError, export_bundle, import_bundle, read_bundle
from healthqa.formats.healthbench import import_healthbench
from healthqa.store import Workspace
from tests.conftest import healthbench_row, write_jsonl

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"tiny-image-bytes").decode()
B_COMMENT = "B-SECRET-COMMENT-7781"
GRADER_NOTE = "G-GRADER-NOTE-5512"
SECRET_ENV = "HQA_BUNDLE_TEST_SECRET_ENV"
SECRET_VALUE = "sk-live-DISTINCTIVE-98765"
SECRET_URL = "https://distinctive-base-url.example/v1"


def source_file(tmp_path):
    """Four questions (one with an image) with answers by two models, as a HealthBench file."""
    rows = []
    for i in range(4):
        overrides = {}
        if i == 0:
            overrides["prompt"] = [{"role": "user", "content": [
                {"type": "text", "text": "What is this rash?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]}]
        for model in ("m1", "m2"):
            rows.append(healthbench_row(f"p{i}", completion=f"answer to p{i} by {model}", model=model, **overrides))
    return write_jsonl(tmp_path / "source.jsonl", rows)


def build_home(ws, tmp_path):
    import_healthbench(ws, source_file(tmp_path), set_name="S")
    config_id = store.save_model_config(ws, ModelConfig(name="cfg-secret", provider="openai-compatible", model="x",
                                                        base_url=SECRET_URL, api_key_env=SECRET_ENV))
    with ws.transaction() as conn:  # an answer run made with that config
        conn.execute("INSERT INTO runs (id, kind, model_config_id, settings, created_at) VALUES "
                     "('run-1', 'answer', ?, '{\"temperature\": 0.123456}', ?)", (config_id, store.now()))
    question_id = store.question_id_by_prompt_id(ws, "p1")
    store.add_answer(ws, question_id, Answer(text="run answer", model="cfg-secret"), run_id="run-1",
                     model_config_id=config_id)
    assign(ws, ["Dr Alpha", "Dr Bravo"], 2)
    alpha, bravo = (store.rater_id_by_name(ws, n) for n in ("Dr Alpha", "Dr Bravo"))
    grader = store.ensure_rater(ws, "org/grader-g", RaterKind.MODEL, grader_settings={"prompt": "GRADER-SETTINGS-XYZ"})
    for answer in store.answer_rows(ws):
        for c in store.criteria_rows(ws, answer["question_id"]):
            store.set_grade(ws, answer["id"], c["id"], bravo, "met", B_COMMENT)
            store.set_grade(ws, answer["id"], c["id"], grader, "not_met", GRADER_NOTE)
        store.save_review(ws, answer["id"], bravo, comment=B_COMMENT, submitted=True)
    first = answer_of(ws, "p0", "m1")
    store.set_grade(ws, first, criteria_of(ws, first)[0], alpha, "met", "home verdict", active_seconds=5)
    return alpha


def answer_of(ws, prompt_id, model):
    return ws.scalar("SELECT a.id FROM answers a JOIN questions q ON q.id = a.question_id "
                     "WHERE q.prompt_id = ? AND a.model = ?", (prompt_id, model))


def criteria_of(ws, answer_id):
    return [r["id"] for r in ws.query("SELECT c.id FROM criteria c JOIN answers a ON a.question_id = c.question_id "
                                      "WHERE a.id = ? ORDER BY c.position", (answer_id,))]


@pytest.fixture
def home(workspace, tmp_path):
    alpha = build_home(workspace, tmp_path)
    return workspace, alpha


@pytest.fixture
def exported(home, tmp_path):
    ws, alpha = home
    path = tmp_path / "alpha.hqbundle"
    export_bundle(ws, "Dr Alpha", path)
    return ws, alpha, path


class Offline:
    """The bundle opened as a workspace, as the desktop app does to grade offline."""

    def __init__(self, path):
        self.ws = Workspace(path, create=False)

    def __enter__(self):
        return self.ws

    def __exit__(self, *exc):
        self.ws.close()


def grade_everything(path, alpha, verdict="not_met", comment="offline note", seconds=2.5):
    with Offline(path) as b:
        for answer in b.query("SELECT id FROM answers"):
            for cid in criteria_of(b, answer["id"]):
                store.set_grade(b, answer["id"], cid, alpha, verdict, f"{comment} {cid[-4:]}", active_seconds=seconds)
            store.save_review(b, answer["id"], alpha, comment=f"review {answer['id'][-4:]}", unsafe=True,
                              active_seconds=7, submitted=True)


def dump(ws) -> list[str]:
    """Every row of the workspace, as SQL text: equal dumps, equal workspaces."""
    return list(ws.conn.iterdump())


def mine(ws, alpha, table):
    return ws.query(f"SELECT * FROM {table} WHERE rater_id = ? ORDER BY 1, 2", (alpha,))


# -- out and back ---------------------------------------------------------------------

def test_round_trip_loses_and_doubles_nothing(exported):
    ws, alpha, path = exported
    grade_everything(path, alpha)
    with Offline(path) as b:
        flag_criterion(b, criteria_of(b, answer_of(b, "p2", "m1"))[2], "Dr Alpha", "ambiguous", "which pain?")
        offline = {(g["answer_id"], g["criterion_id"]): (g["verdict"], g["explanation"], g["active_seconds"])
                   for g in mine(b, alpha, "grades")}
        reviews = {r["answer_id"]: (r["comment"], r["unsafe"], r["active_seconds"], r["submitted_at"])
                   for r in mine(b, alpha, "answer_reviews")}
    report = import_bundle(ws, path)
    assert report.conflicts == [] and report.stale == 0
    at_home = {(g["answer_id"], g["criterion_id"]): (g["verdict"], g["explanation"], g["active_seconds"])
               for g in mine(ws, alpha, "grades")}
    assert at_home == offline  # every verdict, comment and second of active time, once
    assert len(at_home) == 9 * 3  # 9 assigned answers x 3 criteria: nothing doubled
    assert report.added["grade"] == 26 and report.updated["grade"] == 1  # the home grade changed offline
    assert {r["answer_id"]: (r["comment"], r["unsafe"], r["active_seconds"], r["submitted_at"])
            for r in mine(ws, alpha, "answer_reviews")} == reviews
    [flag] = mine(ws, alpha, "criterion_flags")
    assert (flag["reason"], flag["comment"]) == ("ambiguous", "which pain?")
    assert report.active_seconds == pytest.approx(27 * 2.5 + 9 * 7)
    kinds = [r["direction"] for r in ws.query("SELECT direction FROM bundles ORDER BY created_at")]
    assert kinds == ["export", "import"]


def test_importing_twice_changes_nothing(exported):
    ws, alpha, path = exported
    grade_everything(path, alpha)
    import_bundle(ws, path)
    before = dump(ws)
    again = import_bundle(ws, path)
    assert not again.changed and "Nothing new" in again.summary()
    assert dump(ws) == before


def test_further_offline_work_merges_only_what_is_new(exported):
    ws, alpha, path = exported
    grade_everything(path, alpha, seconds=1)
    import_bundle(ws, path)
    target = answer_of(ws, "p3", "m2")
    with Offline(path) as b:  # the clinician goes on grading in the same file
        store.set_grade(b, target, criteria_of(b, target)[1], alpha, "cannot_judge", "second look", active_seconds=4)
    report = import_bundle(ws, path)
    assert (report.added["grade"], report.updated["grade"], report.conflicts) == (0, 1, [])
    assert report.active_seconds == pytest.approx(4)  # the earlier seconds are not counted again
    grade = ws.query_one("SELECT verdict, active_seconds FROM grades WHERE answer_id = ? AND criterion_id = ? "
                         "AND rater_id = ?", (target, criteria_of(ws, target)[1], alpha))
    assert grade == {"verdict": "cannot_judge", "active_seconds": pytest.approx(5)}


def test_changed_grade_keeps_both_versions_and_the_latest_wins(exported):
    ws, alpha, path = exported
    first = answer_of(ws, "p0", "m1")
    criterion = criteria_of(ws, first)[0]
    with Offline(path) as b:
        store.set_grade(b, first, criterion, alpha, "not_met", "changed my mind", active_seconds=3)
    report = import_bundle(ws, path)
    assert report.updated["grade"] == 1 and not report.conflicts
    grade = ws.query_one("SELECT * FROM grades WHERE answer_id = ? AND criterion_id = ? AND rater_id = ?",
                         (first, criterion, alpha))
    assert (grade["verdict"], grade["explanation"], grade["active_seconds"]) == ("not_met", "changed my mind", 8)
    [change] = store.grade_history(ws, first)[-1:]
    assert (change["old_verdict"], change["new_verdict"], change["old_explanation"], change["reason"]) == (
        "met", "not_met", "home verdict", "bundle")


def set_stamp(path, answer_id, criterion_id, rater_id, stamp):
    """Say when an offline verdict was given (the clock of the clinician's machine)."""
    with Offline(path) as b, b.transaction() as conn:
        conn.execute("UPDATE grades SET updated_at = ? WHERE answer_id = ? AND criterion_id = ? AND rater_id = ?",
                     (stamp, answer_id, criterion_id, rater_id))


@pytest.mark.parametrize("offline_stamp, kept, final", [
    ("2999-01-01T00:00:00.000+00:00", "bundle", "cannot_judge"),   # graded offline after the change at home
    ("2000-01-01T00:00:00.000+00:00", "workspace", "not_met"),     # graded offline before it
])
def test_conflict_is_reported_and_the_newer_version_wins(exported, offline_stamp, kept, final):
    ws, alpha, path = exported
    first = answer_of(ws, "p0", "m1")
    criterion = criteria_of(ws, first)[0]
    with Offline(path) as b:
        store.set_grade(b, first, criterion, alpha, "cannot_judge", "offline view")
    set_stamp(path, first, criterion, alpha, offline_stamp)
    store.set_grade(ws, first, criterion, alpha, "not_met", "home view")  # the same grade, changed at home
    report = import_bundle(ws, path)
    [conflict] = report.conflicts
    assert (conflict.prompt_id, conflict.model, conflict.criterion, conflict.kept) == ("p0", "m1", 1, kept)
    assert "not_met" in conflict.workspace and "cannot_judge" in conflict.bundle
    assert "1 conflicts" in report.summary() and "p0" in report.summary()
    assert ws.scalar("SELECT verdict FROM grades WHERE answer_id = ? AND criterion_id = ? AND rater_id = ?",
                     (first, criterion, alpha)) == final
    versions = {(h["old_verdict"], h["new_verdict"]) for h in store.grade_history(ws, first) if h["rater_id"] == alpha}
    assert {v for pair in versions for v in pair} >= {"met", "not_met", "cannot_judge"}  # every version on record
    before = dump(ws)
    assert not import_bundle(ws, path).changed  # reported once, not again
    assert dump(ws) == before


def test_review_conflict_names_both_versions(exported):
    ws, alpha, path = exported
    answer = answer_of(ws, "p2", "m2")
    with Offline(path) as b:
        store.save_review(b, answer, alpha, comment="fine offline", submitted=True)
        with b.transaction() as conn:
            conn.execute("UPDATE answer_reviews SET updated_at = '2999-01-01T00:00:00.000+00:00'")
    store.save_review(ws, answer, alpha, comment="unsafe at home", unsafe=True)
    [conflict] = import_bundle(ws, path).conflicts
    assert (conflict.kind, conflict.kept, conflict.criterion) == ("review", "bundle", None)
    assert conflict.workspace == "not submitted, unsafe ('unsafe at home')"
    assert conflict.bundle == "submitted ('fine offline')"
    assert store.get_review(ws, answer, alpha)["comment"] == "fine offline"


def test_flag_withdrawn_offline_is_withdrawn_at_home(home, tmp_path):
    ws, alpha = home
    criterion = criteria_of(ws, answer_of(ws, "p1", "m1"))[1]
    flag_criterion(ws, criterion, "Dr Alpha", "wrong_sign")
    path = tmp_path / "a.hqbundle"
    export_bundle(ws, "Dr Alpha", path)
    with Offline(path) as b, b.transaction() as conn:
        conn.execute("DELETE FROM criterion_flags")
    report = import_bundle(ws, path)
    assert report.removed["flag"] == 1 and mine(ws, alpha, "criterion_flags") == []


def test_rows_whose_answer_is_gone_are_skipped_and_counted(exported):
    ws, alpha, path = exported
    grade_everything(path, alpha)
    gone = answer_of(ws, "p3", "m1")
    with ws.transaction() as conn:
        conn.execute("DELETE FROM answers WHERE id = ?", (gone,))
    report = import_bundle(ws, path)
    assert report.stale == 3 + 1  # three grades and the review of that answer
    assert "4 rows skipped" in report.summary()


def test_run_filter_exports_only_that_runs_answers(home, tmp_path):
    ws, _ = home
    report = export_bundle(ws, "Dr Alpha", tmp_path / "run.hqbundle", run_id="run-1")
    contents = read_bundle(tmp_path / "run.hqbundle")
    assert report.counts["answers"] == 1 and [a.text for a in contents.answers.values()] == ["run answer"]
    assert contents.manifest.run_id == "run-1"


def test_bundle_is_a_workspace_and_reading_never_changes_it(exported):
    ws, _, path = exported
    before = path.read_bytes()
    with Offline(path) as b:
        assert b.schema_version == store.SCHEMA_VERSION
        assert store.question_rows(b)[0]["prompt_id"] == "p0"
        question = store.get_question(b, store.question_id_by_prompt_id(b, "p0"))
        assert question.prompt[0].images == [f"data:image/png;base64,{PNG}"]  # the attachment came along
    path.write_bytes(before)  # opening as a workspace may switch the journal; reading must not
    import_bundle(ws, path)
    assert path.read_bytes() == before and not os.path.exists(f"{path}-wal")


# -- other workspaces ---------------------------------------------------------------------

def test_bundle_from_another_workspace_needs_force(exported, tmp_path):
    ws, alpha, path = exported
    grade_everything(path, alpha)
    other = Workspace(tmp_path / "other.healthqa")
    try:
        before = dump(other)
        with pytest.raises(BundleError, match="another workspace.*--force"):
            import_bundle(other, path)
        assert dump(other) == before
        report = import_bundle(other, path, force=True)
        assert report.forced and report.questions_created == 4 and report.answers_created == 9
        assert other.scalar("SELECT count(*) FROM grades") == 27
        assert other.scalar("SELECT count(*) FROM answers WHERE run_id IS NOT NULL") == 0
        images = other.scalar("SELECT count(*) FROM attachments")
        assert images == 1
        assert not import_bundle(other, path, force=True).changed
    finally:
        other.close()


def test_forced_import_matches_questions_by_prompt_id_and_answers_by_text(exported, tmp_path):
    ws, alpha, path = exported
    grade_everything(path, alpha, verdict="met")
    other = Workspace(tmp_path / "other.healthqa")
    try:
        import_healthbench(other, source_file(tmp_path), set_name="Elsewhere")  # same questions, same answers
        answers_before = {r["id"] for r in other.query("SELECT id FROM answers")}
        report = import_bundle(other, path, force=True)
        assert (report.questions_created, report.answers_created) == (0, 1)  # only the run answer is new
        graded = {r["answer_id"] for r in other.query("SELECT DISTINCT answer_id FROM grades")}
        assert len(graded & answers_before) == 8  # grades landed on the answers already there
        assert other.scalar("SELECT count(*) FROM questions") == 4
    finally:
        other.close()


# -- blinding and secrets ---------------------------------------------------------------------

def test_blinded_bundle_holds_no_other_raters_work(exported):
    ws, alpha, path = exported
    data = path.read_bytes()
    for text in (B_COMMENT, GRADER_NOTE, "Dr Bravo", "org/grader-g"):
        assert text.encode() not in data
    conn = sqlite3.connect(path)
    try:
        assert {r[0] for r in conn.execute("SELECT DISTINCT rater_id FROM grades")} == {alpha}
        assert conn.execute("SELECT count(*) FROM answer_reviews").fetchone()[0] == 0
        assert [r[0] for r in conn.execute("SELECT name FROM raters")] == ["Dr Alpha"]
        assert json.loads(conn.execute("SELECT value FROM meta WHERE key = 'bundle_manifest'").fetchone()[0])[
            "blinded"] is True
    finally:
        conn.close()


def test_unblinded_bundle_shows_others_grades_but_no_grader_settings(home, tmp_path):
    ws, _ = home
    path = tmp_path / "open.hqbundle"
    export_bundle(ws, "Dr Alpha", path, blinded=False)
    data = path.read_bytes()
    assert B_COMMENT.encode() in data and GRADER_NOTE.encode() in data
    assert b"GRADER-SETTINGS-XYZ" not in data
    assert read_bundle(path).manifest.blinded is False  # still a sound bundle
    conn = sqlite3.connect(path)
    try:
        assert {r[0] for r in conn.execute("SELECT name FROM raters")} == {"Dr Alpha", "Dr Bravo", "org/grader-g"}
        assert conn.execute("SELECT count(*) FROM raters WHERE grader_settings IS NOT NULL").fetchone()[0] == 0
    finally:
        conn.close()


@pytest.mark.parametrize("blinded", [True, False])
def test_bundle_holds_no_model_config_and_no_key(home, tmp_path, monkeypatch, blinded):
    ws, _ = home
    monkeypatch.setenv(SECRET_ENV, SECRET_VALUE)
    path = tmp_path / "b.hqbundle"
    export_bundle(ws, "Dr Alpha", path, blinded=blinded)
    data = path.read_bytes()
    for text in (SECRET_VALUE, SECRET_ENV, SECRET_URL, "0.123456", "api_key_env"):
        assert text.encode() not in data
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*) FROM model_configs").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM answers WHERE model_config_id IS NOT NULL").fetchone()[0] == 0
    finally:
        conn.close()


# -- bad files: refused, one clear line, nothing merged -------------------------------------------

def edit(path, *statements, reseal=False):
    """Change a bundle as an attacker or a broken disk might; `reseal` recomputes the checksum."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA ignore_check_constraints = ON")
    conn.execute("PRAGMA foreign_keys = OFF")
    for sql in statements:
        conn.execute(sql)
    if reseal:
        manifest = json.loads(conn.execute("SELECT value FROM meta WHERE key = 'bundle_manifest'").fetchone()[0])
        manifest["checksum"], manifest["tables"] = bundle_module.content_checksum(conn, manifest)
        conn.execute("UPDATE meta SET value = ? WHERE key = 'bundle_manifest'", (json.dumps(manifest),))
    conn.commit()
    conn.close()


def set_manifest(path, **changes):
    conn = sqlite3.connect(path)
    manifest = json.loads(conn.execute("SELECT value FROM meta WHERE key = 'bundle_manifest'").fetchone()[0])
    manifest.update(changes)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'bundle_manifest'", (json.dumps(manifest),))
    conn.commit()
    conn.close()


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def zip_instead(path):
    path.unlink()
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("manifest.json", json.dumps({"format": "healthqa-bundle"}))


def plain_workspace(path):
    path.unlink()
    Workspace(path).close()


def foreign_sqlite(path):
    path.unlink()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()


BAD = {
    "tampered content": (lambda p: edit(p, "UPDATE questions SET conversation = replace(conversation, 'ankle', "
                                           "'wrist')"), "checksum mismatch.*questions"),
    "tampered checksum": (lambda p: set_manifest(p, checksum="sha256:" + "0" * 64), "checksum mismatch"),
    "truncated": (truncate, "truncated"),
    "random bytes": (lambda p: p.write_bytes(os.urandom(8192)), "not an SQLite file"),
    "empty": (lambda p: p.write_bytes(b""), "empty"),
    "zip archive": (zip_instead, "zip archive"),
    "json text": (lambda p: p.write_text('{"format": "healthqa-bundle", "rows": []}'), "JSON text"),
    "future format": (lambda p: set_manifest(p, format_version=99), "format 99, newer"),
    "future schema": (lambda p: edit(p, "PRAGMA user_version = 99"), "newer HealthQA"),
    "oversized comment": (lambda p: edit(p, "UPDATE grades SET explanation = printf('%.200000c', 'x')"),
                          "grades row 1: explanation: .*at most 100000 characters"),
    "wrong type": (lambda p: edit(p, "UPDATE grades SET active_seconds = 'a lot'"),
                   "grades row 1: active_seconds"),
    "unknown verdict": (lambda p: edit(p, "UPDATE grades SET verdict = 'maybe'"), "grades row 1: verdict"),
    "bad time": (lambda p: edit(p, "UPDATE grades SET updated_at = 'yesterday'"), "not an ISO 8601 time"),
    "path trick in rater name": (lambda p: edit(p, "UPDATE raters SET name = '../../etc/passwd'",
                                                "UPDATE meta SET value = replace(value, '\"Dr Alpha\"', "
                                                "'\"../../etc/passwd\"') WHERE key = 'bundle_manifest'",
                                                reseal=True), "path separators"),
    "path trick in attachment name": (lambda p: edit(p, "UPDATE attachments SET sha256 = '../../../tmp/x'",
                                                     reseal=True), "attachments row 1: sha256"),
    "attachment bytes swapped": (lambda p: edit(p, "UPDATE attachments SET data = x'00'", reseal=True),
                                 "do not match their SHA-256"),
    "grade on another question": (lambda p: edit(p, "UPDATE grades SET criterion_id = (SELECT id FROM criteria "
                                                    "WHERE question_id != (SELECT question_id FROM answers WHERE "
                                                    "id = grades.answer_id) LIMIT 1) "
                                                    "WHERE id = (SELECT min(id) FROM grades)"), "inconsistent"),
    "extra trigger": (lambda p: edit(p, "CREATE TRIGGER t AFTER INSERT ON grades BEGIN DELETE FROM answers; END",
                                     reseal=True), "tables differ"),
    "a workspace, not a bundle": (plain_workspace, "no bundle manifest"),
    "another SQLite file": (foreign_sqlite, "not a HealthQA bundle"),
    "still open": (lambda p: open(f"{p}-wal", "wb").write(b"x" * 100), "still open"),
    "hot journal": (lambda p: open(f"{p}-journal", "wb").write(b"x" * 100), "not closed cleanly"),
    "graded under another name": (lambda p: edit(p, "INSERT INTO raters (id, name, kind, created_at) VALUES "
                                                    "('r-x', 'Dr Typo', 'clinician', '2025-01-01T00:00:00+00:00')",
                                                 "UPDATE grades SET rater_id = 'r-x' WHERE id = (SELECT min(id) "
                                                 "FROM grades)"), "grading by someone other than Dr Alpha"),
    "missing": (lambda p: p.unlink(), "no such file"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_bundle_is_refused_and_nothing_merged(exported, case):
    ws, alpha, path = exported
    grade_everything(path, alpha)  # real offline work that must not land
    damage, message = BAD[case]
    damage(path)
    before = dump(ws)
    with pytest.raises(BundleError, match=message) as caught:
        import_bundle(ws, path)
    assert "\n" not in str(caught.value) and str(caught.value).startswith(str(path))
    assert dump(ws) == before


def test_a_rubric_conflict_in_a_forced_import_merges_nothing(exported, tmp_path):
    ws, alpha, path = exported
    grade_everything(path, alpha)
    other = Workspace(tmp_path / "other.healthqa")
    try:
        row = healthbench_row("p2")
        row["rubrics"][0]["points"] = 2  # same prompt_id, another rubric
        import_healthbench(other, write_jsonl(tmp_path / "p2.jsonl", [row]), set_name="X")
        before = dump(other)
        with pytest.raises(BundleError, match="different rubric"):
            import_bundle(other, path, force=True)
        assert dump(other) == before
    finally:
        other.close()


def test_another_conversation_under_the_prompt_id_in_a_forced_import_merges_nothing(exported, tmp_path):
    ws, alpha, path = exported
    grade_everything(path, alpha)
    other = Workspace(tmp_path / "other.healthqa")
    try:  # same prompt_id, same rubric, another question asked: grades would land on the wrong question
        row = healthbench_row("p2", prompt=[{"role": "user", "content": "Is my wrist broken?"}])
        import_healthbench(other, write_jsonl(tmp_path / "p2.jsonl", [row]), set_name="X")
        before = dump(other)
        with pytest.raises(BundleError, match="prompt_id p2 is already in the workspace with a different conversation"):
            import_bundle(other, path, force=True)
        assert dump(other) == before
    finally:
        other.close()


def test_export_refuses_what_it_cannot_bundle(home, tmp_path):
    ws, _ = home
    with pytest.raises(BundleError, match="no rater named"):
        export_bundle(ws, "Dr Nobody", tmp_path / "x.hqbundle")
    with pytest.raises(BundleError, match="model grader"):
        export_bundle(ws, "org/grader-g", tmp_path / "x.hqbundle")
    store.ensure_rater(ws, "Dr Idle")
    with pytest.raises(BundleError, match="no answers are assigned"):
        export_bundle(ws, "Dr Idle", tmp_path / "x.hqbundle")
    store.ensure_rater(ws, "Dr AB")  # named before clinicians' names had to be plain:
    with ws.transaction({"raters"}) as conn:
        conn.execute("UPDATE raters SET name = 'Dr A/B' WHERE name = 'Dr AB'")
    with pytest.raises(BundleError, match="path separators"):
        export_bundle(ws, "Dr A/B", tmp_path / "x.hqbundle")
    assert not list(tmp_path.glob("*.hqbundle*")) and not list(tmp_path.glob(".*.part"))


# -- the CLI ----------------------------------------------------------------------------------

def healthqa(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "healthqa.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=60)
    if check and proc.returncode:
        raise AssertionError(proc.stderr)
    return proc


def test_cli_export_verify_import_and_refusal(home, tmp_path):
    ws, alpha = home
    ws.close()
    path, ws_path = tmp_path / "cli.hqbundle", tmp_path / "test.healthqa"
    out = healthqa("bundle", "export", "--rater", "Dr Alpha", "--out", path, "--workspace", ws_path).stdout
    assert "9 answers" in out and "blinded" in out
    grade_everything(path, alpha)
    report = json.loads(healthqa("bundle", "import", path, "--json", "--workspace", ws_path).stdout)
    assert report["added"]["grade"] == 26 and report["conflicts"] == []
    edit(path, "UPDATE answers SET text = 'forged'")
    untouched = ws_path.read_bytes()
    proc = healthqa("bundle", "import", path, "--workspace", ws_path, check=False)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert "checksum mismatch" in proc.stderr
    assert ws_path.read_bytes() == untouched  # byte for byte
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    proc = healthqa("bundle", "verify", path, check=False)
    assert proc.returncode == 2 and "changed or damaged after export (answers)" in proc.stderr
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest  # reading never writes to the bundle


def test_verify_reports_a_sound_bundle(exported, capsys):
    from healthqa.cli import main

    _, _, path = exported
    assert main(["bundle", "verify", str(path)]) == 0
    assert "a sound bundle for Dr Alpha, 9 answers" in capsys.readouterr().out


def test_a_bundle_from_before_a_schema_upgrade_still_imports(tmp_path, monkeypatch):
    """Exported and graded offline by the previous version (schema 1), imported after the
    upgrade (the run modes' migration): the clinician's work is merged, not refused."""
    from healthqa.store import schema
    from healthqa.store import workspace as workspace_module
    path = tmp_path / "alpha.hqbundle"
    with monkeypatch.context() as older:
        older.setattr(workspace_module, "MIGRATIONS", schema.MIGRATIONS[:1])
        older.setattr(workspace_module, "SCHEMA_VERSION", 1)
        older.setattr(bundle_exchange, "SCHEMA_VERSION", 1)
        with Workspace(tmp_path / "home.healthqa") as home:
            alpha = build_home(home, tmp_path)
            export_bundle(home, "Dr Alpha", path)
        grade_everything(path, alpha)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()
    with Workspace(tmp_path / "home.healthqa") as ws:  # the upgrade migrates the home workspace
        assert ws.schema_version == store.SCHEMA_VERSION > 1
        report = import_bundle(ws, path)
        assert report.added["grade"] == 26 and report.updated["grade"] == 1


# -- issue 9: grades lost or misplaced ----------------------------------------------------------

def test_forced_import_merges_work_unchanged_since_export(home, tmp_path):
    """The baseline says what the source workspace held at export; another workspace holds none of it,
    so grades, reviews and flags exported unchanged must land there too (issue 9, item 1)."""
    ws, alpha = home
    first = answer_of(ws, "p0", "m1")
    store.save_review(ws, first, alpha, comment="home review", submitted=True, active_seconds=3)
    flag_criterion(ws, criteria_of(ws, first)[1], "Dr Alpha", "ambiguous", "which ankle?")
    path = tmp_path / "a.hqbundle"
    export_bundle(ws, "Dr Alpha", path)  # not opened offline: everything in it equals its baseline
    other = Workspace(tmp_path / "other.healthqa")
    try:
        report = import_bundle(other, path, force=True)
        assert report.changed and "Nothing new" not in report.summary()
        assert (report.added["grade"], report.added["review"], report.added["flag"]) == (1, 1, 1)
        target = answer_of(other, "p0", "m1")
        mine_there = store.rater_id_by_name(other, "Dr Alpha")
        [grade] = mine(other, mine_there, "grades")
        assert (grade["answer_id"], grade["criterion_id"]) == (target, criteria_of(other, target)[0])
        assert (grade["verdict"], grade["explanation"], grade["active_seconds"]) == ("met", "home verdict", 5)
        assert store.get_review(other, target, mine_there)["comment"] == "home review"
        [flag] = mine(other, mine_there, "criterion_flags")
        assert (flag["criterion_id"], flag["reason"]) == (criteria_of(other, target)[1], "ambiguous")
        before = dump(other)
        assert not import_bundle(other, path, force=True).changed  # and importing again adds nothing
        assert dump(other) == before
    finally:
        other.close()


def test_forced_import_reconciles_with_what_the_other_workspace_holds(home, tmp_path):
    """In a foreign workspace a grade the rater already has there is compared with the bundle's, not
    skipped because it equals the baseline: the newer one is kept and the conflict reported."""
    ws, alpha = home
    path = tmp_path / "a.hqbundle"
    export_bundle(ws, "Dr Alpha", path)
    other = Workspace(tmp_path / "other.healthqa")
    try:
        import_healthbench(other, source_file(tmp_path), set_name="Elsewhere")
        target = answer_of(other, "p0", "m1")
        there = store.ensure_rater(other, "Dr Alpha")
        store.set_grade(other, target, criteria_of(other, target)[0], there, "not_met", "graded here later")
        report = import_bundle(other, path, force=True)
        [conflict] = report.conflicts
        assert (conflict.prompt_id, conflict.criterion, conflict.kept) == ("p0", 1, "workspace")
        assert other.scalar("SELECT verdict FROM grades WHERE rater_id = ?", (there,)) == "not_met"
        [kept] = [h for h in store.grade_history(other, target) if h["reason"] == "bundle-conflict-superseded"]
        assert (kept["old_verdict"], kept["old_explanation"]) == ("met", "home verdict")  # the bundle's on record
    finally:
        other.close()


def test_a_grade_stamped_in_the_far_future_does_not_win_later_conflicts(home, tmp_path):
    """A clinician's machine with its clock at 9999: the grade lands, stamped with the import time,
    so a grade given later elsewhere still wins the next conflict (issue 9, item 4)."""
    ws, alpha = home
    first = answer_of(ws, "p0", "m1")
    criterion = criteria_of(ws, first)[0]
    wrong_clock, right_clock = tmp_path / "wrong.hqbundle", tmp_path / "right.hqbundle"
    export_bundle(ws, "Dr Alpha", wrong_clock)
    export_bundle(ws, "Dr Alpha", right_clock)  # the same work, on a second laptop
    with Offline(wrong_clock) as b:
        store.set_grade(b, first, criterion, alpha, "cannot_judge", "graded on the wrong clock")
    set_stamp(wrong_clock, first, criterion, alpha, "9999-12-31T23:59:59.000+00:00")
    report = import_bundle(ws, wrong_clock)
    assert report.updated["grade"] == 1 and report.future_stamps == 1
    assert "1 time stamps from the future" in report.summary()
    stamp = ws.scalar("SELECT updated_at FROM grades WHERE answer_id = ? AND criterion_id = ? AND rater_id = ?",
                      (first, criterion, alpha))
    assert not stamp.startswith("9999")
    with Offline(right_clock) as b:  # graded after that import, on a machine with a right clock
        store.set_grade(b, first, criterion, alpha, "not_met", "second thoughts")
    [conflict] = import_bundle(ws, right_clock).conflicts
    assert conflict.kept == "bundle"
    assert ws.scalar("SELECT verdict FROM grades WHERE answer_id = ? AND criterion_id = ? AND rater_id = ?",
                     (first, criterion, alpha)) == "not_met"
    assert not import_bundle(ws, wrong_clock).changed  # importing the first again changes nothing
