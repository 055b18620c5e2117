"""The outbox: a message is stored (in the caller's transaction) before it is sent, and marked sent
only after the platform accepted it. A crash or an outage delays a message; it never loses or doubles one.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import buttons as button_store
from bot.clock import Clock
from bot.db import Database, mark_enqueued
from bot.messages import Outgoing, Person
from bot.ratelimit import RateLimiter
from bot.schema import message_copies, outbox

log = logging.getLogger(__name__)

PENDING, SENT, FAILED, UNDELIVERABLE = "pending", "sent", "failed", "undeliverable"
CLAIM_SECONDS = 60
EDIT_KEY = "edit:"  # chat_key prefix of an edit, which has no chat of its own: "edit:<message id>"
MAX_ATTEMPTS = 50
SEND_TIMEOUT = 30.0  # seconds a platform call may take before its answer is given up on
TIMED_OUT = "send timed out"  # last_error of a send whose answer never came


class RetryLater(Exception):
    """The platform asked us to wait (429) or is unreachable; try again after `seconds`.

    `seconds=None` means "transient, no hint" (network error, 5xx): the outbox's backoff decides.
    """

    def __init__(self, seconds: float | None, reason: str = "") -> None:
        super().__init__(reason or (f"retry after {seconds}s" if seconds is not None else "retry later"))
        self.seconds = seconds


class RecipientBlocked(Exception):
    """The person blocked the bot (403), or ``left`` the organisation on the platform (DingTalk, Feishu):
    further messages to them are pointless, and their lead is told which of the two it was."""

    def __init__(self, message: str, *, left: bool = False) -> None:
        super().__init__(message)
        self.left = left


class Undeliverable(Exception):
    """This message can never be delivered (no address on this platform, rejected content)."""


@dataclass(frozen=True)
class Copy:
    chat_id: str
    platform_message_id: str


@dataclass
class Delivery:
    """What an adapter needs to put one outbox row on screen."""

    outbox_id: int
    message_id: str
    text: str
    recipient: Person | None
    chat_id: str | None
    buttons: list[list[dict[str, str]]]
    file_name: str | None
    file_mime: str | None
    file_data: bytes | None
    edit_of: str | None
    edit_copies: list[Copy] = field(default_factory=list)


@dataclass(frozen=True)
class Claimed:
    """A row this worker claimed, and what the transport needs to send it."""

    row: dict[str, Any]
    item: Delivery


@dataclass(frozen=True)
class Finished:
    """A claimed row's outcome, waiting for the shared transaction that stores it."""

    row_id: int
    values: dict[str, Any]
    copies: list[Copy]
    message_id: str
    done: asyncio.Future[None]
    reached: str | None  # a person marked blocked whom this sent row reached: they unblocked the bot


class Transport(Protocol):
    """Implemented by each adapter."""

    platform: str

    async def deliver(self, item: Delivery) -> list[Copy]: ...


def _payload(out: Outgoing, rendered_buttons: list[list[dict[str, str]]]) -> dict[str, Any]:
    return {
        "text": out.text,
        "buttons": rendered_buttons,
        "edit_of": out.edit_of,
        "file_name": out.file.name if out.file else None,
        "file_mime": out.file.mime if out.file else None,
    }


# A new message waits for nothing but its turn in its chat; only a retry sets a later attempt. Stamping it
# with the enqueuing clock instead would hold it (and, by chat order, everything after it) whenever a later
# process runs on an earlier clock: a console script replaying a past day after `roster import` did that.
AS_SOON_AS_POSSIBLE = datetime(1970, 1, 1, tzinfo=UTC)


_INSERT_ONCE: dict[str, Any] = {}


def _insert_once(dialect: str) -> Any:
    """INSERT … ON CONFLICT (idempotency_key) DO NOTHING for the dialect, built once."""
    if dialect not in _INSERT_ONCE:
        insert = postgresql.insert(outbox) if dialect == "postgresql" else sqlite.insert(outbox)
        _INSERT_ONCE[dialect] = insert.on_conflict_do_nothing(index_elements=["idempotency_key"])
    return _INSERT_ONCE[dialect]


