"""The outbox's Feishu side: one `Delivery` becomes open-platform calls, and Feishu's answers become the
outbox's outcomes (sent, try later, blocked, never).

Text goes out as `text`; a message with buttons is an `interactive` card (shared, `update_multi`) whose
buttons carry Deskmate's button tokens in their `value`, and whose message_id is kept per copy so a decision
updates every copy; files and images are uploaded (`im/v1/files`, `im/v1/images`) and sent as `file` /
`image` messages.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.adapters.feishu.api import FeishuError, OpenAPI, TokenRefused
from bot.messages import Person
from bot.outbox import Copy, Delivery, RecipientBlocked, RetryLater, Undeliverable
from bot.ratelimit import RateLimiter

log = logging.getLogger(__name__)

PLATFORM = "feishu"
SUPERVISORS = "supervisors"
TEXT_LIMIT = 4000  # characters of one text message (Feishu allows 150 KB; long texts read better split)
# Feishu's documented limits for sending (README "Feishu" names them):
APP_PER_SECOND = 50.0  # im/v1/messages: 50 requests a second per app
APP_PER_MINUTE = 1000  # … and 1000 a minute per app
# What the outbox uses: the documented limits themselves (see FeishuLimiter for how arrivals keep them).
SEND_PER_SECOND = APP_PER_SECOND
SEND_PER_MINUTE = APP_PER_MINUTE
IN_FLIGHT_LIMIT = 0.5  # a send still unanswered this long after its window is no longer waited for
POLL_SECONDS = 0.002
CHAT_PER_SECOND = 5.0  # to one user or one group: 5 a second (a group's 5 shared by its bots)
RATE_RETRY_SECONDS = 1.0
AUTH_RETRY_SECONDS = 60.0

RATE_LIMITED = frozenset({99991400, 230020, 11232, 11233})  # gateway frequency, per chat, per app
GONE = frozenset(
    {230013, 230053}
)  # no availability to this user (left the tenant, out of scope), stopped the bot
LEFT = 230013  # the user is not available to the app: they left the tenant or are out of its scope
AUTH = frozenset({99991661, 99991663, 99991668, 99991671, 99991672})


def classify(exc: Exception) -> Exception:
    """The outbox exception for a failed call (the original when the outbox's backoff fits)."""
    if isinstance(exc, FeishuError):
        if exc.status == 429 or exc.code in RATE_LIMITED:
            wait = exc.retry_after if exc.retry_after is not None else RATE_RETRY_SECONDS
            return RetryLater(wait, f"feishu rate limit ({exc.code})")
        if exc.code in GONE and not isinstance(exc, TokenRefused):
            return RecipientBlocked(f"feishu: the user cannot be reached ({exc.code})", left=exc.code == LEFT)
        if exc.status >= 500:
            return RetryLater(None, f"feishu server error {exc.status} ({exc.code})")
        if exc.status == 401 or exc.code in AUTH or isinstance(exc, TokenRefused):
            return RetryLater(AUTH_RETRY_SECONDS, f"feishu refused the app's credentials ({exc.code})")
        return Undeliverable(f"feishu: {exc.status} {exc.code} {exc.detail}".strip()[:300])
    if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | TimeoutError | OSError):
        return RetryLater(None, f"feishu unreachable: {type(exc).__name__}")
    return exc


def card(text: str, buttons: list[list[dict[str, str]]]) -> dict[str, Any]:
    """An interactive card: the text, then one action row per row of buttons (none after a decision)."""
    elements: list[dict[str, Any]] = [{"tag": "div", "text": {"tag": "plain_text", "content": text}}]
    for row in buttons:
        actions = [
            {
                "tag": "button",
                "text": {"tag": "plain_text", "content": b["label"]},
                "type": "default",
                "value": {"token": b["token"]},
            }
            for b in row
        ]
        elements.append({"tag": "action", "actions": actions})
    return {"config": {"wide_screen_mode": True, "update_multi": True}, "elements": elements}


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        parts.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    parts.append(rest)
    return parts


@dataclass
class _Grant:
    at: float  # when the send was allowed to start
    over: float | None = None  # when it was over (answered, failed, given up): it reached Feishu by then


_held: ContextVar[tuple[_Grant, Callable[[], float]] | None] = ContextVar("feishu_grant", default=None)


def sent() -> None:
    """The transport's send granted in this task is over: its request reached Feishu by now, if ever."""
    held = _held.get()
    if held is not None:
        grant, now = held
        if grant.over is None:
            grant.over = now()
        _held.set(None)


