"""Swap, leave and escalation checks quote the article they apply."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from schedules.calendar import HolidayCalendar
from schedules.policy import Policy, policy_from_mapping
from schedules.roster.model import RosterEntry
from schedules.rules import (
    Refusal,
    SwapRequest,
    apply_swap,
    check_leave,
    check_swap,
    duty_supervisor_on,
    escalation_deadlines,
    next_level,
)
from schedules.timeutil import local_instant

D = dt.date
UTC = dt.UTC


def sh(y: int, m: int, d: int, hh: int, mm: int = 0) -> dt.datetime:
    return local_instant(D(y, m, d), dt.time(hh, mm), policy_from_mapping({}).tz)


MONDAY = D(2026, 11, 30)


def week(person: str, codes: str, start: D = MONDAY) -> list[RosterEntry]:
    m = {"D": "day", "E": "evening", "R": None}
    return [RosterEntry(person, start + dt.timedelta(days=i), m[c]) for i, c in enumerate(codes)]


ROSTER = week("a", "DDDRDDD") + week("b", "EEERDDD")


def codes(refusals: Iterable[Refusal]) -> list[str]:
    return [r.code for r in refusals]


def test_day_for_evening_swap_is_fine(policy: Policy) -> None:
    req = SwapRequest("a", "b", (D(2026, 12, 6),), sh(2026, 12, 1, 10))
    roster = week("a", "DDDRDDD") + week("b", "DDDRDDE")
    check = check_swap(req, roster, policy, team_of={"a": "service", "b": "service"})
    assert check.allowed and check.approver == "lead"
    assert sorted(check.new_entries) == [
        RosterEntry("a", D(2026, 12, 6), "evening"),
        RosterEntry("b", D(2026, 12, 6), "day"),
    ]
    assert (
        check_swap(req, roster, policy, team_of={"a": "service", "b": "service"}, leads={"b"}).approver
        == "supervisor"
    )
    assert check.decide_by == sh(2026, 12, 1, 22)


def test_swap_refusals(policy: Policy) -> None:
    req = SwapRequest("a", "b", (D(2026, 12, 1),), sh(2026, 11, 30, 22))
    check = check_swap(
        req,
        ROSTER,
        policy,
        swaps_this_month={"b": 3},
        hired_on={"a": D(2026, 11, 15)},
        team_of={"a": "service", "b": "order"},
    )
    assert codes(check.refusals) == ["too_late", "monthly_limit", "new_hire", "after_swap", "after_swap"]
    assert [r.article.zh for r in check.refusals][:4] == [
        "第四十条",
        "第四十二条",
        "第三十九条",
        "第四十三条",
    ]
    assert {r.params["rule"] for r in check.refusals[3:]} == {"short_rest"}
    assert check.approver == "supervisor"
    assert check.decide_by == sh(2026, 12, 1, 9)  # the shift starts before the 12 h are up
    assert "2026-11-30 09:00" in check.refusals[0].message


def test_swap_breaking_rest_or_run(policy: Policy) -> None:
    # a gets b's evening on 12-01 then works its own day on 12-02: 10 h rest
    req = SwapRequest("a", "b", (D(2026, 12, 1),), sh(2026, 11, 28, 9))
    check = check_swap(req, ROSTER, policy)
    assert any(r.code == "after_swap" and r.params["rule"] == "short_rest" for r in check.refusals)
    # taking b's shift on a's rest day 12-03 makes a work 7 days in a row
    req = SwapRequest("a", "b", (D(2026, 12, 3),), sh(2026, 11, 28, 9))
    roster = week("a", "DDDRDDD") + week("b", "DDDDDDR")
    check = check_swap(req, roster, policy)
    assert [r.params.get("rule") for r in check.refusals] == ["consecutive_days"]


def test_give_away_and_peak_sale() -> None:
    policy = policy_from_mapping(
        {"peak_sales": [{"name": "双12", "start": "2026-12-09", "end": "2026-12-15"}]}
    )
    roster = week("a", "DDDRDDD", D(2026, 12, 7)) + week("b", "DRRDDDD", D(2026, 12, 7))
    req = SwapRequest("a", "b", (D(2026, 12, 9),), sh(2026, 12, 1, 9), kind="give_away")
    check = check_swap(req, roster, policy)
    assert codes(check.refusals) == ["peak_sale"] and check.approver == "manager"
    assert check.refusals[0].article.zh == "第四十六条"
    assert sorted(apply_swap(roster, req))[2] == RosterEntry("a", D(2026, 12, 9), None)
    bad = SwapRequest("a", "b", (D(2026, 12, 7),), sh(2026, 12, 1, 9), kind="give_away")
    assert "give_away_to_working" in codes(check_swap(bad, roster, policy).refusals)


def test_emergency_swap_skips_notice(policy: Policy) -> None:
    roster = week("a", "DDDRDDD") + week("b", "DDDRDDE")
    req = SwapRequest("a", "b", (D(2026, 12, 6),), sh(2026, 12, 6, 8), emergency=True)
    assert check_swap(req, roster, policy).allowed
    assert codes(
        check_swap(SwapRequest("a", "b", (D(2026, 12, 6),), sh(2026, 12, 6, 8)), roster, policy).refusals
    ) == ["too_late"]
    late = SwapRequest("a", "b", (D(2026, 12, 6),), sh(2026, 12, 6, 9, 30))
    assert "shift_started" in codes(check_swap(late, roster, policy).refusals)
    same = SwapRequest("a", "b", (D(2026, 12, 1),), sh(2026, 11, 20, 9))
    assert "nothing_to_swap" in codes(check_swap(same, roster, policy).refusals)


def test_leave(policy: Policy) -> None:
    ok = check_leave("personal", D(2026, 12, 10), 1, D(2026, 12, 7), policy)
    assert ok.refusals == () and ok.approver == "lead"
    late = check_leave("personal", D(2026, 12, 10), 2, D(2026, 12, 8), policy)
    assert codes(late.refusals) == ["notice"] and late.refusals[0].article.zh == "第四十九条"
    assert late.approver == "supervisor"
    assert check_leave("annual", D(2026, 12, 10), 4, D(2026, 12, 1), policy).approver == "manager"
    assert codes(check_leave("annual", D(2026, 12, 20), 1.5, D(2026, 12, 1), policy).refusals) == ["unit"]
    assert check_leave("sick", D(2026, 12, 1), 1, D(2026, 12, 1), policy).refusals == ()
    assert check_leave("maternity", D(2027, 3, 1), 98, D(2027, 1, 1), policy).hr_filing
    assert codes(check_leave("vacation", D(2026, 12, 1), 1, D(2026, 11, 1), policy).refusals) == [
        "unknown_leave_type"
    ]
    assert check_leave("personal", D(2026, 12, 2), 1, D(2026, 12, 1), policy, emergency=True).refusals == ()


def test_leave_during_peak_sale(example_policy: Policy) -> None:
    check = check_leave("annual", D(2026, 11, 10), 1, D(2026, 10, 1), example_policy)
    assert (
        check.needs_manager and check.approver == "manager" and check.refusals[0].article.zh == "第五十七条"
    )
    assert check_leave("sick", D(2026, 11, 10), 1, D(2026, 11, 10), example_policy).refusals == ()


def test_escalation_deadlines(policy: Policy) -> None:
    at = sh(2026, 12, 1, 10)
    lead = escalation_deadlines("lead", at, policy)
    assert lead.respond_by == sh(2026, 12, 1, 10, 5) and lead.decide_by == sh(2026, 12, 1, 10, 30)
    assert lead.articles[0].zh == "第八十三条"
    assert escalation_deadlines("supervisor", at, policy).respond_by == sh(2026, 12, 1, 10, 15)
    manager = escalation_deadlines("manager", at, policy)
    assert manager.respond_by == sh(2026, 12, 1, 10, 30) and manager.decide_by == sh(2026, 12, 1, 23)
    assert escalation_deadlines("manager", sh(2026, 12, 1, 23, 30), policy).decide_by == sh(2026, 12, 2, 23)
    assert [next_level("lead"), next_level("supervisor"), next_level("manager")] == [
        "supervisor",
        "manager",
        None,
    ]


def test_duty_supervisor(policy: Policy) -> None:
    assert duty_supervisor_on(sh(2026, 12, 1, 18), policy)
    assert not duty_supervisor_on(sh(2026, 12, 1, 17, 59), policy)
    assert not duty_supervisor_on(sh(2026, 12, 1, 23), policy)
    cal = HolidayCalendar(frozenset({D(2026, 10, 1)}))
    assert duty_supervisor_on(sh(2026, 10, 1, 10), policy, cal)
