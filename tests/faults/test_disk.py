"""A read-only or full disk: the bot says it cannot record now and never claims success."""

from __future__ import annotations

import asyncio
import os
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from bot.app import App
from bot.clock import FakeClock
from bot.db import Database, StorageUnavailable
from bot.schema import punches
from tests.conftest import local
from tests.helpers import Chat, roster


async def _clock_in_refused(app: App, clock: FakeClock) -> list[dict[str, Any]]:
    clock.set(local("2026-12-01 08:55"))
    chat = Chat(app, clock)
    return await chat.say("wangfang", "打卡")


async def test_read_only_database(app: App, clock: FakeClock, tmp_path: object) -> None:
    await roster(app, {"wangfang": "D"})
    path = app.db.engine.url.database
    await app.db.dispose()
    app.db = Database(f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true")
    sent = await _clock_in_refused(app, clock)
    assert len(sent) == 1
    assert sent[0]["text"].startswith("抱歉，现在无法记录，请稍后再试（错误码 E")
    assert "这次操作没有生效" in sent[0]["text"]
    async with app.db.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(punches))).scalar() == 0


async def test_full_disk(app: App, clock: FakeClock) -> None:
    await roster(app, {"wangfang": "D"}, start=date(2026, 12, 1))
    await app.db.dispose()  # checkpoints the WAL, so the file holds every page
    pages = await asyncio.to_thread(os.path.getsize, str(app.db.engine.url.database)) // 4096

    @event.listens_for(app.db.engine.sync_engine, "connect")
    def _no_room_to_grow(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA max_page_count = {pages + 2}")
        cursor.close()

    # Use up the last free space, as a full disk would.
    from bot.schema import audit_log

    filler = {"at": clock.now(), "actor": "test", "action": "filler", "object_type": "x", "object_id": "x"}
    for size in (2000, 400, 50, 1):
        try:
            for _ in range(10_000):
                async with app.db.transaction() as conn:
                    await conn.execute(audit_log.insert().values(**filler, after={"blob": "x" * size}))
        except StorageUnavailable as exc:
            assert "full" in str(exc.__cause__)
        else:
            raise AssertionError("the database never filled up")
    sent = await _clock_in_refused(app, clock)
    texts = [m["text"] for m in sent]
    assert not any(t.startswith("✅") for t in texts)
    assert any("现在无法记录" in t for t in texts), texts


async def test_unreachable_server_is_storage_unavailable() -> None:
    # Nothing listens on port 1: the driver's connection error arrives as StorageUnavailable, with the
    # driver's error kept as its cause.
    db = Database("postgresql+asyncpg://postgres@127.0.0.1:1/deskmate")
    try:
        with pytest.raises(StorageUnavailable) as raised:
            async with db.transaction():
                pass
        assert raised.value.__cause__ is not None
        with pytest.raises(StorageUnavailable):
            async with db.read():
                pass
    finally:
        await db.dispose()


async def test_a_bug_is_not_storage_unavailable(app: App) -> None:
    # A statement the database rejects for what it says (a missing table) is a bug, not a storage failure.
    with pytest.raises(sa.exc.OperationalError, match="no such table"):
        async with app.db.read() as conn:
            await conn.execute(sa.text("SELECT * FROM no_such_table"))
