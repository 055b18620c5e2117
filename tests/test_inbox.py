"""The inbox: stored before the platform hears back, handled once, in order per chat, with its effects in
the same transaction; failures retried, then parked with the sender told; operators retry or discard."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from bot import audit, cli, inbox
from bot.app import App, table_count
from bot.clock import FakeClock
from bot.db import StorageUnavailable
from bot.inbox import Row, Update
from bot.messages import Outgoing
from bot.outbox import enqueue
from bot.schema import audit_log, outbox
from bot.schema import inbox as inbox_table
from bot.settings import Settings
from tests.helpers import Chat, wait_until


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Both databases: the claim (FOR UPDATE SKIP LOCKED on PostgreSQL) and savepoints differ."""
    return str(request.param)


def update(key: str, chat: str = "c1", text: str = "hi", sender: str = "wangfang") -> Update:
    return Update("test", key, sender, chat, {"text": text})


async def states(app: App) -> dict[str, tuple[str, int]]:
    async with app.db.read() as conn:
        rows = await conn.execute(
            sa.select(inbox_table.c.dedupe_key, inbox_table.c.state, inbox_table.c.attempts)
        )
        return {key: (state, attempts) for key, state, attempts in rows}


async def test_a_redelivery_is_dropped_at_the_insert(app: App) -> None:
    first = await app.inbox.put(update("u1"))
    assert first is not None
    assert await app.inbox.put(update("u1", text="again")) is None
    assert await table_count(app, inbox_table) == 1


async def test_updates_arriving_together_share_a_commit_and_each_learns_its_fate(app: App) -> None:
    import asyncio

    ids = await asyncio.gather(*(app.inbox.put(update(f"u{i % 5}")) for i in range(20)))
    assert len({i for i in ids if i is not None}) == 5
    assert await table_count(app, inbox_table) == 5


async def test_the_worker_handles_each_row_once_with_its_effects_in_the_same_transaction(app: App) -> None:
    handled: list[str] = []

    async def handler(row: Row) -> None:
        handled.append(row.payload["text"])
        async with app.db.transaction() as conn:  # the handler's own transaction joins the unit
            await enqueue(
                conn, Outgoing(f"re: {row.payload['text']}", to_person=row.sender_id), app.clock.now()
            )

    app.inbox.register("test", handler)
    for i in range(3):
        await app.inbox.put(update(f"u{i}", text=f"m{i}"))
    assert await app.inbox.drain() == 3
    assert await app.inbox.drain() == 0
    assert handled == ["m0", "m1", "m2"]
    assert set((await states(app)).values()) == {("done", 0)}
    assert await table_count(app, outbox) == 3


async def test_a_failing_row_undoes_only_itself_and_is_retried_then_parked(
    app: App, clock: FakeClock
) -> None:
    calls: list[str] = []

    async def handler(row: Row) -> None:
        calls.append(row.payload["text"])
        async with app.db.transaction() as conn:
            await enqueue(conn, Outgoing(row.payload["text"], to_person="wangfang"), app.clock.now())
        if row.payload["text"] == "bad":
            raise RuntimeError("a bug in a handler")

    app.inbox.register("test", handler, max_attempts=3)
    await app.inbox.put(update("u1", chat="a", text="good"))
    await app.inbox.put(update("u2", chat="b", text="bad"))
    await app.inbox.put(update("u3", chat="c", text="also good"))
    await app.inbox.drain()  # one batch: the bad row's savepoint is rolled back, the others kept
    assert await states(app) == {"u1": ("done", 0), "u2": ("pending", 1), "u3": ("done", 0)}
    async with app.db.read() as conn:
        texts = list((await conn.execute(sa.select(outbox.c.payload))).scalars())
    assert [p["text"] for p in texts] == ["good", "also good"]  # nothing of the bad row's effects
    assert await app.inbox.drain() == 0  # not due again before its backoff
    clock.set(clock.now() + timedelta(seconds=2))
    await app.inbox.drain()
    clock.set(clock.now() + timedelta(seconds=4))
    await app.inbox.drain()
    assert (await states(app))["u2"] == ("parked", 3)
    clock.set(clock.now() + timedelta(days=1))
    assert await app.inbox.drain() == 0  # never retried forever
    assert calls.count("bad") == 3
    # The sender is told it did not go through, in their language, with the error code.
    async with app.db.read() as conn:
        texts = [p["text"] for p in (await conn.execute(sa.select(outbox.c.payload))).scalars()]
        [parked] = await audit.rows_for(conn, "inbox", "2")
    assert texts[-1].startswith("抱歉，处理时出了点问题") and "错误码 E" in texts[-1]
    assert parked["action"] == "inbox.parked" and "a bug in a handler" in parked["after"]["error"]
    assert app.metrics.inbox_parked._value.get() == 1
    [listed] = await inbox.listing(app.db)
    assert listed.id == 2 and listed.state == "parked" and "RuntimeError" in (listed.error or "")


