"""Slack events, slash commands and button presses in; core messages out.

The adapter holds the core (composition). Every listener only stores the request in the inbox and acks
after that commit (over HTTP and Socket Mode alike: bolt runs listeners before it answers), so an
acknowledged request survives a crash; the inbox worker handles it afterwards. A modal submission is
handled before its ack, in the transaction that stores it, because only the ack can show field errors.
Requests are verified here, against the injected clock, before bolt sees them; a bad or stale signature
gets 401, an audit row, and nothing else; a signed body that is not a Slack request gets 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import Clock as SignatureClock
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot import forms, ops
from bot.adapters.bodies import nesting_depth
from bot.adapters.slack import blocks, modals
from bot.adapters.slack import home as home_tab
from bot.adapters.slack.transport import EPHEMERAL, PLATFORM, SlackTransport, api_error
from bot.clock import Clock
from bot.context import Context
from bot.core import Core
from bot.inbox import Row, Update
from bot.messages import FileIn, Incoming, Outgoing, Person
from bot.outbox import Dispatcher, enqueue
from bot.ratelimit import RateLimiter

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
COMMAND = "/desk"
MAX_FILE_BYTES = 20 * 1024 * 1024
SIGNATURE_MAX_AGE = 5 * 60
BAD_SIGNATURE_AUDIT_EVERY = 60.0  # seconds: a flood of forged requests writes one row a minute
MESSAGES_PER_SECOND = 25.0  # across the workspace; Slack allows about one per second per channel
DM_CHANNEL_NAME = "directmessage"
ACCEPTED_SUBTYPES = (None, "file_share", "thread_broadcast")


def event_time(event: dict[str, Any]) -> datetime | None:
    """The moment the person sent the message, from the event's ``ts`` (epoch seconds.micro), or None."""
    try:
        return datetime.fromtimestamp(float(str(event.get("ts") or event.get("event_ts") or "")), UTC)
    except (ValueError, OverflowError, OSError):
        return None


MAX_NESTING = 32  # Slack's payloads nest a few levels; anything deeper is not one of them

# The trigger of the interaction being handled (slash command, button): a form may open a modal with it.
current_trigger: contextvars.ContextVar[str | None] = contextvars.ContextVar("slack_trigger", default=None)


def _user_of(body: dict[str, Any]) -> str:
    user = body.get("user")
    return str(user.get("id") or "") if isinstance(user, dict) else ""


def _slack_time(body: dict[str, Any]) -> datetime | None:
    """When the person acted, by Slack's clock: an event's time, or a button's action_ts."""
    stamp: Any = body.get("event_time")
    actions = body.get("actions")
    if stamp is None and isinstance(actions, list) and actions and isinstance(actions[0], dict):
        stamp = actions[0].get("action_ts")
    try:
        return datetime.fromtimestamp(float(stamp), UTC) if stamp is not None else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def request_time(request: AsyncBoltRequest | None) -> datetime | None:
    """When Slack sent an HTTP request (its signed ``X-Slack-Request-Timestamp``): a slash command's only
    clock, so a `/desk in` queued behind an outage still counts at the person's time. None in Socket Mode."""
    if request is None:
        return None
    values = request.headers.get("x-slack-request-timestamp") or []
    try:
        return datetime.fromtimestamp(int(values[0]), UTC) if values else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _json_object(text: str | bytes) -> tuple[dict[str, Any] | None, str | None]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None, "not JSON"
    if not isinstance(data, dict):
        return None, f"a JSON {type(data).__name__}, not an object"
    if nesting_depth(data, MAX_NESTING) > MAX_NESTING:
        return None, "nested too deep"
    return data, None


