"""Attendance verdicts (第四章): which shift a punch belongs to and what it counts as.

Pure functions over instants and the policy; the caller supplies monthly counts (grace uses so far, missed
punch requests so far) from its own records, because only it knows them.

Punch times are compared at minute resolution by default (``clock_in.punch_resolution: minute``): WeCom
shows HH:MM and 第二十九条 says the fifth minute is included, so 09:05:59 is still within grace and 09:06:00
is late. With ``second`` resolution, grace ends at exactly 09:05:00.
"""

from __future__ import annotations

import dataclasses
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
    "CORRECTABLE",
    "Cause",
    "Correction",
    "MatchedShift",
    "MissedPunchCheck",
    "PunchKind",
    "PunchRecord",
    "PunchTime",
    "ShiftFacts",
    "ShiftVerdict",
    "ShiftVerdictKind",
    "Verdict",
    "VerdictKind",
    "check_missed_punch",
    "clock_in_verdict",
    "clock_out_verdict",
    "corrected",
    "grace_end",
    "judge_shifts",
    "match_shift",
    "minutes_after",
    "missed_punch_deadline",
    "punch_time",
    "rest_day_overtime_minutes",
    "shift_verdict",
    "worked_window",
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

    @property
    def leaves_early(self) -> bool:
        """A clock-out before the shift's end: early leave, or half a day of absence past 30 min (第三十条).
        Such a clock-out costs pay, so the bot asks before storing it (one clock-out a shift, 第二十八条)."""
        return self.kind in (VerdictKind.EARLY_LEAVE, VerdictKind.ABSENT) and self.minutes_early > 0


class PunchRecord(NamedTuple):
    """A stored punch, attributed to the shift (person, local shift date) it belongs to."""

    person_id: str
    shift_date: dt.date
    kind: PunchKind
    at: dt.datetime


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


class PunchTime(NamedTuple):
    """The time a punch is judged on, or a refusal when the platform's time is too old."""

    at: dt.datetime
    refused: bool = False


def punch_time(platform_at: dt.datetime | None, received: dt.datetime, policy: Policy) -> PunchTime:
    """The person's time of a punch: the platform's timestamp of their message, not when the bot got to it.

    Without a platform time, or with one in the future (a platform clock ahead of ours), the received time
    counts. One older than ``attendance.punch_max_age_hours`` is refused: that is a 补卡 to ask for, not a
    punch (the person is told why).
    """
    received = require_utc(received, "received")
    if platform_at is None:
        return PunchTime(received)
    at = require_utc(platform_at, "platform_at")
    if at > received:
        return PunchTime(received)
    if received - at > dt.timedelta(hours=policy.attendance.punch_max_age_hours):
        return PunchTime(at, refused=True)
    return PunchTime(at)


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


def worked_window(
    start: dt.datetime, end: dt.datetime, leave_half: str | None
) -> tuple[dt.datetime, dt.datetime]:
    """The part of a shift that is worked when half of it is on leave ("am" or "pm"), else the whole shift.

    The handbook names half days (第五十五条, 第三十条) without a clock time, so the shift splits at its
    midpoint, as a half-day leave request does (13:30 for 白班 09:00–18:00, 18:30 for 晚班 14:00–23:00):
    a morning off is worked from the midpoint to the end, an afternoon off from the start to the midpoint.
    """
    if leave_half not in ("am", "pm"):
        return start, end
    middle = start + (end - start) / 2
    return (middle, end) if leave_half == "am" else (start, middle)


def rest_day_overtime_minutes(
    began: dt.datetime | None, ended: dt.datetime | None, cap_minutes: int | None, policy: Policy
) -> int:
    """Minutes of approved overtime for work on a rest day (第二十五条): from the clock-in to the clock-out.

    The handbook gives no unit for it: the 30-minute unit of 第二十四条 is for staying late after a shift
    and the half-day unit of 第五十五条 is for taking the time off in lieu, so every whole minute counts
    (at the policy's punch resolution, as the punches are shown). ``cap_minutes`` is the length of an
    overtime approved in advance (``/overtime``); None when the supervisor approved the punches themselves.
    Without both punches there is nothing to count.
    """
    if began is None or ended is None:
        return 0
    minutes = max(0, minutes_after(began, ended, policy))
    return minutes if cap_minutes is None else min(minutes, max(0, cap_minutes))


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
    *,
    punch_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
    already_requested: bool = False,
) -> MissedPunchCheck:
    """Check a missed-punch request (第三十四条): only for a moment that has passed, once per day and
    direction, within the deadline and under the monthly limit.

    ``requests_this_month`` counts the person's earlier requests in the local month of ``shift_date`` that
    were neither refused nor withdrawn; collective registrations after equipment failures do not count and
    do not come here. ``already_requested`` says a pending or approved request exists for the same day and
    direction; ``punch_at`` is the instant the punch is claimed for, compared with ``now``.
    """
    rules = policy.missed_punch
    deadline = missed_punch_deadline(shift_date, policy, calendar)
    left = max(0, rules.per_month - requests_this_month)
    if today < shift_date:
        return MissedPunchCheck(False, "future_shift", rules.article, deadline, left)
    if punch_at is not None and now is not None and punch_at > now:
        return MissedPunchCheck(False, "future_moment", rules.article, deadline, left)
    if already_requested:
        return MissedPunchCheck(False, "already_requested", rules.article, deadline, left)
    if today > deadline:
        return MissedPunchCheck(False, "past_deadline", rules.article, deadline, left)
    if left == 0:
        return MissedPunchCheck(False, "monthly_limit", rules.article, deadline, 0)
    return MissedPunchCheck(True, None, rules.article, deadline, left - 1)


