"""An early clock-out is asked about before it is stored (issue 12): a shift has one clock-out (第二十八条),
so a mis-tapped /out at 09:20 would otherwise be half a day of absence (第三十条) with no way back."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from bot.app import App
from bot.clock import FakeClock
from bot.schema import audit_log, punches
from schedules.attendance import Verdict, VerdictKind
from tests.helpers import Chat, roster


@pytest.fixture
async def rostered(app: App) -> App:
    """wangfang (zh) and chenjing (en) on the day shift 09:00–18:00 from 12-01."""
    await roster(app, {"wangfang": "DDDDDDDDDD", "chenjing": "DDDDDDDDDD"}, start=date(2026, 11, 30))
    return app


async def clock_outs(app: App, person: str) -> list[tuple[date, str, str]]:
    async with app.db.read() as conn:
        rows = await conn.execute(
            sa.select(punches.c.shift_day, punches.c.at, punches.c.verdict)
            .where(punches.c.person_id == person, punches.c.kind == "clock_out")
            .order_by(punches.c.id)
        )
        return [(r.shift_day, f"{r.at.astimezone(app.tz):%H:%M}", r.verdict) for r in rows]


async def actions(app: App, person: str) -> list[str]:
    async with app.db.read() as conn:
        rows = await conn.execute(
            sa.select(audit_log.c.action)
            .where(audit_log.c.actor == person, audit_log.c.action.like("punch.clock_out%"))
            .order_by(audit_log.c.id)
        )
        return [r.action for r in rows]


def only(sent: list[dict[str, Any]], person: str) -> dict[str, Any]:
    (message,) = [m for m in sent if m["to"] == person]
    return message


async def test_a_mis_tap_is_cancelled_and_the_real_clock_out_is_one_step(
    rostered: App, clock: FakeClock
) -> None:
    chat = Chat(rostered, clock)
    await chat.line("clock: 2026-12-01 08:55")
    await chat.say("wangfang", "/in")
    await chat.line("clock: 2026-12-01 09:20")
    asked = only(await chat.say("wangfang", "下班打卡"), "wangfang")
    # 18:00 − 09:20 = 520 minutes early, over 30: half a day of absence (第三十条、第三十二条)
    assert (
        "比下班时间早 520 分钟离岗，提前超过30分钟，按旷工半天处理（第三十条、第三十二条）" in asked["text"]
    )
    assert "白班 09:00–18:00" in asked["text"]
    assert asked["buttons"] == ["确认下班打卡", "取消"]
    assert await clock_outs(rostered, "wangfang") == []
    cancelled = only(await chat.say("wangfang", "press 取消"), "wangfang")
    assert cancelled["text"].startswith("已取消，没有记录下班卡")
    stale = only(await chat.say("wangfang", "press 确认下班打卡"), "wangfang")  # the cancelled card
    assert stale["text"].startswith("这个确认已经失效")
    assert await clock_outs(rostered, "wangfang") == []
    await chat.line("clock: 2026-12-01 18:01")
    out = only(await chat.say("wangfang", "/out"), "wangfang")
    assert out["buttons"] == []  # on time (1 minute over, less than a unit): stored at once
    assert out["text"] == "✅ 下班打卡 18:01：白班 09:00–18:00\n准时。"
    assert await clock_outs(rostered, "wangfang") == [(date(2026, 12, 1), "18:01", "on_time")]
    assert await actions(rostered, "wangfang") == [
        "punch.clock_out.asked",
        "punch.clock_out.cancelled",
        "punch.clock_out.stale_press",
        "punch.clock_out",
    ]


async def test_confirm_stores_the_time_of_the_press_once(rostered: App, clock: FakeClock) -> None:
    chat = Chat(rostered, clock)
    await chat.line("clock: 2026-12-01 08:58")
    await chat.say("wangfang", "/in")
    await chat.line("clock: 2026-12-01 17:40")
    asked = only(await chat.say("wangfang", "/out"), "wangfang")
    assert "比下班时间早 20 分钟，属于早退（第三十条）" in asked["text"]
    await chat.line("clock: 2026-12-01 17:45")
    done = only(await chat.say("wangfang", "press 1"), "wangfang")
    # judged at the press: 15 minutes early, at most 30, an early leave (第三十条)
    assert done["text"] == "✅ 下班打卡 17:45：白班 09:00–18:00\n比下班时间早 15 分钟，属于早退（第三十条）。"
    again = only(await chat.say("wangfang", "press 1"), "wangfang")
    assert again["text"] == "您已在 17:45 打过下班卡（白班 09:00–18:00）。"
    late_cancel = only(await chat.say("wangfang", "press 2"), "wangfang")
    assert late_cancel["text"] == again["text"]
    assert await clock_outs(rostered, "wangfang") == [(date(2026, 12, 1), "17:45", "early_leave")]


async def test_in_english(rostered: App, clock: FakeClock) -> None:
    chat = Chat(rostered, clock)
    await chat.line("clock: 2026-12-01 08:58")
    await chat.say("chenjing", "/in")
    await chat.line("clock: 2026-12-01 17:00")
    asked = only(await chat.say("chenjing", "/out"), "chenjing")
    assert asked["buttons"] == ["Clock out now", "Cancel"]
    assert "counted as half a day of absence (Article 30, Article 32)" in asked["text"]
    assert "Article 28" in asked["text"]
    cancelled = only(await chat.say("chenjing", "press Cancel"), "chenjing")
    assert cancelled["text"].startswith("Cancelled: no clock-out was recorded")
    await chat.say("chenjing", "/out")
    done = only(await chat.say("chenjing", "press Clock out now"), "chenjing")
    assert done["text"].startswith("✅ Clocked out at 17:00: day 09:00–18:00\nLeft 60 minutes")
    assert await clock_outs(rostered, "chenjing") == [(date(2026, 12, 1), "17:00", "absent")]


async def test_a_card_from_yesterday_confirms_nothing(rostered: App, clock: FakeClock) -> None:
    chat = Chat(rostered, clock)
    await chat.line("clock: 2026-12-01 08:58")
    await chat.say("wangfang", "/in")
    await chat.line("clock: 2026-12-01 17:50")
    await chat.say("wangfang", "/out")
    await chat.line("clock: 2026-12-02 10:00")
    stale = only(await chat.say("wangfang", "press 1"), "wangfang")
    assert stale["text"].startswith("这个确认已经失效")
    assert await clock_outs(rostered, "wangfang") == []


def test_which_clock_outs_are_asked_about() -> None:
    """Early leave and absence from leaving early are asked about; arriving late is no clock-out."""
    assert Verdict(VerdictKind.EARLY_LEAVE, (), minutes_early=1).leaves_early
    assert Verdict(VerdictKind.ABSENT, (), minutes_early=31, absent_half_days=1).leaves_early
    assert not Verdict(VerdictKind.ABSENT, (), minutes_late=121, absent_half_days=1).leaves_early
    assert not Verdict(VerdictKind.ON_TIME, (), overtime_minutes=29).leaves_early
    assert not Verdict(VerdictKind.OVERTIME, (), overtime_minutes=45, overtime_units=1).leaves_early
