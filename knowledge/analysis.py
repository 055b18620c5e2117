"""Turning normalised text into index terms: jieba words, English stems, character n-grams.

Articles and questions share this code so that a word is always reduced the same way.
jieba's dictionary takes ~0.5 s to load, so one tokenizer is shared per process and its
cache file lives in our cache directory.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path

from knowledge.textnorm import has_cjk
from schedules.private_files import private_dir

DATA_DIR = Path(__file__).parent / "data"

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_LATIN = re.compile(r"[a-z]+|[0-9]+")

_NUMBER_WORDS = {
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "fifteen": "15",
    "twenty": "20",
    "thirty": "30",
    "sixty": "60",
    "hundred": "100",
    "once": "1",
    "twice": "2",
}

# 几声, 几遍, 多少位: asking for a quantity says nothing about the topic.
_QUANTITY_QUESTION = re.compile(r"^(?:几|多少)[\u4e00-\u9fff]?$")

# How colleagues are named in speech: 小王, 老李, 阿张. Surnames that also make everyday words
# with 小/老 (小时, 小于, 老公, 老师) are left out.
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范廖贾夏韦付方邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵武戴莫孔汤"
)
# ...unless a word goes on (小王子, 老李家, 小任务).
_NOT_A_NAME = "子家板师婆爷年人孩务便虎"
_NICKNAME = re.compile(rf"(?:小|老|阿)[{_SURNAMES}](?![{_NOT_A_NAME}])")

_jieba_lock = threading.Lock()
_jieba_state: dict[str, object] = {}


def read_word_list(path: Path) -> list[str]:
    """Whitespace-separated words of a data file, '#' comments ignored."""
    words: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            words.extend(line.split())
    return words


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    return frozenset(
        read_word_list(DATA_DIR / "stopwords_zh.txt") + read_word_list(DATA_DIR / "stopwords_en.txt")
    )


def default_cache_dir() -> Path:
    """$KB_CACHE_DIR, else var/cache/kb under the working directory."""
    import os

    return Path(os.environ.get("KB_CACHE_DIR") or Path("var") / "cache" / "kb")


def without_nicknames(norm: str) -> str:
    """The question with colleagues' nicknames blanked: 小王 is no topic, nor a typo of 小组."""
    if "小" not in norm and "老" not in norm and "阿" not in norm:
        return norm
    return _NICKNAME.sub(" ", norm).strip()


