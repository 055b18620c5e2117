"""Request checks the handlers need: swaps (第五章), leave (第六章) and escalation deadlines (第九章).

Each check returns every reason to refuse (with the article to quote), not just the first, plus who must
approve; the handler decides what to show. Nothing here stores state: monthly counts and hire dates come
from the caller.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo

from schedules.calendar import HolidayCalendar
from schedules.policy import LEVELS, Article, Level, Policy
from schedules.roster.checks import validate_roster
from schedules.roster.model import RosterEntry
from schedules.timeutil import local_instant, require_utc, shift_window

__all__ = [
    "EscalationDeadlines",
    "LeaveCheck",
    "Refusal",
    "SwapCheck",
    "SwapRequest",
    "apply_swap",
    "check_leave",
    "check_swap",
    "duty_supervisor_on",
    "escalation_deadlines",
    "next_level",
]

_REFUSAL_TEXT = {
    "new_hire": "{person} joined less than {days} days ago",
    "too_late": "swaps must be requested {hours} h before the earlier shift ({deadline})",
    "monthly_limit": "{person} already has {count} swaps this month (at most {limit})",
    "peak_sale": "swaps are suspended during {name}; only the manager can approve",
    "nothing_to_swap": "both sides are the same; nothing would change",
    "not_rostered": "{person} has no roster entry on {date}",
    "give_away_to_working": "{person} is already working on {date}",
    "after_swap": "after the swap: {detail}",
    "shift_started": "the shift has already started",
    "unknown_leave_type": "unknown leave type {code}",
    "notice": "{type} must be requested {days} days ahead (by {deadline})",
    "unit": "{type} is taken in units of {unit} day(s)",
    "peak_sale_leave": "{type} is not approved during {name} except by the manager",
    "bad_dates": "the leave ends before it starts",
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """One reason a request cannot go ahead as asked; ``code`` is stable for message catalogs."""

    code: str
    article: Article
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def message(self) -> str:
        """English text for logs and the English catalog's default."""
        return _REFUSAL_TEXT.get(self.code, self.code).format_map(defaultdict(str, self.params))


# ------------------------------------------------------------------------------------------------ swaps


@dataclass(frozen=True, slots=True)
class SwapRequest:
    """换班: exchange both people's entries on ``dates``; 替班 (give_away): ``requester``'s shift goes to
    ``partner``, who must be resting that day, and the requester rests."""

    requester: str
    partner: str
    dates: tuple[dt.date, ...]
    requested_at: dt.datetime
    kind: Literal["swap", "give_away"] = "swap"
    emergency: bool = False  # 第四十四条: reported by phone, supervisor consented


@dataclass(frozen=True, slots=True)
class SwapCheck:
    """The outcome of :func:`check_swap`."""

    refusals: tuple[Refusal, ...]
    approver: Level
    decide_by: dt.datetime | None  # 12 h after the request, but never after the first shift starts
    new_entries: tuple[RosterEntry, ...]  # the four (or two) entries after the swap

    @property
    def allowed(self) -> bool:
        """No reason to refuse (approval is still needed)."""
        return not self.refusals


def apply_swap(entries: Sequence[RosterEntry], request: SwapRequest) -> list[RosterEntry]:
    """The roster after the swap (entries not involved are unchanged); missing entries are left out."""
    index = {(e.person_id, e.date): e for e in entries}
    changed: dict[tuple[str, dt.date], RosterEntry] = {}
    a, b = request.requester, request.partner
    for day in request.dates:
        ea, eb = index.get((a, day)), index.get((b, day))
        if ea is None or eb is None:
            continue
        if request.kind == "swap":
            changed[(a, day)] = RosterEntry(a, day, eb.shift_code)
            changed[(b, day)] = RosterEntry(b, day, ea.shift_code)
        else:
            changed[(a, day)] = RosterEntry(a, day, None)
            changed[(b, day)] = RosterEntry(b, day, ea.shift_code)
    return [changed.get((e.person_id, e.date), e) for e in entries]


