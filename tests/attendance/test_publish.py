"""第二十一条: next week's roster is due by Thursday 18:00. The lead is reminded at the deadline when it is
not in for everyone on the team, and each person gets their week, in their language, when it is imported.

2026-12-03 is a Thursday; the week it publishes runs Monday 2026-12-07 to Sunday 2026-12-13.
"""

from __future__ import annotations

from datetime import date, timedelta

from bot.app import App
from bot.clock import FakeClock
from handlers.roster import import_roster
from schedules.policy import RosterRules
from schedules.publish import publish_deadlines, unrostered, week_to_announce
from tests.conftest import SHANGHAI, local
from tests.helpers import Chat, roster

SERVICE = ["zhanglei", "wangfang", "liuyang", "chenjing", "yangmin", "zhaoqiang"]


def test_the_deadline_is_thursday_1800_for_the_week_after() -> None:
    rules = RosterRules()
    found = publish_deadlines(local("2026-12-01 00:00"), local("2026-12-08 00:00"), rules, SHANGHAI)
    assert found == [(local("2026-12-03 18:00"), date(2026, 12, 7))]
    assert publish_deadlines(local("2026-12-03 18:00"), local("2026-12-03 19:00"), rules, SHANGHAI) == []


def test_a_week_is_in_for_a_person_only_with_all_seven_days() -> None:
    monday = date(2026, 12, 7)
    full = [("a", monday + timedelta(days=i)) for i in range(7)]
    six = [("b", monday + timedelta(days=i)) for i in range(6)]
    assert unrostered(monday, ["a", "b", "c"], full + six) == ["b", "c"]


def test_the_announced_week_is_the_earliest_not_yet_ended() -> None:
    days = [date(2026, 11, 30) + timedelta(days=i) for i in range(21)]  # Mon 11-30 .. Sun 12-20
    assert week_to_announce(days, today=date(2026, 12, 3)) == date(2026, 11, 30)
    assert week_to_announce(days[7:], today=date(2026, 12, 3)) == date(2026, 12, 7)
    assert week_to_announce(days[:7], today=date(2026, 12, 7)) is None


async def test_the_lead_is_reminded_at_thursday_1800_of_who_is_missing(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    # Everyone in the service team has next week except 陈静, who has Monday to Saturday only.
    await roster(app, {p: "DDDDD--" for p in SERVICE if p != "chenjing"}, start=date(2026, 12, 7))
    await roster(app, {"chenjing": "DDDDD-"}, start=date(2026, 12, 7))
    clock.set(local("2026-12-03 17:59"))
    await app.run_due(local("2026-12-03 17:59"))
    await app.deliver()
    assert chat.sent == []  # not due before 18:00
    clock.set(local("2026-12-03 18:01"))
    await app.run_due(local("2026-12-03 18:01"))
    await app.deliver()
    to_lead = [m for m in chat.sent if m["to"] == "zhanglei"]
    assert len(to_lead) == 1
    assert "客服组下周（12-07–12-13）的排班还没有录齐，缺：陈静。" in to_lead[0]["text"]
    assert "第二十一条" in to_lead[0]["text"] and "周四 18:00" in to_lead[0]["text"]
    # The order team has no roster for next week at all: its lead is told, with every member named.
    to_order_lead = [m for m in chat.sent if m["to"] == "lina"]
    assert len(to_order_lead) == 1 and "黄伟" in to_order_lead[0]["text"]
    # A later run, or a restart catching up, does not remind again.
    before = len(chat.sent)
    await app.run_due(local("2026-12-03 18:05"))
    await app.deliver()
    assert len(chat.sent) == before


async def test_no_reminder_when_the_week_is_in(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    await roster(app, {p: "DDDDD--" for p in SERVICE}, start=date(2026, 12, 7))
    clock.set(local("2026-12-03 17:59"))
    await app.run_due(local("2026-12-03 17:59"))
    clock.set(local("2026-12-03 18:01"))
    await app.run_due(local("2026-12-03 18:01"))
    await app.deliver()
    assert not [m for m in chat.sent if m["to"] == "zhanglei"]


async def test_everyone_gets_their_week_in_their_language_when_it_is_imported(
    app: App, clock: FakeClock
) -> None:
    chat = Chat(app, clock)
    clock.set(local("2026-12-03 10:00"))
    rows = ["工号,日期,班次"]
    for i in range(7):
        day = date(2026, 12, 7) + timedelta(days=i)
        rows.append(f"wangfang,{day},{'白班' if i < 5 else '休'}")
        rows.append(f"chenjing,{day},{'晚班' if i >= 2 else '休'}")
    await import_roster(app, ("\n".join(rows) + "\n").encode(), "week.csv", "zhanglei")
    await app.deliver()
    wangfang = [m["text"] for m in chat.sent if m["to"] == "wangfang"]
    assert wangfang == [
        "王芳，您12-07–12-13这一周的排班已公布：\n"
        "12-07 周一  白班 09:00–18:00\n"
        "12-08 周二  白班 09:00–18:00\n"
        "12-09 周三  白班 09:00–18:00\n"
        "12-10 周四  白班 09:00–18:00\n"
        "12-11 周五  白班 09:00–18:00\n"
        "12-12 周六  休\n"
        "12-13 周日  休"
    ]
    chenjing = [m["text"] for m in chat.sent if m["to"] == "chenjing"]
    assert len(chenjing) == 1
    assert chenjing[0].startswith("陈静, your roster for the week 12-07–12-13 is published:\n")
    assert "12-09 Wed  evening 14:00–23:00" in chenjing[0]
    # Importing the same file again tells nobody twice; a corrected week is sent again.
    await import_roster(app, ("\n".join(rows) + "\n").encode(), "week.csv", "zhanglei")
    await app.deliver()
    assert len([m for m in chat.sent if m["to"] == "wangfang"]) == 1
    corrected = [r.replace("wangfang,2026-12-12,休", "wangfang,2026-12-12,白班") for r in rows]
    await import_roster(app, ("\n".join(corrected) + "\n").encode(), "week.csv", "zhanglei")
    await app.deliver()
    again = [m["text"] for m in chat.sent if m["to"] == "wangfang"]
    assert len(again) == 2 and "12-12 周六  白班 09:00–18:00" in again[1]
