"""Feishu reliability over real HTTP on 127.0.0.1: an event delivered twice is handled once, a rate-limit
answer is honoured then the message goes out once, a user who left is marked and their lead told once,
errors are mapped, and a callback that fails its checks changes nothing and is audited."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import sqlalchemy as sa

from bot.adapters.feishu.api import FeishuError
from bot.adapters.feishu.transport import classify, sent
from bot.app import App
from bot.messages import Outgoing
from bot.outbox import RecipientBlocked, RetryLater, Undeliverable, enqueue
from bot.schema import audit_log, inbox, outbox, people, punches
from fakes.feishu_api import encrypt, sign
from tests.conftest import local
from tests.feishu.conftest import ENCRYPT_KEY, VERIFICATION_TOKEN
from tests.feishu.harness import FeishuDesk, open_id
from tests.helpers import roster


async def _count(app: App, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    async with app.db.read() as conn:
        query = sa.select(sa.func.count()).select_from(table)
        return int((await conn.execute(query.where(*where) if where else query)).scalar_one())


async def test_an_event_delivered_twice_is_handled_once(desk: FeishuDesk) -> None:
    await roster(desk.app, {"wangfang": "DDDD"})
    desk.clock.set(local("2026-12-01 08:50"))
    event = desk.fake.message_event(open_id("wangfang"), "打卡", token=desk.token)
    await desk.deliver(event)
    await desk.deliver(event)  # Feishu sends it again (it did not see our answer in time)
    assert await _count(desk.app, punches) == 1
    assert await _count(desk.app, inbox) == 1
    texts = desk.texts_to("wangfang")
    assert len(texts) == 1 and texts[0].startswith("✅ 上班打卡 08:50")


async def test_a_rate_limit_answer_then_success(desk: FeishuDesk) -> None:
    app, clock = desk.app, desk.clock
    desk.fake.rate_limit(reset=7)
    async with app.db.transaction() as conn:
        await enqueue(conn, Outgoing("排班提醒", to_person="wangfang"), clock.now())
    await desk.flush()
    assert desk.texts_to("wangfang") == []
    async with app.db.read() as conn:
        row = (await conn.execute(sa.select(outbox))).one()
    assert row.status == "pending" and row.next_attempt_at == clock.now() + timedelta(seconds=7)
    clock.set(clock.now() + timedelta(seconds=6))
    await desk.flush()
    assert desk.texts_to("wangfang") == []
    clock.set(clock.now() + timedelta(seconds=2))
    await desk.flush()
    assert desk.texts_to("wangfang") == ["排班提醒"]
    attempts = [c for c in desk.fake.sends() if c.body["receive_id"] == open_id("wangfang")]
    assert [bool(c.body.get("_refused")) for c in attempts] == [True, False]


async def test_a_user_who_left_is_marked_and_their_lead_told_once(desk: FeishuDesk) -> None:
    app = desk.app
    desk.fake.left.add(open_id("wangfang"))
    async with app.db.transaction() as conn:
        for text in ("排班提醒", "第二条提醒"):
            await enqueue(conn, Outgoing(text, to_person="wangfang"), desk.clock.now())
        await enqueue(conn, Outgoing("排班提醒", to_person="liuyang"), desk.clock.now())
    await desk.flush()
    async with app.db.read() as conn:
        marked = dict((await conn.execute(sa.select(people.c.id, people.c.blocked_at))).all())
    assert marked["wangfang"] is not None and marked["liuyang"] is None
    told = desk.texts_to("zhanglei")  # 张磊 leads her team
    # told that she is no longer a member here (not that she blocked the bot), and what to do about it
    assert len(told) == 1 and "王芳（wangfang）" in told[0] and "已不是本组织成员" in told[0]
    assert "屏蔽" not in told[0] and "deskmate org invite wangfang" in told[0]
    assert desk.texts_to("liuyang") == ["排班提醒"]
    assert await _count(app, audit_log, audit_log.c.action == "person.left_platform") == 1
    assert await app.dispatcher.pending_count() == 0  # type: ignore[union-attr]


async def test_a_refused_token_keeps_the_message_for_later(desk: FeishuDesk) -> None:
    """The app secret reset at Feishu (token revoked, a new one refused): the message waits, it is not
    given up as undeliverable; once the credentials work again it goes out."""
    app, clock, fake = desk.app, desk.clock, desk.fake
    await desk.api.token()
    secret, fake.app_secret = fake.app_secret, "reset-in-the-console"
    fake.tokens.clear()  # the old tenant token no longer works either
    async with app.db.transaction() as conn:
        await enqueue(conn, Outgoing("排班提醒", to_person="wangfang"), clock.now())
    await desk.flush()
    async with app.db.read() as conn:
        row = (await conn.execute(sa.select(outbox))).one()
    assert row.status == "pending" and row.next_attempt_at == clock.now() + timedelta(seconds=60)
    assert "credentials" in row.last_error and "10014" in row.last_error
    fake.app_secret = secret  # the app's settings match again (the secret restored)
    clock.set(clock.now() + timedelta(seconds=61))
    await desk.flush()
    assert desk.texts_to("wangfang") == ["排班提醒"]


def test_error_codes_are_mapped() -> None:
    limited = classify(FeishuError(429, 99991400, "frequency limit", retry_after=3))
    assert isinstance(limited, RetryLater) and limited.seconds == 3
    per_chat = classify(FeishuError(400, 230020, "send too fast"))
    assert isinstance(per_chat, RetryLater) and per_chat.seconds == 1
    gone = classify(FeishuError(400, 230013, "no availability"))
    assert isinstance(gone, RecipientBlocked) and gone.left
    stopped = classify(FeishuError(400, 230053, "the user stopped the bot"))
    assert isinstance(stopped, RecipientBlocked) and not stopped.left
    assert isinstance(classify(FeishuError(500, 1000, "internal")), RetryLater)
    auth = classify(FeishuError(400, 99991663, "invalid token"))
    assert isinstance(auth, RetryLater) and auth.seconds == 60
    assert isinstance(classify(FeishuError(400, 230002, "bot not in chat")), Undeliverable)


async def test_url_verification_and_a_wrong_token(desk: FeishuDesk) -> None:
    status, answer = await desk.post(
        {"challenge": "c-123", "token": VERIFICATION_TOKEN, "type": "url_verification"}
    )
    assert (status, answer) == (200, {"challenge": "c-123"})
    status, _ = await desk.post({"challenge": "c-123", "token": "guess", "type": "url_verification"})
    assert status == 401
    forged = desk.fake.message_event(open_id("wangfang"), "打卡", token="guess")
    status, _ = await desk.post(forged)
    assert status == 401
    await desk.app.inbox.drain()
    await desk.flush()
    assert await _count(desk.app, inbox) == 0 and desk.fake.sends() == []
    async with desk.app.db.read() as conn:
        rows = (
            await conn.execute(sa.select(audit_log).where(audit_log.c.action == "feishu.request_refused"))
        ).all()
    assert [r.after["reason"] for r in rows] == ["wrong verification token"] * 2


async def test_encrypted_and_signed_callbacks(app: App, desk: FeishuDesk) -> None:
    desk.adapter.encrypt_key = desk.encrypt_key = ENCRYPT_KEY
    status, answer = await desk.post(
        {"challenge": "c-9", "token": VERIFICATION_TOKEN, "type": "url_verification"}
    )
    assert (status, answer) == (200, {"challenge": "c-9"})
    replies = await desk.say("wangfang", "/help")  # encrypted and signed by the harness, as Feishu does
    assert replies and replies[0].startswith("王芳，您好")
    event = desk.fake.message_event(open_id("wangfang"), "打卡", token=VERIFICATION_TOKEN)
    body = encrypt(ENCRYPT_KEY, event)
    bad_signature = {**sign(ENCRYPT_KEY, body), "X-Lark-Signature": "0" * 64}
    assert (await desk.post(body=body, headers=bad_signature))[0] == 401
    plain = json.dumps(event).encode()
    assert (await desk.post(body=plain, headers=sign(ENCRYPT_KEY, plain)))[0] == 401
    wrong_key = encrypt("another-key", event)
    assert (await desk.post(body=wrong_key, headers=sign(ENCRYPT_KEY, wrong_key)))[0] == 401
    await app.inbox.drain()
    assert await _count(app, inbox) == 1  # only the /help
    async with app.db.read() as conn:
        reasons = [
            r.after["reason"]
            for r in await conn.execute(
                sa.select(audit_log).where(audit_log.c.action == "feishu.request_refused")
            )
        ]
    assert reasons == [
        "wrong signature",
        "body is not encrypted although FEISHU_ENCRYPT_KEY is set",
        "encrypted body does not decrypt with FEISHU_ENCRYPT_KEY",
    ]


async def test_the_limiter_keeps_the_per_minute_and_per_chat_limits() -> None:
    """Documented: 1000 a minute per app, 5 a second to one chat (scaled down: 3 a minute)."""
    from bot.adapters.feishu.transport import FeishuLimiter

    now = [0.0]
    granted: list[tuple[str, float]] = []

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = FeishuLimiter(per_second=50.0, per_minute=3, per_chat=5.0, now=lambda: now[0], sleep=sleep)
    for chat in ("a", "a", "b", "c"):
        await limiter.acquire(chat)
        granted.append((chat, round(now[0], 3)))
        sent()  # answered at once
    # the second send to chat a waits 1/5 s, b then 10 ms more (never two within 10 ms); the fourth send of
    # the minute waits until the first has been over for 60 s
    assert granted == [("a", 0.0), ("a", 0.2), ("b", 0.21), ("c", 60.0)]


async def test_the_limiter_counts_the_second_from_when_a_send_was_over() -> None:
    """50 a second where Feishu counts them, on arrival: sends go every 20 ms, and the 51st waits until
    the 1st has been over (answered) for a second, so a slow first answer moves it, and every 50
    consecutive sends span more than a second from the first one's answer to the last one's start."""
    from bot.adapters.feishu.transport import FeishuLimiter

    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = FeishuLimiter(now=lambda: now[0], sleep=sleep)
    starts: list[float] = []
    overs: list[float] = []
    for i in range(120):
        await limiter.acquire(f"chat{i}")
        starts.append(now[0])
        answer = 0.3 if i == 0 else 0.004  # the first answer is slow
        over_at = now[0] + answer
        overs.append(over_at)
        saved, now[0] = now[0], over_at
        sent()
        now[0] = saved
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(starts)]
    assert gaps[:49] == [0.02] * 49 and min(gaps) >= 0.01  # on the grid, never two within 10 ms
    assert round(starts[50], 3) == round(overs[0] + 1.0, 3) == 1.3  # held by the slow answer
    assert all(starts[i + 50] >= overs[i] + 1.0 - 1e-9 for i in range(70))
    assert starts[-1] < 0.3 + 119 * 0.02 + 0.05  # the slow answer's delay, no more, then the 20 ms pace


def test_the_words_of_text_and_rich_text_messages() -> None:
    from bot.adapters.feishu.adapter import text_of

    def message(kind: str, content: object) -> dict[str, object]:
        return {"message_type": kind, "content": json.dumps(content, ensure_ascii=False)}

    assert text_of(message("text", {"text": "@_user_1 打卡"})) == "打卡"
    lines = [
        [{"tag": "at", "user_id": "@_user_1"}, {"tag": "text", "text": " 晚班"}],
        [{"tag": "text", "text": "几点下班？"}],
    ]
    post = {"zh_cn": {"title": "", "content": lines}}
    assert text_of(message("post", post)) == "晚班\n几点下班？"
    assert text_of(message("post", {"title": "", "content": [[{"tag": "text", "text": "帮助"}]]})) == "帮助"
    assert text_of(message("image", {"image_key": "img_x"})) == ""
    assert text_of({"message_type": "text", "content": "not json"}) == ""


async def test_the_bot_added_to_a_group_greets_it_once_and_removed_is_audited(desk: FeishuDesk) -> None:
    """Chat events a department's Feishu sends besides messages and presses: the bot added to a group (the
    group is greeted once, the addition audited with the group's name, also when Feishu sends it twice),
    removed from one (audited, nothing sent), and someone opening their chat with it (nothing changes)."""
    app, fake = desk.app, desk.fake
    group = "oc_newgroup0000000000000000001"
    added = fake.chat_event(
        "im.chat.member.bot.added_v1", group, open_id("liujun"), name="客服二组", token=desk.token
    )
    await desk.deliver(added)
    await desk.deliver(added)  # sent again: one greeting, one audit row
    hello = fake.texts_to(group)
    assert len(hello) == 1 and hello[0].startswith("大家好，我是值班助手 Deskmate")
    removed = fake.chat_event("im.chat.member.bot.deleted_v1", group, open_id("liujun"), token=desk.token)
    await desk.deliver(removed)
    entered = fake.chat_event(
        "im.chat.access_event.bot_p2p_chat_entered_v1", "oc_p2p_x", open_id("wangfang"), token=desk.token
    )
    await desk.deliver(entered)  # answered 200
    async with app.db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(audit_log.c.action, audit_log.c.actor, audit_log.c.object_id, audit_log.c.after)
                .where(audit_log.c.action.like("feishu.bot_%"))
                .order_by(audit_log.c.id)
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("feishu.bot_added", "liujun", group, {"name": "客服二组"}),
        ("feishu.bot_removed", "liujun", group, {"name": ""}),
    ]
    assert len(fake.sends()) == 1 and await _count(app, inbox) == 2  # the p2p entry stored nothing
