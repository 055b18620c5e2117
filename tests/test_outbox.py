"""The outbox: stored before sent, retried with backoff, order kept per chat, never doubled."""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from bot import outbox
from bot.app import App
from bot.clock import FakeClock
from bot.core import Core
from bot.db import StorageUnavailable
from bot.messages import Button, Outgoing
from bot.outbox import Copy, Delivery, RecipientBlocked, RetryLater
from bot.ratelimit import RateLimiter
from bot.schema import audit_log, message_copies, people, send_slots
from bot.schema import outbox as outbox_table
from bot.shared_rate import SharedRateLimiter
from tests.helpers import wait_until


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

    async def tell_lead(app_: Core, conn: object, person_id: str, left: bool) -> None:
        told.append(person_id if not left else f"{person_id} (left)")

    app.hooks.on_blocked = [tell_lead]
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


class StallingTime:
    """Virtual time for concurrent sleepers; every `stall_every`-th wake-up comes 300 ms late, as on a
    busy event loop, and whoever was due meanwhile wakes together with it."""

    def __init__(self, stall_every: int) -> None:
        self.now = 0.0
        self.stall_every = stall_every
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._woken = 0

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, id(future), future))
        await future

    async def drive(self, work: asyncio.Future[Any], running: Callable[[], int] | None = None) -> None:
        """Wake the sleepers in time order. With `running` (how many senders are not finished), time
        moves on only once each of them sleeps: one still in a database call must not be overtaken."""
        while not work.done():
            for _ in range(20):  # let every runnable task reach its next sleep
                await asyncio.sleep(0)
            if running is not None and len(self._sleepers) < running():
                await asyncio.sleep(0.001)  # someone is still working (real I/O): let them
                continue
            if not self._sleepers:
                continue
            due, _, future = heapq.heappop(self._sleepers)
            self._woken += 1
            late = 0.3 if self.stall_every and self._woken % self.stall_every == 0 else 0.0
            self.now = max(self.now, due + late)
            future.set_result(None)


async def _send_through(limiter: RateLimiter, time_: StallingTime, senders: int, each: int) -> list[float]:
    granted: list[float] = []

    async def sender(s: int) -> None:
        for i in range(each):
            await limiter.acquire(f"chat{s}-{i}")
            granted.append(time_.now)

    work = asyncio.ensure_future(asyncio.gather(*(sender(s) for s in range(senders))))
    await time_.drive(work)
    return granted


async def test_rate_limiter_late_wakeups_never_put_more_than_the_rate_in_a_rolling_second() -> None:
    """The outbox sends to 8 chats at once; when the loop wakes them late they go out together. Counted
    by when they really left, no rolling second may hold more than the rate."""
    late = StallingTime(stall_every=7)
    limiter = RateLimiter(29, now=lambda: late.now, sleep=late.sleep)
    granted = await _send_through(limiter, late, senders=8, each=40)
    busiest = max(sum(1 for t in granted if start <= t < start + 1.0) for start in granted)
    assert len(granted) == 320 and busiest == 29  # catching up to the rate, never beyond it

    on_time = StallingTime(stall_every=0)
    limiter = RateLimiter(29, now=lambda: on_time.now, sleep=on_time.sleep)
    granted = await _send_through(limiter, on_time, senders=8, each=40)
    assert abs(max(granted) - 319 / 29) < 1e-6  # the check costs nothing when sleepers wake on time


async def test_replicas_sharing_the_send_slots_keep_to_the_rate_together(app: App) -> None:
    """Two replicas, each sending to 4 chats at once: alone each would keep 29/s, together 58/s."""
    shared = StallingTime(stall_every=0)
    epoch = 1_800_000_000.0  # the slots hold wall-clock seconds

    def replica() -> SharedRateLimiter:
        return SharedRateLimiter(
            app.db, "telegram:42", 29, now=lambda: epoch + shared.now, sleep=shared.sleep
        )

    replicas = [replica(), replica()]
    granted: list[float] = []
    unfinished = [8]

    async def sender(limiter: RateLimiter, s: int) -> None:
        for i in range(15):
            await limiter.acquire(f"chat{s}-{i}")
            granted.append(shared.now)
        unfinished[0] -= 1

    work = asyncio.ensure_future(asyncio.gather(*(sender(r, s) for r in replicas for s in range(4))))
    await shared.drive(work, running=lambda: unfinished[0])
    # (a tenth of a millisecond less than a second: slot times pass through the database as epoch seconds,
    # where a double keeps about seven digits after the point, and the grid drifts by that much)
    busiest = max(sum(1 for t in granted if start <= t < start + 1.0 - 1e-4) for start in granted)
    assert len(granted) == 120 and busiest <= 29
    assert max(granted) < 120 / 29 + 0.1  # and no slot is wasted: 120 sends take 119/29 s
    async with app.db.read() as conn:
        names = (await conn.execute(sa.select(send_slots.c.name))).scalars().all()
    assert names == ["telegram:42"]


