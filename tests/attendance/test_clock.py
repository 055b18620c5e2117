"""Clock-in and clock-out through the chat with the fake clock: verdicts, duplicates, reminders."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot import requests as engine
from bot.app import App
from bot.clock import FakeClock
from bot.schema import audit_log, punches
from bot.settings import Settings
from tests.conftest import REPO, local
from tests.helpers import Chat, deskmate, roster


@pytest.fixture
async def rostered(app: App) -> App:
    await roster(
        app,
        {"wangfang": "DDDDDDDDDD", "liuyang": "EEEEEEEEEE", "chenjing": "DDDDDDDDDD"},
        start=date(2026, 11, 30),
    )
    return app


async def punch_rows(app: App) -> list[tuple[str, str, str]]:
    async with app.db.read() as conn:
        rows = await conn.execute(
            sa.select(punches.c.person_id, punches.c.kind, punches.c.verdict).order_by(punches.c.id)
        )
        return [tuple(r) for r in rows]


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-12-01 08:50", "准时。"),
        ("2026-12-01 09:05", "晚到 5 分钟，在宽限期内，不计迟到；本月还可用 2 次（第二十九条）。"),
        ("2026-12-01 09:06", "迟到 6 分钟（第三十条）。"),
        ("2026-12-01 09:31", "晚到 31 分钟，属于严重迟到（第三十条）。"),
        (
            "2026-12-01 11:01",
            "晚到 121 分钟，超过2小时且没有已批准的假期，按旷工半天处理（第三十条、第三十二条）。",
        ),
    ],
)
async def test_clock_in_verdicts(rostered: App, clock: FakeClock, at: str, expected: str) -> None:
    clock.set(local(at))
    chat = Chat(rostered, clock)
    sent = await chat.say("wangfang", "打卡")
    assert sent[0]["text"].startswith(f"✅ 上班打卡 {at[-5:]}：白班 09:00–18:00\n")
    assert sent[0]["text"].endswith(expected)


async def test_second_clock_in_is_polite_and_not_recorded(rostered: App, clock: FakeClock) -> None:
    clock.set(local("2026-12-01 08:55"))
    chat = Chat(rostered, clock)
    await chat.say("wangfang", "/in")
    again = await chat.say("wangfang", "签到")
    assert again[0]["text"] == "您已在 08:55 打过上班卡（白班 09:00–18:00），不用重复打卡。"
    assert await punch_rows(rostered) == [("wangfang", "clock_in", "on_time")]
    async with rostered.db.read() as conn:
        audited = (
            await conn.execute(sa.select(audit_log.c.action).where(audit_log.c.action == "punch.clock_in"))
        ).all()
    assert len(audited) == 1


async def test_too_early_and_no_shift(rostered: App, clock: FakeClock) -> None:
    clock.set(local("2026-12-01 07:30"))
    chat = Chat(rostered, clock)
    early = await chat.say("wangfang", "打卡")
    assert (
        early[0]["text"]
        == "上班卡最早在班次开始前60分钟打：您的班次 12-01 09:00 开始，08:00 起可以打卡（第二十八条）。"
    )
    assert await punch_rows(rostered) == []
    sent = await chat.say("zhaoqiang", "打卡")  # not on the roster today
    assert any(m["to"] == "zhaoqiang" and "今天（12-01）没有排班" in m["text"] for m in sent)
    assert any(m["to"] == "zhanglei" and "赵强 在 07:30 打了上班卡" in m["text"] for m in sent)


async def test_grace_is_used_three_times_a_month(rostered: App, clock: FakeClock) -> None:
    chat = Chat(rostered, clock)
    texts = []
    for day in ("01", "02", "03", "04"):
        clock.set(local(f"2026-12-{day} 09:03"))
        texts.append((await chat.say("wangfang", "/in"))[0]["text"])
    assert "本月还可用 0 次" in texts[2]
    assert texts[3].endswith("迟到 3 分钟（第二十九条、第三十条）。")


async def test_clock_out_early_overtime_and_missing_clock_in(rostered: App, clock: FakeClock) -> None:
    chat = Chat(rostered, clock)
    clock.set(local("2026-12-01 08:59"))
    await chat.say("wangfang", "/in")
    clock.set(local("2026-12-01 17:40"))
    asked = await chat.say("wangfang", "下班")
    assert asked[0]["buttons"] == ["确认下班打卡", "取消"]  # early: asked first, stored on the press
    early = await chat.say("wangfang", "press 1")
    assert early[0]["text"].startswith("✅ 下班打卡 17:40：白班 09:00–18:00")
    assert early[0]["text"].endswith("比下班时间早 20 分钟，属于早退（第三十条）。")
    clock.set(local("2026-12-01 23:50"))
    late = await chat.say("liuyang", "签退")
    assert "延时 50 分钟，记 1 个加班单位" in late[0]["text"]
    assert "系统里没有您 12-01 的上班卡" in late[0]["text"]
    again = await chat.say("liuyang", "/out")
    assert again[0]["text"].startswith("您已在 23:50 打过下班卡")


async def test_shifts_and_onduty(rostered: App, clock: FakeClock) -> None:
    chat = Chat(rostered, clock)
    clock.set(local("2026-12-01 09:20"))
    await chat.say("wangfang", "/in")
    mine = (await chat.say("wangfang", "我的排班"))[0]["text"]
    assert mine.splitlines()[:2] == ["我未来7天的排班：", "12-01 周二  白班 09:00–18:00"]
    view = (await chat.say("zhanglei", "谁在班"))[0]["text"]
    assert "王芳（白班）✅ 09:20 已打卡（迟到）" in view
    assert "陈静（白班）⚠️ 已过宽限期仍未打卡" in view
    refused = await chat.say("wangfang", "/onduty")
    assert "不能使用这个功能" in refused[0]["text"]


async def test_console_scenario_reminded_late_and_lead_alerted(tmp_path: Path) -> None:
    """The issue's script: an agent is reminded, clocks in late, the lead is alerted about another agent."""

    from tests.helpers import json_lines

    script = "\n".join(
        [
            "clock: 2026-12-01 08:40",
            "clock: 2026-12-01 08:46",
            "clock: 2026-12-01 09:07",
            "wangfang: 打卡",
            "clock: 2026-12-01 11:05",
        ]
    )
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}",
        "ORG_FILE": "examples/org.yaml",
        "PATH": "/usr/bin:/bin",
        "KB_SEMANTIC": "false",
    }
    await asyncio.to_thread(
        deskmate, "roster", "import", "examples/roster.csv", env=env, cwd=REPO, check=True
    )
    result = await asyncio.to_thread(
        deskmate, "console", "--script", "-", "--json", input=script, env=env, cwd=REPO, check=True
    )
    messages = json_lines(result.stdout)
    assert any(m["to"] == "wangfang" and m["text"].startswith("⏰ 王芳") for m in messages)
    assert any(m["to"] == "wangfang" and "迟到 7 分钟" in m["text"] for m in messages)
    alerts = [m for m in messages if m["text"].startswith("❗") and m["at"].endswith("11:05:00+08:00")]
    # an agent's alert goes to their lead, a lead's to their supervisor (马强 of 投诉组 is on the day shift)
    assert alerts and all(m["to"] in {"zhanglei", "lina", "maqiang", "liujun", "chenhui"} for m in alerts)
    assert any(m["to"] in {"liujun", "chenhui"} and "马强" in m["text"] for m in alerts)
    names = {"zhanglei": "张磊", "lina": "李娜", "maqiang": "马强", "liujun": "刘军", "chenhui": "陈辉"}
    assert not any(names[m["to"]] in m["text"] for m in alerts)  # nobody is alerted about themselves


