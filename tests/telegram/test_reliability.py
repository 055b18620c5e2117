"""Telegram reliability: webhook secret, redelivered updates, 429/5xx retries, blocked users, limits."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from bot import outbox
from bot.app import App
from bot.inbox import Update
from bot.messages import Outgoing
from bot.schema import audit_log, inbox, people
from bot.schema import outbox as outbox_table
from tests.telegram.conftest import TG, WEBHOOK_SECRET, StartTelegram, Telegram


async def count(app: App, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    async with app.db.read() as conn:
        query = sa.select(sa.func.count()).select_from(table).where(*where)
        return int((await conn.execute(query)).scalar_one())


async def queue(app: App, *messages: Outgoing) -> None:
    async with app.db.transaction() as conn:
        for message in messages:
            await outbox.enqueue(conn, message, app.clock.now())


# ----- webhook ---------------------------------------------------------------------------------
async def test_webhook_with_the_right_secret_is_handled(start_telegram: StartTelegram) -> None:
    telegram = await start_telegram(webhook=True)
    registered = telegram.api.sent("setWebhook")
    assert len(registered) == 1 and registered[0].params["secret_token"] == WEBHOOK_SECRET
    assert registered[0].params["url"] == "https://deskmate.example.com/telegram/webhook"
    assert telegram.api.attempts("getUpdates") == []
    before = len(telegram.api.calls)
    status = await telegram.post_webhook(telegram.api.text_update(TG["wangfang"], "/help"))
    assert status == 200
    replies = telegram.api.deliveries(TG["wangfang"])
    assert len(replies) == 1 and (replies[0].text or "").startswith("王芳，您好")
    assert len(telegram.api.calls) > before


async def test_webhook_with_no_or_a_wrong_secret_gets_403_and_changes_nothing(
    start_telegram: StartTelegram,
) -> None:
    telegram = await start_telegram(webhook=True)
    app = telegram.app
    before = await count(app, inbox)
    update = telegram.api.text_update(TG["wangfang"], "/lang en")
    assert await telegram.post_webhook(update, secret=None) == 403
    assert await telegram.post_webhook(update, secret="wrong-secret") == 403
    assert await count(app, inbox) == before
    assert telegram.api.deliveries() == []
    person = await app.resolve_person("telegram", str(TG["wangfang"]))
    assert person is not None and person.language == "zh-CN"
    async with app.db.read() as conn:
        rows = (
            await conn.execute(sa.select(audit_log).where(audit_log.c.action == "access.bad_webhook_secret"))
        ).all()
    assert len(rows) == 1  # one row per source a minute: probes cannot flood the audit log
    assert rows[0].object_id == "/telegram/webhook" and rows[0].after == {"reason": "missing"}
    # The same update with the right secret is then handled normally.
    assert await telegram.post_webhook(update) == 200
    assert [c.text for c in telegram.api.deliveries()] == ["OK, I will talk to you in English from now on."]


async def test_healthz_reports_database_and_scheduler(start_telegram: StartTelegram) -> None:
    telegram = await start_telegram(webhook=True)
    status, body = await telegram.get("/healthz")
    assert status == 200 and body["database"] is True and body["scheduler"] is True
    assert await telegram.post_webhook(telegram.api.text_update(TG["wangfang"], "/whoami")) == 200
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{telegram.bot.port}/metrics") as response,
    ):
        metrics = await response.text()
    assert response.status == 200 and 'deskmate_messages_in_total{platform="telegram"} 1.0' in metrics


async def test_webhook_redelivery_is_handled_once(start_telegram: StartTelegram) -> None:
    telegram = await start_telegram(webhook=True)
    update = telegram.api.text_update(TG["wangfang"], "/whoami")
    assert await telegram.post_webhook(update) == 200
    assert await telegram.post_webhook(update) == 200  # Telegram retries when it missed our 200
    assert len(telegram.api.deliveries(TG["wangfang"])) == 1


async def test_webhook_answers_500_when_the_update_could_not_be_stored(
    start_telegram: StartTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    telegram = await start_telegram(webhook=True)
    real_put = telegram.app.inbox.put
    outage = [True]

    async def put(update: Update) -> int | None:
        if outage.pop() if outage else False:
            raise ConnectionError("could not connect to server")  # the database is down
        return await real_put(update)

    monkeypatch.setattr(telegram.app.inbox, "put", put)
    update = telegram.api.text_update(TG["wangfang"], "/whoami")
    assert await telegram.post_webhook(update) == 500  # Telegram keeps it and sends it again
    assert await count(telegram.app, inbox) == 0 and telegram.to("wangfang") == []
    assert await telegram.post_webhook(update) == 200
    replies = telegram.to("wangfang")
    assert len(replies) == 1 and "王芳" in (replies[0].text or "")
    assert await count(telegram.app, inbox, inbox.c.state == "done") == 1


async def post_raw(telegram: Telegram, body: bytes, secret: bytes = WEBHOOK_SECRET.encode()) -> int:
    """POST bytes as they are, headers included (aiohttp's client would refuse a non-ASCII header)."""
    assert telegram.bot.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", telegram.bot.port)
    head = (
        b"POST /telegram/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"X-Telegram-Bot-Api-Secret-Token: " + secret + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n"
    )
    writer.write(head + body)
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    return int(status_line.split()[1])


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        b"\xff\xfe",
        b"[]",
        b"null",
        b"42",
        b'{"update_id": 5, "message": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001,
        json.dumps({"update_id": 5, "message": nested(40)}).encode(),
        json.dumps({"message": {"text": "no update id"}}).encode(),
        json.dumps({"update_id": "5"}).encode(),
        json.dumps({"update_id": 5, "message": [1, 2]}).encode(),
        json.dumps({"update_id": 5, "callback_query": "pressed"}).encode(),
        json.dumps({"update_id": 5, "message": {"text": "no chat, no date"}}).encode(),
    ],
)
async def test_a_malformed_body_with_the_right_secret_is_a_400_and_audited(
    start_telegram: StartTelegram, body: bytes
) -> None:
    telegram = await start_telegram(webhook=True)
    assert await post_raw(telegram, body) == 400
    assert await count(telegram.app, inbox) == 0
    assert await count(telegram.app, audit_log, audit_log.c.action == "access.bad_webhook_body") == 1


