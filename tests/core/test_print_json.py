"""--json output: the same document json.dump would write, laid out so that
a 50 MB report is written by the C encoder (one line per deep block)."""

from __future__ import annotations

import json

import pytest

from healthqa.commands.common import print_json


@pytest.mark.parametrize("data", [
    {"a": 1, "b": [1, {"x": [1, 2]}], "c": {"k": {"deep": [1, 2, {"z": None}]}, "e": []}, "d": {}},
    {"é": "ü — 日本", 1: 2, None: 4, 2.5: (1, 2), "nan": float("nan")},
    [], {}, 3, "text", None, [[[]]], [{"a": [{"b": {"c": 1}}]}],
])
def test_print_json_writes_the_document_json_dump_would(capsys, data):
    print_json(data)
    out = capsys.readouterr().out
    assert out.endswith("\n")
    assert json.dumps(json.loads(out)) == json.dumps(data)


def test_print_json_indents_the_top_levels_and_keeps_deeper_blocks_on_one_line(capsys):
    print_json({"items": 2, "by": {"criterion A": {"fleiss_kappa": 0.5, "ci": [0.1, 0.9]}}})
    assert capsys.readouterr().out.splitlines() == [
        "{",
        '  "items": 2,',
        '  "by": {',
        '    "criterion A": {"fleiss_kappa": 0.5, "ci": [0.1, 0.9]}',
        "  }",
        "}",
    ]


def test_print_json_writes_what_json_cannot_encode_as_text(capsys):
    from pathlib import PurePosixPath
    print_json({"path": PurePosixPath("a/b"), "deep": {"x": {"y": PurePosixPath("c")}}})
    assert json.loads(capsys.readouterr().out) == {"path": "a/b", "deep": {"x": {"y": "c"}}}