async def test_reminders_once_across_restart(rostered: App, clock: FakeClock) -> None:
    chat = Chat(rostered, clock)
    await chat.line("clock: 2026-12-01 08:40")
    first = await chat.line("clock: 2026-12-01 08:50")
    assert [m["to"] for m in first if m["text"].startswith("⏰")] == ["chenjing", "wangfang"] or sorted(
        m["to"] for m in first if m["text"].startswith("⏰")
    ) == ["chenjing", "wangfang"]
    restarted = App(rostered.settings, clock=clock)
    await restarted.prepare()
    try:
        chat2 = Chat(restarted, clock)
        await restarted.run_due(local("2026-12-01 08:50"))
        await restarted.deliver()
        again = await chat2.line("clock: 2026-12-01 08:55")
        assert not any(m["text"].startswith("⏰") for m in again)
    finally:
        await restarted.close()


async def test_reminder_missed_while_down_is_sent_late_only_while_useful(
    rostered: App, clock: FakeClock
) -> None:
    chat = Chat(rostered, clock)
    await chat.line("clock: 2026-12-01 08:00")
    # The bot was down from 08:00 to 09:30: the pre-shift reminder is useless now, the nudge is not.
    late = await chat.line("clock: 2026-12-01 09:30")
    assert not any(m["text"].startswith("⏰") for m in late)
    assert {m["to"] for m in late if m["text"].startswith("⚠️")} == {"wangfang", "chenjing"}