class FeishuLimiter(RateLimiter):
    """The app's 50 a second and 1000 a minute, kept where Feishu counts them: on arrival.

    Sends are paced on the documented rate's grid (one every 20 ms; held back here, they catch up at most
    one every 10 ms) and 5 a second to one chat. Spaced
    evenly, they can still arrive unevenly (the network, a busy event loop between the grant and the write),
    and 51 may then land within one second. So a grant also waits until the send 50 grants earlier (1000 for
    the minute) has been over for a second (a minute): that one arrived before it was answered, and this one
    cannot arrive before it starts, so no rolling second of arrivals holds more than 50, whatever the delays,
    at the cost of one round trip per 50 sends. A send still unanswered `IN_FLIGHT_LIMIT` after its window
    (a hung request) is not waited for longer.
    """

    def __init__(
        self,
        per_second: float = SEND_PER_SECOND,
        per_minute: int = SEND_PER_MINUTE,
        per_chat: float = CHAT_PER_SECOND,
        *,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(per_second, per_chat, now=now, sleep=sleep)
        self.per_minute = per_minute
        self._limits = ((self.per_window, 1.0), (per_minute, 60.0))
        self._grants: deque[_Grant] = deque(maxlen=max(self.per_window, per_minute))

    async def _within_window(self) -> None:
        async with self._window_lock:
            while True:
                now = self._now()
                wait = max(self._wait(count, window, now) for count, window in self._limits)
                if self._grants:  # sends granted late here catch up at twice the pace, not all at once
                    wait = max(wait, self._grants[-1].at + self.interval / 2 - now)
                if wait <= 0:
                    break
                await self._sleep(wait)
            grant = _Grant(now)
            self._grants.append(grant)
            _held.set((grant, self._now))

    def _wait(self, count: int, window: float, now: float) -> float:
        """Seconds until one more send keeps `count` per `window`, counted by when sends were over."""
        if len(self._grants) < count:
            return 0.0
        earlier = self._grants[-count]
        if earlier.over is not None:
            return earlier.over + window - now
        if now >= earlier.at + window + IN_FLIGHT_LIMIT:
            return 0.0
        return max(earlier.at + window - now, POLL_SECONDS)


def feishu_id(person: Person) -> str | None:
    """The person's open_id for this app (`feishu:` in the org file, or linked with /link)."""
    return person.feishu


class FeishuTransport:
    """Implements `bot.outbox.Transport` for Feishu."""

    platform = PLATFORM
    # Chats sent to at once. At 50 sends a second, 8 in hand (the outbox's default) left each send 160 ms
    # for its claim, its answer and its outcome's commit; on a loaded machine that was too little and the
    # pace fell behind the limit. 25 leave 500 ms, and the limiter still spaces the sends themselves.
    concurrency = 25

    def __init__(self, api: OpenAPI, *, supervisors_chat: str | None) -> None:
        self.api = api
        self.supervisors_chat = supervisors_chat

    def _target(self, item: Delivery) -> tuple[str, str]:
        """(receive_id_type, receive_id)."""
        if item.recipient is not None:
            user = feishu_id(item.recipient)
            if not user:
                raise Undeliverable(f"{item.recipient.id} has no Feishu open_id")
            return "open_id", user
        chat = item.chat_id or ""
        if chat == SUPERVISORS:
            if not self.supervisors_chat:
                raise Undeliverable("FEISHU_SUPERVISORS_CHAT_ID is not set")
            return "chat_id", self.supervisors_chat
        if chat.startswith("ou_"):
            return "open_id", chat
        if not chat:
            raise Undeliverable("no recipient and no chat")
        return "chat_id", chat

    async def deliver(self, item: Delivery) -> list[Copy]:
        try:
            return await self._deliver(item)
        except (RetryLater, Undeliverable, RecipientBlocked):
            raise
        except Exception as exc:
            raise classify(exc) from exc
        finally:
            sent()  # the limiter counts the next 50 from here (FeishuLimiter)

    async def _deliver(self, item: Delivery) -> list[Copy]:
        if item.edit_of:
            updated = card(item.text, item.buttons)
            for copy in item.edit_copies:
                try:
                    await self.api.update_card(copy.platform_message_id, updated)
                except FeishuError as exc:
                    # One copy gone must not stop the others from showing the decision.
                    if not isinstance(classify(exc), Undeliverable | RecipientBlocked):
                        raise
                    log.warning("could not update a card copy in %s: %s", copy.chat_id, exc.code)
            return []
        kind, target = self._target(item)
        copies: list[Copy] = []
        if item.buttons:
            message_id = await self.api.send(kind, target, "interactive", card(item.text, item.buttons))
            copies.append(Copy(target, message_id))
        elif item.text.strip():
            for part in split_text(item.text):
                await self.api.send(kind, target, "text", {"text": part})
        if item.file_data is not None:
            name = item.file_name or "file"
            mime = item.file_mime or mimetypes.guess_type(name)[0] or "application/octet-stream"
            if mime.startswith("image/"):
                key = await self.api.upload_image(name, item.file_data, mime)
                await self.api.send(kind, target, "image", {"image_key": key})
            else:
                key = await self.api.upload_file(name, item.file_data, mime)
                await self.api.send(kind, target, "file", {"file_key": key})
        return copies
