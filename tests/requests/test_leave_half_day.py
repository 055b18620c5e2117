"""Half-day leave (issue 14): `/leave TYPE DATE 上午|下午|am|pm REASON` and the 上午/下午 buttons of the
step-by-step form, where the type's unit allows it (policy `min_unit_days` ≤ 0.5); 0.5 day in the tier,
on the card, on the roster and in the attendance report, whose other half is judged as worked. Runs on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

from bot import roster_store
from bot.app import App
from bot.clock import FakeClock
from handlers.common import policy
from handlers.report import period_verdicts
from schedules.report import summarise
from tests.conftest import local
from tests.helpers import Chat, roster


async def test_a_morning_off_counts_half_a_day_and_the_afternoon_is_judged(
    app: App, clock: FakeClock
) -> None:
    """王芳 works 09:00–18:00 on 12-02; a sick morning (病假, unit 0.5) is 0.5 day, so her lead 张磊 decides
    (第四十八条: up to 1 day). Approved, the roster says leave:sick#am; she clocks in at 13:30, the shift's
    midpoint, which starts her afternoon on time (without the leave it would be 4.5 hours late, 第三十条:
    absent half a day). The report counts 0.5 leave day, 1 day worked, no late, no absence."""
    await roster(app, {"wangfang": "DDDD", "zhanglei": "DDDD"})
    chat = Chat(app, clock)
    sent = await chat.say("wangfang", "/leave 病假 12-02 上午 看牙")
    card = next(m for m in sent if m["to"] == "zhanglei")
    assert "王芳 病假 12-02 上午半天（0.5 天），事由：看牙" in card["text"], card
    assert card["buttons"][:2] == ["✅ 批准", "❌ 驳回"]
    await chat.say("zhanglei", "press 批准")
    async with app.db.read() as conn:
        entry = await roster_store.entry(conn, "wangfang", date(2026, 12, 2))
    assert entry is not None and entry.note == "leave:sick#am"
    await chat.line("clock: 2026-12-02 13:30")
    await chat.say("wangfang", "/in")
    await chat.line("clock: 2026-12-02 18:00")
    await chat.say("wangfang", "/out")
    await chat.line("clock: 2026-12-03 08:00")
    verdicts, teams, _ = await period_verdicts(app, date(2026, 12, 2), date(2026, 12, 2), "service")
    mine = [v for v in verdicts if v.facts.person_id == "wangfang" and v.facts.day == date(2026, 12, 2)]
    assert [(v.kind.value, v.leave_days, v.late, v.absent_half_days) for v in mine] == [
        ("on_time", 0.5, 0, 0)
    ]
    row = next(
        r
        for r in summarise(verdicts, (date(2026, 12, 2), date(2026, 12, 2)), policy(app), team_of=teams)
        if r.person_id == "wangfang"
    )
    assert (row.leave_days, row.days_worked, row.late_count, row.absent_half_days) == (0.5, 1, 0, 0)
    assert row.unpaid_leave_days == 0  # 病假 is paid


async def test_an_unpaid_afternoon_is_half_an_unpaid_day(app: App, clock: FakeClock) -> None:
    """事假 (unpaid, 第四十九条) on the afternoon of 12-07, asked 12-01 (3 days ahead): 0.5 unpaid day."""
    await roster(app, {"wangfang": "DDDDDDDD"})
    chat = Chat(app, clock)
    await chat.say("wangfang", "/leave 事假 12-07 下午 办证")
    await chat.say("zhanglei", "press 批准")
    clock.set(local("2026-12-08 08:00"))
    verdicts, teams, _ = await period_verdicts(app, date(2026, 12, 7), date(2026, 12, 7), "service")
    rows = summarise(verdicts, (date(2026, 12, 7), date(2026, 12, 7)), policy(app), team_of=teams)
    row = next(r for r in rows if r.person_id == "wangfang")
    assert (row.leave_days, row.unpaid_leave_days) == (0.5, 0.5)
    # No punches at all: the morning she owed is half a day of absence (第三十三条: a written warning),
    # never a whole day, since the afternoon is leave.
    assert (row.absent_half_days, row.warning, row.demerits) == (1, 1, 0)


async def test_half_days_refused_where_the_type_counts_whole_days(app: App, clock: FakeClock) -> None:
    await roster(app, {"wangfang": "DDDDDDDDDDDD", "chenjing": "DDDDDDDDDDDD"})
    chat = Chat(app, clock)
    zh = await chat.say("wangfang", "/leave 年假 12-10 下午 旅行")
    assert [m["text"] for m in zh] == ["年休假以 1 天为单位，不能请半天（第五十二条）。"]
    en = await chat.say("chenjing", "/leave annual 12-10 pm trip")
    assert [m["text"] for m in en] == ["annual leave is taken in units of 1 day, not half days (Article 52)."]
    rest = await chat.say("chenjing", "/leave sick 12-20 am x")  # no roster that day: not a rest day
    assert any(m["to"] == "chenjing" and "(0.5 days)" in m["text"] for m in rest), rest


async def test_the_form_offers_morning_and_afternoon_and_keeps_the_other_answers(
    app: App, clock: FakeClock
) -> None:
    await roster(app, {"chenjing": "DDDDDDDD"})
    chat = Chat(app, clock)
    await chat.say("chenjing", "/leave")
    await chat.say("chenjing", "press day in lieu")
    end = await chat.say("chenjing", "12-05")
    assert end[0]["buttons"] == ["Just that day", "Morning only", "Afternoon only"], end
    bad = await chat.say("chenjing", "someday")
    assert "is not a date" in bad[0]["text"] or "not a date" in bad[0]["text"], bad
    await chat.say("chenjing", "pm")
    sent = await chat.say("chenjing", "overtime last week")
    mine = next(m for m in sent if m["to"] == "chenjing")
    assert "陈静 day in lieu 12-05 afternoon (0.5 days), reason: overtime last week" in mine["text"], mine
    await chat.say("chenjing", "/leave")
    await chat.say("chenjing", "press annual leave")
    end = await chat.say("chenjing", "12-20")
    assert end[0]["buttons"] == ["Just that day"]  # 年休假 is taken by the day: no half-day buttons
    refused = await chat.say("chenjing", "am")
    assert refused[0]["text"].startswith(
        "annual leave is taken in units of 1 day, not half days (Article 52)."
    )


async def test_an_afternoon_off_starts_at_the_shifts_midpoint(app: App, clock: FakeClock) -> None:
    """王芳's 12-01 shift is 09:00–18:00, so an afternoon off starts at 13:30. Sick leave asked at 12:00 is
    1.5 hours ahead of it: not late (第五十条 asks 1 hour), although the shift itself began at 09:00; asked at
    12:45 it is flagged. Undecided, it expires at 13:30, the start of what it covers (第四十七条)."""
    await roster(app, {"wangfang": "DDDD", "zhanglei": "DDDD"})
    chat = Chat(app, clock)
    await chat.line("clock: 2026-12-01 12:00")
    sent = await chat.say("wangfang", "/leave 病假 12-01 下午 发烧")
    mine = next(m["text"] for m in sent if m["to"] == "wangfang")
    assert mine.startswith("请假申请已提交给 张磊：#1 请假：王芳 病假 12-01 下午半天（0.5 天）"), mine
    await chat.say("wangfang", "press 撤回 #1")
    await chat.line("clock: 2026-12-01 12:45")
    late = await chat.say("wangfang", "/leave 病假 12-01 下午 发烧")
    assert any(m["to"] == "wangfang" and "这次已标记" in m["text"] for m in late), late
    assert await chat.line("clock: 2026-12-01 13:29") == []
    expired = await chat.line("clock: 2026-12-01 13:30")
    assert any(m["to"] == "wangfang" and m["text"].startswith("请假申请已过期") for m in expired), expired
