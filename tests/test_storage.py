"""Storage: migrations produce the schema exactly, SQLite runs in WAL, audit rows are written."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot import audit, migrate
from bot.app import AlreadyHandled, App
from bot.db import Database, first_write
from bot.schema import metadata, processed_updates


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


async def _recorded(app: App) -> list[str]:
    async with app.db.read() as conn:
        return list((await conn.execute(sa.select(processed_updates.c.update_id))).scalars())


async def test_an_update_id_commits_with_the_first_effect_and_only_with_it(app: App) -> None:
    now = app.clock.now()
    with first_write(app.update_recorder("telegram", "77")) as recorded:
        try:
            async with app.db.transaction() as conn:
                await audit.record(conn, at=now, actor="a", action="x.failed", object_type="x", object_id="1")
                raise RuntimeError("the handler failed")
        except RuntimeError:
            pass
        # The failed transaction took the update id with it: a crash here would leave it unrecorded,
        # so Telegram's redelivery would be handled, not dropped.
        assert not recorded.done and isinstance(recorded.failed, RuntimeError)
        assert await _recorded(app) == []
        async with app.db.transaction() as conn:  # the apology
            await audit.record(conn, at=now, actor="a", action="x.apology", object_type="x", object_id="1")
        async with app.db.transaction() as conn:  # a later write of the same update: not recorded again
            await audit.record(conn, at=now, actor="a", action="x.more", object_type="x", object_id="1")
    assert recorded.done and await _recorded(app) == ["77"]

    with first_write(app.update_recorder("telegram", "77")) as again, pytest.raises(AlreadyHandled):
        async with app.db.transaction() as conn:
            await audit.record(conn, at=now, actor="a", action="x.twice", object_type="x", object_id="1")
    assert isinstance(again.failed, AlreadyHandled)
    async with app.db.read() as conn:
        actions = [r["action"] for r in await audit.rows_for(conn, "x", "1")]
    assert actions == ["x.apology", "x.more"]  # the redelivery stored nothing
    async with app.db.transaction() as conn:  # outside first_write nothing is recorded
        await audit.record(conn, at=now, actor="a", action="x.plain", object_type="x", object_id="2")
    assert await _recorded(app) == ["77"]
