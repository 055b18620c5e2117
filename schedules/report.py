"""Monthly attendance summaries (第三十七条) as rows, CSV, XLSX and charts, and a roster picture.

Charts use matplotlib's object API with the Agg canvas (no pyplot, no global backend switch). Chinese
labels need a CJK font; when none is installed, labels fall back to ASCII (person ids, D/E/R) rather than
drawing empty boxes, and matplotlib's missing-glyph warnings are suppressed around drawing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from functools import cache
from pathlib import Path
from typing import IO, Any, Literal
from zoneinfo import ZoneInfo

from schedules.attendance import ShiftVerdict
from schedules.cellsafe import csv_row, xlsx_append
from schedules.policy import Policy, default_policy
from schedules.private_files import open_private
from schedules.roster.model import RosterEntry

__all__ = [
    "COLUMNS",
    "DETAIL_COLUMNS",
    "VERDICT_LABELS",
    "SummaryRow",
    "cjk_font",
    "detail_rows",
    "render_roster_png",
    "summarise",
    "write_csv",
    "write_detail_csv",
    "write_png",
    "write_xlsx",
]

Lang = Literal["zh", "en"]


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """One person's attendance over a period: the sums of their shift verdicts (第三十一至三十七条)."""

    person_id: str
    name: str
    team: str
    days_worked: int
    on_time: int
    grace_uses: int
    late_count: int
    late_minutes: int
    seriously_late_count: int
    early_leave_count: int
    early_leave_minutes: int
    absent_half_days: int
    missed_punches: int
    overtime_units: int
    warning: int  # written warnings due in the period (第三十一条 lates + early leaves; 第三十三条 half days)
    full_attendance: bool  # no late, early leave, absence or leave of a type that costs it (第三十一条)
    shifts: int = 0  # rostered shifts (rest days not counted), finished or not
    leave_shifts: int = 0
    in_progress: int = 0  # shifts not over yet: counted in nothing else
    demerits: int = 0  # 记过 for a whole day absent (第三十三条)
    corrections: int = 0
    unpaid_leave_days: float = 0  # rostered days on leave of a type the policy marks unpaid (第四十九条 事假)
    leave_days: float = 0  # days on leave as HR counts them: a half-day leave is 0.5
    approved_overtime_hours: float = 0  # rest-day work the supervisor approved (第二十五条), to 0.01 h


COLUMNS: dict[str, tuple[str, str]] = {
    "person_id": ("工号", "Person"),
    "name": ("姓名", "Name"),
    "team": ("小组", "Team"),
    "days_worked": ("出勤天数", "Days worked"),
    "on_time": ("准时", "On time"),
    "grace_uses": ("宽限次数", "Grace uses"),
    "late_count": ("迟到次数", "Late"),
    "late_minutes": ("迟到分钟", "Late minutes"),
    "seriously_late_count": ("严重迟到", "Seriously late"),
    "early_leave_count": ("早退次数", "Early leaves"),
    "early_leave_minutes": ("早退分钟", "Early leave minutes"),
    "absent_half_days": ("旷工(半天)", "Absent (half days)"),
    "missed_punches": ("漏打卡", "Missed punches"),
    "overtime_units": ("加班单位", "Overtime units"),
    "warning": ("书面警告", "Warnings"),
    "full_attendance": ("全勤", "Full attendance"),
    "shifts": ("排班班次", "Rostered shifts"),
    "leave_shifts": ("请假班次", "Shifts on leave"),
    "in_progress": ("进行中", "In progress"),
    "demerits": ("记过", "Demerits"),
    "corrections": ("更正", "Corrections"),
    "unpaid_leave_days": ("无薪假天数", "Unpaid leave days"),
    "leave_days": ("请假天数", "Leave days"),
    "approved_overtime_hours": ("已批准加班小时", "Approved overtime hours"),
}
"""Column labels (zh, en) for files; the order is the file's column order (new columns go at the end)."""