async def test_an_operator_retries_or_discards_parked_rows(app: App, clock: FakeClock) -> None:
    fail = [True]

    async def handler(row: Row) -> None:
        if fail[0]:
            raise RuntimeError("down")

    app.inbox.register("test", handler, max_attempts=1)
    await app.inbox.put(update("u1", chat="a"))
    await app.inbox.put(update("u2", chat="b"))
    await app.inbox.drain()
    assert {s for s, _ in (await states(app)).values()} == {"parked"}
    fail[0] = False
    assert await inbox.operate(app.db, [1], "retry", actor="ops", now=clock.now()) == 1
    assert await inbox.operate(app.db, [2], "discard", actor="ops", now=clock.now()) == 1
    assert await inbox.operate(app.db, [2], "discard", actor="ops", now=clock.now()) == 0  # not parked now
    await app.inbox.drain()
    assert await states(app) == {"u1": ("done", 0), "u2": ("done", 1)}
    async with app.db.read() as conn:
        actions = list(
            (await conn.execute(sa.select(audit_log.c.action).where(audit_log.c.actor == "ops"))).scalars()
        )
    assert sorted(actions) == ["inbox.discard", "inbox.retry"]


async def test_a_chat_is_handled_in_order_across_workers(app: App) -> None:
    """A second worker (another replica) does not take a chat's later row while an earlier one is claimed."""
    other = inbox.Inbox(app.db, app.clock, worker_id="replica-2")
    seen: list[str] = []

    async def handler(row: Row) -> None:
        seen.append(row.payload["text"])

    app.inbox.register("test", handler)
    other.register("test", handler)
    app.inbox.batch = 1
    await app.inbox.put(update("u1", chat="x", text="first"))
    await app.inbox.put(update("u2", chat="x", text="second"))
    await app.inbox.put(update("u3", chat="y", text="other chat"))
    claimed = await app.inbox._claim(app.clock.now())  # claimed, not yet handled ("in flight")
    assert [r.payload["text"] for r in claimed] == ["first"]
    assert await other.drain() == 1
    assert seen == ["other chat"]  # chat x waits for its first row


async def test_a_crashed_workers_claim_expires_and_another_takes_the_row_once(
    app: App, clock: FakeClock
) -> None:
    seen: list[str] = []

    async def handler(row: Row) -> None:
        seen.append(row.payload["text"])

    dead = inbox.Inbox(app.db, app.clock, worker_id="dead", claim_seconds=60)
    dead.register("test", handler)
    app.inbox.register("test", handler)
    await app.inbox.put(update("u1"))
    assert len(await dead._claim(clock.now())) == 1  # then it is killed
    assert await app.inbox.drain() == 0  # still claimed
    clock.set(clock.now() + timedelta(seconds=61))
    assert await app.inbox.drain() == 1
    assert seen == ["hi"]
    assert await dead.work() == 0  # the dead worker, were it to come back, finds nothing of its own