def check_swap(
    request: SwapRequest,
    entries: Sequence[RosterEntry],
    policy: Policy,
    *,
    tz: ZoneInfo | None = None,
    swaps_this_month: Mapping[str, int] | None = None,
    hired_on: Mapping[str, dt.date] | None = None,
    team_of: Mapping[str, str] | None = None,
    leads: Collection[str] = (),
) -> SwapCheck:
    """Check a swap against 第三十九至四十六条. Pass both people's entries for a week either side.

    ``leads``: people who are team leads or shift leads (their swaps go to the supervisor, 第四十一条).
    """
    tz = tz or policy.tz
    rules = policy.swaps
    now = require_utc(request.requested_at, "requested_at")
    people = (request.requester, request.partner)
    refusals: list[Refusal] = []
    index = {(e.person_id, e.date): e for e in entries}
    for person in people:
        for day in request.dates:
            if (person, day) not in index:
                refusals.append(
                    Refusal("not_rostered", rules.article_who, {"person": person, "date": str(day)})
                )
    involved = [index[(p, d)] for p in people for d in request.dates if (p, d) in index]
    before = {(e.person_id, e.date): e.shift_code for e in involved}
    if request.kind == "give_away":
        for day in request.dates:
            if before.get((request.partner, day)) is not None:
                refusals.append(
                    Refusal(
                        "give_away_to_working",
                        rules.article_who,
                        {"person": request.partner, "date": str(day)},
                    )
                )
    elif all(before.get((request.requester, d)) == before.get((request.partner, d)) for d in request.dates):
        refusals.append(Refusal("nothing_to_swap", rules.article_who))

    starts = [shift_window(e.date, policy.shift(e.shift_code), tz)[0] for e in involved if e.shift_code]
    first_start = min(starts) if starts else None
    if first_start is not None:
        if now >= first_start:
            refusals.append(Refusal("shift_started", rules.article_approval))
        elif not request.emergency and first_start - now < dt.timedelta(hours=rules.min_notice_hours):
            deadline = (first_start - dt.timedelta(hours=rules.min_notice_hours)).astimezone(tz)
            refusals.append(
                Refusal(
                    "too_late",
                    rules.article_notice,
                    {"hours": str(rules.min_notice_hours), "deadline": f"{deadline:%Y-%m-%d %H:%M}"},
                )
            )
    counts = swaps_this_month or {}
    for person in people:
        if counts.get(person, 0) >= rules.per_month:
            refusals.append(
                Refusal(
                    "monthly_limit",
                    rules.article_limit,
                    {"person": person, "count": str(counts[person]), "limit": str(rules.per_month)},
                )
            )
    today = now.astimezone(tz).date()
    for person, joined in (hired_on or {}).items():
        if person in people and (today - joined).days < rules.new_hire_days:
            refusals.append(
                Refusal("new_hire", rules.article_who, {"person": person, "days": str(rules.new_hire_days)})
            )
    after = apply_swap(entries, request)
    mine = [e for e in after if e.person_id in people]
    touched = set(request.dates)
    for v in validate_roster(mine, policy, tz=tz):
        if v.code in ("consecutive_days", "short_rest") and _near(v.date, touched, policy):
            refusals.append(Refusal("after_swap", rules.article_rest, {"detail": v.message, "rule": v.code}))
    peak = next((p for d in request.dates if (p := policy.peak_sale_on(d)) is not None), None)
    if peak is not None and rules.suspended_during_peak_sale:
        refusals.append(Refusal("peak_sale", rules.article_peak_sale, {"name": peak.name}))
    teams = team_of or {}
    cross_team = teams.get(request.requester) != teams.get(request.partner)
    approver: Level = "supervisor" if cross_team or any(p in leads for p in people) else "lead"
    if peak is not None and rules.suspended_during_peak_sale:
        approver = "manager"
    decide_by = now + dt.timedelta(hours=rules.approval_deadline_hours)
    if first_start is not None:
        decide_by = min(decide_by, first_start)
    new = tuple(e for e in after if e.person_id in people and e.date in touched)
    return SwapCheck(tuple(refusals), approver, decide_by, new)


def _near(day: dt.date, touched: set[dt.date], policy: Policy) -> bool:
    """A run or rest violation caused by the swap starts within a run's length of a changed day."""
    reach = policy.swaps.max_consecutive_days + 1
    return any(abs((day - t).days) <= reach for t in touched)


# ------------------------------------------------------------------------------------------------ leave


@dataclass(frozen=True, slots=True)
class LeaveCheck:
    """The outcome of :func:`check_leave`. Refusals with ``needs_manager`` may still go to the manager."""

    refusals: tuple[Refusal, ...]
    approver: Level
    days: float
    hr_filing: bool
    needs_manager: bool