DETAIL_COLUMNS: dict[str, tuple[str, str]] = {
    "person_id": ("工号", "Person"),
    "name": ("姓名", "Name"),
    "team": ("小组", "Team"),
    "date": ("日期", "Date"),
    "shift": ("班次", "Shift"),
    "clock_in": ("上班打卡", "Clock-in"),
    "clock_out": ("下班打卡", "Clock-out"),
    "verdict": ("结果", "Verdict"),
    "causes": ("原因", "Causes"),
    "articles": ("条款", "Articles"),
    "request": ("相关申请", "Request"),
    "correction": ("更正", "Correction"),
    "approved_overtime_hours": ("已批准加班小时", "Approved overtime hours"),
}
"""Columns of the per-shift detail (``--detail``, and the XLSX's second sheet)."""

VERDICT_LABELS: dict[str, tuple[str, str]] = {
    "on_time": ("准时", "on time"),
    "grace": ("宽限内", "within grace"),
    "late": ("迟到", "late"),
    "seriously_late": ("严重迟到", "seriously late"),
    "early_leave": ("早退", "early leave"),
    "absent_half_day": ("旷工半天", "absent half a day"),
    "absent_full_day": ("旷工1天", "absent a whole day"),
    "missed_clock_in": ("上班漏打卡", "missed clock-in"),
    "missed_clock_out": ("下班漏打卡", "missed clock-out"),
    "on_leave": ("请假", "on leave"),
    "rest": ("休息", "rest"),
    "in_progress": ("进行中", "in progress"),
    "absent_late": ("晚到超过2小时按旷工半天", "more than 2 h late: absent half a day"),
    "absent_early": ("提前离岗超过30分钟按旷工半天", "left more than 30 min early: absent half a day"),
    "no_show": ("未到岗", "did not come"),
}
"""Labels of shift verdicts and causes in files (chat sentences live in the catalogs)."""


def _pick(labels: tuple[str, str], lang: Lang) -> str:
    return labels[0] if lang == "zh" else labels[1]


def _unpaid(policy: Policy, leave: str | None) -> bool:
    kind = policy.leave.leave_type(leave) if leave is not None else None
    return kind is not None and not kind.paid


def summarise(
    verdicts: Iterable[ShiftVerdict],
    period: tuple[dt.date, dt.date],
    policy: Policy,
    *,
    team_of: Mapping[str, str] | None = None,
    names: Mapping[str, str] | None = None,
    people: Iterable[str] = (),
) -> list[SummaryRow]:
    """Per-person sums of shift verdicts with dates in ``period`` (inclusive), sorted by team then person.

    Every count is a plain sum of the verdicts' counts; 全勤 and 书面警告 follow ``policy.attendance``:
    a warning per ``warning_at_late_and_early`` lates and early leaves in a month (第三十一条, at most one a
    month) plus the warnings of the shifts themselves (第三十三条). ``people`` adds rows for people without
    a single verdict.
    """
    first, last = period
    team_of = team_of or {}
    names = names or {}
    mine: dict[str, list[ShiftVerdict]] = defaultdict(list)
    for v in verdicts:
        if first <= v.facts.day <= last:
            mine[v.facts.person_id].append(v)
    rows = []
    threshold = policy.attendance.warning_at_late_and_early
    for pid in sorted(set(mine) | set(people), key=lambda p: (team_of.get(p, ""), p)):
        vs = mine.get(pid, [])
        per_month: dict[tuple[int, int], int] = defaultdict(int)
        for v in vs:
            per_month[(v.facts.day.year, v.facts.day.month)] += v.late_or_early
        monthly = sum(1 for n in per_month.values() if threshold and n >= threshold)
        rows.append(
            SummaryRow(
                person_id=pid,
                name=names.get(pid, ""),
                team=team_of.get(pid, ""),
                days_worked=sum(v.worked for v in vs),
                on_time=sum(v.on_time for v in vs),
                grace_uses=sum(v.grace_uses for v in vs),
                late_count=sum(v.late for v in vs),
                late_minutes=sum(v.late_minutes for v in vs),
                seriously_late_count=sum(v.seriously_late for v in vs),
                early_leave_count=sum(v.early_leave for v in vs),
                early_leave_minutes=sum(v.early_leave_minutes for v in vs),
                absent_half_days=sum(v.absent_half_days for v in vs),
                missed_punches=sum(v.missed_punches for v in vs),
                overtime_units=sum(v.overtime_units for v in vs),
                warning=monthly + sum(v.warnings for v in vs),
                full_attendance=not any(v.breaks_full_attendance for v in vs),
                shifts=sum(v.shifts for v in vs),
                leave_shifts=sum(v.leave_shifts for v in vs),
                in_progress=sum(v.in_progress for v in vs),
                demerits=sum(v.demerits for v in vs),
                corrections=sum(v.corrections for v in vs),
                unpaid_leave_days=_days(sum(v.leave_days for v in vs if _unpaid(policy, v.facts.leave))),
                leave_days=_days(sum(v.leave_days for v in vs)),
                approved_overtime_hours=_hours(sum(v.approved_overtime_minutes for v in vs)),
            )
        )
    return rows