@lru_cache(maxsize=1)
def domain_words() -> tuple[str, ...]:
    words = []
    for line in (DATA_DIR / "domain_dict.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            words.append(line.split()[0])
    return tuple(words)


def jieba_tokenizer(cache_dir: Path | None = None) -> object:
    """The process-wide jieba tokenizer, initialised once with our domain dictionary."""
    with _jieba_lock:
        tokenizer = _jieba_state.get("tokenizer")
        if tokenizer is None:
            import jieba

            logging.getLogger("jieba").setLevel(logging.WARNING)
            jieba.setLogLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            directory = cache_dir or default_cache_dir()
            try:
                private_dir(directory)
                tokenizer.tmp_dir = str(directory)
            except OSError:
                pass  # jieba falls back to the system temp directory
            tokenizer.initialize()
            for word in domain_words():
                tokenizer.add_word(word)
            _jieba_state["tokenizer"] = tokenizer
            _jieba_state["added"] = set()
        return tokenizer


def tokenizer_state() -> tuple[dict[str, int], int, list[str]]:
    """jieba's word table as built (its dictionary, our domain words, the synonyms added since),
    for :mod:`knowledge.snapshot`."""
    tokenizer = jieba_tokenizer()
    with _jieba_lock:
        added: set[str] = _jieba_state["added"]  # type: ignore[assignment]
        return dict(tokenizer.FREQ), int(tokenizer.total), sorted(added)  # type: ignore[attr-defined]


def install_tokenizer(freq: dict[str, int], total: int, added: Sequence[str]) -> None:
    """Start the process-wide tokenizer from a saved word table instead of jieba's dictionary
    file plus one add_word per domain word and synonym; if it already runs, only add words."""
    with _jieba_lock:
        if "tokenizer" not in _jieba_state:
            import jieba

            logging.getLogger("jieba").setLevel(logging.WARNING)
            jieba.setLogLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            tokenizer.FREQ = freq
            tokenizer.total = total
            tokenizer.initialized = True
            _jieba_state["tokenizer"] = tokenizer
            _jieba_state["added"] = set(added)
            return
    add_words(added)


def add_words(words: Iterable[str]) -> None:
    """Teach the shared tokenizer extra Chinese words (synonym terms) so they stay whole."""
    tokenizer = jieba_tokenizer()
    with _jieba_lock:
        added: set[str] = _jieba_state["added"]  # type: ignore[assignment]
        for word in words:
            if word not in added and has_cjk(word) and " " not in word:
                tokenizer.add_word(word)  # type: ignore[attr-defined]
                added.add(word)


def general_idf(word: str) -> float:
    """-log of the word's frequency in jieba's general dictionary (about 7 to 18)."""
    import math

    tokenizer = jieba_tokenizer()
    total = float(tokenizer.total)  # type: ignore[attr-defined]
    freq = tokenizer.FREQ.get(word, 0)  # type: ignore[attr-defined]
    return math.log(total / (freq + 1))


# Superlatives of the adjectives rules use for limits (earliest = early). "latest" stays itself
# (a deadline, not lateness); a general -est rule would also cut request, interest and suggest.
_SUPERLATIVES = {
    "earliest": "early",
    "longest": "long",
    "shortest": "short",
    "soonest": "soon",
    "fastest": "fast",
    "quickest": "quick",
    "highest": "high",
    "lowest": "low",
    "largest": "large",
    "smallest": "small",
    "biggest": "big",
}


def stem(word: str) -> str:
    """A small suffix stripper: plurals, -ing, -ed, -ation, final e (approve/approved/approval)."""
    word = _SUPERLATIVES.get(word, word)
    if len(word) <= 3 or not word.isalpha():
        return word
    for suffix, repl in (("ies", "y"), ("ied", "y"), ("sses", "ss")):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return stem(word[: -len(suffix)] + repl)
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ingly", "ing", "edly", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if len(base) >= 4 and base[-1] == base[-2] and base[-1] not in "lsz":
                base = base[:-1]
            word = base
            break
    for suffix, repl in (("ational", "ate"), ("ation", "ate"), ("ment", ""), ("ness", ""), ("ful", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)] + repl
            break
    if word.endswith("al") and len(word) > 6:
        word = word[:-2]
    if word.endswith("ly") and len(word) > 6:
        word = word[:-2]
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    if word.endswith("y") and len(word) > 3:
        word = word[:-1] + "i"
    return word


@lru_cache(maxsize=65536)
def english_term(word: str) -> str | None:
    """Index term for one lower-case Latin word, or None for a stopword."""
    if word in stopwords():
        return None
    number = _NUMBER_WORDS.get(word)
    if number is not None:
        return number
    return stem(word)


# Separable verbs are split by counts in speech: 换几次班, 请三天假, 打个卡, 加了两小时班.
_SEPARABLE = re.compile(
    r"(换|调|倒|加|上|值|请|休|打|补)([几个一两三四五六七八九十半次天回下了过完这那的小时周\d]{1,4})(班|假|卡)"
)
_SEPARABLE_PAIRS = {"换班", "调班", "倒班", "加班", "上班", "值班", "请假", "休假", "打卡", "补卡"}


def rejoined(norm: str) -> list[str]:
    """Separable verbs found split in the text (换几次班 -> 换班)."""
    found = []
    for match in _SEPARABLE.finditer(norm.replace(" ", "")):
        word = match.group(1) + match.group(3)
        if word in _SEPARABLE_PAIRS:
            found.append(word)
    return found


@lru_cache(maxsize=262_144)
def _kept_cjk_token(token: str) -> bool:
    """Whether a non-ASCII jieba token is a term; cached, since a handbook repeats its words endlessly."""
    stop = stopwords()
    if not token or token in stop or token.isspace() or _QUANTITY_QUESTION.match(token):
        return False
    return not (len(token) >= 3 and _made_of_stopwords(token, stop))  # 哪些方面 = 哪些 + 方面


def _made_of_stopwords(token: str, stop: frozenset[str]) -> bool:
    return any(token[:i] in stop and token[i:] in stop for i in range(1, len(token)))


def _search_cut(tokenizer: object, norm: str) -> Iterator[str]:
    """jieba's search mode, except that a function word keeps its pieces to itself.

    Search mode adds the dictionary words inside each word; inside 能不能 or 有没有 those
    are 不能 and 没有, which would turn a way of asking into a topic of the question.
    """
    freq = tokenizer.FREQ  # type: ignore[attr-defined]
    stop = stopwords()
    for word in tokenizer.cut(norm, HMM=False):  # type: ignore[attr-defined]
        if word not in stop:
            for size in (2, 3):
                if len(word) > size:
                    for i in range(len(word) - size + 1):
                        part = word[i : i + size]
                        if freq.get(part):
                            yield part
        yield word


def words(norm: str, *, search: bool = True, full: bool = False) -> list[str]:
    """Word terms of normalised text, in order.

    Questions use jieba's search mode (words plus their dictionary sub-words); articles use
    full mode (every dictionary word in the text), which finds the same words about twice as
    fast, so 10,000 articles index within the time budget.
    """
    out: list[str] = []
    if not has_cjk(norm):
        for token in _LATIN.findall(norm):
            term = english_term(token)
            if term is not None:
                out.append(term)
        return out
    tokenizer = jieba_tokenizer()
    if full:
        tokens = tokenizer.cut(norm, cut_all=True)  # type: ignore[attr-defined]
    elif search:
        tokens = _search_cut(tokenizer, norm)
    else:
        tokens = tokenizer.cut(norm, HMM=False)  # type: ignore[attr-defined]
    # One call for the whole text: jieba's per-call overhead dominates on short clauses.
    append = out.append
    for token in tokens:
        if token.isascii():
            if token.isalpha() or token.isdigit():
                term = english_term(token)
                if term is not None:
                    append(term)
            elif token.isalnum():
                for part in _LATIN.findall(token):
                    term = english_term(part)
                    if term is not None:
                        append(term)
        elif _kept_cjk_token(token):
            append(token)
    if search or full:
        out.extend(rejoined(norm))
    return out


def loose_runs(norm: str) -> list[list[str]]:
    """Runs of adjacent single characters (and Latin syllables) left by jieba's precise cut.

    A mistyped word (年价, 审pi) is not in the dictionary, so jieba leaves it in pieces;
    stopwords are kept, since the typo may hit one (请家 for 请假).
    """
    runs: list[list[str]] = []
    current: list[str] = []
    for token in jieba_tokenizer().cut(norm, HMM=False):  # type: ignore[attr-defined]
        single_han = len(token) == 1 and has_cjk(token)
        syllable = token.isascii() and token.isalpha() and 2 <= len(token) <= 6
        if single_han or (syllable and current):
            current.append(token)
            continue
        if len(current) >= 2:
            runs.append(current)
        current = [token] if syllable else []
    if len(current) >= 2:
        runs.append(current)
    return runs


def grams(norm: str) -> list[str]:
    """Character n-grams: CJK bigrams (typo-tolerant) and Latin word trigrams."""
    out: list[str] = []
    for run in _CJK_RUN.findall(norm):
        if len(run) == 1:
            out.append(run)
        else:
            out.extend(run[i : i + 2] for i in range(len(run) - 1))
    stop = stopwords()
    for word in _LATIN.findall(norm):
        if word in stop or word.isdigit():
            if word.isdigit():
                out.append(word)
            continue
        padded = f"<{word}>"
        out.extend(padded[i : i + 3] for i in range(len(padded) - 2))
    return out


# --- answer types --------------------------------------------------------------------
# "几点" is answered by an article that states clock times, "多少钱" by one that states
# amounts; neither word appears in the article itself, so both sides get a marker term.
_TYPE_PATTERNS = {
    # No \b around digits: in Unicode regexes CJK characters are word characters too.
    "#time": re.compile(r"(?<!\d)\d{1,2}:\d{2}(?!\d)|(?<!\d)\d{1,2}\s*(?:am|pm)\b|\d{1,2}点"),
    "#money": re.compile(r"\d+(?:,\d{3})*\s*元|rmb\s*\d|\d+\s*yuan\b|¥\s*\d"),
    "#percent": re.compile(r"\d+(?:\.\d+)?\s*%|百分之"),
    "#date": re.compile(
        r"每月\d+日|\d+月\d+日|\d+日前|每周[一二三四五六日]|周[一二三四五六日]\d|by the \d+(?:st|nd|rd|th)"
        r"|\b(?:january|february|march|april|may|june|july|august|september|october|november|december)\b"
        r"|\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b"
    ),
    "#who": re.compile(
        r"由[^，。；,;]{1,10}?(?:审批|批准|负责|决定|担任|办理|处理|同意|审核|评选|提名)"
        r"|经[^，。；,;]{1,8}?(?:同意|批准|审批)|(?:approved|decided|handled|organized|appointed) by"
        r"|responsible for|in charge of|reports? to"
    ),
    "#definition": re.compile(
        r"属于|是指|指的是|分为|包括|下列|以下|有下列|视为|的为|按[^，。；]{1,6}处理"
        r"|\bmeans\b|refers to|constitut|\binclud|consists? of|the following|is treated as|counts? as"
    ),
}
# Values that are not index terms (nearly every article states some count), used only to
# see whether an article states one right next to the question's topic.
_NUMBER = r"(?:\d+(?:\.\d+)?|[一二两三四五六七八九十百半]+)"
_EN_NUMBER = (
    r"(?:\d+(?:\.\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen"
    r"|twenty|thirty|sixty|half an?|several)"
)
VALUE_PATTERNS = {
    **_TYPE_PATTERNS,
    "#quantity": re.compile(
        rf"{_NUMBER}\s*个?(?:分钟|小时|个?工作日|天|日|周|星期|个?月|年|次|声|秒|人|条|分|倍|级|位|名)"
        # In English the counted thing follows the number: 24 hours, three swaps.
        rf"|\b{_EN_NUMBER}\b(?:\s+[a-z]+)?|\b(?:once|twice)\b"
    ),
}
_TYPE_CUES = {
    # "Start", "end" and the like only say which end of a time span is asked (the captured
    # groups are the cue's words; the topic in between is not).
    "#time": re.compile(
        r"(几点(?:开始|结束|截止|到几点)?|什么时间|几时|(?:什么时候|何时)(?:开始|结束|截止))|(\d点)"
        r"|(what time|which time)\b(?:.{0,40}?\b(start|begin|end|finish|open|close)s?\b"
        r"(?:\s+(and\s+(?:start|begin|end|finish|open|close))s?\b)?)?"
        r"|(when)\b.{0,40}?\b(start|begin|end|finish|open|close)s?\b"
        r"(?:\s+(and\s+(?:start|begin|end|finish|open|close))s?\b)?"
        r"|((?<!many )(?<!\d )\bhours\b|\bopen(?:ing)? hours|\d\s*(?:am|pm)\b)"
    ),
    "#money": re.compile(
        r"多少钱|几块|多少元|扣多少|罚多少|赔多少|奖多少|奖励多少|多少奖金|多少补贴"
        r"|how much money|\brmb\b|\byuan\b"
    ),
    "#percent": re.compile(
        r"比例|百分之|百分比|几成|打几折|几折|权重|占比|各占|占多少"
        r"|\bpercent|\bpercentage|\bratio\b|\bweight|\bhow much .* paid\b"
    ),
    "#date": re.compile(
        r"几号|哪天|哪一天|什么时候|啥时候|何时|几月|星期几|周几|\bwhen\b|what date|which day|by when"
    ),
    "#who": re.compile(r"谁|找哪个|哪个部门|哪个组|哪位|由哪|\bwho\b|\bwhom\b|which team|which department"),
    "#definition": re.compile(
        r"什么是|是什么|算不算|怎么算|算什么|多久算|算是|属于|哪些|哪几|哪种|什么情况|什么样"
        r"|what counts|what is|what are|which .* count"
    ),
    "#quantity": re.compile(
        r"多久|多长|几[天次个年周月日分小秒声人条位遍]|多少[天次个年周月日分小秒声人条位遍]|几成"
        r"|how long|how many times|how many|how often|how soon|how far|how quickly|how fast|how early"
        r"|how late|within how|how much time"
    ),
}
INDEXED_KINDS = frozenset(_TYPE_PATTERNS)

# The unit a quantity question names (几分钟, 多少天, how many hours): an article stating a
# number of THAT unit next to the topic answers it; 3次 or 20元 do not.
_UNIT_CUE = re.compile(
    r"(?:几|多少)个?(分钟|小时|工作日|天|次|月|年|周|秒|声|人|条|位)"
    r"|how many (minute|hour|working day|day|time|month|year|week|second|ring|people|person)s?\b"
)
_EN_UNITS = {"time": "times?", "people": "people|persons?", "person": "people|persons?"}


def unit_asked(norm: str) -> str | None:
    """The marker of the unit a quantity question asks for (#unit:分钟), or None."""
    match = _UNIT_CUE.search(norm)
    if match is None:
        return None
    return "#unit:" + (match.group(1) or match.group(2))


@lru_cache(maxsize=64)
def value_pattern(kind: str) -> re.Pattern[str] | None:
    """The pattern of a kind's values; #unit:X matches a number of that unit."""
    if not kind.startswith("#unit:"):
        return VALUE_PATTERNS.get(kind)
    unit = kind.removeprefix("#unit:")
    if unit.isascii():
        words = _EN_UNITS.get(unit, unit + "s?")
        extra = r"|\b(?:once|twice)\b" if unit == "time" else ""
        return re.compile(rf"\b{_EN_NUMBER}\s+(?:{words})\b{extra}")
    return re.compile(rf"{_NUMBER}\s*个?{re.escape(unit)}")


def answer_types(raw: str) -> list[str]:
    """Marker terms for the kinds of facts an article states (one per occurrence)."""
    import unicodedata

    text = unicodedata.normalize("NFKC", raw).lower()
    return [kind for kind, pattern in _TYPE_PATTERNS.items() for _ in pattern.finditer(text)]


# How much a cue counts: a clock time or an amount is a precise request, "哪些" a loose one.
ANSWER_TYPE_WEIGHTS = {
    "#time": 1.0,
    "#money": 1.0,
    "#percent": 1.0,
    "#date": 0.5,
    "#who": 0.5,
    "#definition": 0.4,
}


def answer_types_asked(norm: str) -> list[tuple[str, str]]:
    """(marker term, cue text) for the kinds of fact a (normalised) question asks for."""
    found = []
    for kind, cue in _TYPE_CUES.items():
        match = cue.search(norm)
        if match:
            parts = [g for g in match.groups() if g] if cue.groups else []
            found.append((kind, " ".join(parts) or match.group(0)))
    cues = dict(found)
    if "#time" in cues and "#date" in cues and cues["#date"] in cues["#time"]:
        # "When does the shift end", 什么时候开始: a clock time is asked, not a date.
        found = [(kind, cue) for kind, cue in found if kind != "#date"]
    return found
