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
    assert await chat.line("clock: 2026-12-01 10:02") == []
    # Halfway to 第八十三条's 5 minutes, before the deadline passes, the lead is reminded with the buttons.
    reminded = await chat.line("clock: 2026-12-01 10:03")
    assert [m["to"] for m in reminded] == ["zhanglei"], reminded
    assert reminded[0]["text"].startswith(
        "提醒：这项上报仍未确认接收，请在 12-01 10:05 前确认（第八十三条），逾期将自动升级给上一级"
    )
    assert reminded[0]["buttons"] == ["✋ 确认接收", "✅ 已解决", "⬆️ 继续上报"]
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


def esc(sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a clock step sent about escalations (attendance alerts of the same minutes left out)."""
    return [m for m in sent if "上报" in m["text"] or "escalation" in m["text"].lower()]


async def test_every_level_is_reminded_before_its_deadline_and_the_top_only_at_its_cadence(
    on_shift: App, clock: FakeClock
) -> None:
    """第八十三条: 5 / 15 / 30 minutes to acknowledge. Each level is reminded halfway (10:02:30, 10:12:30,
    10:35) before the case moves up at the deadline (10:05, 10:20, 10:50). Above the manager the demo
    org's admin (approver of last resort) is the top: no halfway reminder, one every 30 minutes (11:20),
    and the text promises only that. Acknowledged there, the resolution is due by the end of service
    hours (23:00, 第八十五条): reminded halfway (17:25) without promising a move that cannot happen."""
    chat = Chat(on_shift, clock)
    esc(await chat.line("clock: 2026-12-01 10:00"))
    sent = await escalate(chat, "wangfang", "客户要求超额赔偿")
    assert any(m["to"] == "wangfang" and "5 分钟内未确认会自动升级" in m["text"] for m in sent), sent
    esc(await chat.line("clock: 2026-12-01 10:05"))
    assert esc(await chat.line("clock: 2026-12-01 10:12")) == []
    sup = esc(await chat.line("clock: 2026-12-01 10:13"))
    assert [m["to"] for m in sup] == ["liujun"]
    assert "请在 12-01 10:20 前确认（第八十三条），逾期将自动升级给上一级" in sup[0]["text"]
    esc(await chat.line("clock: 2026-12-01 10:20"))
    assert esc(await chat.line("clock: 2026-12-01 10:34")) == []
    mgr = esc(await chat.line("clock: 2026-12-01 10:35"))
    assert [m["to"] for m in mgr] == ["wangjianguo"]
    assert "请在 12-01 10:50 前确认（第八十三条），逾期将自动升级给上一级" in mgr[0]["text"]
    last = esc(await chat.line("clock: 2026-12-01 10:50"))
    assert any(m["to"] == "admin" and m["buttons"] for m in last)
    assert esc(await chat.line("clock: 2026-12-01 11:19")) == []  # no halfway reminder at the top
    top = esc(await chat.line("clock: 2026-12-01 11:20"))
    assert [m["to"] for m in top] == ["admin"]
    assert top[0]["text"].startswith(
        "提醒：这项上报仍未确认接收（第八十三条）。这已是最高一级，确认前每 30 分钟提醒您一次"
    )
    assert "自动升级" not in top[0]["text"]
    assert top[0]["buttons"] == ["✋ 确认接收", "✅ 已解决", "⬆️ 继续上报"]
    assert esc(await chat.line("clock: 2026-12-01 11:49")) == []
    assert [m["to"] for m in esc(await chat.line("clock: 2026-12-01 11:50"))] == ["admin"]
    acked = await chat.say("admin", "press 确认接收")
    assert any(
        m["to"] == "admin" and "请在 12-01 23:00 前给出处理意见（第八十五条）" in m["text"] for m in acked
    )
    assert esc(await chat.line("clock: 2026-12-01 17:24")) == []
    half = esc(await chat.line("clock: 2026-12-01 17:25"))  # halfway from 11:50 to 23:00
    assert [m["to"] for m in half] == ["admin"]
    assert half[0]["text"].startswith(
        "提醒：您已确认接收这项上报，处理意见的期限是 12-01 23:00（第八十五条）。这已是最高一级"
    )
    assert "自动升级" not in half[0]["text"]
    overdue = esc(await chat.line("clock: 2026-12-01 23:00"))
    assert [m["to"] for m in overdue] == ["admin"]
    assert "每 30 分钟提醒您一次" in overdue[0]["text"]


async def test_a_decision_deadline_is_reminded_then_enforced_in_english(
    on_shift: App, clock: FakeClock
) -> None:
    """第八十五条 at the lead: acknowledged at 10:01, the resolution is due at 10:31 (30 minutes). 张磊
    (switched to English) is reminded halfway, at 10:16; at 10:31 the case moves to the supervisor and 陈静
    (en) is told it moved for want of a resolution, citing Article 85."""
    await roster(on_shift, {"chenjing": "DDDD"})
    chat = Chat(on_shift, clock)
    await chat.say("zhanglei", "/lang en")
    esc(await chat.line("clock: 2026-12-01 10:00"))
    await chat.say("chenjing", "/escalate")
    await chat.say("chenjing", "press difficult customer")
    await chat.say("chenjing", "The customer keeps insulting me")
    await chat.say("chenjing", "press No order number")
    sent = await chat.say("chenjing", "press Normal")
    assert any(m["to"] == "zhanglei" and m["buttons"] for m in sent), sent
    esc(await chat.line("clock: 2026-12-01 10:01"))
    acked = await chat.say("zhanglei", "press Acknowledge")
    assert any(m["to"] == "zhanglei" and "resolution by 12-01 10:31 (Article 85)" in m["text"] for m in acked)
    assert esc(await chat.line("clock: 2026-12-01 10:15")) == []
    half = esc(await chat.line("clock: 2026-12-01 10:16"))
    assert [m["to"] for m in half] == ["zhanglei"]
    assert half[0]["text"].startswith(
        "Reminder: you acknowledged this escalation; your resolution is due by 12-01 10:31 (Article 85), "
        "after that it moves up by itself"
    )
    assert half[0]["buttons"] == ["✅ Resolved", "⬆️ Escalate further"]
    moved = esc(await chat.line("clock: 2026-12-01 10:31"))
    assert any(m["to"] == "liujun" and m["buttons"] for m in moved), moved
    told = next(m["text"] for m in moved if m["to"] == "chenjing")
    assert told.startswith("张磊 gave no resolution in time; your escalation moved up to 刘军 (Article 85)")
    async with on_shift.db.read() as conn:
        actions = (await conn.execute(sa.select(audit_log.c.action))).scalars().all()
    assert actions.count("escalation.auto_escalated") == 1