# ------------------------------------------------------------------------------------- shift verdicts
class ShiftVerdictKind(StrEnum):
    """The one verdict of a rostered day (第二十八至三十五条), the headline when there are several causes."""

    ON_TIME = "on_time"
    GRACE = "grace"
    LATE = "late"
    SERIOUSLY_LATE = "seriously_late"
    EARLY_LEAVE = "early_leave"
    ABSENT_HALF_DAY = "absent_half_day"
    ABSENT_FULL_DAY = "absent_full_day"
    MISSED_CLOCK_IN = "missed_clock_in"
    MISSED_CLOCK_OUT = "missed_clock_out"
    ON_LEAVE = "on_leave"
    REST = "rest"
    IN_PROGRESS = "in_progress"


class Cause(StrEnum):
    """One reason a shift is not simply on time; a shift may have an arrival and a departure cause."""

    GRACE = "grace"
    LATE = "late"
    SERIOUSLY_LATE = "seriously_late"
    ABSENT_LATE = "absent_late"  # arrived more than 2 h late: half a day absent (第三十条)
    EARLY_LEAVE = "early_leave"
    ABSENT_EARLY = "absent_early"  # left more than 30 min early: half a day absent (第三十条)
    MISSED_CLOCK_IN = "missed_clock_in"  # counts as seriously late (第三十五条)
    MISSED_CLOCK_OUT = "missed_clock_out"  # counts as early leave (第三十五条)
    NO_SHOW = "no_show"  # neither punch, no leave: a whole day absent (第三十二条)


@dataclass(frozen=True, slots=True)
class Correction:
    """A lead's or an admin's correction of one shift's verdict, with its reason; it replaces the verdict."""

    id: int
    kind: ShiftVerdictKind
    reason: str
    by: str
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class ShiftFacts:
    """Everything a shift's verdict depends on, gathered by the caller from its stores.

    ``shift_code`` None is a rest day. ``clock_in``/``clock_out`` are the person's times of the stored
    punches (a 补卡 approved is stored as a punch with ``*_by_request`` naming the request). ``leave`` is the
    approved leave type code covering the day. ``request`` names the request that changed the cell (a swap,
    a leave). ``rest_day_punch`` is a clock-in on a rest day, recorded but not judged; with
    ``rest_day_clock_out`` and an approved ``overtime_request`` the time between them is approved overtime
    (第二十五条).
    """

    person_id: str
    day: dt.date
    shift_code: str | None
    clock_in: dt.datetime | None = None
    clock_out: dt.datetime | None = None
    leave: str | None = None
    request: str | None = None
    clock_in_by_request: str | None = None
    clock_out_by_request: str | None = None
    rest_day_punch: dt.datetime | None = None
    correction: Correction | None = None
    leave_half: str | None = None  # "am" / "pm": the leave covers only that half of the shift
    rest_day_clock_out: dt.datetime | None = None
    overtime_request: str | None = None  # the approved overtime request of a rest day: "overtime#7"
    overtime_cap_minutes: int | None = None  # its length when approved in advance; None: the punches


