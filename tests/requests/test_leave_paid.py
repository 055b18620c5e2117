"""Whether a leave type is paid (policy `leave.types[].paid`) shows where people and payroll read it:
事假 is unpaid (第四十九条: 事假期间不发工资), 病假 is paid (第五十一条)."""

from __future__ import annotations

import datetime as dt

from bot.app import App
from bot.clock import FakeClock
from schedules.attendance import ShiftFacts, judge_shifts
from schedules.policy import default_policy
from schedules.report import COLUMNS, summarise
from tests.conftest import local
from tests.helpers import Chat, roster


async def test_the_card_says_personal_leave_is_unpaid(app: App, clock: FakeClock) -> None:
    await roster(app, {"wangfang": "DDDD-DDDDDDD", "chenjing": "DDDD-DDDDDDD"})
    chat = Chat(app, clock)
    personal = await chat.say("wangfang", "/leave 事假 12-08 12-08 搬家")
    card = next(m for m in personal if m["to"] == "zhanglei")
    assert "事假（无薪）" in card["text"]
    sick = await chat.say("chenjing", "/leave 病假 12-09 12-09 看病")
    card = next(m for m in sick if m["to"] == "zhanglei")
    assert "病假" in card["text"] and "无薪" not in card["text"]


def test_the_report_counts_unpaid_leave_days() -> None:
    policy = default_policy()
    facts = [
        ShiftFacts("wangfang", dt.date(2026, 12, 8), "day", leave="personal"),
        ShiftFacts("wangfang", dt.date(2026, 12, 9), "day", leave="personal"),
        ShiftFacts("wangfang", dt.date(2026, 12, 10), "day", leave="sick"),
        ShiftFacts("wangfang", dt.date(2026, 12, 11), None, leave="personal"),  # a rest day costs nothing
    ]
    verdicts = judge_shifts(facts, local("2026-12-20 12:00"), policy)
    (row,) = summarise(verdicts, (dt.date(2026, 12, 1), dt.date(2026, 12, 31)), policy)
    assert (row.leave_shifts, row.unpaid_leave_days) == (3, 2)
    assert COLUMNS["unpaid_leave_days"] == ("无薪假天数", "Unpaid leave days")
