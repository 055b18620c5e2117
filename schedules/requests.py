"""Every handbook rule about requests, once, as pure functions over plain data.

Swaps and give-aways (第三十九至四十六条), leave (第六章), who decides (第七条, 第四十一条, 第四十八条) and
escalation deadlines (第九章). Handlers gather the facts (the roster around the days involved, the org chart,
the policy, existing requests, now), call a rule here and render what it returns; a rule that says no raises
:class:`Refusal`, which carries the catalog key and the article to quote.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from schedules.calendar import HolidayCalendar
from schedules.policy import Article, LeaveType, Level, Policy
from schedules.roster.checks import validate_roster
from schedules.roster.model import RosterEntry
from schedules.timeutil import local_instant, require_utc, shift_window

__all__ = [
    "DECIDER_LEVELS",
    "Cells",
    "Chart",
    "Decider",
    "EscalationDeadlines",
    "LeavePlan",
    "Member",
    "OpenRequest",
    "Refusal",
    "SwapKind",
    "SwapPlan",
    "category_from_words",
    "check_leave",
    "check_swap",
    "decider_chain",
    "escalation_deadlines",
    "leave_days",
    "may_decide",
    "pick_decider",
    "swap_changes",
]

Cells = Mapping[tuple[str, dt.date], str | None]
"""Roster cells: (person, local date) → shift code, or None for a rest day; a missing key is no entry."""

SwapKind = Literal["swap", "give_away"]
DeciderLevel = Literal["lead", "supervisor", "manager", "last_resort"]
DECIDER_LEVELS: tuple[DeciderLevel, ...] = ("lead", "supervisor", "manager", "last_resort")
_ROLE_RANK = {"agent": 0, "lead": 1, "supervisor": 2, "manager": 3, "admin": 4}


class Refusal(Exception):
    """The one way a rule says no: ``key`` names the catalog sentence, ``article`` the article it quotes,
    ``fields`` fill the sentence."""

    def __init__(self, key: str, article: Article | None = None, **fields: Any) -> None:
        super().__init__(key)
        self.key = key
        self.article = article
        self.fields = fields


# ------------------------------------------------------------------------------------------------ org


@dataclass(frozen=True, slots=True)
class Member:
    """A person as the rules see them."""

    id: str
    name: str
    role: str
    team: str | None = None
    joined_on: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Chart:
    """The org chart: people, each team's lead and supervisor, and the approver of last resort (the org
    file's ``approver_of_last_resort``, else the ``admin`` with the lowest id; None when the org has
    neither)."""

    people: Mapping[str, Member]
    team_lead: Mapping[str, str | None] = field(default_factory=dict)
    team_supervisor: Mapping[str, str | None] = field(default_factory=dict)
    last_resort: str | None = None

    @property
    def manager(self) -> str | None:
        """The department's manager (第七条: one); the lowest id when an org lists several."""
        ids = sorted(p.id for p in self.people.values() if p.role == "manager")
        return ids[0] if ids else None


def decider_chain(person_id: str, chart: Chart) -> list[tuple[DeciderLevel, str]]:
    """Everyone above a person in their own chain, nearest first: team lead, team supervisor, manager,
    approver of last resort. Only levels above the person's own rank are listed (第七条)."""
    person = chart.people.get(person_id)
    if person is None:
        return []
    rank = _ROLE_RANK.get(person.role, 0)
    chain: list[tuple[DeciderLevel, str]] = []
    team = person.team
    lead = chart.team_lead.get(team) if team else None
    supervisor = chart.team_supervisor.get(team) if team else None
    if rank < _ROLE_RANK["lead"] and lead:
        chain.append(("lead", lead))
    if rank < _ROLE_RANK["supervisor"] and supervisor:
        chain.append(("supervisor", supervisor))
    manager = chart.manager
    if rank < _ROLE_RANK["manager"] and manager:
        chain.append(("manager", manager))
    if chart.last_resort:
        chain.append(("last_resort", chart.last_resort))
    seen: set[str] = {person_id}
    result = []
    for level, pid in chain:
        if pid not in seen and pid in chart.people:
            seen.add(pid)
            result.append((level, pid))
    return result


@dataclass(frozen=True, slots=True)
class Decider:
    """Who decides, everyone above them who may also decide, who was passed over and why, and who is
    told (the other team's lead of a cross-team request)."""

    level: DeciderLevel
    person_id: str
    above: tuple[str, ...]
    passed_over: tuple[tuple[str, str], ...] = ()
    told: tuple[str, ...] = ()


