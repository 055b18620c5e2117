"""Attendance verdicts (第四章): which shift a punch belongs to and what it counts as.

Pure functions over instants and the policy; the caller supplies monthly counts (grace uses so far, missed
punch requests so far) from its own records, because only it knows them.

Punch times are compared at minute resolution by default (``clock_in.punch_resolution: minute``): WeCom
shows HH:MM and 第二十九条 says the fifth minute is included, so 09:05:59 is still within grace and 09:06:00
is late. With ``second`` resolution, grace ends at exactly 09:05:00.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple
from zoneinfo import ZoneInfo

from schedules.calendar import HolidayCalendar, add_workdays
from schedules.policy import Article, Policy
from schedules.roster.model import RosterEntry
from schedules.timeutil import require_utc, shift_window

__all__ = [
    "MatchedShift",
    "MissedPunchCheck",
    "PunchKind",
    "PunchRecord",
    "Verdict",
    "VerdictKind",
    "VerdictRecord",
    "check_missed_punch",
    "clock_in_verdict",
    "clock_out_verdict",
    "grace_end",
    "grace_uses_in_month",
    "match_shift",
    "minutes_after",
    "missed_punch_deadline",
    "missed_punch_verdict",
]


class PunchKind(StrEnum):
    """上班卡 / 下班卡."""

    CLOCK_IN = "clock_in"
    CLOCK_OUT = "clock_out"


class VerdictKind(StrEnum):
    """What a punch counts as (第二十八至三十条)."""

    ON_TIME = "on_time"
    GRACE = "grace"  # within grace, uses one of the month's grace uses
    LATE = "late"
    SERIOUSLY_LATE = "seriously_late"
    ABSENT = "absent"  # half a day of absence without leave
    TOO_EARLY = "too_early"  # clock-in before the window opens: not recorded, ask to try later
    EARLY_LEAVE = "early_leave"
    OVERTIME = "overtime"  # clock-out after the end with at least one whole overtime unit


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one punch, with the articles to quote when telling the person."""

    kind: VerdictKind
    articles: tuple[Article, ...]
    minutes_late: int = 0
    minutes_early: int = 0
    overtime_minutes: int = 0
    overtime_units: int = 0
    grace_uses_left: int | None = None
    uses_grace: bool = False
    absent_half_days: int = 0
    missed: bool = False  # from a missed punch (第三十五条), not a real one
    opens_at: dt.datetime | None = None  # for too_early: when the window opens

    @property
    def counts_as_late(self) -> bool:
        """Late or seriously late: counts toward the four-a-month warning (第三十一条)."""
        return self.kind in (VerdictKind.LATE, VerdictKind.SERIOUSLY_LATE)


class PunchRecord(NamedTuple):
    """A stored punch, attributed to the shift (person, local shift date) it belongs to."""

    person_id: str
    shift_date: dt.date
    kind: PunchKind
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class VerdictRecord:
    """A stored verdict for reports."""

    person_id: str
    shift_date: dt.date
    shift_code: str
    punch: PunchKind
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class MatchedShift:
    """The rostered shift a punch belongs to, with its UTC window."""

    entry: RosterEntry
    start: dt.datetime
    end: dt.datetime

    @property
    def shift_code(self) -> str:
        """The shift's code (never None: rest days are not matched)."""
        assert self.entry.shift_code is not None
        return self.entry.shift_code


