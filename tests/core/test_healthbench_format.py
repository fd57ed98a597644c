"""HealthBench JSONL import/export: round trip, idempotence, every kind of bad input."""

import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from healthqa import store
from healthqa.formats.healthbench import FormatError, export_healthbench, import_healthbench, parse_row
from healthqa.scoring import score_workspace
from tests.conftest import healthbench_row, write_jsonl


def graded_row(pid, model, completion, verdicts, **kw):
    row = healthbench_row(pid, **kw)
    row["completion"], row["model"] = completion, model
    for item, met in zip(row["rubrics"], verdicts):
        item["criteria_met"] = met
        item["explanation"] = f"because {met}"
    return row


def test_import_then_export_round_trips(workspace, tmp_path):
    rows = [healthbench_row("p1"), healthbench_row("p2", example_tags=["theme:hedging"],
                                                   ideal_completions_data=None)]
    rows[1]["prompt"] = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                         {"role": "user", "content": "c"}]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    report = import_healthbench(workspace, src, set_name="S")
    assert (report.rows, report.questions_created) == (2, 2)
    out = tmp_path / "out.jsonl"
    assert export_healthbench(workspace, "S", out) == 2
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert exported == rows
    assert list(exported[0]) == ["example_tags", "ideal_completions_data", "prompt", "prompt_id", "rubrics", "canary"]


def test_round_trip_with_answers_and_grades(workspace, tmp_path):
    rows = [graded_row("p1", "m1", "Rest and ice.", [True, False, None]),
            graded_row("p1", "m2", "It is broken.", [False, False, True])]
    import_healthbench(workspace, write_jsonl(tmp_path / "in.jsonl", rows), set_name="S", rater="Dr A")
    out = tmp_path / "out.jsonl"
    export_healthbench(workspace, "S", out, with_answers=True, rater="Dr A")
    other = store.Workspace(tmp_path / "second.healthqa")
    import_healthbench(other, out, set_name="S", rater="Dr A")
    assert score_workspace(other) == score_workspace(workspace)
    assert [json.loads(line) for line in out.read_text().splitlines()] == rows
    other.close()


def test_reimport_is_idempotent_and_another_rater_adds_grades(workspace, tmp_path):
    first = write_jsonl(tmp_path / "a.jsonl", [graded_row("p1", "m", "Rest.", [True, True, False])])
    import_healthbench(workspace, first, rater="Dr A")
    again = import_healthbench(workspace, first, rater="Dr A")
    assert (again.questions_created, again.answers_created, again.grades_written) == (0, 0, 0)
    second = write_jsonl(tmp_path / "b.jsonl", [graded_row("p1", "m", "Rest.", [True, False, False])])
    report = import_healthbench(workspace, second, rater="Dr B")
    assert (report.answers_created, report.answers_existing, report.grades_written) == (0, 1, 3)
    counts = workspace.query("SELECT count(*) n FROM questions")[0]["n"], workspace.scalar(
        "SELECT count(*) FROM answers"), workspace.scalar("SELECT count(*) FROM grades")
    assert counts == (1, 1, 6)
    by_rater = {r["rater"]: r["score"] for r in score_workspace(workspace)}
    assert by_rater["Dr A"] == pytest.approx(1.0)
    assert by_rater["Dr B"] == pytest.approx(6 / 14)
    # two clinicians disagree on c2: the majority is a tie there -> no verdict
    assert by_rater["clinicians (majority)"] == pytest.approx(1.0)


def test_verdicts_without_rater_are_refused(workspace, tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [graded_row("p1", "m", "x", [True, True, True])])
    with pytest.raises(FormatError, match="--rater"):
        import_healthbench(workspace, path)


