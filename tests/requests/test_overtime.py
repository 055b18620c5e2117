"""Overtime requests: the supervisor decides in advance; the monthly cap is enforced (第二十五条)."""

from __future__ import annotations

from bot.app import App
from bot.clock import FakeClock
from tests.helpers import Chat


async def test_overtime_goes_to_the_supervisor_and_respects_the_cap(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    sent = await chat.say("wangfang", "/overtime 12-06 10 大促值守")
    assert any(m["to"] == "liujun" and "王芳 12-06 加班 10.0 小时" in m["text"] for m in sent)
    await chat.say("liujun", "press 批准")
    for day in ("12-07", "12-08"):
        await chat.say("wangfang", f"/overtime {day} 12 大促值守")
    refused = await chat.say("wangfang", "/overtime 12-09 3 大促值守")
    assert refused[0]["text"] == "每人每月加班累计不得超过 36 小时，本月已申请 34 小时（第二十五条）。"
    assert (await chat.say("wangfang", "/overtime 12-09 x"))[0]["text"].startswith("用法：/overtime")