def minutes_after(reference: dt.datetime, moment: dt.datetime, policy: Policy) -> int:
    """Whole minutes ``moment`` is after ``reference`` at the policy's resolution (negative if before).

    Minute resolution compares HH:MM as shown on the punch (seconds dropped); second resolution rounds any
    started minute up, so 5 min 1 s counts as 6.
    """
    seconds = (require_utc(moment) - require_utc(reference)).total_seconds()
    if policy.clock_in.punch_resolution == "minute":
        # compare wall-clock minutes: truncate both instants to the minute
        ref_min = int(require_utc(reference).timestamp() // 60)
        mom_min = int(require_utc(moment).timestamp() // 60)
        return mom_min - ref_min
    whole, rest = divmod(seconds, 60)
    return int(whole) + (1 if rest > 0 else 0)


def grace_end(shift_start: dt.datetime, policy: Policy) -> dt.datetime:
    """The first instant that is past grace (09:06:00 for a 09:00 start at minute resolution)."""
    extra = 1 if policy.clock_in.punch_resolution == "minute" else 0
    base = shift_start.replace(second=0, microsecond=0) if extra else shift_start
    return base + dt.timedelta(minutes=policy.clock_in.grace_minutes + extra)


def absence_threshold(shift_start: dt.datetime, policy: Policy) -> dt.datetime:
    """The first instant a clock-in counts as absence (past the seriously-late limit)."""
    extra = 1 if policy.clock_in.punch_resolution == "minute" else 0
    base = shift_start.replace(second=0, microsecond=0) if extra else shift_start
    return base + dt.timedelta(minutes=policy.clock_in.seriously_late_max_minutes + extra)


def match_shift(
    punch: dt.datetime,
    entries: Iterable[RosterEntry],
    policy: Policy,
    tz: ZoneInfo | None = None,
    *,
    kind: PunchKind = PunchKind.CLOCK_IN,
) -> MatchedShift | None:
    """The shift a punch belongs to among one person's entries around it (pass the days before and after).

    A clock-in belongs to a shift from its window opening (60 min before, 第二十八条) until the shift ends;
    a clock-out from the shift start until ``clock_out.closes_after_end_minutes`` after the end (staying late,
    第二十三条). Overnight shifts belong to the day they start. When two shifts qualify, the one whose
    start (clock-in) or end (clock-out) is nearest wins. Returns None when no shift fits, and for a
    clock-in earlier than every window (use :func:`clock_in_verdict` with the nearest shift to say when).
    """
    tz = tz or policy.tz
    moment = require_utc(punch, "punch")
    opens = dt.timedelta(minutes=policy.clock_in.window_opens_minutes)
    closes = dt.timedelta(minutes=policy.clock_out.closes_after_end_minutes)
    best: tuple[dt.timedelta, MatchedShift] | None = None
    for entry in entries:
        if entry.shift_code is None:
            continue
        start, end = shift_window(entry.date, policy.shift(entry.shift_code), tz)
        if kind is PunchKind.CLOCK_IN:
            if not start - opens <= moment < end:
                continue
            distance = abs(moment - start)
        else:
            if not start <= moment <= end + closes:
                continue
            distance = abs(moment - end)
        if best is None or distance < best[0]:
            best = (distance, MatchedShift(entry, start, end))
    return best[1] if best else None


def clock_in_verdict(
    shift_start: dt.datetime, punch: dt.datetime, grace_uses_this_month: int, policy: Policy
) -> Verdict:
    """Judge a clock-in against its shift start (第二十八、二十九、三十条).

    ``grace_uses_this_month`` counts grace uses before this punch in the shift's local month; from the
    fourth use on, a clock-in after the start is late (第二十九条). Approved leave is the caller's to check:
    an ``absent`` verdict does not apply to a person on approved leave.
    """
    rules = policy.clock_in
    start = require_utc(shift_start, "shift_start")
    moment = require_utc(punch, "punch")
    left = max(0, rules.grace_uses_per_month - grace_uses_this_month)
    opens = start - dt.timedelta(minutes=rules.window_opens_minutes)
    if moment < opens:
        return Verdict(VerdictKind.TOO_EARLY, (rules.article_window,), grace_uses_left=left, opens_at=opens)
    late = minutes_after(start, moment, policy)
    if late <= 0:
        return Verdict(VerdictKind.ON_TIME, (rules.article_window,), grace_uses_left=left)
    if late <= rules.grace_minutes and left > 0:
        return Verdict(
            VerdictKind.GRACE,
            (rules.article_grace,),
            minutes_late=late,
            grace_uses_left=left - 1,
            uses_grace=True,
        )
    if late <= rules.late_max_minutes:
        articles = (
            (rules.article_grace, rules.article_late)
            if late <= rules.grace_minutes
            else (rules.article_late,)
        )
        return Verdict(VerdictKind.LATE, articles, minutes_late=late, grace_uses_left=left)
    if late <= rules.seriously_late_max_minutes:
        return Verdict(
            VerdictKind.SERIOUSLY_LATE, (rules.article_late,), minutes_late=late, grace_uses_left=left
        )
    return Verdict(
        VerdictKind.ABSENT,
        (rules.article_late, rules.article_absent),
        minutes_late=late,
        grace_uses_left=left,
        absent_half_days=1,
    )


def clock_out_verdict(shift_end: dt.datetime, punch: dt.datetime, policy: Policy) -> Verdict:
    """Judge a clock-out against its shift end: early leave, absence, on time or overtime units.

    Overtime counts whole units (30 min by default) of staying late; the remainder is not counted
    (第二十四条). The handbook bases the length on the conversation end time, verified by the lead; the
    punch is the bot's best evidence until then.
    """
    end = require_utc(shift_end, "shift_end")
    moment = require_utc(punch, "punch")
    early = minutes_after(moment, end, policy)
    rules = policy.clock_out
    if early > 0:
        if early <= rules.early_leave_max_minutes:
            return Verdict(VerdictKind.EARLY_LEAVE, (rules.article_early_leave,), minutes_early=early)
        return Verdict(
            VerdictKind.ABSENT,
            (rules.article_early_leave, policy.clock_in.article_absent),
            minutes_early=early,
            absent_half_days=1,
        )
    extra = int((moment - end).total_seconds() // 60)
    units = extra // policy.overtime.unit_minutes
    if units:
        return Verdict(
            VerdictKind.OVERTIME,
            (policy.overtime.article_stay_late, policy.overtime.article_unit),
            overtime_minutes=extra,
            overtime_units=units,
        )
    return Verdict(VerdictKind.ON_TIME, (rules.article_stay_late,), overtime_minutes=extra)


def missed_punch_verdict(kind: PunchKind, policy: Policy) -> Verdict:
    """A missed punch not corrected in time: clock-in counts as seriously late, clock-out as early leave."""
    article = policy.missed_punch.article_consequence
    if kind is PunchKind.CLOCK_IN:
        return Verdict(VerdictKind.SERIOUSLY_LATE, (article,), missed=True)
    return Verdict(VerdictKind.EARLY_LEAVE, (article,), missed=True)


def grace_uses_in_month(records: Iterable[VerdictRecord], person_id: str, year: int, month: int) -> int:
    """How many grace uses a person has in a local month (by shift date), for :func:`clock_in_verdict`."""
    return sum(
        1
        for r in records
        if r.person_id == person_id
        and r.verdict.uses_grace
        and (r.shift_date.year, r.shift_date.month) == (year, month)
    )


def missed_punch_deadline(
    shift_date: dt.date, policy: Policy, calendar: HolidayCalendar | None = None
) -> dt.date:
    """Last local date to request a missed punch (补卡): 2 working days after the shift date (第三十四条)."""
    return add_workdays(shift_date, policy.missed_punch.deadline_working_days, calendar)


@dataclass(frozen=True, slots=True)
class MissedPunchCheck:
    """Whether a 补卡 request may be made; ``reason`` is a stable code when not."""

    allowed: bool
    reason: str | None
    article: Article
    deadline: dt.date
    uses_left: int


def check_missed_punch(
    shift_date: dt.date,
    today: dt.date,
    requests_this_month: int,
    policy: Policy,
    calendar: HolidayCalendar | None = None,
) -> MissedPunchCheck:
    """Check a missed-punch request: within the deadline and under the monthly limit (第三十四条).

    ``requests_this_month`` counts the person's earlier requests in the local month of ``shift_date``;
    collective registrations after equipment failures do not count and do not come here.
    """
    rules = policy.missed_punch
    deadline = missed_punch_deadline(shift_date, policy, calendar)
    left = max(0, rules.per_month - requests_this_month)
    if today < shift_date:
        return MissedPunchCheck(False, "future_shift", rules.article, deadline, left)
    if today > deadline:
        return MissedPunchCheck(False, "past_deadline", rules.article, deadline, left)
    if left == 0:
        return MissedPunchCheck(False, "monthly_limit", rules.article, deadline, 0)
    return MissedPunchCheck(True, None, rules.article, deadline, left - 1)
