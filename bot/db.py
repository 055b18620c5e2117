"""The database handle: async SQLAlchemy over aiosqlite or asyncpg, so no query blocks the event loop.

SQLite gets WAL, a busy timeout and `BEGIN IMMEDIATE` for write transactions: two writers then queue
instead of failing half-way, which is what makes compare-and-set transitions safe there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from schedules.private_files import private_dir, private_file
from schedules.texthygiene import storable, storable_value, unstorable_in, unstorable_replaced

log = logging.getLogger(__name__)


class StorageUnavailable(Exception):
    """The database cannot store or read now (read-only or full disk, I/O error, server unreachable).

    `Database.transaction` and `Database.read` raise it in place of the driver's error (kept as the cause), so
    callers tell "try again later" from a bug by type, not by the wording of a driver's message.
    """


# SQLite primary result codes that mean the file cannot be used now (https://sqlite.org/rescode.html):
# READONLY, IOERR, CORRUPT, FULL, CANTOPEN, NOTADB.
_SQLITE_UNAVAILABLE = frozenset({8, 10, 11, 13, 14, 26})
# PostgreSQL SQLSTATE classes and codes of the same kind: connection exception (08), insufficient
# resources such as a full disk (53), operator intervention such as a shutdown (57P), system/I-O error (58),
# read-only transaction (25006), corrupted data (XX001, XX002).
_PG_UNAVAILABLE_CLASSES = ("08", "53", "57P", "58")
_PG_UNAVAILABLE_CODES = frozenset({"25006", "XX001", "XX002"})


def _unavailable(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        # SQLite rolls the whole transaction back itself on a full disk or an I/O error; releasing or
        # rolling back one of our savepoints then finds none. We never roll back past a savepoint
        # ourselves, so a missing one means the database gave up, whatever the error it was raised in.
        return code & 0xFF in _SQLITE_UNAVAILABLE or "no such savepoint" in str(exc)
    state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if isinstance(state, str):
        return state in _PG_UNAVAILABLE_CODES or state.startswith(_PG_UNAVAILABLE_CLASSES)
    return isinstance(exc, OSError)  # the server cannot be reached at all


def storage_failure(exc: BaseException) -> bool:
    """True when ``exc``, the driver error it wraps, or the error it was raised while handling, says the
    database cannot be used now. (SQLite rolls a whole transaction back on a full disk; a savepoint
    rolled back after that fails with "no such savepoint", raised while handling the real cause.)"""
    seen: set[int] = set()
    waiting: list[BaseException] = [exc]
    while waiting:
        current = waiting.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, StorageUnavailable) or _unavailable(current):
            return True
        orig = getattr(current, "orig", None)
        for linked in (orig, current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                waiting.append(linked)
    return False


Excluded = sa.ColumnCollection[str, sa.ColumnElement[Any]]


def _dialect_insert(conn: AsyncConnection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


def insert_or_ignore(
    conn: AsyncConnection, table: sa.Table, values: Any, *, key: Sequence[str] | None = None
) -> postgresql.Insert | sqlite.Insert:
    """INSERT that skips rows already there (same ``key`` columns, or any unique key when None).

    The statement's rowcount says how many rows went in, so a caller learns whether it was first.
    With ``values`` None the rows come as the execution's parameter list (many rows, one cached
    statement).
    """
    statement = _dialect_insert(conn, table)
    if values is not None:
        statement = statement.values(values)
    return statement.on_conflict_do_nothing(index_elements=key)


def upsert(
    conn: AsyncConnection,
    table: sa.Table,
    values: Any,
    *,
    key: Sequence[str],
    update: Callable[[Excluded], Mapping[str, Any]],
) -> postgresql.Insert | sqlite.Insert:
    """INSERT, or on a clash of ``key`` UPDATE with ``update(excluded)`` (the rejected row's columns)."""
    statement = _dialect_insert(conn, table).values(values)
    return statement.on_conflict_do_update(index_elements=key, set_=update(statement.excluded))


def greatest(conn: AsyncConnection, *values: Any) -> sa.ColumnElement[Any]:
    """The largest of ``values`` in SQL: GREATEST on PostgreSQL, the many-argument MAX on SQLite."""
    return sa.func.greatest(*values) if conn.dialect.name == "postgresql" else sa.func.max(*values)


RETURN_SECONDS = 5.0  # how long `dispose` waits for connections in use to come back
ENQUEUED = "deskmate.enqueued"  # set in a connection's info when a message to send was stored in it


def mark_enqueued(conn: AsyncConnection) -> None:
    """Called by the outbox when it stores a message: committing `conn` then wakes the senders."""
    conn.info[ENQUEUED] = True


@dataclass
class _Unit:
    """The open unit of work of one task (see `Database.unit`)."""

    conn: AsyncConnection
    task: asyncio.Task[Any] | None
    open: bool = True


_unit: ContextVar[_Unit | None] = ContextVar("deskmate_unit", default=None)


def _prepare_sqlite_file(url: str) -> None:
    """The database's folder (var/) and file exist owner-only before SQLite opens them; SQLite then
    creates -wal and -shm with the database file's mode."""
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        private_dir(Path(database).parent)
        private_file(database)
        for suffix in ("-wal", "-shm", "-journal"):
            if Path(database + suffix).exists():
                private_file(database + suffix)


def _storable_json(value: Any) -> str:
    return json.dumps(storable_value(value))


def _storable_parameters(
    _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _executemany: bool
) -> tuple[str, Any]:
    """Text that neither database can hold (NUL, lone surrogates) never reaches the driver: removed
    from what is written, and made unmatchable (U+FFFD) in what is only compared."""
    if not _needs_cleaning(parameters):
        return statement, parameters  # the usual case: nothing copied
    writing = statement.lstrip()[:6].upper() in ("INSERT", "UPDATE")
    return statement, _clean(parameters, writing)


def _needs_cleaning(value: Any) -> bool:
    if isinstance(value, str):
        return unstorable_in(value)
    if isinstance(value, tuple | list):
        return any(_needs_cleaning(v) for v in value)
    if isinstance(value, dict):
        return any(_needs_cleaning(v) for v in value.values())
    return False


def _clean(value: Any, writing: bool) -> Any:
    if isinstance(value, str):
        if not unstorable_in(value):
            return value
        return storable(value) if writing else unstorable_replaced(value)
    if isinstance(value, tuple):
        return tuple(_clean(v, writing) for v in value)
    if isinstance(value, list):
        return [_clean(v, writing) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v, writing) for k, v in value.items()}
    return value


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            _prepare_sqlite_file(url)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        kwargs["json_serializer"] = _storable_json
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        event.listen(self.engine.sync_engine, "before_cursor_execute", _storable_parameters, retval=True)
        # Called after a commit that stored outgoing messages (the outbox worker's wake-up).
        self.on_enqueued_commit: list[Callable[[], None]] = []
        # Connections our context managers hold now: `dispose` waits for them to come back to the pool.
        self.checked_out = 0
        self._returned: asyncio.Event | None = None  # set when one comes back, while `dispose` waits
        if self.is_sqlite:
            self._install_sqlite_hooks()

    def _install_sqlite_hooks(self) -> None:
        sync_engine = self.engine.sync_engine

        @event.listens_for(sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, decide where transactions begin.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(sync_engine, "begin")
        def _on_begin(connection: Any) -> None:
            mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
            connection.exec_driver_sql(f"BEGIN {mode}")

    def _joined(self) -> AsyncConnection | None:
        """The unit of work this task has open, if any: its transactions and reads join it."""
        unit = _unit.get()
        if unit is None or not unit.open or unit.task is not asyncio.current_task():
            return None  # none, or one inherited by a task started inside it (it must not share it)
        return unit.conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: committed on exit, rolled back on error. Inside a unit of work it is a
        savepoint of the unit's transaction (rolled back alone, committed with the unit)."""
        joined = self._joined()
        try:
            if joined is not None:
                async with joined.begin_nested():
                    yield joined
                return
            async with self._committing() as conn:
                yield conn
        except BaseException as exc:
            if storage_failure(exc) and not isinstance(exc, StorageUnavailable):
                raise StorageUnavailable(str(exc)) from exc
            raise

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction for everything this task does until it ends: the inbox handles an
        update and marks it done in it, so a crash keeps all of it or none. Code that opens its own
        `transaction()` or `read()` meanwhile gets this connection (a savepoint for a transaction)."""
        try:
            async with self._committing() as conn:
                unit = _Unit(conn, asyncio.current_task())
                token = _unit.set(unit)
                try:
                    yield conn
                finally:
                    unit.open = False
                    _unit.reset(token)
        except BaseException as exc:
            if storage_failure(exc) and not isinstance(exc, StorageUnavailable):
                raise StorageUnavailable(str(exc)) from exc
            raise

    @asynccontextmanager
    async def _committing(self) -> AsyncIterator[AsyncConnection]:
        """Begin, yield, commit; after a commit that stored messages to send, wake the senders."""
        self.checked_out += 1
        try:
            async with self._writing(), self.engine.begin() as conn:
                conn.info.pop(ENQUEUED, None)
                try:
                    yield conn
                except BaseException:
                    conn.info.pop(ENQUEUED, None)
                    raise
                enqueued = conn.info.pop(ENQUEUED, False)
        finally:
            self._checked_in()
        if enqueued:
            for wake in self.on_enqueued_commit:
                wake()

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        """SQLite has one writer: queue here rather than on its busy timeout."""
        if self._write_lock is None:
            yield
            return
        async with self._write_lock:
            yield

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only snapshot that never takes SQLite's write lock (inside a unit of work: the unit's
        connection, which sees what the unit wrote)."""
        joined = self._joined()
        if joined is not None:
            yield joined
            return
        self.checked_out += 1
        try:
            async with self.engine.connect() as conn:
                if self.is_sqlite:
                    conn = await conn.execution_options(sqlite_begin="DEFERRED")
                async with conn.begin():
                    yield conn
        except Exception as exc:
            if storage_failure(exc):
                raise StorageUnavailable(str(exc)) from exc
            raise
        finally:
            self._checked_in()

    def _checked_in(self) -> None:
        self.checked_out -= 1
        if self._returned is not None:
            self._returned.set()

    async def dispose(self, *, wait_seconds: float = RETURN_SECONDS) -> None:
        """Close the pool once every connection in use has come back to it (at most `wait_seconds`).

        Disposing while a task still holds one leaves that connection open: its rollback on return
        then runs after the pool is gone (a traceback at exit), and on SQLite its driver thread may
        never stop. Stopping the workers first and waiting here keeps both from happening."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while self.checked_out > 0 and loop.time() < deadline:
            self._returned = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._returned.wait(), deadline - loop.time())
        self._returned = None
        if self.checked_out > 0:
            log.warning("closing the database with %s connection(s) still in use", self.checked_out)
        await self.engine.dispose()
