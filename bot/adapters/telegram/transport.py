"""Outbox rows onto Telegram: sendMessage / sendDocument / sendPhoto / editMessageText, and Bot API
errors translated into the outbox's vocabulary (retry later, recipient blocked, undeliverable).
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable
from datetime import timedelta

from telegram import Bot, InlineKeyboardMarkup, InputFile, Message
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.adapters.telegram import render
from bot.outbox import Copy, Delivery, RecipientBlocked, RetryLater, Undeliverable

# PTB 22 moves time periods (RetryAfter.retry_after …) from int seconds to timedelta and warns on every
# int access until one opts in; we opt in and read both forms, so a 429 never turns into a warning.
os.environ.setdefault("PTB_TIMEDELTA", "true")

log = logging.getLogger(__name__)

PLATFORM = "telegram"
# Telegram's published limits: ~30 messages a second per bot, ~1 a second in one chat (short bursts are
# tolerated), ~20 a minute in one group.
SEND_PER_SECOND = 29.0  # 30/s less one: Telegram counts on arrival, where network jitter bunches messages
CHAT_BURST, CHAT_BURST_SECONDS = 3, 3.0  # one a second on average, a reply and a card together are fine
GROUP_PER_MINUTE = 20


def retry_seconds(exc: RetryAfter) -> float:
    """`retry_after` as seconds, whether PTB gives a timedelta (PTB_TIMEDELTA, set above) or an int."""
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class SendWindow:
    """At most `limit` sends per rolling `seconds` in each chat.

    It never sleeps: the outbox worker delivers one row at a time, so waiting here for one chat would
    hold every other chat's messages too. It answers how long until a slot frees instead; the transport
    turns that into RetryLater and the outbox puts off only that chat while the others go on.
    """

    def __init__(self, limit: int, seconds: float, now: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.seconds = seconds
        self._now = now
        self._sent: dict[str, deque[float]] = {}

    def wait(self, chat: str) -> float:
        """0 when `chat` may get a message now, else the seconds until it may."""
        now = self._now()
        times = self._sent.get(chat)
        if not times:
            return 0.0
        while times and now - times[0] >= self.seconds:
            times.popleft()
        if len(times) < self.limit:
            return 0.0
        return times[0] + self.seconds - now

    def record(self, chat: str) -> None:
        times = self._sent.setdefault(chat, deque())
        times.append(self._now())
        if len(self._sent) > 10_000:  # forget chats that have been quiet for a whole window
            now = self._now()
            self._sent = {k: v for k, v in self._sent.items() if v and now - v[-1] < self.seconds}


class Pacing:
    """Telegram's per-chat and per-group limits (the global one is the outbox's RateLimiter)."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.chat = SendWindow(CHAT_BURST, CHAT_BURST_SECONDS, now)
        self.group = SendWindow(GROUP_PER_MINUTE, 60.0, now)

    def reserve(self, chat: int) -> float:
        """0 and the send is counted, or the seconds this chat must wait (nothing counted)."""
        key = str(chat)
        windows = (self.chat, self.group) if chat < 0 else (self.chat,)
        wait = max(window.wait(key) for window in windows)
        if wait <= 0:
            for window in windows:
                window.record(key)
        return wait


