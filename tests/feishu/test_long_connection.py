"""The long connection: lark-oapi's WebSocket client in its own thread and loop, against the fake's
WebSocket on 127.0.0.1 speaking the SDK's frame protocol. Events reach the inbox from the SDK's thread, the
frame is answered after the commit, a card press is answered with its toast, a dropped connection comes back,
refused credentials stop it, credentials refused while reconnecting are logged and tried again with a pause
(then stop `deskmate feishu` with one line), and `stop()` ends the thread cleanly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from bot.adapters.feishu import longconn
from bot.adapters.feishu.longconn import ConnectionRefused, LongConnection
from bot.adapters.launch import StartupError
from bot.schema import inbox
from bot.settings import Settings
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


SECRET_RESET = {"code": 10014, "msg": "app secret invalid"}


async def test_credentials_refused_while_reconnecting_are_logged_and_tried_again(
    desk: FeishuDesk, feishu: FakeFeishu, caplog: pytest.LogCaptureFixture
) -> None:
    """The secret reset or the app disabled while the bot runs: each refused reconnect is an error line
    naming Feishu's code (never the secret), tried again after a doubling pause; when Feishu accepts the
    app again (re-enabled) the connection comes back by itself."""
    caplog.set_level(logging.INFO, logger="deskmate.feishu")
    long = LongConnection(
        APP_ID, APP_SECRET, feishu.url, desk.adapter.on_event, refused_tries=50, refused_pause=(0.05, 0.2)
    )
    long.start()
    try:
        await asyncio.wait_for(long.wait_started(), 120)
        feishu.endpoint_refusal = SECRET_RESET
        await feishu.drop()
        await wait_until(lambda: long.refusals >= 3, what="three refused reconnects")
        assert not long.connected.is_set() and long.error is None  # down, still trying
        refused = [r for r in caplog.records if "refused the app's credentials" in r.getMessage()]
        assert refused and all(r.levelno == logging.ERROR for r in refused)
        line = refused[0].getMessage()
        assert "code 10014: app secret invalid" in line and "trying again in" in line
        assert APP_SECRET not in caplog.text
        feishu.endpoint_refusal = None  # the app enabled again
        await wait_until(lambda: long.connected.is_set(), what="the connection back")
        assert long.refusals == 0 and feishu.connects == 2
        answer = await feishu.push(feishu.message_event(open_id("liuyang"), "/help"))
        assert answer["code"] == 200 and await _stored(desk) == 1
    finally:
        await long.stop()


async def test_credentials_refused_on_every_reconnect_end_the_connection(
    desk: FeishuDesk, feishu: FakeFeishu
) -> None:
    long = LongConnection(
        APP_ID, APP_SECRET, feishu.url, desk.adapter.on_event, refused_tries=3, refused_pause=(0.05, 0.1)
    )
    long.start()
    try:
        await asyncio.wait_for(long.wait_started(), 120)
        feishu.endpoint_refusal = SECRET_RESET
        await feishu.drop()
        with pytest.raises(ConnectionRefused, match="10014"):
            await asyncio.wait_for(long.run_until(asyncio.Event()), 120)
        assert long.refusals == 3 and long._thread is not None and not long._thread.is_alive()
    finally:
        await long.stop()


async def test_deskmate_feishu_stops_with_one_line_when_reconnects_stay_refused(
    settings: Settings, feishu: FakeFeishu, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command's own serve: connected, then every reconnect refused; it ends with the one line that
    `deskmate feishu` prints before exit code 2, without the secret."""
    from bot.adapters.feishu.runner import serve

    monkeypatch.setattr(longconn, "REFUSED_TRIES", 2)
    monkeypatch.setattr(longconn, "REFUSED_PAUSE_FIRST", 0.05)
    ws = settings.model_copy(update={"feishu_event_mode": "ws", "feishu_base_url": feishu.url})
    lines: list[str] = []

    async def refuse_once_connected() -> None:
        await wait_until(lambda: bool(lines), timeout=120, what="the connected line")
        feishu.endpoint_refusal = {"code": 10003, "msg": "app is disabled"}
        await feishu.drop()

    refusing = asyncio.create_task(refuse_once_connected())
    with pytest.raises(StartupError) as stopped:
        await asyncio.wait_for(serve(ws, stop=asyncio.Event(), announce=lines.append), 180)
    await refusing
    assert lines and "long connection" in lines[0]
    message = str(stopped.value)
    assert "while reconnecting" in message and "10003: app is disabled" in message
    assert "start deskmate feishu again" in message and APP_SECRET not in message
