"""Housekeeping: old update ids are forgotten once a day, recent ones kept (redelivery still caught)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from bot import audit
from bot.app import App
from bot.clock import FakeClock
from bot.housekeeping import UPDATE_IDS_KEPT
from bot.schema import processed_updates
from tests.conftest import local


async def update_ids(app: App) -> set[str]:
    async with app.db.read() as conn:
        return set((await conn.execute(sa.select(processed_updates.c.update_id))).scalars())


async def test_update_ids_older_than_a_week_are_forgotten_at_half_past_three(
    app: App, clock: FakeClock
) -> None:
    clock.set(local("2026-12-10 03:00"))
    await app.run_due()
    now = clock.now()
    async with app.db.transaction() as conn:
        for update_id, age in (("old", UPDATE_IDS_KEPT + timedelta(hours=2)), ("recent", timedelta(days=6))):
            await conn.execute(
                processed_updates.insert().values(platform="telegram", update_id=update_id, at=now - age)
            )
    clock.set(local("2026-12-10 03:29"))
    await app.run_due()
    assert await update_ids(app) == {"old", "recent"}  # not yet: once a day, at 03:30
    clock.set(local("2026-12-10 03:31"))
    await app.run_due()
    assert await update_ids(app) == {"recent"}
    assert await app.first_time("telegram", "recent") is False  # a redelivery within the week is still caught
    async with app.db.read() as conn:
        [row] = await audit.rows_for(conn, "processed_updates", "*")
    assert row["action"] == "housekeeping.update_ids_forgotten" and row["after"]["rows"] == 1


async def test_a_bot_that_was_down_over_half_past_three_cleans_up_when_it_is_back(
    app: App, clock: FakeClock
) -> None:
    clock.set(local("2026-12-10 01:00"))
    await app.run_due()
    async with app.db.transaction() as conn:
        await conn.execute(
            processed_updates.insert().values(
                platform="slack", update_id="old", at=clock.now() - timedelta(days=30)
            )
        )
    clock.set(local("2026-12-10 09:00"))  # down from 01:00 to 09:00
    await app.run_due()
    assert await update_ids(app) == set()
