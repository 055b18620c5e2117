"""Shared fixtures: a guard against any non-loopback connection, a fake clock and a fresh app."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot import migrate
from bot.app import App
from bot.clock import FakeClock
from bot.db import Database
from bot.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _is_loopback(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any test that tries to reach beyond 127.0.0.0/8 or ::1."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise AssertionError(f"test tried to connect to {address!r}: tests stay on loopback")
        return real_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise AssertionError(f"test tried to connect to {address!r}: tests stay on loopback")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    yield


def local(text: str, tz: ZoneInfo = SHANGHAI) -> datetime:
    """'2026-12-01 08:45' in the department's zone, as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=tz)


# Tests under these paths run on SQLite and on PostgreSQL (the local server; see README "Tests").
BOTH_BACKENDS = (
    "tests/requests/",
    "tests/attendance/",
    "tests/test_storage.py",
    "tests/test_outbox.py",
    "tests/test_leavers.py",
    "tests/test_identities.py",
)
PG_SERVER = os.environ.get("DESKMATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    path = str(metafunc.definition.path.relative_to(REPO))
    if "backend" in metafunc.fixturenames and path.startswith(BOTH_BACKENDS):
        metafunc.parametrize("backend", ["sqlite", "postgresql"])


@pytest.fixture
def backend() -> str:
    return "sqlite"


def _sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _copy_private(source: Path, target: Path, *, replace: bool = False) -> None:
    """A copy of a database file, owner-only as the bot makes its own (0600)."""
    if replace:
        target.unlink()
    with (
        source.open("rb") as src,
        os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as dst,
    ):
        shutil.copyfileobj(src, dst)


async def _sqlite_template(
    factory: pytest.TempPathFactory, key: tuple[Any, ...], build: Callable[[Path], Awaitable[None]]
) -> Path:
    """A database file built once per session and `key`, for tests to copy (a copy takes a millisecond,
    migrating takes 0.2 s and importing the org 0.1 s). It must be whole in its main file: a -wal left
    beside it would be lost in the copy."""
    found = _sqlite_templates.get(key)
    if found is not None:
        return found
    path = factory.mktemp("sqlite-template") / "template.db"
    await build(path)
    leftovers = [p.name for p in path.parent.iterdir() if p != path]
    assert not leftovers, f"the template database {path} was not checkpointed into one file: {leftovers}"
    _sqlite_templates[key] = path
    return path


_sqlite_templates: dict[tuple[Any, ...], Path] = {}


async def _migrated_sqlite(factory: pytest.TempPathFactory) -> Path:
    async def build(path: Path) -> None:
        db = Database(_sqlite_url(path))
        try:
            await migrate.upgrade(db)
        finally:
            await db.dispose()

    return await _sqlite_template(factory, ("migrated",), build)


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _pg_url(name: str) -> str:
    return PG_SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"


async def _pg_connect(name: str | None = None) -> Any:
    import asyncpg

    dsn = _asyncpg_dsn(PG_SERVER if name is None else _pg_url(name))
    try:
        return await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("DESKMATE_REQUIRE_PG"):
            raise AssertionError(f"PostgreSQL at {PG_SERVER} is required but unreachable: {exc}") from exc
        pytest.skip(f"PostgreSQL not reachable at {PG_SERVER} (set DESKMATE_REQUIRE_PG=1 to fail instead)")


# The schema as PostgreSQL holds it (tables, columns, defaults, constraints, indexes, sequences, views,
# functions, triggers, the migration revision): a test that changed it leaves the database to be replaced.
_PG_SCHEMA = """
SELECT md5(coalesce(string_agg(item, ' | ' ORDER BY item), '')) FROM (
  SELECT 'class ' || c.relname || ' ' || c.relkind::text AS item
    FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'column ' || c.relname || '.' || a.attname || ' ' || a.attnum || ' '
         || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull || ' '
         || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
  UNION ALL
  SELECT 'function ' || p.oid::regprocedure FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'trigger ' || tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
   WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal
  UNION ALL
  SELECT 'schema ' || nspname FROM pg_namespace
   WHERE nspname NOT LIKE 'pg\\_%' AND nspname NOT LIKE 'deskmate\\_seed\\_%'
     AND nspname <> 'information_schema'
) AS schema_items
"""


class _PgDatabases:
    """PostgreSQL databases for the tests of one process. A migrated template is made once; every test
    then gets the same working database back as the template left it: each table emptied, each sequence
    where the template has it, no other session connected. Emptying takes milliseconds where creating a
    database from the template and dropping it took about a second (each forces a checkpoint). A test that
    changed the schema (the migration tests downgrade and upgrade again) is caught by comparing the schema
    with the template's, and the working database is then created afresh from the template."""

    def __init__(self) -> None:
        self.template = f"deskmate_tpl_{os.getpid()}"
        self.working = f"deskmate_t_{os.getpid()}"
        self.ready = False
        self.schema = ""
        self.tables: list[str] = []
        self.sequences: list[tuple[str, int, bool]] = []
        self.seeds: dict[tuple[Any, ...], str] = {}
        self.seed_contents: dict[str, tuple[list[str], list[tuple[str, int, bool]]]] = {}

    @staticmethod
    async def _sequences(conn: Any) -> list[tuple[str, int, bool]]:
        """Each sequence of `public` with its value, as setval takes them back."""
        rows = await conn.fetch(
            "SELECT sequencename, start_value, last_value FROM pg_sequences WHERE schemaname = 'public'"
        )
        return [
            (
                f'"{row["sequencename"]}"',
                row["last_value"] or row["start_value"],
                row["last_value"] is not None,
            )
            for row in rows
        ]

    async def _recreate(self, admin: Any, name: str, template: str | None = None) -> None:
        if name == self.working:
            self.seeds.clear()  # they were kept in the database dropped here
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))

    async def _prepare(self) -> None:
        admin = await _pg_connect()
        try:
            await self._recreate(admin, self.template)
        finally:
            await admin.close()
        db = Database(_pg_url(self.template))
        try:
            await migrate.upgrade(db)
        finally:
            await db.dispose()
        conn = await _pg_connect(self.template)
        try:
            self.schema = await conn.fetchval(_PG_SCHEMA)
            self.tables = [
                row["tablename"]
                for row in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                if row["tablename"] != "alembic_version"
            ]
            for table in self.tables:
                count = await conn.fetchval(f'SELECT count(*) FROM "{table}"')
                # Emptying restores the template only while its tables are empty (no migration seeds rows).
                assert count == 0, (
                    f"the migrated template has {count} rows in {table}: emptying would lose them"
                )
            self.sequences = await self._sequences(conn)
        finally:
            await conn.close()
        admin = await _pg_connect()
        try:
            await self._recreate(admin, self.working, self.template)
        finally:
            await admin.close()
        self.ready = True

    async def fresh(self) -> str:
        """The working database, as the migrated template is; its URL."""
        if not self.ready:
            await self._prepare()
        admin = await _pg_connect()
        try:
            # As DROP DATABASE … WITH (FORCE) did: a session a test left open does not outlive it.
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                self.working,
            )
            conn = await _pg_connect(self.working)
            try:
                same = await conn.fetchval(_PG_SCHEMA) == self.schema
                if same:
                    async with conn.transaction():
                        await conn.execute("SET LOCAL session_replication_role = replica")  # no FK order
                        for table in self.tables:
                            await conn.execute(f'DELETE FROM "{table}"')
                        for sequence, value, called in self.sequences:
                            await conn.execute(f"SELECT setval('{sequence}', {value}, {called})")
            finally:
                await conn.close()
            if not same:
                await self._recreate(admin, self.working, self.template)
        finally:
            await admin.close()
        return _pg_url(self.working)

    async def seeded(self, key: tuple[Any, ...], build: Callable[[str], Awaitable[None]]) -> None:
        """Fill the working database, just emptied by `fresh`, with the rows `build` writes into an empty
        one (the org import): written once per `key` and kept in a schema of its own beside `public`, then
        copied back by INSERT … SELECT for each later test, with the sequences where `build` left them."""
        name = self.seeds.get(key)
        conn = await _pg_connect(self.working)
        try:
            if name is None:
                await build(_pg_url(self.working))
                name = f"deskmate_seed_{len(self.seeds)}"
                tables = []
                async with conn.transaction():
                    await conn.execute(f'CREATE SCHEMA "{name}"')
                    for table in self.tables:
                        if await conn.fetchval(f'SELECT EXISTS (SELECT 1 FROM "{table}")'):
                            await conn.execute(f'CREATE TABLE "{name}"."{table}" AS SELECT * FROM "{table}"')
                            tables.append(table)
                sequences = await self._sequences(conn)
                self.seeds[key] = name
                self.seed_contents[name] = (tables, sequences)
                return
            tables, sequences = self.seed_contents[name]
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")
                for table in tables:
                    await conn.execute(
                        f'INSERT INTO "{table}" OVERRIDING SYSTEM VALUE SELECT * FROM "{name}"."{table}"'
                    )
                for sequence, value, called in sequences:
                    await conn.execute(f"SELECT setval('{sequence}', {value}, {called})")
        finally:
            await conn.close()

    async def drop(self) -> None:
        if not self.ready:
            return
        admin = await _pg_connect()
        try:
            for name in (self.working, self.template):
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


