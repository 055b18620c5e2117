"""Reminders as a pure function of time: what is due in (t0, t1] given the roster and punches so far.

The scheduler only wakes this up with consecutive windows; tests call it with a fake clock. Every reminder
has a stable ``key`` (kind, person, shift date, shift code, and lead minutes for pre-shift reminders): the
caller stores the key with the outbox message, so a restart or an overlapping window never sends one twice,
and a swap that changes someone's shift gives a new key for the new shift.

Instants come from :func:`schedules.timeutil.shift_window`, so a DST change never drops or doubles a
reminder: each (kind, shift) has exactly one due instant, and consecutive windows (t0, t1] never overlap.

Quiet hours (what was chosen and why):

* ``before_shift`` reminders are never sent inside quiet hours: one that would fall inside them moves to the
  end of quiet hours if that is still before the shift starts, otherwise to the minute before quiet hours
  begin (the evening before: "tomorrow you start at 07:00"). ``data["moved"]`` says so.
* ``grace_nudge`` and ``clock_out`` concern a shift the person is working right now, so they are sent at
  their time even inside quiet hours: the person is at work, not asleep.
* ``absence_alert`` goes to whoever follows the person up (their lead; a lead's supervisor): it is about a
  running shift, whose people are at work, so quiet hours never hold it. Only an alert that arrives inside
  quiet hours about a shift already over (the bot was down, or a shift shorter than the absence threshold) is
  held, by the caller, into one morning summary per recipient (:func:`held_by_quiet_hours`), unless
  ``reminders.absence_alert_urgent`` is set.

What a reminder says is computed from the moment it is sent (:func:`wording`), not from when it was due: a
pre-shift reminder says how many minutes are really left (or names the day when it goes out the evening
before), a grace nudge says what a clock-in *now* counts as, an absence alert counts the minutes since the
start or says the shift is over, and anything about another day than today names that day. A reminder with
nothing true and useful left to say is dropped (``wording`` returns None; the caller audits the drop).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo

from schedules.attendance import (
    VerdictKind,
    absence_threshold,
    clock_in_verdict,
    grace_end,
    minutes_after,
    worked_window,
)
from schedules.policy import Article, Policy, QuietHours
from schedules.roster.model import RosterEntry
from schedules.timeutil import local_instant, require_utc, shift_window

__all__ = [
    "Reminder",
    "ReminderKind",
    "Wording",
    "due_reminders",
    "held_by_quiet_hours",
    "reminder_key",
    "still_useful",
    "wording",
]


class ReminderKind(StrEnum):
    """The reminders the bot sends about shifts."""

    BEFORE_SHIFT = "before_shift"  # to the agent, lead time before the start
    GRACE_NUDGE = "grace_nudge"  # to the agent, when grace ends without a clock-in
    ABSENCE_ALERT = "absence_alert"  # to the lead, at the absence threshold without a clock-in
    CLOCK_OUT = "clock_out"  # to the agent at shift end: clock out, but stay while serving (第二十三条)


@dataclass(frozen=True, slots=True)
class Reminder:
    """One message to send. ``person_id`` is whose shift it is; ``recipient_id`` who gets it."""

    key: str
    kind: ReminderKind
    due_at: dt.datetime
    person_id: str
    recipient_id: str
    shift_date: dt.date
    shift_code: str
    shift_start: dt.datetime
    shift_end: dt.datetime
    useful_until: dt.datetime
    urgent: bool
    articles: tuple[Article, ...]
    data: Mapping[str, str | int | bool] = field(default_factory=dict, compare=False, hash=False)


def reminder_key(
    kind: ReminderKind | str,
    person_id: str,
    shift_date: dt.date,
    shift_code: str,
    lead_minutes: int | None = None,
    leave_half: str | None = None,
) -> str:
    """The idempotency key: same shift and kind, same key, across restarts and re-planning. Half a shift
    on leave is another shift to remind of (``day#am``): a half-day leave approved after a reminder for the
    whole shift went out still gets the reminders of the half that is worked."""
    code = f"{shift_code}#{leave_half}" if leave_half in ("am", "pm") else shift_code
    base = f"{kind}:{person_id}:{shift_date.isoformat()}:{code}"
    return f"{base}:{lead_minutes}" if lead_minutes is not None else base


@dataclass(frozen=True, slots=True)
class _Plan:
    """Due instants for one (date, shift code), shared by everyone on that shift."""

    start: dt.datetime
    end: dt.datetime
    before: tuple[tuple[int, dt.datetime, bool], ...]  # (lead minutes, due, moved)
    nudge: dt.datetime
    absence: dt.datetime


def _in_quiet(moment: dt.datetime, quiet: QuietHours | None, tz: ZoneInfo) -> bool:
    if quiet is None:
        return False
    return quiet.contains(moment.astimezone(tz).time())


def _quiet_bounds(moment: dt.datetime, quiet: QuietHours, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) instants of the quiet period containing ``moment``."""
    day = moment.astimezone(tz).date()
    for base in (day - dt.timedelta(days=1), day):
        start = local_instant(base, quiet.start, tz)
        end_day = base + dt.timedelta(days=1) if quiet.end <= quiet.start else base
        end = local_instant(end_day, quiet.end, tz)
        if start <= moment < end:
            return start, end
    raise AssertionError("moment is not inside quiet hours")  # pragma: no cover


def _plan(day: dt.date, code: str, policy: Policy, tz: ZoneInfo, leave_half: str | None = None) -> _Plan:
    start, end = worked_window(*shift_window(day, policy.shift(code), tz), leave_half)
    quiet = policy.reminders.quiet_hours
    before: list[tuple[int, dt.datetime, bool]] = []
    for lead in policy.reminders.before_start_minutes:
        due = start - dt.timedelta(minutes=lead)
        moved = False
        if quiet is not None and _in_quiet(due, quiet, tz):
            q_start, q_end = _quiet_bounds(due, quiet, tz)
            due = q_end if q_end < start else q_start - dt.timedelta(minutes=1)
            moved = True
        before.append((lead, due, moved))
    # quiet hours never move an absence alert: about a running shift it goes at once (the people concerned
    # are at work); about a shift already over, the caller holds it for the morning summary
    absence = absence_threshold(start, policy)
    return _Plan(start, end, tuple(before), grace_end(start, policy), absence)


def due_reminders(
    t0: dt.datetime,
    t1: dt.datetime,
    entries: Iterable[RosterEntry],
    punches: Iterable[tuple[str, dt.date, str] | tuple[str, dt.date, str, dt.datetime]],
    policy: Policy,
    tz: ZoneInfo | None = None,
    lead_of: Mapping[str, str] | None = None,
    *,
    excused: Collection[tuple[str, dt.date]] = (),
    half_leave: Mapping[tuple[str, dt.date], str] | None = None,
) -> list[Reminder]:
    """Reminders due in (t0, t1], ordered by due time then key.

    ``entries``: roster entries around the window (pass the day before t0 too, for overnight shifts and
    evening-before reminders, and the day after t1). ``punches``: (person, shift date, kind) of punches so
    far (a :class:`~schedules.attendance.PunchRecord` fits). ``lead_of``: person → lead who gets the absence
    alert (no alert without one). ``excused``: (person, date) on approved leave or otherwise not expected.
    ``half_leave``: (person, date) → "am" or "pm", the half of the shift on approved leave; the other half
    is reminded of as a shift of its own (:func:`schedules.attendance.worked_window`): a morning off is
    expected at the midpoint, an afternoon off is reminded to clock out at the midpoint.
    """
    start_window = require_utc(t0, "t0")
    end_window = require_utc(t1, "t1")
    if end_window <= start_window:
        return []
    tz = tz or policy.tz
    rules = policy.reminders
    punched = {(p[0], p[1], str(p[2])) for p in punches}
    excused_set = set(excused)
    halves = half_leave or {}
    leads = lead_of or {}
    plans: dict[tuple[dt.date, str, str | None], _Plan] = {}
    out: list[Reminder] = []
    article_in = rules.article_clock_in
    grace_articles = (policy.clock_in.article_grace, policy.clock_in.article_late)
    absence_articles = (policy.clock_in.article_late, policy.clock_in.article_absent)
    out_articles = (rules.article_stay_late, policy.overtime.article_unit)
    absence_useful = dt.timedelta(hours=rules.absence_alert_useful_hours)
    clock_out_useful = dt.timedelta(minutes=rules.clock_out_useful_minutes)

    def due(moment: dt.datetime) -> bool:
        return start_window < moment <= end_window

    for entry in entries:
        code = entry.shift_code
        if code is None:
            continue
        person, day = entry.person_id, entry.date
        if (person, day) in excused_set:
            continue
        half = halves.get((person, day))
        key_plan = (day, code, half)
        plan = plans.get(key_plan)
        if plan is None:
            plan = plans[key_plan] = _plan(day, code, policy, tz, half)
        extra: dict[str, str | int | bool] = {"leave_half": half} if half else {}
        # cheap reject: nothing of this shift can be due in the window
        earliest = min([plan.nudge, *(b[1] for b in plan.before)])
        latest = max(plan.end, plan.absence)
        if latest <= start_window or earliest > end_window:
            continue
        clocked_in = (person, day, "clock_in") in punched
        clocked_out = (person, day, "clock_out") in punched
        if not clocked_in:
            for lead, when, moved in plan.before:
                if due(when):
                    out.append(
                        Reminder(
                            reminder_key(ReminderKind.BEFORE_SHIFT, person, day, code, lead, half),
                            ReminderKind.BEFORE_SHIFT,
                            when,
                            person,
                            person,
                            day,
                            code,
                            plan.start,
                            plan.end,
                            plan.start,
                            False,
                            (article_in,),
                            {"lead_minutes": lead, "moved": moved, **extra},
                        )
                    )
            if rules.nudge_after_grace and due(plan.nudge):
                out.append(
                    Reminder(
                        reminder_key(ReminderKind.GRACE_NUDGE, person, day, code, None, half),
                        ReminderKind.GRACE_NUDGE,
                        plan.nudge,
                        person,
                        person,
                        day,
                        code,
                        plan.start,
                        plan.end,
                        min(plan.absence, plan.end),
                        False,
                        grace_articles,
                        {"grace_minutes": policy.clock_in.grace_minutes, **extra},
                    )
                )
            lead_id = leads.get(person)
            if rules.lead_alert_at_absence and lead_id and due(plan.absence):
                out.append(
                    Reminder(
                        reminder_key(ReminderKind.ABSENCE_ALERT, person, day, code, None, half),
                        ReminderKind.ABSENCE_ALERT,
                        plan.absence,
                        person,
                        lead_id,
                        day,
                        code,
                        plan.start,
                        plan.end,
                        max(plan.end, plan.absence) + absence_useful,
                        rules.absence_alert_urgent,
                        absence_articles,
                        {"minutes": policy.clock_in.seriously_late_max_minutes, **extra},
                    )
                )
        elif rules.clock_out_at_end and not clocked_out and due(plan.end):
            out.append(
                Reminder(
                    reminder_key(ReminderKind.CLOCK_OUT, person, day, code, None, half),
                    ReminderKind.CLOCK_OUT,
                    plan.end,
                    person,
                    person,
                    day,
                    code,
                    plan.start,
                    plan.end,
                    plan.end + clock_out_useful,
                    False,
                    out_articles,
                    {"stay_if_serving": True, **extra},
                )
            )
    out.sort(key=lambda r: (r.due_at, r.key))
    return out


def still_useful(reminder: Reminder, now: dt.datetime) -> bool:
    """Whether a reminder is still worth sending at ``now`` (``useful_until`` is the first instant it is not).

    A pre-shift reminder is useful until the shift starts; a grace nudge while a clock-in would still count
    as late or seriously late (from the absence threshold on, the lead's alert takes over, 第三十条); a
    lead's absence alert for ``absence_alert_useful_hours`` after the shift; a clock-out reminder for
    ``clock_out_useful_minutes`` after the end. Re-plan with current punches first: someone who has since
    clocked in gets no nudge because :func:`due_reminders` no longer returns it.
    """
    return require_utc(now, "now") < reminder.useful_until


@dataclass(frozen=True, slots=True)
class Wording:
    """What a reminder says when sent at a given moment: a catalog key and the numbers it shows.

    ``minutes``: minutes left before the start (pre-shift), minutes since the start (nudge, alert).
    ``counts_as``: for a grace nudge, what a clock-in at that moment counts as (``late``,
    ``seriously_late``). ``names_day``: the sentence names the shift's day (it is not today's).
    """

    key: str
    minutes: int = 0
    counts_as: str | None = None
    names_day: bool = False


SOON_MINUTES = 60
"""A pre-shift reminder counts the minutes left up to this; further ahead it names the start time."""


def wording(
    reminder: Reminder, now: dt.datetime, policy: Policy, tz: ZoneInfo | None = None
) -> Wording | None:
    """The sentence a reminder gets when it is sent at ``now``, or None when nothing true and useful is left.

    The caller renders the key with the numbers; a key ending in ``_past`` names the shift's day because
    ``now`` is on another local day than the shift's start.
    """
    moment = require_utc(now, "now")
    if not still_useful(reminder, moment):
        return None
    tz = tz or policy.tz
    other_day = moment.astimezone(tz).date() != reminder.shift_date
    past = "_past" if other_day else ""
    kind = reminder.kind
    if kind is ReminderKind.BEFORE_SHIFT:
        left = minutes_after(moment, reminder.shift_start, policy)
        if left <= 0:
            return None
        if other_day:  # moved out of quiet hours to the evening before: "tomorrow's shift", with its date
            return Wording("remind.before_shift_day", left, names_day=True)
        if left > SOON_MINUTES:
            return Wording("remind.before_shift_today", left)
        return Wording("remind.before_shift", left)
    if kind is ReminderKind.GRACE_NUDGE:
        if moment >= reminder.shift_end:
            return None
        # no grace use applies any more (the nudge comes after grace): what would a clock-in now be?
        uses = policy.clock_in.grace_uses_per_month
        verdict = clock_in_verdict(reminder.shift_start, moment, uses, policy)
        if verdict.kind not in (VerdictKind.LATE, VerdictKind.SERIOUSLY_LATE):
            return None
        return Wording(f"remind.grace_nudge{past}", verdict.minutes_late, verdict.kind.value, other_day)
    if kind is ReminderKind.ABSENCE_ALERT:
        if moment >= reminder.shift_end:
            return Wording("remind.absence_alert_ended", names_day=True)
        late = minutes_after(reminder.shift_start, moment, policy)
        return Wording(f"remind.absence_alert{past}", late, names_day=other_day)
    if minutes_after(reminder.shift_end, moment, policy) > 0:
        return Wording(f"remind.clock_out_late{past}", names_day=other_day)
    return Wording(f"remind.clock_out{past}", names_day=other_day)


def held_by_quiet_hours(
    reminder: Reminder, now: dt.datetime, policy: Policy, tz: ZoneInfo | None = None
) -> bool:
    """Whether quiet hours hold this reminder at ``now`` for the recipient's morning summary.

    Only a lead's alert about a shift that is already over: an alert about a running shift concerns people
    at work and goes at once, and reminders to the person themselves are timed by :func:`due_reminders`.
    """
    quiet = policy.reminders.quiet_hours
    moment = require_utc(now, "now")
    return (
        reminder.kind is ReminderKind.ABSENCE_ALERT
        and quiet is not None
        and not reminder.urgent
        and moment >= reminder.shift_end
        and _in_quiet(moment, quiet, tz or policy.tz)
    )
