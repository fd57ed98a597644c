"""The workspace: one SQLite file holding questions, answers and grades.

One connection writes (WAL lets readers in other threads go on meanwhile);
a lock serialises the threads that share it. Every public write is one
transaction, so a crash leaves either all of it or none.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import sqlite3
import threading
from pathlib import Path
from typing import Iterator

from ..domain import new_id
from ..errors import HealthQAError
from .schema import MIGRATIONS, SCHEMA_VERSION


class WorkspaceError(HealthQAError):
    """A workspace that cannot be opened or used; the message says why."""


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


class Workspace:
    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path)
        if self.path.is_dir():
            raise WorkspaceError(f"{self.path} is a folder, not a workspace file")
        if not self.path.exists() and not create:
            raise WorkspaceError(f"no workspace at {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._depth = 0
        self.listeners: list = []  # callables(tables: set[str]) told after each write
        try:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            conn.execute("PRAGMA user_version").fetchone()
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(f"{self.path} is not a HealthQA workspace ({exc})") from None
        self.conn = conn
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        self._migrate()

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

    def _migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            self.conn.close()
            raise WorkspaceError(
                f"{self.path} was written by a newer HealthQA (workspace schema {version}); "
                f"this version reads schema {SCHEMA_VERSION} and older. Update HealthQA to open it."
            )
        if version == SCHEMA_VERSION:
            return
        if version > 0:
            self.backup(self.path.with_name(f"{self.path.name}.v{version}.bak"))
        elif self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            self.conn.close()
            raise WorkspaceError(f"{self.path} is an SQLite file but not a HealthQA workspace")
        for step in range(version, SCHEMA_VERSION):
            with self.transaction():
                for statement in _split_sql(MIGRATIONS[step]):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {step + 1}")
        if version == 0:
            with self.transaction():
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
                self.conn.execute("BEGIN IMMEDIATE")
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


def _split_sql(script: str) -> list[str]:
    """Statements of a migration, so they run inside our transaction
    (sqlite3's executescript would commit first)."""
    statements, buf = [], []
    for line in script.splitlines():
        buf.append(line)
        candidate = "\n".join(buf)
        if sqlite3.complete_statement(candidate):
            statements.append(candidate.strip())
            buf = []
    return [s for s in statements if s]


def open_workspace(path: str | Path, *, create: bool = True) -> Workspace:
    return Workspace(path, create=create)
