"""What goes wrong around the data, as the `healthqa` command meets it: one
line on stderr, a non-zero exit, never a traceback. Real processes, real
files, real pipes."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from healthqa import cli
from healthqa.formats.healthbench import MAX_LINE_BYTES
from healthqa.store import Workspace
from tests.conftest import file_rows, healthbench_row, write_jsonl
from tests.core.test_workspace_errors import foreign_file, hold_write_lock, release

PNG = base64.b64encode(bytes.fromhex("89504e470d0a1a0a0000000d49484452")).decode()


def run_cli(*args, prefix=(), env=None, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-m", "healthqa.cli", *map(str, args)], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=timeout)


def in_process(capsys, *args) -> subprocess.CompletedProcess:
    """A command run in this process (quicker than a new one; the same code path)."""
    capsys.readouterr()
    code = cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def assert_one_line_error(proc: subprocess.CompletedProcess, *expected: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    for text in expected:
        assert text in proc.stderr, proc.stderr
    return proc.stderr


@pytest.fixture
def unprivileged() -> list[str]:
    """A command prefix under which file permissions hold: root ignores them, so
    as root the process runs without the capabilities that bypass them."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file permissions cannot be tested")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


@pytest.fixture
def questions_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "q.jsonl", [healthbench_row("p1"), healthbench_row("p2")])


# ---- 8b: another process holding the workspace -----------------------------------------


