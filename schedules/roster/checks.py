"""Roster checks against 第二十条 and 第四十三条: runs of work days, rest between shifts, staffing."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from schedules.policy import Article, Policy
from schedules.roster.model import RosterEntry
from schedules.timeutil import shift_window

_VIOLATION_TEXT: dict[str, str] = {
    "consecutive_days": "{person} works {days} days in a row from {date} (at most {limit})",
    "short_rest": "{person} has only {hours}h rest before {date} (at least {limit}h)",
    "understaffed": "team {team} has {have} on {shift} on {date} (at least {need})",
    "evening_streak": "{person} is on late shifts for {days} days from {date} (at most {limit} weeks)",
    "no_weekend_rest": "{person} has no Saturday or Sunday off in {month}",
    "duplicate_entry": "{person} has more than one entry on {date}",
    "unknown_shift": "{person} has unknown shift {shift} on {date}",
}


@dataclass(frozen=True, slots=True)
class RosterViolation:
    """A rule a roster breaks, with the article to quote and params for the message."""

    code: str
    article: Article
    date: dt.date
    person_id: str | None = None
    team: str | None = None
    shift_code: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def message(self) -> str:
        """English text for logs and the English catalog's default."""
        return _VIOLATION_TEXT.get(self.code, self.code).format_map(defaultdict(str, self.params))


def _late_codes(policy: Policy) -> set[str]:
    """Shifts that count as 'evening' for the two-week limit: every rotation shift after the first."""
    return set(policy.roster.rotation[1:])


def validate_roster(
    entries: Iterable[RosterEntry],
    policy: Policy,
    *,
    teams: Mapping[str, Collection[str]] | None = None,
    tz: ZoneInfo | None = None,
) -> list[RosterViolation]:
    """Check a roster against 第二十条 and 第四十三条: runs of work days, rest between shifts, minimum staff.

    Pass the days before the period too (e.g. the previous week) to catch runs that cross into it. A date
    with no entry breaks a run (unknown is not counted as work). Staffing is checked only when ``teams``
    (team → person ids) is given, for the dates the team has entries on. Weekend rest is checked for
    months a person has an entry on every day of.
    """
    tz = tz or policy.tz
    rules = policy.roster
    by_person: dict[str, dict[dt.date, str | None]] = defaultdict(dict)
    found: list[RosterViolation] = []
    codes = {s.code for s in policy.shifts}
    for e in entries:
        days = by_person[e.person_id]
        if e.date in days:
            found.append(
                RosterViolation(
                    "duplicate_entry",
                    rules.article_limits,
                    e.date,
                    e.person_id,
                    params={"person": e.person_id, "date": e.date.isoformat()},
                )
            )
            continue
        if e.shift_code is not None and e.shift_code not in codes:
            found.append(
                RosterViolation(
                    "unknown_shift",
                    rules.article_pattern,
                    e.date,
                    e.person_id,
                    shift_code=e.shift_code,
                    params={"person": e.person_id, "date": e.date.isoformat(), "shift": e.shift_code},
                )
            )
            continue
        days[e.date] = e.shift_code

    windows: dict[tuple[dt.date, str], tuple[dt.datetime, dt.datetime]] = {}

    def window(day: dt.date, code: str) -> tuple[dt.datetime, dt.datetime]:
        key = (day, code)
        if key not in windows:
            windows[key] = shift_window(day, policy.shift(code), tz)
        return windows[key]

    late = _late_codes(policy)
    for person, days in by_person.items():
        ordered = sorted(days)
        found.extend(_runs(person, ordered, days, rules.max_consecutive_days, rules.article_limits))
        prev: tuple[dt.date, str] | None = None
        for day in ordered:
            code = days[day]
            if code is None:
                continue
            if prev is not None:
                rest = window(day, code)[0] - window(*prev)[1]
                if rest < dt.timedelta(hours=rules.min_rest_hours):
                    hours = f"{rest.total_seconds() / 3600:g}"
                    found.append(
                        RosterViolation(
                            "short_rest",
                            rules.article_limits,
                            day,
                            person,
                            shift_code=code,
                            params={
                                "person": person,
                                "date": day.isoformat(),
                                "hours": hours,
                                "limit": str(rules.min_rest_hours),
                            },
                        )
                    )
            prev = (day, code)
        found.extend(
            _evening_runs(person, ordered, days, late, rules.max_evening_weeks, rules.article_pattern)
        )
        found.extend(
            _weekend_rest(person, ordered, days, rules.weekend_rest_per_month, rules.article_pattern)
        )

    if teams:
        for team, members in teams.items():
            team_days = sorted({d for p in members for d in by_person.get(p, {})})
            for day in team_days:
                counts = Counter(by_person[p].get(day) for p in members if p in by_person)
                for shift in policy.shifts:
                    need = policy.staffing.minimum(team, shift.code)
                    if need and counts[shift.code] < need:
                        found.append(
                            RosterViolation(
                                "understaffed",
                                policy.staffing.article,
                                day,
                                team=team,
                                shift_code=shift.code,
                                params={
                                    "team": team,
                                    "shift": shift.code,
                                    "date": day.isoformat(),
                                    "have": str(counts[shift.code]),
                                    "need": str(need),
                                },
                            )
                        )
    found.sort(key=lambda v: (v.date, v.code, v.team or "", v.person_id or ""))
    return found


