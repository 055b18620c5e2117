"""Local roster times to UTC instants and back, without DST surprises.

Rules (the same everywhere in ``schedules``):

* instants are aware UTC datetimes; roster dates and shift times are local wall-clock values;
* a shift belongs to the local date it starts on; an overnight shift ends on the next local date;
* a wall time that does not exist (spring forward) means the instant the clock jumps over it would have
  been, i.e. it moves later by the gap (02:30 on 2026-03-29 in Berlin is 03:30 CEST);
* a wall time that happens twice (fall back) means its first occurrence.

Because every reminder and verdict is computed from these instants, a DST change moves nothing by an hour
and never makes a wall time match twice.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from schedules.policy import QuietHours, ShiftType

__all__ = [
    "UTC",
    "in_quiet_hours",
    "local_date",
    "local_instant",
    "month_bounds",
    "month_of",
    "require_utc",
    "shift_window",
]


def require_utc(moment: datetime, name: str = "datetime") -> datetime:
    """Reject naive datetimes (a naive time is a bug waiting for DST) and normalise to UTC."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (got naive {moment.isoformat()})")
    return moment.astimezone(UTC)


def local_instant(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local date and wall time (first occurrence; a skipped time moves later)."""
    return datetime.combine(day, wall.replace(tzinfo=None), tzinfo=tz).replace(fold=0).astimezone(UTC)


def shift_window(day: date, shift: ShiftType, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """(start, end) in UTC of ``shift`` rostered on local ``day``; overnight shifts end the next day."""
    start = local_instant(day, shift.start, tz)
    end_day = day + timedelta(days=1) if shift.overnight else day
    end = local_instant(end_day, shift.end, tz)
    if end <= start:  # only possible when both ends fall in one DST gap/overlap; keep a positive length
        end = start + timedelta(minutes=shift.minutes)
    return start, end


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    """The department-local date of an instant."""
    return require_utc(moment).astimezone(tz).date()


def month_of(day: date) -> tuple[int, int]:
    """(year, month) of a local date: monthly limits count by local month of the shift date."""
    return day.year, day.month


def month_bounds(year: int, month: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a local calendar month as UTC instants."""
    first = date(year, month, 1)
    nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return local_instant(first, time(0), tz), local_instant(nxt, time(0), tz)


def in_quiet_hours(moment: datetime, quiet: QuietHours | None, tz: ZoneInfo) -> bool:
    """True when the local wall time of ``moment`` is inside quiet hours."""
    if quiet is None:
        return False
    return quiet.contains(require_utc(moment).astimezone(tz).time().replace(tzinfo=None))
