"""The long connection: lark-oapi's WebSocket client in its own thread and loop, against the fake's
WebSocket on 127.0.0.1 speaking the SDK's frame protocol. Events reach the inbox from the SDK's thread, the
frame is answered after the commit, a card press is answered with its toast, a dropped connection comes back,
refused credentials stop it, and `stop()` ends the thread cleanly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from bot.adapters.feishu.longconn import ConnectionRefused, LongConnection
from bot.schema import inbox
from fakes.feishu_api import APP_ID, APP_SECRET, FakeFeishu
from tests.feishu.harness import FeishuDesk, open_id
from tests.helpers import wait_until


@pytest.fixture
async def connection(desk: FeishuDesk, feishu: FakeFeishu) -> AsyncIterator[LongConnection]:
    long = LongConnection(APP_ID, APP_SECRET, feishu.url, desk.adapter.on_event)
    long.start()
    await asyncio.wait_for(long.wait_started(), 120)
    yield long
    await long.stop()


async def _stored(desk: FeishuDesk) -> int:
    async with desk.app.db.read() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(inbox))).scalar_one())


async def test_an_event_frame_is_stored_then_answered_and_handled(
    desk: FeishuDesk, feishu: FakeFeishu, connection: LongConnection
) -> None:
    event = feishu.message_event(open_id("wangfang"), "/help")
    answer = await feishu.push(event)
    assert answer["code"] == 200 and await _stored(desk) == 1  # answered after the commit
    again = await feishu.push(event)  # the same event_id again: answered, stored once
    assert again["code"] == 200 and await _stored(desk) == 1
    await desk.app.inbox.drain()
    await desk.flush()
    texts = desk.texts_to("wangfang")
    assert len(texts) == 1 and texts[0].startswith("王芳，您好")


async def test_a_card_press_is_answered_with_its_toast(
    desk: FeishuDesk, feishu: FakeFeishu, connection: LongConnection
) -> None:
    press = feishu.press_event(open_id("wangfang"), "no-such-token", "om_out00000001")
    answer = await feishu.push(press)
    assert answer["code"] == 200
    assert answer["data"] == {"toast": {"type": "info", "content": "收到，正在处理…"}}
    await desk.app.inbox.drain()
    await desk.flush()
    assert desk.texts_to("wangfang") == ["这个按钮已失效，请重新操作。"]


async def test_a_dropped_connection_comes_back(
    desk: FeishuDesk, feishu: FakeFeishu, connection: LongConnection
) -> None:
    assert (feishu.connects, connection.connects) == (1, 1)
    await feishu.drop()
    await wait_until(lambda: feishu.connects == 2 and connection.connects == 2, what="a second connection")
    answer = await feishu.push(feishu.message_event(open_id("liuyang"), "/help"))
    assert answer["code"] == 200 and await _stored(desk) == 1


async def test_stop_ends_the_thread_and_closes_the_socket(desk: FeishuDesk, feishu: FakeFeishu) -> None:
    long = LongConnection(APP_ID, APP_SECRET, feishu.url, desk.adapter.on_event)
    long.start()
    await asyncio.wait_for(long.wait_started(), 120)
    await long.stop()
    assert long._thread is not None and not long._thread.is_alive()
    await wait_until(lambda: all(s.closed for s in feishu.sockets), what="the socket closed")
    assert feishu.connects == 1 and long.error is None


async def test_refused_credentials_stop_it(desk: FeishuDesk, feishu: FakeFeishu) -> None:
    long = LongConnection(APP_ID, "wrong-secret", feishu.url, desk.adapter.on_event)
    long.start()
    with pytest.raises(ConnectionRefused):
        await asyncio.wait_for(long.wait_started(), 120)
    await long.stop()
    assert feishu.connects == 0


async def test_an_event_that_cannot_be_stored_is_answered_500(desk: FeishuDesk, feishu: FakeFeishu) -> None:
    """Feishu sends an event again when its frame gets no 200: a store that fails must not answer 200."""
    failing = [True]

    async def handler(event: dict[str, object]) -> dict[str, object]:
        if failing[0]:
            raise OSError("disk full")
        return await desk.adapter.on_event(event)

    long = LongConnection(APP_ID, APP_SECRET, feishu.url, handler)
    long.start()
    try:
        await asyncio.wait_for(long.wait_started(), 120)
        event = feishu.message_event(open_id("wangfang"), "/help")
        assert (await feishu.push(event))["code"] == 500 and await _stored(desk) == 0
        failing[0] = False
        assert (await feishu.push(event))["code"] == 200 and await _stored(desk) == 1
    finally:
        await long.stop()