def _runs(
    person: str, ordered: Sequence[dt.date], days: Mapping[dt.date, str | None], limit: int, article: Article
) -> Iterator[RosterViolation]:
    start: dt.date | None = None
    length = 0
    prev: dt.date | None = None
    for day in [*ordered, None]:
        working = day is not None and days[day] is not None
        contiguous = day is not None and prev is not None and (day - prev).days == 1
        if working and contiguous and length:
            length += 1
        else:
            if length > limit and start is not None:
                yield RosterViolation(
                    "consecutive_days",
                    article,
                    start,
                    person,
                    params={
                        "person": person,
                        "date": start.isoformat(),
                        "days": str(length),
                        "limit": str(limit),
                    },
                )
            start, length = (day, 1) if working else (None, 0)
        prev = day


def _evening_runs(
    person: str,
    ordered: Sequence[dt.date],
    days: Mapping[dt.date, str | None],
    late: set[str],
    weeks: int,
    article: Article,
) -> Iterator[RosterViolation]:
    """A run of late shifts not interrupted by an early shift; rest days inside it do not end it."""
    first: dt.date | None = None
    last: dt.date | None = None
    for day in [*ordered, None]:
        code = days[day] if day is not None else None
        if day is not None and code in late:
            first = first or day
            last = day
            continue
        if day is not None and code is None:
            continue
        if first is not None and last is not None and (last - first).days + 1 > weeks * 7:
            yield RosterViolation(
                "evening_streak",
                article,
                first,
                person,
                params={
                    "person": person,
                    "date": first.isoformat(),
                    "days": str((last - first).days + 1),
                    "limit": str(weeks),
                },
            )
        first = last = None


def _weekend_rest(
    person: str, ordered: Sequence[dt.date], days: Mapping[dt.date, str | None], need: int, article: Article
) -> Iterator[RosterViolation]:
    if not need:
        return
    months: dict[tuple[int, int], list[dt.date]] = defaultdict(list)
    for day in ordered:
        months[(day.year, day.month)].append(day)
    for (year, month), listed in months.items():
        length = ((dt.date(year + month // 12, month % 12 + 1, 1)) - dt.date(year, month, 1)).days
        if len(listed) < length:
            continue
        rests = sum(1 for d in listed if d.weekday() >= 5 and days[d] is None)
        if rests < need:
            yield RosterViolation(
                "no_weekend_rest",
                article,
                dt.date(year, month, 1),
                person,
                params={"person": person, "month": f"{year}-{month:02d}"},
            )
