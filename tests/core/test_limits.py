"""One set of limits (healthqa.limits), enforced where questions and answers come in and at bundle
export alike, so that no bundle is written that its import would refuse (issue 9, item 4)."""

import base64

import pytest
from pydantic import ValidationError

from healthqa import store
from healthqa.review import assign
from healthqa.domain import ModelConfig
from healthqa.formats.bundle import BundleError, export_bundle, import_bundle
from healthqa.formats.healthbench import FormatError, import_healthbench
from healthqa.formats.meta_eval import import_meta_eval
from healthqa.limits import MAX_ANSWER_CHARS, MAX_ATTACHMENT_BYTES, MAX_CRITERION_CHARS, MAX_NAME_CHARS
from healthqa.store import Workspace
from tests.conftest import healthbench_row, write_jsonl
from tests.core.provider_servers import openai_server  # noqa: F401  (fixture)


def answered(pid="p", completion="Rest it.", model="m", **overrides):
    return {**healthbench_row(pid, **overrides), "completion": completion, "model": model}


def with_criterion(text):
    return answered(rubrics=[{"criterion": text, "points": 5, "tags": ["axis:accuracy"]}])


def with_image(size):
    data = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * (size - 8)).decode()
    return answered(prompt=[{"role": "user", "content": [
        {"type": "text", "text": "What is this rash?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}]}])


OVER = {  # (row over a limit, the field named, words of the message)
    "answer": (answered(completion="x" * (MAX_ANSWER_CHARS + 1)), "completion", "1000000 characters"),
    "criterion": (with_criterion("c" * (MAX_CRITERION_CHARS + 1)), "rubrics[0].criterion", "10000 characters"),
    "image": (with_image(MAX_ATTACHMENT_BYTES + 1), "prompt[0].content[1].image_url.image_url.url", "limit is 32 MiB"),
    "tab in a model name": (answered(model="gpt\t4"), "model", "control characters"),
    "newline in a prompt_id": (answered("p\nq"), "prompt_id", "control characters"),
    "tab in a tag": (answered(rubrics=[{"criterion": "c", "points": 5, "tags": ["axis:\taccuracy"]}]),
                     "rubrics[0].tags", "tag 1 holds control characters"),
    "long prompt_id": (answered("p" * (MAX_NAME_CHARS + 1)), "prompt_id", "200 characters"),
    "long explanation": (
        {**answered(), "rubrics": [{**healthbench_row()["rubrics"][0], "criteria_met": True,
                                    "explanation": "e" * 100_001}]}, "rubrics[0].explanation", "100000 characters"),
}


@pytest.mark.parametrize("case", list(OVER))
def test_import_refuses_what_a_bundle_could_not_carry(workspace, tmp_path, case):
    row, field, words = OVER[case]
    path = write_jsonl(tmp_path / "over.jsonl", [healthbench_row("fine"), row])
    with pytest.raises(FormatError) as err:
        import_healthbench(workspace, path, rater="Dr A")
    assert (err.value.path, err.value.line, err.value.field) == (path, 2, field)
    assert words in str(err.value) and "\n" not in str(err.value)
    assert workspace.scalar("SELECT count(*) FROM questions") == 0


def test_meta_eval_import_refuses_an_answer_over_the_limit(workspace, tmp_path):
    row = {"prompt": [{"role": "user", "content": "hi"}], "completion": "x" * (MAX_ANSWER_CHARS + 1),
           "rubric": "Greets back.", "category": "cluster:communication_x", "binary_labels": [True],
           "anonymized_physician_ids": ["a"], "prompt_id": "p", "completion_id": "c"}
    path = write_jsonl(tmp_path / "meta.jsonl", [row])
    with pytest.raises(FormatError, match="1000000 characters") as err:
        import_meta_eval(workspace, path)
    assert (err.value.line, err.value.field) == (1, "completion")
    assert workspace.scalar("SELECT count(*) FROM answers") == 0


def test_a_model_config_name_is_one_line():
    with pytest.raises(ValidationError, match="control characters"):
        ModelConfig(name="gpt\t4", provider="openai", model="gpt-4o")


def test_at_the_limits_a_bundle_goes_out_and_comes_back(tmp_path):
    rows = [answered("long", completion="x" * MAX_ANSWER_CHARS, model="m" * MAX_NAME_CHARS),
            with_criterion("c" * MAX_CRITERION_CHARS) | {"prompt_id": "wide"}]
    with Workspace(tmp_path / "home.healthqa") as ws, Workspace(tmp_path / "other.healthqa") as other:
        import_healthbench(ws, write_jsonl(tmp_path / "edge.jsonl", rows), set_name="S")
        assign(ws, ["Dr A"], 1)
        export_bundle(ws, "Dr A", tmp_path / "a.hqbundle")
        report = import_bundle(other, tmp_path / "a.hqbundle", force=True)
        assert (report.questions_created, report.answers_created) == (2, 2)


def _stored_before_the_limits(ws, sql, *params):
    """Data an earlier HealthQA let in, written straight to the workspace."""
    with ws.transaction() as conn:
        conn.execute(sql, params)


BEYOND = {  # what the workspace holds -> what the export must say
    "answer": ("UPDATE answers SET text = printf('%.1000001c', 'x')", ["prompt_id p", "text", "1000000"]),
    "tab in a model name": ("UPDATE answers SET model = 'gpt' || char(9) || '4'", ["prompt_id p", "model",
                                                                                   "control characters"]),
    "newline in a prompt_id": ("UPDATE questions SET prompt_id = 'p' || char(10) || 'q'", ["prompt_id",
                                                                                           "control characters"]),
    "criterion": ("UPDATE criteria SET text = printf('%.10001c', 'c') WHERE position = 0",
                  ["prompt_id p criterion #1", "text", "10000"]),
    "explanation": ("UPDATE grades SET explanation = printf('%.100001c', 'e')", ["prompt_id p", "explanation",
                                                                                "100000"]),
}


@pytest.mark.parametrize("case", list(BEYOND))
def test_bundle_export_refuses_what_the_import_would_and_writes_nothing(workspace, tmp_path, case):
    sql, words = BEYOND[case]
    import_healthbench(workspace, write_jsonl(tmp_path / "a.jsonl", [answered()]), set_name="S")
    assign(workspace, ["Dr A"], 1)
    answer_id = workspace.scalar("SELECT id FROM answers")
    criterion_id = workspace.scalar("SELECT id FROM criteria WHERE position = 0")
    store.set_grade(workspace, answer_id, criterion_id, store.rater_id_by_name(workspace, "Dr A"), "met", "ok")
    _stored_before_the_limits(workspace, sql)
    out = tmp_path / "a.hqbundle"
    with pytest.raises(BundleError) as err:
        export_bundle(workspace, "Dr A", out)
    message = str(err.value)
    assert all(w in message for w in words), message
    assert "\n" not in message and "import would refuse" in message
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_run_answer_over_the_limit_is_kept_cut_to_it(workspace, openai_server):
    from healthqa.runs import create_run
    from tests.core.test_runs import add_config, add_questions, execute

    add_questions(workspace, 1)
    add_config(workspace, openai_server)
    openai_server.enqueue(lambda request: openai_server._normal(request, text="word " * 200_001))
    run_id = create_run(workspace, model_name="m", set_name="S")
    assert execute(workspace, run_id, api_key=openai_server.api_key).done == 1
    [answer] = workspace.query("SELECT text, finish_reason FROM answers WHERE run_id = ?", (run_id,))
    assert len(answer["text"]) == MAX_ANSWER_CHARS and answer["finish_reason"] == "length"
    assign(workspace, ["Dr A"], 1)
    export_bundle(workspace, "Dr A", workspace.path.with_name("run.hqbundle"))  # and it can travel