BAD_ROWS = [
    ("{not json", None, "invalid JSON"),
    ("[1, 2]", None, "JSON object"),
    (json.dumps({k: v for k, v in healthbench_row().items() if k != "prompt_id"}), "prompt_id", "missing"),
    (json.dumps({k: v for k, v in healthbench_row().items() if k != "rubrics"}), "rubrics", "missing"),
    (json.dumps(healthbench_row(rubrics=[{"criterion": "x", "points": 0, "tags": []}])), "rubrics[0].points", "nonzero"),
    (json.dumps(healthbench_row(rubrics=[{"criterion": "x", "points": 11, "tags": []}])), "rubrics[0].points", "-10 to 10"),
    (json.dumps(healthbench_row(rubrics=[{"criterion": "x", "points": 2.5, "tags": []}])), "rubrics[0].points", "integer"),
    (json.dumps(healthbench_row(rubrics=[{"criterion": "x", "points": "5", "tags": []}])), "rubrics[0].points", "integer"),
    (json.dumps(healthbench_row(rubrics=[{"criterion": " ", "points": 5, "tags": []}])), "rubrics[0].criterion", "empty"),
    (json.dumps(healthbench_row(prompt=[{"role": "doctor", "content": "hi"}])), "prompt[0].role", "'user'"),
    (json.dumps(healthbench_row(prompt=[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])),
     "prompt", "end with a user turn"),
]


@pytest.mark.parametrize("line,field,message", BAD_ROWS)
def test_bad_row_names_file_line_field_and_stores_nothing(workspace, tmp_path, line, field, message):
    path = write_jsonl(tmp_path / "bad.jsonl", [healthbench_row("good"), line])
    with pytest.raises(FormatError) as err:
        import_healthbench(workspace, path)
    assert err.value.line == 2 and err.value.path == path
    assert err.value.field == field
    assert message in str(err.value) and str(path) in str(err.value)
    assert workspace.scalar("SELECT count(*) FROM questions") == 0
    assert store.list_sets(workspace) == []


def test_a_meta_eval_row_is_named_as_such(workspace, tmp_path):
    meta = {"prompt": [{"role": "user", "content": "hi"}], "completion": "hello", "rubric": "Greets back.",
            "category": "cluster:communication_x", "binary_labels": [True, False],
            "anonymized_physician_ids": ["a", "b"], "prompt_id": "p", "completion_id": "c"}
    with pytest.raises(FormatError, match="meta-eval row") as err:
        import_healthbench(workspace, write_jsonl(tmp_path / "meta.jsonl", [meta]))
    assert (err.value.line, err.value.field) == (1, "rubrics")


def test_duplicate_prompt_id_in_one_file(workspace, tmp_path):
    path = write_jsonl(tmp_path / "dup.jsonl", [healthbench_row("p"), healthbench_row("q"), healthbench_row("p")])
    with pytest.raises(FormatError) as err:
        import_healthbench(workspace, path)
    assert (err.value.line, err.value.field) == (3, "prompt_id")
    assert "first on line 1" in str(err.value)


def test_skip_invalid_imports_good_rows_and_lists_bad(workspace, tmp_path):
    path = write_jsonl(tmp_path / "mixed.jsonl", [healthbench_row("a"), "{oops", healthbench_row("b"),
                                                  healthbench_row("a")])
    report = import_healthbench(workspace, path, skip_invalid=True)
    assert report.rows == 2
    assert [(e.line, e.field) for e in report.skipped] == [(2, None), (4, "prompt_id")]
    assert "skipped 2 invalid rows" in report.summary()


@pytest.mark.parametrize("content,message", [(b"", "empty"), (b"\xff\xfe{}\n", "not UTF-8"),
                                             (json.dumps(healthbench_row()).encode() + b'\n\xc3\x28\n', ":2: not UTF-8")])
def test_unreadable_files(workspace, tmp_path, content, message):
    path = tmp_path / "f.jsonl"
    path.write_bytes(content)
    with pytest.raises(FormatError, match=message):
        import_healthbench(workspace, path)


def test_missing_file_and_folder(workspace, tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        import_healthbench(workspace, tmp_path / "nope.jsonl")
    with pytest.raises(FormatError, match="folder"):
        import_healthbench(workspace, tmp_path)


def test_bom_and_blank_lines_are_accepted(workspace, tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(healthbench_row()).encode() + b"\n\n  \n")
    assert import_healthbench(workspace, path).rows == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-20, 20) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)


def mutated_rows():
    base = healthbench_row()
    keys = st.sampled_from(list(base) + ["completion", "model"])
    return st.builds(lambda k, v: {**base, k: v}, keys, json_values) | st.builds(
        lambda i, k, v: {**base, "rubrics": [*base["rubrics"][:i], {**base["rubrics"][i], k: v}]},
        st.integers(0, 2), st.sampled_from(["criterion", "points", "tags", "criteria_met", "explanation"]),
        json_values)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=mutated_rows() | json_values)
