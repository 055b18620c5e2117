"""Summaries and their files: CSV, XLSX, charts and the roster picture, warning-free without CJK fonts."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from schedules import report
from schedules.attendance import PunchKind, PunchRecord, VerdictRecord, clock_in_verdict, clock_out_verdict
from schedules.policy import Policy
from schedules.report import render_roster_png, summarise, write_csv, write_png, write_xlsx
from schedules.roster.model import RosterEntry

UTC = dt.UTC
PNG = b"\x89PNG\r\n\x1a\n"


def _records(policy: Policy) -> tuple[list[PunchRecord], list[VerdictRecord]]:
    punches: list[PunchRecord] = []
    verdicts: list[VerdictRecord] = []
    late_by = {1: 0, 2: 3, 3: 10, 4: 45, 5: 130, 6: 8, 7: 2}  # minutes after 09:00 for wangfang
    for d, minutes in late_by.items():
        day = dt.date(2026, 12, d)
        start = dt.datetime(2026, 12, d, 1, tzinfo=UTC)
        at = start + dt.timedelta(minutes=minutes)
        punches.append(PunchRecord("wangfang", day, PunchKind.CLOCK_IN, at))
        uses = sum(1 for r in verdicts if r.verdict.uses_grace)
        verdicts.append(
            VerdictRecord(
                "wangfang", day, "day", PunchKind.CLOCK_IN, clock_in_verdict(start, at, uses, policy)
            )
        )
        end = start + dt.timedelta(hours=9)
        out = end + dt.timedelta(minutes=-10 if d == 6 else 65)
        verdicts.append(
            VerdictRecord("wangfang", day, "day", PunchKind.CLOCK_OUT, clock_out_verdict(end, out, policy))
        )
    punches.append(
        PunchRecord(
            "liuyang", dt.date(2026, 12, 1), PunchKind.CLOCK_IN, dt.datetime(2026, 12, 1, 1, tzinfo=UTC)
        )
    )
    punches.append(
        PunchRecord(
            "liuyang", dt.date(2026, 11, 30), PunchKind.CLOCK_IN, dt.datetime(2026, 11, 30, 1, tzinfo=UTC)
        )
    )
    return punches, verdicts


def test_summarise(policy: Policy) -> None:
    punches, verdicts = _records(policy)
    rows = summarise(
        punches,
        verdicts,
        (dt.date(2026, 12, 1), dt.date(2026, 12, 31)),
        team_of={"wangfang": "service", "liuyang": "service", "heyan": "complaint"},
        names={"wangfang": "王芳"},
        people=["heyan"],
    )
    by_id = {r.person_id: r for r in rows}
    w = by_id["wangfang"]
    assert w.name == "王芳" and w.days_worked == 7
    assert w.grace_uses == 2  # 3 and 2 minutes late are grace
    assert (w.late_count, w.seriously_late_count, w.late_minutes) == (2, 1, 10 + 8 + 45)
    assert w.absent_half_days == 1 and w.early_leave_count == 1 and w.early_leave_minutes == 10
    assert w.overtime_units == 6 * 2
    assert w.warning and not w.full_attendance
    assert by_id["liuyang"].days_worked == 1 and by_id["liuyang"].full_attendance
    assert by_id["heyan"].days_worked == 0
    assert [r.person_id for r in rows] == ["heyan", "liuyang", "wangfang"]


def test_csv_and_xlsx(tmp_path: Path, policy: Policy) -> None:
    punches, verdicts = _records(policy)
    rows = summarise(
        punches, verdicts, (dt.date(2026, 12, 1), dt.date(2026, 12, 31)), names={"wangfang": "王芳"}
    )
    path = tmp_path / "a.csv"
    write_csv(rows, path)
    raw = path.read_bytes()
    assert raw.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0][:3] == ["工号", "姓名", "小组"] and table[2][1] == "王芳"
    buf = io.StringIO()
    write_csv(rows, buf, lang="en")
    assert buf.getvalue().startswith("Person,Name,Team")
    xlsx = tmp_path / "a.xlsx"
    write_xlsx(rows, xlsx)
    ws = load_workbook(xlsx).active
    assert (
        ws is not None and ws["A1"].value == "工号" and ws["B3"].value == "王芳" and ws.freeze_panes == "B2"
    )


@pytest.mark.parametrize("font", ["real", None])
def test_png_chart_without_warnings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, policy: Policy, font: str | None
) -> None:
    if font is None:  # pretend no CJK font is installed: ASCII labels, no missing-glyph warnings
        monkeypatch.setattr(report, "cjk_font", lambda: None)
    punches, verdicts = _records(policy)
    rows = summarise(
        punches,
        verdicts,
        (dt.date(2026, 12, 1), dt.date(2026, 12, 31)),
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