@dataclass(frozen=True, slots=True)
class ShiftVerdict:
    """The verdict of one rostered day with the counts it adds to a report; a report is their sum.

    ``so_far`` is for a shift that is running without a clock-in: None while it is not late yet, LATE past
    grace, ABSENT past the seriously-late limit (what /onduty shows); it never counts in a report.
    """

    facts: ShiftFacts
    kind: ShiftVerdictKind
    causes: tuple[Cause, ...]
    articles: tuple[Article, ...]
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    arrival: Verdict | None = None
    departure: Verdict | None = None
    so_far: VerdictKind | None = None
    shifts: int = 0
    worked: int = 0
    on_time: int = 0
    grace_uses: int = 0
    late: int = 0
    late_minutes: int = 0
    seriously_late: int = 0
    early_leave: int = 0
    early_leave_minutes: int = 0
    absent_half_days: int = 0
    missed_punches: int = 0
    overtime_units: int = 0
    leave_shifts: int = 0
    in_progress: int = 0
    warnings: int = 0
    demerits: int = 0
    corrections: int = 0
    breaks_full_attendance: bool = False
    leave_days: float = 0.0  # 1 for a shift on leave, 0.5 for half of it
    approved_overtime_minutes: int = 0  # work on a rest day approved by the supervisor (第二十五条)

    @property
    def late_or_early(self) -> int:
        """Lates of any degree plus early leaves: what the monthly warning counts (第三十一条)."""
        return self.late + self.seriously_late + self.early_leave


_HEADLINE = (
    (Cause.NO_SHOW, ShiftVerdictKind.ABSENT_FULL_DAY),
    (Cause.ABSENT_LATE, ShiftVerdictKind.ABSENT_HALF_DAY),
    (Cause.ABSENT_EARLY, ShiftVerdictKind.ABSENT_HALF_DAY),
    (Cause.MISSED_CLOCK_IN, ShiftVerdictKind.MISSED_CLOCK_IN),
    (Cause.SERIOUSLY_LATE, ShiftVerdictKind.SERIOUSLY_LATE),
    (Cause.LATE, ShiftVerdictKind.LATE),
    (Cause.MISSED_CLOCK_OUT, ShiftVerdictKind.MISSED_CLOCK_OUT),
    (Cause.EARLY_LEAVE, ShiftVerdictKind.EARLY_LEAVE),
    (Cause.GRACE, ShiftVerdictKind.GRACE),
)

# What a corrected verdict counts as: (late, seriously late, early leave, absent half days, grace, on time)
_CORRECTED_COUNTS: dict[ShiftVerdictKind, tuple[int, int, int, int, int, int]] = {
    ShiftVerdictKind.ON_TIME: (0, 0, 0, 0, 0, 1),
    ShiftVerdictKind.GRACE: (0, 0, 0, 0, 1, 0),
    ShiftVerdictKind.LATE: (1, 0, 0, 0, 0, 0),
    ShiftVerdictKind.SERIOUSLY_LATE: (0, 1, 0, 0, 0, 0),
    ShiftVerdictKind.EARLY_LEAVE: (0, 0, 1, 0, 0, 0),
    ShiftVerdictKind.ABSENT_HALF_DAY: (0, 0, 0, 1, 0, 0),
    ShiftVerdictKind.ABSENT_FULL_DAY: (0, 0, 0, 2, 0, 0),
    ShiftVerdictKind.MISSED_CLOCK_IN: (0, 1, 0, 0, 0, 0),
    ShiftVerdictKind.MISSED_CLOCK_OUT: (0, 0, 1, 0, 0, 0),
    ShiftVerdictKind.ON_LEAVE: (0, 0, 0, 0, 0, 0),
}
CORRECTABLE: tuple[ShiftVerdictKind, ...] = tuple(_CORRECTED_COUNTS)
"""The verdicts a correction may set (not rest or in progress: those follow from the roster and the clock)."""


def _discipline(absent_half_days: int, policy: Policy) -> tuple[int, int]:
    """(written warnings, demerits) one shift's absence brings (第三十三条)."""
    rules = policy.attendance
    if absent_half_days >= 2:
        return (0, 1) if rules.demerit_per_full_day_absence else (0, 0)
    if absent_half_days == 1:
        return (1, 0) if rules.warning_per_half_day_absence else (0, 0)
    return 0, 0


NOT_CORRECTED = (ShiftVerdictKind.REST, ShiftVerdictKind.ON_LEAVE, ShiftVerdictKind.IN_PROGRESS)
"""Verdicts a correction does not replace: they follow from the roster, the leave and the clock."""