def _days(total: float) -> float:
    """A count of days as a file shows it: 2, or 1.5 with a half day."""
    return int(total) if float(total).is_integer() else total


def _hours(minutes: int) -> float:
    """Minutes as hours the way a file shows them: 6, or 6.75, rounded to 0.01 h only once, on the sum."""
    hours = round(minutes / 60, 2)
    return int(hours) if hours.is_integer() else hours


def _header(lang: Lang) -> list[str]:
    return [_pick(COLUMNS[f.name], lang) for f in fields(SummaryRow)]


def _values(row: SummaryRow, lang: Lang) -> list[str | int]:
    yes, no = ("是", "否") if lang == "zh" else ("yes", "no")
    return [(yes if v else no) if isinstance(v, bool) else v for v in asdict(row).values()]


def _local(moment: dt.datetime | None, day: dt.date, tz: ZoneInfo) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(tz)
    return f"{local:%H:%M}" if local.date() == day else f"{local:%Y-%m-%d %H:%M}"


def detail_rows(
    verdicts: Iterable[ShiftVerdict],
    policy: Policy,
    *,
    lang: Lang = "zh",
    team_of: Mapping[str, str] | None = None,
    names: Mapping[str, str] | None = None,
) -> list[list[str]]:
    """One row per shift verdict, in the order given: what a reader needs to trace every figure."""
    team_of = team_of or {}
    names = names or {}
    tz = policy.tz
    rows = []
    for v in verdicts:
        f = v.facts
        if f.shift_code is None:
            shift = _pick(VERDICT_LABELS["rest"], lang)
        else:
            st = policy.shift(f.shift_code)
            shift = st.name_zh if lang == "zh" else st.name_en
        clock_in = _local(f.clock_in or f.rest_day_punch, f.day, tz)
        clock_out = _local(f.clock_out or f.rest_day_clock_out, f.day, tz)
        requests = [
            r for r in (f.request, f.clock_in_by_request, f.clock_out_by_request, f.overtime_request) if r
        ]
        correction = ""
        if f.correction is not None:
            c = f.correction
            correction = f"#{c.id} {c.by} {c.at.astimezone(tz):%Y-%m-%d %H:%M}: {c.reason}"
        rows.append(
            [
                f.person_id,
                names.get(f.person_id, ""),
                team_of.get(f.person_id, ""),
                f.day.isoformat(),
                shift,
                clock_in,
                clock_out,
                _pick(VERDICT_LABELS[v.kind.value], lang),
                ("、" if lang == "zh" else "; ").join(_pick(VERDICT_LABELS[c.value], lang) for c in v.causes),
                ("、" if lang == "zh" else ", ").join(a.zh if lang == "zh" else a.en for a in v.articles),
                " ".join(requests),
                correction,
                str(_hours(v.approved_overtime_minutes)) if v.approved_overtime_minutes else "",
            ]
        )
    return rows


def _detail_header(lang: Lang) -> list[str]:
    return [_pick(label, lang) for label in DETAIL_COLUMNS.values()]


