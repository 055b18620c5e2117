"""Leave: notice periods, who decides by length, the roster marked, late sick notice flagged."""

from __future__ import annotations

from datetime import date

import pytest

from bot import roster_store
from bot.app import App
from bot.clock import FakeClock
from tests.helpers import Chat, roster


@pytest.fixture
async def rostered(app: App) -> App:
    await roster(app, {"wangfang": "DDDD-DDDDDDD", "zhanglei": "DDDDD-DDDDDD"})
    return app


@pytest.mark.parametrize(
    ("line", "decider"),
    [
        ("/leave 事假 12-08 12-08 家里有事", "zhanglei"),
        ("/leave 事假 12-08 12-10 搬家", "liujun"),
        ("/leave 年假 12-08 12-12 旅行", "wangjianguo"),
    ],
)
async def test_decider_by_length(rostered: App, clock: FakeClock, line: str, decider: str) -> None:
    chat = Chat(rostered, clock)
    sent = await chat.say("wangfang", line)
    assert any(m["to"] == decider and m["buttons"][:2] == ["✅ 批准", "❌ 驳回"] for m in sent), sent


async def test_a_lead_never_decides_their_own_leave(rostered: App, clock: FakeClock) -> None:
    chat = Chat(rostered, clock)
    sent = await chat.say("zhanglei", "/leave 事假 12-08 12-08 体检")
    assert any(m["to"] == "liujun" and m["buttons"] for m in sent)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/leave 事假 12-02 12-02 急事", "事假须至少提前 3 天申请（第四十九条）"),
        ("/leave 年假 12-05 12-05 休息", "年休假须至少提前 7 天申请（第五十二条）"),
        ("/leave 事假 12-09 12-08 x", "结束日期早于开始日期"),
        ("/leave 旅游假 12-09 12-09 x", "没有“旅游假”这种假别"),
        ("/leave 病假 12-40 下午 x", "“12-40”不是日期"),
        ("/leave 事假 12-08 12-40 x", "“12-40”不是日期"),
        ("/leave 事假 12-08", "用法：/leave"),  # no reason
    ],
)
async def test_refusals(rostered: App, clock: FakeClock, line: str, expected: str) -> None:
    chat = Chat(rostered, clock)
    sent = await chat.say("wangfang", line)
    assert len(sent) == 1 and expected in sent[0]["text"], sent


async def test_one_date_and_a_reason_ask_for_that_one_day(rostered: App, clock: FakeClock) -> None:
    """`/leave 事假 12-08 搬家`: the word after the date is neither an end date nor 上午/下午, so it is the
    reason and the leave is that one day (1 day of personal leave: the team lead decides, 第四十八条)."""
    chat = Chat(rostered, clock)
    sent = await chat.say("wangfang", "/leave 事假 12-08 搬家")
    card = next(m for m in sent if m["to"] == "zhanglei")
    assert "#1 请假：王芳 事假（无薪） 12-08 至 12-08（1 天），事由：搬家" in card["text"], card


async def test_approval_marks_the_roster(rostered: App, clock: FakeClock) -> None:
    chat = Chat(rostered, clock)
    await chat.say("wangfang", "/leave 事假 12-08 12-09 搬家")
    done = await chat.say("liujun", "press 批准")
    assert any(m["to"] == "wangfang" and "已批准" in m["text"] for m in done)
    async with rostered.db.read() as conn:
        entries = await roster_store.between(conn, date(2026, 12, 8), date(2026, 12, 9), ["wangfang"])
    assert [e.note for e in entries] == ["leave:personal", "leave:personal"]


async def test_sick_leave_less_than_an_hour_before_is_accepted_but_flagged(
    rostered: App, clock: FakeClock
) -> None:
    chat = Chat(rostered, clock)
    clock.set(clock.now().replace(hour=0, minute=30))  # 08:30 local, shift at 09:00
    sent = await chat.say("wangfang", "/leave 病假 12-01 12-01 发烧")
    mine = next(m for m in sent if m["to"] == "wangfang")
    assert "这次已标记" in mine["text"]
    card = next(m for m in sent if m["to"] == "zhanglei")
    assert "班前不足1小时告知，已标记" in card["text"]


async def test_step_by_step_form(rostered: App, clock: FakeClock) -> None:
    chat = Chat(rostered, clock)
    ask = await chat.say("chenjing", "/leave")
    assert "personal leave" in ask[0]["buttons"]
    await chat.say("chenjing", "press sick leave")
    await chat.say("chenjing", "12-05")
    await chat.say("chenjing", "press Just that day")
    sent = await chat.say("chenjing", "doctor")
    assert any(m["to"] == "zhanglei" and "陈静" in m["text"] for m in sent)
    assert any(
        m["to"] == "chenjing" and m["text"].startswith("Your leave request went to 张磊") for m in sent
    )