def pick_decider(
    requester: str,
    needed: Level,
    chart: Chart,
    *,
    colleague: str | None = None,
    away: Mapping[str, str] | None = None,
) -> Decider:
    """The decider of a request: in the requester's own chain, at least one level above them and at least
    at the policy's ``needed`` level; for a request with a colleague of another team, the lowest superior
    both chains share (both teams' leads are told). Someone ``away`` (person → "leave" or "off") is passed
    over to the next level. Raises ``request.refused.no_decider`` when the chain has nobody left."""
    away = away or {}
    chain = decider_chain(requester, chart)
    told: list[str] = []
    if colleague is not None:
        other = {pid for _, pid in decider_chain(colleague, chart)}
        theirs = chart.people.get(colleague)
        mine = chart.people.get(requester)
        if theirs is not None and mine is not None and theirs.team != mine.team:
            chain = [(lv, pid) for lv, pid in chain if pid in other]
            told = [
                lead
                for team in (mine.team, theirs.team)
                if team and (lead := chart.team_lead.get(team)) and lead not in (requester, colleague)
            ]
        else:
            chain = [(lv, pid) for lv, pid in chain if pid != colleague]
    floor = DECIDER_LEVELS.index(needed)
    candidates = [(lv, pid) for lv, pid in chain if DECIDER_LEVELS.index(lv) >= floor]
    if not candidates:
        raise Refusal("request.refused.no_decider")
    passed: list[tuple[str, str]] = []
    chosen = candidates[-1]
    for index, (level, pid) in enumerate(candidates):
        if pid in away and index < len(candidates) - 1:
            passed.append((pid, away[pid]))
            continue
        chosen = (level, pid)
        break
    position = candidates.index(chosen)
    # Those above may decide too, except the approver of last resort, who decides only what is theirs.
    above = tuple(pid for lv, pid in candidates[position + 1 :] if lv != "last_resort")
    return Decider(chosen[0], chosen[1], above, tuple(passed), tuple(t for t in told if t != chosen[1]))


def may_decide(
    presser: str, requester: str, subject: str | None, decider: str | None, above: Sequence[str]
) -> bool:
    """Only the decider or someone above them in the requester's chain may decide; never the requester
    or the colleague of a swap."""
    if presser in (requester, subject):
        return False
    return presser == decider or presser in above


# ------------------------------------------------------------------------------------------------ swaps


@dataclass(frozen=True, slots=True)
class OpenRequest:
    """A live or approved request the rules must not collide with."""

    id: int
    kind: str
    people: frozenset[str]
    days: frozenset[dt.date]
    state: str


@dataclass(frozen=True, slots=True)
class SwapPlan:
    """What an accepted swap or give-away will change, who must approve it and until when."""

    changes: Mapping[tuple[str, dt.date], str | None]
    shift: str
    their_shift: str | None
    level: Level
    first_start: dt.datetime


def swap_changes(
    kind: SwapKind, requester: str, colleague: str, day: dt.date, their_day: dt.date | None, cells: Cells
) -> dict[tuple[str, dt.date], str | None]:
    """Exactly the cells the card names. A give-away moves one shift: the colleague takes it, the requester
    rests. A same-day swap exchanges the two shifts. A swap across two days moves each shift to the other
    person: the colleague works the requester's shift on ``day``, the requester the colleague's on
    ``their_day``; each rests where they gave their shift away."""
    mine = cells.get((requester, day))
    if kind == "give_away" or their_day is None:
        return {(requester, day): None, (colleague, day): mine}
    theirs = cells.get((colleague, their_day))
    if their_day == day:
        return {(requester, day): theirs, (colleague, day): mine}
    return {
        (requester, day): None,
        (colleague, day): mine,
        (colleague, their_day): None,
        (requester, their_day): theirs,
    }


def _rest_problems(cells: Cells, people: Iterable[str], policy: Policy) -> set[tuple[str, str, str, str]]:
    """第四十三条 on these people's cells: (code, person, date, detail) of each run or rest problem."""
    entries = [RosterEntry(p, d, code) for (p, d), code in cells.items() if p in set(people)]
    limits = policy.roster.model_copy(
        update={
            "max_consecutive_days": policy.swaps.max_consecutive_days,
            "min_rest_hours": policy.swaps.min_rest_hours,
        }
    )
    checked = policy.model_copy(update={"roster": limits})
    return {
        (v.code, v.person_id or "", v.date.isoformat(), v.params.get("days", v.params.get("hours", "")))
        for v in validate_roster(entries, checked)
        if v.code in ("consecutive_days", "short_rest")
    }


