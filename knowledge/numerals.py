"""Chinese numerals and article references.

Handbooks number their articles as 第一百零一条 or Article 101; both forms must map to the
same integer and back, so the bot can cite articles the way the handbook writes them.
"""

from __future__ import annotations

import re

_DIGITS = "零一二三四五六七八九"
_DIGIT_VALUES = {ch: i for i, ch in enumerate(_DIGITS)} | {"〇": 0, "两": 2, "兩": 2, "壹": 1, "贰": 2}
_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_BIG_UNITS = {"万": 10_000, "萬": 10_000, "亿": 100_000_000, "億": 100_000_000}
NUMERAL_CHARS = "".join(_DIGIT_VALUES) + "".join(_UNITS) + "".join(_BIG_UNITS)


def _section_to_chinese(n: int) -> str:
    """Render 0 < n < 10000 with the internal zeros written as 零 (一千零一, 一百一十)."""
    out: list[str] = []
    pending_zero = False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = n // value % 10
        if digit == 0:
            pending_zero = bool(out)
            continue
        if pending_zero:
            out.append("零")
            pending_zero = False
        out.append(_DIGITS[digit] + unit)
    return "".join(out)


def to_chinese(n: int) -> str:
    """Return the Chinese numeral for a non-negative integer (12 -> 十二, 101 -> 一百零一)."""
    if n < 0:
        raise ValueError(f"negative number: {n}")
    if n == 0:
        return "零"
    if n >= 100_000_000:
        raise ValueError(f"number too large: {n}")
    high, low = divmod(n, 10_000)
    text = ""
    if high:
        text = _section_to_chinese(high) + "万"
        if low and low < 1000:
            text += "零"
    if low:
        text += _section_to_chinese(low)
    # 一十二 is written 十二 when it opens the number.
    if text.startswith("一十"):
        text = text[1:]
    return text


def parse_chinese(text: str) -> int:
    """Parse a Chinese (or Arabic) numeral; raise ValueError when it is not one."""
    text = text.strip()
    if not text:
        raise ValueError("empty numeral")
    if text.isdigit():
        return int(text)
    total = 0  # finished 万/亿 groups
    section = 0  # current group below 万
    digit: int | None = None
    for ch in text:
        if ch in _DIGIT_VALUES:
            if digit is not None and digit != 0:
                raise ValueError(f"not a numeral: {text!r}")
            digit = _DIGIT_VALUES[ch]
        elif ch in _UNITS:
            section += (1 if digit is None else digit) * _UNITS[ch]
            digit = None
        elif ch in _BIG_UNITS:
            section += digit or 0
            total = (total + section) * _BIG_UNITS[ch]
            section, digit = 0, None
        else:
            raise ValueError(f"not a numeral: {text!r}")
    return total + section + (digit or 0)


_ZH_REF = re.compile(r"^第([0-9" + NUMERAL_CHARS + r"]+)条$")
_EN_REF = re.compile(r"^article\s+(\d+)$", re.IGNORECASE)


def format_ref(number: int, lang: str) -> str:
    """The citation text for an article: 第十二条 in Chinese, Article 12 otherwise."""
    return f"第{to_chinese(number)}条" if lang == "zh" else f"Article {number}"


def parse_ref(ref: str) -> tuple[int, str]:
    """Inverse of :func:`format_ref`: (number, lang)."""
    ref = ref.strip()
    match = _ZH_REF.match(ref)
    if match:
        return parse_chinese(match.group(1)), "zh"
    match = _EN_REF.match(ref)
    if match:
        return int(match.group(1)), "en"
    raise ValueError(f"not an article reference: {ref!r}")
