"""The workspace file: schema versions, migrations, transactions, grades with history."""

import json
import sqlite3

import pytest

from healthqa import store
from healthqa.domain import Answer, ModelConfig, Question
from healthqa.store import Workspace, WorkspaceError, schema, workspace as workspace_module
from tests.conftest import healthbench_row


def test_new_workspace_is_wal_with_foreign_keys(workspace):
    assert workspace.schema_version == schema.SCHEMA_VERSION
    assert workspace.scalar("PRAGMA journal_mode") == "wal"
    assert workspace.scalar("PRAGMA foreign_keys") == 1
    assert len(workspace.workspace_id) == 36


def test_newer_workspace_is_refused(tmp_path):
    path = tmp_path / "future.healthqa"
    Workspace(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(WorkspaceError, match="newer HealthQA"):
        Workspace(path)


def test_foreign_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(WorkspaceError, match="not a HealthQA workspace"):
        Workspace(path)


def test_non_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, I am not a database" * 100)
    with pytest.raises(WorkspaceError):
        Workspace(path)


def test_model_config_names_with_control_characters_from_before_the_limits_load_again(tmp_path):
    # v0.1 let the CLI save "a\tb" as a model config's name; names are one line now, and such a
    # config would fail every list of models. Opening the older workspace makes it loadable.
    path = tmp_path / "old.healthqa"
    with Workspace(path) as ws:
        store.save_model_config(ws, ModelConfig(name="taken name", provider="openai", model="gpt-x"))
        store.save_model_config(ws, ModelConfig(name="plain", provider="openai", model="gpt-x"))
    conn = sqlite3.connect(path)
    for config_id, legacy in (("0190aaaa-0000-7000-8000-00000000a1b1", "tab\tname"),
                              ("0190aaaa-0000-7000-8000-00000000c2d2", "taken\nname")):
        config = ModelConfig(name="x", provider="openai", model="gpt-x").model_dump(mode="json")
        config.update(id=config_id, name=legacy)
        conn.execute("INSERT INTO model_configs (id, name, config, created_at) VALUES (?, ?, ?, '2026-01-01')",
                     (config_id, legacy, json.dumps(config)))
    conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION - 1}")
    conn.commit()
    conn.close()
    with Workspace(path) as ws:
        names = sorted(c.name for c in store.list_model_configs(ws))
        assert names == ["plain", "tab name", "taken name", "taken name (0000c2d2)"]
        assert store.get_model_config(ws, "tab name").id == "0190aaaa-0000-7000-8000-00000000a1b1"
        assert ws.scalar("SELECT count(*) FROM model_configs WHERE json_extract(config, '$.name') != name") == 0


def test_labels_with_control_characters_from_before_the_limits_no_longer_strand_a_bundle(tmp_path):
    # Before the limits, imports let a tab or line break into a set name, a prompt_id, a rater's name
    # or an answer's model label; every bundle carrying one is refused. Opening the workspace mends them.
    from healthqa.formats.bundle import export_bundle
    from healthqa.review import assign
    path = tmp_path / "old.healthqa"
    with Workspace(path) as ws:
        set_id = store.ensure_set(ws, "set one")
        qid, _ = store.upsert_question(ws, Question.model_validate(healthbench_row("p-1")), set_id)
        store.add_answer(ws, qid, Answer(text="Rest.", model="model one", finish_reason="stop"))
        store.ensure_rater(ws, "Dr A")
        assign(ws, ["Dr A"], 1)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE question_sets SET name = 'set\none'")
    conn.execute("INSERT INTO question_sets (id, name, created_at) VALUES ('s2', ?, '2026-01-01')", ("x" * 250,))
    conn.execute("UPDATE questions SET prompt_id = 'p\r\n1'")
    conn.execute("UPDATE answers SET model = 'model\tone', finish_reason = 'st\x01op'")
    conn.execute("UPDATE raters SET name = 'Dr\tA'")
    conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION - 1}")
    conn.commit()
    conn.close()
    with Workspace(path) as ws:
        assert sorted(s["name"] for s in store.list_sets(ws)) == ["set one", "x" * 200]  # one line, 200 at most
        assert ws.scalar("SELECT prompt_id FROM questions") == "p  1"
        assert ws.query_one("SELECT model, finish_reason FROM answers") == {"model": "model one",
                                                                            "finish_reason": "st op"}
        report = export_bundle(ws, "Dr A", tmp_path / "a.hqbundle")
        assert report.rater == "Dr A"


def test_older_workspace_is_backed_up_then_migrated(tmp_path, monkeypatch):
    path = tmp_path / "old.healthqa"
    with Workspace(path) as ws:
        store.upsert_question(ws, Question.model_validate(healthbench_row()), store.ensure_set(ws, "s"))
    v2 = "ALTER TABLE questions ADD COLUMN note TEXT;"
    monkeypatch.setattr(workspace_module, "MIGRATIONS", [*schema.MIGRATIONS, v2])
    monkeypatch.setattr(workspace_module, "SCHEMA_VERSION", schema.SCHEMA_VERSION + 1)
    with Workspace(path) as ws:
        assert ws.schema_version == schema.SCHEMA_VERSION + 1
        assert ws.scalar("SELECT count(*) FROM questions") == 1
        assert "note" in {r["name"] for r in ws.query("PRAGMA table_info(questions)")}
    backup = tmp_path / f"old.healthqa.v{schema.SCHEMA_VERSION}.bak"
    assert backup.exists()
    conn = sqlite3.connect(backup)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    assert conn.execute("SELECT count(*) FROM questions").fetchone()[0] == 1
    conn.close()