def check_swap(
    kind: SwapKind,
    requester: Member,
    colleague: Member,
    day: dt.date,
    their_day: dt.date | None,
    now: dt.datetime,
    cells: Cells,
    policy: Policy,
    *,
    swaps_this_month: Mapping[str, int],
    open_requests: Collection[OpenRequest] = (),
    urgent: bool = False,
    card: tuple[str, str | None] | None = None,
) -> SwapPlan:
    """Every refusal 第三十九至四十六条 name, checked on the roster as it would be afterwards.

    ``cells`` must hold both people's roster for the days involved and a run's length either side.
    ``card``: the check at approval time of a request whose card names these shifts (mine, theirs): the
    roster as it is at the press must still hold them, and what only applies when asking (who may ask, the
    notice period) is not asked again; the request itself is left out of ``open_requests`` and the counts
    by the caller.
    """
    rules = policy.swaps
    now = require_utc(now, "now")
    tz = policy.tz
    approving = card is not None
    if colleague.id == requester.id:
        raise Refusal("swap.refused.self")
    if colleague.role not in ("agent", "lead"):
        raise Refusal("swap.refused.not_rostered", name=colleague.name)
    if (
        not approving
        and requester.joined_on is not None
        and (now.astimezone(tz).date() - requester.joined_on).days < rules.new_hire_days
    ):
        raise Refusal("swap.refused.new_hire", rules.article_who)
    days = {day, their_day or day}
    for other in sorted(open_requests, key=lambda r: r.id):
        live = other.kind in ("swap", "give_away") and other.state != "approved"
        if live and other.people & {requester.id, colleague.id} and other.days & days:
            raise Refusal("swap.refused.overlap", id=other.id)
    if card is not None:
        _card_holds(kind, requester, colleague, day, their_day, card, cells, rules.article_approval)
    mine = cells.get((requester.id, day))
    if mine is None:
        raise Refusal("swap.refused.no_shift", day=f"{day:%m-%d}")
    their_shift: str | None = None
    if kind == "swap":
        assert their_day is not None
        their_shift = cells.get((colleague.id, their_day))
        if their_shift is None:
            raise Refusal(
                "swap.refused.colleague_no_shift",
                rules.article_who,
                name=colleague.name,
                day=f"{their_day:%m-%d}",
            )
        if their_day == day and their_shift == mine:
            raise Refusal("swap.refused.same_shift", name=colleague.name)
    moves_in = kind == "give_away" or their_day != day
    if moves_in and (colleague.id, day) not in cells:
        raise Refusal("swap.refused.not_rostered", name=colleague.name)
    if moves_in and cells.get((colleague.id, day)) is not None:
        raise Refusal(
            "swap.refused.colleague_busy", rules.article_rest, name=colleague.name, day=f"{day:%m-%d}"
        )
    if kind == "swap" and their_day is not None and their_day != day and cells.get((requester.id, their_day)):
        raise Refusal("swap.refused.requester_busy", rules.article_rest, day=f"{their_day:%m-%d}")
    starts = [shift_window(day, policy.shift(mine), tz)[0]]
    if their_shift is not None and their_day is not None:
        starts.append(shift_window(their_day, policy.shift(their_shift), tz)[0])
    first_start = min(starts)
    if approving and first_start <= now:
        raise Refusal("swap.refused.started", rules.article_approval)
    if not approving and first_start - now < dt.timedelta(hours=rules.min_notice_hours):
        raise Refusal("swap.refused.notice", rules.article_notice, hours=rules.min_notice_hours)
    for person in (requester, colleague):
        if swaps_this_month.get(person.id, 0) >= rules.per_month:
            raise Refusal(
                "swap.refused.monthly", rules.article_limit, name=person.name, limit=rules.per_month
            )
    changes = swap_changes(kind, requester.id, colleague.id, day, their_day, cells)
    after = {**cells, **changes}
    pair = (requester.id, colleague.id)
    new = _rest_problems(after, pair, policy) - _rest_problems(cells, pair, policy)
    for code, person_id, _, _ in sorted(new):
        name = requester.name if person_id == requester.id else colleague.name
        if code == "consecutive_days":
            raise Refusal(
                "swap.refused.consecutive", rules.article_rest, days=rules.max_consecutive_days, person=name
            )
        raise Refusal("swap.refused.rest", rules.article_rest, hours=rules.min_rest_hours, person=name)
    level: Level = (
        "lead"
        if requester.team == colleague.team and "lead" not in (requester.role, colleague.role)
        else "supervisor"
    )
    peak = policy.peak_sale_on(day) or (policy.peak_sale_on(their_day) if their_day else None)
    if peak is not None and rules.suspended_during_peak_sale:
        if not urgent:
            raise Refusal("swap.refused.peak_sale", rules.article_peak_sale, name=peak.name)
        level = "manager"
    return SwapPlan(changes, mine, their_shift, level, first_start)


