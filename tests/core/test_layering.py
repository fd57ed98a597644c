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


# ---- the packages' shape (issue 10) -----------------------------------------------------

ROOT = CORE.parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def healthqa_imports(path: Path, here: str | None = None) -> set[str]:
    """Every healthqa module `path` imports, at the top or inside a function
    (`from pkg import mod` counts as importing pkg.mod when mod is a module)."""
    here = here or module_name(path)
    base = here.split(".") if path.name == "__init__.py" else here.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "healthqa"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                target = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "healthqa":
                continue
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names if module_path(f"{target}.{a.name}")}
    return found


def module_path(name: str) -> Path | None:
    path = ROOT.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def import_graph(root: Path) -> dict[str, set[str]]:
    return {module_name(p): {m for m in healthqa_imports(p) if module_path(m)} for p in root.rglob("*.py")}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (or a module importing itself): Tarjan."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_among_healthqa_modules():
    assert cycles(import_graph(CORE)) == []


def test_cycle_check_catches_a_cycle():
    graph = {"healthqa.a": {"healthqa.b"}, "healthqa.b": {"healthqa.c"}, "healthqa.c": {"healthqa.a"},
             "healthqa.d": {"healthqa.a"}}
    assert cycles(graph) == [["healthqa.a", "healthqa.b", "healthqa.c"]]


# Packages whose __init__.py is their public face: code outside the package
# imports the package, never one of its modules.
FACED = [module_name(p.parent / "__init__.py") for p in CORE.rglob("__init__.py")
         if module_name(p) not in ("healthqa", "healthqa.formats", "healthqa.commands")]


def private_imports(path: Path, here: str | None = None) -> list[str]:
    here = here or module_name(path)
    bad = []
    for target in sorted(healthqa_imports(path, here)):
        for face in FACED:
            inside_target = target.startswith(face + ".")
            inside_here = here == face or here.startswith(face + ".")
            if inside_target and not inside_here:
                bad.append(f"{here} imports {target}: import {face} instead")
    return bad


def test_ui_commands_and_other_packages_import_only_public_faces():
    assert "healthqa.runs" in FACED and "healthqa.formats.bundle" in FACED
    files = [*(ROOT / "ui").rglob("*.py"), *CORE.rglob("*.py")]
    offenders = [line for path in files for line in private_imports(path)]
    assert not offenders, "\n".join(offenders)


def test_face_check_catches_a_private_import(tmp_path):
    bad = tmp_path / "probe.py"
    bad.write_text("from healthqa.runs.engine import _Engine\nfrom healthqa.runs import RunError\n")
    assert private_imports(bad, here="ui.probe") == [
        "ui.probe imports healthqa.runs.engine: import healthqa.runs instead"]