async def enqueue(
    conn: AsyncConnection, out: Outgoing, now: datetime, *, idempotency_key: str | None = None
) -> bool:
    """Store one message to send; returns False when `idempotency_key` was already used."""
    if out.to_person is None and out.to_chat is None and out.edit_of is None:
        raise ValueError("an Outgoing needs a person, a chat or an edit target")
    rendered = await button_store.register(conn, out.id, out.buttons, now) if out.buttons else []
    values = {
        "message_id": out.id,
        "to_person": out.to_person,
        "to_chat": out.to_chat,
        "chat_key": (out.to_person or out.to_chat or f"{EDIT_KEY}{out.edit_of}")[:64],
        "payload": _payload(out, rendered),
        "file_data": out.file.data if out.file else None,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": AS_SOON_AS_POSSIBLE,
        "created_at": now,
        "idempotency_key": idempotency_key,
    }
    # The row goes in as parameters of one statement per dialect, compiled once: building the INSERT with
    # `.values(row)` coerced every value and keyed the statement anew each time (a reminder tick storing
    # 300 messages spent most of its time there, before the first one could be sent).
    if idempotency_key is None:
        await conn.execute(outbox.insert(), values)
        mark_enqueued(conn)
        return True
    result = await conn.execute(_insert_once(conn.dialect.name), values)
    if result.rowcount:
        mark_enqueued(conn)
    return bool(result.rowcount)


PeopleLookup = Callable[[AsyncConnection, list[str]], Awaitable[dict[str, Person]]]


def backoff_seconds(attempts: int) -> float:
    return float(min(2 ** min(attempts, 10), 300))


