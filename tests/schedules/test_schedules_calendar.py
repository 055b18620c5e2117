"""Working days with holidays and makeup workdays (调休)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from schedules.calendar import HolidayError, add_workdays, is_workday, load_holidays, workdays_between

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
D = dt.date


def test_example_holidays() -> None:
    cal = load_holidays(EXAMPLES / "holidays.yaml")
    assert not cal.is_workday(D(2026, 10, 1)) and cal.is_holiday(D(2026, 10, 7))
    assert cal.names[D(2026, 10, 3)] == "国庆节"
    assert cal.is_workday(D(2026, 10, 10))  # Saturday makeup workday
    assert not cal.is_workday(D(2026, 10, 11))
    assert cal.is_workday(D(2026, 10, 8))


def test_weekends_only_without_calendar() -> None:
    assert is_workday(D(2026, 12, 4)) and not is_workday(D(2026, 12, 5))
    assert add_workdays(D(2026, 12, 4), 2) == D(2026, 12, 8)
    assert add_workdays(D(2026, 12, 4), 0) == D(2026, 12, 4)
    assert workdays_between(D(2026, 12, 4), D(2026, 12, 8)) == 2
    assert workdays_between(D(2026, 12, 8), D(2026, 12, 4)) == 0
    with pytest.raises(ValueError):
        add_workdays(D(2026, 12, 4), -1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("holidays:\n  - 2026-13-01\n", "month must be in 1..12"),
        ("holidays:\n  - 2026-1-32x\n", "holidays[0]"),
        ("holidays:\n  - {from: 2026-10-07, to: 2026-10-01}\n", "before from"),
        ("holidays:\n  - {from: 2026-10-01}\n", "both from and to"),
        ("holiday:\n  - 2026-10-01\n", "unknown section 'holiday'"),
        ("holidays: [2026-10-01]\nmakeup_workdays: [2026-10-01]\n", "also a holiday"),
        ("holidays:\n  - {day: 2026-10-01}\n", "unknown field 'day'"),
        ("- a\n", "expected holidays"),
    ],
)
def test_bad_holiday_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "h.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(HolidayError, match=re.escape(message)):
        load_holidays(path)
