"""Local roster times to UTC: overnight shifts, DST in Berlin, Shanghai without DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from schedules.policy import Policy, ShiftType
from schedules.timeutil import (
    in_quiet_hours,
    local_date,
    local_instant,
    month_bounds,
    require_utc,
    shift_window,
)

BERLIN = ZoneInfo("Europe/Berlin")
SHANGHAI = ZoneInfo("Asia/Shanghai")
NIGHT = ShiftType(code="night", name_zh="夜班", name_en="night", start=time(22), end=time(6))


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


def test_shanghai_day_shift(policy: Policy) -> None:
    assert shift_window(date(2026, 12, 1), policy.shift("day"), SHANGHAI) == (
        utc(2026, 12, 1, 1),
        utc(2026, 12, 1, 10),
    )


def test_overnight_belongs_to_start_day() -> None:
    start, end = shift_window(date(2026, 12, 1), NIGHT, SHANGHAI)
    assert start == utc(2026, 12, 1, 14) and end == utc(2026, 12, 1, 22)
    assert local_date(start, SHANGHAI) == date(2026, 12, 1)
    assert local_date(end, SHANGHAI) == date(2026, 12, 2)


@pytest.mark.parametrize(
    ("day", "start", "end", "hours"),
    [
        (date(2026, 3, 28), utc(2026, 3, 28, 21), utc(2026, 3, 29, 4), 7),  # spring forward: 7 real hours
        (date(2026, 10, 24), utc(2026, 10, 24, 20), utc(2026, 10, 25, 5), 9),  # fall back: 9 real hours
        (date(2026, 3, 29), utc(2026, 3, 29, 20), utc(2026, 3, 30, 4), 8),
    ],
)
def test_overnight_across_berlin_dst(day: date, start: datetime, end: datetime, hours: int) -> None:
    s, e = shift_window(day, NIGHT, BERLIN)
    assert (s, e) == (start, end)
    assert e - s == timedelta(hours=hours)
    # wall clock stays 22:00 and 06:00: no shift is an hour off
    assert s.astimezone(BERLIN).time() == time(22) and e.astimezone(BERLIN).time() == time(6)


def test_day_shift_on_dst_days_keeps_wall_clock(policy: Policy) -> None:
    for day in (date(2026, 3, 29), date(2026, 10, 25)):
        s, e = shift_window(day, policy.shift("day"), BERLIN)
        assert s.astimezone(BERLIN).time() == time(9) and e.astimezone(BERLIN).time() == time(18)
        assert e - s == timedelta(hours=9)


def test_skipped_and_repeated_wall_times() -> None:
    # 02:30 does not exist on 2026-03-29 in Berlin: it moves later by the gap (03:30 CEST)
    assert local_instant(date(2026, 3, 29), time(2, 30), BERLIN) == utc(2026, 3, 29, 1, 30)
    assert local_instant(date(2026, 3, 29), time(2, 30), BERLIN).astimezone(BERLIN).time() == time(3, 30)
    # 02:30 happens twice on 2026-10-25: the first occurrence (CEST)
    assert local_instant(date(2026, 10, 25), time(2, 30), BERLIN) == utc(2026, 10, 25, 0, 30)


def test_month_bounds_local() -> None:
    assert month_bounds(2026, 12, SHANGHAI) == (utc(2026, 11, 30, 16), utc(2026, 12, 31, 16))
    start, end = month_bounds(2026, 3, BERLIN)
    assert (start, end) == (utc(2026, 2, 28, 23), utc(2026, 3, 31, 22))


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        require_utc(datetime(2026, 12, 1, 9))  # noqa: DTZ001  naive on purpose


def test_quiet_hours(policy: Policy) -> None:
    quiet = policy.reminders.quiet_hours
    assert in_quiet_hours(utc(2026, 12, 1, 15, 30), quiet, SHANGHAI)  # 23:30 local
    assert not in_quiet_hours(utc(2026, 12, 1, 15, 29), quiet, SHANGHAI)
    assert in_quiet_hours(utc(2026, 12, 1, 23, 59), quiet, SHANGHAI)  # 07:59 local
    assert not in_quiet_hours(utc(2026, 12, 2, 0, 0), quiet, SHANGHAI)  # 08:00 local
    assert not in_quiet_hours(utc(2026, 12, 2, 0, 0), None, SHANGHAI)
