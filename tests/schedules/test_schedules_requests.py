"""The pure request rules: what a swap changes, who decides, how leave days count, escalation deadlines.

Expected values are worked out by hand from the handbook (第四十至四十三条, 第四十八条, 第八十三、八十五条)
and the demo roster (examples/roster.csv).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schedules.policy import LEVELS, Level, Policy, default_policy
from schedules.requests import (
    Chart,
    Member,
    OpenRequest,
    Refusal,
    check_leave,
    check_swap,
    decider_chain,
    escalation_deadlines,
    leave_days,
    may_decide,
    pick_decider,
    swap_changes,
)

TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=TZ).astimezone(dt.UTC)
D = dt.date


def demo_chart(last_resort: str | None = "admin") -> Chart:
    people = [
        Member("wangjianguo", "王建国", "manager"),
        Member("liujun", "刘军", "supervisor", "service"),
        Member("chenhui", "陈辉", "supervisor", "order"),
        Member("zhanglei", "张磊", "lead", "service"),
        Member("lina", "李娜", "lead", "order"),
        Member("maqiang", "马强", "lead", "complaint"),
        Member("wangfang", "王芳", "agent", "service", D(2024, 3, 1)),
        Member("chenjing", "陈静", "agent", "service", D(2025, 2, 10)),
        Member("huangwei", "黄伟", "agent", "order", D(2022, 5, 20)),
        Member("zhuhong", "朱红", "agent", "complaint", D(2021, 4, 6)),
        Member("admin", "系统管理员", "admin"),
    ]
    return Chart(
        {p.id: p for p in people},
        {"service": "zhanglei", "order": "lina", "complaint": "maqiang"},
        {"service": "liujun", "order": "chenhui", "complaint": "chenhui"},
        last_resort,
    )


def row(person: str, start: D, letters: str) -> dict[tuple[str, D], str | None]:
    codes = {"D": "day", "E": "evening", "-": None}
    return {(person, start + dt.timedelta(days=i)): codes[c] for i, c in enumerate(letters)}


# ----- who decides ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("requester", "needed", "expected"),
    [
        ("wangfang", "lead", "zhanglei"),  # 第四十八条: ≤1 day → lead of her team
        ("wangfang", "supervisor", "liujun"),
        ("wangfang", "manager", "wangjianguo"),
        ("zhanglei", "lead", "liujun"),  # a lead's one-day leave: at least one level above, the supervisor
        ("liujun", "lead", "wangjianguo"),  # a supervisor's one-day leave: the manager
        ("wangjianguo", "manager", "admin"),  # the manager's 5-day leave: the approver of last resort
        ("zhuhong", "supervisor", "chenhui"),  # complaint team's supervisor is 陈辉
    ],
)
def test_decider_is_above_the_requester_in_their_chain(requester: str, needed: str, expected: str) -> None:
    assert pick_decider(requester, needed, demo_chart()).person_id == expected  # type: ignore[arg-type]


def test_no_last_resort_means_a_refusal_saying_what_to_configure() -> None:
    with pytest.raises(Refusal) as refused:
        pick_decider("wangjianguo", "manager", demo_chart(last_resort=None))
    assert refused.value.key == "request.refused.no_decider"


def test_cross_team_goes_to_the_lowest_common_superior_and_both_leads_are_told() -> None:
    chart = demo_chart()
    service_order = pick_decider("wangfang", "supervisor", chart, colleague="huangwei")
    assert (service_order.person_id, set(service_order.told)) == ("wangjianguo", {"zhanglei", "lina"})
    order_complaint = pick_decider("huangwei", "supervisor", chart, colleague="zhuhong")
    assert (order_complaint.person_id, set(order_complaint.told)) == ("chenhui", {"lina", "maqiang"})


def test_a_decider_who_is_away_is_passed_over() -> None:
    decider = pick_decider("wangfang", "lead", demo_chart(), away={"zhanglei": "leave"})
    assert (decider.person_id, decider.passed_over) == ("liujun", (("zhanglei", "leave"),))
    assert decider.above == ("wangjianguo",)  # the approver of last resort decides only what is theirs


def test_only_the_decider_or_someone_above_in_the_chain_may_decide() -> None:
    decider = pick_decider("wangfang", "lead", demo_chart())
    ok = [
        p
        for p in ("zhanglei", "liujun", "chenhui", "lina", "wangjianguo", "admin", "chenjing", "wangfang")
        if may_decide(p, "wangfang", None, decider.person_id, decider.above)
    ]
    assert ok == ["zhanglei", "liujun", "wangjianguo"]


ROLES = ("agent", "lead", "supervisor", "manager", "admin")
RANK = {r: i for i, r in enumerate(ROLES)}


@st.composite
def charts(draw: st.DrawFn) -> Chart:
    teams = [f"t{i}" for i in range(draw(st.integers(1, 3)))]
    people: dict[str, Member] = {}
    for i in range(draw(st.integers(2, 12))):
        role = draw(st.sampled_from(ROLES))
        team = draw(st.sampled_from(teams)) if role in ("agent", "lead", "supervisor") else None
        people[f"p{i}"] = Member(f"p{i}", f"P{i}", role, team)
    ids = sorted(people)
    lead = {t: draw(st.sampled_from([None, *ids])) for t in teams}
    sup = {t: draw(st.sampled_from([None, *ids])) for t in teams}
    last = draw(st.sampled_from([None, *ids]))
    # The org file's validation: a team's lead is a lead, its supervisor a supervisor or manager.
    lead = {t: p if p and people[p].role == "lead" else None for t, p in lead.items()}
    sup = {t: p if p and people[p].role in ("supervisor", "manager") else None for t, p in sup.items()}
    return Chart(people, lead, sup, last)


@pytest.mark.slow  # 300 generated org charts
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(charts(), st.data())
def test_the_decider_always_stands_above_the_requester(chart: Chart, data: st.DataObject) -> None:
    requester = data.draw(st.sampled_from(sorted(chart.people)))
    colleague = data.draw(st.sampled_from([None, *sorted(chart.people)]))
    needed: Level = data.draw(st.sampled_from(LEVELS))
    away = {p: "leave" for p in data.draw(st.sets(st.sampled_from(sorted(chart.people))))}
    try:
        decider = pick_decider(requester, needed, chart, colleague=colleague, away=away)
    except Refusal as refusal:
        assert refusal.key == "request.refused.no_decider"
        return
    chain = [pid for _, pid in decider_chain(requester, chart)]
    assert decider.person_id in chain and decider.person_id not in (requester, colleague)
    me = chart.people[requester]
    them = chart.people[decider.person_id]
    is_last_resort = decider.person_id == chart.last_resort and decider.level == "last_resort"
    assert is_last_resort or RANK[them.role] > RANK[me.role]
    assert all(p in chain[chain.index(decider.person_id) + 1 :] for p in decider.above)


# ----- swaps ------------------------------------------------------------------------------------------
def member(chart: Chart, pid: str) -> Member:
    return chart.people[pid]


def test_the_issue_case_is_refused_instead_of_exchanging_a_hidden_second_day() -> None:
    """/swap 12-04 chenjing 12-13 on the demo roster: 陈静 works 白班 on 12-04, so she cannot also take 王芳's
    12-04 晚班 (第四十三条: one shift a day)."""
    cells = {
        **row("wangfang", D(2026, 11, 30), "DDD-EEEEEE-E-D"),
        **row("chenjing", D(2026, 11, 30), "-DDDD-E-DDDDDE"),
    }
    chart = demo_chart()
    with pytest.raises(Refusal) as refused:
        check_swap(
            "swap",
            member(chart, "wangfang"),
            member(chart, "chenjing"),
            D(2026, 12, 4),
            D(2026, 12, 13),
            NOW,
            cells,
            default_policy(),
            swaps_this_month={},
        )
    assert (refused.value.key, refused.value.fields["day"]) == ("swap.refused.colleague_busy", "12-04")


def test_a_fair_one_for_one_swap_is_not_blocked_by_days_it_does_not_touch() -> None:
    """王芳 works 12-01..12-06 (6 days); giving away 12-04 and taking 陈静's 12-08 leaves runs of 3, 2 and
    1+…: nothing over 6 days (第四十三条), so it goes ahead and changes four cells."""
    cells = {
        **row("wangfang", D(2026, 12, 1), "DDDDDD-----"),
        **row("chenjing", D(2026, 12, 1), "---------DD"),
    }
    cells[("chenjing", D(2026, 12, 8))] = "day"
    chart = demo_chart()
    plan = check_swap(
        "swap",
        member(chart, "wangfang"),
        member(chart, "chenjing"),
        D(2026, 12, 4),
        D(2026, 12, 8),
        NOW,
        cells,
        default_policy(),
        swaps_this_month={},
    )
    assert dict(plan.changes) == {
        ("wangfang", D(2026, 12, 4)): None,
        ("chenjing", D(2026, 12, 4)): "day",
        ("chenjing", D(2026, 12, 8)): None,
        ("wangfang", D(2026, 12, 8)): "day",
    }
    assert plan.level == "lead"


def test_a_seventh_day_in_a_row_is_refused() -> None:
    cells = {**row("chenjing", D(2026, 12, 1), "DD-DDDD-DD"), **row("huangwei", D(2026, 12, 1), "DDD-DDDD-D")}
    chart = demo_chart()
    with pytest.raises(Refusal) as refused:
        check_swap(
            "give_away",
            member(chart, "huangwei"),
            member(chart, "chenjing"),
            D(2026, 12, 3),
            None,
            NOW,
            cells,
            default_policy(),
            swaps_this_month={},
        )
    assert (refused.value.key, refused.value.fields["person"]) == ("swap.refused.consecutive", "陈静")


LETTERS = st.text(alphabet="DE-", min_size=14, max_size=14)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LETTERS, LETTERS, st.integers(2, 12), st.integers(2, 12), st.sampled_from(["swap", "give_away"]))
def test_an_accepted_swap_changes_exactly_the_cells_on_its_card(
    mine: str, theirs: str, i: int, j: int, kind: str
) -> None:
    start = D(2026, 12, 1)
    cells = {**row("wangfang", start, mine), **row("chenjing", start, theirs)}
    day, their_day = start + dt.timedelta(days=i), start + dt.timedelta(days=j)
    chart = demo_chart()
    try:
        plan = check_swap(
            kind,  # type: ignore[arg-type]
            member(chart, "wangfang"),
            member(chart, "chenjing"),
            day,
            their_day if kind == "swap" else None,
            NOW,
            cells,
            default_policy(),
            swaps_this_month={},
        )
    except Refusal:
        return
    after = {**cells, **plan.changes}
    changed = {k for k in cells if after[k] != cells[k]}
    if kind == "give_away" or day == their_day:
        card = {("wangfang", day), ("chenjing", day)}
    else:
        card = {("wangfang", day), ("chenjing", day), ("wangfang", their_day), ("chenjing", their_day)}
    assert changed == card
    # Each shift on the card only changed hands: every day keeps the same shifts.
    for d in {day, their_day}:
        assert sorted(str(after[(p, d)]) for p in ("wangfang", "chenjing")) == sorted(
            str(cells[(p, d)]) for p in ("wangfang", "chenjing")
        )
    assert after[("wangfang", day)] is None or day == their_day


def test_swap_changes_of_a_same_day_swap_exchange_the_shifts() -> None:
    cells = {("a", D(2026, 12, 4)): "day", ("b", D(2026, 12, 4)): "evening"}
    assert swap_changes("swap", "a", "b", D(2026, 12, 4), D(2026, 12, 4), cells) == {
        ("a", D(2026, 12, 4)): "evening",
        ("b", D(2026, 12, 4)): "day",
    }


# ----- leave ------------------------------------------------------------------------------------------
DEMO_WANGFANG = row("wangfang", D(2026, 11, 30), "DDD-EEEEEE-E-D")


def test_leave_counts_roster_days_like_hr() -> None:
    """王芳 12-09..12-13 on the demo roster: 晚 休 晚 休 白 → 3 days, so the supervisor decides (第四十八条:
    more than 1 and at most 3 days)."""
    policy = default_policy()
    annual = policy.leave.leave_type("annual")
    assert annual is not None
    days = leave_days("wangfang", D(2026, 12, 9), D(2026, 12, 13), DEMO_WANGFANG)
    assert days == [D(2026, 12, 9), D(2026, 12, 11), D(2026, 12, 13)]
    plan = check_leave("wangfang", annual, D(2026, 12, 9), D(2026, 12, 13), NOW, DEMO_WANGFANG, policy)
    assert (plan.days, plan.level) == (3.0, "supervisor")


def test_leave_on_rest_days_only_is_refused() -> None:
    personal = default_policy().leave.leave_type("personal")
    assert personal is not None
    with pytest.raises(Refusal) as refused:
        check_leave(
            "wangfang", personal, D(2026, 12, 10), D(2026, 12, 10), NOW, DEMO_WANGFANG, default_policy()
        )
    assert refused.value.key == "leave.refused.rest_days_only"


def test_overlapping_leave_is_refused_naming_the_request() -> None:
    personal = default_policy().leave.leave_type("personal")
    assert personal is not None
    mine = OpenRequest(7, "leave", frozenset({"wangfang"}), frozenset({D(2026, 12, 9)}), "pending")
    with pytest.raises(Refusal) as refused:
        check_leave(
            "wangfang",
            personal,
            D(2026, 12, 8),
            D(2026, 12, 9),
            NOW,
            DEMO_WANGFANG,
            default_policy(),
            own_requests=[mine],
        )
    assert (refused.value.key, refused.value.fields["id"]) == ("leave.refused.overlap", 7)


def test_half_a_day_where_the_type_allows_it() -> None:
    policy = default_policy()
    personal, annual = policy.leave.leave_type("personal"), policy.leave.leave_type("annual")
    assert personal is not None and annual is not None
    plan = check_leave(
        "wangfang", personal, D(2026, 12, 9), D(2026, 12, 9), NOW, DEMO_WANGFANG, policy, half_day=True
    )
    assert (plan.days, plan.level) == (0.5, "lead")
    with pytest.raises(Refusal):  # 第五十二条: annual leave is taken in whole days
        check_leave(
            "wangfang", annual, D(2026, 12, 9), D(2026, 12, 9), NOW, DEMO_WANGFANG, policy, half_day=True
        )


def test_leave_expires_at_the_start_of_its_first_shift() -> None:
    personal = default_policy().leave.leave_type("personal")
    assert personal is not None
    plan = check_leave(
        "wangfang", personal, D(2026, 12, 9), D(2026, 12, 9), NOW, DEMO_WANGFANG, default_policy()
    )
    assert plan.first_start == dt.datetime(2026, 12, 9, 14, 0, tzinfo=TZ)  # 晚班 starts 14:00 (第二十条)


# ----- escalations --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("level", "respond", "decide"),
    [
        ("lead", "10:05", "10:30"),  # 第八十三条 5 min; 第八十五条 30 min
        ("supervisor", "10:15", "12:00"),  # 15 min; 2 h
        ("manager", "10:30", "23:00"),  # 30 min; before service hours end (第十七条: 23:00)
    ],
)
def test_escalation_deadlines(policy: Policy, level: str, respond: str, decide: str) -> None:
    at = dt.datetime(2026, 12, 1, 10, 0, tzinfo=TZ).astimezone(dt.UTC)
    found = escalation_deadlines(level, at, policy)  # type: ignore[arg-type]
    assert f"{found.respond_by.astimezone(TZ):%H:%M}" == respond
    assert f"{found.decide_by.astimezone(TZ):%H:%M}" == decide
