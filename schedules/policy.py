"""The department's rules as one validated object.

Every number the bot applies (grace minutes, swap lead time, escalation deadlines, quiet hours…) lives here,
with the handbook article it comes from, so a verdict or a refusal can quote the article. Defaults match the
sample handbook; a department changes them in a YAML file (see ``examples/policy.yaml``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date, time
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from schedules.safe_yaml import load_bounded

__all__ = [
    "ApproverRule",
    "Article",
    "AttendanceRules",
    "ClockInRules",
    "ClockOutRules",
    "EscalationLevel",
    "EscalationRules",
    "LeaveRules",
    "LeaveType",
    "Level",
    "MissedPunchRules",
    "OvertimeRules",
    "PeakSale",
    "Policy",
    "PolicyError",
    "QuietHours",
    "ReminderRules",
    "RosterRules",
    "ServiceHours",
    "ShiftType",
    "StaffingRules",
    "SwapRules",
    "default_policy",
    "load_policy",
    "normalise_word",
    "policy_from_mapping",
    "yaml_safe_load",
]

Level = Literal["lead", "supervisor", "manager"]
LEVELS: tuple[Level, ...] = ("lead", "supervisor", "manager")


class Article(NamedTuple):
    """A handbook article reference in both languages, e.g. ("第二十九条", "Article 29")."""

    zh: str
    en: str


def _a(zh: str, en: str) -> Article:
    return Article(zh, en)


def normalise_word(text: str) -> str:
    """Fold width and case so 'ＤＡＹ ', 'Day' and 'day' match the same alias."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


_CLOCK = re.compile(r"^\s*(\d{1,2})[:：](\d{2})(?::(\d{2}))?\s*$")


def _parse_clock(value: Any) -> Any:
    """Accept '9:00' and '09:00' (and the full-width colon) as well as time objects."""
    if isinstance(value, str):
        m = _CLOCK.match(value)
        if not m:
            raise ValueError("expected a time like 09:00")
        h, mi, se = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        if h > 23 or mi > 59 or se > 59:
            raise ValueError("expected a time between 00:00 and 23:59")
        return time(h, mi, se)
    return value


LocalTime = Annotated[time, BeforeValidator(_parse_clock)]


class _Model(BaseModel):
    """Frozen and strict about unknown keys, so a typo in the YAML is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ShiftType(_Model):
    """A shift (班次) as local wall-clock times; end before start means it ends the next day (overnight)."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_zh: str
    name_en: str
    start: LocalTime
    end: LocalTime
    aliases: tuple[str, ...] = ()
    article: Article = _a("第十七条", "Article 17")

    @property
    def overnight(self) -> bool:
        """An overnight shift belongs to the day it starts."""
        return self.end <= self.start

    @property
    def minutes(self) -> int:
        """Nominal length in wall-clock minutes (DST may make the real length differ by an hour)."""
        s = self.start.hour * 60 + self.start.minute
        e = self.end.hour * 60 + self.end.minute
        return (e - s) % (24 * 60) or 24 * 60

    @model_validator(mode="after")
    def _not_empty(self) -> ShiftType:
        if self.start == self.end:
            raise ValueError(f"end: shift {self.code!r} starts and ends at {self.start:%H:%M}")
        return self


class ServiceHours(_Model):
    """Hours the hotline serves customers (第十七条); outside them channels are message-only."""

    start: LocalTime = time(9, 0)
    end: LocalTime = time(23, 0)
    article: Article = _a("第十七条", "Article 17")


class RosterRules(_Model):
    """How rosters are written and what a valid roster looks like (第二十、二十一、四十三条)."""

    pattern: Literal["six_on_one_off"] = "six_on_one_off"
    rest_aliases: tuple[str, ...] = ("休", "休息", "rest", "off", "r", "-", "—", "/")
    blank_cell_is_rest: bool = False
    rotation: tuple[str, ...] = ("day", "evening")
    max_consecutive_days: int = Field(default=6, ge=1, le=13)
    min_rest_hours: int = Field(default=11, ge=0, le=24)
    max_evening_weeks: int = Field(default=2, ge=1)
    weekend_rest_per_month: int = Field(default=1, ge=0, le=4)
    publish_weekday: int = Field(default=3, ge=0, le=6, description="0=Monday; Thursday by default")
    publish_by: LocalTime = time(18, 0)
    article_pattern: Article = _a("第二十条", "Article 20")
    article_publish: Article = _a("第二十一条", "Article 21")
    article_limits: Article = _a("第四十三条", "Article 43")


