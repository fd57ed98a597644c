"""The workspace: one SQLite file holding questions, answers and grades.

One connection writes (WAL lets readers in other threads go on meanwhile);
a lock serialises the threads that share it. Every public write is one
transaction, so a crash leaves either all of it or none.

Opening never writes to a file before it is known to be ours (or new and
empty), and every way opening can fail — permissions, another application's
database, a newer HealthQA, another process holding the write lock — is a
WorkspaceError whose message says what to do.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import functools
import os
import sqlite3
import stat
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

from ..domain import new_id
from ..errors import HealthQAError
from .schema import MIGRATIONS, SCHEMA_VERSION, apply_migration

# How long a write waits for another process's transaction (a long import,
# another app) before giving up with a message; callers such as the CLI wait
# longer. After WAIT_NOTICE seconds `on_wait` is told, so a person sees why
# nothing is happening.
LOCK_WAIT = 30.0
WAIT_NOTICE = 1.0
# SQLite's primary result codes (extended codes carry them in the low byte).
_SQLITE_BUSY, _SQLITE_CANTOPEN, _SQLITE_READONLY, _SQLITE_NOTADB = 5, 14, 8, 26


class WorkspaceError(HealthQAError):
    """A workspace that cannot be opened or used; the message says why."""


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


class Workspace:
    def __init__(self, path: str | Path, *, create: bool = True, lock_wait: float = LOCK_WAIT,
                 on_wait: Callable[[str], None] | None = None):
        """Open the workspace at `path` (with `create`, a missing one is created).

        lock_wait: seconds a write waits for another process's transaction
        before a WorkspaceError. on_wait(message): told once per wait longer
        than WAIT_NOTICE, e.g. to print that another process holds the file.
        """
        self.path = Path(path)
        self.lock_wait, self.on_wait = lock_wait, on_wait
        _check_access(self.path, create)
        self._lock = threading.RLock()
        self._depth = 0
        self.listeners: list = []  # callables(tables: set[str]) told after each write
        try:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=lock_wait)
        except sqlite3.Error as exc:
            raise WorkspaceError(_describe(self.path, exc)) from None
        try:
            self._prepare(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise WorkspaceError(_describe(self.path, exc)) from None
        except BaseException:
            conn.close()
            raise
        self.conn = conn
        try:
            self._migrate()
        except BaseException:
            conn.close()
            raise

    @functools.cached_property
    def db(self):
        """A sqlite_utils view of the connection, made on first use: sqlite_utils imports pandas
        whenever it is installed, which would add about a second to every command."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    # -- lifecycle -------------------------------------------------------

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Identify the file, then switch it to WAL: in that order, since the switch
        rewrites the header of whatever file it is."""
        deadline = time.monotonic() + self.lock_wait
        while True:
            try:
                self._identify(conn)
                conn.execute("PRAGMA foreign_keys = ON")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                return
            except sqlite3.OperationalError as exc:
                # While other processes switch a new file to WAL, SQLite answers
                # "locked" at once rather than waiting: try again shortly.
                if _code(exc) != _SQLITE_BUSY or time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)

    def _identify(self, conn: sqlite3.Connection) -> None:
        """Refuse a file that is neither new (no tables, version 0) nor a HealthQA workspace this version reads."""
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if not _has_tables(conn) and version == 0:
            return  # new (or empty): ours to create
        if not _is_workspace(conn):
            raise WorkspaceError(f"{self.path} is an SQLite file but not a HealthQA workspace "
                                 "(another application's database?); it was left as it was")
        if version > SCHEMA_VERSION:
            raise WorkspaceError(
                f"{self.path} was written by a newer HealthQA (workspace schema {version}); "
                f"this version reads schema {SCHEMA_VERSION} and older. Update HealthQA to open it."
            )

    def _migrate(self) -> None:
        version = self.schema_version
        if version == SCHEMA_VERSION:
            return
        if version > 0:
            self.backup(self.path.with_name(f"{self.path.name}.v{version}.bak"))
        with self.transaction():
            # Under the write lock, look again: another process (or thread)
            # may have created or migrated the file since we first looked.
            version = self.schema_version
            if version == 0 and _has_tables(self.conn):  # tables appeared, but not ours
                raise WorkspaceError(f"{self.path} is an SQLite file but not a HealthQA workspace")
            for step in range(version, SCHEMA_VERSION):
                apply_migration(self.conn, MIGRATIONS[step])
                self.conn.execute(f"PRAGMA user_version = {step + 1}")
            if version == 0:  # the marker `_is_workspace` looks for, written with the schema
                self.conn.execute("INSERT INTO meta VALUES ('workspace_id', ?)", (new_id(),))
                self.conn.execute("INSERT INTO meta VALUES ('created_at', ?)", (now(),))

    def backup(self, target: Path) -> Path:
        """A consistent copy of the workspace (SQLite's online backup)."""
        with self._lock:
            dest = sqlite3.connect(target)
            try:
                self.conn.backup(dest)
            finally:
                dest.close()
        return target

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def workspace_id(self) -> str:
        return self.meta("workspace_id")

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- transactions and queries ----------------------------------------

    @contextlib.contextmanager
    def transaction(self, changed: set[str] | None = None) -> Iterator[sqlite3.Connection]:
        """One write transaction; nested calls join the outer one.

        `changed` names the tables written, for the "what changed" notice
        sent to listeners once the outermost transaction commits.
        """
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._begin()
                self._changed: set[str] = set()
            self._depth += 1
            try:
                yield self.conn
                if changed:
                    self._changed |= changed
            except BaseException:
                self._depth -= 1
                if outer:
                    self.conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self.conn.execute("COMMIT")
                tables = self._changed
        if outer and tables:
            for listener in list(self.listeners):
                listener(tables)

    def _begin(self) -> None:
        """BEGIN IMMEDIATE: take the write lock, waiting (visibly) for another process that holds it."""
        notice = min(WAIT_NOTICE, self.lock_wait)
        try:
            self._busy_timeout(notice)
            if self._try_begin():
                return
            if self.lock_wait > notice:
                if self.on_wait is not None:
                    self.on_wait(f"waiting for another process that is writing to {self.path} "
                                 f"(up to {self.lock_wait:g} s)")
                self._busy_timeout(self.lock_wait - notice)
                if self._try_begin():
                    return
        finally:
            self._busy_timeout(self.lock_wait)
        raise WorkspaceError(
            f"{self.path} is busy: another process has been writing to it for more than {self.lock_wait:g} s "
            "(a long import, a bundle merge, another HealthQA?); nothing was written, try again when it has finished"
        )

    def _try_begin(self) -> bool:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            return True
        except sqlite3.OperationalError as exc:
            if _code(exc) != _SQLITE_BUSY:
                raise
            return False

    def _busy_timeout(self, seconds: float) -> None:
        self.conn.execute(f"PRAGMA busy_timeout = {max(0, int(seconds * 1000))}")

    def query(self, sql: str, params=()) -> list[dict]:
        with self._lock:
            cursor = self.conn.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    def query_one(self, sql: str, params=()) -> dict | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params=()):
        with self._lock:
            row = self.conn.execute(sql, params).fetchone()
        return row[0] if row else None