def write_csv(rows: Sequence[SummaryRow], target: str | Path | IO[str], *, lang: Lang = "zh") -> None:
    """CSV with a BOM when written to a path, so Excel opens the Chinese headers correctly."""
    if isinstance(target, str | Path):
        with open_private(target, "w", encoding="utf-8-sig", newline="") as fh:
            write_csv(rows, fh, lang=lang)
        return
    writer = csv.writer(target)
    writer.writerow(_header(lang))
    for row in rows:
        writer.writerow(csv_row(_values(row, lang)))


def write_detail_csv(rows: Sequence[Sequence[str]], target: IO[str], *, lang: Lang = "zh") -> None:
    """The per-shift detail (rows from :func:`detail_rows`) as CSV."""
    writer = csv.writer(target)
    writer.writerow(_detail_header(lang))
    for row in rows:
        writer.writerow(csv_row(row))


def write_xlsx(
    rows: Sequence[SummaryRow],
    target: str | Path | IO[bytes],
    *,
    lang: Lang = "zh",
    title: str = "attendance",
    detail: Sequence[Sequence[str]] = (),
    detail_first: bool = False,
) -> None:
    """The summary sheet and the per-shift detail sheet (always both, so any figure can be traced)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    summary = wb.active
    assert summary is not None
    summary.title = title[:31]
    sheets = [(summary, _header(lang), [_values(r, lang) for r in rows])]
    details = wb.create_sheet("detail" if lang == "en" else "明细")
    sheets.append((details, _detail_header(lang), [list(r) for r in detail]))
    if detail_first:
        wb.move_sheet(details, offset=-1)
        wb.active = 0
    for ws, header, values in sheets:
        ws.append(header)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in values:
            xlsx_append(ws, row)
        ws.freeze_panes = "B2"
        for index, col in enumerate(ws.columns, start=1):
            width = max(len(str(c.value or "")) for c in col)
            ws.column_dimensions[get_column_letter(index)].width = min(30, max(8, width * 2 + 2))
    if isinstance(target, str | Path):
        with open_private(target, "wb") as fh:
            wb.save(fh)
        return
    wb.save(target)


# ------------------------------------------------------------------------------------------------ fonts

_CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Heiti SC",
    "AR PL UMing CN",
    "AR PL UKai CN",
    "Noto Serif CJK SC",
    "Droid Sans Fallback",
)


@cache
def cjk_font() -> str | None:
    """The name of an installed font that draws Chinese, or None (then labels fall back to ASCII)."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in _CJK_FONTS if name in installed), None)


def _ascii_or(text: str, fallback: str) -> str:
    """Keep ``text`` when it can be drawn: always with a CJK font, else only if it is ASCII."""
    if cjk_font() is not None or text.isascii():
        return text
    return fallback


def _render(fig: object) -> bytes:
    from matplotlib.figure import Figure

    assert isinstance(fig, Figure)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*[Gg]lyph .* missing from")
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def _rc() -> dict[Any, Any]:
    font = cjk_font()
    families = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    return {"font.family": "sans-serif", "font.sans-serif": families, "axes.unicode_minus": False}


