"""The inbox, symmetric to the outbox: every update from every platform is stored and committed before
the platform gets its answer, and handled afterwards by a worker that marks it done in the same
transaction as its effects and the messages it sends.

A redelivery or a replay is dropped at the insert (the dedupe key is unique per platform). A crash
anywhere leaves the row pending: it is claimed again once its claim expires (`INBOX_CLAIM_SECONDS`), by
this process after a restart or by another replica. A row whose handling keeps failing is parked with
its error after `max_attempts`, its sender is told, and an operator decides (`deskmate inbox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.clock import Clock
from bot.db import Database, insert_or_ignore, storage_failure
from bot.schema import inbox

log = logging.getLogger(__name__)

PENDING, DONE, PARKED = "pending", "done", "parked"
CLAIM_SECONDS = 60
MAX_ATTEMPTS = 3
BATCH = 20


@dataclass(frozen=True)
class Update:
    """One update as an adapter hands it in: who sent it where, the platform's raw payload."""

    platform: str
    dedupe_key: str
    sender_id: str
    chat_id: str
    payload: dict[str, Any]
    platform_at: datetime | None = None
    chat_key: str = ""  # rows with one chat_key are handled in order; defaults to platform:chat_id

    def values(self, now: datetime) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "dedupe_key": self.dedupe_key[:200],
            "chat_key": (self.chat_key or f"{self.platform}:{self.chat_id}")[:128],
            # Kept whole (the columns are wider than any id the core accepts), so the core can refuse an
            # over-long one instead of acting on a shortened one.
            "sender_id": self.sender_id[:256],
            "chat_id": self.chat_id[:256],
            "platform_at": self.platform_at,
            "received_at": now,
            "payload": self.payload,
            "state": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
        }


@dataclass(frozen=True)
class Row:
    """A stored update handed to the platform's handler."""

    id: int
    platform: str
    sender_id: str
    chat_id: str
    payload: dict[str, Any]
    platform_at: datetime | None
    received_at: datetime
    attempts: int
    chat_key: str = ""

    @classmethod
    def of(cls, mapping: Any) -> Row:
        return cls(
            id=mapping["id"],
            platform=mapping["platform"],
            sender_id=mapping["sender_id"],
            chat_id=mapping["chat_id"],
            payload=mapping["payload"],
            platform_at=mapping["platform_at"],
            received_at=mapping["received_at"],
            attempts=mapping["attempts"],
            chat_key=mapping["chat_key"],
        )


# Handles one row inside the unit of work; raising means "not handled" (rolled back, tried again).
RowHandler = Callable[[Row], Awaitable[Any]]
# Tells a parked row's sender it did not go through (queued in the given connection).
ParkedNotice = Callable[[AsyncConnection, Row, BaseException], Awaitable[None]]


@dataclass
class Platform:
    handler: RowHandler
    max_attempts: int = MAX_ATTEMPTS


@dataclass
class Outcome:
    """What handling one row came to (for callers that run a row inline and need the result)."""

    handled: bool
    result: Any = None
    error: BaseException | None = None
    parked: bool = False
    waiting: asyncio.Future[Any] | None = None  # handed back by `NotReady`: handled once this is done


class NotReady(Exception):
    """A handler needs something that is still being prepared (the knowledge base after a start). The
    row is handed back unhandled, not counted as a failure, and its chat waits in this process until
    `ready` is done. Waiting inside the unit instead would hold SQLite's write lock from every other
    chat for as long as the preparation takes."""

    def __init__(self, ready: asyncio.Future[Any]) -> None:
        super().__init__("not ready yet")
        self.ready = ready


def _insert(conn: AsyncConnection) -> Any:
    """Insert new updates, skipping those stored before; RETURNING says which went in. One statement
    whatever the number of rows, executed with a list of parameters: it is compiled once and cached
    (rows written into the statement made a new one per burst size, and cost about 1 ms of CPU each)."""
    statement = insert_or_ignore(conn, inbox, None, key=["platform", "dedupe_key"])
    return statement.returning(inbox.c.id, inbox.c.dedupe_key)


def backoff_seconds(attempts: int) -> float:
    return float(min(2 ** min(attempts, 8), 120))


@dataclass
class _Waiter:
    updates: list[Update]
    done: asyncio.Future[list[int | None]]


