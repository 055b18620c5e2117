"""Approved overtime on a rest day (第二十五条): the hours between the rest day's clock-in and clock-out are
recorded once the supervisor approves, in whichever order the approval and the clock-out come, and the
attendance report has a column for them (zh and en); refused or undecided overtime counts nothing, and
a closed month keeps reading what it read.

Expected figures are worked out from the handbook: 第二十四条's 30-minute unit is for staying late after a
shift and 第五十五条's half day is for taking time off in lieu, so no rounding applies to rest-day work:
08:30–12:45 is 4 h 15 min = 4.25 h; 09:10–15:40 is 6.5 h."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import replace
from datetime import date

import sqlalchemy as sa

from bot import requests as engine
from bot.app import App
from bot.clock import FakeClock
from bot.schema import audit_log
from handlers.report import attendance_report
from schedules.attendance import ShiftFacts, rest_day_overtime_minutes, shift_verdict
from schedules.closing import freeze, thaw
from schedules.policy import default_policy
from tests.conftest import local
from tests.helpers import Chat, roster

SAT, SUN, MON = date(2026, 12, 5), date(2026, 12, 6), date(2026, 12, 7)


async def report(
    app: App, first: date, last: date, lang: str, *, detail: bool = False
) -> list[dict[str, str]]:
    data = await attendance_report(app, first, last, None, "csv", lang, detail=detail)
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def row_of(rows: list[dict[str, str]], key: str, person: str) -> dict[str, str]:
    return next(r for r in rows if r[key] == person)


async def request_of(app: App, request_id: int) -> engine.Request:
    async with app.db.read() as conn:
        request = await engine.get(conn, request_id)
    assert request is not None
    return request


def test_rest_day_minutes_follow_the_punches_whole_minutes_and_an_advance_cap() -> None:
    policy = default_policy()
    began, ended = local("2026-12-06 08:30:40"), local("2026-12-06 12:45:10")
    # minute resolution: the punches as shown, 08:30 and 12:45
    assert rest_day_overtime_minutes(began, ended, None, policy) == 255
    assert rest_day_overtime_minutes(began, ended, 180, policy) == 180  # approved in advance for 3 h
    assert rest_day_overtime_minutes(began, None, None, policy) == 0
    assert rest_day_overtime_minutes(None, ended, None, policy) == 0
    facts = ShiftFacts("p", SUN, None, rest_day_punch=began, rest_day_clock_out=ended)
    now = local("2026-12-08 00:00")
    assert shift_verdict(facts, 0, now, policy).approved_overtime_minutes == 0  # nothing approved
    approved = replace(facts, overtime_request="overtime#1")
    verdict = shift_verdict(approved, 0, now, policy)
    assert (verdict.kind.value, verdict.approved_overtime_minutes, verdict.worked) == ("rest", 255, 0)
    assert [a.zh for a in verdict.articles] == ["第二十五条"]


def test_a_verdict_frozen_before_the_column_existed_reads_the_same() -> None:
    """closed_shifts rows written by the previous version have neither the new facts nor the new count."""
    policy = default_policy()
    facts = ShiftFacts("p", SUN, None, rest_day_punch=local("2026-12-06 08:30"))
    verdict = shift_verdict(facts, 0, local("2026-12-08 00:00"), policy)
    frozen = freeze(verdict)
    for name in ("rest_day_clock_out", "overtime_request", "overtime_cap_minutes"):
        del frozen["facts"][name]
    del frozen["counts"]["approved_overtime_minutes"]
    assert thaw(frozen, None, policy) == verdict
    worked = shift_verdict(
        replace(facts, rest_day_clock_out=local("2026-12-06 12:45"), overtime_request="overtime#3"),
        0,
        local("2026-12-08 00:00"),
        policy,
    )
    assert thaw(freeze(worked), None, policy) == worked


async def test_approved_then_clocked_out_records_the_hours_in_zh(app: App, clock: FakeClock) -> None:
    await roster(app, {"wangfang": "D-D"}, start=SAT)
    clock.set(local("2026-12-06 08:30"))
    chat = Chat(app, clock)
    await chat.say("wangfang", "/in")
    await chat.say("liujun", "press ✅ 批准")
    assert (await request_of(app, 1)).payload["hours"] == 0  # nothing worked yet
    await chat.line("clock: 2026-12-06 12:45")
    out = await chat.say("wangfang", "/out")
    assert [m["text"] for m in out] == [
        "✅ 下班打卡 12:45：休息日 08:30–12:45，共 4 小时 15 分钟。\n"
        "加班申请 #1 已批准：本次休息日加班记为 4.25 小时（第二十五条）。"
    ]
    assert (await request_of(app, 1)).payload["hours"] == 4.25
    async with app.db.read() as conn:
        audited = (
            await conn.execute(
                sa.select(audit_log.c.object_id, audit_log.c.after).where(
                    audit_log.c.action == "overtime.hours_recorded"
                )
            )
        ).all()
    assert [(o, a["hours"], a["minutes"]) for o, a in audited] == [("1", 4.25, 255)]
    await chat.line("clock: 2026-12-08 09:00")
    rows = await report(app, SAT, MON, "zh-CN")
    mine = row_of(rows, "工号", "wangfang")
    assert (mine["已批准加班小时"], mine["加班单位"], mine["排班班次"]) == ("4.25", "0", "2")
    assert list(rows[0])[-1] == "已批准加班小时"  # a new column goes at the end
    detail = await report(app, SUN, SUN, "zh-CN", detail=True)
    day = row_of(detail, "工号", "wangfang")
    assert (day["上班打卡"], day["下班打卡"], day["相关申请"], day["已批准加班小时"]) == (
        "08:30",
        "12:45",
        "overtime#1",
        "4.25",
    )
    assert day["条款"] == "第二十五条"


async def test_clocked_out_then_approved_records_the_hours_in_en(app: App, clock: FakeClock) -> None:
    await roster(app, {"chenjing": "D-D"}, start=SAT)
    clock.set(local("2026-12-06 09:10"))
    chat = Chat(app, clock)
    await chat.say("chenjing", "/in")
    await chat.line("clock: 2026-12-06 15:40")
    out = await chat.say("chenjing", "/out")
    assert out[-1]["text"].endswith("Overtime request #1 is decided on these two punches.")
    assert (await request_of(app, 1)).payload["hours"] == 0  # not approved yet: nothing recorded
    await chat.line("clock: 2026-12-07 10:00")
    approved = await chat.say("liujun", "press ✅ 批准")
    assert (await request_of(app, 1)).payload["hours"] == 6.5
    assert (
        "Overtime request #1 is approved: the rest day 12-06 counts as 6.5 h of overtime, from your clock-in "
        "and clock-out (Article 25)."
    ) in [m["text"] for m in approved if m["to"] == "chenjing"]
    rows = await report(app, SAT, MON, "en")
    mine = row_of(rows, "Person", "chenjing")
    assert (mine["Approved overtime hours"], mine["Overtime units"]) == ("6.5", "0")
    assert list(rows[0])[-1] == "Approved overtime hours"


async def test_refused_or_undecided_rest_day_work_is_no_overtime(app: App, clock: FakeClock) -> None:
    await roster(app, {"wangfang": "D-D", "chenjing": "D-D"}, start=SAT)
    clock.set(local("2026-12-06 09:00"))
    chat = Chat(app, clock)
    await chat.say("wangfang", "/in")  # request #1
    refused = await chat.say("liujun", "press ❌ 驳回")
    assert any(m["to"] == "wangfang" for m in refused), "王芳 was not told of the refusal"
    await chat.say("chenjing", "/in")  # request #2, never decided
    await chat.line("clock: 2026-12-06 17:00")
    await chat.say("wangfang", "/out")
    await chat.say("chenjing", "/out")
    assert (await request_of(app, 1)).state == engine.REJECTED
    assert (await request_of(app, 2)).state == engine.PENDING
    assert [(await request_of(app, i)).payload["hours"] for i in (1, 2)] == [0, 0]
    await chat.line("clock: 2026-12-08 09:00")
    rows = await report(app, SAT, MON, "zh-CN")
    for person in ("wangfang", "chenjing"):
        assert row_of(rows, "工号", person)["已批准加班小时"] == "0"
    assert [r["已批准加班小时"] for r in await report(app, SUN, SUN, "zh-CN", detail=True)] == ["", ""]


async def test_an_advance_approval_counts_up_to_its_hours(app: App, clock: FakeClock) -> None:
    """/overtime 12-06 3 approved beforehand, then 09:00–13:00 worked: 3 h approved, not 4 (第二十五条)."""
    await roster(app, {"wangfang": "DD-D"}, start=date(2026, 12, 4))
    clock.set(local("2026-12-04 10:00"))
    chat = Chat(app, clock)
    await chat.say("wangfang", "/overtime 12-06 3 大促值守")
    await chat.say("liujun", "press ✅ 批准")
    await chat.line("clock: 2026-12-06 09:00")
    await chat.say("wangfang", "/in")
    await chat.line("clock: 2026-12-06 13:00")
    out = await chat.say("wangfang", "/out")
    assert out[-1]["text"].endswith("加班申请 #1 已批准：本次休息日加班记为 3 小时（第二十五条）。")
    assert (await request_of(app, 1)).payload["hours"] == 3  # the approved plan stays as approved
    rows = await report(app, SUN, SUN, "zh-CN")
    assert row_of(rows, "工号", "wangfang")["已批准加班小时"] == "3"


async def test_a_closed_month_keeps_its_overtime_whatever_is_approved_later(
    app: App, clock: FakeClock
) -> None:
    """November closes at 00:00 on 12-03 (第三十七条): an approval after that does not move its report."""
    await roster(app, {"wangfang": "D-", "chenjing": "D-"}, start=date(2026, 11, 28))
    clock.set(local("2026-11-29 09:00"))
    chat = Chat(app, clock)
    await chat.say("wangfang", "/in")  # #1
    await chat.say("liujun", "press ✅ 批准")
    await chat.say("chenjing", "/in")  # #2: its card is the one 刘军 presses below
    await chat.line("clock: 2026-11-29 11:00")
    await chat.say("wangfang", "/out")
    await chat.say("chenjing", "/out")
    await chat.line("clock: 2026-12-02 12:00")
    before = await report(app, date(2026, 11, 28), date(2026, 11, 29), "zh-CN")
    await chat.line("clock: 2026-12-03 00:00")
    await chat.say("liujun", "press ✅ 批准")  # #2, approved after the month closed
    assert (await request_of(app, 2)).payload["hours"] == 2  # the request itself says what was worked
    after = await report(app, date(2026, 11, 28), date(2026, 11, 29), "zh-CN")
    assert after == before
    figures = {r["工号"]: r["已批准加班小时"] for r in after if r["工号"] in ("wangfang", "chenjing")}
    assert figures == {"wangfang": "2", "chenjing": "0"}
    assert dt.date(2026, 11, 29).weekday() == 6  # a Sunday: the rest day of the roster above
