"""One verdict per shift (第二十八至三十五条), worked out by hand from the handbook; reports are their sums.

The day shift is 09:00–18:00 in Asia/Shanghai (01:00–10:00 UTC); a clock-out still belongs to it until 00:00
(six hours after the end), so a shift without a clock-out is judged from then on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import fields, replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schedules.attendance import (
    CORRECTABLE,
    Cause,
    Correction,
    ShiftFacts,
    ShiftVerdict,
    ShiftVerdictKind,
    judge_shifts,
    shift_verdict,
)
from schedules.closing import freeze, thaw
from schedules.policy import Policy, default_policy, policy_from_mapping
from schedules.report import SummaryRow, detail_rows, summarise

SH = dt.timezone(dt.timedelta(hours=8))
DAY = dt.date(2026, 12, 1)
K = ShiftVerdictKind


def local(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=SH).astimezone(dt.UTC)


NIGHT_POLICY = policy_from_mapping(
    {
        "shifts": [
            {"code": "day", "name_zh": "白班", "name_en": "day", "start": "09:00", "end": "18:00"},
            {"code": "night", "name_zh": "夜班", "name_en": "night", "start": "22:00", "end": "06:00"},
        ],
        "roster": {"rotation": ["day", "night"]},
        "staffing": {"default": {"day": 1, "night": 1}},
    }
)
AFTER = local(23, 59, DAY + dt.timedelta(days=1))  # every shift of DAY is over


def judge(policy: Policy, grace_before: int = 0, now: dt.datetime = AFTER, **facts: object) -> ShiftVerdict:
    values: dict[str, object] = {"person_id": "a", "day": DAY, "shift_code": "day", **facts}
    return shift_verdict(ShiftFacts(**values), grace_before, now, policy)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("clock_in", "grace_before", "kind", "late", "serious", "absent", "minutes"),
    [
        (local(8, 0), 0, K.ON_TIME, 0, 0, 0, 0),  # 第二十八条: up to 60 min before
        (local(9, 0), 0, K.ON_TIME, 0, 0, 0, 0),
        (local(9, 5), 0, K.GRACE, 0, 0, 0, 0),  # 第二十九条: the fifth minute included
        (local(9, 5), 2, K.GRACE, 0, 0, 0, 0),  # the third use of the month
        (local(9, 3), 3, K.LATE, 1, 0, 0, 3),  # the fourth: late from the first minute
        (local(9, 6), 0, K.LATE, 1, 0, 0, 6),
        (local(9, 30), 0, K.LATE, 1, 0, 0, 30),  # 第三十条: up to 30 min late
        (local(9, 31), 0, K.SERIOUSLY_LATE, 0, 1, 0, 31),
        (local(11, 0), 0, K.SERIOUSLY_LATE, 0, 1, 0, 120),  # up to 2 h
        (local(11, 1), 0, K.ABSENT_HALF_DAY, 0, 0, 1, 0),  # beyond: absent half a day, not late
    ],
)
def test_arrival(
    clock_in: dt.datetime,
    grace_before: int,
    kind: ShiftVerdictKind,
    late: int,
    serious: int,
    absent: int,
    minutes: int,
) -> None:
    v = judge(default_policy(), grace_before, clock_in=clock_in, clock_out=local(18, 0))
    assert v.kind is kind
    assert (v.late, v.seriously_late, v.absent_half_days, v.late_minutes) == (late, serious, absent, minutes)
    assert v.grace_uses == int(kind is K.GRACE)
    assert v.breaks_full_attendance is (kind not in (K.ON_TIME, K.GRACE))  # 第三十一条: grace does not
    assert v.warnings == absent and v.worked == 1 and v.shifts == 1  # 第三十三条: half a day, one warning


@pytest.mark.parametrize(
    ("clock_out", "kind", "early", "absent", "minutes", "units"),
    [
        (local(18, 0), K.ON_TIME, 0, 0, 0, 0),
        (local(17, 59), K.EARLY_LEAVE, 1, 0, 1, 0),
        (local(17, 30), K.EARLY_LEAVE, 1, 0, 30, 0),  # 第三十条: up to 30 min early
        (local(17, 29), K.ABSENT_HALF_DAY, 0, 1, 0, 0),  # more than 30: absent half a day
        (local(19, 0), K.ON_TIME, 0, 0, 0, 2),  # 第二十四条: two whole 30-minute units
    ],
)
def test_departure(
    clock_out: dt.datetime, kind: ShiftVerdictKind, early: int, absent: int, minutes: int, units: int
) -> None:
    v = judge(default_policy(), clock_in=local(8, 50), clock_out=clock_out)
    assert v.kind is kind
    assert (v.early_leave, v.absent_half_days, v.early_leave_minutes, v.overtime_units) == (
        early,
        absent,
        minutes,
        units,
    )
    if kind is K.EARLY_LEAVE:
        assert v.causes == (Cause.EARLY_LEAVE,)  # the cause is leaving early, not arriving late
    if kind is K.ABSENT_HALF_DAY:
        assert v.causes == (Cause.ABSENT_EARLY,) and v.late_minutes == 0


def test_late_and_early_on_one_shift_count_both() -> None:
    v = judge(default_policy(), clock_in=local(9, 10), clock_out=local(17, 50))
    assert v.kind is K.LATE and v.causes == (Cause.LATE, Cause.EARLY_LEAVE)
    assert (v.late, v.early_leave, v.late_or_early) == (1, 1, 2)


def test_no_show_is_a_whole_day_absent() -> None:
    v = judge(default_policy())  # 第三十二条: rostered, no leave, never came
    assert v.kind is K.ABSENT_FULL_DAY and v.causes == (Cause.NO_SHOW,)
    assert (v.absent_half_days, v.worked, v.warnings, v.demerits) == (2, 0, 0, 1)  # 第三十三条: 记过
    assert [a.zh for a in v.articles] == ["第三十二条", "第三十三条"]


def test_missed_punches_per_article_35() -> None:
    out_missing = judge(default_policy(), clock_in=local(8, 55))
    assert out_missing.kind is K.MISSED_CLOCK_OUT and out_missing.early_leave == 1
    assert out_missing.missed_punches == 1 and out_missing.breaks_full_attendance
    in_missing = judge(default_policy(), clock_out=local(18, 0))
    assert in_missing.kind is K.MISSED_CLOCK_IN and in_missing.seriously_late == 1
    assert in_missing.missed_punches == 1 and in_missing.worked == 1
    assert [a.zh for a in in_missing.articles] == ["第三十五条"]
    # an approved 补卡 is a stored punch: the shift is judged on it and names the request
    fixed = judge(default_policy(), clock_in=local(8, 55), clock_out=local(18, 0), clock_out_by_request="m#4")
    assert fixed.kind is K.ON_TIME and fixed.missed_punches == 0


def test_in_progress_is_never_an_absence() -> None:
    policy = default_policy()
    assert judge(policy, now=local(9, 4)).so_far is None
    assert judge(policy, now=local(9, 6)).so_far.value == "late"  # type: ignore[union-attr]
    assert judge(policy, now=local(11, 1)).so_far.value == "absent"  # type: ignore[union-attr]
    running = judge(policy, now=local(12, 0), clock_in=local(9, 0))
    assert running.kind is K.IN_PROGRESS and running.in_progress == 1
    assert (running.absent_half_days, running.shifts, running.worked) == (0, 0, 0)
    # past the end, the clock-out window (six hours) is still open
    assert judge(policy, now=local(23, 59), clock_in=local(9, 0)).kind is K.IN_PROGRESS
    assert judge(policy, now=local(0, 0, DAY + dt.timedelta(days=1)), clock_in=local(9, 0)).kind is (
        K.MISSED_CLOCK_OUT
    )
    # a clock-out ends the shift at once
    assert judge(policy, now=local(18, 1), clock_in=local(9, 0), clock_out=local(18, 0)).kind is K.ON_TIME


def test_leave_and_rest() -> None:
    policy = default_policy()
    personal = judge(policy, leave="personal")
    assert personal.kind is K.ON_LEAVE and personal.breaks_full_attendance  # 第三十一条: 事假
    annual = judge(policy, leave="annual")
    assert annual.kind is K.ON_LEAVE and not annual.breaks_full_attendance
    assert (annual.shifts, annual.leave_shifts, annual.worked, annual.absent_half_days) == (1, 1, 0, 0)
    rest = judge(policy, shift_code=None, rest_day_punch=local(9, 0))
    assert rest.kind is K.REST and rest.shifts == 0 and not rest.breaks_full_attendance


def test_overnight_shift_belongs_to_its_start_day() -> None:
    night = NIGHT_POLICY
    nxt = DAY + dt.timedelta(days=1)
    v = judge(night, shift_code="night", clock_in=local(21, 58), clock_out=local(6, 0, nxt))
    assert v.kind is K.ON_TIME and v.end == local(6, 0, nxt)
    early = judge(night, shift_code="night", clock_in=local(22, 0), clock_out=local(5, 40, nxt))
    assert early.kind is K.EARLY_LEAVE and early.early_leave_minutes == 20


def test_correction_replaces_the_verdict() -> None:
    fix = Correction(7, K.ON_TIME, "系统故障，班长已登记", "lead1", local(10, 0, DAY + dt.timedelta(days=1)))
    v = judge(default_policy(), correction=fix)
    assert v.kind is K.ON_TIME and v.corrections == 1
    assert (v.absent_half_days, v.demerits, v.breaks_full_attendance, v.worked) == (0, 0, False, 1)


def test_fourth_grace_of_a_month_is_late_in_a_sequence() -> None:
    policy = default_policy()
    days = [DAY + dt.timedelta(days=i) for i in range(5)]
    facts = [ShiftFacts("a", d, "day", clock_in=local(9, 4, d), clock_out=local(18, 0, d)) for d in days]
    kinds = [v.kind for v in judge_shifts(reversed(facts), AFTER + dt.timedelta(days=5), policy)]
    assert kinds == [K.GRACE, K.GRACE, K.GRACE, K.LATE, K.LATE]


def test_month_summary_warning_and_full_attendance() -> None:
    policy = default_policy()
    days = [DAY + dt.timedelta(days=i) for i in range(6)]
    facts = [
        ShiftFacts("a", days[0], "day", clock_in=local(9, 10, days[0]), clock_out=local(18, 0, days[0])),
        ShiftFacts("a", days[1], "day", clock_in=local(9, 40, days[1]), clock_out=local(18, 0, days[1])),
        ShiftFacts("a", days[2], "day", clock_in=local(8, 50, days[2]), clock_out=local(17, 45, days[2])),
        ShiftFacts("a", days[3], "day", clock_in=local(8, 50, days[3])),  # no clock-out: early leave
        ShiftFacts("a", days[4], "day"),  # no-show
        ShiftFacts("a", days[5], None),
        ShiftFacts("b", days[0], "day", clock_in=local(9, 2, days[0]), clock_out=local(18, 0, days[0])),
        ShiftFacts("b", days[1], "day", leave="annual"),
    ]
    now = local(12, 0, days[5])
    rows = {r.person_id: r for r in summarise(judge_shifts(facts, now, policy), (DAY, days[-1]), policy)}
    a = rows["a"]
    # late 1 + seriously late 1 + early leave 2 = 4 (第三十一条: one warning); the no-show brings a demerit
    assert (a.late_count, a.seriously_late_count, a.early_leave_count, a.missed_punches) == (1, 1, 2, 1)
    assert (a.warning, a.demerits, a.absent_half_days, a.full_attendance) == (1, 1, 2, False)
    assert (a.shifts, a.days_worked, a.late_minutes, a.early_leave_minutes) == (5, 4, 50, 15)
    b = rows["b"]
    assert (b.grace_uses, b.leave_shifts, b.shifts, b.full_attendance, b.warning) == (1, 1, 2, True, 0)


# ------------------------------------------------------------------------------------------- property
COUNTS = (
    ("days_worked", "worked"),
    ("on_time", "on_time"),
    ("grace_uses", "grace_uses"),
    ("late_count", "late"),
    ("late_minutes", "late_minutes"),
    ("seriously_late_count", "seriously_late"),
    ("early_leave_count", "early_leave"),
    ("early_leave_minutes", "early_leave_minutes"),
    ("absent_half_days", "absent_half_days"),
    ("missed_punches", "missed_punches"),
    ("overtime_units", "overtime_units"),
    ("shifts", "shifts"),
    ("leave_shifts", "leave_shifts"),
    ("in_progress", "in_progress"),
    ("demerits", "demerits"),
    ("corrections", "corrections"),
)

DayFacts = tuple[str | None, int | None, int | None, str | None, ShiftVerdictKind | None]
offsets = st.one_of(st.none(), st.integers(min_value=-90, max_value=300))
day_facts = st.tuples(
    st.sampled_from(["day", "evening", None]),
    offsets,  # clock-in minutes after the start
    offsets,  # clock-out minutes after the end
    st.sampled_from([None, None, None, "personal", "annual"]),
    st.one_of(st.none(), st.sampled_from(CORRECTABLE)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    roster=st.dictionaries(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(min_value=0, max_value=40)),
        day_facts,
        max_size=40,
    ),
    now_day=st.integers(min_value=0, max_value=45),
    now_hour=st.integers(min_value=0, max_value=23),
)
def test_report_totals_are_sums_of_shift_verdicts(
    roster: dict[
        tuple[str, int], tuple[str | None, int | None, int | None, str | None, ShiftVerdictKind | None]
    ],
    now_day: int,
    now_hour: int,
) -> None:
    policy = default_policy()
    start = dt.date(2026, 11, 20)  # crosses a month boundary: grace counts restart on 12-01
    facts = []
    for (person, offset), (code, cin, cout, leave, fix) in roster.items():
        day = start + dt.timedelta(days=offset)
        if code is None:
            facts.append(ShiftFacts(person, day, None))
            continue
        begin = local(9 if code == "day" else 14, 0, day)
        end = begin + dt.timedelta(hours=9)
        correction = Correction(1, fix, "r", "lead", end) if fix is not None else None
        facts.append(
            ShiftFacts(
                person,
                day,
                code,
                clock_in=None if cin is None else begin + dt.timedelta(minutes=cin),
                clock_out=None if cout is None else end + dt.timedelta(minutes=cout),
                leave=leave,
                correction=correction,
            )
        )
    now = local(now_hour, 0, start + dt.timedelta(days=now_day))
    verdicts = judge_shifts(facts, now, policy)
    assert len(verdicts) == len(facts)  # exactly one verdict per rostered day
    period = (start, start + dt.timedelta(days=40))
    rows = summarise(verdicts, period, policy)
    assert {r.person_id for r in rows} == {f.person_id for f in facts}
    for row in rows:
        mine = [v for v in verdicts if v.facts.person_id == row.person_id]
        for column, attribute in COUNTS:
            assert getattr(row, column) == sum(getattr(v, attribute) for v in mine), column
        # every rostered shift lands in exactly one bucket
        full_days = sum(1 for v in mine if v.kind is K.ABSENT_FULL_DAY)
        assert row.shifts == row.days_worked + full_days + row.leave_shifts
        assert row.in_progress == sum(1 for v in mine if v.kind is K.IN_PROGRESS)
        assert row.full_attendance is not any(v.breaks_full_attendance for v in mine)
        months: dict[tuple[int, int], int] = {}
        for v in mine:
            key = (v.facts.day.year, v.facts.day.month)
            months[key] = months.get(key, 0) + v.late + v.seriously_late + v.early_leave
        monthly = sum(1 for n in months.values() if n >= 4)
        assert row.warning == monthly + sum(v.warnings for v in mine)
        assert row.days_worked + row.in_progress <= len(mine)
    assert {f.name for f in fields(SummaryRow)} >= {c for c, _ in COUNTS}
    # a closed month (schedules.closing): frozen without corrections, thawed with them, reads the same
    fixes = {(f.person_id, f.day): f.correction for f in facts}
    base = judge_shifts([replace(f, correction=None) for f in facts], now, policy)
    thawed = [thaw(freeze(v), fixes[(v.facts.person_id, v.facts.day)], policy) for v in base]
    assert summarise(thawed, period, policy) == rows
    assert detail_rows(thawed, policy) == detail_rows(verdicts, policy)