def _check_counts(counts: Mapping[str, int]) -> None:
    for code, n in counts.items():
        if n < 0:
            raise ValueError(f"minimum staff for {code} must be 0 or more (got {n})")


class StaffingRules(_Model):
    """Minimum people on each shift per team (第二十条 rotation must keep the service running, 第三十八条)."""

    default: dict[str, int] = Field(default_factory=lambda: {"day": 2, "evening": 1})
    teams: dict[str, dict[str, int]] = Field(default_factory=dict)
    article: Article = _a("第二十条", "Article 20")

    @field_validator("default")
    @classmethod
    def _default_ok(cls, value: dict[str, int]) -> dict[str, int]:
        _check_counts(value)
        return value

    @field_validator("teams")
    @classmethod
    def _teams_ok(cls, value: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        for counts in value.values():
            _check_counts(counts)
        return value

    def minimum(self, team: str, shift_code: str) -> int:
        """Minimum staff for one team and shift; team entries override the default."""
        team_rules = self.teams.get(team)
        if team_rules is not None and shift_code in team_rules:
            return team_rules[shift_code]
        return self.default.get(shift_code, 0)


class ClockInRules(_Model):
    """Clock-in window, grace and lateness thresholds (第二十八、二十九、三十条)."""

    window_opens_minutes: int = Field(default=60, ge=0, le=24 * 60)
    grace_minutes: int = Field(default=5, ge=0)
    grace_uses_per_month: int = Field(default=3, ge=0)
    late_max_minutes: int = Field(default=30, ge=0)
    seriously_late_max_minutes: int = Field(default=120, ge=0)
    punch_resolution: Literal["minute", "second"] = "minute"
    article_window: Article = _a("第二十八条", "Article 28")
    article_grace: Article = _a("第二十九条", "Article 29")
    article_late: Article = _a("第三十条", "Article 30")
    article_absent: Article = _a("第三十二条", "Article 32")

    @model_validator(mode="after")
    def _ordered(self) -> ClockInRules:
        if not self.grace_minutes <= self.late_max_minutes <= self.seriously_late_max_minutes:
            raise ValueError(
                "late_max_minutes: need grace_minutes <= late_max_minutes <= seriously_late_max_minutes "
                f"(got {self.grace_minutes}, {self.late_max_minutes}, {self.seriously_late_max_minutes})"
            )
        return self


class ClockOutRules(_Model):
    """Early leave thresholds (第三十条) and how long after the end a clock-out still belongs to the shift."""

    early_leave_max_minutes: int = Field(default=30, ge=0)
    closes_after_end_minutes: int = Field(default=6 * 60, ge=0, le=24 * 60)
    article_early_leave: Article = _a("第三十条", "Article 30")
    article_stay_late: Article = _a("第二十三条", "Article 23")


class OvertimeRules(_Model):
    """Staying late counts in whole 30-minute units; a monthly cap applies (第二十四、二十五条)."""

    unit_minutes: int = Field(default=30, ge=1)
    monthly_cap_hours: int = Field(default=36, ge=0)
    article_stay_late: Article = _a("第二十三条", "Article 23")
    article_unit: Article = _a("第二十四条", "Article 24")
    article_cap: Article = _a("第二十五条", "Article 25")


class MissedPunchRules(_Model):
    """补卡: deadline in working days and a monthly limit (第三十四条); consequences (第三十五条)."""

    deadline_working_days: int = Field(default=2, ge=0)
    per_month: int = Field(default=3, ge=0)
    article: Article = _a("第三十四条", "Article 34")
    article_consequence: Article = _a("第三十五条", "Article 35")


class AttendanceRules(_Model):
    """What a month's shift verdicts add up to (第三十一、三十三条), and how old a punch may arrive.

    ``full_attendance_lost_by_leave`` lists leave types that cost the 全勤奖 (事假 in the handbook); a late
    arrival, early leave or absence always does, a grace use never does. ``warning_at_late_and_early`` is the
    count of lates (of any degree) and early leaves in a month that brings a written warning (0: never);
    each half-day absence brings one more (第三十三条), a whole day of absence a demerit (记过) instead.
    ``close_on_day``: when a finished month's verdicts are frozen (``schedules.closing``).
    """

    full_attendance_lost_by_leave: tuple[str, ...] = ("personal",)
    warning_at_late_and_early: int = Field(default=4, ge=0)
    warning_per_half_day_absence: bool = True
    demerit_per_full_day_absence: bool = True
    punch_max_age_hours: int = Field(default=24, ge=0)
    close_on_day: int = Field(default=3, ge=1, le=28)
    """A month closes at 00:00 on this day of the next month (第三十七条: 组长应在每月3日前汇总上月考勤)."""
    article_consequences: Article = _a("第三十一条", "Article 31")
    article_absence: Article = _a("第三十二条", "Article 32")
    article_absence_discipline: Article = _a("第三十三条", "Article 33")


class QuietHours(_Model):
    """Local times between which nobody is disturbed except for urgent messages."""

    start: LocalTime = time(23, 30)
    end: LocalTime = time(8, 0)

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("end: equals start; write quiet_hours: null to disable quiet hours")
        return self

    def contains(self, t: time) -> bool:
        """True when a local wall-clock time falls in [start, end), wrapping over midnight."""
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


class ReminderRules(_Model):
    """What the bot reminds people of and when (第二十三、二十八至三十条)."""

    before_start_minutes: tuple[int, ...] = (15,)
    nudge_after_grace: bool = True
    lead_alert_at_absence: bool = True
    absence_alert_urgent: bool = False
    clock_out_at_end: bool = True
    clock_out_useful_minutes: int = Field(default=60, ge=0)
    absence_alert_useful_hours: int = Field(default=12, ge=0)
    approval_reminder_interval_minutes: int = Field(default=60, ge=1)
    quiet_hours: QuietHours | None = Field(default_factory=QuietHours)
    article_clock_in: Article = _a("第二十八条", "Article 28")
    article_stay_late: Article = _a("第二十三条", "Article 23")

    @field_validator("before_start_minutes")
    @classmethod
    def _positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(m <= 0 for m in value):
            raise ValueError("every lead time must be more than 0 minutes")
        if len(set(value)) != len(value):
            raise ValueError("lead times must not repeat")
        return tuple(sorted(value, reverse=True))


class SwapRules(_Model):
    """换班 limits (第三十九至四十六条)."""

    min_notice_hours: int = Field(default=24, ge=0)
    per_month: int = Field(default=3, ge=0)
    max_consecutive_days: int = Field(default=6, ge=1)
    min_rest_hours: int = Field(default=11, ge=0)
    new_hire_days: int = Field(default=30, ge=0)
    approval_deadline_hours: int = Field(default=12, ge=1)
    suspended_during_peak_sale: bool = True
    article_who: Article = _a("第三十九条", "Article 39")
    article_notice: Article = _a("第四十条", "Article 40")
    article_approval: Article = _a("第四十一条", "Article 41")
    article_limit: Article = _a("第四十二条", "Article 42")
    article_rest: Article = _a("第四十三条", "Article 43")
    article_emergency: Article = _a("第四十四条", "Article 44")
    article_peak_sale: Article = _a("第四十六条", "Article 46")


class LeaveType(_Model):
    """A kind of leave with its notice period and the article that sets it."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_zh: str
    name_en: str
    notice_days: int = Field(default=0, ge=0)
    notice_hours_before_shift: int = Field(default=0, ge=0)
    min_unit_days: float = Field(default=0.5, gt=0)
    paid: bool = True
    blocked_during_peak_sale: bool = False
    article: Article


def _default_leave_types() -> tuple[LeaveType, ...]:
    return (
        LeaveType(
            code="personal",
            name_zh="事假",
            name_en="personal leave",
            notice_days=3,
            paid=False,
            blocked_during_peak_sale=True,
            article=_a("第四十九条", "Article 49"),
        ),
        LeaveType(
            code="sick",
            name_zh="病假",
            name_en="sick leave",
            notice_hours_before_shift=1,
            article=_a("第五十条", "Article 50"),
        ),
        LeaveType(
            code="annual",
            name_zh="年休假",
            name_en="annual leave",
            notice_days=7,
            min_unit_days=1,
            blocked_during_peak_sale=True,
            article=_a("第五十二条", "Article 52"),
        ),
        LeaveType(
            code="marriage",
            name_zh="婚假",
            name_en="marriage leave",
            notice_days=14,
            min_unit_days=1,
            article=_a("第五十三条", "Article 53"),
        ),
        LeaveType(
            code="bereavement",
            name_zh="丧假",
            name_en="bereavement leave",
            min_unit_days=1,
            article=_a("第五十三条", "Article 53"),
        ),
        LeaveType(
            code="maternity",
            name_zh="产假",
            name_en="maternity leave",
            notice_days=30,
            min_unit_days=1,
            article=_a("第五十四条", "Article 54"),
        ),
        LeaveType(
            code="paternity",
            name_zh="陪产假",
            name_en="paternity leave",
            notice_days=30,
            min_unit_days=1,
            article=_a("第五十四条", "Article 54"),
        ),
        LeaveType(
            code="parental",
            name_zh="育儿假",
            name_en="parental leave",
            notice_days=30,
            min_unit_days=1,
            article=_a("第五十四条", "Article 54"),
        ),
        LeaveType(
            code="day_in_lieu",
            name_zh="调休",
            name_en="day in lieu",
            notice_days=3,
            blocked_during_peak_sale=True,
            article=_a("第五十五条", "Article 55"),
        ),
    )


class ApproverRule(_Model):
    """Leave up to ``max_days`` (inclusive) is approved at ``level``; ``None`` means any length."""

    max_days: float | None
    level: Level


class LeaveRules(_Model):
    """请假 types and who approves by length (第四十七至五十七条)."""

    types: tuple[LeaveType, ...] = Field(default_factory=_default_leave_types)
    approvers: tuple[ApproverRule, ...] = (
        ApproverRule(max_days=1, level="lead"),
        ApproverRule(max_days=3, level="supervisor"),
        ApproverRule(max_days=None, level="manager"),
    )
    hr_filing_days: int = Field(default=15, ge=1)
    article_approval: Article = _a("第四十八条", "Article 48")
    article_peak_sale: Article = _a("第五十七条", "Article 57")

    @model_validator(mode="after")
    def _check(self) -> LeaveRules:
        codes = [t.code for t in self.types]
        dup = sorted({c for c in codes if codes.count(c) > 1})
        if dup:
            raise ValueError(f"types: code {dup[0]!r} appears more than once")
        if not self.approvers or self.approvers[-1].max_days is not None:
            raise ValueError("approvers: the last rule must have max_days: null (any length)")
        limits = [a.max_days for a in self.approvers[:-1]]
        if any(m is None for m in limits) or limits != sorted(limits):  # type: ignore[type-var]
            raise ValueError("approvers: max_days must increase and only the last may be null")
        return self

    def leave_type(self, code: str) -> LeaveType | None:
        """The leave type with this code, if the policy has it."""
        return next((t for t in self.types if t.code == code), None)

    def approver(self, days: float) -> Level:
        """Who approves leave of this many days (第四十八条)."""
        for rule in self.approvers:
            if rule.max_days is None or days <= rule.max_days:
                return rule.level
        raise AssertionError("unreachable: validated last rule has no limit")


class EscalationLevel(_Model):
    """Response (acknowledge) and decision (resolution) deadlines for one level."""

    level: Level
    respond_minutes: int = Field(ge=1)
    decide_minutes: int | None = Field(default=None, ge=1, description="null: before service hours end")


class EscalationRules(_Model):
    """升级 deadlines per level (第八十三条 respond, 第八十五条 decide) and duty hours (第八十八条)."""

    levels: tuple[EscalationLevel, ...] = (
        EscalationLevel(level="lead", respond_minutes=5, decide_minutes=30),
        EscalationLevel(level="supervisor", respond_minutes=15, decide_minutes=120),
        EscalationLevel(level="manager", respond_minutes=30, decide_minutes=None),
    )
    duty_supervisor_start: LocalTime = time(18, 0)
    duty_supervisor_end: LocalTime = time(23, 0)
    article_order: Article = _a("第八十条", "Article 80")
    article_respond: Article = _a("第八十三条", "Article 83")
    article_auto: Article = _a("第八十四条", "Article 84")
    article_decide: Article = _a("第八十五条", "Article 85")
    article_skip_level: Article = _a("第八十六条", "Article 86")
    article_duty: Article = _a("第八十八条", "Article 88")

    @model_validator(mode="after")
    def _ordered(self) -> EscalationRules:
        names = tuple(lv.level for lv in self.levels)
        if names != LEVELS:
            raise ValueError(f"levels: must be lead, supervisor, manager in that order (got {names})")
        return self

    def for_level(self, level: Level) -> EscalationLevel:
        """Deadlines for one level."""
        return next(lv for lv in self.levels if lv.level == level)


class PrivacyRules(_Model):
    """What shared chats may show, and how long a leaver's personal data is kept."""

    leave_reason_on_group_cards: StrictBool = False
    leaver_retention_years: int = Field(default=3, ge=0, le=30)


class PeakSale(_Model):
    """A 大促 support period (inclusive local dates) with special rules (第二十七、四十六、五十七条)."""

    name: str
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> PeakSale:
        if self.end < self.start:
            raise ValueError(f"end: {self.name!r} ends ({self.end}) before it starts ({self.start})")
        return self


class Policy(_Model):
    """All rules of one department. Build with :func:`load_policy` or :func:`default_policy`."""

    version: Literal[1] = 1
    timezone: str = "Asia/Shanghai"
    service_hours: ServiceHours = Field(default_factory=ServiceHours)
    shifts: tuple[ShiftType, ...] = (
        ShiftType(
            code="day",
            name_zh="白班",
            name_en="day",
            start=time(9),
            end=time(18),
            aliases=("白班", "白", "day", "d"),
        ),
        ShiftType(
            code="evening",
            name_zh="晚班",
            name_en="evening",
            start=time(14),
            end=time(23),
            aliases=("晚班", "晚", "evening", "e"),
        ),
    )
    roster: RosterRules = Field(default_factory=RosterRules)
    staffing: StaffingRules = Field(default_factory=StaffingRules)
    clock_in: ClockInRules = Field(default_factory=ClockInRules)
    clock_out: ClockOutRules = Field(default_factory=ClockOutRules)
    overtime: OvertimeRules = Field(default_factory=OvertimeRules)
    missed_punch: MissedPunchRules = Field(default_factory=MissedPunchRules)
    attendance: AttendanceRules = Field(default_factory=AttendanceRules)
    reminders: ReminderRules = Field(default_factory=ReminderRules)
    swaps: SwapRules = Field(default_factory=SwapRules)
    leave: LeaveRules = Field(default_factory=LeaveRules)
    escalation: EscalationRules = Field(default_factory=EscalationRules)
    privacy: PrivacyRules = Field(default_factory=PrivacyRules)
    peak_sales: tuple[PeakSale, ...] = ()
    article_peak_sale: Article = _a("第二十七条", "Article 27")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)"
            ) from None
        return value

    @model_validator(mode="after")
    def _cross_check(self) -> Policy:
        if not self.shifts:
            raise ValueError("shifts: at least one shift is needed")
        seen: dict[str, str] = {}
        for i, shift in enumerate(self.shifts):
            if shift.code in seen.values():
                raise ValueError(f"shifts[{i}].code: {shift.code!r} is used twice")
            for word in (shift.code, shift.name_zh, shift.name_en, *shift.aliases):
                key = normalise_word(word)
                other = seen.get(key)
                if other is not None and other != shift.code:
                    raise ValueError(f"shifts[{i}].aliases: {word!r} already means shift {other!r}")
                seen[key] = shift.code
        for word in self.roster.rest_aliases:
            if normalise_word(word) in seen:
                raise ValueError(
                    f"roster.rest_aliases: {word!r} also names shift {seen[normalise_word(word)]!r}"
                )
        codes = {s.code for s in self.shifts}
        for code in self.roster.rotation:
            if code not in codes:
                raise ValueError(
                    f"roster.rotation: unknown shift code {code!r} (known: {', '.join(sorted(codes))})"
                )
        for where, counts in [("staffing.default", self.staffing.default)] + [
            (f"staffing.teams.{t}", c) for t, c in self.staffing.teams.items()
        ]:
            for code in counts:
                if code not in codes:
                    raise ValueError(
                        f"{where}: unknown shift code {code!r} (known: {', '.join(sorted(codes))})"
                    )
        return self

    @cached_property
    def tz(self) -> ZoneInfo:
        """The department's time zone."""
        return ZoneInfo(self.timezone)

    @cached_property
    def _words(self) -> dict[str, str | None]:
        words: dict[str, str | None] = {}
        for shift in self.shifts:
            for word in (shift.code, shift.name_zh, shift.name_en, *shift.aliases):
                words[normalise_word(word)] = shift.code
        for word in self.roster.rest_aliases:
            words[normalise_word(word)] = None
        return words

    @cached_property
    def _by_code(self) -> dict[str, ShiftType]:
        return {s.code: s for s in self.shifts}

    def shift(self, code: str) -> ShiftType:
        """The shift type with this code; KeyError if unknown."""
        return self._by_code[code]

    def resolve_shift_word(self, text: str) -> tuple[bool, str | None]:
        """Map a roster cell or chat word ('白班', 'D', '休') to (known, shift code or None for rest)."""
        key = normalise_word(text)
        if key in self._words:
            return True, self._words[key]
        return False, None

    def peak_sale_on(self, day: date) -> PeakSale | None:
        """The peak_sale period covering a local date, if any."""
        return next((p for p in self.peak_sales if p.start <= day <= p.end), None)


