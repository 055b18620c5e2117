"""Roster checks (第二十、四十三条) and the six_on_one_off generator's invariants."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schedules.policy import Policy, policy_from_mapping
from schedules.roster.checks import validate_roster
from schedules.roster.generator import RosterGenerationError, generate_roster
from schedules.roster.importing import parse_roster
from schedules.roster.model import RosterEntry
from schedules.timeutil import shift_window

D = dt.date
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEMO_TEAMS = {
    "service": ["zhanglei", "wangfang", "liuyang", "chenjing", "yangmin", "zhaoqiang"],
    "order": ["lina", "huangwei", "zhoujie", "wuting", "xuming", "sunli"],
    "complaint": ["maqiang", "zhuhong", "hulin", "guoxin", "heyan"],
}


def days(person: str, start: D, codes: str) -> list[RosterEntry]:
    """codes: one letter a day, D day, E evening, R rest."""
    m = {"D": "day", "E": "evening", "R": None}
    return [RosterEntry(person, start + dt.timedelta(days=i), m[c]) for i, c in enumerate(codes)]


def test_seven_days_in_a_row(policy: Policy) -> None:
    found = validate_roster(days("a", D(2026, 12, 1), "DDDDDDDR"), policy)
    assert [(v.code, v.date, v.params["days"]) for v in found] == [("consecutive_days", D(2026, 12, 1), "7")]
    assert found[0].article.zh == "第四十三条"
    assert not validate_roster(days("a", D(2026, 12, 1), "DDDDDDRD"), policy)


def test_missing_day_breaks_a_run(policy: Policy) -> None:
    entries = days("a", D(2026, 12, 1), "DDDD") + days("a", D(2026, 12, 6), "DDDD")
    assert not validate_roster(entries, policy)


def test_evening_then_day_is_short_rest(policy: Policy) -> None:
    found = validate_roster(days("a", D(2026, 12, 1), "ED"), policy)
    assert [(v.code, v.date, v.params["hours"]) for v in found] == [("short_rest", D(2026, 12, 2), "10")]
    assert not validate_roster(days("a", D(2026, 12, 1), "DE"), policy)


def test_short_rest_uses_real_hours_across_dst() -> None:
    berlin = policy_from_mapping({"timezone": "Europe/Berlin"})
    # evening 2026-10-24 ends 23:00 CEST, day 2026-10-25 starts 09:00 CET: 11 real hours, allowed
    assert not validate_roster(days("a", D(2026, 10, 24), "ED"), berlin)
    # spring: 23:00 CET to 09:00 CEST is 9 real hours
    found = validate_roster(days("a", D(2026, 3, 28), "ED"), berlin)
    assert [v.params["hours"] for v in found] == ["9"]


def test_evening_streak_over_two_weeks(policy: Policy) -> None:
    ok = days("a", D(2026, 12, 1), "EEEEEERDEEEEEER")
    assert not [v for v in validate_roster(ok, policy) if v.code == "evening_streak"]
    bad = days("a", D(2026, 12, 1), "EEEEEEREEEEEERE")
    found = [v for v in validate_roster(bad, policy) if v.code == "evening_streak"]
    assert [(v.date, v.params["days"]) for v in found] == [(D(2026, 12, 1), "15")]


def test_weekend_rest_per_full_month(policy: Policy) -> None:
    # February 2026 starts on a Sunday; rest on Mondays only
    feb = [
        RosterEntry(
            "a",
            D(2026, 2, 1) + dt.timedelta(days=i),
            None if (D(2026, 2, 1) + dt.timedelta(days=i)).weekday() == 0 else "day",
        )
        for i in range(28)
    ]
    found = [v for v in validate_roster(feb, policy) if v.code == "no_weekend_rest"]
    assert [(v.person_id, v.params["month"]) for v in found] == [("a", "2026-02")]
    assert not [v for v in validate_roster(feb[:20], policy) if v.code == "no_weekend_rest"]


def test_understaffed(policy: Policy) -> None:
    entries = [
        RosterEntry("a", D(2026, 12, 1), "day"),
        RosterEntry("b", D(2026, 12, 1), "evening"),
        RosterEntry("c", D(2026, 12, 1), None),
    ]
    found = validate_roster(entries, policy, teams={"t": ["a", "b", "c"]})
    assert [(v.code, v.team, v.shift_code, v.params["have"], v.params["need"]) for v in found] == [
        ("understaffed", "t", "day", "1", "2")
    ]


def test_duplicates_and_unknown_codes(policy: Policy) -> None:
    entries = [
        RosterEntry("a", D(2026, 12, 1), "day"),
        RosterEntry("a", D(2026, 12, 1), "evening"),
        RosterEntry("a", D(2026, 12, 2), "night"),
    ]
    assert [v.code for v in validate_roster(entries, policy)] == ["duplicate_entry", "unknown_shift"]


def test_example_roster_is_valid(example_policy: Policy) -> None:
    ids = [p for members in DEMO_TEAMS.values() for p in members]
    entries = parse_roster(EXAMPLES / "roster.csv", None, ids, example_policy)
    assert validate_roster(entries, example_policy, teams=DEMO_TEAMS) == []


def test_example_roster_is_what_the_generator_makes(example_policy: Policy) -> None:
    ids = [p for members in DEMO_TEAMS.values() for p in members]
    entries = parse_roster(EXAMPLES / "roster.csv", None, ids, example_policy)
    generated = generate_roster(DEMO_TEAMS, D(2026, 11, 30), D(2026, 12, 13), example_policy, seed=2026)
    assert sorted(entries) == sorted(generated)


def test_generator_is_deterministic(policy: Policy) -> None:
    teams = {"t": [f"p{i}" for i in range(7)]}
    a = generate_roster(teams, D(2026, 12, 1), D(2026, 12, 31), policy, seed=5)
    assert a == generate_roster(teams, D(2026, 12, 1), D(2026, 12, 31), policy, seed=5)


def test_generator_refuses_too_small_teams(policy: Policy) -> None:
    with pytest.raises(RosterGenerationError, match="team tiny: 3 people"):
        generate_roster({"tiny": ["a", "b", "c"]}, D(2026, 12, 1), D(2026, 12, 7), policy)


def test_generator_continues_from_previous_week(policy: Policy) -> None:
    teams = {"t": [f"p{i}" for i in range(6)]}
    first = generate_roster(teams, D(2026, 11, 30), D(2026, 12, 6), policy, seed=1)
    second = generate_roster(teams, D(2026, 12, 7), D(2026, 12, 13), policy, seed=1, previous=first)
    assert validate_roster(first + second, policy, teams=teams) == []


def _check_invariants(
    entries: list[RosterEntry], teams: dict[str, list[str]], start: D, end: D, policy: Policy
) -> None:
    n_days = (end - start).days + 1
    per_person: dict[str, dict[D, str | None]] = defaultdict(dict)
    for e in entries:
        assert e.date not in per_person[e.person_id]
        per_person[e.person_id][e.date] = e.shift_code
    assert all(len(v) == n_days for v in per_person.values())
    assert set(per_person) == {p for members in teams.values() for p in members}
    for team, members in teams.items():
        for i in range(n_days):
            day = start + dt.timedelta(days=i)
            counts = Counter(per_person[p][day] for p in members)
            for code in policy.roster.rotation:
                assert counts[code] >= policy.staffing.minimum(team, code), (team, day, code)
    for person, by_day in per_person.items():
        ordered = sorted(by_day)
        run = 0
        evening_first: D | None = None
        prev_end: dt.datetime | None = None
        for day in ordered:
            shift = by_day[day]
            if shift is None:
                run = 0
                prev_end = None
                continue
            run += 1
            assert run <= 6, (person, day)
            start_utc, end_utc = shift_window(day, policy.shift(shift), policy.tz)
            if prev_end is not None:
                assert start_utc - prev_end >= dt.timedelta(hours=11), (person, day)
            prev_end = end_utc
            if shift == "evening":
                evening_first = evening_first or day
                assert (day - evening_first).days < 14, (person, day)
            else:
                evening_first = None
        # a weekend day off in every month the period covers whole
        month = D(start.year, start.month, 1)
        while month <= end:
            nxt = D(month.year + month.month // 12, month.month % 12 + 1, 1)
            if month >= start and nxt - dt.timedelta(days=1) <= end:
                weekend_rests = [
                    d for d in ordered if month <= d < nxt and d.weekday() >= 5 and by_day[d] is None
                ]
                assert weekend_rests, (person, month)
            month = nxt


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(min_value=4, max_value=14), min_size=1, max_size=3),
    start=st.dates(min_value=D(2026, 1, 1), max_value=D(2027, 12, 31)),
    length=st.integers(min_value=1, max_value=75),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_generator_invariants(sizes: list[int], start: D, length: int, seed: int) -> None:
    policy = policy_from_mapping({})
    teams = {f"team{i}": [f"t{i}p{j}" for j in range(n)] for i, n in enumerate(sizes)}
    end = start + dt.timedelta(days=length - 1)
    entries = generate_roster(teams, start, end, policy, seed=seed)
    _check_invariants(entries, teams, start, end, policy)
    assert validate_roster(entries, policy, teams=teams) == []


@settings(max_examples=15, deadline=None, database=None)
@given(
    size=st.integers(min_value=5, max_value=12),
    start=st.dates(min_value=D(2026, 1, 1), max_value=D(2027, 12, 31)),
    length=st.integers(min_value=28, max_value=62),
)
def test_generator_invariants_with_two_on_each_shift(size: int, start: D, length: int) -> None:
    policy = policy_from_mapping({"staffing": {"default": {"day": 2, "evening": 2}}})
    teams = {"t": [f"p{j}" for j in range(size)]}
    end = start + dt.timedelta(days=length - 1)
    _check_invariants(generate_roster(teams, start, end, policy), teams, start, end, policy)
