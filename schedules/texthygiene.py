"""Text from users on its way to a terminal or a database.

A terminal obeys escape sequences (``\\033[2J`` clears it, ``\\033]0;…\\a`` retitles it), so text people
typed is shown with its control characters escaped. Databases refuse some text outright (PostgreSQL has
no NUL in text or JSON; neither database can store a lone surrogate in UTF-8), so those characters are
removed before anything is stored.
"""

from __future__ import annotations

import json
import re
from typing import Any

# C0 and C1 controls, DEL, and the bidirectional overrides/isolates that reorder what a terminal shows.
_TERMINAL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_TERMINAL_KEEP_LINES = re.compile(
    r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_JSON_EXTRA = re.compile(r"[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: object, *, keep_newlines: bool = False) -> str:
    """``text`` with control characters shown as ``\\x1b``-style escapes (newlines kept if asked)."""
    pattern = _TERMINAL_KEEP_LINES if keep_newlines else _TERMINAL
    return pattern.sub(_escape, str(text))


def json_line(value: Any) -> str:
    """JSON for a terminal: readable Chinese, and no raw control character even where JSON allows one."""
    text = json.dumps(value, ensure_ascii=False)
    return _JSON_EXTRA.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def storable(text: str) -> str:
    """``text`` without NUL and lone surrogates, which the databases cannot store."""
    return _UNSTORABLE.sub("", text)


def storable_value(value: Any) -> Any:
    """:func:`storable` through the strings of a JSON-like value (keys included)."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable_value(k): storable_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable_value(v) for v in value]
    return value


def unstorable_in(text: str) -> bool:
    return _UNSTORABLE.search(text) is not None


def unstorable_replaced(text: str) -> str:
    """``text`` with NUL and lone surrogates as U+FFFD: a value to compare with, never equal to a
    stored one (stored text has none of them)."""
    return _UNSTORABLE.sub("\ufffd", text)
