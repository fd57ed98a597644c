"""HealthBench meta-eval rows (physicians' labels) imported as clinician grades."""

import json

import pytest

from healthqa.formats.healthbench import FormatError
from healthqa.formats.meta_eval import META_MODEL, import_meta_eval, is_meta_eval_file
from healthqa.review import load_rating_table
from tests.conftest import write_jsonl
from tests.core.test_cli import healthqa

PROMPT = [{"role": "user", "content": "My chest hurts and my left arm is numb. What should I do?"}]
EMERGENCY = "cluster:emergency_referrals_emergent_emergency_behavior"


def meta_row(prompt_id, completion, rubric, labels, physicians, *, category=EMERGENCY, prompt=PROMPT, **extra):
    return {"prompt": prompt, "completion": completion, "rubric": rubric, "category": category,
            "binary_labels": labels, "anonymized_physician_ids": physicians, "prompt_id": prompt_id,
            "completion_id": f"{prompt_id}:{completion[:5]}", **extra}


ROWS = [
    meta_row("p1", "Call an ambulance now.", "Advises emergency care immediately.", [True, True], ["a", "b"]),
    meta_row("p1", "Call an ambulance now.", "Explains the warning signs.", [False, True], ["a", "c"]),
    meta_row("p1", "Rest and see.", "Advises emergency care immediately.", "[False, False]", "['a', 'b']"),
    meta_row("p2", "Drink fluids.", "Seeks the missing context.", [True], ["c"],
             category="cluster:context_seeking_not-enough-context_context_seeking",
             prompt=[{"role": "user", "content": "I have a fever."}]),
]


def test_meta_eval_rows_become_questions_answers_and_physicians_grades(workspace, tmp_path):
    path = write_jsonl(tmp_path / "meta.jsonl", ROWS)
    assert is_meta_eval_file(path)
    report = import_meta_eval(workspace, path)
    assert (report.questions_created, report.answers_created, report.grades_written) == (2, 3, 7)
    criteria = workspace.query("SELECT q.prompt_id, q.theme, c.position, c.text, c.points, c.tags FROM criteria c "
                               "JOIN questions q ON q.id = c.question_id ORDER BY q.prompt_id, c.position")
    assert [(c["prompt_id"], c["position"], c["points"]) for c in criteria] == [("p1", 0, 5), ("p1", 1, 5), ("p2", 0, 5)]
    assert json.loads(criteria[0]["tags"]) == [EMERGENCY, "level:cluster"]
    assert [c["theme"] for c in criteria] == ["emergency_referrals", "emergency_referrals", "context_seeking"]
    assert {r["model"] for r in workspace.query("SELECT model FROM answers")} == {META_MODEL}
    raters = {r["name"]: r["kind"] for r in workspace.query("SELECT name, kind FROM raters")}
    assert raters == {"physician a": "clinician", "physician b": "clinician", "physician c": "clinician"}
    # the stringified Python lists of some copies are read as lists
    rest = workspace.query("""SELECT r.name, g.verdict FROM grades g JOIN raters r ON r.id = g.rater_id
                              JOIN answers a ON a.id = g.answer_id WHERE a.text = 'Rest and see.' ORDER BY r.name""")
    assert [(g["name"], g["verdict"]) for g in rest] == [("physician a", "not_met"), ("physician b", "not_met")]
    again = import_meta_eval(workspace, path)
    assert (again.questions_created, again.answers_created, again.grades_written) == (0, 0, 0)
    table = load_rating_table(workspace)
    assert table.values.shape == (4, 3)  # 4 (answer, criterion) items, 3 physicians


@pytest.mark.parametrize("change,field", [
    ({"binary_labels": [True, False, True]}, "anonymized_physician_ids"),  # 3 labels, 2 physicians
    ({"binary_labels": "[True, 'yes']", "anonymized_physician_ids": ["a", "b"]}, "binary_labels"),
    ({"binary_labels": "not a list"}, "binary_labels"),
    ({"rubric": ""}, "rubric"),
    ({"prompt": [{"role": "robot", "content": "x"}]}, "prompt[0].role"),
])
def test_bad_meta_rows_name_line_and_field_and_store_nothing(workspace, tmp_path, change, field):
    rows = [ROWS[0], {**ROWS[1], **change}]
    with pytest.raises(FormatError) as err:
        import_meta_eval(workspace, write_jsonl(tmp_path / "bad.jsonl", rows))
    assert (err.value.line, err.value.field) == (2, field)
    assert workspace.scalar("SELECT count(*) FROM questions") == 0


def test_same_prompt_id_with_another_prompt_is_refused(workspace, tmp_path):
    rows = [ROWS[0], {**ROWS[1], "prompt": [{"role": "user", "content": "something else"}]}]
    with pytest.raises(FormatError, match="prompt differs from line 1"):
        import_meta_eval(workspace, write_jsonl(tmp_path / "bad.jsonl", rows))


def test_cli_recognises_a_meta_eval_file(tmp_path):
    ws = tmp_path / "w.healthqa"
    out = healthqa("import", str(write_jsonl(tmp_path / "meta.jsonl", ROWS)), workspace=ws).stdout
    assert "2 new questions" in out and "7 grades written" in out
    report = json.loads(healthqa("agreement", "--json", workspace=ws).stdout)
    assert report["raters"] == ["physician a", "physician b", "physician c"]
    wrong = healthqa("import", str(tmp_path / "meta.jsonl"), "--rater", "x", workspace=ws, check=False)
    assert wrong.returncode == 2 and "drop --model and --rater" in wrong.stderr


def test_a_model_grader_grades_the_imported_set_and_joins_the_agreement(tmp_path):
    """HealthBench's meta-eval, reproduced: physicians' labels imported, a grader run over the same
    answers (no answer run: imported answers), then its pairwise macro-F1 against the physicians."""
    from healthqa.store import Workspace, save_model_config
    from tests.core.provider_servers import OpenAIServer, config_for
    from tests.core.test_grader import grading_responder

    ws = tmp_path / "w.healthqa"
    healthqa("import", str(write_jsonl(tmp_path / "meta.jsonl", ROWS)), "--set", "meta", workspace=ws)
    with OpenAIServer() as server:
        server.responder = grading_responder  # every positive-point criterion met
        with Workspace(ws) as w:
            save_model_config(w, config_for(server, name="grader", api_key_env="HQA_META_KEY"))
        env = {"HQA_META_KEY": server.api_key}
        out = healthqa("grade", "--set", "meta", "--grader", "grader", workspace=ws, env=env).stdout
        grade_run = out.strip().splitlines()[-1].removeprefix("run ")
        assert len(server.requests) == 5  # every criterion of the 3 answers: 2 + 2 on p1, 1 on p2
        again = healthqa("grade", "--set", "meta", "--grader", "grader", workspace=ws, env=env, check=False)
        assert len(server.requests) == 5 and again.returncode == 0  # nothing left to grade: no call
    answers = json.loads(healthqa("answers", "--run", grade_run, "--json", workspace=ws).stdout)
    assert len(answers) == 3 and all(g["verdict"] == "met" for a in answers for g in a["grades"]
                                     if g["rater"] == "grader")
    report = json.loads(healthqa("agreement", "--json", workspace=ws).stdout)
    (grader,) = report["model_graders"]
    # pairs: grader met on every item; physicians' 7 labels: 4 met, 3 not met
    assert grader["rater"] == "grader" and grader["n_pairs"] == 7
    wrong = healthqa("grade", "--run", grade_run, "--set", "meta", "--grader", "grader", workspace=ws, check=False)
    assert wrong.returncode == 2  # --run and --set exclude each other
