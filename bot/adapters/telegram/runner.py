"""The Telegram bot: python-telegram-bot's Bot in front of the core.

Every update goes the same way in: stored in the inbox (its update id is the dedupe key, so a
redelivery is dropped there) and committed before Telegram hears back — the webhook answers 200, and
polling confirms the offset, only then. The inbox worker later turns the stored update into an
`Incoming` and lets the core decide. Nothing here knows any feature; the adapter only translates.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeDefault,
    CallbackQuery,
    Message,
    Update,
    User,
)
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder

from bot import ops, runtime
from bot.adapters.bodies import nesting_depth
from bot.adapters.telegram import render
from bot.adapters.telegram.aiohttp_request import AiohttpRequest
from bot.adapters.telegram.transport import PLATFORM, SEND_PER_SECOND, Pacing, TelegramTransport
from bot.context import Context
from bot.core import Core
from bot.i18n import normalise_language
from bot.inbox import Row
from bot.inbox import Update as InboxUpdate
from bot.messages import FileIn, Incoming, Person
from bot.ratelimit import RateLimiter
from bot.shared_rate import SharedRateLimiter

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query"]
MAX_PRESS_ANSWER = 200  # characters Telegram shows in the answer to a button press
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # the Bot API serves files up to 20 MB through getFile
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
BAD_SECRET_AUDIT_SECONDS = 60.0  # one audit row per source address a minute, so probes cannot flood it


MAX_NESTING = 32  # a Telegram update nests a few levels; anything deeper is not one


class BadBody(ValueError):
    """A webhook body that is not a Telegram update (the reason is for the audit row)."""


def parse_update(body: bytes) -> dict[str, Any]:
    """The JSON object of one update, or BadBody saying why not."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, or nested past the parser's limit
        raise BadBody("not JSON") from exc
    if not isinstance(data, dict):
        raise BadBody(f"a JSON {type(data).__name__}, not an object")
    if nesting_depth(data, MAX_NESTING) > MAX_NESTING:
        raise BadBody("nested too deep")
    update_id = data.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise BadBody("no update_id")
    for field_name in ("message", "callback_query"):
        if field_name in data and not isinstance(data[field_name], dict):
            raise BadBody(f"{field_name} is not an object")
    return data


