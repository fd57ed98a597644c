"""The installer recipes: spec, desktop entry, AppStream metadata, icons, user install.

Fast checks run in the default suite. The end-to-end build (PyInstaller, then
the frozen app's screenshot and the frozen CLI) is marked slow:

    .venv/bin/python -m pytest -m slow tests/core/test_packaging.py
"""

from __future__ import annotations

import ast
import configparser
import json
import os
import shutil
import struct
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from healthqa.paths import APP_NAME, DATA_FOLDERS

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "healthqa.spec"
DESKTOP = PACKAGING / "linux" / "healthqa.desktop"
APP_ID = "io.healthqa.HealthQA"
METAINFO = PACKAGING / "linux" / f"{APP_ID}.metainfo.xml"
INSTALL_USER = PACKAGING / "linux" / "install-user.sh"
ICONS = ROOT / "resources" / "icons" / "app"
ICON_SIZES = (16, 32, 48, 64, 128, 256, 512)
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


# --- the PyInstaller spec, run with recording stand-ins for PyInstaller's build steps ---

class Recorder:
    """Stands in for one of the classes PyInstaller puts in a spec's namespace; keeps its arguments."""

    made: list["Recorder"]

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        self.made.append(self)


def run_spec(platform: str = "linux") -> dict[str, list[Recorder]]:
    made: dict[str, list[Recorder]] = {}

    def recorder(kind: str) -> type:
        made[kind] = []
        extra = {"binaries": [], "datas": [], "pure": [], "scripts": []} if kind == "Analysis" else {}
        return type(kind, (Recorder,), {"made": made[kind], **extra})

    namespace = {name: recorder(name) for name in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE")}
    namespace.update(SPECPATH=str(PACKAGING), __file__=str(SPEC), __name__="__main__")
    saved_path, saved_platform = list(sys.path), sys.platform
    try:
        sys.platform = platform
        exec(compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec"), namespace)
    finally:
        sys.path[:], sys.platform = saved_path, saved_platform
    return made


@pytest.fixture(scope="module")
def spec_run():
    return run_spec()


def test_spec_bundles_every_data_folder_the_app_loads(spec_run):
    expected = {(str(ROOT / folder), folder) for folder in DATA_FOLDERS}
    for analysis in spec_run["Analysis"]:
        assert set(analysis.kwargs["datas"]) == expected
    for folder in DATA_FOLDERS:
        assert (ROOT / folder).is_dir(), f"{folder}/ is a data folder but missing"


def test_spec_takes_the_folders_from_healthqa_paths_not_a_copy():
    tree = ast.parse(SPEC.read_text(encoding="utf-8"))
    imports = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module == "healthqa.paths"]
    assert any(alias.name == "DATA_FOLDERS" for node in imports for alias in node.names)
    literals = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}
    assert not set(DATA_FOLDERS) <= literals, "the spec spells out the data folders instead of using DATA_FOLDERS"


def data_folders_named_in_code() -> set[tuple[str, str]]:
    """(file, folder) for every data_path("folder", ...) call, and every app_root() use outside paths.py."""
    found = set()
    for path in [*(ROOT / "healthqa").rglob("*.py"), *(ROOT / "ui").rglob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute))):
                continue
            called = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
            where = str(path.relative_to(ROOT))
            if called == "data_path" and node.args and isinstance(node.args[0], ast.Constant):
                found.add((where, node.args[0].value))
            elif called == "app_root" and path.name != "paths.py":
                found.add((where, "app_root() used directly: go through healthqa.paths.data_path"))
    return found


def test_every_folder_the_code_loads_is_a_bundled_data_folder():
    strays = sorted((where, folder) for where, folder in data_folders_named_in_code() if folder not in DATA_FOLDERS)
    assert not strays, strays


def test_spec_makes_both_executables_in_one_folder(spec_run):
    exes = {exe.kwargs["name"]: exe.kwargs for exe in spec_run["EXE"]}
    assert set(exes) == set(PROJECT["scripts"]) | set(PROJECT["gui-scripts"]) == {"healthqa", "healthqa-desktop"}
    assert exes["healthqa"]["console"] is True and exes["healthqa-desktop"]["console"] is False
    assert all(exe["exclude_binaries"] for exe in exes.values()), "one-folder build: binaries go to COLLECT"
    [collect] = spec_run["COLLECT"]
    assert collect.kwargs["name"] == APP_NAME
    assert {id(exe) for exe in spec_run["EXE"]} <= {id(arg) for arg in collect.args}
    assert not spec_run["BUNDLE"], "the macOS .app is made on macOS only"


