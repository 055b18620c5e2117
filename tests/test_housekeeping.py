"""Housekeeping: old update ids are forgotten once a day, recent ones kept (redelivery still caught); sent
files lose their bytes after a week."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from bot import audit
from bot.app import App
from bot.clock import FakeClock
from bot.housekeeping import UPDATE_IDS_KEPT
from bot.inbox import Update
from bot.messages import FileOut, Outgoing
from bot.outbox import Copy, Delivery, enqueue
from bot.schema import inbox, outbox
from tests.conftest import local


async def update_ids(app: App) -> set[str]:
    async with app.db.read() as conn:
        return set((await conn.execute(sa.select(inbox.c.dedupe_key))).scalars())


async def store_done(app: App, platform: str, key: str, received: datetime) -> None:
    async with app.db.transaction() as conn:
        values = Update(platform, key, "u1", "c1", {"text": "hi"}).values(received)
        await conn.execute(inbox.insert().values({**values, "state": "done", "done_at": received}))


async def test_update_ids_older_than_a_week_are_forgotten_at_half_past_three(
    app: App, clock: FakeClock
) -> None:
    clock.set(local("2026-12-10 03:00"))
    await app.run_due()
    now = clock.now()
    for update_id, age in (("old", UPDATE_IDS_KEPT + timedelta(hours=2)), ("recent", timedelta(days=6))):
        await store_done(app, "telegram", update_id, now - age)
    clock.set(local("2026-12-10 03:29"))
    await app.run_due()
    assert await update_ids(app) == {"old", "recent"}  # not yet: once a day, at 03:30
    clock.set(local("2026-12-10 03:31"))
    await app.run_due()
    assert await update_ids(app) == {"recent"}
    # A redelivery within the week is still caught at the insert.
    assert await app.inbox.put(Update("telegram", "recent", "u1", "c1", {"text": "again"})) is None
    async with app.db.read() as conn:
        [row] = await audit.rows_for(conn, "inbox", "*")
    assert row["action"] == "housekeeping.update_ids_forgotten" and row["after"]["rows"] == 1


async def test_a_bot_that_was_down_over_half_past_three_cleans_up_when_it_is_back(
    app: App, clock: FakeClock
) -> None:
    clock.set(local("2026-12-10 01:00"))
    await app.run_due()
    await store_done(app, "slack", "old", clock.now() - timedelta(days=30))
    clock.set(local("2026-12-10 09:00"))  # down from 01:00 to 09:00
    await app.run_due()
    assert await update_ids(app) == set()


async def test_files_sent_more_than_a_week_ago_lose_their_bytes_not_their_row(
    app: App, clock: FakeClock
) -> None:
    class Sink:
        platform = "fake"

        async def deliver(self, item: Delivery) -> list[Copy]:
            return []

    app.attach(Sink())
    clock.set(local("2026-12-01 09:00"))
    report = FileOut("考勤.xlsx", b"x" * 1000, "application/octet-stream")
    async with app.db.transaction() as conn:
        await enqueue(conn, Outgoing("月报", to_person="zhanglei", file=report), clock.now())
        await enqueue(conn, Outgoing("排班图", to_person="lina", file=report), clock.now())
    await app.deliver()  # both sent on 1 December
    async with app.db.transaction() as conn:  # one more, still waiting (the platform is down)
        await enqueue(conn, Outgoing("周报", to_person="maqiang", file=report), clock.now())
    await app.run_due()
    clock.set(local("2026-12-08 03:31"))  # a week later minus a few hours: kept
    await app.run_due()
    assert await file_sizes(app) == {"月报": 1000, "排班图": 1000, "周报": 1000}
    clock.set(local("2026-12-09 03:31"))
    await app.run_due()
    assert await file_sizes(app) == {
        "月报": None,
        "排班图": None,
        "周报": 1000,
    }  # the unsent one keeps its file


async def file_sizes(app: App) -> dict[str, int | None]:
    async with app.db.read() as conn:
        rows = await conn.execute(sa.select(outbox.c.payload, sa.func.length(outbox.c.file_data)))
        # Only the files: other scheduled work (the roster publish reminder) queues text messages too.
        return {payload["text"]: size for payload, size in rows if payload.get("file_name")}
