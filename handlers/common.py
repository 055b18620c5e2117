"""Shared helpers for features: the policy, people lookups and date words people type."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from schedules.calendar import HolidayCalendar, load_holidays
from schedules.policy import Article, Policy, default_policy, load_policy

if TYPE_CHECKING:
    from bot.core import Core


def policy(app: Core) -> Policy:
    """The department's policy, loaded once (POLICY_FILE, or the handbook defaults when absent)."""
    if app.shared.policy is None:
        path = app.settings.policy_file
        app.shared.policy = load_policy(path) if path.exists() else default_policy()
    return app.shared.policy


def calendar(app: Core) -> HolidayCalendar | None:
    """The optional holiday calendar (HOLIDAYS_FILE), loaded once."""
    if not app.shared.calendar_loaded:
        path = app.settings.holidays_file
        app.shared.calendar = load_holidays(path) if path else None
        app.shared.calendar_loaded = True
    return app.shared.calendar


def cite(article: Article, lang: str) -> str:
    return article.en if lang == "en" else article.zh


def cite_all(articles: tuple[Article, ...] | list[Article], lang: str) -> str:
    """第二十九条、第三十条 / Article 29, Article 30."""
    return (", " if lang == "en" else "、").join(cite(a, lang) for a in articles)


_DATE_PATTERNS = (
    re.compile(r"^(?P<y>\d{4})[-/.年](?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})日?$"),
    re.compile(r"^(?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})[日号]?$"),
)
_RELATIVE = {"今天": 0, "today": 0, "明天": 1, "tomorrow": 1, "后天": 2}


_DATE_LIKE = re.compile(r"^\d{1,4}([-/.年月]\d{1,2}){1,2}[日号]?$")


def looks_like_date(text: str) -> bool:
    """Typed as a date even if it is not one (12-40, 2026/13/01): worth saying so, not taking it as words."""
    return bool(_DATE_LIKE.match(text.strip()))


def parse_day(text: str, today: date) -> date | None:
    """A date as people type it: 2026-12-03, 12-03, 12/3, 12月3日, 3号? no; 今天/明天/后天, today/tomorrow.

    A date without a year means the next such date on or after today (so in December, 01-05 is January).
    """
    word = text.strip().lower()
    if word in _RELATIVE:
        return today + timedelta(days=_RELATIVE[word])
    for pattern in _DATE_PATTERNS:
        match = pattern.match(word)
        if not match:
            continue
        parts = match.groupdict()
        try:
            if parts.get("y"):
                return date(int(parts["y"]), int(parts["m"]), int(parts["d"]))
            candidate = date(today.year, int(parts["m"]), int(parts["d"]))
        except ValueError:
            return None
        if candidate < today - timedelta(days=31):
            try:
                candidate = candidate.replace(year=today.year + 1)
            except ValueError:
                return None
        return candidate
    return None


def iso_day(value: str | None) -> date | None:
    """A form's date answer (ISO, from a date picker), or None when missing or malformed."""
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def shift_label(app: Core, code: str | None, lang: str) -> str:
    """白班 / day shift, or 休 / rest, in the reader's language."""
    if code is None:
        return app.catalog.t(lang, "roster.rest")
    try:
        shift = policy(app).shift(code)
    except KeyError:
        return code
    return shift.name_en if lang == "en" else shift.name_zh


def hhmm(app: Core, moment: datetime) -> str:
    """An instant as the department's local HH:MM."""
    return moment.astimezone(app.tz).strftime("%H:%M")


WEEKDAYS = {"zh-CN": "一二三四五六日", "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]}


def weekday(lang: str, day: date) -> str:
    """周一 / Mon."""
    names = WEEKDAYS["en" if lang == "en" else "zh-CN"]
    return names[day.weekday()] if lang == "en" else "周" + names[day.weekday()]
