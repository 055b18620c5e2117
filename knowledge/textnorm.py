"""Text normalisation and language detection.

Questions arrive in full-width forms, traditional characters, mixed case and with any
punctuation; the index and the questions go through the same function so they meet halfway.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

from knowledge.numerals import NUMERAL_CHARS, parse_chinese

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
# Everything that is not a letter, digit or CJK character separates words.
_SEPARATORS = re.compile(r"[\W_]+")
# A Chinese numeral directly followed by a counting unit: 三次, 两周, 十五天, 一百元.
_UNIT_CHARS = "个次回天日周年月号点时分秒元块名人级项位倍岁班声条章届期"
_CN_NUMBER = re.compile(rf"(?<![{NUMERAL_CHARS}])([{NUMERAL_CHARS}]+)(?=[{_UNIT_CHARS}]|小时|分钟|星期|礼拜)")

# Spoken units the handbook writes otherwise: 200块(钱) is 200元, 三回 is 3次. A lone 一块 is
# usually "together" (一块去), and 回 before 来, 电, 复… is a verb, so those stay.
_SPOKEN_UNITS = (
    (re.compile(r"(?<!\d)(?:(1)块(?=钱)|([02-9]|\d{2,})块)钱?"), lambda m: f"{m.group(1) or m.group(2)}元"),
    (re.compile(r"(\d)回(?![来去电复访家应答拨头事])"), lambda m: f"{m.group(1)}次"),
)

_t2s_lock = threading.Lock()
_t2s_state: dict[str, object] = {}


def _t2s_converter() -> tuple[object, frozenset[str]]:
    """Load OpenCC once, with the set of characters that can change under t2s.

    Most text is already simplified; checking for those characters first lets us skip the
    (pure Python, slow) converter for it while giving exactly the same result.
    """
    with _t2s_lock:
        if "cc" not in _t2s_state:
            from opencc import OpenCC

            cc = OpenCC("t2s")
            entries = [
                (key, value.split(" ")[0])
                for group in cc._dict_chain_data
                for _max_len, _min_len, mapping in group
                for key, value in mapping.items()
            ]
            # Single characters that change are triggers; a phrase can only match when all its
            # characters are present, so one of them (a changing one when possible) is enough.
            triggers = {key for key, first in entries if len(key) == 1 and key != first}
            for key, first in entries:
                if len(key) > 1 and key != first and triggers.isdisjoint(key):
                    changed = [a for a, b in zip(key, first, strict=False) if a != b]
                    triggers.add(changed[0] if changed and len(key) == len(first) else key[0])
            _t2s_state["cc"] = cc
            _t2s_state["triggers"] = frozenset(triggers)
        return _t2s_state["cc"], _t2s_state["triggers"]  # type: ignore[return-value]


def to_simplified(text: str) -> str:
    """Traditional to simplified Chinese (OpenCC t2s); unchanged text skips the converter."""
    cc, triggers = _t2s_converter()
    if triggers.isdisjoint(text):
        return text
    return str(cc.convert(text))  # type: ignore[attr-defined]


def _number_to_digits(match: re.Match[str]) -> str:
    numeral = match.group(1)
    if numeral[0] in "百千万萬亿億十" and len(numeral) == 1 and numeral != "十":
        return numeral
    try:
        return str(parse_chinese(numeral))
    except ValueError:
        return numeral


def normalize(text: str) -> str:
    """Canonical form for matching: half width, simplified, lower case, no punctuation.

    Chinese numbers before a unit become digits (三次 -> 3次) so they match either spelling.
    """
    text = unicodedata.normalize("NFKC", text)
    text = to_simplified(text)
    text = text.lower()
    text = _CN_NUMBER.sub(_number_to_digits, text)
    if "块" in text or "回" in text:
        for pattern, spoken in _SPOKEN_UNITS:
            text = pattern.sub(spoken, text)
    text = _SEPARATORS.sub(" ", text)
    return text.strip()


def cjk_ratio(text: str) -> float:
    """Share of CJK in the text; a Latin word counts like two characters (about one Chinese word)."""
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN_WORD.findall(text))
    total = cjk + 2 * latin
    return cjk / total if total else 0.0


@lru_cache(maxsize=4096)
def detect_language(text: str, default: str = "zh") -> str:
    """'zh' or 'en' from the CJK ratio; text without letters gets ``default``."""
    if not _CJK.search(text) and not _LATIN_WORD.search(text):
        return default
    return "zh" if cjk_ratio(text) >= 0.5 else "en"


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None
