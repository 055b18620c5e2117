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
  running shift, whose people are at work, so quiet hours never hold it; only an alert about a shift already
  over when it falls due would wait for their end (unless ``reminders.absence_alert_urgent`` is set).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo

from schedules.attendance import absence_threshold, grace_end
from schedules.policy import Article, Policy, QuietHours
from schedules.roster.model import RosterEntry
from schedules.timeutil import local_instant, require_utc, shift_window

__all__ = ["Reminder", "ReminderKind", "due_reminders", "reminder_key", "still_useful"]


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
) -> str:
    """The idempotency key: same shift and kind, same key, across restarts and re-planning."""
    base = f"{kind}:{person_id}:{shift_date.isoformat()}:{shift_code}"
    return f"{base}:{lead_minutes}" if lead_minutes is not None else base


@dataclass(frozen=True, slots=True)
class _Plan:
    """Due instants for one (date, shift code), shared by everyone on that shift."""

    start: dt.datetime
    end: dt.datetime
    before: tuple[tuple[int, dt.datetime, bool], ...]  # (lead minutes, due, moved)
    nudge: dt.datetime
    absence: dt.datetime
    absence_moved: bool


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


def _plan(day: dt.date, code: str, policy: Policy, tz: ZoneInfo) -> _Plan:
    start, end = shift_window(day, policy.shift(code), tz)
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
    absence = absence_threshold(start, policy)
    absence_moved = False
    # quiet hours never hold an alert about a shift that is running: the people concerned are at work
    held = absence >= end and not policy.reminders.absence_alert_urgent
    if quiet is not None and held and _in_quiet(absence, quiet, tz):
        absence = _quiet_bounds(absence, quiet, tz)[1]
        absence_moved = True
    return _Plan(start, end, tuple(before), grace_end(start, policy), absence, absence_moved)


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
) -> list[Reminder]:
    """Reminders due in (t0, t1], ordered by due time then key.

    ``entries``: roster entries around the window (pass the day before t0 too, for overnight shifts and
    evening-before reminders, and the day after t1). ``punches``: (person, shift date, kind) of punches so
    far (a :class:`~schedules.attendance.PunchRecord` fits). ``lead_of``: person → lead who gets the absence
    alert (no alert without one). ``excused``: (person, date) on approved leave or otherwise not expected.
    """
    start_window = require_utc(t0, "t0")
    end_window = require_utc(t1, "t1")
    if end_window <= start_window:
        return []
    tz = tz or policy.tz
    rules = policy.reminders
    punched = {(p[0], p[1], str(p[2])) for p in punches}
    excused_set = set(excused)
    leads = lead_of or {}
    plans: dict[tuple[dt.date, str], _Plan] = {}
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
        key_plan = (day, code)
        plan = plans.get(key_plan)
        if plan is None:
            plan = plans[key_plan] = _plan(day, code, policy, tz)
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
                            reminder_key(ReminderKind.BEFORE_SHIFT, person, day, code, lead),
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
                            {"lead_minutes": lead, "moved": moved},
                        )
                    )
            if rules.nudge_after_grace and due(plan.nudge):
                out.append(
                    Reminder(
                        reminder_key(ReminderKind.GRACE_NUDGE, person, day, code),
                        ReminderKind.GRACE_NUDGE,
                        plan.nudge,
                        person,
                        person,
                        day,
                        code,
                        plan.start,
                        plan.end,
                        plan.end,
                        False,
                        grace_articles,
                        {"grace_minutes": policy.clock_in.grace_minutes},
                    )
                )
            lead_id = leads.get(person)
            if rules.lead_alert_at_absence and lead_id and due(plan.absence):
                out.append(
                    Reminder(
                        reminder_key(ReminderKind.ABSENCE_ALERT, person, day, code),
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
                        {"minutes": policy.clock_in.seriously_late_max_minutes, "moved": plan.absence_moved},
                    )
                )
        elif rules.clock_out_at_end and not clocked_out and due(plan.end):
            out.append(
                Reminder(
                    reminder_key(ReminderKind.CLOCK_OUT, person, day, code),
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
                    {"stay_if_serving": True},
                )
            )
    out.sort(key=lambda r: (r.due_at, r.key))
    return out


def still_useful(reminder: Reminder, now: dt.datetime) -> bool:
    """Whether a reminder missed while the bot was down is still worth sending at ``now``.

    A pre-shift reminder after the shift started is not; a grace nudge is until the shift ends; a lead's
    absence alert for ``absence_alert_useful_hours`` after the shift; a clock-out reminder for
    ``clock_out_useful_minutes`` after the end. Re-plan with current punches first: someone who has since
    clocked in gets no nudge because :func:`due_reminders` no longer returns it.
    """
    return require_utc(now, "now") <= reminder.useful_until