def _code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def _has_tables(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0] > 0


def _is_workspace(conn: sqlite3.Connection) -> bool:
    """Our marker: a `meta` table holding a workspace id (another program's `meta` table is not enough)."""
    try:
        return conn.execute("SELECT 1 FROM meta WHERE key = 'workspace_id'").fetchone() is not None
    except sqlite3.OperationalError:  # no such table, or a `meta` of another shape
        return False


def _check_access(path: Path, create: bool) -> None:
    """Say what is wrong with the path itself (missing, a folder, permissions) before SQLite
    does, since SQLite reports all of these as "unable to open database file"."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except NotADirectoryError:
        raise WorkspaceError(f"no workspace at {path}: part of that path is a file, not a folder") from None
    except PermissionError:
        raise WorkspaceError(f"cannot reach {path}: permission denied on one of its folders") from None
    except OSError as exc:
        raise WorkspaceError(f"cannot open {path} ({exc.strerror})") from None
    folder = path.parent
    if mode is None:
        if not create:
            raise WorkspaceError(f"no workspace at {path}")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except PermissionError:
            raise WorkspaceError(f"cannot create a workspace at {path}: permission denied creating its folder") from None
        except (FileExistsError, NotADirectoryError):
            raise WorkspaceError(f"cannot create a workspace at {path}: part of that path is a file, "
                                 "not a folder") from None
        except OSError as exc:
            raise WorkspaceError(f"cannot create a workspace at {path} ({exc.strerror})") from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise WorkspaceError(f"cannot create a workspace in {folder}: permission denied (the folder is not writable)")
        return
    if stat.S_ISDIR(mode):
        raise WorkspaceError(f"{path} is a folder, not a workspace file")
    if not stat.S_ISREG(mode):
        raise WorkspaceError(f"{path} is not a regular file, so not a HealthQA workspace")
    try:
        open(path, "rb").close()
    except PermissionError:
        raise WorkspaceError(f"cannot read {path}: permission denied (check the file's permissions)") from None
    try:
        open(path, "r+b").close()  # opened for writing, not written
    except PermissionError:
        raise WorkspaceError(f"{path} is read-only: HealthQA writes every change to its workspace at once; "
                             "make the file writable (or open a copy)") from None
    except OSError as exc:
        if exc.errno != errno.EROFS:
            raise WorkspaceError(f"cannot open {path} ({exc.strerror})") from None
        raise WorkspaceError(f"{path} is on a read-only file system: HealthQA writes every change to its "
                             "workspace at once; copy it somewhere writable") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise WorkspaceError(f"cannot open {path}: its folder {folder} is not writable, and SQLite keeps "
                             "its journal beside the file (permission denied)")


def _describe(path: Path, exc: sqlite3.Error) -> str:
    """One line for an SQLite failure while opening."""
    code = _code(exc)
    if code == _SQLITE_NOTADB:
        return f"{path} is not a HealthQA workspace ({exc})"
    if code == _SQLITE_BUSY:
        return f"{path} is locked by another process; try again when it has finished"
    if code == _SQLITE_READONLY:
        return f"{path} is read-only: make it writable (or open a copy)"
    if code == _SQLITE_CANTOPEN:
        return f"cannot open {path}: check that you may read and write it and its folder"
    return f"cannot open {path} ({exc})"


def open_workspace(path: str | Path, *, create: bool = True) -> Workspace:
    return Workspace(path, create=create)
