"""Storage: migrations produce the schema exactly, SQLite runs in WAL, audit rows are written."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot import audit, migrate
from bot.app import App
from bot.db import Database
from bot.schema import metadata


async def test_migrations_match_the_schema(app: App) -> None:
    def diff(connection: sa.Connection) -> list[object]:
        context = MigrationContext.configure(connection)
        return list(compare_metadata(context, metadata))

    async with app.db.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_upgrade_is_idempotent_and_at_head(app: App) -> None:
    assert await migrate.upgrade(app.db) == migrate.head_revision()


async def test_sqlite_uses_wal(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}")
    try:
        await migrate.upgrade(db)
        async with db.read() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
    finally:
        await db.dispose()
    assert mode == "wal"


async def test_audit_rows_commit_and_roll_back_with_the_change(app: App) -> None:
    now = app.clock.now()
    async with app.db.transaction() as conn:
        await audit.record(
            conn, at=now, actor="a", action="x.done", object_type="x", object_id="1", after={"v": 1}
        )
    try:
        async with app.db.transaction() as conn:
            await audit.record(conn, at=now, actor="a", action="x.failed", object_type="x", object_id="1")
            raise RuntimeError("the change failed")
    except RuntimeError:
        pass
    async with app.db.read() as conn:
        rows = await audit.rows_for(conn, "x", "1")
    assert [r["action"] for r in rows] == ["x.done"]
    assert rows[0]["at"] == now and rows[0]["after"] == {"v": 1}


async def test_a_unit_of_work_takes_in_the_transactions_and_reads_inside_it(app: App) -> None:
    now = app.clock.now()
    with pytest.raises(RuntimeError):
        async with app.db.unit():
            async with app.db.transaction() as conn:
                await audit.record(conn, at=now, actor="a", action="x.kept", object_type="x", object_id="1")
            try:
                async with app.db.transaction() as conn:
                    await audit.record(
                        conn, at=now, actor="a", action="x.undone", object_type="x", object_id="1"
                    )
                    raise ValueError("one step failed")
            except ValueError:
                pass
            async with app.db.read() as conn:  # sees what the unit wrote, not what its savepoint undid
                assert [r["action"] for r in await audit.rows_for(conn, "x", "1")] == ["x.kept"]
            raise RuntimeError("the unit fails after all")
    async with app.db.read() as conn:
        assert await audit.rows_for(conn, "x", "1") == []  # nothing of a failed unit is kept
    async with app.db.unit(), app.db.transaction() as conn:
        await audit.record(conn, at=now, actor="a", action="x.kept", object_type="x", object_id="1")
    async with app.db.read() as conn:
        assert [r["action"] for r in await audit.rows_for(conn, "x", "1")] == ["x.kept"]