@pytest.mark.parametrize("day", ["2026-03-29", "2026-10-25"])
async def test_dst_in_berlin_neither_drops_nor_doubles(tmp_path: Path, day: str) -> None:
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    berlin = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'b.db'}",
        timezone="Europe/Berlin",
        kb_semantic=False,
        org_file=REPO / "examples" / "org.yaml",  # settings load no org by default
        roster_file=None,
        policy_file=tmp_path / "none.yaml",
        _env_file=None,  # type: ignore[call-arg]
    )
    tz = ZoneInfo("Europe/Berlin")
    change = date.fromisoformat(day)
    clock = FakeClock(local(f"{change - timedelta(days=1)} 20:00", tz))
    app = App(berlin, clock=clock)
    await app.prepare()
    try:
        await roster(app, {"wangfang": "DD", "liuyang": "DD"}, start=change)
        chat = Chat(app, clock)
        sent = []
        moment = clock.now()
        while moment < local(f"{day} 10:00", tz):
            moment += timedelta(minutes=10)
            clock.set(moment)
            await app.run_due(moment)
            await app.deliver()
            if moment == local(f"{day} 09:00", tz):
                sent += await chat.say("liuyang", "打卡")
        sent = chat.sent
        before = [m for m in sent if m["text"].startswith("⏰")]
        assert sorted(m["to"] for m in before) == ["liuyang", "wangfang"]
        assert {m["at"][11:16] for m in before} == {"08:50"}  # due 08:45 local, seen at the 08:50 tick
        nudges = [m for m in sent if m["text"].startswith("⚠️")]
        assert [m["to"] for m in nudges] == ["wangfang"] and nudges[0]["at"][11:16] == "09:10"
        verdict = next(m for m in sent if m["to"] == "liuyang" and m["text"].startswith("✅"))
        assert verdict["text"].endswith("准时。")
    finally:
        await app.close()


async def test_restart_between_due_and_sent_delivers_once(rostered: App, clock: FakeClock) -> None:
    await rostered.run_due(local("2026-12-01 08:40"))
    await rostered.run_due(local("2026-12-01 08:50"))  # queued in the outbox, never delivered: a crash
    restarted = App(rostered.settings, clock=clock)
    await restarted.prepare()
    try:
        chat = Chat(restarted, clock)
        await restarted.run_due(local("2026-12-01 08:55"))
        await restarted.deliver()
        reminders = [m for m in chat.sent if m["text"].startswith("⏰")]
        assert sorted(m["to"] for m in reminders) == ["chenjing", "wangfang"]
    finally:
        await restarted.close()


async def test_concurrent_double_tap_records_one_punch(rostered: App, clock: FakeClock) -> None:
    import asyncio

    from bot.messages import Incoming

    clock.set(local("2026-12-01 08:55"))
    chat = Chat(rostered, clock)
    agent = await rostered.person("wangfang")
    await asyncio.gather(
        *(
            rostered.handle(Incoming("console", "wangfang", "wangfang", agent, clock.now(), text="打卡"))
            for _ in range(5)
        )
    )
    await rostered.deliver()
    assert await punch_rows(rostered) == [("wangfang", "clock_in", "on_time")]
    texts = [m["text"] for m in chat.sent]
    assert sum(t.startswith("✅ 上班打卡") for t in texts) == 1
    assert sum(t.startswith("您已在 08:55 打过上班卡") for t in texts) == 4


async def test_overnight_shift_belongs_to_the_day_it_starts(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "shifts:\n"
        "  - {code: day, name_zh: 白班, name_en: day, start: '09:00', end: '18:00', aliases: [白]}\n"
        "  - {code: night, name_zh: 夜班, name_en: night, start: '22:00', end: '06:00', aliases: [夜]}\n"
        "roster:\n  rotation: [day, night]\n"
        "staffing:\n  default: {day: 1, night: 1}\n",
        encoding="utf-8",
    )
    clock = FakeClock(local("2026-12-01 21:00"))
    app = App(
        Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'n.db'}",
            policy_file=policy,
            kb_semantic=False,
            roster_file=None,
            org_file=REPO / "examples/org.yaml",
            _env_file=None,
        ),  # type: ignore[call-arg]
        clock=clock,
    )
    await app.prepare()
    try:
        from bot import roster_store

        async with app.db.transaction() as conn:
            await roster_store.upsert(
                conn,
                [("wangfang", date(2026, 12, 1), "night"), ("wangfang", date(2026, 12, 2), None)],
                clock.now(),
            )
        chat = Chat(app, clock)
        reminded = await chat.line("clock: 2026-12-01 21:45")
        assert any(m["to"] == "wangfang" and "夜班（22:00–06:00）" in m["text"] for m in reminded)
        clock.set(local("2026-12-01 22:03"))
        assert (await chat.say("wangfang", "打卡"))[0]["text"].startswith(
            "✅ 上班打卡 22:03：夜班 22:00–06:00"
        )
        clock.set(local("2026-12-02 06:40"))
        out = await chat.say("wangfang", "下班")
        assert out[0]["text"].startswith("✅ 下班打卡 06:40：夜班 22:00–06:00")
        assert "记 1 个加班单位" in out[0]["text"]
        async with app.db.read() as conn:
            days = (await conn.execute(sa.select(punches.c.kind, punches.c.shift_day))).all()
        assert sorted(days) == [("clock_in", date(2026, 12, 1)), ("clock_out", date(2026, 12, 1))]
    finally:
        await app.close()


