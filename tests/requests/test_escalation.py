"""Escalations: routed to the on-duty level, climbing by themselves with the fake clock, emergencies
skipping levels with the skipped levels told, acknowledge / resolve / escalate further."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from bot.app import App
from bot.clock import FakeClock
from bot.schema import audit_log
from tests.helpers import Chat, roster


@pytest.fixture
async def on_shift(app: App) -> App:
    await roster(app, {"wangfang": "DDDD", "zhanglei": "DDDD", "lina": "EEEE"})
    return app


async def escalate(
    chat: Chat, person: str, description: str, emergency: bool = False
) -> list[dict[str, Any]]:
    await chat.say(person, "/escalate")
    await chat.say(person, "press 客户刁难")
    await chat.say(person, description)
    await chat.say(person, "press 没有单号")
    return await chat.say(person, "press 紧急" if emergency else "press 普通")


async def test_escalation_nobody_acknowledges_climbs_to_the_manager(on_shift: App, clock: FakeClock) -> None:
    chat = Chat(on_shift, clock)
    await chat.line("clock: 2026-12-01 10:00")
    sent = await escalate(chat, "wangfang", "客户要求超额赔偿")
    card = next(m for m in sent if m["to"] == "zhanglei")
    assert card["buttons"] == ["✋ 确认接收", "✅ 已解决", "⬆️ 继续上报"]
    assert "5 分钟内确认接收（第八十三条）" in card["text"]
    assert any(m["to"] == "wangfang" and "已上报给 张磊" in m["text"] for m in sent)
    assert await chat.line("clock: 2026-12-01 10:04") == []
    moved = await chat.line("clock: 2026-12-01 10:05")
    assert any(m["to"] == "liujun" and "15 分钟内确认接收" in m["text"] for m in moved)
    assert any(m["to"] == "wangfang" and "张磊 未在时限内确认" in m["text"] for m in moved)
    assert any(m["to"] == "zhanglei" and "计入当月考核" in m["text"] for m in moved)
    assert any(m["edit_of"] and m["to"] == "zhanglei" for m in moved)
    top = await chat.line("clock: 2026-12-01 10:20")
    assert any(m["to"] == "wangjianguo" and "30 分钟内确认接收" in m["text"] for m in top)
    # Unacknowledged by the manager: the approver of last resort (the demo org's admin) takes it, with the
    # manager's 30 minutes; above them nothing moves, so they are reminded every 30 minutes.
    last = await chat.line("clock: 2026-12-01 10:50")
    assert any(m["to"] == "admin" and "30 分钟内确认接收" in m["text"] and m["buttons"] for m in last)
    assert not any(m["to"] == "admin" for m in await chat.line("clock: 2026-12-01 11:19"))
    again = await chat.line("clock: 2026-12-01 11:20")
    assert any(m["to"] == "admin" and m["text"].startswith("提醒") for m in again)
    async with on_shift.db.read() as conn:
        actions = (await conn.execute(sa.select(audit_log.c.action))).scalars().all()
    assert actions.count("escalation.auto_escalated") == 3


async def test_acknowledge_then_resolve(on_shift: App, clock: FakeClock) -> None:
    chat = Chat(on_shift, clock)
    await chat.line("clock: 2026-12-01 10:00")
    await escalate(chat, "wangfang", "客户辱骂")
    acked = await chat.say("zhanglei", "press 确认接收")
    assert any(m["to"] == "wangfang" and "张磊 已确认接收" in m["text"] for m in acked)
    assert await chat.line("clock: 2026-12-01 10:10") == []  # acknowledged: no climbing
    await chat.say("zhanglei", "press 已解决")
    done = await chat.say("zhanglei", "已接手并安抚客户")
    assert any(m["to"] == "wangfang" and "处理意见：已接手并安抚客户" in m["text"] for m in done)


async def test_escalate_further_with_a_note(on_shift: App, clock: FakeClock) -> None:
    chat = Chat(on_shift, clock)
    await chat.line("clock: 2026-12-01 10:00")
    await escalate(chat, "wangfang", "要求赔偿800元")
    await chat.say("zhanglei", "press 继续上报")
    moved = await chat.say("zhanglei", "超出组长权限（第七十六条）")
    assert any(m["to"] == "liujun" and m["buttons"] for m in moved)
    assert any(m["to"] == "wangfang" and "超出组长权限" in m["text"] for m in moved)


async def test_emergency_goes_to_the_top_and_tells_skipped_levels(on_shift: App, clock: FakeClock) -> None:
    chat = Chat(on_shift, clock)
    await chat.line("clock: 2026-12-01 10:00")
    sent = await escalate(chat, "wangfang", "客户扬言伤害自己", emergency=True)
    assert any(m["to"] == "wangjianguo" and m["buttons"] for m in sent)
    told = {m["to"] for m in sent if "越级直接报告（第八十六条）" in m["text"]}
    assert told == {"zhanglei", "liujun"}


async def test_lead_off_duty_goes_to_the_shift_lead(on_shift: App, clock: FakeClock) -> None:
    chat = Chat(on_shift, clock)
    await chat.line("clock: 2026-12-01 19:00")  # zhanglei's day shift is over; lina is on the evening shift
    await roster(on_shift, {"wangfang": "EEEE"})
    sent = await escalate(chat, "wangfang", "晚上客户投诉")
    assert any(m["to"] == "lina" and m["buttons"] for m in sent)


async def test_only_the_decider_or_above_may_act(on_shift: App, clock: FakeClock) -> None:
    chat = Chat(on_shift, clock)
    await chat.line("clock: 2026-12-01 10:00")
    await escalate(chat, "wangfang", "x")
    token = chat.transport.latest_buttons["zhanglei"][0]["token"]
    chat.transport.latest_buttons["liuyang"] = [{"label": "x", "token": token}]
    refused = await chat.say("liuyang", "press 1")
    assert "应由 张磊 或更高一级" in refused[0]["text"]
    listing = await chat.say("zhanglei", "/escalations")
    assert "未结束的上报（1 项）" in listing[0]["text"]
    assert "没有这个命令" not in (await chat.say("wangfang", "/escalations"))[0]["text"]