def _same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison; a header that is not ASCII cannot be our token (and must not raise)."""
    try:
        return hmac.compare_digest(given.encode("ascii"), expected.encode("ascii"))
    except UnicodeEncodeError:
        return False


def webhook_path(url: str) -> str:
    return urlsplit(url).path or "/"


def default_limiter(app: Core, token: str) -> RateLimiter:
    """Telegram's ~30 messages a second are per bot: one process keeps to them alone, replicas (on
    PostgreSQL) together. The slot row is named by the bot's id, the token's public part."""
    if app.db.is_sqlite:
        return RateLimiter(SEND_PER_SECOND)
    return SharedRateLimiter(app.db, f"telegram:{token.split(':', 1)[0]}", SEND_PER_SECOND)


class TelegramBot:
    """Runs the core on Telegram: long polling, or a webhook when TELEGRAM_WEBHOOK_URL is set."""

    def __init__(
        self,
        app: Core,
        *,
        limiter: RateLimiter | None = None,
        pacing: Pacing | None = None,
        poll_timeout: int = 10,
    ) -> None:
        settings = app.settings
        if settings.telegram_token is None:
            raise ValueError("TELEGRAM_TOKEN is not set")
        self.app = app
        self.settings = settings
        # The global rate spaces every send (short sleeps in the outbox worker); per-chat and per-group
        # limits put off only the chat concerned (see transport.Pacing), timed by the core's clock. On
        # PostgreSQL, where replicas run, they share the rate's slots through the database.
        self.limiter = limiter or default_limiter(app, settings.telegram_token.get_secret_value())
        self.pacing = pacing or Pacing(now=lambda: app.clock.now().timestamp())
        self.poll_timeout = poll_timeout
        self.webhook_url = settings.telegram_webhook_url
        builder = (
            ApplicationBuilder()
            .token(settings.telegram_token.get_secret_value())
            .base_url(settings.telegram_base_url)
            .base_file_url(render.file_url_for(settings.telegram_base_url))
            # aiohttp instead of PTB's httpx: a quarter of the CPU per call. PTB's builder defaults otherwise
            # (getUpdates: one connection; PTB adds the long-poll time to its read timeout itself).
            .request(AiohttpRequest())
            .get_updates_request(AiohttpRequest(connection_pool_size=1))
            .job_queue(None)  # timed work is the core's scheduler, not PTB's
            .updater(None)  # updates come in through our webhook server or our polling loop (below)
        )
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        app.inbox.register(PLATFORM, self._handle_row)
        app.inbox.on_settled.append(self._settled)
        if settings.telegram_supervisors_chat_id is not None:
            # Features add a card for the supervisors' group only when a platform has one.
            app.shared.supervisors_chat = str(settings.telegram_supervisors_chat_id)
        self.transport: TelegramTransport | None = None
        self.updates_seen = 0
        self.port: int | None = None
        self._web: web.AppRunner | None = None
        self._bad_secret_audited: dict[str, float] = {}
        self._bad_body_audited: dict[str, float] = {}
        self._poller: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started = False

    # ----- life cycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Check the token (getMe), publish the commands, attach the outbox, start receiving.

        Raises PTB's InvalidToken or NetworkError when the Bot API refuses us or cannot be reached,
        and OSError when the webhook port cannot be bound; nothing is left running then.
        """
        application = self.application
        try:
            await application.initialize()
        except BaseException:
            await application.bot.shutdown()  # PTB leaves the bot's HTTP sessions open when getMe fails
            raise
        try:
            self.transport = TelegramTransport(
                application.bot,
                supervisors_chat_id=self.settings.telegram_supervisors_chat_id,
                pacing=self.pacing,
            )
            self.app.attach(self.transport, limiter=self.limiter)
            await self.publish_commands()
            await application.start()
            self._started = True
            if self.webhook_url:
                await self._start_webhook()
            else:
                await application.bot.delete_webhook(drop_pending_updates=False)
                self._poller = asyncio.create_task(self._poll(), name="telegram-poll")
        except BaseException:
            await self.stop()
            raise
        log.info(
            "telegram bot @%s running (%s)",
            application.bot.username,
            "webhook" if self.webhook_url else "polling",
        )

    async def stop(self) -> None:
        application = self.application
        if self._web is not None:
            await self._web.cleanup()
            self._web = None
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._started:
            await application.stop()
            self._started = False
        await application.shutdown()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[TelegramBot]:
        """Start, run the outbox worker and the scheduler alongside, stop cleanly after."""
        await self.start()
        try:
            async with runtime.background(self.app):
                yield self
        finally:
            await self.stop()

    async def publish_commands(self) -> None:
        """setMyCommands in Chinese (language_code zh) and English (the default), from the router:
        every command with a help text; groups get only those usable in a group."""
        commands = sorted(
            (
                c
                for c in self.app.router.commands.values()
                if c.help_key and render.COMMAND_NAME.match(c.name)
            ),
            key=lambda c: (c.order, c.name),
        )
        bot = self.application.bot
        for language_code, language in ((None, "en"), ("zh", "zh-CN")):
            # Groups get the same menu: a personal command typed there is answered in the private chat.
            listed = [
                BotCommand(c.name, render.truncate(self.app.catalog.t(language, c.help_key or ""), 256))
                for c in commands
            ]

            try:
                await bot.set_my_commands(listed, scope=BotCommandScopeDefault(), language_code=language_code)
                await bot.set_my_commands(
                    listed, scope=BotCommandScopeAllGroupChats(), language_code=language_code
                )
            except TelegramError as exc:
                # The menu is a convenience; the bot works without it.
                log.warning("could not publish the command menu (%s): %s", language, exc)

    # ----- in: updates into the inbox -------------------------------------------------------
    async def _poll(self) -> None:
        """Long polling: store each batch in the inbox, then confirm it (the next getUpdates carries
        the offset past it). A crash before the store means Telegram sends the batch again."""
        bot = self.application.bot
        offset: int | None = None
        failures = 0
        while True:
            try:
                updates = await bot.get_updates(
                    offset=offset, timeout=self.poll_timeout, allowed_updates=ALLOWED_UPDATES
                )
                for update in updates:
                    await self._store(update)
            except TelegramError as exc:
                failures += 1
                log.warning("getUpdates failed (%s); trying again", exc)
                await asyncio.sleep(min(2.0**failures, 30.0))
                continue
            except Exception:
                failures += 1
                log.exception("could not store Telegram updates; asking for them again")
                await asyncio.sleep(min(2.0**failures, 30.0))
                continue
            failures = 0
            if updates:
                offset = updates[-1].update_id + 1

    def wanted(self, update: Update) -> bool:
        """What the core acts on: button presses, and messages from people meant for the bot. Group
        chatter (privacy mode off, or the bot is an admin) is not stored at all."""
        if update.callback_query is not None:
            return True
        message = update.message
        if message is None:
            return False  # edited messages, channel posts, member changes: nothing for the core
        user = message.from_user
        if user is None or user.is_bot or message.sender_chat is not None:
            return False
        bot_user = self.application.bot
        addressed, _ = render.addressing(message, bot_user.username, bot_user.id)
        return message.chat.type == ChatType.PRIVATE or addressed

    async def _store(self, update: Update) -> None:
        """Put one update in the inbox (raises when it cannot be stored)."""
        if not self.wanted(update):
            self.updates_seen += 1
            return
        query = update.callback_query
        if query is not None:
            sender = query.from_user
            chat = query.message.chat.id if query.message is not None else sender.id
            private = query.message is None or query.message.chat.type == ChatType.PRIVATE
            at = None
        else:
            assert update.message is not None and update.message.from_user is not None
            sender = update.message.from_user
            chat = update.message.chat.id
            private = update.message.chat.type == ChatType.PRIVATE
            at = update.message.date
        payload = update.to_dict()
        payload["_private"] = private
        payload["_language"] = sender.language_code
        stored = await self.app.inbox.put(
            InboxUpdate(PLATFORM, str(update.update_id), str(sender.id), str(chat), payload, at)
        )
        if stored is None:
            log.info("telegram update %s seen before; ignored", update.update_id)
            self.updates_seen += 1
        elif query is not None and (private or not query.data):
            # Stop the button's spinner now; the answer itself comes as a message or an edit. (In a group
            # the worker answers it, see `_on_press`.)
            self._keep(asyncio.create_task(self._answer_received(query), name="telegram-answer-press"))

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_received(self, query: CallbackQuery) -> None:
        user = query.from_user
        person = await self.app.resolve_person(PLATFORM, str(user.id))
        language = (
            person.language
            if person
            else normalise_language(user.language_code, self.settings.default_language)
        )
        await self._answer_press(query, self.app.catalog.t(language, "telegram.button.received"))

    async def _answer_press(self, query: CallbackQuery, text: str, *, alert: bool = False) -> None:
        try:
            await query.answer(render.truncate(text, MAX_PRESS_ANSWER), show_alert=alert)
        except TelegramError as exc:
            log.info("could not answer a button press: %s", exc)

    # ----- the inbox worker's side: a stored update into the core ---------------------------
    async def _handle_row(self, row: Row) -> None:
        update = Update.de_json(row.payload, self.application.bot)
        if update.callback_query is not None:
            await self._on_press(update.callback_query)
        elif update.message is not None:
            await self._on_message(update.message)

    def _settled(self, row: Row) -> None:
        if row.platform == PLATFORM:
            self.updates_seen += 1  # what tests and the bench wait for: its outcome is committed

    async def _on_message(self, message: Message) -> None:
        user = message.from_user
        assert user is not None  # `wanted` let only people's messages in
        bot_user = self.application.bot
        addressed, text = render.addressing(message, bot_user.username, bot_user.id)
        is_private = message.chat.type == ChatType.PRIVATE
        await self._handle_message(message, user, text, is_private=is_private, addressed=addressed)

    async def _handle_message(
        self, message: Message, user: User, text: str | None, *, is_private: bool, addressed: bool
    ) -> None:
        person = await self.app.resolve_person(PLATFORM, str(user.id))
        incoming = Incoming(
            platform=PLATFORM,
            chat_id=str(message.chat.id),
            sender_id=str(user.id),
            person=person,
            at=self.app.clock.now(),
            text=text,
            is_private=is_private,
            addressed_to_bot=addressed,
            platform_message_id=str(message.message_id),
            locale_hint=user.language_code,
            platform_at=message.date,
        )
        has_file = message.document is not None and person is not None
        if has_file and person is not None and not await self._attach_document(message, incoming, person):
            return
        await self.app.process(incoming)

    async def _attach_document(self, message: Message, incoming: Incoming, person: Person) -> bool:
        """Download a document sent to the bot into `incoming.file`; False when the person was told why
        not (no feature takes files, too big, download failed)."""
        document = message.document
        assert document is not None
        if self.app.router.file_handler is None:
            await self._tell(incoming, person, "telegram.file.not_expected")
            return False
        if document.file_size is not None and document.file_size > MAX_DOWNLOAD_BYTES:
            await self._tell(
                incoming, person, "telegram.file.too_big", limit=MAX_DOWNLOAD_BYTES // 1024 // 1024
            )
            return False
        try:
            telegram_file = await document.get_file()
            data = bytes(await telegram_file.download_as_bytearray())
        except TelegramError as exc:
            log.warning("could not download a document from %s: %s", person.id, exc)
            await self._tell(incoming, person, "telegram.file.failed")
            return False
        incoming.file = FileIn(document.file_name or "file", data)
        return True

    async def _tell(self, incoming: Incoming, person: Person, key: str, **fields: Any) -> None:
        ctx = Context(self.app, incoming, person)
        await ctx.reply(ctx.t(key, **fields))

    async def _on_press(self, query: CallbackQuery) -> None:
        user = query.from_user
        person = await self.app.resolve_person(PLATFORM, str(user.id))
        language = (
            person.language
            if person
            else normalise_language(user.language_code, self.settings.default_language)
        )
        received = self.app.catalog.t(language, "telegram.button.received")
        message = query.message
        in_group = message is not None and message.chat.type != ChatType.PRIVATE
        if not query.data:
            return
        chat_id = message.chat.id if message is not None else user.id
        incoming = Incoming(
            platform=PLATFORM,
            chat_id=str(chat_id),
            sender_id=str(user.id),
            person=person,
            at=self.app.clock.now(),
            button_token=query.data,
            is_private=not in_group,
            addressed_to_bot=True,
            platform_message_id=str(message.message_id) if message is not None else None,
            locale_hint=user.language_code,
            # In a group, what the press answers only for the presser ("already decided") is shown as
            # the answer to the press, never posted in the group.
            press_notes=[] if in_group else None,
        )
        # A press in a private chat was answered when it was stored; in a group the answer carries what
        # the press says only to the presser ("already decided"), known once it is handled.
        await self.app.process(incoming)
        if in_group:
            notes = incoming.press_notes or []
            await self._answer_press(query, "\n".join(notes) or received, alert=bool(notes))

    # ----- webhook and health ---------------------------------------------------------------
    async def _start_webhook(self) -> None:
        assert self.webhook_url is not None
        secret = self.settings.telegram_secret_token
        if secret is None:
            raise ValueError("TELEGRAM_SECRET_TOKEN is required in webhook mode")
        web_app = web.Application()
        web_app.router.add_post(webhook_path(self.webhook_url), self._webhook)
        ops.add_routes(web_app, self.app)  # GET /healthz and /metrics, as in every HTTP mode
        # On a stop, a request still open gets 2 s to finish (aiohttp's default, 60 s, outlasts SIGTERM's 10).
        runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        self._web = runner
        site = web.TCPSite(runner, self.settings.telegram_listen_host, self.settings.telegram_listen_port)
        await site.start()
        self.port = int(runner.addresses[0][1])
        await self.application.bot.set_webhook(
            self.webhook_url, secret_token=secret.get_secret_value(), allowed_updates=ALLOWED_UPDATES
        )

    async def _webhook(self, request: web.Request) -> web.Response:
        """One update from Telegram: stored in the inbox before the 200, so a crash makes Telegram
        send it again (and the inbox's dedupe key makes the redelivery harmless). A body that passed
        the secret check but is not an update is a client error (400, audited): a 5xx would make
        Telegram send it again and again."""
        secret = self.settings.telegram_secret_token
        given = request.headers.get(SECRET_HEADER)
        expected = secret.get_secret_value() if secret is not None else ""
        if not given or not expected or not _same_secret(given, expected):
            await self._audit_bad_secret(request, "missing" if not given else "wrong")
            return web.json_response({"ok": False}, status=403)
        try:
            update = Update.de_json(parse_update(await request.read()), self.application.bot)
        except BadBody as exc:
            await self._audit_bad_body(request, str(exc))
            return web.json_response({"ok": False}, status=400)
        except Exception as exc:  # PTB could not read it: a field of the wrong type, a missing one …
            await self._audit_bad_body(request, f"not an update ({type(exc).__name__})")
            return web.json_response({"ok": False}, status=400)
        try:
            await self._store(update)
        except Exception:
            # The database cannot store it: Telegram must send it again.
            log.exception("could not store Telegram update %s", update.update_id)
            return web.json_response({"ok": False}, status=500)
        return web.json_response({"ok": True})

    async def _audit_bad_body(self, request: web.Request, reason: str) -> None:
        source = request.remote or "unknown"
        log.warning("webhook body from %s refused: %s", source, reason)
        now = time.monotonic()
        last = self._bad_body_audited.get(source)
        if last is not None and now - last < BAD_SECRET_AUDIT_SECONDS:
            return
        if len(self._bad_body_audited) > 10_000:
            self._bad_body_audited.clear()
        self._bad_body_audited[source] = now
        try:
            await self.app.audit(
                at=self.app.clock.now(),
                actor=f"http:{source}"[:64],
                action="access.bad_webhook_body",
                object_type="webhook",
                object_id=request.path[:128],
                after={"reason": reason[:200]},
            )
        except Exception:
            log.exception("could not write the audit row for a refused webhook body")

    async def _audit_bad_secret(self, request: web.Request, reason: str) -> None:
        source = request.remote or "unknown"
        now = time.monotonic()
        last = self._bad_secret_audited.get(source)
        log.warning("webhook request from %s refused: %s secret token", source, reason)
        if last is not None and now - last < BAD_SECRET_AUDIT_SECONDS:
            return
        if len(self._bad_secret_audited) > 10_000:
            self._bad_secret_audited.clear()
        self._bad_secret_audited[source] = now
        try:
            await self.app.audit(
                at=self.app.clock.now(),
                actor=f"http:{source}"[:64],
                action="access.bad_webhook_secret",
                object_type="webhook",
                object_id=request.path[:128],
                after={"reason": reason},
            )
        except Exception:
            log.exception("could not write the audit row for a refused webhook request")