class Dispatcher:
    """Claims due rows in the database (so several replicas never send one twice) and delivers them."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        transport: Transport,
        people_lookup: PeopleLookup,
        *,
        limiter: RateLimiter | None = None,
        on_blocked: Any = None,
        on_reached: Callable[[AsyncConnection, list[str]], Awaitable[None]] | None = None,
        worker_id: str | None = None,
        batch: int = 100,
        claim_seconds: int = CLAIM_SECONDS,
    ) -> None:
        self.db = db
        self.clock = clock
        self.transport = transport
        self.people_lookup = people_lookup
        self.limiter = limiter
        self.on_blocked = on_blocked
        self.on_reached = on_reached
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.batch = batch
        self.claim_seconds = claim_seconds
        # Every send has a deadline of its own, whatever the transport's client does (or forgets).
        self.send_timeout = SEND_TIMEOUT
        self.wakeup = asyncio.Event()
        self.metrics: Any = None
        self._finishing: list[Finished] = []
        self._finisher: asyncio.Task[None] | None = None
        self.stopping = False  # set by `stop`: the worker finishes the sends in hand and claims no more
        self.sending = 0  # chats being sent to now (a send may queue more, e.g. telling a lead of a block)
        # Chats this process is sending to now. They are never claimed again meanwhile, even when the
        # clock passes their claim (a clock that jumps, a send slower than the claim): sent twice otherwise.
        self._in_hand: set[str] = set()

    async def _claim(self, now: datetime, limit: int | None = None) -> list[Claimed]:
        earlier = outbox.alias("earlier")
        # A message waits while an earlier one to the same chat is still pending: order per chat.
        blocked_by_earlier = (
            sa.select(earlier.c.id)
            .where(
                earlier.c.chat_key == outbox.c.chat_key,
                earlier.c.status == PENDING,
                earlier.c.id < outbox.c.id,
            )
            .exists()
        )
        # An edit (keyed "edit:<message id>") also waits while the message it edits is pending: sent in
        # the same pass, it could find no copy of it to change yet.
        edited = outbox.alias("edited")
        waits_for_original = (
            sa.select(edited.c.id)
            .where(
                outbox.c.chat_key.startswith(EDIT_KEY),
                edited.c.message_id == sa.func.substr(outbox.c.chat_key, len(EDIT_KEY) + 1),  # indexed
                edited.c.status == PENDING,
                edited.c.id < outbox.c.id,
            )
            .exists()
        )
        due: tuple[sa.ColumnElement[bool], ...] = (
            outbox.c.status == PENDING,
            outbox.c.next_attempt_at <= now,
            sa.or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now),
        )
        if self._in_hand:
            due = (*due, outbox.c.chat_key.not_in(sorted(self._in_hand)))
        # Look before taking the write lock: an idle worker must not queue behind every handler's write.
        async with self.db.read() as conn:
            probe = sa.select(outbox.c.id).where(*due).limit(1)
            if (await conn.execute(probe)).first() is None:
                return []
        async with self.db.transaction() as conn:
            query = (
                sa.select(outbox)
                .where(*due, ~blocked_by_earlier, ~waits_for_original)
                .order_by(outbox.c.id)
                .limit(self.batch if limit is None else limit)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = [dict(r._mapping) for r in await conn.execute(query)]
            if not rows:
                return []
            await conn.execute(
                outbox.update()
                .where(outbox.c.id.in_([r["id"] for r in rows]))
                .values(claimed_by=self.worker_id, claimed_until=now + timedelta(seconds=self.claim_seconds))
            )
            claimed = await self._deliveries(conn, rows)
        self._in_hand.update(r["chat_key"] for r in rows)
        return claimed

    async def _deliveries(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> list[Claimed]:
        """What each claimed row needs on screen, read in the claim's own transaction: one query for
        all recipients. (The copies an edit changes are read just before it is sent, see `_copies_to_edit`:
        the message it edits may go out in this same pass.)"""
        recipients = await self.people_lookup(conn, sorted({r["to_person"] for r in rows if r["to_person"]}))
        claimed = []
        for row in rows:
            payload = row["payload"]
            item = Delivery(
                outbox_id=row["id"],
                message_id=row["message_id"],
                text=payload["text"],
                recipient=recipients.get(row["to_person"]) if row["to_person"] else None,
                chat_id=row["to_chat"],
                buttons=payload.get("buttons") or [],
                file_name=payload.get("file_name"),
                file_mime=payload.get("file_mime"),
                file_data=row["file_data"],
                edit_of=payload.get("edit_of"),
            )
            claimed.append(Claimed(row, item))
        return claimed

    async def _copies_to_edit(self, message_id: str) -> list[Copy]:
        async with self.db.read() as conn:
            result = await conn.execute(
                sa.select(message_copies.c.chat_id, message_copies.c.platform_message_id).where(
                    message_copies.c.message_id == message_id,
                    message_copies.c.platform == self.transport.platform,
                )
            )
            return [Copy(r.chat_id, r.platform_message_id) for r in result]

    async def _finish(
        self,
        row_id: int,
        values: dict[str, Any],
        copies: list[Copy],
        message_id: str,
        *,
        reached: str | None = None,
    ) -> None:
        """Release a claimed row with its outcome. Senders working at the same time share one
        transaction (see `_write_finished`); each returns only once its own outcome is stored."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._finishing.append(Finished(row_id, values, copies, message_id, done, reached))
        if self._finisher is None or self._finisher.done():
            # A fresh context: the writer works for every sender, not as part of one of them.
            self._finisher = asyncio.get_running_loop().create_task(
                self._write_finished(), context=contextvars.Context()
            )
        await done

    async def _write_finished(self) -> None:
        while self._finishing:
            batch, self._finishing = self._finishing, []
            try:
                async with self.db.transaction() as conn:
                    await self._store_outcomes(conn, batch)
            except Exception as exc:
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(exc)
                continue
            for item in batch:
                if not item.done.done():
                    item.done.set_result(None)

    async def _store_outcomes(self, conn: AsyncConnection, batch: list[Finished]) -> None:
        # Rows with the same kind of outcome (sent, retry, undeliverable …) go in one executemany.
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for item in batch:
            by_columns.setdefault(tuple(sorted(item.values)), []).append(
                {"row_id": item.row_id, **{f"new_{k}": v for k, v in item.values.items()}}
            )
        for columns, params in by_columns.items():
            statement = (
                outbox.update()
                .where(outbox.c.id == sa.bindparam("row_id"), outbox.c.claimed_by == self.worker_id)
                .values(claimed_by=None, claimed_until=None, **{c: sa.bindparam(f"new_{c}") for c in columns})
            )
            await conn.execute(statement, params)
        copies = [
            {
                "message_id": item.message_id,
                "platform": self.transport.platform,
                "chat_id": c.chat_id,
                "platform_message_id": c.platform_message_id,
            }
            for item in batch
            for c in item.copies
        ]
        if copies:
            await conn.execute(message_copies.insert(), copies)
        reached = sorted({item.reached for item in batch if item.reached})
        if reached and self.on_reached is not None:
            await self.on_reached(conn, reached)

    async def deliver_due(self) -> int:
        """Deliver everything due now; returns how many rows were sent (the console, tests; the live
        worker, `run_forever`, does not wait for a whole pass).

        A claim holds at most the oldest pending message of each chat, so different chats are sent
        concurrently (the transport's `concurrency`, default 8) while each chat keeps its order.
        """
        now = self.clock.now()
        gate = asyncio.Semaphore(self._concurrency())

        async def gated(chat_rows: list[Claimed]) -> int:
            async with gate:
                return await self._deliver_chat(chat_rows)

        chats = self._by_chat(await self._claim(now))
        return sum(await asyncio.gather(*(gated(chat_rows) for chat_rows in chats)))

    def _concurrency(self) -> int:
        return max(1, int(getattr(self.transport, "concurrency", 8)))

    @staticmethod
    def _by_chat(claimed: list[Claimed]) -> list[list[Claimed]]:
        by_chat: dict[str, list[Claimed]] = {}
        for item in claimed:
            by_chat.setdefault(item.row["chat_key"], []).append(item)
        return list(by_chat.values())

    async def _deliver_chat(self, chat_rows: list[Claimed]) -> int:
        """One chat's claimed rows in order; after a failure the rest are released (order kept)."""
        done = 0
        self.sending += 1
        chat_key = chat_rows[0].row["chat_key"]
        try:
            for index, claimed in enumerate(chat_rows):
                if await self._deliver_one(claimed.row, claimed.item):
                    done += 1
                    continue
                for later in chat_rows[index + 1 :]:
                    await self._finish(later.row["id"], {}, [], later.row["message_id"])
                break
        finally:
            self.sending -= 1
            self._in_hand.discard(chat_key)
        if done and self.metrics is not None:
            self.metrics.messages_out.labels(self.transport.platform).inc(done)
        return done

    async def _deliver_one(self, row: dict[str, Any], item: Delivery) -> bool:
        """Send one claimed row; True when the platform accepted it."""
        if row["to_person"] and item.recipient is None:
            # They left (or were removed): nothing more reaches them, whatever was queued for them.
            await self._finish(
                row["id"], {"status": UNDELIVERABLE, "last_error": "recipient has left"}, [], ""
            )
            return False
        if item.edit_of:
            item.edit_copies = await self._copies_to_edit(item.edit_of)
        if self.limiter is not None:
            await self.limiter.acquire(row["chat_key"])
        try:
            async with asyncio.timeout(self.send_timeout):
                copies = await self.transport.deliver(item)
        except TimeoutError:
            # The platform may have shown it: send it once more at most, never again after that.
            if (row.get("last_error") or "").startswith(TIMED_OUT):
                log.error("outbox %s timed out twice; not sent again", row["id"])
                await self._finish(row["id"], {"status": FAILED, "last_error": f"{TIMED_OUT} twice"}, [], "")
            else:
                await self._retry(row, backoff_seconds(row["attempts"]), TIMED_OUT)
            return False
        except RetryLater as exc:
            wait = exc.seconds if exc.seconds is not None else backoff_seconds(row["attempts"])
            await self._retry(row, wait, str(exc))
            return False
        except RecipientBlocked as exc:
            await self._finish(row["id"], {"status": UNDELIVERABLE, "last_error": str(exc)[:500]}, [], "")
            if self.on_blocked is not None and row["to_person"]:
                await self.on_blocked(row["to_person"], left=exc.left)
            return False
        except Undeliverable as exc:
            log.warning("outbox %s undeliverable: %s", row["id"], exc)
            await self._finish(row["id"], {"status": UNDELIVERABLE, "last_error": str(exc)[:500]}, [], "")
            return False
        except Exception as exc:
            log.warning("outbox %s delivery failed: %s", row["id"], exc)
            await self._retry(row, backoff_seconds(row["attempts"]), repr(exc))
            return False
        await self._finish(
            row["id"],
            {"status": SENT, "sent_at": self.clock.now()},
            copies,
            row["message_id"],
            # Only the rare recipient marked blocked costs the outcome's transaction anything more.
            reached=item.recipient.id if item.recipient is not None and item.recipient.blocked else None,
        )
        return True

    async def _retry(self, row: dict[str, Any], seconds: float, reason: str) -> None:
        attempts = row["attempts"] + 1
        status = FAILED if attempts >= MAX_ATTEMPTS else PENDING
        if status == FAILED:
            log.error("outbox %s gave up after %s attempts: %s", row["id"], attempts, reason)
        await self._finish(
            row["id"],
            {
                "attempts": attempts,
                "status": status,
                "next_attempt_at": self.clock.now() + timedelta(seconds=seconds),
                "last_error": reason[:500],
            },
            [],
            row["message_id"],
        )

    async def pending_count(self) -> int:
        async with self.db.read() as conn:
            query = sa.select(sa.func.count()).select_from(outbox).where(outbox.c.status == PENDING)
            depth = int((await conn.execute(query)).scalar_one())
        if self.metrics is not None:
            self.metrics.outbox_depth.set(depth)
        return depth

    def stop(self) -> None:
        """Ask `run_forever` to return after the sends in hand (their outcomes are stored)."""
        self.stopping = True
        self.wakeup.set()

    async def settle(self, within: float = 5.0) -> None:
        """Wait until the outcomes of finished sends are committed (before the database is closed)."""
        finisher = self._finisher
        if finisher is not None and not finisher.done() and finisher.get_loop() is asyncio.get_running_loop():
            await asyncio.wait({finisher}, timeout=within)

    async def run_forever(self, idle_seconds: float = 1.0) -> None:
        """The live worker: each chat's claimed messages are sent by a task of their own, and the
        worker claims again as soon as a chat is done or a message is queued, never waiting for a
        whole pass: a chat whose send hangs (up to its deadline) holds only itself. Returns once `stop`
        was called and the sends in hand are over."""
        running: set[asyncio.Task[int]] = set()
        limit = self._concurrency()
        try:
            while not self.stopping:
                # Cleared before claiming, so a wake-up that arrives meanwhile is not lost.
                self.wakeup.clear()
                started = 0
                if len(running) < limit:
                    try:
                        # Chats in hand are not claimed again: their oldest pending row is ours, and
                        # the later ones wait behind it.
                        chats = self._by_chat(await self._claim(self.clock.now(), limit - len(running)))
                    except Exception:
                        log.exception("outbox worker pass failed")
                        chats = []
                    for chat_rows in chats:
                        task = asyncio.get_running_loop().create_task(self._deliver_chat(chat_rows))
                        running.add(task)
                        started += 1
                if started and len(running) < limit:
                    continue  # more may be due at once
                waker = asyncio.get_running_loop().create_task(self.wakeup.wait())
                try:
                    done, _ = await asyncio.wait(
                        {waker, *running}, timeout=idle_seconds, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    waker.cancel()
                for task in done - {waker}:
                    running.discard(task)
                    if not task.cancelled() and task.exception() is not None:
                        log.error("sending to a chat failed", exc_info=task.exception())
            if running:
                await asyncio.wait(running)
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