async def test_committing_queued_messages_wakes_the_outbox(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    assert app.dispatcher is not None and chat.console is not None
    app.dispatcher.wakeup.clear()
    async with app.db.transaction() as conn:
        await conn.execute(sa.select(1))
    assert not app.dispatcher.wakeup.is_set()  # nothing queued, no wake-up
    async with app.db.transaction() as conn:
        await enqueue(conn, Outgoing("hi", to_person="wangfang"), clock.now())
        assert not app.dispatcher.wakeup.is_set()  # not before the commit
    assert app.dispatcher.wakeup.is_set()


async def test_a_console_line_is_an_inbox_row_handled_inline(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    replies = await chat.say("wangfang", "/whoami")
    assert len(replies) == 1
    [row] = await inbox.listing(app.db, None)
    assert row.platform == "console" and row.state == "done" and row.sender_id == "wangfang"


async def test_the_inbox_command_lists_retries_and_discards(
    app: App, settings: Settings, monkeypatch: Any
) -> None:
    async def handler(row: Row) -> None:
        raise RuntimeError("still broken")

    app.inbox.register("test", handler, max_attempts=1)
    await app.inbox.put(update("u1", chat="a"))
    await app.inbox.put(update("u2", chat="b"))
    await app.inbox.drain()

    async def run(*argv: str) -> tuple[int, str]:
        args = cli.build_parser().parse_args(list(argv))
        assert args.func is cli.cmd_inbox  # `deskmate inbox …` runs this (in its own event loop)
        out = io.StringIO()
        with redirect_stdout(out):
            code = await cli._inbox(args, settings)
        return code, out.getvalue()

    code, text = await run("inbox", "list", "--json")
    listed = json.loads(text)
    assert (
        code == 0
        and [r["id"] for r in listed] == [1, 2]
        and listed[0]["error"] == "RuntimeError: still broken"
    )
    assert await run("inbox", "retry", "1") == (0, "1 of 1 parked rows back in line\n")
    assert await run("inbox", "discard", "2", "7") == (1, "1 of 2 parked rows discarded\n")
    code, text = await run("inbox", "list")
    assert code == 0 and text == "no rows\n"
    code, text = await run("inbox", "list", "--state", "all", "--json")
    assert [(r["id"], r["state"]) for r in json.loads(text)] == [(1, "pending"), (2, "done")]


async def test_a_failing_database_is_not_parked_the_row_stays_for_later(app: App) -> None:
    async def handler(row: Row) -> None:
        raise ConnectionError("could not connect to server")

    app.inbox.register("test", handler)
    await app.inbox.put(update("u1"))
    with pytest.raises(StorageUnavailable):
        await app.inbox.work()
    assert await states(app) == {"u1": ("pending", 0)}  # claimed until the claim expires, then again


async def test_a_row_whose_handler_is_not_ready_waits_outside_the_transaction_and_holds_only_its_chat(
    app: App,
) -> None:
    """A handler that needs something still being prepared (the knowledge base after a start) raises
    `NotReady`: its row goes back unhandled, with no attempt counted, other chats go on, and no
    transaction stays open meanwhile (a write commits at once); once ready, the chat's rows follow in
    order."""
    import asyncio

    ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    handled: list[str] = []

    async def handler(row: Row) -> None:
        if row.payload["text"] == "question" and not ready.done():
            raise inbox.NotReady(ready)
        handled.append(row.payload["text"])

    app.inbox.register("test", handler)
    await app.inbox.put(update("q", chat="c1", text="question"))
    await app.inbox.put(update("later", chat="c1", text="after the question"))
    await app.inbox.put(update("other", chat="c2", text="clock in"))
    while await app.inbox.work():  # `drain` would wait for it to be ready
        pass
    assert handled == ["clock in"]
    assert (await states(app))["q"] == ("pending", 0)
    await asyncio.wait_for(
        app.audit(at=app.clock.now(), actor="t", action="t", object_type="t", object_id="t"), 30
    )
    assert await app.inbox.work() == 0  # still waiting: not claimed again meanwhile
    asyncio.get_running_loop().call_soon(ready.set_result, None)
    await app.inbox.drain()  # waits for it, then handles the chat's rows
    assert handled == ["clock in", "question", "after the question"]
    assert set((await states(app)).values()) == {("done", 0)}


async def test_a_handbook_question_while_the_knowledge_base_is_built_holds_no_lock(
    app: App, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first question after a start waits for the build outside any transaction: while it waits,
    another person's clock-in is stored (SQLite would refuse it if the question held the write lock),
    and the question is answered with its article once the build is done."""
    import asyncio

    from knowledge.service import KnowledgeService

    gate, started = asyncio.Event(), asyncio.Event()
    build = KnowledgeService.acreate

    async def slow_build(*args: Any, **kwargs: Any) -> KnowledgeService:
        started.set()
        await gate.wait()
        return await build(*args, **kwargs)

    monkeypatch.setattr(KnowledgeService, "acreate", slow_build)
    chat = Chat(app, clock)
    asking = asyncio.create_task(chat.say("wangfang", "迟到多少分钟算旷工？"))
    await wait_until(started.is_set, what="the knowledge base build to start")
    clocked = await asyncio.wait_for(chat.say("liuyang", "/in"), 30)
    assert clocked and not asking.done()
    gate.set()
    answer = await asyncio.wait_for(asking, 120)
    # 第三十条: more than 2 hours late without approved leave counts as half a day's absence.
    assert any("第三十条" in record["text"] for record in answer), answer
