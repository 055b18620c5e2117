"""Deskmate's pure domain layer for shifts and attendance: policy, roster, verdicts, reminders, reports.

Nothing here touches a database or the network; file access happens only in the explicit load/write
functions. Instants are aware UTC datetimes; roster dates and shift times are local to ``Policy.timezone``.
"""

from schedules.attendance import (
    MatchedShift,
    PunchKind,
    PunchRecord,
    ShiftFacts,
    ShiftVerdict,
    ShiftVerdictKind,
    Verdict,
    VerdictKind,
    check_missed_punch,
    clock_in_verdict,
    clock_out_verdict,
    judge_shifts,
    match_shift,
    missed_punch_deadline,
    shift_verdict,
)
from schedules.calendar import HolidayCalendar, add_workdays, is_workday, load_holidays
from schedules.policy import Article, Policy, PolicyError, default_policy, load_policy
from schedules.reminders import Reminder, ReminderKind, due_reminders, still_useful
from schedules.requests import (
    Refusal,
    check_leave,
    check_swap,
    escalation_deadlines,
    pick_decider,
)
from schedules.roster.checks import RosterViolation, validate_roster
from schedules.roster.export import write_roster_csv
from schedules.roster.generator import RosterGenerationError, generate_roster
from schedules.roster.importing import parse_roster
from schedules.roster.model import RosterEntry, RosterError, RosterProblem
from schedules.timeutil import local_date, month_bounds, shift_window

__all__ = [
    "Article",
    "HolidayCalendar",
    "MatchedShift",
    "Policy",
    "PolicyError",
    "PunchKind",
    "PunchRecord",
    "Refusal",
    "Reminder",
    "ReminderKind",
    "RosterEntry",
    "RosterError",
    "RosterGenerationError",
    "RosterProblem",
    "RosterViolation",
    "ShiftFacts",
    "ShiftVerdict",
    "ShiftVerdictKind",
    "Verdict",
    "VerdictKind",
    "add_workdays",
    "check_leave",
    "check_missed_punch",
    "check_swap",
    "clock_in_verdict",
    "clock_out_verdict",
    "default_policy",
    "due_reminders",
    "escalation_deadlines",
    "generate_roster",
    "is_workday",
    "judge_shifts",
    "load_holidays",
    "load_policy",
    "local_date",
    "match_shift",
    "missed_punch_deadline",
    "month_bounds",
    "parse_roster",
    "pick_decider",
    "shift_verdict",
    "shift_window",
    "still_useful",
    "validate_roster",
    "write_roster_csv",
]
