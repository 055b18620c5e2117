"""Reminders still true when they arrive: the chain covers leads, a past day's alert names the day, and a
reminder no longer useful is dropped with an audit row (issue 12, item 4)."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from bot.app import App
from bot.clock import FakeClock
from bot.schema import audit_log
from tests.conftest import local
from tests.helpers import Chat, roster

ALERT_END = "按规定可能计旷工（第三十条、第三十二条），请跟进。"


async def test_a_leads_missed_clock_in_goes_to_their_supervisor(app: App, clock: FakeClock) -> None:
    await roster(app, {"zhanglei": "D", "wangfang": "D"}, start=date(2026, 12, 1))
    clock.set(local("2026-12-01 08:00"))
    chat = Chat(app, clock)
    await chat.line("clock: 2026-12-01 08:00")
    await chat.say("wangfang", "/in")
    sent = await chat.line("clock: 2026-12-01 11:05")
    alerts = [(m["to"], m["text"]) for m in sent if m["text"].startswith("❗")]
    assert alerts == [("liujun", "❗ 张磊 的白班（09:00 开始）已超过 120 分钟仍未打卡，" + ALERT_END)]


async def test_an_alert_sent_the_next_day_names_its_day(app: App, clock: FakeClock) -> None:
    await roster(app, {"wangfang": "D"}, start=date(2026, 12, 1))
    clock.set(local("2026-12-01 08:00"))
    chat = Chat(app, clock)
    await chat.line("clock: 2026-12-01 08:00")
    sent = await chat.line("clock: 2026-12-02 01:00")  # the bot was down from 08:00 until after midnight
    alerts = [m["text"] for m in sent if m["to"] == "zhanglei"]
    assert alerts == ["❗ 王芳 12-01 的白班（09:00 开始）超过 120 分钟仍未打卡，" + ALERT_END]


async def test_a_stale_reminder_is_dropped_and_the_drop_audited(app: App, clock: FakeClock) -> None:
    await roster(app, {"wangfang": "D"}, start=date(2026, 12, 1))
    clock.set(local("2026-12-01 08:00"))
    chat = Chat(app, clock)
    await chat.line("clock: 2026-12-01 08:00")
    sent = await chat.line("clock: 2026-12-02 08:30")  # down all night: nothing of 12-01 is worth it now
    assert [m for m in sent if "12-01" in m["text"] or "王芳" in m["text"]] == []
    async with app.db.read() as conn:
        dropped = (
            (
                await conn.execute(
                    sa.select(audit_log.c.object_id).where(audit_log.c.action == "reminder.dropped_stale")
                )
            )
            .scalars()
            .all()
        )
    # no clock-out reminder was planned: she never clocked in
    assert {key.split(":")[0] for key in dropped} == {"before_shift", "grace_nudge", "absence_alert"}
