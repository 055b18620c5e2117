"""The leave form asks again only the step that is wrong, at the step where it goes wrong (第四十九条,
第五十二条: 事假 3 days ahead, 年休假 7 days ahead)."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from bot.app import App
from bot.clock import FakeClock
from bot.schema import audit_log, requests
from tests.conftest import local
from tests.helpers import Chat, roster


async def test_a_start_too_near_is_asked_again_before_the_end_and_reason(app: App, clock: FakeClock) -> None:
    await roster(app, {"wangfang": "DDDDDDDDDDDD", "chenjing": "DDDDDDDDDDDD"}, start=date(2026, 12, 1))
    clock.set(local("2026-12-02 10:00"))
    chat = Chat(app, clock)
    await chat.say("wangfang", "/leave")
    await chat.say("wangfang", "press 3")  # 年休假: 7 days ahead
    refused = await chat.say("wangfang", "12-05")  # 3 days ahead
    assert [m["text"] for m in refused] == [
        "年休假须至少提前 7 天申请（第五十二条）。",
        "从哪天开始？（例如 12-08、明天）",
    ]
    # The type is kept: 12-09 is exactly 7 days ahead, so the form goes on to the end date.
    assert (await chat.say("wangfang", "12-09"))[0]["text"].startswith("到哪天结束？")

    await chat.say("chenjing", "/leave")
    await chat.say("chenjing", "press 1")  # personal leave: 3 days ahead
    refused = await chat.say("chenjing", "tomorrow")
    assert refused[0]["text"] == "personal leave must be requested at least 3 days ahead (Article 49)."
    assert refused[1]["text"].startswith("From which day?")
    await chat.say("chenjing", "12-05")
    await chat.say("chenjing", "press 1")  # just that day
    done = await chat.say("chenjing", "family matters")
    assert any(m["to"] == "chenjing" and "12-05 to 12-05 (1 day)" in m["text"] for m in done)

    async with app.db.read() as conn:
        stored = (await conn.execute(sa.select(sa.func.count()).select_from(requests))).scalar_one()
        refusals = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(audit_log).where(audit_log.c.action == "leave.refused")
            )
        ).scalar_one()
    assert stored == 1 and refusals == 2