async def test_a_non_ascii_secret_header_is_a_403(start_telegram: StartTelegram) -> None:
    telegram = await start_telegram(webhook=True)
    body = json.dumps(telegram.api.text_update(TG["wangfang"], "/whoami")).encode()
    assert await post_raw(telegram, body, secret="密钥".encode()) == 403
    assert await post_raw(telegram, body, secret=b"\xe9t\xe9") == 403
    assert await count(telegram.app, inbox) == 0


# ----- duplicates ------------------------------------------------------------------------------
async def test_an_update_delivered_twice_is_handled_once(telegram: Telegram) -> None:
    # Polling hands out an update again when its offset was never confirmed (a crash, a restart).
    update = telegram.api.text_update(TG["wangfang"], "/whoami")
    await telegram.feed(update, dict(update))
    assert len(telegram.to("wangfang")) == 1
    press = telegram.api.press_update(TG["wangfang"], "no-such-token")
    await telegram.feed(press, dict(press))
    assert len(telegram.api.sent("answerCallbackQuery")) == 1
    assert len(telegram.to("wangfang")) == 2


# ----- retries ---------------------------------------------------------------------------------
async def test_429_waits_retry_after_then_delivers_once(telegram: Telegram) -> None:
    telegram.api.fail("sendMessage", 429, retry_after=5)
    assert await telegram.say("wangfang", "/whoami") == []
    assert [c.status for c in telegram.api.attempts("sendMessage")] == [429]
    await telegram.advance(4)
    assert telegram.to("wangfang") == [] and len(telegram.api.attempts("sendMessage")) == 1
    await telegram.advance(1.5)
    delivered = telegram.to("wangfang")
    assert len(delivered) == 1 and "王芳" in (delivered[0].text or "")
    await telegram.advance(600)
    assert len(telegram.to("wangfang")) == 1


