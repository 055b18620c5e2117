"""The words people really type open the right feature: "上班打卡" punches, "你好" shows the menu."""

from __future__ import annotations

from datetime import date

from bot.app import App
from bot.clock import FakeClock
from tests.conftest import local
from tests.helpers import Chat, roster


async def test_clock_in_and_out_phrases_punch(app: App, clock: FakeClock) -> None:
    await roster(app, {"wangfang": "DDDDDDD"}, start=date(2026, 11, 30))
    chat = Chat(app, clock)
    clock.set(local("2026-12-01 08:50"))
    arrived = await chat.say("wangfang", "上班打卡")
    assert arrived[0]["text"].startswith("✅ 上班打卡 08:50：白班 09:00–18:00")
    clock.set(local("2026-12-01 18:02"))
    left = await chat.say("wangfang", "下班打卡")
    assert left[0]["text"].startswith("✅ 下班打卡 18:02：白班 09:00–18:00")


async def test_a_greeting_gets_the_menu_in_the_persons_language(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    clock.set(local("2026-12-01 10:00"))
    zh = await chat.say("wangfang", "你好")
    assert zh[0]["text"].startswith("王芳，您好！") and "/in" in zh[0]["text"]
    en = await chat.say("chenjing", "hello")  # 陈静 reads English (examples/org.yaml)
    assert en[0]["text"].startswith("Hello 陈静!") and "/in" in en[0]["text"]