def corrected(base: ShiftVerdict, correction: Correction, policy: Policy) -> ShiftVerdict:
    """The verdict a correction sets, counted like any other (its reason stands in for the articles); a
    rest day, a day on leave or a running shift keeps its own verdict (as in :func:`shift_verdict`)."""
    if base.kind in NOT_CORRECTED:
        return base
    late, serious, early, absent, grace, on_time = _CORRECTED_COUNTS[correction.kind]
    warnings, demerits = _discipline(absent, policy)
    leave = int(correction.kind is ShiftVerdictKind.ON_LEAVE)
    return ShiftVerdict(
        facts=base.facts,
        kind=correction.kind,
        causes=(),
        articles=(),  # the correction's reason stands in for the original verdict's articles
        start=base.start,
        end=base.end,
        arrival=base.arrival,
        departure=base.departure,
        shifts=1,
        worked=0 if leave or absent >= 2 else 1,
        on_time=on_time,
        grace_uses=grace,
        late=late,
        late_minutes=base.late_minutes if late or serious else 0,
        seriously_late=serious,
        early_leave=early,
        early_leave_minutes=base.early_leave_minutes if early else 0,
        absent_half_days=absent,
        missed_punches=0,
        overtime_units=base.overtime_units,
        leave_shifts=leave,
        leave_days=float(leave),
        warnings=warnings,
        demerits=demerits,
        corrections=1,
        breaks_full_attendance=bool(late or serious or early or absent),
    )