async def test_429_holds_back_only_that_chat(telegram: Telegram) -> None:
    telegram.api.fail("sendMessage", 429, retry_after=30, chat_id=TG["wangfang"])
    await queue(
        telegram.app,
        Outgoing("第一条", to_person="wangfang"),
        Outgoing("第二条", to_person="wangfang"),
        Outgoing("给刘洋", to_person="liuyang"),
    )
    await telegram.flush()
    assert [c.text for c in telegram.to("liuyang")] == ["给刘洋"] and telegram.to("wangfang") == []
    await telegram.advance(31)
    assert [c.text for c in telegram.to("wangfang")] == ["第一条", "第二条"]


async def test_500_then_success_is_retried_with_backoff(telegram: Telegram) -> None:
    telegram.api.fail("sendMessage", 500, times=2)
    await telegram.say("wangfang", "/whoami")
    assert telegram.to("wangfang") == []
    await telegram.advance(1.1)  # first backoff: 1 s
    assert telegram.to("wangfang") == [] and len(telegram.api.attempts("sendMessage")) == 2
    await telegram.advance(2.1)  # second backoff: 2 s
    assert len(telegram.to("wangfang")) == 1
    assert [c.status for c in telegram.api.attempts("sendMessage")] == [500, 500, 200]


async def test_a_network_failure_is_retried(telegram: Telegram) -> None:
    # A 502 from a proxy in front of the Bot API, then the connection is fine again.
    telegram.api.fail("sendMessage", 502, description="Bad Gateway")
    await telegram.say("liuyang", "/whoami")
    await telegram.advance(1.1)
    assert len(telegram.to("liuyang")) == 1


# ----- blocked users ---------------------------------------------------------------------------
async def test_a_blocked_user_is_marked_and_their_lead_told_once(telegram: Telegram) -> None:
    app = telegram.app
    telegram.api.block(TG["wangfang"])
    await telegram.say("wangfang", "/whoami")  # her reply gets 403
    await queue(app, Outgoing("排班提醒", to_person="wangfang"), Outgoing("排班提醒", to_person="liuyang"))
    await telegram.flush()
    async with app.db.read() as conn:
        blocked = dict((await conn.execute(sa.select(people.c.id, people.c.blocked_at))).all())
    assert blocked["wangfang"] is not None and blocked["liuyang"] is None
    told = telegram.to("zhanglei")  # 张磊 leads wangfang's team
    assert len(told) == 1 and "王芳（wangfang）" in (told[0].text or "")
    assert [c.text for c in telegram.to("liuyang")] == ["排班提醒"]
    assert await count(app, audit_log, audit_log.c.action == "person.blocked_bot") == 1
    assert [c.status for c in telegram.api.attempts("sendMessage") if c.chat_id == TG["wangfang"]] == [
        403,
        403,
    ]
    assert await telegram.app.dispatcher.pending_count() == 0  # type: ignore[union-attr]


async def test_unblocking_clears_the_mark_so_a_second_block_is_reported_again(telegram: Telegram) -> None:
    app = telegram.app
    telegram.api.block(TG["wangfang"])
    await telegram.say("wangfang", "/whoami")
    telegram.api.blocked.discard(TG["wangfang"])  # she unblocks the bot and writes again
    assert len(await telegram.say("wangfang", "/whoami")) == 1
    async with app.db.read() as conn:
        mark = (await conn.execute(sa.select(people.c.blocked_at).where(people.c.id == "wangfang"))).scalar()
    assert mark is None
    assert await count(app, audit_log, audit_log.c.action == "person.unblocked_bot") == 1
    telegram.api.block(TG["wangfang"])  # and blocks it again
    await queue(app, Outgoing("排班提醒", to_person="wangfang"))
    await telegram.flush()
    assert len(telegram.to("zhanglei")) == 2  # her lead hears of each block once
    assert await count(app, audit_log, audit_log.c.action == "person.blocked_bot") == 2


async def test_a_blocked_lead_is_reported_to_their_supervisor(telegram: Telegram) -> None:
    telegram.api.block(TG["zhanglei"])
    await telegram.say("zhanglei", "/whoami")
    told = telegram.to("liujun")
    assert len(told) == 1 and "张磊（zhanglei）" in (told[0].text or "")


async def test_a_person_without_telegram_is_undeliverable_not_retried(telegram: Telegram) -> None:
    await queue(telegram.app, Outgoing("hi", to_person="admin"))
    await telegram.flush()
    assert await count(telegram.app, outbox_table, outbox_table.c.status == outbox.UNDELIVERABLE) == 1
