"""Summaries and their files: CSV, XLSX, charts and the roster picture, warning-free without CJK fonts."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from schedules import report
from schedules.attendance import ShiftFacts, ShiftVerdict, judge_shifts
from schedules.policy import Policy
from schedules.report import detail_rows, render_roster_png, summarise, write_csv, write_png, write_xlsx
from schedules.roster.model import RosterEntry

UTC = dt.UTC
PNG = b"\x89PNG\r\n\x1a\n"


def _shanghai(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=dt.timezone(dt.timedelta(hours=8))).astimezone(UTC)


def _verdicts(policy: Policy) -> list[ShiftVerdict]:
    facts: list[ShiftFacts] = []
    late_by = {1: 0, 2: 3, 3: 10, 4: 45, 5: 130, 6: 8, 7: 2}  # minutes after 09:00 for wangfang
    for d, minutes in late_by.items():
        day = dt.date(2026, 12, d)
        clock_in = _shanghai(d, 9) + dt.timedelta(minutes=minutes)
        clock_out = _shanghai(d, 17, 50) if d == 6 else _shanghai(d, 19, 5)
        facts.append(ShiftFacts("wangfang", day, "day", clock_in=clock_in, clock_out=clock_out))
    facts.append(
        ShiftFacts(
            "liuyang", dt.date(2026, 12, 1), "day", clock_in=_shanghai(1, 9), clock_out=_shanghai(1, 18)
        )
    )
    facts.append(ShiftFacts("liuyang", dt.date(2026, 11, 30), "day"))  # outside the period
    return judge_shifts(facts, _shanghai(20, 12), policy)


PERIOD = (dt.date(2026, 12, 1), dt.date(2026, 12, 31))


def test_summarise(policy: Policy) -> None:
    rows = summarise(
        _verdicts(policy),
        PERIOD,
        policy,
        team_of={"wangfang": "service", "liuyang": "service", "heyan": "complaint"},
        names={"wangfang": "王芳"},
        people=["heyan"],
    )
    by_id = {r.person_id: r for r in rows}
    w = by_id["wangfang"]
    assert w.name == "王芳" and w.days_worked == 7 and w.shifts == 7
    assert w.grace_uses == 2  # 3 and 2 minutes late are grace (第二十九条)
    assert (w.late_count, w.seriously_late_count, w.late_minutes) == (2, 1, 10 + 8 + 45)
    assert w.absent_half_days == 1 and w.early_leave_count == 1 and w.early_leave_minutes == 10
    assert w.overtime_units == 6 * 2  # 65 minutes over: two whole units on six days (第二十四条)
    # lates (2 + 1) and the early leave make 4 (第三十一条), and the half day absent one more (第三十三条)
    assert w.warning == 2 and not w.full_attendance and w.demerits == 0
    assert by_id["liuyang"].days_worked == 1 and by_id["liuyang"].full_attendance
    assert by_id["heyan"].days_worked == 0 and by_id["heyan"].shifts == 0
    assert [r.person_id for r in rows] == ["heyan", "liuyang", "wangfang"]


OLD_COLUMNS = [
    "工号", "姓名", "小组", "出勤天数", "准时", "宽限次数", "迟到次数", "迟到分钟", "严重迟到", "早退次数",
    "早退分钟", "旷工(半天)", "漏打卡", "加班单位", "书面警告", "全勤",
]  # fmt: skip


def test_csv_and_xlsx(tmp_path: Path, policy: Policy) -> None:
    verdicts = _verdicts(policy)
    rows = summarise(verdicts, PERIOD, policy, names={"wangfang": "王芳"})
    path = tmp_path / "a.csv"
    write_csv(rows, path)
    raw = path.read_bytes()
    assert raw.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0][: len(OLD_COLUMNS)] == OLD_COLUMNS  # today's columns, in today's order, new ones after
    assert table[0][len(OLD_COLUMNS) :] == [
        "排班班次",
        "请假班次",
        "进行中",
        "记过",
        "更正",
        "无薪假天数",
        "请假天数",
        "已批准加班小时",
    ]
    assert table[2][1] == "王芳" and table[2][14:16] == ["2", "否"]
    buf = io.StringIO()
    write_csv(rows, buf, lang="en")
    assert buf.getvalue().startswith("Person,Name,Team")
    detail = detail_rows(verdicts, policy, names={"wangfang": "王芳"})
    fifth = next(r for r in detail if r[0] == "wangfang" and r[3] == "2026-12-05")
    assert fifth[4:10] == [
        "白班",
        "11:10",
        "19:05",
        "旷工半天",
        "晚到超过2小时按旷工半天",
        "第三十条、第三十二条、第三十三条",
    ]
    sixth = next(r for r in detail if r[0] == "wangfang" and r[3] == "2026-12-06")
    assert sixth[7:9] == ["迟到", "迟到、早退"]
    xlsx = tmp_path / "a.xlsx"
    write_xlsx(rows, xlsx, detail=detail)
    book = load_workbook(xlsx)
    ws = book.active
    assert (
        ws is not None and ws["A1"].value == "工号" and ws["B3"].value == "王芳" and ws.freeze_panes == "B2"
    )
    sheet = book["明细"]
    assert sheet.max_row == 1 + len(detail) and sheet["D1"].value == "日期"


@pytest.mark.parametrize("font", ["real", None])
def test_png_chart_without_warnings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, policy: Policy, font: str | None
) -> None:
    if font is None:  # pretend no CJK font is installed: ASCII labels, no missing-glyph warnings
        monkeypatch.setattr(report, "cjk_font", lambda: None)
    rows = summarise(
        _verdicts(policy),
        PERIOD,
        policy,
        team_of={"wangfang": "service", "liuyang": "order"},
        names={"wangfang": "王芳", "liuyang": "刘洋"},
    )
    png = write_png(rows, tmp_path / "chart.png")
    assert png.startswith(PNG) and (tmp_path / "chart.png").read_bytes() == png
    assert write_png([]).startswith(PNG)


@pytest.mark.parametrize("font", ["real", None])
def test_roster_png(monkeypatch: pytest.MonkeyPatch, policy: Policy, font: str | None) -> None:
    if font is None:
        monkeypatch.setattr(report, "cjk_font", lambda: None)
    monday = dt.date(2026, 11, 30)
    entries = [
        RosterEntry(p, monday + dt.timedelta(days=i), code)
        for p, code in (("wangfang", "day"), ("liuyang", "evening"), ("chenjing", None))
        for i in range(7)
    ]
    png = render_roster_png(
        entries, dt.date(2026, 12, 3), {"wangfang": "王芳", "liuyang": "刘洋"}, policy=policy
    )
    assert png.startswith(PNG) and len(png) > 2000


def test_cjk_font_lookup_is_cached() -> None:
    assert report.cjk_font() == report.cjk_font()