def test_import_waits_visibly_for_another_writer_then_imports(tmp_path, questions_file):
    ws = tmp_path / "w.healthqa"
    Workspace(ws).close()
    holder = hold_write_lock(ws)
    proc = subprocess.Popen([sys.executable, "-m", "healthqa.cli", "--workspace", str(ws), "import",
                             str(questions_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        notice = proc.stderr.readline()  # said while it waits, not after
        assert "waiting for another process that is writing to" in notice and str(ws) in notice
        assert proc.poll() is None
    finally:
        release(holder)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "2 new questions" in out and "Traceback" not in err


# ---- 8c: broken base64 in an image -------------------------------------------------------


def image_row(prompt_id: str, data: str) -> dict:
    return healthbench_row(prompt_id, prompt=[{"role": "user", "content": [
        {"type": "text", "text": "What is this rash?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}]}])


@pytest.mark.parametrize("data", ["!!!not-base64!!!", PNG[:-3], "QUJD$RA=="])
def test_bad_base64_in_an_image_names_file_line_and_field(tmp_path, data):
    path = write_jsonl(tmp_path / "img.jsonl", [image_row("ok", PNG), image_row("bad", data)])
    ws = tmp_path / "w.healthqa"
    proc = run_cli("--workspace", ws, "import", path)
    assert_one_line_error(proc, f"{path}:2: prompt[0].content[1].image_url.url: image data is not valid base64")
    assert file_rows(ws, "SELECT count(*) AS n FROM questions") == [{"n": 0}]  # one transaction: nothing


def test_good_and_line_wrapped_base64_images_import(tmp_path):
    wrapped = "\n".join(PNG[i:i + 8] for i in range(0, len(PNG), 8))
    path = write_jsonl(tmp_path / "img.jsonl", [image_row("a", PNG), image_row("b", wrapped)])
    ws = tmp_path / "w.healthqa"
    assert run_cli("--workspace", ws, "import", path).returncode == 0
    assert file_rows(ws, "SELECT count(*) AS n FROM attachments") == [{"n": 1}]  # the same image, stored once


def test_skip_invalid_skips_the_row_with_a_broken_image(tmp_path):
    path = write_jsonl(tmp_path / "img.jsonl", [image_row("ok", PNG), image_row("bad", "@@@")])
    proc = run_cli("--workspace", tmp_path / "w.healthqa", "import", path, "--skip-invalid")
    assert proc.returncode == 0 and "1 new questions" in proc.stdout and "img.jsonl:2: prompt[0]" in proc.stdout


# ---- 8d, 8f: permissions ---------------------------------------------------------------


def test_read_only_workspace_is_one_line(tmp_path, unprivileged):
    ws = tmp_path / "w.healthqa"
    Workspace(ws).close()
    ws.chmod(0o444)
    for args in (["sets"], ["import", write_jsonl(tmp_path / "q.jsonl", [healthbench_row()])]):
        proc = run_cli("--workspace", ws, *args, prefix=unprivileged)
        assert_one_line_error(proc, f"{ws} is read-only")


def test_unreadable_workspace_says_permission_denied(tmp_path, unprivileged):
    ws = tmp_path / "w.healthqa"
    Workspace(ws).close()
    ws.chmod(0)
    stderr = assert_one_line_error(run_cli("--workspace", ws, "sets", prefix=unprivileged), "permission denied")
    assert "not a HealthQA workspace" not in stderr


def test_workspace_in_a_folder_that_may_not_be_entered(tmp_path, unprivileged):
    folder = tmp_path / "locked"
    folder.mkdir()
    Workspace(folder / "w.healthqa").close()
    folder.chmod(0)
    try:
        for args in (["sets"], ["import", write_jsonl(tmp_path / "q.jsonl", [healthbench_row()])]):
            proc = run_cli("--workspace", folder / "w.healthqa", *args, prefix=unprivileged)
            stderr = assert_one_line_error(proc, "permission denied")
            assert "not a HealthQA workspace" not in stderr
    finally:
        folder.chmod(0o700)


def test_new_workspace_in_a_read_only_folder(tmp_path, unprivileged):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        proc = run_cli("--workspace", folder / "w.healthqa", "import",
                       write_jsonl(tmp_path / "q.jsonl", [healthbench_row()]), prefix=unprivileged)
        assert_one_line_error(proc, "permission denied")
    finally:
        folder.chmod(0o700)


def test_existing_workspace_in_a_read_only_folder(tmp_path, unprivileged):
    folder = tmp_path / "ro"
    folder.mkdir()
    Workspace(folder / "w.healthqa").close()  # closed: SQLite removed its journal files
    folder.chmod(0o555)
    try:
        proc = run_cli("--workspace", folder / "w.healthqa", "sets", prefix=unprivileged)
        assert_one_line_error(proc, f"its folder {folder} is not writable")
    finally:
        folder.chmod(0o700)


def test_unreadable_import_file_says_permission_denied(tmp_path, unprivileged):
    path = write_jsonl(tmp_path / "q.jsonl", [healthbench_row()])
    path.chmod(0)
    proc = run_cli("--workspace", tmp_path / "w.healthqa", "import", path, prefix=unprivileged)
    assert_one_line_error(proc, f"{path}: cannot be read (Permission denied)")


# ---- 8e: another application's SQLite file ------------------------------------------------


@pytest.mark.parametrize("command", [["sets"], ["import", "QUESTIONS"]])
def test_foreign_sqlite_file_is_refused_and_left_as_it_was(tmp_path, questions_file, command):
    path = foreign_file(tmp_path / "other.db", user_version=42)
    before = path.read_bytes()
    args = [str(questions_file) if a == "QUESTIONS" else a for a in command]
    stderr = assert_one_line_error(run_cli("--workspace", path, *args), "not a HealthQA workspace")
    assert "newer HealthQA" not in stderr
    assert path.read_bytes() == before
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL
    conn.close()


# ---- 8g: --out in a folder that does not exist ---------------------------------------------


@pytest.mark.parametrize("command", [
    ["export", "--set", "q", "--format", "healthbench"],
    ["export", "--format", "csv"],
    ["report"],
    ["flags"],
    ["bundle", "export", "--rater", "Dr A"],
])
def test_out_in_a_missing_folder_is_one_line(tmp_path, questions_file, command, capsys):
    ws = tmp_path / "w.healthqa"
    in_process(capsys, "--workspace", ws, "import", questions_file)
    out = tmp_path / "no" / "such" / "folder" / "out.file"
    proc = in_process(capsys, "--workspace", ws, *command, "--out", out)
    assert_one_line_error(proc, f"the folder {out.parent} does not exist")
    assert not (tmp_path / "no").exists()


def test_out_in_a_read_only_folder_is_one_line(tmp_path, questions_file, unprivileged):
    ws = tmp_path / "w.healthqa"
    assert run_cli("--workspace", ws, "import", questions_file).returncode == 0
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        proc = run_cli("--workspace", ws, "export", "--set", "q", "--out", folder / "q.jsonl", prefix=unprivileged)
        assert_one_line_error(proc, "Permission denied")
    finally:
        folder.chmod(0o700)


# ---- 8h: endless input --------------------------------------------------------------------


def test_import_from_dev_zero_stops_at_the_line_limit(tmp_path):
    proc = run_cli("--workspace", tmp_path / "w.healthqa", "import", "/dev/zero", timeout=60)
    assert_one_line_error(proc, f"/dev/zero:1: line is longer than {MAX_LINE_BYTES // 2**20} MiB")


def feed_fifo(path: Path, data_source) -> threading.Thread:
    """A thread that writes to the FIFO until the reader goes away."""
    def feed() -> None:
        try:
            with open(path, "wb") as fifo:
                for chunk in data_source():
                    fifo.write(chunk)
        except BrokenPipeError:
            pass  # the reader stopped: expected

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return thread


def test_import_from_an_endless_fifo_stops_at_the_line_limit(tmp_path):
    fifo = tmp_path / "rows.fifo"
    os.mkfifo(fifo)

    def endless():
        chunk = b"{" + b" " * (1 << 20)
        while True:
            yield chunk

    thread = feed_fifo(fifo, endless)
    proc = run_cli("--workspace", tmp_path / "w.healthqa", "import", fifo, timeout=60)
    assert_one_line_error(proc, f"{fifo}:1: line is longer than")
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_import_from_a_fifo_reads_it_once(tmp_path):
    fifo = tmp_path / "rows.fifo"
    os.mkfifo(fifo)
    rows = "".join(json.dumps(healthbench_row(f"p{i}")) + "\n" for i in range(3)).encode()
    thread = feed_fifo(fifo, lambda: [rows])
    proc = run_cli("--workspace", tmp_path / "w.healthqa", "import", fifo, "--set", "piped", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "3 new questions" in proc.stdout
    thread.join(timeout=10)


# ---- 8i: read commands on a workspace that does not exist ---------------------------------

READ_COMMANDS = [
    ["sets"], ["questions", "--set", "s"], ["score"], ["agreement"], ["disagreements"], ["flags"],
    ["export", "--format", "csv", "--out", "OUT"], ["report", "--out", "OUT"], ["runs", "list"],
    ["runs", "show", "abc"], ["answers", "--run", "abc"], ["models", "list"], ["assignments"],
    ["run", "--set", "s", "--model", "m"], ["grade", "--set", "s", "--grader", "g"],
    ["adjudicate", "a", "c", "--by", "Dr A", "--verdict", "met"],
    ["flag", "p1", "1", "--rater", "Dr A", "--reason", "ambiguous"],
]


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_mistyped_workspace_is_refused_not_created(tmp_path, command, capsys):
    ws = tmp_path / "typo" / "w.healthqa"
    args = [str(tmp_path / "out.file") if a == "OUT" else a for a in command]
    assert_one_line_error(in_process(capsys, "--workspace", ws, *args), f"no workspace at {ws}")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_mistyped_workspace_from_the_environment_is_refused(tmp_path):
    ws = tmp_path / "typo.healthqa"
    assert_one_line_error(run_cli("score", env={"HEALTHQA_WORKSPACE": str(ws)}), f"no workspace at {ws}")
    assert not ws.exists()


def test_the_default_workspace_is_created_by_the_first_import_only(tmp_path, questions_file):
    home = tmp_path / "home"
    env = {"HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "HEALTHQA_WORKSPACE": ""}
    default = home / "data" / "HealthQA" / "workspace.healthqa"
    assert_one_line_error(run_cli("sets", env=env), f"no workspace yet at {default}", "healthqa import FILE")
    assert not home.exists()
    assert run_cli("import", questions_file, env=env).returncode == 0
    assert default.exists()
    assert "q" in run_cli("sets", env=env).stdout
