"""Signatures, retries, rate limits and outages: Slack is answered once, correctly, or not at all."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from bot.app import App, table_count
from bot.clock import FakeClock
from bot.messages import Outgoing
from bot.outbox import enqueue
from bot.schema import audit_log, inbox, outbox
from tests.slack.conftest import WANGFANG
from tests.slack.harness import SlackDesk, dm_channel

FORM = "application/x-www-form-urlencoded"


async def audit_actions(app: App) -> list[str]:
    async with app.db.read() as conn:
        return list((await conn.execute(sa.select(audit_log.c.action).order_by(audit_log.c.id))).scalars())


async def test_a_bad_signature_gets_401_and_changes_nothing(desk: SlackDesk, app: App) -> None:
    before = await audit_actions(app)
    status, _ = await desk.post(
        desk.command_body(WANGFANG, "help"), "application/x-www-form-urlencoded", secret="not-the-secret"
    )
    assert status == 401
    await desk.flush()
    assert desk.api.calls == []
    assert await table_count(app, outbox) == 0
    assert await audit_actions(app) == [*before, "access.bad_slack_signature"]


async def test_a_stale_timestamp_gets_401_and_is_audited(desk: SlackDesk, app: App, clock: FakeClock) -> None:
    before = await audit_actions(app)
    old = int((clock.now() - timedelta(minutes=5, seconds=30)).timestamp())
    assert await desk.dm(WANGFANG, "帮助") == 200
    await desk.flush()
    sent_before = len(desk.api.calls)
    status, _ = await desk.post(
        desk.command_body(WANGFANG, "help"), "application/x-www-form-urlencoded", timestamp=old
    )
    assert status == 401
    await desk.flush()
    assert len(desk.api.calls) == sent_before
    async with app.db.read() as conn:
        row = (
            await conn.execute(sa.select(audit_log).where(audit_log.c.action == "access.bad_slack_signature"))
        ).one()
    assert row.after["reason"] == "stale timestamp" and row.actor == "slack:unverified"
    assert await audit_actions(app) == [*before, "access.bad_slack_signature"]


async def test_missing_signature_headers_get_401(desk: SlackDesk) -> None:
    async with desk.session.post(desk.url + "/slack/events", data=b"{}") as response:
        assert response.status == 401


async def test_a_retried_event_is_handled_once(desk: SlackDesk, app: App) -> None:
    assert await desk.dm(WANGFANG, "帮助", event_id="Ev0RETRY01") == 200
    status = await desk.event(
        {
            "type": "message",
            "channel": dm_channel(WANGFANG),
            "channel_type": "im",
            "user": WANGFANG,
            "text": "帮助",
        },
        event_id="Ev0RETRY01",
        retry=1,
    )
    assert status == 200
    await desk.flush()
    assert len(desk.texts_to(WANGFANG)) == 1
    assert await table_count(app, inbox) == 1


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"not json", "application/json"),
        (b"[]", "application/json"),
        (b"null", "application/json"),
        (b'{"type": "event_callback", "event": ' + b'{"a": ' * 3000 + b"1" + b"}" * 3001, "application/json"),
        (b'{"type": "event_callback"}', "application/json"),
        (b'{"type": "event_callback", "event": []}', "application/json"),
        (b"payload=not-json", "application/x-www-form-urlencoded"),
        (b"payload=%5B%5D", "application/x-www-form-urlencoded"),
        (b"payload=null", "application/x-www-form-urlencoded"),
        (urlencode({"payload": json.dumps({"type": "block_actions", "actions": "x"})}).encode(), FORM),
        (urlencode({"payload": json.dumps({"type": "block_actions", "actions": [1]})}).encode(), FORM),
        (urlencode({"payload": json.dumps({"type": "block_actions", "user": "U1"})}).encode(), FORM),
        (urlencode({"payload": json.dumps({"actions": []})}).encode(), FORM),
        (b"neither=one", FORM),
    ],
)
async def test_a_signed_but_malformed_body_is_a_400_and_audited(
    desk: SlackDesk, app: App, body: bytes, content_type: str
) -> None:
    status, _ = await desk.post(body, content_type)
    assert status == 400
    assert await table_count(app, inbox) == 0
    async with app.db.read() as conn:
        rows = (
            await conn.execute(sa.select(audit_log).where(audit_log.c.action == "access.bad_slack_body"))
        ).all()
    assert len(rows) == 1


async def test_the_bots_own_messages_and_edits_are_ignored(desk: SlackDesk) -> None:
    base = {"type": "message", "channel": dm_channel(WANGFANG), "channel_type": "im", "user": WANGFANG}
    await desk.event({**base, "text": "帮助", "bot_id": "B0BOT00001"})
    await desk.event({**base, "subtype": "message_changed", "message": {"text": "帮助"}})
    await desk.event({**base, "channel_type": "channel", "channel": "C0GENERAL1", "text": "帮助"})
    await desk.flush()
    assert desk.api.messages() == []


async def test_429_is_honoured_then_delivered_once(desk: SlackDesk, app: App, clock: FakeClock) -> None:
    desk.api.rate_limit("chat.postMessage", retry_after=30)
    await desk.command(WANGFANG, "help")
    await desk.flush()
    assert len(desk.api.messages()) == 1  # the attempt that got 429
    async with app.db.read() as conn:
        row = (await conn.execute(sa.select(outbox))).one()
    assert row.status == "pending" and row.next_attempt_at == clock.now() + timedelta(seconds=30)
    clock.set(clock.now() + timedelta(seconds=29))
    await desk.flush()
    assert len(desk.api.messages()) == 1
    clock.set(clock.now() + timedelta(seconds=2))
    await desk.flush()
    attempts = desk.api.messages(dm_channel(WANGFANG))
    assert len(attempts) == 2  # one refused with 429, one accepted
    async with app.db.read() as conn:
        row = (await conn.execute(sa.select(outbox))).one()
    assert row.status == "sent"


async def test_server_errors_and_outages_are_retried(desk: SlackDesk, app: App, clock: FakeClock) -> None:
    desk.api.fail("chat.postMessage", "http_503")
    async with app.db.transaction() as conn:
        await enqueue(conn, Outgoing("你好", to_person="wangfang"), clock.now())
    await desk.flush()
    clock.set(clock.now() + timedelta(minutes=5))
    await desk.flush()
    assert len(desk.api.messages()) == 2
    async with app.db.read() as conn:
        assert (await conn.execute(sa.select(outbox.c.status))).scalar() == "sent"

    await desk.api.stop()  # Slack unreachable: the message waits, nothing is lost
    async with app.db.transaction() as conn:
        await enqueue(conn, Outgoing("还在吗", to_person="wangfang"), clock.now())
    await desk.flush()
    async with app.db.read() as conn:
        statuses = list((await conn.execute(sa.select(outbox.c.status).order_by(outbox.c.id))).scalars())
    assert statuses == ["sent", "pending"]


async def test_a_channel_the_bot_cannot_post_in_is_undeliverable(desk: SlackDesk, app: App) -> None:
    desk.api.fail("chat.postMessage", "not_in_channel")
    async with app.db.transaction() as conn:
        await enqueue(conn, Outgoing("公告", to_chat="C0ELSEWHERE"), app.clock.now())
    await desk.flush()
    async with app.db.read() as conn:
        assert (await conn.execute(sa.select(outbox.c.status))).scalar() == "undeliverable"
