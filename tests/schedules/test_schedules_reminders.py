"""Reminders over a fake clock: due sets, DST (Berlin, Shanghai), quiet hours, keys and lateness."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from zoneinfo import ZoneInfo

import pytest

from schedules.attendance import PunchKind, PunchRecord
from schedules.policy import Policy, policy_from_mapping
from schedules.reminders import (
    Reminder,
    ReminderKind,
    Wording,
    due_reminders,
    held_by_quiet_hours,
    reminder_key,
    still_useful,
    wording,
)
from schedules.roster.generator import generate_roster
from schedules.roster.model import RosterEntry
from schedules.timeutil import local_instant

UTC = dt.UTC
SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
LEADS = {"a": "lead", "b": "lead"}


def local(tz: ZoneInfo, y: int, m: int, d: int, hh: int, mm: int = 0) -> dt.datetime:
    return local_instant(dt.date(y, m, d), dt.time(hh, mm), tz)


def kinds(reminders: Iterable[Reminder]) -> list[tuple[str, str, str]]:
    return [(r.kind.value, r.recipient_id, f"{r.due_at.astimezone(SHANGHAI):%m-%d %H:%M}") for r in reminders]


def test_one_day_shift_without_punches(policy: Policy) -> None:
    roster = [RosterEntry("a", dt.date(2026, 12, 1), "day")]
    found = due_reminders(
        local(SHANGHAI, 2026, 12, 1, 0), local(SHANGHAI, 2026, 12, 2, 0), roster, [], policy, SHANGHAI, LEADS
    )
    assert kinds(found) == [
        ("before_shift", "a", "12-01 08:45"),
        ("grace_nudge", "a", "12-01 09:06"),
        ("absence_alert", "lead", "12-01 11:01"),
    ]
    before = found[0]
    assert before.key == "before_shift:a:2026-12-01:day:15"
    assert before.person_id == "a" and before.shift_start == local(SHANGHAI, 2026, 12, 1, 9)
    assert found[2].person_id == "a" and found[2].articles[-1].zh == "第三十二条"


def test_half_a_day_off_is_reminded_of_the_half_worked(policy: Policy) -> None:
    """Worked out by hand: 白班 09:00–18:00 splits at 13:30. Morning off: reminder 13:15, nudge 13:36 (grace
    to 13:35 included), the lead's alert 15:31; afternoon off: as a whole shift until the clock-out reminder
    at 13:30. A whole day off (``excused``) has none; the keys name the half."""
    day = dt.date(2026, 12, 1)
    roster = [RosterEntry("a", day, "day"), RosterEntry("b", day, "day")]
    t0, t1 = local(SHANGHAI, 2026, 12, 1, 0), local(SHANGHAI, 2026, 12, 2, 0)
    halves = {("a", day): "am", ("b", day): "pm"}
    found = due_reminders(
        t0, t1, roster, [("b", day, "clock_in")], policy, SHANGHAI, LEADS, half_leave=halves
    )
    assert kinds(found) == [  # b clocked in: only her clock-out at the end of her morning is left
        ("before_shift", "a", "12-01 13:15"),
        ("clock_out", "b", "12-01 13:30"),
        ("grace_nudge", "a", "12-01 13:36"),
        ("absence_alert", "lead", "12-01 15:31"),
    ]
    found = due_reminders(t0, t1, roster, [], policy, SHANGHAI, LEADS, half_leave=halves)
    assert kinds(found) == [
        ("before_shift", "b", "12-01 08:45"),
        ("grace_nudge", "b", "12-01 09:06"),
        ("absence_alert", "lead", "12-01 11:01"),
        ("before_shift", "a", "12-01 13:15"),
        ("grace_nudge", "a", "12-01 13:36"),
        ("absence_alert", "lead", "12-01 15:31"),
    ]
    assert found[3].key == "before_shift:a:2026-12-01:day#am:15"
    assert found[3].data["leave_half"] == "am"
    assert (found[3].shift_start, found[3].shift_end) == (
        local(SHANGHAI, 2026, 12, 1, 13, 30),
        local(SHANGHAI, 2026, 12, 1, 18),
    )
    # the morning half of b ends at 13:30: a clock-in late by 2 h is still reported within it
    assert found[2].shift_end == local(SHANGHAI, 2026, 12, 1, 13, 30)
    assert due_reminders(t0, t1, roster, [], policy, SHANGHAI, LEADS, excused={("a", day), ("b", day)}) == []


def test_clock_in_stops_nudges_and_brings_clock_out(policy: Policy) -> None:
    roster = [RosterEntry("a", dt.date(2026, 12, 1), "evening")]
    punches = [
        PunchRecord("a", dt.date(2026, 12, 1), PunchKind.CLOCK_IN, local(SHANGHAI, 2026, 12, 1, 13, 50))
    ]
    found = due_reminders(
        local(SHANGHAI, 2026, 12, 1, 0),
        local(SHANGHAI, 2026, 12, 2, 0),
        roster,
        punches,
        policy,
        SHANGHAI,
        LEADS,
    )
    assert kinds(found) == [("clock_out", "a", "12-01 23:00")]
    assert found[0].data["stay_if_serving"] is True and found[0].articles[0].zh == "第二十三条"
    punches.append(
        PunchRecord("a", dt.date(2026, 12, 1), PunchKind.CLOCK_OUT, local(SHANGHAI, 2026, 12, 1, 23))
    )
    assert (
        due_reminders(
            local(SHANGHAI, 2026, 12, 1, 0),
            local(SHANGHAI, 2026, 12, 2, 0),
            roster,
            punches,
            policy,
            SHANGHAI,
            LEADS,
        )
        == []
    )


def test_window_is_half_open(policy: Policy) -> None:
    roster = [RosterEntry("a", dt.date(2026, 12, 1), "day")]
    due = local(SHANGHAI, 2026, 12, 1, 8, 45)
    assert len(due_reminders(due - dt.timedelta(minutes=1), due, roster, [], policy, SHANGHAI)) == 1
    assert due_reminders(due, due + dt.timedelta(minutes=1), roster, [], policy, SHANGHAI) == []


def test_no_lead_no_alert_and_excused(policy: Policy) -> None:
    roster = [RosterEntry("a", dt.date(2026, 12, 1), "day"), RosterEntry("b", dt.date(2026, 12, 1), "day")]
    t0, t1 = local(SHANGHAI, 2026, 12, 1, 0), local(SHANGHAI, 2026, 12, 2, 0)
    found = due_reminders(t0, t1, roster, [], policy, SHANGHAI, {}, excused={("b", dt.date(2026, 12, 1))})
    assert [(r.kind.value, r.person_id) for r in found] == [("before_shift", "a"), ("grace_nudge", "a")]


def _sweep(
    t0: dt.datetime,
    t1: dt.datetime,
    step: dt.timedelta,
    roster: list[RosterEntry],
    policy: Policy,
    tz: ZoneInfo,
) -> list[Reminder]:
    out: list[Reminder] = []
    t = t0
    while t < t1:
        out.extend(due_reminders(t, min(t + step, t1), roster, [], policy, tz, LEADS))
        t += step
    return out


@pytest.mark.parametrize(
    ("tz_name", "first", "last"),
    [
        ("Europe/Berlin", dt.date(2026, 3, 26), dt.date(2026, 4, 1)),  # spring forward 2026-03-29
        ("Europe/Berlin", dt.date(2026, 10, 22), dt.date(2026, 10, 28)),  # fall back 2026-10-25
        ("Asia/Shanghai", dt.date(2026, 3, 26), dt.date(2026, 4, 1)),
    ],
)
def test_dst_neither_drops_nor_doubles(tz_name: str, first: dt.date, last: dt.date) -> None:
    policy = policy_from_mapping(
        {
            "timezone": tz_name,
            "shifts": [
                {"code": "day", "name_zh": "白班", "name_en": "day", "start": "09:00", "end": "18:00"},
                {
                    "code": "evening",
                    "name_zh": "晚班",
                    "name_en": "evening",
                    "start": "14:00",
                    "end": "23:00",
                },
                {"code": "night", "name_zh": "夜班", "name_en": "night", "start": "01:30", "end": "03:00"},
            ],
            "reminders": {"before_start_minutes": [60, 15], "quiet_hours": None},
        }
    )
    tz = policy.tz
    roster = [
        RosterEntry(p, first + dt.timedelta(days=i), code)
        for i in range((last - first).days + 1)
        for p, code in (("a", "day"), ("b", "evening"), ("c", "night"))
    ]
    t0 = local_instant(first, dt.time(0), tz)
    t1 = local_instant(last + dt.timedelta(days=1), dt.time(0), tz)
    whole = due_reminders(t0, t1, roster, [], policy, tz, LEADS)
    swept = _sweep(t0, t1, dt.timedelta(minutes=7), roster, policy, tz)
    assert sorted(r.key for r in swept) == sorted(r.key for r in whole)
    counts = Counter(r.key for r in swept)
    assert max(counts.values()) == 1
    n_days = (last - first).days + 1
    # 2 pre-shift reminders + nudge for everyone, alerts only for people with a lead
    assert len(whole) == n_days * (3 * 3 + 2)
    for r in whole:
        start_local = r.shift_start.astimezone(tz)
        assert start_local.date() == r.shift_date
        if r.kind is ReminderKind.BEFORE_SHIFT:
            assert r.shift_start - r.due_at == dt.timedelta(minutes=int(r.data["lead_minutes"]))
        if r.kind is ReminderKind.GRACE_NUDGE:
            assert r.due_at - r.shift_start == dt.timedelta(minutes=6)
    day_starts = {r.shift_start.astimezone(tz).time() for r in whole if r.shift_code == "day"}
    assert day_starts == {dt.time(9)}  # no shift an hour off on either DST day


def test_shift_in_the_spring_gap_is_not_dropped() -> None:
    policy = policy_from_mapping(
        {
            "timezone": "Europe/Berlin",
            "shifts": [
                {"code": "early", "name_zh": "早班", "name_en": "early", "start": "02:30", "end": "10:00"}
            ],
            "roster": {"rotation": ["early"]},
            "staffing": {"default": {"early": 1}},
            "reminders": {"quiet_hours": None},
        }
    )
    roster = [RosterEntry("a", dt.date(2026, 3, 29), "early")]
    found = _sweep(
        local(BERLIN, 2026, 3, 28, 12),
        local(BERLIN, 2026, 3, 29, 12),
        dt.timedelta(minutes=5),
        roster,
        policy,
        BERLIN,
    )
    before = [r for r in found if r.kind is ReminderKind.BEFORE_SHIFT]
    assert len(before) == 1
    # 02:30 does not exist that night: the shift starts when the clock shows 03:30
    assert before[0].shift_start.astimezone(BERLIN).time() == dt.time(3, 30)


def test_fall_back_repeated_hour_fires_once() -> None:
    policy = policy_from_mapping(
        {
            "timezone": "Europe/Berlin",
            "shifts": [
                {"code": "early", "name_zh": "早班", "name_en": "early", "start": "02:45", "end": "10:00"}
            ],
            "roster": {"rotation": ["early"]},
            "staffing": {"default": {"early": 1}},
            "reminders": {"quiet_hours": None},
        }
    )
    roster = [RosterEntry("a", dt.date(2026, 10, 25), "early")]
    found = _sweep(
        local(BERLIN, 2026, 10, 24, 12),
        local(BERLIN, 2026, 10, 25, 12),
        dt.timedelta(minutes=5),
        roster,
        policy,
        BERLIN,
    )
    before = [r for r in found if r.kind is ReminderKind.BEFORE_SHIFT]
    assert len(before) == 1 and before[0].due_at == dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def _quiet_policy(start: str) -> Policy:
    return policy_from_mapping(
        {
            "shifts": [
                {"code": "early", "name_zh": "早班", "name_en": "early", "start": start, "end": "15:00"}
            ],
            "roster": {"rotation": ["early"]},
            "staffing": {"default": {"early": 1}},
        }
    )


def test_quiet_hours_move_pre_shift_reminder_after_quiet_end() -> None:
    policy = _quiet_policy("08:10")  # 07:55 is quiet; 08:00 is still before the start
    roster = [RosterEntry("a", dt.date(2026, 12, 1), "early")]
    found = due_reminders(
        local(SHANGHAI, 2026, 11, 30, 12), local(SHANGHAI, 2026, 12, 1, 12), roster, [], policy, SHANGHAI
    )
    before = found[0]
    assert before.kind is ReminderKind.BEFORE_SHIFT and before.data["moved"] is True
    assert before.due_at == local(SHANGHAI, 2026, 12, 1, 8, 0)


def test_quiet_hours_move_pre_shift_reminder_to_evening_before() -> None:
    policy = _quiet_policy("07:00")
    roster = [RosterEntry("a", dt.date(2026, 12, 1), "early")]
    found = due_reminders(
        local(SHANGHAI, 2026, 11, 30, 12), local(SHANGHAI, 2026, 12, 1, 12), roster, [], policy, SHANGHAI
    )
    assert found[0].kind is ReminderKind.BEFORE_SHIFT
    assert found[0].due_at == local(SHANGHAI, 2026, 11, 30, 23, 29)
    # the nudge is for someone at work: sent in quiet hours
    assert found[1].kind is ReminderKind.GRACE_NUDGE and found[1].due_at == local(SHANGHAI, 2026, 12, 1, 7, 6)


def test_quiet_hours_never_hold_an_alert_about_a_running_shift() -> None:
    """A night shift 22:00–06:00: its absence alert (00:01) concerns people at work, so it goes at 00:01
    although that is inside quiet hours (23:30–08:00); it used to wait until 08:00, after the shift."""
    rules = {
        "shifts": [
            {"code": "night", "name_zh": "夜班", "name_en": "night", "start": "22:00", "end": "06:00"}
        ],
        "roster": {"rotation": ["night"]},
        "staffing": {"default": {"night": 1}},
    }
    roster = [RosterEntry("a", dt.date(2026, 12, 1), "night")]
    t0, t1 = local(SHANGHAI, 2026, 12, 1, 12), local(SHANGHAI, 2026, 12, 2, 12)
    found = due_reminders(t0, t1, roster, [], policy_from_mapping(rules), SHANGHAI, LEADS)
    alert = next(r for r in found if r.kind is ReminderKind.ABSENCE_ALERT)
    assert alert.due_at == local(SHANGHAI, 2026, 12, 2, 0, 1)
    assert alert.due_at < alert.shift_end


def test_keys_are_stable_and_change_with_the_shift(policy: Policy) -> None:
    day = dt.date(2026, 12, 1)
    t0, t1 = local(SHANGHAI, 2026, 12, 1, 0), local(SHANGHAI, 2026, 12, 2, 0)
    a = due_reminders(t0, t1, [RosterEntry("a", day, "day")], [], policy, SHANGHAI, LEADS)
    b = due_reminders(t0, t1, [RosterEntry("a", day, "day")], [], policy, SHANGHAI, LEADS)
    assert [r.key for r in a] == [r.key for r in b]
    assert reminder_key(ReminderKind.GRACE_NUDGE, "a", day, "day") == "grace_nudge:a:2026-12-01:day"
    swapped = due_reminders(t0, t1, [RosterEntry("a", day, "evening")], [], policy, SHANGHAI, LEADS)
    assert not {r.key for r in a} & {r.key for r in swapped}


def test_still_useful(policy: Policy) -> None:
    day = dt.date(2026, 12, 1)
    found = due_reminders(
        local(SHANGHAI, 2026, 12, 1, 0),
        local(SHANGHAI, 2026, 12, 2, 0),
        [RosterEntry("a", day, "day")],
        [],
        policy,
        SHANGHAI,
        LEADS,
    )
    before, nudge, alert = found
    assert still_useful(before, local(SHANGHAI, 2026, 12, 1, 8, 59))
    assert not still_useful(before, local(SHANGHAI, 2026, 12, 1, 9, 0))  # "starts in 0 minutes" is no news
    # 11:00 is 120 min late: still seriously late (第三十条); from 11:01 a clock-in is half a day absent
    assert still_useful(nudge, local(SHANGHAI, 2026, 12, 1, 11, 0))
    assert not still_useful(nudge, local(SHANGHAI, 2026, 12, 1, 11, 1))
    assert still_useful(alert, local(SHANGHAI, 2026, 12, 2, 5, 59))
    assert not still_useful(alert, local(SHANGHAI, 2026, 12, 2, 6, 1))
    punches = [("a", day, "clock_in")]
    out = due_reminders(
        local(SHANGHAI, 2026, 12, 1, 0),
        local(SHANGHAI, 2026, 12, 2, 0),
        [RosterEntry("a", day, "day")],
        punches,
        policy,
        SHANGHAI,
    )[0]
    assert out.kind is ReminderKind.CLOCK_OUT
    assert still_useful(out, local(SHANGHAI, 2026, 12, 1, 18, 59))
    assert not still_useful(out, local(SHANGHAI, 2026, 12, 1, 19, 0))  # an hour after the end (policy: 60)


def test_restart_catch_up_is_one_window(policy: Policy) -> None:
    """After downtime the caller plans (last_run, now] once, sends what is still useful, and keys dedupe."""
    day = dt.date(2026, 12, 1)
    roster = [RosterEntry("a", day, "day")]
    missed = due_reminders(
        local(SHANGHAI, 2026, 12, 1, 8),
        local(SHANGHAI, 2026, 12, 1, 9, 30),
        roster,
        [],
        policy,
        SHANGHAI,
        LEADS,
    )
    now = local(SHANGHAI, 2026, 12, 1, 9, 30)
    assert [r.kind.value for r in missed if still_useful(r, now)] == ["grace_nudge"]


def test_empty_or_reversed_window(policy: Policy) -> None:
    t = local(SHANGHAI, 2026, 12, 1, 0)
    assert due_reminders(t, t, [RosterEntry("a", dt.date(2026, 12, 1), "day")], [], policy) == []


def test_generated_roster_day_plan(example_policy: Policy) -> None:
    teams = {"t": [f"p{i}" for i in range(8)]}
    roster = generate_roster(teams, dt.date(2026, 12, 1), dt.date(2026, 12, 3), example_policy)
    found = due_reminders(
        local(SHANGHAI, 2026, 12, 2, 0), local(SHANGHAI, 2026, 12, 3, 0), roster, [], example_policy, SHANGHAI
    )
    working = sum(1 for e in roster if e.date == dt.date(2026, 12, 2) and e.shift_code)
    assert len(found) == 2 * working


def test_wording_follows_the_moment_it_is_sent(policy: Policy) -> None:
    """Each sentence is computed from the send time against the shift 09:00–18:00 (第二十八至三十条)."""
    day = dt.date(2026, 12, 1)
    roster = [RosterEntry("a", day, "day")]
    before, nudge, alert = due_reminders(
        local(SHANGHAI, 2026, 12, 1, 0), local(SHANGHAI, 2026, 12, 2, 0), roster, [], policy, SHANGHAI, LEADS
    )

    def said(r: Reminder, *at: int) -> tuple[str, int, str | None, bool] | None:
        w = wording(r, local(SHANGHAI, *at), policy, SHANGHAI)
        return None if w is None else (w.key, w.minutes, w.counts_as, w.names_day)

    assert said(before, 2026, 12, 1, 8, 45) == ("remind.before_shift", 15, None, False)
    assert said(before, 2026, 12, 1, 8, 52) == ("remind.before_shift", 8, None, False)  # sent late: 8 left
    assert said(before, 2026, 12, 1, 7, 30) == ("remind.before_shift_today", 90, None, False)
    assert said(before, 2026, 11, 30, 23, 29) == ("remind.before_shift_day", 571, None, True)
    assert said(before, 2026, 12, 1, 9, 0) is None
    # grace ends with the 5th minute (第二十九条): at 09:06 a clock-in is 6 min late (≤ 30: late)
    assert said(nudge, 2026, 12, 1, 9, 6) == ("remind.grace_nudge", 6, "late", False)
    assert said(nudge, 2026, 12, 1, 9, 30) == ("remind.grace_nudge", 30, "late", False)
    assert said(nudge, 2026, 12, 1, 9, 31) == ("remind.grace_nudge", 31, "seriously_late", False)
    assert said(nudge, 2026, 12, 1, 11, 0) == ("remind.grace_nudge", 120, "seriously_late", False)
    assert said(nudge, 2026, 12, 1, 11, 1) is None  # a clock-in now is half a day absent: the lead's turn
    assert said(alert, 2026, 12, 1, 11, 1) == ("remind.absence_alert", 121, None, False)
    assert said(alert, 2026, 12, 1, 15, 0) == ("remind.absence_alert", 360, None, False)
    assert said(alert, 2026, 12, 1, 18, 0) == ("remind.absence_alert_ended", 0, None, True)
    assert said(alert, 2026, 12, 2, 5, 0) == ("remind.absence_alert_ended", 0, None, True)
    assert said(alert, 2026, 12, 2, 6, 0) is None
    (out,) = due_reminders(
        local(SHANGHAI, 2026, 12, 1, 0),
        local(SHANGHAI, 2026, 12, 2, 0),
        roster,
        [("a", day, "clock_in")],
        policy,
        SHANGHAI,
    )
    assert said(out, 2026, 12, 1, 18, 0) == ("remind.clock_out", 0, None, False)
    assert said(out, 2026, 12, 1, 18, 30) == ("remind.clock_out_late", 0, None, False)


def test_an_overnight_shifts_nudge_after_midnight_names_its_day() -> None:
    rules = {
        "shifts": [
            {"code": "night", "name_zh": "夜班", "name_en": "night", "start": "23:00", "end": "07:00"}
        ],
        "roster": {"rotation": ["night"]},
        "staffing": {"default": {"night": 1}},
    }
    policy = policy_from_mapping(rules)
    roster = [RosterEntry("a", dt.date(2026, 12, 1), "night")]
    found = due_reminders(
        local(SHANGHAI, 2026, 12, 1, 12),
        local(SHANGHAI, 2026, 12, 2, 12),
        roster,
        [],
        policy,
        SHANGHAI,
        LEADS,
    )
    nudge = next(r for r in found if r.kind is ReminderKind.GRACE_NUDGE)
    w = wording(nudge, local(SHANGHAI, 2026, 12, 2, 0, 10), policy, SHANGHAI)
    assert w == Wording("remind.grace_nudge_past", 70, "seriously_late", True)


def test_quiet_hours_hold_only_alerts_about_a_finished_shift(policy: Policy) -> None:
    day = dt.date(2026, 12, 1)
    found = due_reminders(
        local(SHANGHAI, 2026, 12, 1, 0),
        local(SHANGHAI, 2026, 12, 2, 0),
        [RosterEntry("a", day, "day")],
        [],
        policy,
        SHANGHAI,
        LEADS,
    )
    _, nudge, alert = found
    # quiet hours 23:30–08:00: a 12-01 alert arriving at 01:00 (the bot was down) waits for the morning
    assert held_by_quiet_hours(alert, local(SHANGHAI, 2026, 12, 2, 1, 0), policy, SHANGHAI)
    assert not held_by_quiet_hours(alert, local(SHANGHAI, 2026, 12, 1, 23, 0), policy, SHANGHAI)
    assert not held_by_quiet_hours(nudge, local(SHANGHAI, 2026, 12, 2, 1, 0), policy, SHANGHAI)
