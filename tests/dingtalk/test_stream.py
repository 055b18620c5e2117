"""The Stream client against the fake gateway over a real WebSocket on 127.0.0.1: it subscribes to the
robot and card topics, acks each frame only after its handler returned, answers pings, reconnects, and
stops when told."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.adapters.dingtalk.stream import CARD_TOPIC, ROBOT_TOPIC, StreamClient, StreamRefused
from fakes.dingtalk_api import FakeDingTalk, system


@pytest.fixture
async def fake() -> AsyncIterator[FakeDingTalk]:
    api = await FakeDingTalk().start()
    yield api
    await api.stop()


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.fail_next = False
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, topic: str, headers: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        await self.release.wait()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("the store is down")
        self.seen.append((topic, data))
        return {}


async def running(
    fake: FakeDingTalk, handler: Recorder, session: aiohttp.ClientSession, **kw: Any
) -> tuple[StreamClient, asyncio.Event, asyncio.Task[None]]:
    client = StreamClient(session, fake.url, fake.client_id, fake.client_secret, handler, **kw)
    stop = asyncio.Event()
    task = asyncio.create_task(client.run(stop))
    await asyncio.wait_for(client.connected.wait(), 60)
    return client, stop, task


async def test_it_subscribes_acks_after_the_handler_and_stops(fake: FakeDingTalk) -> None:
    handler = Recorder()
    async with aiohttp.ClientSession() as session:
        client, stop, task = await running(fake, handler, session)
        (opened,) = fake.opened
        assert opened["clientId"] == fake.client_id and opened["localIp"] == ""
        assert {(s["type"], s["topic"]) for s in opened["subscriptions"]} == {
            ("CALLBACK", ROBOT_TOPIC),
            ("CALLBACK", CARD_TOPIC),
        }
        handler.release.clear()  # the handler has not stored the frame yet: no ack may go out
        message_id = await fake.push(ROBOT_TOPIC, {"msgId": "m1", "text": {"content": "hi"}})
        with pytest.raises(AssertionError):
            await fake.wait_ack(message_id, timeout=0.3)
        handler.release.set()
        ack = await fake.wait_ack(message_id)
        assert ack["code"] == 200 and ack["headers"]["messageId"] == message_id
        assert json.loads(ack["data"]) == {"response": {}}
        assert handler.seen == [(ROBOT_TOPIC, {"msgId": "m1", "text": {"content": "hi"}})]
        stop.set()
        await asyncio.wait_for(task, 30)
        assert not client.connected.is_set()


async def test_a_ping_is_answered_with_its_data(fake: FakeDingTalk) -> None:
    async with aiohttp.ClientSession() as session:
        _, stop, task = await running(fake, Recorder(), session)
        message_id = await system(fake, "ping", {"opaque": "abc-123"})
        ack = await fake.wait_ack(message_id)
        assert ack["code"] == 200 and json.loads(ack["data"]) == {"opaque": "abc-123"}
        stop.set()
        await task


async def test_a_failed_handler_leaves_the_frame_unacked_and_the_next_is_served(fake: FakeDingTalk) -> None:
    handler = Recorder()
    async with aiohttp.ClientSession() as session:
        _, stop, task = await running(fake, handler, session)
        handler.fail_next = True
        lost = await fake.push(ROBOT_TOPIC, {"msgId": "m1"})
        kept = await fake.push(ROBOT_TOPIC, {"msgId": "m2"})
        await fake.wait_ack(kept)
        assert lost not in fake.acks  # DingTalk will send it again
        assert [data["msgId"] for _, data in handler.seen] == ["m2"]
        stop.set()
        await task


async def test_disconnect_and_a_dropped_socket_bring_a_new_connection(fake: FakeDingTalk) -> None:
    handler = Recorder()
    async with aiohttp.ClientSession() as session:
        client, stop, task = await running(fake, handler, session, backoff_first=0.05, backoff_max=0.2)
        await fake.wait_ack(await system(fake, "disconnect"))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while client.connections < 2 or not fake.connected.is_set():
            assert loop.time() < deadline, f"reconnected {client.connections - 1} times, wanted 1"
            await asyncio.sleep(0.02)
        await fake.drop()
        while client.connections < 3 or not fake.connected.is_set():
            assert loop.time() < deadline, f"reconnected {client.connections - 1} times, wanted 2"
            await asyncio.sleep(0.02)
        message_id = await fake.push(ROBOT_TOPIC, {"msgId": "after"})
        await fake.wait_ack(message_id)
        assert len(fake.opened) == 3  # a fresh ticket for every connection
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_an_unreachable_gateway_is_retried_with_backoff_until_stopped(fake: FakeDingTalk) -> None:
    fake.open_refusals = [503, 503]
    async with aiohttp.ClientSession() as session:
        client, stop, task = await running(fake, Recorder(), session, backoff_first=0.01, backoff_max=0.05)
        assert len(fake.opened) == 3 and client.connections == 1
        stop.set()
        await task


async def test_refused_credentials_stop_the_client(fake: FakeDingTalk) -> None:
    async with aiohttp.ClientSession() as session:
        client = StreamClient(session, fake.url, fake.client_id, "wrong-secret", Recorder())
        with pytest.raises(StreamRefused):
            await asyncio.wait_for(client.run(asyncio.Event()), 30)


async def test_frames_that_are_not_frames_are_ignored_and_the_next_is_served(fake: FakeDingTalk) -> None:
    handler = Recorder()
    async with aiohttp.ClientSession() as session:
        _, stop, task = await running(fake, handler, session)
        (socket,) = fake._sockets
        await socket.send_str("not json")
        await socket.send_str("[1, 2]")
        await socket.send_json({"type": "CALLBACK", "headers": {"topic": ROBOT_TOPIC}, "data": "{bad"})
        deep = '{"a": ' * 100 + "1" + "}" * 100
        await socket.send_json(
            {"type": "CALLBACK", "headers": {"topic": ROBOT_TOPIC, "messageId": "d"}, "data": deep}
        )
        await fake.wait_ack(await fake.push(ROBOT_TOPIC, {"msgId": "fine"}))
        assert [data for _, data in handler.seen] == [{"msgId": "fine"}]
        assert "d" not in fake.acks
        stop.set()
        await task
