"""Publishing next week's roster (第二十一条), as pure rules: when it is due, who is not yet on it, and
which week an imported roster publishes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from schedules.policy import RosterRules
from schedules.timeutil import local_instant

WEEK = timedelta(days=7)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def publish_deadlines(
    t0: datetime, t1: datetime, rules: RosterRules, tz: ZoneInfo
) -> list[tuple[datetime, date]]:
    """Each publish deadline in (t0, t1] (publish_weekday at publish_by, local time), with the Monday of
    the week it is for: the week after the deadline's own."""
    found: list[tuple[datetime, date]] = []
    day = t0.astimezone(tz).date()
    while day <= t1.astimezone(tz).date():
        if day.weekday() == rules.publish_weekday:
            moment = local_instant(day, rules.publish_by, tz)
            if t0 < moment <= t1:
                found.append((moment, monday_of(day) + WEEK))
        day += timedelta(days=1)
    return found


def unrostered(monday: date, people: Iterable[str], rostered: Iterable[tuple[str, date]]) -> list[str]:
    """Those of `people` (in their order) without a roster entry, shift or rest, on some day of the week
    starting `monday`: the week is not in for them yet."""
    week = {monday + timedelta(days=i) for i in range(7)}
    days: dict[str, set[date]] = {}
    for person, day in rostered:
        if day in week:
            days.setdefault(person, set()).add(day)
    return [p for p in people if days.get(p, set()) != week]


def week_to_announce(days: Iterable[date], today: date) -> date | None:
    """The Monday of the earliest week among `days` that has not ended by `today` (an import on Thursday
    of next week's roster announces next week); None when every day is past."""
    mondays = {monday_of(d) for d in days if monday_of(d) + timedelta(days=6) >= today}
    return min(mondays) if mondays else None
