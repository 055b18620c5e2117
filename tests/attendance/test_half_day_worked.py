"""Half a day on leave, the other half worked: reminders, punches and /onduty follow the worked half.

王芳's 12-02 is a 白班 09:00–18:00 (第十七条). The handbook gives no clock time for a half day, so the shift
splits at its midpoint, 13:30, as the leave request itself does. Worked out by hand from the articles:

* morning off: the afternoon starts at 13:30. The pre-shift reminder comes 15 minutes before (policy
  default) at 13:15; clock-in opens 60 minutes before, at 12:30 (第二十八条); grace runs to 13:35 included
  (第二十九条), so the nudge is due at 13:36; the lead's alert is due past 2 hours, at 15:31 (第三十条).
  Nothing is sent at 08:45, 09:06 or 11:01, when a whole shift would have had them.
* afternoon off: the morning ends at 13:30; a clock-out then is on time, where without the leave it would be
  270 minutes early, half a day of absence (第三十条). The clock-out reminder comes at 13:30.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from bot.app import App
from bot.clock import FakeClock
from bot.schema import punches
from handlers.report import period_verdicts
from tests.helpers import Chat, roster

DAY = date(2026, 12, 2)


async def half_day_off(app: App, clock: FakeClock, half: str, person: str = "wangfang") -> Chat:
    """The person's sick leave for one half of 12-02, asked and approved by 张磊 on 12-01 at 08:00."""
    await roster(app, {person: "DDDD"})
    chat = Chat(app, clock)
    await chat.say(person, f"/leave 病假 12-02 {half} 看牙")
    await chat.say("zhanglei", "press 批准")
    return chat


def texts(sent: list[dict[str, Any]], to: str) -> list[str]:
    return [m["text"] for m in sent if m["to"] == to]


async def test_a_morning_off_is_reminded_of_the_afternoon(app: App, clock: FakeClock) -> None:
    chat = await half_day_off(app, clock, "上午")
    # the whole shift's reminders (08:45, 09:06) and the lead's alert (11:01) do not come
    for moment in ("2026-12-02 08:45", "2026-12-02 09:06", "2026-12-02 11:01", "2026-12-02 13:14"):
        quiet = await chat.line(f"clock: {moment}")
        assert texts(quiet, "wangfang") == [] and texts(quiet, "zhanglei") == [], (moment, quiet)
    before = await chat.line("clock: 2026-12-02 13:15")
    assert texts(before, "wangfang") == [
        "⏰ 王芳，您的白班下午半天（13:30–18:00）15 分钟后开始，记得打上班卡（第二十八条）。"
    ]
    assert texts(await chat.line("clock: 2026-12-02 13:35"), "wangfang") == []  # still within grace
    nudge = await chat.line("clock: 2026-12-02 13:36")
    (text,) = texts(nudge, "wangfang")
    assert text.startswith(
        "⚠️ 王芳，白班下午半天已在 13:30 开始，您还没有打上班卡；现在打卡已晚 6 分钟，将按迟到处理"
    )
    assert texts(await chat.line("clock: 2026-12-02 15:30"), "zhanglei") == []
    alert = await chat.line("clock: 2026-12-02 15:31")
    (text,) = texts(alert, "zhanglei")
    assert text.startswith("❗ 王芳 的白班下午半天（13:30 开始）已过 121 分钟仍未打卡"), text


async def test_a_morning_off_clocks_in_at_the_midpoint(app: App, clock: FakeClock) -> None:
    chat = await half_day_off(app, clock, "上午")
    await chat.line("clock: 2026-12-02 09:00")
    early = await chat.say("wangfang", "/in")
    assert texts(early, "wangfang") == [
        "您 12-02 上午请假，下午 13:30 开始上班；上班卡最早提前60分钟打，12:30 起可以打卡（第二十八条）。"
    ]
    await chat.line("clock: 2026-12-02 12:30")
    opened = await chat.say("wangfang", "/in")
    assert texts(opened, "wangfang") == ["✅ 上班打卡 12:30：白班下午半天 13:30–18:00\n准时。"]
    await chat.line("clock: 2026-12-02 18:00")
    out = await chat.say("wangfang", "/out")
    assert texts(out, "wangfang") == ["✅ 下班打卡 18:00：白班下午半天 13:30–18:00\n准时。"]