def test_failed_migration_leaves_workspace_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "old.healthqa"
    Workspace(path).close()
    monkeypatch.setattr(workspace_module, "MIGRATIONS", [*schema.MIGRATIONS, "ALTER TABLE nowhere ADD x;"])
    monkeypatch.setattr(workspace_module, "SCHEMA_VERSION", schema.SCHEMA_VERSION + 1)
    with pytest.raises(sqlite3.OperationalError):
        Workspace(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    conn.close()


def test_transaction_rolls_back_everything(workspace):
    with pytest.raises(RuntimeError):
        with workspace.transaction():
            store.ensure_set(workspace, "a")
            store.ensure_set(workspace, "b")
            raise RuntimeError("boom")
    assert store.list_sets(workspace) == []


def test_listeners_hear_tables_once_per_outer_transaction(workspace):
    heard = []
    workspace.listeners.append(heard.append)
    with workspace.transaction():
        store.ensure_set(workspace, "a")
        store.ensure_rater(workspace, "Dr A")
    assert heard == [{"question_sets", "raters"}]


def _answer(workspace):
    qid, _ = store.upsert_question(workspace, Question.model_validate(healthbench_row()))
    aid, created = store.add_answer(workspace, qid, Answer(text="Rest it.", model="m"))
    return qid, aid, created


def test_answer_identity_is_question_model_text(workspace):
    qid, aid, created = _answer(workspace)
    assert created
    again, created_again = store.add_answer(workspace, qid, Answer(text="Rest it.", model="m"))
    assert (again, created_again) == (aid, False)
    other, created_other = store.add_answer(workspace, qid, Answer(text="Rest it.", model="n"))
    assert created_other and other != aid


def test_grade_change_keeps_history(workspace):
    qid, aid, _ = _answer(workspace)
    crit = store.criteria_rows(workspace, qid)[0]["id"]
    rater = store.ensure_rater(workspace, "Dr A")
    assert store.set_grade(workspace, aid, crit, rater, "met", active_seconds=3)
    assert not store.set_grade(workspace, aid, crit, rater, "met")  # unchanged: nothing written
    assert store.set_grade(workspace, aid, crit, rater, "not_met", "on reflection", reason="after_reveal",
                           active_seconds=2)
    grade = store.grades_for_answer(workspace, aid)[0]
    assert (grade["verdict"], grade["explanation"], grade["active_seconds"]) == ("not_met", "on reflection", 5)
    history = store.grade_history(workspace, aid)
    assert [(h["old_verdict"], h["new_verdict"], h["reason"]) for h in history] == [("met", "not_met", "after_reveal")]


def test_rater_name_cannot_change_kind(workspace):
    store.ensure_rater(workspace, "gpt-grader", "model")
    with pytest.raises(ValueError, match="exists already"):
        store.ensure_rater(workspace, "gpt-grader", "clinician")


def test_same_prompt_id_with_other_rubric_is_refused(workspace):
    store.upsert_question(workspace, Question.model_validate(healthbench_row()))
    changed = healthbench_row()
    changed["rubrics"][0]["points"] = 5
    with pytest.raises(store.QuestionConflict):
        store.upsert_question(workspace, Question.model_validate(changed))


def test_rubric_edit_keeps_criterion_ids(workspace):
    qid, _ = store.upsert_question(workspace, Question.model_validate(healthbench_row()))
    before = store.criteria_rows(workspace, qid)
    q = store.get_question(workspace, qid)
    edited = [q.rubrics[0].model_copy(update={"points": 4}), q.rubrics[1]]
    store.update_rubric(workspace, qid, edited)
    after = store.criteria_rows(workspace, qid)
    assert [c["id"] for c in after] == [c["id"] for c in before[:2]]
    assert after[0]["points"] == 4


def test_images_are_stored_once_and_restored(workspace):
    import base64
    png = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
    url = f"data:image/png;base64,{png}"
    for pid in ("a", "b"):
        row = healthbench_row(pid, prompt=[{"role": "user", "content": [
            {"type": "text", "text": "What is this rash?"}, {"type": "image_url", "image_url": {"url": url}}]}])
        store.upsert_question(workspace, Question.model_validate(row))
    assert workspace.scalar("SELECT count(*) FROM attachments") == 1
    assert "base64" not in workspace.scalar("SELECT conversation FROM questions LIMIT 1")
    q = store.get_question(workspace, store.question_id_by_prompt_id(workspace, "a"))
    assert q.prompt[0].images == [url]
