"""The database engines: the few places where SQLite and PostgreSQL differ.

Every repository writes its SQL once, with `?` placeholders and the SQL both
engines accept (`ON CONFLICT ... DO UPDATE`, `RETURNING`, partial indexes);
an `Engine` supplies what differs: how to connect, how a transaction starts
and commits, a named lock, `FOR UPDATE`, `GREATEST` or `MAX`, the spelling of
an auto-increment key, and which errors are worth retrying.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class StoreError(RuntimeError):
    pass


class Cur:
    """A thin cursor wrapper: dict rows, `?` placeholders."""

    def __init__(self, raw: Any, pg: bool) -> None:
        self.raw = raw
        self.pg = pg

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.pg else sql

    def x(self, sql: str, params: Sequence[Any] = ()) -> int:
        self.raw.execute(self._sql(sql), tuple(params))
        return self.raw.rowcount

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.raw.executemany(self._sql(sql), [tuple(r) for r in rows])

    def q(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.raw.execute(self._sql(sql), tuple(params))
        if self.pg:
            return list(self.raw.fetchall())
        cols = [d[0] for d in self.raw.description] if self.raw.description else []
        return [dict(zip(cols, r)) for r in self.raw.fetchall()]

    def tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows as tuples in the SELECT's (or RETURNING's) column order: for many rows read by position, no dict each."""
        self.raw.execute(self._sql(sql), tuple(params))
        if self.pg:
            return [tuple(r.values()) for r in self.raw.fetchall()]
        return self.raw.fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.q(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.one(sql, params)
        return None if row is None else next(iter(row.values()))


def rows_of(n: int, width: int) -> str:
    """`(?,?),(?,?)...`: the VALUES of a multi-row insert."""
    row = "(" + ",".join("?" * width) + ")"
    return ",".join([row] * n)


def marks(n: int) -> str:
    """`?,?,?`: the placeholders of an `IN (...)` list."""
    return ",".join("?" * n)


class Engine:
    """One database: transactions on a per-thread connection. Subclasses: `SqliteEngine`, `PostgresEngine`."""

    pg = False
    pk_auto = ""
    greatest = "MAX"

    def __init__(self) -> None:
        self._local = threading.local()

    def tx(self, write: bool = True, fast: bool = False) -> AbstractContextManager[Cur]:
        """A transaction; `fast`: derived data that may be rebuilt, committed without waiting for the disk (PostgreSQL)."""
        raise NotImplementedError

    def lock(self, cur: Cur, name: str) -> None:
        """Serialise writers of one thing (audit chain, migrations) across workers, until the transaction ends."""

    def for_update(self) -> str:
        """What to append to a SELECT that locks the rows it reads (nothing where a write transaction locks everything)."""
        return ""

    def retryable(self, exc: Exception) -> bool:
        """Whether `exc` is the engine refusing a transaction that may simply be run again (deadlock, serialisation)."""
        return False

    def unavailable(self, exc: BaseException) -> bool:
        """Whether `exc` is the database being away or busy (locked, connection lost, server down), not a fault of
        what was written: ingest waits and retries such an error and never moves the message aside for it."""
        return False

    def retrying(self, fn: Callable[[Cur], T], *, fast: bool = False) -> T:
        """Run `fn` in a write transaction, again (a few times) when the engine refuses it for a conflict with another worker."""
        for attempt in range(5):
            try:
                with self.tx(fast=fast) as cur:
                    return fn(cur)
            except Exception as exc:
                if not self.retryable(exc) or attempt == 4:
                    raise
                time.sleep(0.01 * (attempt + 1) * random.random())
        raise StoreError("unreachable")

    def close(self) -> None:
        raise NotImplementedError


def _enter_wal(conn: sqlite3.Connection, patience_s: float = 30.0) -> None:
    """Switch a new database file to WAL, waiting for another process doing the same.

    Changing the journal mode needs an exclusive lock and SQLite answers "database is locked" at
    once (without the busy handler) while a second worker process creates the same file.
    """
    deadline = time.monotonic() + patience_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05 + 0.05 * random.random())


class SqliteEngine(Engine):
    """The embedded default: one file, WAL, one writer at a time (BEGIN IMMEDIATE)."""

    pk_auto = "INTEGER PRIMARY KEY AUTOINCREMENT"
    greatest = "MAX"

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._ckpt_thread: threading.Thread | None = None
        self._ckpt_stop = threading.Event()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
            _enter_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA foreign_keys=ON")
            if self.path != ":memory:":
                # checkpoints run in the background (see _checkpointer), never inside an ingest commit
                conn.execute("PRAGMA wal_autocheckpoint=0")
                self._start_checkpointer()
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _start_checkpointer(self) -> None:
        with self._all_lock:
            if self._ckpt_thread is not None:
                return
            self._ckpt_stop = threading.Event()
            self._ckpt_thread = threading.Thread(target=self._checkpointer, name="sqlite-checkpoint", daemon=True)
            self._ckpt_thread.start()

    def _checkpointer(self) -> None:
        """Copy the WAL into the database once a second (PASSIVE: never blocks the writers), so commits stay fast."""
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
        try:
            while not self._ckpt_stop.wait(1.0):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:
                    pass
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass
        finally:
            conn.close()

    @contextmanager
    def tx(self, write: bool = True, fast: bool = False) -> Iterator[Cur]:
        conn = self._conn()
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield Cur(cur, False)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            cur.close()

    def unavailable(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError)  # locked, busy, disk I/O: the file, not the message

    def close(self) -> None:
        self._ckpt_stop.set()
        if self._ckpt_thread is not None:
            self._ckpt_thread.join(5)
            self._ckpt_thread = None
        with self._all_lock:
            for c in self._all:
                try:
                    c.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()


class PostgresEngine(Engine):
    """Several workers on one or more machines: row locks, advisory locks, retry on deadlock."""

    pg = True
    pk_auto = "BIGSERIAL PRIMARY KEY"
    greatest = "GREATEST"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self._all: list[Any] = []
        self._all_lock = threading.Lock()

    def _conn(self) -> Any:
        import psycopg
        from psycopg.rows import dict_row

        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = psycopg.connect(self.url, row_factory=dict_row, autocommit=False)
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def tx(self, write: bool = True, fast: bool = False) -> Iterator[Cur]:
        conn = self._conn()
        with conn.transaction():
            with conn.cursor() as cur:
                if fast:
                    cur.execute("SET LOCAL synchronous_commit = off")
                yield Cur(cur, True)

    def lock(self, cur: Cur, name: str) -> None:
        cur.x("SELECT pg_advisory_xact_lock(hashtext(?))", (f"passlane:{name}",))

    def for_update(self) -> str:
        return " FOR UPDATE"

    def retryable(self, exc: Exception) -> bool:
        import psycopg.errors as e

        return isinstance(exc, (e.DeadlockDetected, e.SerializationFailure, e.UniqueViolation))

    def unavailable(self, exc: BaseException) -> bool:
        import psycopg

        return isinstance(
            exc, (psycopg.OperationalError, psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
        )

    def close(self) -> None:
        with self._all_lock:
            for c in self._all:
                try:
                    c.close()
                except Exception:  # noqa: BLE001
                    pass
            self._all.clear()
        self._local = threading.local()


def open_engine(url: str) -> Engine:
    """`postgresql://...` opens PostgreSQL; anything else (or `sqlite:///path`) is a SQLite file path."""
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresEngine(url)
    if url.startswith("sqlite:///"):
        url = url[len("sqlite:///") :]
    return SqliteEngine(url)