def body_problem(body: bytes, content_type: str) -> str | None:
    """Why a signed body is not a Slack request we can read (None when it is one). Checked before
    bolt parses it, which would otherwise fail with a 500 on some of these."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    if content_type == "application/json":
        data, problem = _json_object(text)
        if data is None:
            return problem
        if data.get("type") == "url_verification":
            return None if isinstance(data.get("challenge"), str) else "no challenge"
        if not isinstance(data.get("event"), dict):
            return "no event object"
        return None
    fields = parse_qs(text, keep_blank_values=True)
    if "payload" in fields:
        data, problem = _json_object(fields["payload"][0])
        if data is None:
            return f"payload: {problem}"
        if not isinstance(data.get("type"), str):
            return "payload without a type"
        if "actions" in data and not isinstance(data["actions"], list):
            return "actions is not a list"
        if any(not isinstance(a, dict) for a in data.get("actions") or []):
            return "an action is not an object"
        for name in ("user", "view", "container", "channel", "message"):
            if name in data and data[name] is not None and not isinstance(data[name], dict):
                return f"{name} is not an object"
        return None
    if "command" in fields:
        return None
    return "neither an event, a command nor an interaction"


class _InjectedClock(SignatureClock):
    """slack_sdk's verifier asks a clock for epoch seconds; ours is the core's (fake in tests)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def now(self) -> float:
        return self.clock.now().timestamp()


def default_limiter() -> RateLimiter:
    return RateLimiter(MESSAGES_PER_SECOND, 1.0)


def api_base_url(url: str) -> str:
    """slack_sdk joins method names onto the base URL, so it must end with a slash."""
    return url if url.endswith("/") else url + "/"


