"""补卡 requests (第三十四条): only for a punch whose moment has passed, once per day and direction, only on
days with a shift, and the monthly limit of 3 counts only requests that were not refused or withdrawn."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from bot.app import App
from bot.clock import FakeClock
from bot.schema import requests
from tests.conftest import local
from tests.helpers import Chat, roster


async def test_missed_punch_checks_in_the_chat(app: App, clock: FakeClock) -> None:
    await roster(app, {"wangfang": "DDD"}, start=date(2026, 11, 30))  # 11-30, 12-01, 12-02: day 09:00–18:00
    clock.set(local("2026-12-02 10:00"))
    chat = Chat(app, clock)

    async def ask(text: str) -> str:
        replies = [m["text"] for m in await chat.say("wangfang", text) if m["to"] == "wangfang"]
        assert len(replies) == 1, replies
        return str(replies[0])

    # Today's clock-out (18:00) has not happened yet.
    assert "还没到" in await ask("/missed 12-02 out 18:00 忘了")
    # Yesterday's clock-in: 3 a month, so 2 left after this one.
    assert "本月还可申请 2 次" in await ask("/missed 12-01 in 08:58 手机没电")
    # The same day and direction again is refused, naming the first request.
    again = await ask("/missed 12-01 in 08:59 手机没电")
    assert "已经申请过" in again and "#" in again and "第三十四条" in again
    # The other direction of the same day is its own request.
    assert "本月还可申请 1 次" in await ask("/missed 12-01 out 18:02 忘了")
    # A withdrawn request gives its use back.
    async with app.db.transaction() as conn:
        await conn.execute(
            requests.update()
            .where(requests.c.kind == "missed_punch", requests.c.payload["punch"].as_string() == "clock_out")
            .values(state="cancelled")
        )
    assert "本月还可申请 1 次" in await ask("/missed 12-02 in 08:59 手机没电")
    # No shift that day: nothing to make up.
    assert "没有排班" in await ask("/missed 11-29 in 09:00 忘了")
    async with app.db.read() as conn:
        filed = (await conn.execute(sa.select(sa.func.count()).select_from(requests))).scalar()
    assert filed == 3


async def test_missed_punch_checks_in_english(app: App, clock: FakeClock) -> None:
    await roster(app, {"wangfang": "DDD"}, start=date(2026, 11, 30))
    clock.set(local("2026-12-02 10:00"))
    chat = Chat(app, clock)
    await chat.say("wangfang", "/lang en")
    (future,) = [m["text"] for m in await chat.say("wangfang", "/missed 12-02 out 18:00 forgot")]
    assert "has not come yet" in future
    await chat.say("wangfang", "/missed 12-01 in 08:58 phone died")
    (twice,) = [m["text"] for m in await chat.say("wangfang", "/missed 12-01 in 08:58 phone died")]
    assert "already asked" in twice and "clock-in" in twice and "Article 34" in twice
