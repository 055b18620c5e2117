"""Shared fixtures: a guard against any non-loopback connection, a fake clock and a fresh app."""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from bot.clock import FakeClock
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
_template: dict[str, str] = {}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    path = str(metafunc.definition.path.relative_to(REPO))
    if "backend" in metafunc.fixturenames and path.startswith(BOTH_BACKENDS):
        metafunc.parametrize("backend", ["sqlite", "postgresql"])


@pytest.fixture
def backend() -> str:
    return "sqlite"


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _pg_admin() -> Any:
    import asyncpg

    try:
        return await asyncpg.connect(_asyncpg_dsn(PG_SERVER), timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("DESKMATE_REQUIRE_PG"):
            raise AssertionError(f"PostgreSQL at {PG_SERVER} is required but unreachable: {exc}") from exc
        pytest.skip(f"PostgreSQL not reachable at {PG_SERVER} (set DESKMATE_REQUIRE_PG=1 to fail instead)")


async def _pg_template() -> str:
    """A migrated database to copy for each test: much faster than migrating every time."""
    if "name" in _template:
        return _template["name"]
    from bot import migrate
    from bot.db import Database

    name = f"deskmate_tpl_{os.getpid()}"
    admin = await _pg_admin()
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    db = Database(PG_SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}")
    try:
        await migrate.upgrade(db)
    finally:
        await db.dispose()
    _template["name"] = name
    return name


@pytest.fixture
async def database_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    template = await _pg_template()
    name = f"deskmate_t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = await _pg_admin()
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await admin.close()
    yield PG_SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    admin = await _pg_admin()
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


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


@pytest.fixture
async def app(settings: Settings, clock: FakeClock) -> AsyncIterator[App]:
    application = App(settings, clock=clock)
    await application.prepare()
    yield application
    await application.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that selects no test is a mistake in its command, never a pass: fail it (exit 1, not 5)."""
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("no test was selected: check the paths and the -m/-k expression", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
