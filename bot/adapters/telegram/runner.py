"""The Telegram bot: python-telegram-bot's Application in front of the core App.

Every update goes the same way: act once per update id (Telegram redelivers), resolve the sender,
translate to an `Incoming`, let the core decide, then wake the outbox so the reply leaves at once.
Nothing here knows any feature; the adapter only translates.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable
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
from telegram.ext import Application, ApplicationBuilder, BaseUpdateProcessor, ContextTypes, TypeHandler

from bot import ops, runtime
from bot.adapters.telegram import render
from bot.adapters.telegram.aiohttp_request import AiohttpRequest
from bot.adapters.telegram.transport import PLATFORM, SEND_PER_SECOND, Pacing, TelegramTransport
from bot.app import AlreadyHandled, App
from bot.context import Context
from bot.db import first_write
from bot.i18n import normalise_language
from bot.messages import FileIn, Incoming, Person
from bot.ratelimit import RateLimiter
from bot.shared_rate import SharedRateLimiter

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query"]
MAX_PRESS_ANSWER = 200  # characters Telegram shows in the answer to a button press
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # the Bot API serves files up to 20 MB through getFile
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
BAD_SECRET_AUDIT_SECONDS = 60.0  # one audit row per source address a minute, so probes cannot flood it


def webhook_path(url: str) -> str:
    return urlsplit(url).path or "/"


class PerChatProcessor(BaseUpdateProcessor):
    """Updates of different chats run concurrently; updates of one chat run in arrival order
    (a person typing `/lang` then `en` must be handled in that order)."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[object, asyncio.Lock] = {}
        self._waiting: dict[object, int] = {}

    @staticmethod
    def key(update: object) -> object:
        if isinstance(update, Update):
            if update.effective_chat is not None:
                return update.effective_chat.id
            if update.effective_user is not None:
                return update.effective_user.id
            return update.update_id
        return id(update)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = self.key(update)
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._waiting[key] -= 1
            if self._waiting[key] == 0:
                del self._waiting[key]
                del self._locks[key]

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


def default_limiter(app: App, token: str) -> RateLimiter:
    """Telegram's ~30 messages a second are per bot: one process keeps to them alone, replicas (on
    PostgreSQL) together. The slot row is named by the bot's id, the token's public part."""
    if app.db.is_sqlite:
        return RateLimiter(SEND_PER_SECOND)
    return SharedRateLimiter(app.db, f"telegram:{token.split(':', 1)[0]}", SEND_PER_SECOND)