def test_spec_launchers_call_the_pyproject_entry_points(spec_run):
    for analysis in spec_run["Analysis"]:
        [script] = analysis.args[0]
        source = Path(script).read_text(encoding="utf-8")
        module, func = {**PROJECT["scripts"], **PROJECT["gui-scripts"]}[
            "healthqa" if "healthqa.cli" in source else "healthqa-desktop"].split(":")
        assert f"from {module} import {func}" in source


def test_spec_finds_the_commands_cli_imports_by_name(spec_run):
    desktop, cli = spec_run["Analysis"]
    for module in ("healthqa.commands.data", "healthqa.commands.agreement", "healthqa.store"):
        assert module in cli.kwargs["hiddenimports"]
    assert "ui.app" in desktop.kwargs["hiddenimports"]
    assert not any(name.startswith("ui") for name in cli.kwargs["hiddenimports"])
    assert {"PySide6", "ui"} <= set(cli.kwargs["excludes"]), "the console command is the Qt-free core"


def qt_modules_imported_by_the_app() -> set[str]:
    modules = set()
    for path in [*(ROOT / "ui").rglob("*.py"), *(ROOT / "healthqa").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            modules |= {".".join(n.split(".")[:2]) for n in names if n.startswith("PySide6.")}
    return modules


def test_spec_excludes_no_qt_module_the_app_imports(spec_run):
    used = qt_modules_imported_by_the_app()
    assert "PySide6.QtWidgets" in used
    desktop = spec_run["Analysis"][0]
    excluded = set(desktop.kwargs["excludes"])
    assert {"PySide6.QtWebEngineCore", "PySide6.QtQml", "PySide6.QtQuick"} <= excluded
    assert not used & excluded, f"packaging/healthqa.spec excludes Qt modules the app imports: {sorted(used & excluded)}"


@pytest.mark.parametrize("platform, suffix", [("win32", ".ico"), ("darwin", ".icns")])
def test_spec_gives_windows_and_macos_their_icon(platform, suffix):
    made = run_spec(platform)
    for exe in made["EXE"]:
        assert exe.kwargs["icon"].endswith(suffix) and Path(exe.kwargs["icon"]).is_file()
    if platform == "darwin":
        [app] = made["BUNDLE"]
        assert app.kwargs["bundle_identifier"] == APP_ID and app.kwargs["version"] == PROJECT["version"]


# --- Linux desktop entry and AppStream metadata ---

def desktop_entry(path: Path = DESKTOP) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def test_desktop_entry_is_valid():
    entry = desktop_entry()
    for key in ("Type", "Name", "Comment", "Exec", "Icon", "Categories", "Terminal"):
        assert entry.get(key), f"{key} missing"
    assert entry["Type"] == "Application" and entry["Terminal"] == "false"
    assert entry["Exec"].split()[0] == entry["TryExec"] == next(iter(PROJECT["gui-scripts"]))
    assert entry["Icon"] == "healthqa" and (ICONS / f"{entry['Icon']}.svg").is_file()
    categories = entry["Categories"].split(";")
    assert categories[-1] == "" and {"Science", "MedicalSoftware", "Education"} <= set(categories)
    if shutil.which("desktop-file-validate"):
        result = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_metainfo_is_valid_and_matches_the_project():
    root = ET.parse(METAINFO).getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("name") == desktop_entry()["Name"]
    assert root.findtext("summary")
    assert root.find("description/p") is not None
    assert root.findtext("project_license") == PROJECT["license"]
    launchable = root.find("launchable")
    assert launchable.get("type") == "desktop-id" and launchable.text == f"{APP_ID}.desktop"
    assert root.findtext("icon") == desktop_entry()["Icon"]
    releases = root.findall("releases/release")
    assert releases and releases[0].get("version") == PROJECT["version"], "add a <release> for the new version"
    if shutil.which("appstreamcli"):
        result = subprocess.run(["appstreamcli", "validate", "--no-net", str(METAINFO)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


# --- icons ---

def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_app_icon_exists_in_every_size():
    assert ET.parse(ICONS / "healthqa.svg").getroot().tag.endswith("svg")
    for size in ICON_SIZES:
        assert png_size((ICONS / f"healthqa-{size}.png").read_bytes()) == (size, size)


def test_windows_ico_and_macos_icns_hold_the_renders():
    ico = (ICONS / "healthqa.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    sizes = set()
    for i in range(count):
        width, _, _, _, _, _, length, offset = struct.unpack("<BBBBHHII", ico[6 + 16 * i: 22 + 16 * i])
        assert png_size(ico[offset:offset + length]) == (width or 256,) * 2
        sizes.add(width or 256)
    assert (reserved, kind) == (0, 1) and sizes == {16, 32, 48, 64, 128, 256}

    icns = (ICONS / "healthqa.icns").read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)
    at, sizes = 8, set()
    while at < len(icns):
        length = struct.unpack(">I", icns[at + 4:at + 8])[0]
        sizes.add(png_size(icns[at + 8:at + length])[0])
        at += length
    assert sizes == {16, 32, 64, 128, 256, 512}


# --- install-user.sh, on a stand-in bundle in a temporary home ---

@pytest.fixture
def fake_bundle(tmp_path) -> Path:
    """A folder shaped like dist/HealthQA: two executables and the bundled icons."""
    bundle = tmp_path / "dist" / APP_NAME
    for command in ("healthqa", "healthqa-desktop"):
        exe = bundle / command
        exe.parent.mkdir(parents=True, exist_ok=True)
        exe.write_text(f'#!/bin/sh\necho "{command} ran with $*"\n')
        exe.chmod(0o755)
    shutil.copytree(ICONS, bundle / "_internal" / "resources" / "icons" / "app")
    return bundle


def install_user(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    result = subprocess.run(["bash", str(INSTALL_USER), *args], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_install_user_installs_launchers_menu_entry_and_icons_then_removes_them(tmp_path, fake_bundle):
    home = tmp_path / "home"
    local = home / ".local"
    install_user(home, "--bundle", str(fake_bundle))

    launched = subprocess.run([str(local / "bin" / "healthqa"), "score", "--json"], capture_output=True, text=True)
    assert launched.stdout.strip() == "healthqa ran with score --json"
    entry_path = local / "share" / "applications" / f"{APP_ID}.desktop"
    entry = desktop_entry(entry_path)
    installed_app = local / "lib" / "healthqa" / "healthqa-desktop"
    assert entry["Exec"] == f'"{installed_app}"' and entry["TryExec"] == str(installed_app)
    assert installed_app.is_file()
    if shutil.which("desktop-file-validate"):
        assert subprocess.run(["desktop-file-validate", str(entry_path)]).returncode == 0
    hicolor = local / "share" / "icons" / "hicolor"
    for size in ICON_SIZES:
        assert png_size((hicolor / f"{size}x{size}" / "apps" / "healthqa.png").read_bytes()) == (size, size)
    assert (hicolor / "scalable" / "apps" / "healthqa.svg").is_file()
    assert (local / "share" / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()

    install_user(home, "--uninstall")
    # The menu and icon caches the desktop tools keep (mimeinfo.cache, icon-theme.cache) are shared, not ours.
    left = sorted(str(p.relative_to(local)) for p in local.rglob("*") if p.is_file() and not p.name.endswith(".cache"))
    assert left == []


def test_install_user_leaves_someone_elses_healthqa_command_alone(tmp_path, fake_bundle):
    home = tmp_path / "home"
    theirs = home / ".local" / "bin" / "healthqa"
    theirs.parent.mkdir(parents=True)
    theirs.write_text("#!/bin/sh\necho pip-installed\n")
    result = install_user(home, "--bundle", str(fake_bundle))
    assert "someone else's" in result.stdout
    install_user(home, "--uninstall")
    assert theirs.read_text() == "#!/bin/sh\necho pip-installed\n"
    assert not (home / ".local" / "bin" / "healthqa-desktop").exists()


def test_install_user_refuses_without_a_built_app(tmp_path):
    env = {"HOME": str(tmp_path), "PATH": os.environ["PATH"]}
    result = subprocess.run(["bash", str(INSTALL_USER), "--bundle", str(tmp_path / "nowhere")], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "build.sh" in result.stderr
    assert not (tmp_path / ".local" / "lib" / "healthqa").exists()


def test_build_script_is_valid_bash():
    assert subprocess.run(["bash", "-n", str(PACKAGING / "build.sh")]).returncode == 0


# --- the real thing: build, then run the frozen app and the frozen CLI ---

@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_build_sh_builds_a_bundle_whose_app_and_cli_both_work():
    report_path = ROOT / "build" / "packaging-report.json"
    result = subprocess.run(["bash", str(PACKAGING / "build.sh"), "--no-archive"], cwd=ROOT,
                            capture_output=True, text=True, timeout=3500)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["desktop_check"] == "PASS" and report["cli_check"] == "PASS"
    assert report["version"] == PROJECT["version"]
    bundle = ROOT / "dist" / APP_NAME
    assert os.access(bundle / "healthqa", os.X_OK) and os.access(bundle / "healthqa-desktop", os.X_OK)
