"""The import contract: the core never imports Qt or the app (architecture.md)."""

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "healthqa"
FORBIDDEN = ("PySide6", "shiboken6", "ui")


def imported_modules(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def test_core_never_imports_qt_or_ui():
    offenders = [
        f"{path.relative_to(CORE.parent)}:{line} imports {name}"
        for path in CORE.rglob("*.py")
        for line, name in imported_modules(path)
        if name.split(".")[0] in FORBIDDEN
    ]
    assert not offenders, "\n".join(offenders)


def test_contract_check_catches_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom PySide6.QtCore import QObject\n")
    assert [n for _, n in imported_modules(bad) if n.split(".")[0] in FORBIDDEN] == ["PySide6.QtCore"]