class PolicyError(ValueError):
    """A policy file that cannot be used; ``str()`` is one line naming the field and the problem."""

    def __init__(self, message: str, *, field: str = "", problem: str = "") -> None:
        super().__init__(message)
        self.field = field
        self.problem = problem


class _StrictLoader(yaml.SafeLoader):
    """YAML 1.1 without its surprises: 14:00 stays a string (not 840) and off/no stay strings."""


_StrictLoader.yaml_implicit_resolvers = {
    first: [
        (tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:bool")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0x[0-9a-fA-F_]+|[-+]?[0-9][0-9_]*)$"),
    list("-+0123456789"),
)
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def yaml_safe_load(text: str | bytes) -> Any:
    """Safe YAML loading where times like 14:00 and words like off stay strings."""
    return load_bounded(text, _StrictLoader)


_INNER_FIELD = re.compile(r"^([A-Za-z_][\w\[\]]*(?:\.[\w\[\]]+)*): (.*)$", re.S)


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _one_line(source: str, exc: ValidationError) -> PolicyError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    field = _loc(tuple(first["loc"]))
    problem = str(first["msg"]).removeprefix("Value error, ")
    inner = _INNER_FIELD.match(problem)
    if inner:
        field = f"{field}.{inner.group(1)}" if field else inner.group(1)
        problem = inner.group(2)
    if first["type"] == "extra_forbidden":
        problem = "unknown field (check the spelling)"
    elif first["type"] != "missing" and not isinstance(first.get("input"), dict | list | tuple):
        shown = repr(first.get("input"))[:40]
        if shown not in problem:
            problem += f" (got {shown})"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return PolicyError(f"{source}: {field or 'policy'}: {problem}{more}", field=field, problem=problem)


def policy_from_mapping(data: Mapping[str, Any], source: str = "policy") -> Policy:
    """Validate a mapping (already parsed YAML) into a Policy, raising PolicyError with one line."""
    try:
        return Policy.model_validate(dict(data))
    except ValidationError as exc:
        raise _one_line(source, exc) from None


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy YAML file; missing sections take the handbook defaults."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{p.name}: cannot read: {exc.strerror}", field="", problem="unreadable") from None
    return _policy_from_text(text, p.name)


@lru_cache(maxsize=16)
def _policy_from_text(text: str, name: str) -> Policy:
    """The same text gives the same policy (frozen, so it can be shared): parsing the YAML in pure Python
    takes 50-70 ms, paid once per distinct file content in a process that builds many apps (the tests).
    A file that fails raises each time (errors are not cached)."""
    try:
        data = yaml_safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or "not valid YAML"
        raise PolicyError(f"{name}{where}: {reason}", problem="yaml") from None
    except ValueError as exc:  # PyYAML's date constructor: 2026-13-01
        raise PolicyError(f"{name}: {exc}", problem="yaml") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(f"{name}: the file must be a mapping of sections", problem="not a mapping")
    return policy_from_mapping(data, name)


def default_policy() -> Policy:
    """The sample handbook's rules."""
    return Policy()