class TelegramBot:
    """Runs the core App on Telegram: long polling, or a webhook when TELEGRAM_WEBHOOK_URL is set."""

    def __init__(
        self,
        app: App,
        *,
        limiter: RateLimiter | None = None,
        pacing: Pacing | None = None,
        poll_timeout: int = 10,
        concurrency: int = 16,
    ) -> None:
        settings = app.settings
        if settings.telegram_token is None:
            raise ValueError("TELEGRAM_TOKEN is not set")
        self.app = app
        self.settings = settings
        # The global rate spaces every send (short sleeps in the outbox worker); per-chat and per-group
        # limits put off only the chat concerned (see transport.Pacing), timed by the App's clock. On
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
            .concurrent_updates(PerChatProcessor(concurrency))
            # aiohttp instead of PTB's httpx: a quarter of the CPU per call. PTB's builder defaults otherwise
            # (getUpdates: one connection; PTB adds the long-poll time to its read timeout itself).
            .request(AiohttpRequest())
            .get_updates_request(AiohttpRequest(connection_pool_size=1))
            .job_queue(None)  # timed work is the core's scheduler, not PTB's
        )
        if self.webhook_url:
            builder = builder.updater(None)  # our aiohttp server receives the updates
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)
        if settings.telegram_supervisors_chat_id is not None:
            # Features add a card for the supervisors' group only when a platform has one.
            app.services["supervisors_chat"] = str(settings.telegram_supervisors_chat_id)
        self.transport: TelegramTransport | None = None
        self.updates_seen = 0
        self.port: int | None = None
        self._web: web.AppRunner | None = None
        self._bad_secret_audited: dict[str, float] = {}
        self._failed: set[int] = set()
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
                assert application.updater is not None
                await application.updater.start_polling(
                    timeout=self.poll_timeout, allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False
                )
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
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
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

    # ----- updates --------------------------------------------------------------------------
    async def _on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            if update.callback_query is not None:
                await self._on_press(update.update_id, update.callback_query)
            elif update.message is not None:
                await self._on_message(update.update_id, update.message)
            # Edited messages, channel posts and member changes: nothing for the core.
        except Exception:
            # PTB logs it through the error handler; a webhook answers 500 so Telegram sends it again.
            if self.webhook_url:
                self._failed.add(update.update_id)
            raise
        finally:
            self.updates_seen += 1
            self._wake_outbox()

    def _wake_outbox(self) -> None:
        if self.app.dispatcher is not None:
            self.app.dispatcher.wakeup.set()

    async def _first_time(self, update_id: int) -> bool:
        if await self.app.first_time(PLATFORM, str(update_id)):
            return True
        log.info("telegram update %s seen before; ignored", update_id)
        return False

    async def _on_message(self, update_id: int, message: Message) -> None:
        user = message.from_user
        if user is None or user.is_bot or message.sender_chat is not None:
            return
        bot_user = self.application.bot
        addressed, text = render.addressing(message, bot_user.username, bot_user.id)
        is_private = message.chat.type == ChatType.PRIVATE
        if not is_private and not addressed:
            # Group chatter (privacy mode off, or the bot is an admin) is not for us: the core would ignore
            # it anyway, except that it could be taken as the next step of someone's open form, and a
            # stranger's message would draw a public refusal.
            return
        # The update id is stored by the first write transaction the message leads to, together with
        # its first effect (mostly the punch or request and its reply): one transaction less per
        # message, and no crash can leave it marked as handled but not handled. A redelivery stops
        # there with AlreadyHandled, before anything of it is stored or sent.
        recorder = self.app.update_recorder(PLATFORM, str(update_id))
        # (App.handle stops quietly at AlreadyHandled too; the suppress is for the adapter's own replies.)
        with first_write(recorder) as recorded, contextlib.suppress(AlreadyHandled):
            await self._handle_message(message, user, text, is_private=is_private, addressed=addressed)
        if isinstance(recorded.failed, AlreadyHandled):
            log.info("telegram update %s seen before; ignored", update_id)
        elif not recorded.done and recorded.failed is not None:
            # Nothing of it could be stored, not even an apology (the database is down): a webhook
            # answers 500 so that Telegram sends the update again.
            raise recorded.failed

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
        await self.app.handle(incoming)

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

    async def _on_press(self, update_id: int, query: CallbackQuery) -> None:
        if not await self._first_time(update_id):
            return
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
        if not in_group or not query.data:
            # Stop the button's spinner now; the answer itself comes as a message or an edit.
            await self._answer_press(query, received)
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
        try:
            await self.app.handle(incoming)
        finally:
            if in_group:
                notes = incoming.press_notes or []
                await self._answer_press(query, "\n".join(notes) or received, alert=bool(notes))

    async def _answer_press(self, query: CallbackQuery, text: str, *, alert: bool = False) -> None:
        try:
            await query.answer(render.truncate(text, MAX_PRESS_ANSWER), show_alert=alert)
        except TelegramError as exc:
            log.info("could not answer a button press: %s", exc)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram update failed: %r", context.error, exc_info=context.error)

    # ----- webhook and health ---------------------------------------------------------------
    async def _start_webhook(self) -> None:
        assert self.webhook_url is not None
        secret = self.settings.telegram_secret_token
        if secret is None:
            raise ValueError("TELEGRAM_SECRET_TOKEN is required in webhook mode")
        web_app = web.Application()
        web_app.router.add_post(webhook_path(self.webhook_url), self._webhook)
        ops.add_routes(web_app, self.app)  # GET /healthz and /metrics, as in every HTTP mode
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        self._web = runner
        site = web.TCPSite(runner, self.settings.telegram_listen_host, self.settings.telegram_listen_port)
        await site.start()
        self.port = int(runner.addresses[0][1])
        await self.application.bot.set_webhook(
            self.webhook_url, secret_token=secret.get_secret_value(), allowed_updates=ALLOWED_UPDATES
        )

    async def _webhook(self, request: web.Request) -> web.Response:
        """One update from Telegram. Handled before answering 200, so a crash makes Telegram
        redeliver (and the update-id check makes the redelivery harmless)."""
        secret = self.settings.telegram_secret_token
        given = request.headers.get(SECRET_HEADER)
        expected = secret.get_secret_value() if secret is not None else ""
        if not given or not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            await self._audit_bad_secret(request, "missing" if not given else "wrong")
            return web.json_response({"ok": False}, status=403)
        try:
            data = await request.json()
            update = Update.de_json(data, self.application.bot)
        except (ValueError, TypeError, KeyError):
            return web.json_response({"ok": False}, status=400)
        processor = self.application.update_processor
        await processor.process_update(update, self.application.process_update(update))
        if update.update_id in self._failed:
            # Typically the database is unreachable before the update was recorded: let Telegram retry.
            self._failed.discard(update.update_id)
            return web.json_response({"ok": False}, status=500)
        return web.json_response({"ok": True})

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
