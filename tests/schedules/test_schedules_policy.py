"""Policy loading: handbook defaults, the example file, and one-line errors naming the field."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest

from schedules.policy import Article, Policy, PolicyError, load_policy, policy_from_mapping

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "policy.yaml"


def test_defaults_match_handbook(policy: Policy) -> None:
    assert policy.shift("day").start == time(9) and policy.shift("day").end == time(18)
    assert policy.shift("evening").start == time(14) and policy.shift("evening").end == time(23)
    assert policy.clock_in.window_opens_minutes == 60
    assert (policy.clock_in.grace_minutes, policy.clock_in.grace_uses_per_month) == (5, 3)
    assert (policy.clock_in.late_max_minutes, policy.clock_in.seriously_late_max_minutes) == (30, 120)
    assert policy.clock_out.early_leave_max_minutes == 30
    assert policy.overtime.unit_minutes == 30
    assert (policy.missed_punch.deadline_working_days, policy.missed_punch.per_month) == (2, 3)
    assert policy.swaps.min_notice_hours == 24 and policy.swaps.per_month == 3
    assert policy.swaps.min_rest_hours == 11 and policy.swaps.approval_deadline_hours == 12
    assert [lv.respond_minutes for lv in policy.escalation.levels] == [5, 15, 30]
    assert policy.clock_in.article_grace == Article("第二十九条", "Article 29")
    assert policy.escalation.article_respond == ("第八十三条", "Article 83")


def test_example_file_loads_and_sets_every_section(example_policy: Policy) -> None:
    assert example_policy.timezone == "Asia/Shanghai"
    assert example_policy.staffing.minimum("complaint", "evening") == 1
    assert example_policy.staffing.minimum("service", "evening") == 2
    assert example_policy.reminders.quiet_hours is not None
    assert example_policy.reminders.quiet_hours.start == time(23, 30)
    assert example_policy.peak_sale_on(date(2026, 11, 11)) is not None
    assert example_policy.peak_sale_on(date(2026, 12, 1)) is None


@pytest.mark.parametrize(
    ("word", "code"),
    [
        ("白班", "day"),
        ("白", "day"),
        ("day", "day"),
        ("D", "day"),
        ("ＤＡＹ", "day"),
        (" 晚 ", "evening"),
        ("E", "evening"),
        ("休", None),
        ("off", None),
        ("Rest", None),
    ],
)
def test_shift_words(policy: Policy, word: str, code: str | None) -> None:
    assert policy.resolve_shift_word(word) == (True, code)


def test_unknown_shift_word(policy: Policy) -> None:
    assert policy.resolve_shift_word("夜班") == (False, None)


def test_leave_approver_by_length(policy: Policy) -> None:
    assert policy.leave.approver(0.5) == "lead"
    assert policy.leave.approver(1) == "lead"
    assert policy.leave.approver(1.5) == "supervisor"
    assert policy.leave.approver(3) == "supervisor"
    assert policy.leave.approver(4) == "manager"
    personal = policy.leave.leave_type("personal")
    assert personal is not None and personal.notice_days == 3 and personal.article.zh == "第四十九条"


def _error(tmp_path: Path, text: str) -> PolicyError:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert "\n" not in str(info.value)
    return info.value


def test_error_names_field_and_value(tmp_path: Path) -> None:
    err = _error(tmp_path, "clock_in:\n  grace_minutes: -1\n")
    assert err.field == "clock_in.grace_minutes"
    assert str(err).startswith("policy.yaml: clock_in.grace_minutes:")
    assert "-1" in str(err)


def test_error_unknown_field(tmp_path: Path) -> None:
    err = _error(tmp_path, "clock_in:\n  grace_minute: 5\n")
    assert err.field == "clock_in.grace_minute" and "unknown field" in str(err)


def test_error_bad_time_in_list(tmp_path: Path) -> None:
    err = _error(
        tmp_path, 'shifts:\n  - {code: day, name_zh: 白班, name_en: day, start: "25:00", end: "18:00"}\n'
    )
    assert err.field == "shifts[0].start"


def test_error_cross_field(tmp_path: Path) -> None:
    assert _error(tmp_path, "staffing:\n  default: {night: 1}\n").field == "staffing.default"
    assert _error(tmp_path, "clock_in:\n  late_max_minutes: 200\n").field == "clock_in.late_max_minutes"
    err = _error(tmp_path, "roster:\n  rest_aliases: [白]\n")
    assert err.field == "roster.rest_aliases" and "'白'" in str(err)
    err = _error(tmp_path, "peak_sales:\n  - {name: x, start: 2026-11-11, end: 2026-11-01}\n")
    assert err.field == "peak_sales[0].end"


def test_error_timezone_and_yaml_syntax(tmp_path: Path) -> None:
    assert _error(tmp_path, "timezone: Mars/Base\n").field == "timezone"
    err = _error(tmp_path, "clock_in: [\n")
    assert "line" in str(err)
    assert _error(tmp_path, "- a\n- b\n").problem == "not a mapping"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "nope.yaml")


def test_empty_file_is_defaults(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("# nothing\n", encoding="utf-8")
    assert load_policy(path) == Policy()


def test_yaml_times_and_words_stay_strings() -> None:
    # YAML 1.1 would read 14:00 as 840 and off as False
    p = policy_from_mapping({})
    q = load_policy(EXAMPLE)
    assert q.shift("evening").start == time(14) == p.shift("evening").start
    assert q.resolve_shift_word("off") == (True, None)


def test_unquoted_times_in_yaml(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "shifts:\n  - {code: day, name_zh: 白班, name_en: day, start: 9:00, end: 18:00}\n"
        "  - {code: evening, name_zh: 晚班, name_en: evening, start: 14:00, end: 23:00}\n",
        encoding="utf-8",
    )
    p = load_policy(path)
    assert p.shift("day").start == time(9) and p.shift("evening").end == time(23)


def test_overnight_shift_flag() -> None:
    p = policy_from_mapping(
        {
            "shifts": [
                {"code": "night", "name_zh": "夜班", "name_en": "night", "start": "22:00", "end": "06:00"}
            ],
            "roster": {"rotation": ["night"]},
            "staffing": {"default": {"night": 1}},
        }
    )
    assert p.shift("night").overnight and p.shift("night").minutes == 480


def test_privacy_defaults_and_validation(policy: Policy, tmp_path: Path) -> None:
    assert policy.privacy.leave_reason_on_group_cards is False
    assert policy.privacy.leaver_retention_years == 3
    shown = policy_from_mapping(
        {"privacy": {"leave_reason_on_group_cards": True, "leaver_retention_years": 5}}
    )
    assert shown.privacy.leave_reason_on_group_cards and shown.privacy.leaver_retention_years == 5
    err = _error(tmp_path, "privacy:\n  leave_reason_on_group_cards: sometimes\n")
    assert "privacy.leave_reason_on_group_cards" in str(err)
    err = _error(tmp_path, "privacy:\n  leaver_retention_years: -1\n")
    assert "privacy.leaver_retention_years" in str(err)