class TelegramTransport:
    """The outbox's Transport for Telegram. `bot` is PTB's Bot (already initialised by the Application)."""

    platform = PLATFORM

    def __init__(self, bot: Bot, *, supervisors_chat_id: int | None, pacing: Pacing | None = None) -> None:
        self.bot = bot
        self.supervisors_chat_id = supervisors_chat_id
        self.pacing = pacing or Pacing()
        self.migrated: dict[int, int] = {}

    # ----- addressing -----------------------------------------------------------------------
    def chat_for(self, item: Delivery) -> int:
        if item.recipient is not None:
            if not item.recipient.telegram:
                raise Undeliverable(f"{item.recipient.id} has no Telegram id")
            return int(item.recipient.telegram)
        if item.chat_id == render.SUPERVISORS:
            if self.supervisors_chat_id is None:
                raise Undeliverable("TELEGRAM_SUPERVISORS_CHAT_ID is not set")
            return self.migrated.get(self.supervisors_chat_id, self.supervisors_chat_id)
        if item.chat_id and item.chat_id.lstrip("-").isdigit():
            chat = int(item.chat_id)
            return self.migrated.get(chat, chat)
        raise Undeliverable(f"no Telegram chat for {item.chat_id!r}")

    # ----- the Transport protocol -----------------------------------------------------------
    async def deliver(self, item: Delivery) -> list[Copy]:
        try:
            if item.edit_of:
                await self._edit(item)
                return []
            chat = self.chat_for(item)
            wait = self.pacing.reserve(chat)
            if wait > 0:
                raise RetryLater(wait, "telegram per-chat limit")
            try:
                return await self._send(chat, item)
            except ChatMigrated as exc:
                # A group became a supergroup: its id changed. Send there now; the operator should
                # update TELEGRAM_SUPERVISORS_CHAT_ID (logged) so a restart keeps it.
                log.warning(
                    "telegram chat %s moved to %s; update the configured chat id", chat, exc.new_chat_id
                )
                self.migrated[chat] = exc.new_chat_id
                return await self._send(exc.new_chat_id, item)
        except RetryAfter as exc:
            raise RetryLater(retry_seconds(exc), "telegram flood control") from exc
        except Forbidden as exc:
            if item.recipient is not None and not item.edit_of:
                raise RecipientBlocked(str(exc)) from exc
            raise Undeliverable(str(exc)) from exc
        except (BadRequest, ValueError) as exc:
            # The chat does not exist or the content was refused (or cannot be a keyboard): sending it
            # again cannot help.
            raise Undeliverable(str(exc)) from exc
        except InvalidToken as exc:
            log.error("the Bot API refused the token while sending; check TELEGRAM_TOKEN")
            raise RetryLater(None, "token refused") from exc
        except (NetworkError, TelegramError) as exc:
            # Timeouts, connection errors and 5xx: the outbox backs off and tries again.
            raise RetryLater(None, f"telegram unavailable: {exc}") from exc

    async def _send(self, chat: int, item: Delivery) -> list[Copy]:
        markup = render.keyboard(item.buttons)
        text = item.text or ""
        if item.file_data is not None:
            caption: str | None = text if render.utf16_len(text) <= render.MAX_CAPTION else None
            if caption is None:
                for piece in render.split_text(text):
                    await self.bot.send_message(chat, piece)
            message = await self._send_file(chat, item, caption or None, markup)
            return [Copy(str(chat), str(message.message_id))]
        pieces = render.split_text(text) if text.strip() else []
        if not pieces:
            raise Undeliverable("empty message")
        last: Message | None = None
        for index, piece in enumerate(pieces):
            is_last = index == len(pieces) - 1
            last = await self.bot.send_message(chat, piece, reply_markup=markup if is_last else None)
        assert last is not None
        # Only the last piece carries the buttons, so only it is edited after a decision.
        return [Copy(str(chat), str(last.message_id))]

    async def _send_file(
        self, chat: int, item: Delivery, caption: str | None, markup: InlineKeyboardMarkup | None
    ) -> Message:
        name = item.file_name or "file"
        data = item.file_data or b""
        if (item.file_mime or "") in render.PHOTO_MIMES:
            try:
                return await self.bot.send_photo(
                    chat,
                    InputFile(data, filename=name),
                    caption=caption,
                    reply_markup=markup,
                )
            except BadRequest as exc:
                # Telegram refuses some images as photos (size, proportions); a document always works.
                log.info("photo refused (%s); sending %s as a document", exc, name)
        return await self.bot.send_document(
            chat,
            InputFile(data, filename=name),
            caption=caption,
            reply_markup=markup,
        )

    async def _edit(self, item: Delivery) -> None:
        """Edit every copy of the earlier message; no buttons in the edit removes the keyboard."""
        markup = render.keyboard(item.buttons)
        text = render.truncate(item.text or "", render.MAX_TEXT)
        for copy in item.edit_copies:
            chat, message_id = int(copy.chat_id), int(copy.platform_message_id)
            try:
                await self.bot.edit_message_text(
                    text, chat_id=chat, message_id=message_id, reply_markup=markup
                )
            except BadRequest as exc:
                reason = str(exc).lower()
                if "not modified" in reason:
                    continue  # already edited (a retried edit); nothing to do
                if "no text in the message" in reason:
                    await self._edit_caption(chat, message_id, item, markup)
                    continue
                log.warning("could not edit telegram message %s in %s: %s", message_id, chat, exc)
            except Forbidden as exc:
                log.warning("could not edit telegram message %s in %s: %s", message_id, chat, exc)

    async def _edit_caption(
        self, chat: int, message_id: int, item: Delivery, markup: InlineKeyboardMarkup | None
    ) -> None:
        try:
            await self.bot.edit_message_caption(
                chat_id=chat,
                message_id=message_id,
                caption=render.truncate(item.text or "", render.MAX_CAPTION),
                reply_markup=markup,
            )
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                log.warning("could not edit the caption of %s in %s: %s", message_id, chat, exc)