_pg_databases = _PgDatabases()


@pytest.fixture
async def database_url(backend: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database of this test's own: on SQLite a copy of a migrated file, on PostgreSQL the
    process's working database emptied back to the migrated template."""
    if backend == "sqlite":
        path = tmp_path / "test.db"
        _copy_private(await _migrated_sqlite(tmp_path_factory), path)
        return _sqlite_url(path)
    return await _pg_databases.fresh()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        org_file=REPO / "examples" / "org.yaml",
        policy_file=REPO / "examples" / "policy.yaml",
        kb_cache_dir=tmp_path / "cache",
        kb_semantic=False,
        roster_file=None,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(local("2026-12-01 08:00"))


def _org_key(settings: Settings, clock: FakeClock) -> tuple[Any, ...]:
    """What the org import writes depends on: the org file, the zone and the clock (audit rows carry it)."""
    org_file = settings.org_file
    stamp = None
    if org_file is not None and org_file.exists():
        stamp = (org_file, org_file.stat().st_mtime_ns, org_file.stat().st_size)
    return ("org", stamp, str(settings.tz), clock.now())


async def _seed(settings: Settings, clock: FakeClock, url: str) -> None:
    """An empty migrated database at `url` as `App.prepare` leaves it at a first start: the org imported
    (no roster file: that one is the test's own `prepare`'s to load)."""
    seeding = App(
        settings.model_copy(update={"database_url": url, "roster_file": None}), clock=FakeClock(clock.now())
    )
    try:
        await seeding.prepare()
    finally:
        await seeding.close()


async def _org_imported_sqlite(factory: pytest.TempPathFactory, settings: Settings, clock: FakeClock) -> Path:
    migrated = await _migrated_sqlite(factory)

    async def build(path: Path) -> None:
        _copy_private(migrated, path)
        await _seed(settings, clock, _sqlite_url(path))

    return await _sqlite_template(factory, _org_key(settings, clock), build)


@pytest.fixture
async def app(
    settings: Settings, clock: FakeClock, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[App]:
    if settings.database_url == database_url:
        # This test's fresh database gets the org already imported (a copied file on SQLite, rows copied
        # back on PostgreSQL), as made once by `App.prepare` itself; `prepare` below then finds the schema
        # at head and the org there, and runs everything else it runs at every start.
        if database_url.startswith("sqlite"):
            path = Path(database_url.removeprefix("sqlite+aiosqlite:///"))
            _copy_private(await _org_imported_sqlite(tmp_path_factory, settings, clock), path, replace=True)
        else:
            await _pg_databases.seeded(_org_key(settings, clock), lambda url: _seed(settings, clock, url))
    application = App(settings, clock=clock)
    await application.prepare()
    yield application
    await application.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The PostgreSQL databases of this process are dropped (the database server outlives the run)."""
    asyncio.run(_pg_databases.drop())
    _sessionfinish_no_tests(session, exitstatus)


def _sessionfinish_no_tests(session: pytest.Session, exitstatus: int) -> None:
    """A run that selects no test is a mistake in its command, never a pass: fail it (exit 1, not 5)."""
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("no test was selected: check the paths and the -m/-k expression", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
