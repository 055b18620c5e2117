"""Reminders still true when they arrive: the chain covers leads, a past day's alert names the day, and a
reminder no longer useful is dropped with an audit row, every sentence is true at the moment it is sent, and
what quiet hours hold reaches each lead as one morning summary (issue 12, item 4)."""

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
    # sent at 11:05 (the clock jumped): 125 minutes after 09:00, counted from the moment it goes out
    assert alerts == [("liujun", "❗ 张磊 的白班（09:00 开始）已过 125 分钟仍未打卡，" + ALERT_END)]


async def test_an_alert_sent_after_the_shift_names_its_day(app: App, clock: FakeClock) -> None:
    await roster(app, {"wangfang": "D"}, start=date(2026, 12, 1))
    clock.set(local("2026-12-01 08:00"))
    chat = Chat(app, clock)
    await chat.line("clock: 2026-12-01 08:00")
    sent = await chat.line("clock: 2026-12-01 20:00")  # the bot was down from 08:00 to 20:00
    alerts = [m["text"] for m in sent if m["to"] == "zhanglei"]
    assert alerts == [
        "❗ 王芳 12-01 的白班（09:00–18:00）已经结束，始终没有打上班卡，"
        "按规定可能计旷工（第三十条、第三十二条），请核实。"
    ]


async def test_quiet_hours_hold_alerts_into_one_morning_summary(app: App, clock: FakeClock) -> None:
    """Down from 08:00 until 01:00 the next night: both no-shows of 12-01 are over and it is quiet hours
    (23:30–08:00), so the lead gets nothing at 01:00 and one message at 08:00 naming both."""
    await roster(app, {"wangfang": "D", "liuyang": "D"}, start=date(2026, 12, 1))
    clock.set(local("2026-12-01 08:00"))
    chat = Chat(app, clock)
    await chat.line("clock: 2026-12-01 08:00")
    night = await chat.line("clock: 2026-12-02 01:00")
    assert [m for m in night if m["to"] == "zhanglei"] == []
    await chat.line("clock: 2026-12-02 07:59")
    morning = await chat.line("clock: 2026-12-02 08:00")
    assert [m["text"] for m in morning if m["to"] == "zhanglei"] == [
        "🌅 夜间暂缓的考勤提醒（2 条）：\n"
        "• 刘洋 12-01 的白班（09:00–18:00）没有打上班卡\n"
        "• 王芳 12-01 的白班（09:00–18:00）没有打上班卡\n"
        "按规定可能计旷工（第三十条、第三十二条），请核实。"
    ]
    later = await chat.line("clock: 2026-12-02 08:30")
    assert [m for m in later if m["to"] == "zhanglei"] == []  # sent once
    async with app.db.read() as conn:
        actions = (
            (await conn.execute(sa.select(audit_log.c.action).where(audit_log.c.action.like("reminder.%"))))
            .scalars()
            .all()
        )
    assert actions.count("reminder.held") == 2 and actions.count("reminder.summary_sent") == 1


async def test_a_late_nudge_says_what_a_clock_in_counts_as_then(app: App, clock: FakeClock) -> None:
    """The bot was down 08:00–09:40: the 08:45 reminder is dropped (the shift has started), the nudge says
    40 minutes late = seriously late (第三十条: over 30, up to 2 hours), in the person's language."""
    await roster(app, {"wangfang": "D", "chenjing": "D"}, start=date(2026, 12, 1))
    clock.set(local("2026-12-01 08:00"))
    chat = Chat(app, clock)
    await chat.line("clock: 2026-12-01 08:00")
    sent = await chat.line("clock: 2026-12-01 09:40")
    assert [(m["to"], m["text"]) for m in sent if m["to"] in ("wangfang", "chenjing")] == [
        (
            "chenjing",
            "⚠️ 陈静, your day shift started at 09:00 and you have not clocked in; clocking in now is "
            "40 minutes late and counts as seriously late (Article 29, Article 30).",
        ),
        (
            "wangfang",
            "⚠️ 王芳，白班已在 09:00 开始，您还没有打上班卡；现在打卡已晚 40 分钟，将按严重迟到处理"
            "（第二十九条、第三十条）。",
        ),
    ]


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