def write_png(rows: Sequence[SummaryRow], target: str | Path | None = None, *, lang: Lang = "zh") -> bytes:
    """Bar charts, one per team: late, early leave, absence (half days) and overtime units per person.

    Returns the PNG bytes and also writes them when ``target`` is given.
    """
    import matplotlib
    from matplotlib.figure import Figure

    by_team: dict[str, list[SummaryRow]] = defaultdict(list)
    for row in rows:
        by_team[row.team or "-"].append(row)
    teams = sorted(by_team) or ["-"]
    series = [
        ("late_count", "#f0ad4e"),
        ("seriously_late_count", "#d9534f"),
        ("early_leave_count", "#5bc0de"),
        ("absent_half_days", "#333333"),
        ("overtime_units", "#5cb85c"),
    ]
    with matplotlib.rc_context(_rc()):
        fig = Figure(
            figsize=(max(6.0, 1.2 * max((len(v) for v in by_team.values()), default=1) + 2), 3.2 * len(teams))
        )
        axes = fig.subplots(len(teams), 1, squeeze=False)[:, 0]
        for ax, team in zip(axes, teams, strict=True):
            members = by_team.get(team, [])
            labels = [_ascii_or(r.name or r.person_id, r.person_id) for r in members]
            width = 0.8 / len(series)
            for k, (name, colour) in enumerate(series):
                label = COLUMNS[name][0 if lang == "zh" else 1]
                xs = [i + k * width for i in range(len(members))]
                ax.bar(
                    xs,
                    [getattr(r, name) for r in members],
                    width=width,
                    color=colour,
                    label=_ascii_or(label, COLUMNS[name][1]),
                )
            ax.set_xticks([i + 0.4 - width / 2 for i in range(len(members))], labels)
            ax.set_title(_ascii_or(team, team.encode("ascii", "replace").decode()))
            ax.yaxis.get_major_locator().set_params(integer=True)
            top = max((getattr(r, name) for r in members for name, _ in series), default=0)
            ax.set_ylim(0, max(1, top) * 1.15)
            ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        png = _render(fig)
    if target is not None:
        with open_private(target, "wb") as fh:
            fh.write(png)
    return png


_CELL = {"day": ("白", "D", "#fff3c4"), "evening": ("晚", "E", "#c9dcf5"), None: ("休", "R", "#e4e4e4")}


def render_roster_png(
    entries: Iterable[RosterEntry],
    week: dt.date,
    names: Mapping[str, str] | None = None,
    *,
    policy: Policy | None = None,
    people: Sequence[str] | None = None,
) -> bytes:
    """A week grid (rows people, columns the 7 days from ``week``'s Monday), cells 白/晚/休 coloured."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    policy = policy or default_policy()
    names = names or {}
    monday = week - dt.timedelta(days=week.weekday())
    days = [monday + dt.timedelta(days=i) for i in range(7)]
    grid: dict[tuple[str, dt.date], str | None] = {}
    order: list[str] = list(people or [])
    for e in entries:
        if monday <= e.date <= days[-1]:
            grid[(e.person_id, e.date)] = e.shift_code
            if people is None and e.person_id not in order:
                order.append(e.person_id)
    palette = ["#fff3c4", "#c9dcf5", "#d7f0d2", "#f5d0e0", "#e8dcf5"]
    zh_weekdays = "一二三四五六日"
    with matplotlib.rc_context(_rc()):
        fig = Figure(figsize=(1.0 + 0.9 * 8, 0.6 + 0.42 * (len(order) + 1)))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, 8)
        ax.set_ylim(len(order) + 1, 0)
        ax.axis("off")
        for j, d in enumerate(days, start=1):
            head = f"{d:%m-%d}\n周{zh_weekdays[d.weekday()]}" if cjk_font() else f"{d:%m-%d}\n{d:%a}"
            ax.text(j + 0.5, 0.5, head, ha="center", va="center", fontsize=9, weight="bold")
        for i, pid in enumerate(order, start=1):
            ax.text(0.1, i + 0.5, _ascii_or(names.get(pid, pid), pid), ha="left", va="center", fontsize=9)
            for j, d in enumerate(days, start=1):
                key = (pid, d)
                if key not in grid:
                    ax.add_patch(Rectangle((j, i), 1, 1, facecolor="white", edgecolor="#999999"))
                    continue
                code = grid[key]
                if code in _CELL:
                    zh, en, colour = _CELL[code]
                else:
                    shift = policy.shift(code) if code else None
                    idx = [s.code for s in policy.shifts].index(code) if code else 0
                    zh, en, colour = (
                        shift.name_zh[:1] if shift else "?",
                        (code or "?")[:1].upper(),
                        palette[idx % len(palette)],
                    )
                ax.add_patch(Rectangle((j, i), 1, 1, facecolor=colour, edgecolor="#999999"))
                ax.text(j + 0.5, i + 0.5, zh if cjk_font() else en, ha="center", va="center", fontsize=11)
        return _render(fig)
