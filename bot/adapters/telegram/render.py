"""Pure translation between core messages and Bot API shapes, kept apart so it is tested without a network.

Text always goes out as plain text (no parse_mode): whatever a user typed — `*`, `_`, `<b>` — is shown as
typed and can never change formatting or inject a link.
"""

from __future__ import annotations

import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, MessageEntity

MAX_TEXT = 4096  # characters in one message (Telegram counts UTF-16 units; see `utf16_len`)
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64  # bytes
MAX_BUTTON_LABEL = 64
PHOTO_MIMES = frozenset({"image/png", "image/jpeg"})
SUPERVISORS = "supervisors"  # the logical chat of approval cards (Outgoing.to_chat)
COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces that each fit one message, cut at line ends where possible (a long handbook answer)."""
    if utf16_len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if utf16_len(candidate) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        while utf16_len(line) > limit:
            cut = _fit(line, limit)
            pieces.append(line[:cut])
            line = line[cut:]
        current = line
    if current:
        pieces.append(current)
    return pieces


def _fit(text: str, limit: int) -> int:
    """The longest prefix length of `text` within `limit` UTF-16 units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return max(index, 1)
    return len(text)


def truncate(text: str, limit: int) -> str:
    if utf16_len(text) <= limit:
        return text
    return text[: _fit(text, limit - 1)] + "…"


def keyboard(rows: list[list[dict[str, str]]]) -> InlineKeyboardMarkup | None:
    """Core buttons as an inline keyboard; the callback data is the short server-side token."""
    markup_rows = []
    for row in rows:
        buttons = []
        for button in row:
            token = button["token"]
            if len(token.encode()) > MAX_CALLBACK_DATA:
                raise ValueError(f"button token longer than {MAX_CALLBACK_DATA} bytes")
            buttons.append(
                InlineKeyboardButton(truncate(button["label"], MAX_BUTTON_LABEL), callback_data=token)
            )
        if buttons:
            markup_rows.append(buttons)
    return InlineKeyboardMarkup(markup_rows) if markup_rows else None


def file_url_for(base_url: str) -> str:
    """Telegram serves files beside the API: https://api.telegram.org/bot → …/file/bot."""
    trimmed = base_url.rstrip("/")
    if trimmed.endswith("/bot"):
        return trimmed[: -len("/bot")] + "/file/bot"
    return trimmed + "/file/bot"


def is_group_key(chat_key: str) -> bool:
    """Outbox chat keys of group chats: the supervisors' group and numeric group ids (negative)."""
    return chat_key == SUPERVISORS or chat_key.startswith("-")


def addressing(message: Message, bot_username: str, bot_id: int) -> tuple[bool, str | None]:
    """Whether a message is meant for the bot, and its text with a leading @mention removed.

    Private chats always are. In groups: `/cmd@ourname`, a bare `/cmd` (with privacy mode on Telegram
    only delivers commands, so a bare one is ours), `/cmd@otherbot` is not; a mention of the bot or a
    reply to one of its messages is.
    """
    text = message.text if message.text is not None else message.caption
    if message.chat.type == "private":
        return True, text
    if text is None:
        return False, None
    ours = bot_username.lower()
    entities = message.parse_entities() if message.text is not None else message.parse_caption_entities()
    for entity, value in entities.items():
        if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
            _, _, target = value.partition("@")
            return (not target or target.lower() == ours), text
    for entity, value in entities.items():
        mentioned = (entity.type == MessageEntity.MENTION and value.lower() == "@" + ours) or (
            entity.type == MessageEntity.TEXT_MENTION and entity.user is not None and entity.user.id == bot_id
        )
        if mentioned:
            remaining = (
                text.replace(value, " ", 1) if entity.type == MessageEntity.MENTION else text
            ).strip()
            return True, remaining.lstrip(",，:： ").strip()
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and reply.from_user.id == bot_id:
        return True, text
    return False, text
