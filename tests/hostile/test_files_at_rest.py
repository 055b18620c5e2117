"""Files at rest are owner-only under the usual umask 022: var/, the database and its -wal/-shm, and
reports written to a path."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot import migrate
from bot.db import Database
from schedules.policy import default_policy
from schedules.report import SummaryRow, write_csv, write_png, write_xlsx
from schedules.roster.export import write_roster_csv


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_022")
async def test_database_files_and_var_are_owner_only(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    db_path = tmp_path / "var" / "deskmate.db"
    db = Database(f"sqlite+aiosqlite:///{db_path}")
    try:
        await migrate.upgrade(db)
        async with db.transaction() as conn:
            await conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        async with db.read() as conn:
            await conn.execute(sa.text("SELECT count(*) FROM t"))
        found = {p.name: mode(p) for p in (tmp_path / "var").iterdir()}
        assert {"deskmate.db", "deskmate.db-wal", "deskmate.db-shm"} <= set(found)
        assert set(found.values()) == {0o600}, found
        assert mode(tmp_path / "var") == 0o700
        assert mode(tmp_path) == 0o755  # folders that already existed are not changed
    finally:
        await db.dispose()


@pytest.mark.usefixtures("umask_022")
async def test_an_old_world_readable_database_is_narrowed(tmp_path: Path) -> None:
    db_path = tmp_path / "old.db"
    db_path.touch(mode=0o644)
    os.chmod(db_path, 0o644)
    db = Database(f"sqlite+aiosqlite:///{db_path}")
    await db.dispose()
    assert mode(db_path) == 0o600


@pytest.mark.usefixtures("umask_022")
def test_reports_written_to_a_path_are_owner_only(tmp_path: Path) -> None:
    row = SummaryRow("p", "王芳", "t", 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, False, True)
    write_csv([row], tmp_path / "r.csv")
    write_xlsx([row], tmp_path / "r.xlsx")
    write_png([row], tmp_path / "r.png")
    write_roster_csv([], tmp_path / "roster.csv", default_policy())
    for name in ("r.csv", "r.xlsx", "r.png", "roster.csv"):
        assert mode(tmp_path / name) == 0o600, name
    buffer = io.BytesIO()
    write_xlsx([row], buffer)  # a stream stays a stream
    assert buffer.getvalue()[:2] == b"PK"