async def test_a_rest_day_punch_says_so_and_names_the_next_shift_with_its_date(
    app: App, clock: FakeClock
) -> None:
    """The bug: on a rest day, /in answered "您的班次 09:00 开始" (tomorrow's start), which reads as today.
    Work on a rest day is overtime, approved by the supervisor (第二十五条): the punch becomes an overtime
    request to 刘军 (王芳's supervisor), who is sent its card; a second /in names it, never a second one."""
    await roster(app, {"wangfang": "D-D", "zhanglei": "D-D"}, start=date(2026, 12, 5))
    clock.set(local("2026-12-06 08:30"))  # a Sunday, rest; the next shift is Monday 12-07 09:00
    chat = Chat(app, clock)
    sent = await chat.say("wangfang", "/in")
    (reply,) = [m["text"] for m in sent if m["to"] == "wangfang"]
    assert reply.splitlines() == [
        "今天（12-06）是您的休息日：08:30 的打卡已记录，但不计出勤。",
        "您的下一个班次：12-07 周一 白班 09:00–18:00。",
        "休息日上班算加班，须由主管审批：已为您提交今天的加班申请 #1，由刘军审批，"
        "时长以上下班打卡为准（第二十五条）。",
    ]
    (card,) = [m for m in sent if m["to"] == "liujun"]
    assert "王芳 12-06 休息日加班（08:30 打上班卡，时长以上下班打卡为准）" in card["text"]
    assert card["buttons"][:2] == ["✅ 批准", "❌ 驳回"]
    again = await chat.say("wangfang", "/in")
    assert [m["text"] for m in again] == [
        "今天的打卡已经记录过了。\n您今天的加班申请 #1 正在等刘军审批（第二十五条）。"
    ]
    await chat.say("liujun", "press ✅ 批准")
    approved = await chat.say("wangfang", "打卡")
    assert approved[-1]["text"].endswith("已按您已批准的加班申请 #1 记录（刘军批准，第二十五条）。")
    await chat.line("clock: 2026-12-06 12:45")
    out = await chat.say("wangfang", "/out")
    assert [m["text"] for m in out] == [
        "✅ 下班打卡 12:45：休息日 08:30–12:45，共 4 小时 15 分钟。\n"
        "加班申请 #1 已批准：本次休息日加班记为 4.25 小时（第二十五条）。"
    ]
    twice = await chat.say("wangfang", "/out")
    assert [m["text"] for m in twice] == ["您今天已在 12:45 打过下班卡。"]


async def test_a_rest_day_punch_in_english(app: App, clock: FakeClock) -> None:
    await roster(app, {"chenjing": "D-D"}, start=date(2026, 12, 5))
    clock.set(local("2026-12-06 10:00"))
    chat = Chat(app, clock)
    sent = await chat.say("chenjing", "/in")
    (reply,) = [m["text"] for m in sent if m["to"] == "chenjing"]
    assert reply.splitlines()[-1] == (
        "Work on a rest day is overtime and needs the supervisor's approval: overtime request #1 for today "
        "went to 刘军; its length is taken from your clock-in and clock-out (Article 25)."
    )
    # decided after the fact, it does not expire at the day's end like an advance request
    await chat.line("clock: 2026-12-08 10:00")
    async with app.db.read() as conn:
        request = await engine.get(conn, 1)
    assert request is not None and (request.kind, request.state) == ("overtime", "pending")


async def test_whoever_is_named_as_told_was_told(app: App, clock: FakeClock) -> None:
    """A lead's punch without a shift goes to their supervisor; a manager's to nobody, and says nobody."""
    clock.set(local("2026-12-06 08:30"))
    chat = Chat(app, clock)
    lead = await chat.say("zhanglei", "/in")
    assert any(m["to"] == "liujun" and "张磊 在 08:30 打了上班卡" in m["text"] for m in lead)
    assert not any(m["to"] == "zhanglei" and "打了上班卡" in m["text"] for m in lead)
    assert "已告知刘军核实。" in next(m["text"] for m in lead if m["to"] == "zhanglei")
    manager = await chat.say("wangjianguo", "/in")
    assert [m["to"] for m in manager] == ["wangjianguo"]
    assert "核实" not in manager[0]["text"] and "告知" not in manager[0]["text"]
