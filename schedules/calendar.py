"""Working days: weekends and public holidays off, makeup workdays (调休上班) on.

Deadlines written in working days (补卡 within 2 working days, 第三十四条; objections within 2 working days,
第三十七条) count office working days, not the person's own roster, because the handbook ties them to the
approval chain, which keeps office days. Without a holidays file only weekends are off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from schedules.policy import yaml_safe_load

__all__ = [
    "HolidayCalendar",
    "HolidayError",
    "add_workdays",
    "is_workday",
    "load_holidays",
    "workdays_between",
]


class HolidayError(ValueError):
    """A holidays file that cannot be used; the message names the entry."""


@dataclass(frozen=True)
class HolidayCalendar:
    """Public holidays (off even on weekdays) and makeup workdays (on even at weekends)."""

    holidays: frozenset[date] = frozenset()
    makeup_workdays: frozenset[date] = frozenset()
    names: Mapping[date, str] = field(default_factory=dict, compare=False, hash=False)

    def is_workday(self, day: date) -> bool:
        """Office working day: Monday–Friday or a makeup day, and not a holiday."""
        if day in self.makeup_workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def is_holiday(self, day: date) -> bool:
        """A statutory public holiday (法定节假日; 第二十六条 pay, 第八十八条 duty roster)."""
        return day in self.holidays


NO_HOLIDAYS = HolidayCalendar()


def is_workday(day: date, calendar: HolidayCalendar | None = None) -> bool:
    """Office working day under ``calendar`` (weekends only when None)."""
    return (calendar or NO_HOLIDAYS).is_workday(day)


def add_workdays(day: date, n: int, calendar: HolidayCalendar | None = None) -> date:
    """The ``n``-th working day after ``day`` (``day`` itself not counted); n=0 returns ``day``."""
    if n < 0:
        raise ValueError("n must be 0 or more")
    current = day
    left = n
    while left:
        current += timedelta(days=1)
        if is_workday(current, calendar):
            left -= 1
    return current


def workdays_between(start: date, end: date, calendar: HolidayCalendar | None = None) -> int:
    """Working days in (start, end]: how many working days have passed since ``start``."""
    if end <= start:
        return 0
    return sum(1 for i in range(1, (end - start).days + 1) if is_workday(start + timedelta(days=i), calendar))


def _dates(entry: Any, where: str) -> Iterable[tuple[date, str]]:
    """An entry is a date, or {date, name}, or {from, to, name} for a range."""
    if isinstance(entry, date):
        yield entry, ""
        return
    if isinstance(entry, str):
        try:
            yield date.fromisoformat(entry.strip()), ""
        except ValueError:
            raise HolidayError(f"{where}: {entry!r} is not a date like 2026-10-01") from None
        return
    if not isinstance(entry, dict):
        raise HolidayError(f"{where}: expected a date, {{date, name}} or {{from, to, name}}")
    name = str(entry.get("name", ""))
    unknown = set(entry) - {"date", "from", "to", "name"}
    if unknown:
        raise HolidayError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    if "date" in entry:
        (d, _), *_ = list(_dates(entry["date"], f"{where}.date"))
        yield d, name
        return
    if "from" not in entry or "to" not in entry:
        raise HolidayError(f"{where}: a range needs both from and to")
    (first, _), *_ = list(_dates(entry["from"], f"{where}.from"))
    (last, _), *_ = list(_dates(entry["to"], f"{where}.to"))
    if last < first:
        raise HolidayError(f"{where}: to ({last}) is before from ({first})")
    for i in range((last - first).days + 1):
        yield first + timedelta(days=i), name


def calendar_from_mapping(data: Mapping[str, Any], source: str = "holidays") -> HolidayCalendar:
    """Build a calendar from parsed YAML: ``holidays`` and ``makeup_workdays`` lists."""
    unknown = set(data) - {"holidays", "makeup_workdays"}
    if unknown:
        raise HolidayError(f"{source}: unknown section {sorted(unknown)[0]!r}")
    holidays: dict[date, str] = {}
    makeup: set[date] = set()
    for i, entry in enumerate(data.get("holidays") or []):
        for d, name in _dates(entry, f"{source}: holidays[{i}]"):
            holidays[d] = name
    for i, entry in enumerate(data.get("makeup_workdays") or []):
        for d, _ in _dates(entry, f"{source}: makeup_workdays[{i}]"):
            if d in holidays:
                raise HolidayError(f"{source}: makeup_workdays[{i}]: {d} is also a holiday")
            makeup.add(d)
    return HolidayCalendar(frozenset(holidays), frozenset(makeup), dict(holidays))


def load_holidays(path: str | Path) -> HolidayCalendar:
    """Read a holidays YAML file (see ``examples/holidays.yaml``)."""
    p = Path(path)
    try:
        data = yaml_safe_load(p.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise HolidayError(f"{p.name}: cannot read: {exc.strerror}") from None
    except (yaml.YAMLError, ValueError) as exc:  # PyYAML raises ValueError for dates like 2026-13-01
        raise HolidayError(f"{p.name}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise HolidayError(f"{p.name}: expected holidays: and makeup_workdays: sections")
    return calendar_from_mapping(data, p.name)
