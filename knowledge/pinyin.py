"""Toneless pinyin keys for spotting homophone typos (换斑 for 换班, 年价 for 年假).

Most Chinese typing is pinyin input, so most typos are another character with the same sound.
pypinyin (with its phrase table, so 提前 reads tiqian and 组长 zuzhang) is imported on first
use, about 0.15 s, only when a question has characters jieba could not make a word of.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache

_lock = threading.Lock()
_state: dict[str, object] = {}


def _converter() -> Callable[[str], list[str]] | None:
    with _lock:
        if "lazy" not in _state:
            try:
                from pypinyin import lazy_pinyin
            except ImportError:  # pragma: no cover - pypinyin is a declared dependency
                _state["lazy"] = None
            else:
                _state["lazy"] = lazy_pinyin
        return _state["lazy"]  # type: ignore[return-value]


def _strip_tone(syllable: str) -> str:
    decomposed = unicodedata.normalize("NFD", syllable).replace("u\u0308", "v")
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=1)
def syllables() -> frozenset[str]:
    """Every toneless syllable (ü written v), to recognise pinyin typed in Latin letters (审pi)."""
    if _converter() is None:
        return frozenset()
    from pypinyin.pinyin_dict import pinyin_dict

    return frozenset(_strip_tone(r) for value in pinyin_dict.values() for r in value.split(","))


@lru_cache(maxsize=16384)
def _han(text: str) -> str | None:
    convert = _converter()
    if convert is None:
        return None
    parts = convert(text)
    if len(parts) != len(text) or not all(p.isascii() and p.isalpha() for p in parts):
        return None  # a character without a reading
    return "".join(parts)


def key(parts: Sequence[str]) -> str | None:
    """How a word reads, toneless ('换班' -> 'huanban'); None when a part has no reading.

    ``parts`` are characters, or syllables already typed in Latin letters (['审', 'pi']).
    Characters take their reading in context (pypinyin's phrase table), so a polyphone's rare
    reading does not make unrelated words sound alike.
    """
    out: list[str] = []
    han: list[str] = []
    for part in parts:
        if len(part) == 1 and not part.isascii():
            han.append(part)
            continue
        if han:
            reading = _han("".join(han))
            if reading is None:
                return None
            out.append(reading)
            han = []
        if not (part.isascii() and part.isalpha() and part in syllables()):
            return None
        out.append(part)
    if han:
        reading = _han("".join(han))
        if reading is None:
            return None
        out.append(reading)
    return "".join(out)


@lru_cache(maxsize=1)
def _voiced() -> frozenset[str]:
    """Syllables with a vowel: the interjections m, n, ng and hm are no part of a typed word."""
    return frozenset(s for s in syllables() if any(v in s for v in "aeiouv"))


def segmentations(word: str, most: int = 4) -> list[list[str]]:
    """Ways to read a Latin word as 2 to ``most`` pinyin syllables, fewest syllables first.

    A word typed in pinyin without its characters (chidao, nianjia) then reads like the
    handbook word it stands for; most such words split only one way.
    """
    known = _voiced()
    if not known or not word.isascii() or not word.isalpha() or len(word) > 6 * most:
        return []
    found: list[list[str]] = []

    def walk(start: int, parts: list[str]) -> None:
        if start == len(word):
            if len(parts) >= 2:
                found.append(list(parts))
            return
        if len(parts) == most:
            return
        for end in range(min(len(word), start + 6), start, -1):
            if word[start:end] in known:
                parts.append(word[start:end])
                walk(end, parts)
                parts.pop()

    walk(0, [])
    return sorted(found, key=len)
