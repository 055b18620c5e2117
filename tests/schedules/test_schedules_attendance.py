"""Verdicts at their boundaries (第二十八至三十五条) and matching punches to shifts."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from schedules.attendance import (
    PunchKind,
    Verdict,
    VerdictKind,
    check_missed_punch,
    clock_in_verdict,
    clock_out_verdict,
    match_shift,
    missed_punch_deadline,
)
from schedules.calendar import HolidayCalendar
from schedules.policy import Policy, policy_from_mapping
from schedules.roster.model import RosterEntry

UTC = dt.UTC
SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
START = dt.datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 Shanghai
END = dt.datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # 18:00 Shanghai


def at(minutes: int, seconds: int = 0, base: dt.datetime = START) -> dt.datetime:
    return base + dt.timedelta(minutes=minutes, seconds=seconds)


@pytest.mark.parametrize(
    ("minutes", "seconds", "kind", "late"),
    [
        (-61, 0, VerdictKind.TOO_EARLY, 0),
        (-60, 0, VerdictKind.ON_TIME, 0),
        (0, 0, VerdictKind.ON_TIME, 0),
        (0, 59, VerdictKind.ON_TIME, 0),  # 09:00:59 shows as 09:00
        (5, 0, VerdictKind.GRACE, 5),
        (5, 1, VerdictKind.GRACE, 5),  # still the fifth minute (含第5分钟)
        (5, 59, VerdictKind.GRACE, 5),
        (6, 0, VerdictKind.LATE, 6),
        (30, 0, VerdictKind.LATE, 30),
        (30, 59, VerdictKind.LATE, 30),
        (31, 0, VerdictKind.SERIOUSLY_LATE, 31),
        (120, 0, VerdictKind.SERIOUSLY_LATE, 120),
        (121, 0, VerdictKind.ABSENT, 121),
    ],
)
def test_clock_in_boundaries(
    policy: Policy, minutes: int, seconds: int, kind: VerdictKind, late: int
) -> None:
    v = clock_in_verdict(START, at(minutes, seconds), 0, policy)
    assert (v.kind, v.minutes_late) == (kind, late)


def test_grace_counts_and_articles(policy: Policy) -> None:
    v = clock_in_verdict(START, at(3), 0, policy)
    assert v.uses_grace and v.grace_uses_left == 2 and v.articles == (policy.clock_in.article_grace,)
    assert clock_in_verdict(START, at(3), 2, policy).grace_uses_left == 0
    on_time = clock_in_verdict(START, at(-10), 1, policy)
    assert not on_time.uses_grace and on_time.grace_uses_left == 2


def test_fourth_grace_use_is_late(policy: Policy) -> None:
    v = clock_in_verdict(START, at(5), 3, policy)
    assert v.kind is VerdictKind.LATE and v.minutes_late == 5 and not v.uses_grace and v.grace_uses_left == 0
    assert [a.zh for a in v.articles] == ["第二十九条", "第三十条"]
    assert v.counts_as_late


def test_absent_quotes_articles(policy: Policy) -> None:
    v = clock_in_verdict(START, at(121), 0, policy)
    assert v.absent_half_days == 1 and [a.zh for a in v.articles] == ["第三十条", "第三十二条"]


def test_too_early_says_when_window_opens(policy: Policy) -> None:
    v = clock_in_verdict(START, at(-90), 0, policy)
    assert v.kind is VerdictKind.TOO_EARLY and v.opens_at == at(-60)


@pytest.mark.parametrize(
    ("minutes", "seconds", "kind", "late"),
    [
        (5, 0, VerdictKind.GRACE, 5),
        (5, 1, VerdictKind.LATE, 6),
        (30, 0, VerdictKind.LATE, 30),
        (30, 1, VerdictKind.SERIOUSLY_LATE, 31),
        (120, 0, VerdictKind.SERIOUSLY_LATE, 120),
        (120, 1, VerdictKind.ABSENT, 121),
    ],
)
def test_second_resolution(minutes: int, seconds: int, kind: VerdictKind, late: int) -> None:
    strict = policy_from_mapping({"clock_in": {"punch_resolution": "second"}})
    v = clock_in_verdict(START, at(minutes, seconds), 0, strict)
    assert (v.kind, v.minutes_late) == (kind, late)


@pytest.mark.parametrize(
    ("minutes", "kind", "early", "units"),
    [
        (-31, VerdictKind.ABSENT, 31, 0),
        (-30, VerdictKind.EARLY_LEAVE, 30, 0),
        (-1, VerdictKind.EARLY_LEAVE, 1, 0),
        (0, VerdictKind.ON_TIME, 0, 0),
        (29, VerdictKind.ON_TIME, 0, 0),
        (30, VerdictKind.OVERTIME, 0, 1),
        (59, VerdictKind.OVERTIME, 0, 1),
        (60, VerdictKind.OVERTIME, 0, 2),
        (95, VerdictKind.OVERTIME, 0, 3),
    ],
)
def test_clock_out_boundaries(
    policy: Policy, minutes: int, kind: VerdictKind, early: int, units: int
) -> None:
    v = clock_out_verdict(END, at(minutes, base=END), policy)
    assert (v.kind, v.minutes_early, v.overtime_units) == (kind, early, units)


def test_overtime_quotes_articles(policy: Policy) -> None:
    v = clock_out_verdict(END, at(45, base=END), policy)
    assert [a.zh for a in v.articles] == ["第二十三条", "第二十四条"] and v.overtime_minutes == 45


def entries(person: str, start: dt.date, codes: list[str | None]) -> list[RosterEntry]:
    return [RosterEntry(person, start + dt.timedelta(days=i), c) for i, c in enumerate(codes)]


NIGHT_RULES: dict[str, object] = {
    "shifts": [
        {"code": "day", "name_zh": "白班", "name_en": "day", "start": "09:00", "end": "18:00"},
        {"code": "night", "name_zh": "夜班", "name_en": "night", "start": "22:00", "end": "06:00"},
    ],
    "roster": {"rotation": ["day", "night"]},
    "staffing": {"default": {"day": 1, "night": 1}},
}
NIGHT_POLICY = policy_from_mapping(NIGHT_RULES)


def test_overnight_punches_belong_to_start_day() -> None:
    roster = entries("a", dt.date(2026, 12, 1), ["night", "night", None])
    clock_in = dt.datetime(2026, 12, 1, 13, 30, tzinfo=UTC)  # 21:30 Shanghai, window open
    m = match_shift(clock_in, roster, NIGHT_POLICY, SHANGHAI)
    assert m is not None and m.entry.date == dt.date(2026, 12, 1)
    clock_out = dt.datetime(2026, 12, 1, 22, 10, tzinfo=UTC)  # 06:10 on 12-02
    m = match_shift(clock_out, roster, NIGHT_POLICY, SHANGHAI, kind=PunchKind.CLOCK_OUT)
    assert (
        m is not None
        and m.entry.date == dt.date(2026, 12, 1)
        and m.end == dt.datetime(2026, 12, 1, 22, tzinfo=UTC)
    )
    # 01:00 on 12-02 is a late clock-in for the night of 12-01, not for 12-02
    late = dt.datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    m = match_shift(late, roster, NIGHT_POLICY, SHANGHAI)
    assert m is not None and m.entry.date == dt.date(2026, 12, 1)
    assert clock_in_verdict(m.start, late, 0, NIGHT_POLICY).kind is VerdictKind.ABSENT


def test_overnight_shift_across_dst_matches_on_wall_clock() -> None:
    berlin = policy_from_mapping({**NIGHT_RULES, "timezone": "Europe/Berlin"})
    roster = entries("a", dt.date(2026, 10, 24), ["night", "night"])
    # fall back night: clock in 21:55 CEST, clock out 06:00 CET
    m = match_shift(dt.datetime(2026, 10, 24, 19, 55, tzinfo=UTC), roster, berlin, BERLIN)
    assert m is not None and m.start.astimezone(BERLIN).time() == dt.time(22)
    assert (
        clock_in_verdict(m.start, dt.datetime(2026, 10, 24, 19, 55, tzinfo=UTC), 0, berlin).kind
        is VerdictKind.ON_TIME
    )
    out = dt.datetime(2026, 10, 25, 5, 0, tzinfo=UTC)
    m = match_shift(out, roster, berlin, BERLIN, kind=PunchKind.CLOCK_OUT)
    assert m is not None and m.entry.date == dt.date(2026, 10, 24)
    assert clock_out_verdict(m.end, out, berlin).kind is VerdictKind.ON_TIME


def test_match_picks_the_right_neighbour(policy: Policy) -> None:
    roster = entries("a", dt.date(2026, 12, 1), ["evening", "day"])
    # 08:30 on 12-02: clock-in for the day shift (window opened 08:00)
    m = match_shift(dt.datetime(2026, 12, 2, 0, 30, tzinfo=UTC), roster, policy, SHANGHAI)
    assert m is not None and m.entry.date == dt.date(2026, 12, 2)
    # 23:40 on 12-01: clock-out for the evening shift (staying late)
    m = match_shift(
        dt.datetime(2026, 12, 1, 15, 40, tzinfo=UTC), roster, policy, SHANGHAI, kind=PunchKind.CLOCK_OUT
    )
    assert m is not None and m.entry.date == dt.date(2026, 12, 1)
    # 07:00 on 12-02 is before every window: no shift
    assert match_shift(dt.datetime(2026, 12, 1, 23, 0, tzinfo=UTC), roster, policy, SHANGHAI) is None
    # rest days never match
    assert match_shift(START, entries("a", dt.date(2026, 12, 1), [None]), policy, SHANGHAI) is None


def test_match_rejects_naive(policy: Policy) -> None:
    with pytest.raises(ValueError, match="aware"):
        match_shift(dt.datetime(2026, 12, 1, 9), [], policy)  # noqa: DTZ001  naive on purpose


def test_missed_punch_deadline_counts_working_days(policy: Policy) -> None:
    # Friday 2026-12-04: Monday and Tuesday are the two working days
    assert missed_punch_deadline(dt.date(2026, 12, 4), policy) == dt.date(2026, 12, 8)
    # Wednesday 2026-09-30 before the National Day holiday; 10-10 (Saturday) is a makeup workday
    cal = HolidayCalendar(
        frozenset(dt.date(2026, 10, d) for d in range(1, 8)), frozenset({dt.date(2026, 10, 10)})
    )
    assert missed_punch_deadline(dt.date(2026, 9, 30), policy, cal) == dt.date(2026, 10, 9)
    assert missed_punch_deadline(dt.date(2026, 10, 8), policy, cal) == dt.date(2026, 10, 10)


def test_check_missed_punch(policy: Policy) -> None:
    shift_day = dt.date(2026, 12, 4)
    ok = check_missed_punch(shift_day, dt.date(2026, 12, 8), 2, policy)
    assert ok.allowed and ok.uses_left == 0 and ok.article.zh == "第三十四条"
    assert check_missed_punch(shift_day, dt.date(2026, 12, 9), 0, policy).reason == "past_deadline"
    assert check_missed_punch(shift_day, dt.date(2026, 12, 5), 3, policy).reason == "monthly_limit"
    assert check_missed_punch(shift_day, dt.date(2026, 12, 3), 0, policy).reason == "future_shift"


def test_verdict_is_hashable_value(policy: Policy) -> None:
    a = clock_in_verdict(START, at(7), 0, policy)
    assert a == clock_in_verdict(START, at(7, 30), 0, policy)
    assert isinstance(hash(a), int) and isinstance(a, Verdict)


def test_rule_refuses_a_moment_not_yet_come_and_a_second_request(policy: Policy) -> None:
    shift_day = dt.date(2026, 12, 4)
    now = dt.datetime(2026, 12, 4, 4, 0, tzinfo=UTC)
    later = check_missed_punch(
        shift_day, shift_day, 0, policy, punch_at=dt.datetime(2026, 12, 4, 10, 0, tzinfo=UTC), now=now
    )
    assert not later.allowed and later.reason == "future_moment" and later.article.zh == "第三十四条"
    earlier = check_missed_punch(
        shift_day, shift_day, 0, policy, punch_at=dt.datetime(2026, 12, 4, 0, 58, tzinfo=UTC), now=now
    )
    assert earlier.allowed and earlier.uses_left == 2
    twice = check_missed_punch(
        shift_day,
        shift_day,
        1,
        policy,
        punch_at=dt.datetime(2026, 12, 4, 0, 58, tzinfo=UTC),
        now=now,
        already_requested=True,
    )
    assert not twice.allowed and twice.reason == "already_requested"