async def test_an_edit_waits_for_the_message_it_edits_even_in_the_same_pass(app: App) -> None:
    """A card still pending (an outage) when it is decided: its edit must not go out first, to no copy."""
    transport = SlowTransport()
    app.attach(transport)
    card = Outgoing("approve?", to_person="zhanglei", buttons=[[Button("OK", "x.ok")]])
    await queue(app, card, Outgoing("approved by 张磊", edit_of=card.id))
    seen: list[Delivery] = []
    real = transport.deliver

    async def deliver(item: Delivery) -> list[Copy]:
        seen.append(item)
        return await real(item)

    transport.deliver = deliver  # type: ignore[method-assign]
    await app.deliver()
    assert [item.text for item in seen] == ["approve?", "approved by 张磊"]
    assert [c.chat_id for c in seen[1].edit_copies] == ["zhanglei"]


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


class SlowTransport(FlakyTransport):
    """Eight chats in flight at once, each send taking a moment, as over a network."""

    concurrency = 8

    async def deliver(self, item: Delivery) -> list[Copy]:
        await asyncio.sleep(0.01)
        return await super().deliver(item)


PEOPLE = ["wangfang", "liuyang", "chenjing", "zhanglei", "lina", "maqiang", "liujun", "chenhui"]


async def test_senders_working_together_store_their_outcomes_in_shared_transactions(app: App) -> None:
    transport = SlowTransport()
    app.attach(transport)
    await queue(app, *(Outgoing(f"{p}-{i}", to_person=p) for i in range(3) for p in PEOPLE))
    writes = [0]
    real = app.db.transaction

    def counting() -> Any:
        writes[0] += 1
        return real()

    app.db.transaction = counting  # type: ignore[method-assign]
    await app.deliver()
    app.db.transaction = real  # type: ignore[method-assign]
    assert len(transport.delivered) == 24 and await app.dispatcher.pending_count() == 0  # type: ignore[union-attr]
    # 3 claims and, for 24 rows sent 8 at a time, far fewer than 24 finishing transactions.
    assert writes[0] <= 3 + 6
    async with app.db.read() as conn:
        rows = (await conn.execute(sa.select(outbox_table.c.status, outbox_table.c.claimed_by))).all()
        copies = (await conn.execute(sa.select(sa.func.count()).select_from(message_copies))).scalar()
    assert {tuple(r) for r in rows} == {("sent", None)} and copies == 24


async def test_an_outcome_that_cannot_be_stored_leaves_the_row_claimed_then_sent_again_not_lost(
    app: App, clock: FakeClock
) -> None:
    transport = FlakyTransport()
    app.attach(transport)
    await queue(app, Outgoing("hello", to_person="wangfang"))
    real = app.dispatcher._store_outcomes  # type: ignore[union-attr]
    broken = [True]

    async def store(conn: Any, batch: Any) -> None:
        if broken.pop() if broken else False:
            raise ConnectionError("could not connect to server")
        await real(conn, batch)

    app.dispatcher._store_outcomes = store  # type: ignore[union-attr,method-assign]
    # A lost connection is a storage failure: it surfaces as its own type, the driver error as its cause.
    with pytest.raises(StorageUnavailable):
        await app.deliver()
    assert transport.delivered == [("wangfang", "hello")]
    assert await app.deliver() == 0  # still claimed: not sent again at once
    clock.set(clock.now() + timedelta(seconds=app.settings.outbox_claim_seconds + 1))
    await app.deliver()  # the claim ran out: sent again (at least once, never lost)
    assert transport.delivered == [("wangfang", "hello")] * 2
    assert await app.dispatcher.pending_count() == 0  # type: ignore[union-attr]


class HungTransport:
    """A platform whose answer never comes for one chat (a hung HTTP call), and is quick for others."""

    platform = "fake"
    concurrency = 8

    def __init__(self, hung: str) -> None:
        self.hung = hung
        self.calls: list[str] = []

    async def deliver(self, item: Delivery) -> list[Copy]:
        chat = item.recipient.id if item.recipient else str(item.chat_id)
        self.calls.append(chat)
        if chat == self.hung:
            await asyncio.Event().wait()  # never answered
        return [Copy(chat, f"m{len(self.calls)}")]


