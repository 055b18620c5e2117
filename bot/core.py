"""The core every feature and adapter receives: storage, clock, catalog, directory, router, inbox,
outbox, metrics, typed hooks, and the state features share (policy, knowledge base, request kinds).

Which features make up a running bot is decided above it, by the assembly in `bot/app.py`, which
only the entry points import (the command line and each platform's runner): a feature, an adapter
or a core module knows the core, never the bot it is part of (tests/test_layers.py checks it).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import audit, identities, migrate, org
from bot.clock import Clock, SystemClock
from bot.context import Context
from bot.conversations import Conversations
from bot.db import Database, storage_failure
from bot.i18n import Catalog, default_catalog, normalise_language
from bot.inbox import Inbox, NotReady, Row
from bot.messages import Incoming, Outgoing, Person
from bot.metrics import Metrics
from bot.outbox import Delivery, Dispatcher, Transport, enqueue
from bot.ratelimit import RateLimiter
from bot.router import Router
from bot.scheduler import Ticks
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.forms import FormHandler, FormOpener
    from bot.home import HomeSection
    from handlers.requests import KindSpec
    from knowledge.service import KnowledgeService
    from schedules.calendar import HolidayCalendar
    from schedules.policy import Policy

MAX_ID_LENGTH = 64  # people, chats and senders are String(64) in bot/schema.py
log = logging.getLogger(__name__)

CoreHook = Callable[["Core"], Awaitable[None]]
BlockedHook = Callable[["Core", AsyncConnection, str, bool], Awaitable[None]]


def error_code() -> str:
    return "E" + secrets.token_hex(3).upper()


@dataclass
class Hooks:
    """What features and platforms plug into the core, each in a slot of its own type."""

    on_prepare: list[CoreHook] = field(default_factory=list)  # after migrations, before the org import
    on_seed: list[CoreHook] = field(default_factory=list)  # after the org import (demo roster …)
    on_blocked: list[BlockedHook] = field(default_factory=list)  # inside the transaction that marks it
    home_sections: list[HomeSection] = field(default_factory=list)
    refresh_home: Callable[[str], Awaitable[None]] | None = None  # a platform that draws a Home page
    form_handlers: dict[str, FormHandler] = field(default_factory=dict)
    open_form: FormOpener | None = None  # a platform that shows forms (Slack modals)
    scheduler_alive: Callable[[], bool] | None = None  # set by the live runtime, read by /healthz


@dataclass
class Shared:
    """State features keep for the life of the process, loaded on first use."""

    policy: Policy | None = None
    calendar: HolidayCalendar | None = None
    calendar_loaded: bool = False
    kb: KnowledgeService | None = None
    kb_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    kb_building: asyncio.Task[KnowledgeService] | None = None  # see handlers.rules.knowledge_ready
    request_kinds: dict[str, KindSpec] = field(default_factory=dict)
    supervisors_chat: str | None = None  # the platform's supervisors group, where approval cards go


class Core:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.catalog = catalog or default_catalog()
        self.db = Database(settings.database_url)
        self.directory = org.Directory()
        self.router = Router()
        self.ticks = Ticks()
        self.conversations = Conversations(timedelta(minutes=settings.conversation_timeout_minutes))
        self.hooks = Hooks()
        self.shared = Shared()
        self.dispatcher: Dispatcher | None = None
        self.metrics = Metrics()
        self.direct_sender: Transport | None = None
        # Every platform's way in: adapters store updates here and register how their rows are handled.
        self.inbox = Inbox(self.db, self.clock, claim_seconds=settings.inbox_claim_seconds)
        self.inbox.on_parked = self._tell_parked
        self.inbox.metrics = self.metrics

    @property
    def tz(self) -> Any:
        return self.settings.tz

    # ----- life cycle -------------------------------------------------------------------------
    async def prepare(self, *, import_org_if_empty: bool = True) -> None:
        """Migrate the schema, and load the org file into an empty database (first start, demo)."""
        await migrate.upgrade(self.db)
        for hook in self.hooks.on_prepare:
            await hook(self)
        if not import_org_if_empty:
            return
        if self.settings.org_file is not None and self.settings.org_file.exists():
            async with self.db.read() as conn:
                empty = await self.directory.count(conn) == 0
            if empty:
                department = org.load_org_file(self.settings.org_file)
                now = self.clock.now()
                async with self.db.transaction() as conn:
                    await org.import_org(
                        conn, department, actor=audit.SYSTEM, now=now, today=now.astimezone(self.tz).date()
                    )
                log.info("imported %s people from %s", len(department.people), self.settings.org_file)
                for warning in department.warnings:
                    log.warning("org file %s: %s", self.settings.org_file, warning)
        for hook in self.hooks.on_seed:
            await hook(self)

    def attach(self, transport: Transport, *, limiter: RateLimiter | None = None) -> Dispatcher:
        """Connect a platform: the outbox delivers through it."""
        self.direct_sender = transport
        self.inbox.db = self.db  # the database may have been swapped since (tests of a failing disk)
        self.dispatcher = Dispatcher(
            self.db,
            self.clock,
            transport,
            self.directory.by_ids,
            limiter=limiter,
            on_blocked=self.on_blocked,
            on_reached=self.on_reached,
            claim_seconds=self.settings.outbox_claim_seconds,
        )
        self.dispatcher.metrics = self.metrics
        # A commit that stored messages to send wakes the sender at once (not at its next idle tick).
        self.db.on_enqueued_commit.append(self.dispatcher.wakeup.set)
        return self.dispatcher

    async def close(self) -> None:
        """Close the database once what is being written has been committed (updates being stored,
        outcomes of sends); the workers are stopped before this (`runtime.background`)."""
        await self.inbox.settle()
        if self.dispatcher is not None:
            await self.dispatcher.settle()
        await self.db.dispose()

    # ----- incoming ---------------------------------------------------------------------------
    async def resolve_person(self, platform: str, user_id: str) -> Person | None:
        async with self.db.read() as conn:
            if platform == "console":
                found = await self.directory.by_id(conn, user_id)
                return found or await self.directory.by_platform(conn, platform, user_id)
            return await self.directory.by_platform(conn, platform, user_id)

    async def handle(self, incoming: Incoming) -> None:
        """Route one incoming message; any failure becomes a short apology with an error code.
        (Platforms go through the inbox, which calls `process` and decides about failures itself.)"""
        try:
            for _ in range(3):
                try:
                    await self.process(incoming)
                    return
                except NotReady as not_ready:  # no transaction open here: wait, then once more
                    await not_ready.ready
            raise RuntimeError("still not ready after three waits")
        except Exception as exc:
            await self.apologise(incoming, exc)

    async def process(self, incoming: Incoming) -> None:
        """Route one incoming message; a failure propagates (the inbox retries or parks the update)."""
        if len(incoming.chat_id) > MAX_ID_LENGTH or len(incoming.sender_id) > MAX_ID_LENGTH:
            # No reply can be addressed to a chat id the store cannot hold: refused here, on one line.
            log.warning(
                "ignored a %s message: sender or chat id longer than %d characters",
                incoming.platform,
                MAX_ID_LENGTH,
            )
            return
        if incoming.platform in identities.LINKABLE and incoming.button_token is None:
            link = identities.LINK_COMMAND.match((incoming.text or "").strip())
            if link is not None:
                await self._link(incoming, (link.group(1) or "").strip())
                return
        if incoming.person is None:
            await self._refuse_unregistered(incoming)
            return
        ctx = Context(self, incoming, incoming.person)
        self.metrics.messages_in.labels(incoming.platform).inc()
        started = time.perf_counter()
        try:
            await self.router.dispatch(ctx)
        finally:
            self.metrics.handler_seconds.observe(time.perf_counter() - started)

    def failure_text(self, person: Person | None, language_hint: str | None, exc: BaseException) -> str:
        """The apology for a failed update, with an error code that is logged beside the traceback."""
        code = error_code()
        storage = storage_failure(exc)
        self.metrics.errors.labels("storage" if storage else "handler").inc()
        who = person.id if person is not None else "an unregistered sender"
        log.error("[%s] handling a message from %s failed", code, who, exc_info=exc)
        language = (
            person.language if person else normalise_language(language_hint, self.settings.default_language)
        )
        return self.catalog.t(language, "error.storage" if storage else "error.internal", code=code)

    async def apologise(self, incoming: Incoming, exc: BaseException) -> None:
        text = self.failure_text(incoming.person, incoming.locale_hint, exc)
        if incoming.person is not None:
            out = Context(self, incoming, incoming.person).answer(text)
        else:
            out = Outgoing(text=text, to_chat=incoming.chat_id)
        await self._send_error(out)

    async def _tell_parked(self, conn: AsyncConnection, row: Row, exc: BaseException) -> None:
        """An update that could not be handled: its sender hears that it did not go through."""
        if row.platform == "console":
            person = await self.directory.by_id(conn, row.sender_id)
        else:
            person = await self.directory.by_platform(conn, row.platform, row.sender_id)
        text = self.failure_text(person, row.payload.get("_language"), exc)
        private = bool(row.payload.get("_private", True))
        if person is not None and private:
            out = Outgoing(text=text, to_person=person.id)
        else:
            out = Outgoing(text=text, to_chat=row.chat_id)
        await enqueue(conn, out, self.clock.now())

    async def _send_error(self, out: Outgoing) -> None:
        try:
            async with self.db.transaction() as conn:
                await enqueue(conn, out, self.clock.now())
        except Exception:
            # The database itself is failing: tell the user directly rather than stay silent.
            log.exception("could not queue an error reply; sending it directly")
            if self.direct_sender is not None:
                recipient = None
                if out.to_person:
                    try:
                        recipient = await self.person(out.to_person)
                    except Exception:
                        recipient = None
                item = Delivery(0, out.id, out.text, recipient, out.to_chat, [], None, None, None, None)
                try:
                    await self.direct_sender.deliver(item)
                except Exception:
                    log.exception("direct error reply failed too")

    async def _refuse_unregistered(self, incoming: Incoming) -> None:
        lang = normalise_language(incoming.locale_hint, self.settings.default_language)
        sender = f"{incoming.platform}:{incoming.sender_id}"
        async with self.db.read() as conn:
            # a database nobody has imported an org into yet: every message gets how to import one
            no_org = await self.directory.count(conn) == 0
        text = self.catalog.t(lang, "error.no_org" if no_org else "error.unregistered", sender=sender)
        # Their platform id is never shown in a group: there only a private notice, where one exists.
        where = incoming.chat_id if incoming.is_private else incoming.note_chat
        out = Outgoing(text=text, to_chat=where) if where else None
        if not incoming.is_private and incoming.press_notes is not None:
            incoming.press_notes.append(text)
        now = self.clock.now()
        try:
            async with self.db.transaction() as conn:
                await audit.record(
                    conn,
                    at=now,
                    actor=sender,
                    action="access.unregistered",
                    object_type="chat",
                    object_id=incoming.chat_id,
                )
                if out is not None:
                    await enqueue(conn, out, now)
        except Exception:
            log.exception("could not answer an unregistered sender")

    async def _link(self, incoming: Incoming, code: str) -> None:
        """`/link CODE` from any platform, registered or not: the sender's account joins the code's
        person (bot/identities.py); every outcome gets one friendly line and an audit row."""
        now = self.clock.now()
        result: identities.LinkResult | None = None
        async with self.db.transaction() as conn:
            if code:
                result = await identities.redeem(conn, code, incoming.platform, incoming.sender_id, now=now)
            person = None
            if result is not None and result.status in ("linked", "already") and result.person_id:
                person = await self.directory.by_id(conn, result.person_id)
            speaker = person or incoming.person
            lang = (
                speaker.language
                if speaker
                else normalise_language(incoming.locale_hint, self.settings.default_language)
            )
            if result is None:
                text = self.catalog.t(lang, "link.usage")
            elif person is not None:
                key = "link.done" if result.status == "linked" else "link.already"
                platform = self.catalog.t(lang, f"link.platform.{incoming.platform}")
                text = self.catalog.t(lang, key, platform=platform, name=person.name, id=person.id)
            else:
                text = self.catalog.t(lang, f"link.{result.status}")
            if incoming.is_private:
                out: Outgoing | None = Outgoing(text=text, to_chat=incoming.chat_id)
            elif person is not None:
                out = Outgoing(text=text, to_person=person.id)
            elif incoming.note_chat:
                out = Outgoing(text=text, to_chat=incoming.note_chat)
            else:
                out = None
            if not incoming.is_private and incoming.press_notes is not None:
                incoming.press_notes.append(text)
            if out is not None:
                await enqueue(conn, out, now)

    # ----- outgoing and scheduled work --------------------------------------------------------
    async def notify(
        self, conn: AsyncConnection, out: Outgoing, *, idempotency_key: str | None = None
    ) -> bool:
        """Queue a message from scheduled work or another person's action, inside `conn`."""
        return await enqueue(conn, out, self.clock.now(), idempotency_key=idempotency_key)

    async def run_due(self, now: datetime | None = None) -> None:
        await self.ticks.run_due(self, now or self.clock.now())

    async def deliver(self) -> int:
        """Deliver every due outbox row now (console and tests); live modes run the worker."""
        if self.dispatcher is None:
            return 0
        total = 0
        while True:
            sent = await self.dispatcher.deliver_due()
            total += sent
            if sent == 0:
                return total

    async def on_blocked(self, person_id: str, *, left: bool = False) -> None:
        """A person blocked the bot, or (``left``) is no longer a member on the platform: remember it;
        features may add more (telling their lead)."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            if await self.directory.mark_blocked(conn, person_id, now):
                await audit.record(
                    conn,
                    at=now,
                    actor=audit.SYSTEM,
                    action="person.left_platform" if left else "person.blocked_bot",
                    object_type="person",
                    object_id=person_id,
                )
                for hook in self.hooks.on_blocked:
                    await hook(self, conn, person_id, left)

    async def on_reached(self, conn: AsyncConnection, person_ids: list[str]) -> None:
        """Messages reached these people: whoever had blocked the bot has unblocked it (so blocking
        it again tells their lead again)."""
        unblocked = await self.directory.clear_blocked(conn, person_ids)
        now = self.clock.now()
        for person_id in unblocked:
            await audit.record(
                conn,
                at=now,
                actor=audit.SYSTEM,
                action="person.unblocked_bot",
                object_type="person",
                object_id=person_id,
            )

    def text_for(self, person: Person, key: str, **fields: Any) -> str:
        return self.catalog.t(person.language, key, **fields)

    async def person(self, person_id: str) -> Person | None:
        async with self.db.read() as conn:
            return await self.directory.by_id(conn, person_id)

    async def audit_in(
        self,
        conn: AsyncConnection,
        *,
        actor: str,
        action: str,
        object_id: str,
        object_type: str = "request",
        before: Any = None,
        after: Any = None,
    ) -> None:
        """An audit row inside the caller's transaction, stamped with the app's clock."""
        await audit.record(
            conn,
            at=self.clock.now(),
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            before=before,
            after=after,
        )

    async def audit(self, **fields: Any) -> None:
        async with self.db.transaction() as conn:
            await audit.record(conn, **fields)


async def table_count(app: Core, table: sa.Table) -> int:
    async with app.db.read() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())