def check_leave(
    leave_type: str,
    first_day: dt.date,
    days: float,
    requested_on: dt.date,
    policy: Policy,
    *,
    emergency: bool = False,
) -> LeaveCheck:
    """Check a leave request (第四十七至五十七条): notice, unit, peak-sale block, and who approves.

    ``days`` is the length in days (0.5 for half a day); ``requested_on`` the local date of the request.
    Sick and bereavement leave need no notice in days (sick leave: tell the lead 1 h before the shift,
    第五十条); ``emergency`` waives the notice for any type (第四十七条 "except in emergencies").
    """
    rules = policy.leave
    kind = rules.leave_type(leave_type)
    approver = rules.approver(days)
    if kind is None:
        return LeaveCheck(
            (Refusal("unknown_leave_type", rules.article_approval, {"code": leave_type}),),
            approver,
            days,
            False,
            False,
        )
    refusals: list[Refusal] = []
    if days <= 0:
        refusals.append(Refusal("bad_dates", kind.article))
    if kind.notice_days and not emergency:
        deadline = first_day - dt.timedelta(days=kind.notice_days)
        if requested_on > deadline:
            refusals.append(
                Refusal(
                    "notice",
                    kind.article,
                    {"type": kind.name_en, "days": str(kind.notice_days), "deadline": str(deadline)},
                )
            )
    if days > 0 and abs(days / kind.min_unit_days - round(days / kind.min_unit_days)) > 1e-9:
        refusals.append(
            Refusal("unit", kind.article, {"type": kind.name_en, "unit": f"{kind.min_unit_days:g}"})
        )
    last_day = first_day + dt.timedelta(days=max(0, int(-(-days // 1)) - 1))
    peak = next(
        (
            p
            for i in range((last_day - first_day).days + 1)
            if (p := policy.peak_sale_on(first_day + dt.timedelta(days=i)))
        ),
        None,
    )
    needs_manager = False
    if peak is not None and kind.blocked_during_peak_sale:
        refusals.append(
            Refusal("peak_sale_leave", rules.article_peak_sale, {"type": kind.name_en, "name": peak.name})
        )
        needs_manager = True
        approver = "manager"
    return LeaveCheck(tuple(refusals), approver, days, days > rules.hr_filing_days, needs_manager)


# ------------------------------------------------------------------------------------------- escalation


@dataclass(frozen=True, slots=True)
class EscalationDeadlines:
    """When the level must acknowledge (第八十三条) and give a resolution (第八十五条)."""

    level: Level
    respond_by: dt.datetime
    decide_by: dt.datetime
    articles: tuple[Article, ...]


def next_level(level: Level) -> Level | None:
    """The level an unacknowledged escalation moves to (第八十四条); None above the manager."""
    i = LEVELS.index(level)
    return LEVELS[i + 1] if i + 1 < len(LEVELS) else None


def escalation_deadlines(
    level: Level, received_at: dt.datetime, policy: Policy, tz: ZoneInfo | None = None
) -> EscalationDeadlines:
    """Deadlines for an escalation received now at ``level``; the manager decides before service hours end."""
    tz = tz or policy.tz
    rules = policy.escalation
    at = require_utc(received_at, "received_at")
    lv = rules.for_level(level)
    respond_by = at + dt.timedelta(minutes=lv.respond_minutes)
    if lv.decide_minutes is not None:
        decide_by = at + dt.timedelta(minutes=lv.decide_minutes)
    else:
        local = at.astimezone(tz)
        decide_by = local_instant(local.date(), policy.service_hours.end, tz)
        if decide_by <= at:  # received after hours: by the end of the next service day
            decide_by = local_instant(local.date() + dt.timedelta(days=1), policy.service_hours.end, tz)
    return EscalationDeadlines(level, respond_by, decide_by, (rules.article_respond, rules.article_decide))


def duty_supervisor_on(
    moment: dt.datetime, policy: Policy, calendar: HolidayCalendar | None = None, tz: ZoneInfo | None = None
) -> bool:
    """Whether supervisor-level escalations go to the duty supervisor now (18:00–23:00 and holidays)."""
    tz = tz or policy.tz
    local = require_utc(moment, "moment").astimezone(tz)
    if calendar is not None and calendar.is_holiday(local.date()):
        return True
    t = local.time()
    return policy.escalation.duty_supervisor_start <= t < policy.escalation.duty_supervisor_end