class Inbox:
    """Stores updates (`put`) and handles them (`work`, `run_forever`, or `put_and_run` inline)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        claim_seconds: int = CLAIM_SECONDS,
        batch: int = BATCH,
        worker_id: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.claim_seconds = claim_seconds
        self.batch = batch
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.platforms: dict[str, Platform] = {}
        self.on_parked: ParkedNotice | None = None
        self.metrics: Any = None
        self.wakeup = asyncio.Event()
        self.handled_count = 0
        # Called with each row whose outcome (done, retry later, parked) was committed.
        self.on_settled: list[Callable[[Row], None]] = []
        self._putting: list[_Waiter] = []
        self._putter: asyncio.Task[None] | None = None
        self.stopping = False  # set by `stop`: the worker finishes the row in hand and claims no more
        # Chats whose oldest row waits for what a handler was `NotReady` for, and that thing.
        self._waiting: dict[str, asyncio.Future[Any]] = {}

    def register(self, platform: str, handler: RowHandler, *, max_attempts: int = MAX_ATTEMPTS) -> None:
        """An adapter says how its rows are handled; the worker claims only registered platforms."""
        self.platforms[platform] = Platform(handler, max(1, max_attempts))

    # ----- in -------------------------------------------------------------------------------------
    async def put(self, update: Update) -> int | None:
        """Store one update and commit; its row id, or None when it was stored before (a redelivery).

        Updates arriving while a commit is under way wait for the next one and share it, so a burst
        costs a few commits rather than one each. Raises when the database cannot store it: the
        platform must then not get a positive answer."""
        done: asyncio.Future[list[int | None]] = asyncio.get_running_loop().create_future()
        self._putting.append(_Waiter([update], done))
        if self._putter is None or self._putter.done():
            self._putter = asyncio.get_running_loop().create_task(self._write_puts(), name="inbox-put")
        return (await done)[0]

    async def _write_puts(self) -> None:
        while self._putting:
            waiting, self._putting = self._putting, []
            try:
                ids = await self._insert_all([u for w in waiting for u in w.updates])
            except Exception as exc:
                for waiter in waiting:
                    if not waiter.done.done():
                        waiter.done.set_exception(exc)
                continue
            position = 0
            for waiter in waiting:
                count = len(waiter.updates)
                if not waiter.done.done():
                    waiter.done.set_result(ids[position : position + count])
                position += count
        self.wakeup.set()

    async def _insert_all(self, updates: list[Update]) -> list[int | None]:
        now = self.clock.now()
        found: dict[tuple[str, str], int] = {}
        async with self.db.transaction() as conn:
            await self._insert_in(conn, updates, now, found)
        return [found.get((u.platform, u.dedupe_key[:200])) for u in updates]

    async def _insert_in(
        self, conn: AsyncConnection, updates: list[Update], now: datetime, found: dict[tuple[str, str], int]
    ) -> None:
        # One statement per platform (the RETURNING rows say which were new).
        for platform in sorted({u.platform for u in updates}):
            unique: dict[str, dict[str, Any]] = {}
            for update in updates:
                if update.platform == platform:
                    values = update.values(now)
                    unique.setdefault(values["dedupe_key"], values)
            for row_id, key in await conn.execute(_insert(conn), list(unique.values())):
                found[(platform, key)] = row_id

    async def put_and_run(self, update: Update, handler: RowHandler | None = None) -> Outcome | None:
        """Store an update and handle it in the same transaction (the console; a Slack form, whose
        answer must carry the handler's verdict). None for a redelivery. Raises when the database cannot
        store it. A handler failure leaves the row pending, or parks it, as for the worker. A handler
        that is `NotReady` is run again once it is, outside the first transaction."""
        now = self.clock.now()
        async with self.db.unit() as conn:
            found: dict[tuple[str, str], int] = {}
            await self._insert_in(conn, [update], now, found)
            row_id = found.get((update.platform, update.dedupe_key[:200]))
            if row_id is None:
                return None
            mapping = (await conn.execute(sa.select(inbox).where(inbox.c.id == row_id))).one()._mapping
            row = Row.of(mapping)
            outcome = await self._handle_in(conn, row, handler)
        while outcome.waiting is not None:
            with contextlib.suppress(Exception):  # a failed preparation fails the handler, once more
                await outcome.waiting
            async with self.db.unit() as conn:
                pending = (inbox.c.id == row.id) & (inbox.c.state == PENDING)
                again = (await conn.execute(sa.select(inbox).where(pending))).first()
                if again is None:  # another replica handled it meanwhile
                    return Outcome(False)
                row = Row.of(again._mapping)
                outcome = await self._handle_in(conn, row, handler)
        self._settled([row])
        return outcome

    # ----- handling --------------------------------------------------------------------------------
    async def _handle_in(self, conn: AsyncConnection, row: Row, handler: RowHandler | None = None) -> Outcome:
        """Handle one row inside the open unit: a savepoint, so a failure undoes this row only."""
        platform = self.platforms.get(row.platform)
        if platform is None:
            raise LookupError(f"no handler for {row.platform} inbox rows")
        try:
            async with conn.begin_nested():
                result = await (handler or platform.handler)(row)
                await conn.execute(
                    inbox.update()
                    .where(inbox.c.id == row.id)
                    .values(state=DONE, done_at=self.clock.now(), claimed_by=None, claimed_until=None)
                )
        except NotReady as exc:
            # Handed back (its savepoint is undone): no attempt counted, the chat waits for `ready`.
            await conn.execute(
                inbox.update().where(inbox.c.id == row.id).values(claimed_by=None, claimed_until=None)
            )
            self._wait_for(row.chat_key, exc.ready)
            return Outcome(False, waiting=exc.ready)
        except Exception as exc:
            if storage_failure(exc):
                # The database, not the update, is at fault (and SQLite may have rolled the whole
                # transaction back): let the unit fail; the row is tried again once storage is back.
                raise
            parked = await self._failed(conn, row, platform, exc)
            return Outcome(False, error=exc, parked=parked)
        self.handled_count += 1
        return Outcome(True, result)

    def _wait_for(self, chat_key: str, ready: asyncio.Future[Any]) -> None:
        self._waiting[chat_key] = ready

        def resume(done: asyncio.Future[Any]) -> None:
            if not done.cancelled():
                done.exception()  # retrieved: the handler meets a failed preparation itself, next time
            if self._waiting.get(chat_key) is done:
                del self._waiting[chat_key]
            self.wakeup.set()

        ready.add_done_callback(resume)

    async def _failed(self, conn: AsyncConnection, row: Row, platform: Platform, exc: BaseException) -> bool:
        attempts = row.attempts + 1
        reason = f"{type(exc).__name__}: {exc}"[:500]
        park = attempts >= platform.max_attempts
        now = self.clock.now()
        values: dict[str, Any] = {
            "attempts": attempts,
            "error": reason,
            "claimed_by": None,
            "claimed_until": None,
        }
        if park:
            values["state"] = PARKED
            log.error("inbox row %s parked after %s attempts: %s", row.id, attempts, reason, exc_info=exc)
        else:
            values["next_attempt_at"] = now + timedelta(seconds=backoff_seconds(attempts))
            log.warning("inbox row %s failed (attempt %s), will retry: %s", row.id, attempts, reason)
        async with conn.begin_nested():
            await conn.execute(inbox.update().where(inbox.c.id == row.id).values(**values))
            if park:
                from bot.audit import record

                await record(
                    conn,
                    at=now,
                    actor="system",
                    action="inbox.parked",
                    object_type="inbox",
                    object_id=str(row.id),
                    after={"attempts": attempts, "error": reason},
                )
                if self.on_parked is not None:
                    await self.on_parked(conn, row, exc)
        if park and self.metrics is not None:
            self.metrics.inbox_parked.inc()
        return park

    async def _claim(self, now: datetime) -> list[Row]:
        earlier = inbox.alias("earlier")
        # A row waits while an earlier one of its chat is pending: a chat's updates in order.
        blocked_by_earlier = (
            sa.select(earlier.c.id)
            .where(
                earlier.c.chat_key == inbox.c.chat_key, earlier.c.state == PENDING, earlier.c.id < inbox.c.id
            )
            .exists()
        )
        due: tuple[sa.ColumnElement[bool], ...] = (
            inbox.c.state == PENDING,
            inbox.c.platform.in_(sorted(self.platforms)),
            inbox.c.next_attempt_at <= now,
            sa.or_(inbox.c.claimed_until.is_(None), inbox.c.claimed_until < now),
        )
        if self._waiting:
            due = (*due, inbox.c.chat_key.not_in(sorted(self._waiting)))
        async with self.db.read() as conn:  # look before taking the write lock
            if (await conn.execute(sa.select(inbox.c.id).where(*due).limit(1))).first() is None:
                return []
        async with self.db.transaction() as conn:
            query = sa.select(inbox).where(*due, ~blocked_by_earlier).order_by(inbox.c.id).limit(self.batch)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = [Row.of(r._mapping) for r in await conn.execute(query)]
            if rows:
                await conn.execute(
                    inbox.update()
                    .where(inbox.c.id.in_([r.id for r in rows]))
                    .values(
                        claimed_by=self.worker_id, claimed_until=now + timedelta(seconds=self.claim_seconds)
                    )
                )
        return rows

    async def work(self) -> int:
        """Claim due rows and handle them in one transaction, a savepoint each (one failure undoes
        only its own row); returns how many rows were claimed."""
        rows = await self._claim(self.clock.now())
        if not rows:
            return 0
        settled: list[Row] = []
        async with self.db.unit() as conn:
            for index, row in enumerate(rows):
                if self.stopping:
                    # Shutting down: the rows not begun are given back now rather than left claimed
                    # until their claim expires (a restart or another replica takes them at once).
                    await conn.execute(
                        inbox.update()
                        .where(
                            inbox.c.id.in_([r.id for r in rows[index:]]),
                            inbox.c.claimed_by == self.worker_id,
                        )
                        .values(claimed_by=None, claimed_until=None)
                    )
                    break
                # Still ours? Another replica takes a row whose claim expired; it must not run twice.
                mine = await conn.execute(
                    inbox.update()
                    .where(
                        inbox.c.id == row.id, inbox.c.claimed_by == self.worker_id, inbox.c.state == PENDING
                    )
                    .values(claimed_until=self.clock.now() + timedelta(seconds=self.claim_seconds))
                )
                if mine.rowcount:
                    outcome = await self._handle_in(conn, row)
                    if outcome.waiting is None:  # a row handed back has no outcome yet
                        settled.append(row)
        self._settled(settled)
        return len(rows)

    def _settled(self, rows: list[Row]) -> None:
        for row in rows:
            for listener in self.on_settled:
                listener(row)

    async def drain(self) -> int:
        """Handle everything due now (tests, the console), waiting (outside any transaction) for what
        handlers were not ready for."""
        total = 0
        while True:
            waited = bool(self._waiting)
            while count := await self.work():
                total += count
            if not waited and not self._waiting:
                return total  # (a wait that ended during the pass gets one more pass)
            if self._waiting:
                await asyncio.wait(set(self._waiting.values()))
                await asyncio.sleep(0)  # the futures' callbacks (`resume`) run on the loop's next turn

    def stop(self) -> None:
        """Ask `run_forever` to return after the row in hand (its effects and done mark commit)."""
        self.stopping = True
        self.wakeup.set()

    async def settle(self, within: float = 5.0) -> None:
        """Wait until updates being stored are committed (before the database is closed)."""
        putter = self._putter
        if putter is not None and not putter.done() and putter.get_loop() is asyncio.get_running_loop():
            await asyncio.wait({putter}, timeout=within)

    async def run_forever(self, idle_seconds: float = 1.0) -> None:
        """The live worker: handle, then wait for a new row or a short idle pause; returns once
        `stop` was called."""
        while not self.stopping:
            self.wakeup.clear()
            try:
                claimed = await self.work()
            except Exception:
                log.exception("inbox worker pass failed")
                claimed = 0
            if claimed or self.stopping:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), idle_seconds)


# ----- operators (deskmate inbox …) -------------------------------------------------------------------
@dataclass
class Listed:
    id: int
    platform: str
    sender_id: str
    state: str
    attempts: int
    received_at: datetime
    error: str | None
    summary: str = field(default="")


async def listing(db: Database, state: str | None = PARKED, limit: int = 100) -> list[Listed]:
    query = sa.select(inbox).order_by(inbox.c.id).limit(limit)
    if state is not None:
        query = query.where(inbox.c.state == state)
    async with db.read() as conn:
        rows = list(await conn.execute(query))
    return [
        Listed(
            r.id,
            r.platform,
            r.sender_id,
            r.state,
            r.attempts,
            r.received_at,
            r.error,
            str(r.payload.get("text") or r.payload.get("kind") or "")[:60]
            if isinstance(r.payload, dict)
            else "",
        )
        for r in rows
    ]


async def counts(db: Database) -> dict[str, int]:
    async with db.read() as conn:
        query = sa.select(inbox.c.state, sa.func.count()).group_by(inbox.c.state)
        return {state: int(n) for state, n in await conn.execute(query)}


async def operate(db: Database, ids: list[int], action: str, *, actor: str, now: datetime) -> int:
    """`retry` puts parked rows back in line (attempts reset); `discard` marks them done unhandled.
    Each row changed gets an audit row; returns how many changed."""
    from bot.audit import record

    changed = 0
    async with db.transaction() as conn:
        for row_id in ids:
            where = (inbox.c.id == row_id) & (inbox.c.state == PARKED)
            if action == "retry":
                values: dict[str, Any] = {"state": PENDING, "attempts": 0, "next_attempt_at": now}
            else:
                values = {"state": DONE, "done_at": now, "error": "discarded by an operator"}
            result = await conn.execute(inbox.update().where(where).values(**values))
            if result.rowcount:
                changed += 1
                await record(
                    conn,
                    at=now,
                    actor=actor,
                    action=f"inbox.{action}",
                    object_type="inbox",
                    object_id=str(row_id),
                )
    return changed
