"""Changing one's mind: an approved leave, swap or give-away cancelled before it starts, decided like the
original (the colleague of a swap agrees first), audited, and the roster goes back."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from bot import roster_store
from bot.app import App
from bot.clock import FakeClock
from bot.schema import audit_log
from tests.helpers import Chat, roster


async def cells(app: App) -> dict[tuple[str, date], tuple[str | None, str | None]]:
    async with app.db.read() as conn:
        found = await roster_store.between(conn, date(2026, 12, 1), date(2026, 12, 12))
    return {(e.person_id, e.day): (e.shift_code, e.note) for e in found}


async def actions(app: App) -> list[str]:
    async with app.db.read() as conn:
        return list((await conn.execute(sa.select(audit_log.c.action).order_by(audit_log.c.id))).scalars())


async def test_cancelling_an_approved_swap_puts_the_roster_back(app: App, clock: FakeClock) -> None:
    await roster(app, {"wangfang": "DDDD-DDDDD", "liuyang": "EE-EEEE-EE", "zhanglei": "DDDDDDDDDD"})
    before = await cells(app)
    chat = Chat(app, clock)
    await chat.say("wangfang", "/swap 12-04 liuyang")
    await chat.say("liuyang", "press 1")
    await chat.say("zhanglei", "press 批准")
    mine = (await chat.say("wangfang", "/requests"))[0]
    assert "取消已批准的 #1" in mine["buttons"]
    asked = await chat.say("wangfang", "press 取消已批准的 #1")
    assert any(m["to"] == "liuyang" and m["buttons"] == ["👍 同意", "👎 不同意"] for m in asked), asked
    agreed = await chat.say("liuyang", "press 1")
    assert any(m["to"] == "zhanglei" and m["buttons"][:2] == ["✅ 批准", "❌ 驳回"] for m in agreed), agreed
    await chat.say("zhanglei", "press 批准")
    after = await cells(app)
    assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in before.items()}
    done = await actions(app)
    assert done.count("roster.changed") == 2 and "swap.cancelled" in done and "cancellation.approved" in done


async def test_cancelling_an_approved_leave_goes_to_the_same_decider(app: App, clock: FakeClock) -> None:
    await roster(app, {"chenjing": "DDDDDDDDDD", "zhanglei": "DDDDDDDDDD"})
    chat = Chat(app, clock)
    await chat.say("chenjing", "/leave personal 12-08 12-08 dentist")
    await chat.say("zhanglei", "press 批准")
    assert (await cells(app))[("chenjing", date(2026, 12, 8))][1] == "leave:personal"
    sent = await chat.say("chenjing", "/requests")
    asked = await chat.say("chenjing", "press Cancel approved #1")
    assert any(m["to"] == "chenjing" and m["text"].startswith("Cancellation sent") for m in asked), (
        sent,
        asked,
    )
    await chat.say("zhanglei", "press 批准")
    assert (await cells(app))[("chenjing", date(2026, 12, 8))][1] is None
    assert "leave.cancelled" in await actions(app)


async def test_a_started_request_cannot_be_cancelled(app: App, clock: FakeClock) -> None:
    await roster(app, {"wangfang": "DDDDDDDDDD", "zhanglei": "DDDDDDDDDD"})
    chat = Chat(app, clock)
    await chat.say("wangfang", "/leave 事假 12-05 12-05 x")
    await chat.say("zhanglei", "press 批准")
    await chat.say("wangfang", "/requests")
    token = chat.transport.latest_buttons["wangfang"][-1]["token"]
    await chat.line("clock: 2026-12-05 09:00")
    chat.transport.latest_buttons["wangfang"] = [{"label": "x", "token": token}]
    refused = await chat.say("wangfang", "press 1")
    assert refused[0]["text"] == "申请 #1 不能再取消：它没有获批准，或所涉的班次已经开始。"


async def test_a_swap_whose_shift_a_later_leave_covers_cannot_be_cancelled(
    app: App, clock: FakeClock
) -> None:
    """Putting the swap's cells back would undo the later leave on one of them: refused, naming it, and
    nothing is asked of the colleague or the lead; once the leave is cancelled, the swap can be."""
    await roster(app, {"wangfang": "DDDD-DDDDD", "liuyang": "EE-EEEE-EE", "zhanglei": "DDDDDDDDDD"})
    chat = Chat(app, clock)
    await chat.say("wangfang", "/swap 12-04 liuyang")
    await chat.say("liuyang", "press 1")
    await chat.say("zhanglei", "press 批准")  # #1: wangfang works liuyang's evening on 12-04
    await chat.say("wangfang", "/leave 病假 12-04 12-04 发烧")
    await chat.say("zhanglei", "press 批准")  # #2: sick leave for that evening
    swapped = await cells(app)
    assert swapped[("wangfang", date(2026, 12, 4))] == ("evening", "leave:sick")
    await chat.say("wangfang", "/requests")
    refused = await chat.say("wangfang", "press 取消已批准的 #1")
    assert [(m["to"], m["text"]) for m in refused] == [
        (
            "wangfang",
            "申请 #1 不能取消了：之后的申请 #2 改动了相同的班次，恢复原排班会把它一并撤销。"
            "请先撤回 #2，或请组长调整排班。",
        )
    ]
    assert await cells(app) == swapped
    assert "cancellation.refused" in await actions(app)
    # The leave is cancelled first (its lead approves); then the swap's cells are its own again.
    await chat.say("wangfang", "/requests")
    await chat.say("wangfang", "press 取消已批准的 #2")
    await chat.say("zhanglei", "press 批准")
    await chat.say("wangfang", "/requests")
    asked = await chat.say("wangfang", "press 取消已批准的 #1")
    assert any(m["to"] == "liuyang" and m["buttons"] == ["👍 同意", "👎 不同意"] for m in asked), asked


async def test_a_cancellation_is_checked_again_at_the_approvers_press(app: App, clock: FakeClock) -> None:
    await roster(app, {"wangfang": "DDDD-DDDDD", "liuyang": "EE-EEEE-EE", "zhanglei": "DDDDDDDDDD"})
    chat = Chat(app, clock)
    await chat.say("wangfang", "/swap 12-04 liuyang")
    await chat.say("liuyang", "press 1")
    await chat.say("zhanglei", "press 批准")  # #1
    await chat.say("wangfang", "/requests")
    await chat.say("wangfang", "press 取消已批准的 #1")  # #2, the cancellation
    await chat.say("liuyang", "press 1")  # agreed: now with the lead
    await chat.say("wangfang", "/leave 病假 12-04 12-04 发烧")
    await chat.say("zhanglei", "press 批准")  # #3 approved before the cancellation is decided
    covered = await cells(app)
    await chat.say("zhanglei", "/pending")
    pressed = await chat.say("zhanglei", "press ✅ 批准 #2")
    told = {m["to"]: m["text"] for m in pressed}
    assert "之后的申请 #3 改动了相同的班次" in told["wangfang"], pressed
    assert await cells(app) == covered  # the swap and the leave both stand
    assert "cancellation.refused_at_approval" in await actions(app)