def _card_holds(
    kind: SwapKind,
    requester: Member,
    colleague: Member,
    day: dt.date,
    their_day: dt.date | None,
    card: tuple[str, str | None],
    cells: Cells,
    article: Article,
) -> None:
    """The cells the card names still hold what the card says (第四十一条: what is approved is what was
    asked): each person's shift given away, and the colleague free where they take one."""
    mine, theirs = card
    expected: list[tuple[Member, dt.date, str | None]] = [(requester, day, mine)]
    if kind == "swap" and their_day is not None:
        expected.append((colleague, their_day, theirs))
    for person, when, code in expected:
        if cells.get((person.id, when)) != code:
            raise Refusal(
                "swap.refused.changed",
                article,
                name=person.name,
                day=f"{when:%m-%d}",
            )
    moves_in = kind == "swap" and their_day is not None and their_day != day
    if moves_in and their_day is not None and cells.get((requester.id, their_day)) is not None:
        raise Refusal("swap.refused.changed_busy", article, name=requester.name, day=f"{their_day:%m-%d}")


# ------------------------------------------------------------------------------------------------ leave


def leave_days(
    person: str,
    start: dt.date,
    end: dt.date,
    cells: Cells,
    calendar: HolidayCalendar | None = None,
) -> list[dt.date]:
    """The days a leave really takes, as HR counts them: days the person is rostered to work. A rest day
    is not counted; a day with no roster entry counts unless it is a public holiday."""
    taken = []
    day = start
    while day <= end:
        if (person, day) in cells:
            if cells[(person, day)] is not None:
                taken.append(day)
        elif calendar is None or not calendar.is_holiday(day):
            taken.append(day)
        day += dt.timedelta(days=1)
    return taken


@dataclass(frozen=True, slots=True)
class LeavePlan:
    """What a leave request takes and who decides it."""

    days: float
    work_days: tuple[dt.date, ...]
    level: Level
    late_notice: bool
    peak_sale: str | None
    first_start: dt.datetime | None


MAX_LEAVE_DAYS = 180


def check_leave_notice(leave_type: LeaveType, start: dt.date, today: dt.date) -> None:
    """The notice a leave type needs (事假 3 days ahead, 年假 7, …), which the first day alone decides: the
    form asks it at the start date, so a too-near day is asked again before the rest is filled in."""
    if leave_type.notice_days and (start - today).days < leave_type.notice_days:
        raise Refusal("leave.refused.notice", leave_type.article, days=leave_type.notice_days)


