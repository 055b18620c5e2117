"""Core messages as Block Kit, and Slack's text format back to plain text.

Every core sentence may carry what a user typed, so all of it is escaped for mrkdwn (& < >): a
`<!channel>` typed by someone is shown, never executed. Pure functions, tested without a network.
"""

from __future__ import annotations

import re
from typing import Any

SECTION_LIMIT = 3000  # characters in one section block
MAX_BLOCKS = 50  # blocks in one message
BUTTON_LABEL_LIMIT = 75
BUTTONS_PER_ROW = 25
BUTTON_ACTION_PREFIX = "deskmate.button."
HOME_ACTION_PREFIX = "deskmate.home."

_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str, limit: int) -> dict[str, Any]:
    text = text.strip() or "·"
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return {"type": "plain_text", "text": text, "emoji": True}


def _fitting_prefix(line: str, limit: int) -> int:
    """How many characters of `line` fit in `limit` once escaped (& grows to five)."""
    size = 0
    for index, char in enumerate(line):
        size += 5 if char == "&" else 4 if char in "<>" else 1
        if size > limit:
            return max(index, 1)
    return len(line)


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Split at line ends so each piece fits a section block (escaping may lengthen a piece)."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(escape(line)) > limit:
            cut = _fitting_prefix(line, limit)
            head, line = line[:cut], line[cut:]
            if current:
                pieces.append(current)
                current = ""
            pieces.append(head)
        candidate = f"{current}\n{line}" if current else line
        if len(escape(candidate)) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current or not pieces:
        pieces.append(current)
    return pieces


def text_sections(text: str) -> list[dict[str, Any]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(piece) or " ", "verbatim": True}}
        for piece in split_text(text)
    ]


def button_rows(rows: list[list[dict[str, str]]]) -> list[dict[str, Any]]:
    """One actions block per row; the opaque token is both the value and part of the action id."""
    blocks: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        elements = [
            {
                "type": "button",
                "text": _plain(button["label"], BUTTON_LABEL_LIMIT),
                "value": button["token"],
                "action_id": BUTTON_ACTION_PREFIX + button["token"],
            }
            for button in row[:BUTTONS_PER_ROW]
        ]
        if elements:
            blocks.append({"type": "actions", "block_id": f"deskmate.row.{index}", "elements": elements})
    return blocks


def message(text: str, rows: list[list[dict[str, str]]]) -> dict[str, Any]:
    """chat.postMessage / chat.update arguments for one core message: escaped fallback text + blocks."""
    actions = button_rows(rows)
    sections = text_sections(text)[: MAX_BLOCKS - len(actions)]
    return {"text": escape(text)[:3000], "blocks": sections + actions}


def from_slack(text: str, bot_user_id: str | None = None) -> str:
    """What a person typed, as plain text: the bot's own mention dropped, links shown by their label,
    other mentions as `@U123`, and Slack's &amp; &lt; &gt; turned back into characters."""

    def replace(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith("@"):
            user = target[1:]
            return "" if bot_user_id and user == bot_user_id else "@" + user
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            return "@" + (label or target[1:].split("^")[0])
        return label or target

    plain = _LINK.sub(replace, text)
    return plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()