def shift_verdict(
    facts: ShiftFacts,
    grace_uses_before: int,
    now: dt.datetime,
    policy: Policy,
    tz: ZoneInfo | None = None,
    *,
    half: str | None = None,
) -> ShiftVerdict:
    """The verdict of one rostered day: the single place 第二十八至三十五条 are applied to a shift.

    ``grace_uses_before`` counts the person's grace uses earlier in the shift's month (第二十九条). A shift
    is judged once it is over: a clock-out is stored, or the clock-out window has closed
    (``clock_out.closes_after_end_minutes``); until then it is in progress, never an absence. A correction,
    when there is one, replaces the verdict of a finished shift.
    """
    tz = tz or policy.tz
    if facts.shift_code is None:
        approved = 0
        if facts.overtime_request is not None:
            approved = rest_day_overtime_minutes(
                facts.rest_day_punch, facts.rest_day_clock_out, facts.overtime_cap_minutes, policy
            )
        cited = (policy.overtime.article_cap,) if approved else ()
        return ShiftVerdict(facts, ShiftVerdictKind.REST, (), cited, approved_overtime_minutes=approved)
    if facts.leave is not None and facts.leave_half in ("am", "pm"):
        # Half a day on leave: the other half is judged as a shift of its own (its start or end is the
        # shift's midpoint); the leave counts 0.5 day.
        worked = shift_verdict(
            dataclasses.replace(facts, leave=None, leave_half=None),
            grace_uses_before,
            now,
            policy,
            tz,
            half=facts.leave_half,
        )
        lost = facts.leave in policy.attendance.full_attendance_lost_by_leave
        if worked.absent_half_days > 1:
            # Not coming for the half that was owed is half a day of absence, not a whole one (第三十三条).
            warnings, demerits = _discipline(1, policy)
            worked = dataclasses.replace(
                worked,
                kind=ShiftVerdictKind.ABSENT_HALF_DAY,
                absent_half_days=1,
                warnings=warnings,
                demerits=demerits,
            )
        return dataclasses.replace(
            worked,
            facts=facts,
            leave_days=0.5,
            breaks_full_attendance=worked.breaks_full_attendance or lost,
        )
    start, end = worked_window(*shift_window(facts.day, policy.shift(facts.shift_code), tz), half)
    now = require_utc(now, "now")
    if facts.leave is not None:
        lost = facts.leave in policy.attendance.full_attendance_lost_by_leave
        return ShiftVerdict(
            facts,
            ShiftVerdictKind.ON_LEAVE,
            (),
            (policy.attendance.article_consequences,) if lost else (),
            start,
            end,
            shifts=1,
            leave_shifts=1,
            breaks_full_attendance=lost,
            leave_days=1.0,
        )
    arrival = clock_in_verdict(start, facts.clock_in, grace_uses_before, policy) if facts.clock_in else None
    departure = clock_out_verdict(end, facts.clock_out, policy) if facts.clock_out else None
    closes = end + dt.timedelta(minutes=policy.clock_out.closes_after_end_minutes)
    if departure is None and now < closes:
        so_far: VerdictKind | None = None
        if arrival is None and now >= absence_threshold(start, policy):
            so_far = VerdictKind.ABSENT
        elif arrival is None and now >= grace_end(start, policy):
            so_far = VerdictKind.LATE
        return ShiftVerdict(
            facts,
            ShiftVerdictKind.IN_PROGRESS,
            (),
            arrival.articles if arrival else (),
            start,
            end,
            arrival=arrival,
            so_far=so_far,
            in_progress=1,
        )
    causes: list[Cause] = []
    articles: list[Article] = []
    counts = dict.fromkeys(
        (
            "on_time",
            "grace_uses",
            "late",
            "late_minutes",
            "seriously_late",
            "early_leave",
            "early_leave_minutes",
            "absent_half_days",
            "missed_punches",
            "overtime_units",
        ),
        0,
    )
    if arrival is None and departure is None:
        causes.append(Cause.NO_SHOW)
        articles.append(policy.attendance.article_absence)
        counts["absent_half_days"] = 2
    else:
        if arrival is None:
            causes.append(Cause.MISSED_CLOCK_IN)
            articles.append(policy.missed_punch.article_consequence)
            counts["seriously_late"] += 1
            counts["missed_punches"] += 1
        else:
            kind = arrival.kind
            counts["grace_uses"] += int(arrival.uses_grace)
            if kind is VerdictKind.GRACE:
                causes.append(Cause.GRACE)
            elif kind is VerdictKind.LATE:
                causes.append(Cause.LATE)
                counts["late"] += 1
                counts["late_minutes"] += arrival.minutes_late
            elif kind is VerdictKind.SERIOUSLY_LATE:
                causes.append(Cause.SERIOUSLY_LATE)
                counts["seriously_late"] += 1
                counts["late_minutes"] += arrival.minutes_late
            elif kind is VerdictKind.ABSENT:
                causes.append(Cause.ABSENT_LATE)  # an absence, not a late: its minutes are not late ones
                counts["absent_half_days"] += 1
            if kind is not VerdictKind.ON_TIME:
                articles.extend(arrival.articles)
        if departure is None:
            causes.append(Cause.MISSED_CLOCK_OUT)
            articles.append(policy.missed_punch.article_consequence)
            counts["early_leave"] += 1
            counts["missed_punches"] += 1
        else:
            counts["overtime_units"] += departure.overtime_units
            if departure.kind is VerdictKind.EARLY_LEAVE:
                causes.append(Cause.EARLY_LEAVE)
                counts["early_leave"] += 1
                counts["early_leave_minutes"] += departure.minutes_early
                articles.extend(departure.articles)
            elif departure.kind is VerdictKind.ABSENT:
                causes.append(Cause.ABSENT_EARLY)
                counts["absent_half_days"] += 1
                articles.extend(departure.articles)
    headline = next((k for c, k in _HEADLINE if c in causes), ShiftVerdictKind.ON_TIME)
    # 准时 is a shift's one verdict, not its clock-in: a shift left early is an early leave only, so the
    # verdict columns of a person's finished shifts add up to those shifts.
    counts["on_time"] = int(headline is ShiftVerdictKind.ON_TIME)
    warnings, demerits = _discipline(counts["absent_half_days"], policy)
    if warnings or demerits:
        articles.append(policy.attendance.article_absence_discipline)
    verdict = ShiftVerdict(
        facts,
        headline,
        tuple(causes),
        tuple(dict.fromkeys(articles)),
        start,
        end,
        arrival=arrival,
        departure=departure,
        shifts=1,
        worked=int(Cause.NO_SHOW not in causes),
        warnings=warnings,
        demerits=demerits,
        breaks_full_attendance=bool(
            counts["late"] + counts["seriously_late"] + counts["early_leave"] + counts["absent_half_days"]
        ),
        on_time=counts["on_time"],
        grace_uses=counts["grace_uses"],
        late=counts["late"],
        late_minutes=counts["late_minutes"],
        seriously_late=counts["seriously_late"],
        early_leave=counts["early_leave"],
        early_leave_minutes=counts["early_leave_minutes"],
        absent_half_days=counts["absent_half_days"],
        missed_punches=counts["missed_punches"],
        overtime_units=counts["overtime_units"],
    )
    if facts.correction is not None:
        return corrected(verdict, facts.correction, policy)
    return verdict


def judge_shifts(
    facts: Iterable[ShiftFacts], now: dt.datetime, policy: Policy, tz: ZoneInfo | None = None
) -> list[ShiftVerdict]:
    """Verdicts for many shifts, in (person, day) order, counting each person's grace uses per month.

    Pass every shift of each month from its first day, so that the fourth grace use is seen as late.
    """
    verdicts: list[ShiftVerdict] = []
    used: dict[tuple[str, int, int], int] = {}
    for f in sorted(facts, key=lambda f: (f.person_id, f.day)):
        key = (f.person_id, f.day.year, f.day.month)
        verdict = shift_verdict(f, used.get(key, 0), now, policy, tz)
        if verdict.arrival is not None and verdict.arrival.uses_grace:
            used[key] = used.get(key, 0) + 1
        verdicts.append(verdict)
    return verdicts