class SlackAdapter:
    """Connects the core to one Slack workspace (HTTP mode through `web_app`, or Socket Mode)."""

    def __init__(
        self,
        app: Core,
        client: AsyncWebClient,
        *,
        signing_secret: str | None,
        home_refresh_seconds: float = 2.0,
        bolt_logger: logging.Logger | None = None,
    ) -> None:
        self.app = app
        self.client = client
        self.home_refresh_seconds = home_refresh_seconds
        self.transport = SlackTransport(
            client,
            supervisors_channel=app.settings.slack_supervisors_channel,
            on_delivered=self._delivered,
        )
        self.verifier = (
            SignatureVerifier(signing_secret, clock=_InjectedClock(app.clock)) if signing_secret else None
        )
        self.bolt = AsyncApp(
            client=client,
            signing_secret=signing_secret,
            request_verification_enabled=False,  # verified in `handle_http` against the core's clock
            # Listeners only store the request (or, for a modal, handle it): the answer waits for that.
            process_before_response=True,
            logger=bolt_logger or logging.getLogger("deskmate.slack.bolt"),
        )
        self.home_seen: set[str] = set()
        self._home_pending: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_bad_audit: float | None = None
        self._bad_suppressed = 0
        self._register()
        app.inbox.register(PLATFORM, self._handle_row)
        app.hooks.refresh_home = self.refresh_home
        app.hooks.open_form = self.open_form
        if app.settings.slack_supervisors_channel:
            # Features add a card for the supervisors' channel only when a platform has one.
            app.shared.supervisors_chat = app.settings.slack_supervisors_channel

    # ----- wiring ----------------------------------------------------------------------------------
    def attach(self, limiter: RateLimiter | None = None) -> Dispatcher:
        """Make Slack the App's outbox transport."""
        return self.app.attach(self.transport, limiter=limiter or default_limiter())

    def web_app(self) -> web.Application:
        """/slack/events for Slack; /healthz and /metrics as in every HTTP mode (`bot.ops`)."""
        web_app = web.Application()
        web_app.router.add_post(EVENTS_PATH, self.handle_http)
        ops.add_routes(web_app, self.app)
        return web_app

    def _register(self) -> None:
        bolt = self.bolt
        bolt.command(COMMAND)(self._on_command)
        bolt.event("message")(self._on_message)
        bolt.event("app_mention")(self._on_mention)
        bolt.event("app_home_opened")(self._on_home_opened)
        bolt.action(re.compile("^" + re.escape(blocks.BUTTON_ACTION_PREFIX)))(self._on_button)
        bolt.action(re.compile("^" + re.escape(blocks.HOME_ACTION_PREFIX)))(self._on_home_button)
        bolt.view(re.compile("^" + re.escape(modals.CALLBACK_PREFIX)))(self._on_form)
        # Anything else Slack sends (an event we did not subscribe to on purpose, a link button) is
        # acknowledged and dropped, so Slack does not retry it or mark the app as failing.
        bolt.event(re.compile(".*"))(self._ignore)
        bolt.action(re.compile(".*"))(self._ack_only)
        bolt.view(re.compile(".*"))(self._ack_only)

    # ----- HTTP ------------------------------------------------------------------------------------
    async def handle_http(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.verifier is None:
            log.error("HTTP request refused: no signing secret configured")
            return web.Response(status=401, text="unauthorized")
        timestamp = request.headers.get("X-Slack-Request-Timestamp")
        signature = request.headers.get("X-Slack-Signature")
        try:
            valid = self.verifier.is_valid(body, timestamp, signature)
        except (ValueError, TypeError):
            valid = False
        if not valid:
            await self._audit_bad_signature(request, timestamp)
            return web.Response(status=401, text="unauthorized")
        problem = body_problem(body, request.content_type)
        if problem is not None:
            await self._audit_bad_body(request, problem)
            return web.Response(status=400, text="bad request")
        retry = request.headers.get("X-Slack-Retry-Num")
        if retry:
            log.info("slack retry #%s (%s)", retry, request.headers.get("X-Slack-Retry-Reason", "?"))
        bolt_request = AsyncBoltRequest(
            body=body.decode("utf-8", errors="replace"),
            query=request.query_string,
            headers={key: value for key, value in request.headers.items()},
        )
        response = await self.bolt.async_dispatch(bolt_request)
        return await to_aiohttp_response(response)

    async def _audit_bad_signature(self, request: web.Request, timestamp: str | None) -> None:
        now = self.app.clock.now()
        try:
            age = abs(now.timestamp() - int(timestamp or "x"))
            reason = "stale timestamp" if age > SIGNATURE_MAX_AGE else "bad signature"
        except ValueError:
            reason = "missing timestamp"
        log.warning("refused a Slack request from %s: %s", request.remote, reason)
        stamp = now.timestamp()
        if self._last_bad_audit is not None and stamp - self._last_bad_audit < BAD_SIGNATURE_AUDIT_EVERY:
            self._bad_suppressed += 1
            return
        self._last_bad_audit = stamp
        suppressed, self._bad_suppressed = self._bad_suppressed, 0
        try:
            await self.app.audit(
                at=now,
                actor="slack:unverified",
                action="access.bad_slack_signature",
                object_type="http",
                object_id=(request.remote or "unknown")[:128],
                after={"reason": reason, "path": request.path, "earlier_unrecorded": suppressed},
            )
        except Exception:
            log.exception("could not audit a refused Slack request")

    async def _audit_bad_body(self, request: web.Request, reason: str) -> None:
        log.warning("refused a signed Slack request from %s: %s", request.remote, reason)
        try:
            await self.app.audit(
                at=self.app.clock.now(),
                actor="slack:signed",
                action="access.bad_slack_body",
                object_type="http",
                object_id=(request.remote or "unknown")[:128],
                after={"reason": reason[:200], "path": request.path},
            )
        except Exception:
            log.exception("could not audit a malformed Slack request")

    # ----- listeners: store, then ack ----------------------------------------------------------------
    async def _ignore(self) -> None:
        return None

    async def _ack_only(self, ack: AsyncAck) -> None:
        await ack()

    async def _store(
        self,
        kind: str,
        body: dict[str, Any],
        user: str,
        key: str,
        *,
        at: datetime | None = None,
        **extra: Any,
    ) -> None:
        """Put a request in the inbox (committed before the caller acks). `key` is Slack's own id for
        it; a body without one is keyed by its content, so an identical replay is dropped too. ``at`` is
        the person's time when the body has none of its own (a slash command's request timestamp)."""
        if not key:
            key = "body:" + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:40]
        payload = {"kind": kind, "body": body, **extra}
        stored = await self.app.inbox.put(
            Update(
                PLATFORM,
                f"{kind}:{key}",
                user,
                user,
                payload,
                _slack_time(body) or at,
                chat_key=f"slack:{user}",
            )
        )
        if stored is None:
            log.info("slack %s %s seen before; ignored", kind, key)

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any], request: AsyncBoltRequest) -> None:
        user = str(body.get("user_id") or "")
        if user:
            trigger = str(body.get("trigger_id") or "")
            await self._store("command", body, user, trigger, at=request_time(request))
        await ack()

    async def _on_message(self, body: dict[str, Any], context: AsyncBoltContext) -> None:
        event: dict[str, Any] = body.get("event") or {}
        if (
            event.get("channel_type") != "im"
            or event.get("bot_id")
            or event.get("subtype") not in ACCEPTED_SUBTYPES
        ):
            return  # channels are handled through app_mention; edits and bot echoes are not requests
        user = str(event.get("user") or "")
        if user:
            await self._store(
                "message", body, user, str(body.get("event_id") or ""), bot_user_id=context.bot_user_id
            )

    async def _on_mention(self, body: dict[str, Any], context: AsyncBoltContext) -> None:
        event: dict[str, Any] = body.get("event") or {}
        user = str(event.get("user") or "")
        if user and event.get("channel") and not event.get("bot_id"):
            await self._store(
                "mention",
                body,
                user,
                str(body.get("event_id") or ""),
                bot_user_id=context.bot_user_id,
                _private=str(event.get("channel")).startswith("D"),
            )

    @staticmethod
    def _interaction_key(body: dict[str, Any]) -> str:
        actions = body.get("actions")
        first = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
        trigger = str(body.get("trigger_id") or "")
        return f"{first.get('action_id', '')}:{first.get('action_ts', '')}:{trigger}" if trigger else ""

    async def _on_button(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        user = _user_of(body)
        if user:
            await self._store("button", body, user, self._interaction_key(body))
        await ack()

    async def _on_home_button(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        user = _user_of(body)
        if user:
            await self._store("home_button", body, user, self._interaction_key(body))
        await ack()

    async def _on_home_opened(self, body: dict[str, Any]) -> None:
        user = str((body.get("event") or {}).get("user") or "")
        if user:
            await self._store("home_opened", body, user, str(body.get("event_id") or ""))

    # ----- the inbox worker's side: a stored request into the core ----------------------------------
    async def _handle_row(self, row: Row) -> None:
        body: dict[str, Any] = row.payload.get("body") or {}
        kind = row.payload.get("kind")
        bot_user_id = row.payload.get("bot_user_id")
        if kind == "command":
            await self._do_command(body, row.platform_at)
        elif kind == "message":
            await self._do_message(body, bot_user_id)
        elif kind == "mention":
            await self._do_mention(body, bot_user_id)
        elif kind == "button":
            await self._do_button(body)
        elif kind == "home_button":
            await self._do_home_button(body)
        elif kind == "home_opened":
            await self._do_home_opened(body)
        elif kind == "form":  # handled before its ack normally; here only when that attempt failed
            await self._submit_form(row)
        else:
            raise ValueError(f"unknown kind of stored Slack request: {kind!r}")

    async def _do_command(self, body: dict[str, Any], at: datetime | None = None) -> None:
        user = str(body.get("user_id") or "")
        if not user:
            return
        person = await self.app.resolve_person(PLATFORM, user)
        text = self.command_text(str(body.get("text") or ""))
        incoming = self._incoming(user, user, person, text=text, at=at)
        await self._handle(incoming, trigger=body.get("trigger_id"))
        channel = str(body.get("channel_id") or "")
        if person is not None and channel and body.get("channel_name") != DM_CHANNEL_NAME:
            # The answer went to our direct messages; say so where the command was typed.
            await self._send(
                Outgoing(
                    text=self.app.text_for(person, "slack.answered_in_dm"),
                    to_chat=f"{EPHEMERAL}{channel}:{user}",
                )
            )

    def command_text(self, text: str, bot_user_id: str | None = None, *, empty: str = "/help") -> str:
        """`/desk whoami` means `/whoami`; `/desk 打卡` and `/desk 晚班几点下班` go in as typed.

        Slack keeps every `/word` typed in its message box for itself, so a first word naming a
        command runs it in DMs and mentions too: they work the same as /desk."""
        text = blocks.from_slack(text, bot_user_id)
        if not text:
            return empty
        head = text.split(maxsplit=1)[0].lower()
        if head in self.app.router.commands and head not in self.app.router.keywords:
            return "/" + text
        return text

    async def _do_message(self, body: dict[str, Any], bot_user_id: str | None) -> None:
        event: dict[str, Any] = body.get("event") or {}
        if (
            event.get("channel_type") != "im"
            or event.get("bot_id")
            or event.get("subtype") not in ACCEPTED_SUBTYPES
        ):
            return  # channels are handled through app_mention; edits and bot echoes are not requests
        user = str(event.get("user") or "")
        person = await self.app.resolve_person(PLATFORM, user)
        channel = str(event.get("channel") or user)
        text = self.command_text(str(event.get("text") or ""), bot_user_id, empty="")
        files = [f for f in event.get("files") or [] if isinstance(f, dict)]
        if files and person is not None and self.app.router.file_handler is not None:
            for file in files:
                received = await self._download(person, file)
                if received is not None:
                    await self._handle(
                        self._incoming(channel, user, person, text=text or None, file=received)
                    )
            return
        await self._handle(self._incoming(channel, user, person, text=text, at=event_time(event)))

    async def _do_mention(self, body: dict[str, Any], bot_user_id: str | None) -> None:
        event: dict[str, Any] = body.get("event") or {}
        user = str(event.get("user") or "")
        channel = str(event.get("channel") or "")
        if not user or not channel or event.get("bot_id"):
            return
        person = await self.app.resolve_person(PLATFORM, user)
        text = self.command_text(str(event.get("text") or ""), bot_user_id)
        private = channel.startswith("D")
        incoming = self._incoming(channel, user, person, text=text, private=private, at=event_time(event))
        await self._handle(incoming)

    async def _do_button(self, body: dict[str, Any]) -> None:
        user = str((body.get("user") or {}).get("id") or "")
        actions = body.get("actions") or []
        if not user or not actions:
            return
        token = str(actions[0].get("value") or "")
        container: dict[str, Any] = body.get("container") or {}
        channel = str((body.get("channel") or {}).get("id") or "")
        if container.get("type") == "view" or container.get("is_ephemeral") or not channel:
            chat, private = user, True
        else:
            chat, private = channel, channel.startswith("D")
        person = await self.app.resolve_person(PLATFORM, user)
        incoming = self._incoming(chat, user, person, private=private)
        incoming.button_token = token
        incoming.platform_message_id = str((body.get("message") or {}).get("ts") or "") or None
        await self._handle(incoming, trigger=body.get("trigger_id"))

    async def _do_home_button(self, body: dict[str, Any]) -> None:
        """The Home's quick buttons type a command for the person (only the ones the Home offers)."""
        user = str((body.get("user") or {}).get("id") or "")
        actions = body.get("actions") or []
        name = str(actions[0].get("value") or "") if actions else ""
        if not user or name not in home_tab.HOME_COMMANDS:
            return
        person = await self.app.resolve_person(PLATFORM, user)
        await self._handle(
            self._incoming(user, user, person, text="/" + name), trigger=body.get("trigger_id")
        )

    async def _do_home_opened(self, body: dict[str, Any]) -> None:
        event: dict[str, Any] = body.get("event") or {}
        user = str(event.get("user") or "")
        if not user or event.get("tab", "home") != "home":
            return
        self.home_seen.add(user)
        await self.publish_home(user)

    def _incoming(
        self,
        chat: str,
        user: str,
        person: Person | None,
        *,
        text: str | None = None,
        file: FileIn | None = None,
        private: bool = True,
        at: datetime | None = None,
    ) -> Incoming:
        return Incoming(
            platform=PLATFORM,
            chat_id=chat,
            sender_id=user,
            person=person,
            at=self.app.clock.now(),
            text=text,
            file=file,
            is_private=private,
            addressed_to_bot=True,
            # In a channel, a note for the sender alone is an ephemeral message there.
            note_chat=None if private else f"{EPHEMERAL}{chat}:{user}",
            platform_at=at,
        )

    async def _handle(self, incoming: Incoming, *, trigger: Any = None) -> None:
        token = current_trigger.set(str(trigger) if trigger else None)
        try:
            await self.app.process(incoming)
        finally:
            current_trigger.reset(token)

    async def _send(self, out: Outgoing) -> None:
        async with self.app.db.transaction() as conn:
            await enqueue(conn, out, self.app.clock.now())

    def _file_url_allowed(self, url: str) -> bool:
        """The bot token goes only to Slack's file host or the configured API host, never elsewhere."""
        host = urlsplit(url).hostname or ""
        api_host = urlsplit(self.client.base_url).hostname or ""
        return urlsplit(url).scheme in ("https", "http") and (host == "files.slack.com" or host == api_host)

    async def _download(self, person: Person, file: dict[str, Any]) -> FileIn | None:
        name = str(file.get("name") or file.get("title") or "file")[:200]
        size = int(file.get("size") or 0)
        limit_mb = MAX_FILE_BYTES // (1024 * 1024)
        if size > MAX_FILE_BYTES:
            await self._send(
                Outgoing(self.app.text_for(person, "slack.file.too_large", limit=limit_mb), person.id)
            )
            return None
        url = str(file.get("url_private_download") or file.get("url_private") or "")
        if not url or not self._file_url_allowed(url):
            log.warning("file %s from %s has no downloadable Slack URL", file.get("id"), person.id)
            await self._send(Outgoing(self.app.text_for(person, "slack.file.unavailable"), person.id))
            return None
        try:
            data = await self._fetch(url)
        except Exception as exc:
            log.warning(
                "downloading file %s for %s failed: %s", file.get("id"), person.id, type(exc).__name__
            )
            data = None
        if data is None:
            await self._send(Outgoing(self.app.text_for(person, "slack.file.unavailable"), person.id))
            return None
        if len(data) > MAX_FILE_BYTES:
            await self._send(
                Outgoing(self.app.text_for(person, "slack.file.too_large", limit=limit_mb), person.id)
            )
            return None
        return FileIn(name, data)

    async def _fetch(self, url: str) -> bytes | None:
        headers = {"Authorization": f"Bearer {self.client.token}"}
        timeout = aiohttp.ClientTimeout(total=60)
        session = self.client.session
        owned = session is None
        active = session if session is not None else aiohttp.ClientSession()
        try:
            async with active.get(url, headers=headers, timeout=timeout) as response:
                # Without access Slack answers 200 with its sign-in page, so HTML is a failure too.
                if response.status != 200 or response.content_type == "text/html":
                    return None
                chunks: list[bytes] = []
                total = 0
                async for chunk in response.content.iter_chunked(64 * 1024):
                    total += len(chunk)
                    if total > MAX_FILE_BYTES + 1:
                        break
                    chunks.append(chunk)
                return b"".join(chunks)
        finally:
            if owned:
                await active.close()

    # ----- forms as modals --------------------------------------------------------------------------
    async def open_form(self, ctx: Context, form: forms.Form) -> bool:
        """The `open_form` service: a modal, when this message came from Slack with a fresh trigger."""
        trigger = current_trigger.get()
        if ctx.incoming.platform != PLATFORM or not trigger:
            return False
        slack_ids: dict[str, str] = {}
        for item in form.fields:
            if item.kind == "person" and item.initial:
                colleague = await self.app.person(item.initial)
                if colleague is not None and colleague.slack:
                    slack_ids[colleague.id] = colleague.slack
        view = modals.view(form, ctx.t("slack.form.cancel"), slack_ids)
        try:
            await self.client.views_open(trigger_id=trigger, view=view)
        except Exception as exc:  # an expired trigger (> 3 s) or an outage: ask step by step instead
            detail = api_error(exc)[1] if isinstance(exc, SlackApiError) else type(exc).__name__
            log.warning("views.open for form %s failed: %s", form.kind, detail)
            return False
        return True

    async def _on_form(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """A submitted modal: checked and handled before the ack, in the transaction that stores it,
        because only the ack can show problems next to the fields (and it must still come within 3 s)."""
        view: dict[str, Any] = body.get("view") or {}
        user = _user_of(body)
        person = await self.app.resolve_person(PLATFORM, user) if user else None
        if person is None:
            await ack()
            return
        values, members = modals.answers(view.get("state") or {})
        errors: dict[str, str] = {}
        for name, member in members.items():
            colleague = await self.app.resolve_person(PLATFORM, member)
            if colleague is None:
                errors[name] = self.app.text_for(person, "slack.form.not_registered")
            else:
                values[name] = colleague.id
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        # A replay of one submission is dropped; a corrected one (after field errors) is new.
        answers = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]
        key = f"{body.get('trigger_id') or view.get('id', '')}:{answers}"
        payload = {"kind": "form", "body": body, "values": values}
        update = Update(PLATFORM, f"form:{key}", user, user, payload, None, chat_key=f"slack:{user}")
        outcome = await self.app.inbox.put_and_run(update, self._submit_form)
        problems = outcome.result if outcome is not None and outcome.handled else None
        if problems:
            await ack(response_action="errors", errors=problems)
        else:
            await ack()

    async def _submit_form(self, row: Row) -> dict[str, str] | None:
        body: dict[str, Any] = row.payload.get("body") or {}
        view: dict[str, Any] = body.get("view") or {}
        kind = str(view.get("callback_id") or "").removeprefix(modals.CALLBACK_PREFIX)
        try:
            payload = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            payload = {}
        person = await self.app.resolve_person(PLATFORM, row.sender_id)
        incoming = self._incoming(row.sender_id, row.sender_id, person)
        return await forms.submit(self.app, incoming, kind, dict(row.payload.get("values") or {}), payload)

    # ----- App Home --------------------------------------------------------------------------------
    async def publish_home(self, user: str) -> None:
        person = await self.app.resolve_person(PLATFORM, user)
        if person is None:
            view = home_tab.unregistered_view(self.app, user)
        else:
            view = await home_tab.view(self.app, person, self.app.clock.now())
        try:
            await self.client.views_publish(user_id=user, view=view)
        except SlackApiError as exc:
            log.warning("views.publish for %s failed: %s", user, api_error(exc)[1])

    async def refresh_home(self, person_id: str) -> None:
        """The `refresh_home` service: redraw a person's Home if they have looked at it."""
        person = await self.app.person(person_id)
        if person is not None:
            self._schedule_home(person)

    async def _delivered(self, person: Person) -> None:
        self._schedule_home(person)

    def _schedule_home(self, person: Person) -> None:
        user = person.slack
        if not user or user not in self.home_seen or user in self._home_pending:
            return  # never opened (nothing to redraw) or a redraw is already coming
        task = asyncio.create_task(self._delayed_home(user), name=f"slack-home-{user}")
        self._home_pending[user] = task
        self._keep(task)

    async def _delayed_home(self, user: str) -> None:
        try:
            if self.home_refresh_seconds > 0:
                await asyncio.sleep(self.home_refresh_seconds)
        finally:
            self._home_pending.pop(user, None)
        await self.publish_home(user)

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait for the background redraws of the Home (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks, return_exceptions=True)