async def test_a_hung_send_is_given_up_on_and_retried_once_at_most(app: App, clock: FakeClock) -> None:
    transport = HungTransport(hung="wangfang")
    dispatcher = app.attach(transport)
    dispatcher.send_timeout = 0.2  # real seconds: the hung call never answers, however fast the machine
    await queue(app, Outgoing("卡住", to_person="wangfang"), Outgoing("照常", to_person="liuyang"))
    assert await app.deliver() == 1  # the other chat was not held up beyond the deadline
    assert transport.calls.count("liuyang") == 1
    clock.set(clock.now() + timedelta(seconds=5))
    await app.deliver()  # tried once more after its backoff …
    clock.set(clock.now() + timedelta(hours=1))
    await app.deliver()  # … and never again
    assert transport.calls.count("wangfang") == 2
    async with app.db.read() as conn:
        status, error = (
            await conn.execute(
                sa.select(outbox_table.c.status, outbox_table.c.last_error).where(
                    outbox_table.c.to_person == "wangfang"
                )
            )
        ).one()
    assert status == outbox.FAILED and error == "send timed out twice"


async def test_the_live_worker_keeps_other_chats_flowing_while_one_send_hangs(app: App) -> None:
    """A chat whose send hangs holds only itself: messages queued for other chats afterwards go out while
    it still hangs (the worker does not wait for a whole pass). The hung send's deadline is an hour here,
    so a worker that waited for it would time this test out, however fast the machine."""
    transport = HungTransport(hung="wangfang")
    dispatcher = app.attach(transport)
    dispatcher.send_timeout = 3600.0

    async def sent() -> dict[str, int]:
        async with app.db.read() as conn:
            query = (
                sa.select(outbox_table.c.to_person, sa.func.count())
                .where(outbox_table.c.status == outbox.SENT)
                .group_by(outbox_table.c.to_person)
            )
            return {person: int(n) for person, n in await conn.execute(query)}

    worker = asyncio.create_task(dispatcher.run_forever(idle_seconds=0.05))
    try:
        await queue(app, Outgoing("卡住", to_person="wangfang"), Outgoing("第一条", to_person="liuyang"))
        await wait_until(
            lambda: "liuyang" in transport.calls and "wangfang" in transport.calls,
            what="the hung send and the other chat's first message",
            state=lambda: f"calls {transport.calls}",
        )
        for n in range(3):  # later messages, to the same other chat and to a third one
            await queue(
                app, Outgoing(f"又一条 {n}", to_person="liuyang"), Outgoing(f"第{n}条", to_person="zhanglei")
            )

        async def all_sent() -> bool:
            return await sent() == {"liuyang": 4, "zhanglei": 3}

        await wait_until(
            all_sent,
            what="four messages to liuyang and three to zhanglei sent while wangfang's send hangs",
            state=lambda: f"calls {transport.calls}",
        )
        assert transport.calls.count("wangfang") == 1  # still hanging, not sent again meanwhile
        assert not worker.done()
    finally:
        dispatcher.stop()
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)


async def test_a_send_still_in_hand_is_not_claimed_again_when_the_clock_passes_its_claim(
    app: App, clock: FakeClock
) -> None:
    """The clock jumps past a claim while this process is still sending the row (a clock set forward, a
    send slower than its claim). The worker must not take the row again: the person would get it twice.
    Another chat queued after the jump still goes out, so the worker is claiming, just not that row."""
    transport = HungTransport(hung="wangfang")
    dispatcher = app.attach(transport)
    dispatcher.send_timeout = 3600.0
    worker = asyncio.create_task(dispatcher.run_forever(idle_seconds=0.05))
    try:
        await queue(app, Outgoing("卡住", to_person="wangfang"))
        await wait_until(lambda: "wangfang" in transport.calls, what="the hung send", state=lambda: "")
        clock.set(clock.now() + timedelta(seconds=outbox.CLAIM_SECONDS * 2))
        await queue(app, Outgoing("照常", to_person="liuyang"))
        dispatcher.wakeup.set()
        await wait_until(
            lambda: "liuyang" in transport.calls,
            what="the message queued after the jump",
            state=lambda: f"calls {transport.calls}",
        )
        for _ in range(3):  # more passes of the worker, each of which could take the expired row
            dispatcher.wakeup.set()
            await asyncio.sleep(0.06)
        assert transport.calls.count("wangfang") == 1
    finally:
        dispatcher.stop()
        worker.cancel()
