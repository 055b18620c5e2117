"""The outbox: stored before sent, retried with backoff, order kept per chat, never doubled."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from bot import outbox
from bot.app import App
from bot.clock import FakeClock
from bot.messages import Button, Outgoing
from bot.outbox import Copy, Delivery, RecipientBlocked, RetryLater
from bot.ratelimit import RateLimiter
from bot.schema import audit_log, people


class FlakyTransport:
    platform = "fake"

    def __init__(self) -> None:
        self.delivered: list[tuple[str, str]] = []
        self.failures: list[BaseException] = []

    async def deliver(self, item: Delivery) -> list[Copy]:
        if self.failures:
            raise self.failures.pop(0)
        chat = item.recipient.id if item.recipient else str(item.chat_id)
        self.delivered.append((chat, item.text))
        return [Copy(chat, f"m{len(self.delivered)}")]


async def queue(app: App, *messages: Outgoing, key: str | None = None) -> list[bool]:
    results = []
    async with app.db.transaction() as conn:
        for message in messages:
            results.append(await outbox.enqueue(conn, message, app.clock.now(), idempotency_key=key))
    return results


async def test_retry_after_keeps_order_per_chat(app: App, clock: FakeClock) -> None:
    transport = FlakyTransport()
    app.attach(transport)
    await queue(
        app, *(Outgoing(f"m{i}", to_person="wangfang") for i in range(3)), Outgoing("x", to_person="liuyang")
    )
    transport.failures = [RetryLater(30)]
    await app.deliver()
    # wangfang's first message hit 429: none of hers went out (order), liuyang's did.
    assert transport.delivered == [("liuyang", "x")]
    clock.set(clock.now() + timedelta(seconds=29))
    assert await app.deliver() == 0
    clock.set(clock.now() + timedelta(seconds=2))
    await app.deliver()
    assert transport.delivered[1:] == [("wangfang", "m0"), ("wangfang", "m1"), ("wangfang", "m2")]
    assert await app.dispatcher.pending_count() == 0  # type: ignore[union-attr]


async def test_network_errors_back_off_then_deliver_once(app: App, clock: FakeClock) -> None:
    transport = FlakyTransport()
    app.attach(transport)
    await queue(app, Outgoing("hello", to_person="wangfang"))
    transport.failures = [ConnectionError("refused"), ConnectionError("refused")]
    await app.deliver()
    clock.set(clock.now() + timedelta(seconds=2))
    await app.deliver()
    assert transport.delivered == []
    clock.set(clock.now() + timedelta(seconds=5))
    await app.deliver()
    clock.set(clock.now() + timedelta(minutes=10))
    await app.deliver()
    assert transport.delivered == [("wangfang", "hello")]


async def test_idempotency_key_queues_once(app: App) -> None:
    first = await queue(
        app, Outgoing("reminder", to_person="wangfang"), key="shift_start:wangfang:2026-12-01"
    )
    second = await queue(
        app, Outgoing("reminder", to_person="wangfang"), key="shift_start:wangfang:2026-12-01"
    )
    assert first == [True] and second == [False]


async def test_blocked_recipient_is_marked_once(app: App) -> None:
    transport = FlakyTransport()
    app.attach(transport)
    told: list[str] = []

    async def tell_lead(app_: App, conn: object, person_id: str) -> None:
        told.append(person_id)

    app.services["on_blocked"] = [tell_lead]
    await queue(app, Outgoing("a", to_person="wangfang"), Outgoing("b", to_person="wangfang"))
    transport.failures = [RecipientBlocked("403"), RecipientBlocked("403")]
    await app.deliver()
    assert told == ["wangfang"]
    async with app.db.read() as conn:
        blocked_at = (
            await conn.execute(sa.select(people.c.blocked_at).where(people.c.id == "wangfang"))
        ).scalar()
        actions = (await conn.execute(sa.select(audit_log.c.action))).scalars().all()
    assert blocked_at is not None and actions.count("person.blocked_bot") == 1


async def test_edits_reach_every_copy(app: App) -> None:
    transport = FlakyTransport()
    app.attach(transport)
    card = Outgoing("approve?", to_person="zhanglei", buttons=[[Button("OK", "x.ok")]])
    await queue(app, card)
    await app.deliver()
    seen: list[Delivery] = []

    class Recorder(FlakyTransport):
        async def deliver(self, item: Delivery) -> list[Copy]:
            seen.append(item)
            return []

    app.attach(Recorder())
    await queue(app, Outgoing("approved by 张磊", edit_of=card.id))
    await app.deliver()
    assert [c.chat_id for c in seen[0].edit_copies] == ["zhanglei"]


async def test_rate_limiter_spaces_global_and_per_chat() -> None:
    now = [0.0]
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(30, 1, now=lambda: now[0], sleep=fake_sleep)
    for chat in ("a", "b", "c"):
        await limiter.acquire(chat)
    await limiter.acquire("a")
    assert waits[0] == 1 / 30 and abs(now[0] - 1.0) < 1e-9


async def test_platform_down_for_30_seconds_then_back_delivers_everything_once_in_order(
    app: App, clock: FakeClock
) -> None:
    """Refusing connections and answering 500 for 30 s (fake time): nothing lost, nothing doubled."""

    class Outage(FlakyTransport):
        down_until = clock.now() + timedelta(seconds=30)
        attempts = 0

        async def deliver(self, item: Delivery) -> list[Copy]:
            self.attempts += 1
            if clock.now() < self.down_until:
                raise ConnectionRefusedError("refused") if self.attempts % 2 else RetryLater(None, "HTTP 500")
            return await super().deliver(item)

    transport = Outage()
    app.attach(transport)
    people = ["wangfang", "liuyang", "chenjing"]
    await queue(app, *(Outgoing(f"{p}-{i}", to_person=p) for i in range(4) for p in people))
    for _ in range(40):  # the worker keeps trying every second of fake time
        await app.deliver()
        clock.set(clock.now() + timedelta(seconds=1))
    clock.set(clock.now() + timedelta(minutes=5))
    for _ in range(5):
        await app.deliver()
        clock.set(clock.now() + timedelta(seconds=5))
    assert transport.attempts > 3
    for person in people:
        assert [text for chat, text in transport.delivered if chat == person] == [
            f"{person}-{i}" for i in range(4)
        ]
    assert len(transport.delivered) == 12