def check_leave(
    person: str,
    leave_type: LeaveType,
    start: dt.date,
    end: dt.date,
    now: dt.datetime,
    cells: Cells,
    policy: Policy,
    *,
    half_day: bool = False,
    afternoon: bool = False,
    calendar: HolidayCalendar | None = None,
    own_requests: Collection[OpenRequest] = (),
    card_days: float | None = None,
) -> LeavePlan:
    """第四十七至五十七条: dates in order, notice per type, days counted on the roster (rest days and
    holidays not counted; half a day where the type's unit allows), no overlap with one's own pending or
    approved leave, the approver tier from the counted days, the peak-sale block.

    ``afternoon``: a half day taken in the second half of the shift, which starts at its midpoint (what
    the notice, the expiry and the started check count from).

    ``card_days``: the check at approval time of a request whose card says this many days: the notice
    period is not asked again (it applies when asking), the request itself is left out of
    ``own_requests`` by the caller, and a roster that now gives another count refuses (the card would
    no longer say what is approved)."""
    now = require_utc(now, "now")
    tz = policy.tz
    rules = policy.leave
    today = now.astimezone(tz).date()
    if end < start:
        raise Refusal("leave.refused.order")
    if (end - start).days + 1 > MAX_LEAVE_DAYS:
        raise Refusal("leave.refused.too_long", days=MAX_LEAVE_DAYS)
    if half_day and leave_type.min_unit_days > 0.5:
        raise Refusal("leave.refused.unit", leave_type.article, unit=f"{leave_type.min_unit_days:g}")
    if half_day and start != end:
        raise Refusal("leave.refused.half_one_day")
    approving = card_days is not None
    if not approving:
        check_leave_notice(leave_type, start, today)
    for other in sorted(own_requests, key=lambda r: r.id):
        if other.kind == "leave" and person in other.people and other.days & _span(start, end):
            raise Refusal("leave.refused.overlap", id=other.id)
    work = leave_days(person, start, end, cells, calendar)
    if not work:
        raise Refusal(
            "leave.refused.rest_days_only", rules.article_approval, start=f"{start:%m-%d}", end=f"{end:%m-%d}"
        )
    days = 0.5 if half_day else float(len(work))
    if card_days is not None and days != card_days:
        raise Refusal("leave.refused.changed", rules.article_approval, was=f"{card_days:g}", now=f"{days:g}")
    first_start: dt.datetime | None = None
    for d in work:
        code = cells.get((person, d))
        if code is not None:
            begins, ends = shift_window(d, policy.shift(code), tz)
            # An afternoon off starts at the shift's midpoint, as attendance splits it.
            first_start = begins + (ends - begins) / 2 if half_day and afternoon else begins
            break
    if first_start is None:
        first_start = local_instant(work[0], dt.time(0), tz)
    if first_start <= now and not leave_type.notice_hours_before_shift:
        raise Refusal("leave.refused.started", policy.leave.article_approval)
    late_notice = bool(
        leave_type.notice_hours_before_shift
        and first_start - now < dt.timedelta(hours=leave_type.notice_hours_before_shift)
    )
    level: Level = rules.approver(days)
    peak = next((p for d in work if (p := policy.peak_sale_on(d)) is not None), None)
    if peak is not None and leave_type.blocked_during_peak_sale:
        level = "manager"
    return LeavePlan(days, tuple(work), level, late_notice, peak.name if peak else None, first_start)


def _span(start: dt.date, end: dt.date) -> frozenset[dt.date]:
    return frozenset(start + dt.timedelta(days=i) for i in range((end - start).days + 1))


# ------------------------------------------------------------------------------------------- escalation


@dataclass(frozen=True, slots=True)
class EscalationDeadlines:
    """When the level must acknowledge (第八十三条) and give a resolution (第八十五条)."""

    level: Level
    respond_by: dt.datetime
    decide_by: dt.datetime
    articles: tuple[Article, ...]


_CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    # 第八十一条 (一)~(六), 第八十二条 and 第三十三条's system outage, in the words agents type.
    "data_leak": ("泄露", "泄漏", "外泄", "leak"),
    "safety": (
        "伤害",
        "自杀",
        "轻生",
        "火情",
        "着火",
        "起火",
        "人身",
        "威胁",
        "hurt",
        "suicide",
        "fire",
        "threat",
    ),
    "fraud": ("诈骗", "骗子", "舆情", "违法", "fraud", "scam"),
    "major_error": ("标价错误", "错发", "漏发", "重大差错", "事故", "wrong price", "mis-shipped"),
    "major_complaint": ("重大投诉", "媒体", "曝光", "12315", "major complaint", "press"),
    "system_outage": ("系统故障", "宕机", "系统崩", "打不开", "outage", "system down"),
    "difficult_customer": ("刁难", "纠缠", "辱骂", "骚扰", "abusive", "harass"),
    "beyond_authority": ("赔偿", "退款", "超出权限", "refund", "compensation"),
}


def category_from_words(text: str, known: Collection[str]) -> str | None:
    """The escalation category a one-line description names by its words (the most serious first), or
    None when no word says it, so that the person is asked."""
    lowered = text.lower()
    for category, words in _CATEGORY_WORDS.items():
        if category in known and any(w in lowered for w in words):
            return category
    return None


def escalation_deadlines(level: Level, received_at: dt.datetime, policy: Policy) -> EscalationDeadlines:
    """Deadlines for an escalation received now at ``level``; the manager decides before service hours end."""
    tz = policy.tz
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