async def test_an_afternoon_off_clocks_out_at_the_midpoint(app: App, clock: FakeClock) -> None:
    chat = await half_day_off(app, clock, "下午")
    before = await chat.line("clock: 2026-12-02 08:45")
    assert texts(before, "wangfang") == [
        "⏰ 王芳，您的白班上午半天（09:00–13:30）15 分钟后开始，记得打上班卡（第二十八条）。"
    ]
    await chat.line("clock: 2026-12-02 08:58")
    await chat.say("wangfang", "/in")
    reminder = await chat.line("clock: 2026-12-02 13:30")
    (text,) = texts(reminder, "wangfang")
    assert text.startswith("🕙 王芳，白班上午半天到 13:30 结束。"), text
    out = await chat.say("wangfang", "/out")
    assert texts(out, "wangfang") == ["✅ 下班打卡 13:30：白班上午半天 09:00–13:30\n准时。"]
    assert texts(await chat.line("clock: 2026-12-02 18:00"), "wangfang") == []
    await chat.line("clock: 2026-12-03 08:00")
    verdicts, _, _ = await period_verdicts(app, DAY, DAY, "service")
    mine = [v for v in verdicts if v.facts.person_id == "wangfang"]
    assert [(v.kind.value, v.leave_days, v.early_leave, v.absent_half_days, v.worked) for v in mine] == [
        ("on_time", 0.5, 0, 0, 1)
    ]


async def test_an_afternoon_off_leaving_at_13_00_is_an_early_leave(app: App, clock: FakeClock) -> None:
    """30 minutes before the end of the morning: an early leave, not more than 30 minutes (第三十条)."""
    chat = await half_day_off(app, clock, "下午")
    await chat.line("clock: 2026-12-02 09:00")
    await chat.say("wangfang", "/in")
    await chat.line("clock: 2026-12-02 13:00")
    (asked,) = texts(await chat.say("wangfang", "/out"), "wangfang")
    assert "比下班时间早 30 分钟，属于早退（第三十条）" in asked  # asked first, nothing stored yet
    out = await chat.say("wangfang", "press 确认下班打卡")
    (text,) = texts(out, "wangfang")
    assert text == "✅ 下班打卡 13:00：白班上午半天 09:00–13:30\n比下班时间早 30 分钟，属于早退（第三十条）。"


async def test_onduty_shows_the_half_worked_and_the_half_off(app: App, clock: FakeClock) -> None:
    chat = await half_day_off(app, clock, "上午")
    await chat.line("clock: 2026-12-02 10:00")
    morning = texts(await chat.say("zhanglei", "/onduty"), "zhanglei")[0]
    assert "王芳（白班）🌴 上午请假，13:30 起上班" in [line.strip() for line in morning.splitlines()], morning
    await chat.line("clock: 2026-12-02 14:00")
    late = texts(await chat.say("zhanglei", "/onduty"), "zhanglei")[0]
    assert "王芳（白班）⚠️ 已过宽限期仍未打卡（上午请假，13:30 起上班）" in [
        line.strip() for line in late.splitlines()
    ], late
    await chat.say("wangfang", "/in")
    came = texts(await chat.say("zhanglei", "/onduty"), "zhanglei")[0]
    assert "王芳（白班）✅ 14:00 已打卡（迟到）（上午请假，13:30 起上班）" in [
        line.strip() for line in came.splitlines()
    ], came


async def test_onduty_in_english_for_an_afternoon_off(app: App, clock: FakeClock) -> None:
    chat = await half_day_off(app, clock, "下午", person="chenjing")
    await chat.line("clock: 2026-12-02 09:00")
    await chat.say("chenjing", "/in")
    await chat.line("clock: 2026-12-02 10:00")
    await chat.say("zhanglei", "/lang en")
    morning = texts(await chat.say("zhanglei", "/onduty"), "zhanglei")[-1]
    lines = [line.strip() for line in morning.splitlines()]
    assert any(line.startswith("陈静") and line.endswith("(afternoon off from 13:30)") for line in lines), (
        lines
    )
    await chat.line("clock: 2026-12-02 14:00")
    afternoon = texts(await chat.say("zhanglei", "/onduty"), "zhanglei")[-1]
    lines = [line.strip() for line in afternoon.splitlines()]
    assert any(line.startswith("陈静") and line.endswith("🌴 afternoon off from 13:30") for line in lines), (
        lines
    )


async def test_an_approved_missed_clock_in_is_judged_on_the_half_worked(app: App, clock: FakeClock) -> None:
    """补卡 for 13:32 after a morning off: 2 minutes after 13:30, within grace and the month's first use
    (第二十九条), stored as such, so the grace uses later punches count are right."""
    chat = await half_day_off(app, clock, "上午")
    await chat.line("clock: 2026-12-02 18:30")
    await chat.say("wangfang", "/missed 12-02 in 13:32 忘了打卡")
    await chat.say("zhanglei", "press 批准")
    async with app.db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(punches.c.kind, punches.c.verdict, punches.c.minutes, punches.c.grace_used).where(
                    punches.c.person_id == "wangfang"
                )
            )
        ).all()
    assert [tuple(r) for r in rows] == [("clock_in", "grace", 2, True)]