def test_parser_raises_only_its_own_error(row):
    try:
        parse_row(json.dumps(row), path="h.jsonl", line=1)
    except FormatError as exc:
        assert str(exc).startswith("h.jsonl:1")


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_parser_survives_any_text(text):
    try:
        parse_row(text, path="h.jsonl", line=1)
    except FormatError:
        pass


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(mutated_rows() | json_values, min_size=1, max_size=3), skip=st.booleans())
def test_whole_import_raises_only_its_own_error_and_is_all_or_nothing(tmp_path_factory, rows, skip):
    """Files of random rows through the real importer and workspace: either FormatError and
    nothing stored (unless --skip-invalid), or an import whose counts match the workspace."""
    folder = tmp_path_factory.mktemp("prop")
    path = write_jsonl(folder / "random.jsonl", [json.dumps(r) for r in rows])
    with store.Workspace(folder / "w.healthqa") as ws:
        try:
            report = import_healthbench(ws, path, rater="Dr A", skip_invalid=skip)
        except FormatError as exc:
            assert str(exc).startswith(str(path))
            if not skip:
                assert ws.scalar("SELECT count(*) FROM questions") == 0
                assert ws.scalar("SELECT count(*) FROM answers") == 0
            return
        assert ws.scalar("SELECT count(*) FROM questions") == report.questions_created
        assert ws.scalar("SELECT count(*) FROM answers") == report.answers_created


# -- issue 9, item 3: one prompt_id, one conversation -----------------------------------------------

ANOTHER_PROMPT = [{"role": "user", "content": "My wrist hurts after a fall. Is it broken?"}]
PNG_URL = "data:image/png;base64,iVBORw0KGgpzbWFsbA=="


def answered(pid, completion, **overrides):
    return {**healthbench_row(pid, **overrides), "completion": completion, "model": "m"}


def test_a_second_conversation_under_one_prompt_id_in_one_file_is_refused(workspace, tmp_path):
    path = write_jsonl(tmp_path / "two.jsonl", [answered("p", "Rest it."), answered("q", "Ice."),
                                                answered("p", "See a doctor.", prompt=ANOTHER_PROMPT)])
    with pytest.raises(FormatError) as err:
        import_healthbench(workspace, path)
    assert (err.value.path, err.value.line, err.value.field) == (path, 3, "prompt")
    message = str(err.value)
    assert "\n" not in message and "prompt_id p " in message and "line 1" in message
    assert workspace.scalar("SELECT count(*) FROM questions") == 0  # nothing stored


def test_a_second_conversation_under_one_prompt_id_across_imports_is_refused(workspace, tmp_path):
    import_healthbench(workspace, write_jsonl(tmp_path / "first.jsonl", [answered("p", "Rest it.")]), set_name="A")
    second = write_jsonl(tmp_path / "second.jsonl", [healthbench_row("q"),
                                                     answered("p", "See a doctor.", prompt=ANOTHER_PROMPT)])
    with pytest.raises(FormatError) as err:
        import_healthbench(workspace, second, set_name="B")
    assert (err.value.path, err.value.line, err.value.field) == (second, 2, "prompt")
    assert "prompt_id p " in str(err.value) and "different conversation" in str(err.value)
    assert workspace.scalar("SELECT count(*) FROM questions") == 1 and workspace.scalar(
        "SELECT count(*) FROM answers") == 1  # the refused file left nothing behind
    [stored] = workspace.query("SELECT conversation FROM questions")
    assert "ankle" in stored["conversation"]


def test_the_same_question_again_and_samples_of_one_prompt_still_import(workspace, tmp_path):
    image = [{"role": "user", "content": [{"type": "text", "text": "What is this rash?"},
                                          {"type": "image_url", "image_url": {"url": PNG_URL}}]}]
    rows = [answered("p", f"sample {i}") for i in range(3)] + [answered("img", "Eczema.", prompt=image)]
    path = write_jsonl(tmp_path / "samples.jsonl", rows)
    report = import_healthbench(workspace, path)
    assert (report.questions_created, report.answers_created) == (2, 4)
    again = import_healthbench(workspace, path)  # idempotent, images and all
    assert (again.questions_created, again.questions_existing, again.answers_created) == (0, 2, 0)
    more = import_healthbench(workspace, write_jsonl(tmp_path / "more.jsonl", [answered("p", "sample 4")]))
    assert (more.questions_created, more.answers_created) == (0, 1)
