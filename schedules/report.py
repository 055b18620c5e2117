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

from schedules.attendance import PunchKind, PunchRecord, VerdictKind, VerdictRecord
from schedules.cellsafe import csv_row, xlsx_append
from schedules.policy import Policy, default_policy
from schedules.private_files import open_private
from schedules.roster.model import RosterEntry

__all__ = [
    "COLUMNS",
    "SummaryRow",
    "cjk_font",
    "render_roster_png",
    "summarise",
    "write_csv",
    "write_png",
    "write_xlsx",
]

Lang = Literal["zh", "en"]


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """One person's attendance over a period."""

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
    warning: bool  # late + early leave reach 4 in the period (第三十一条)
    full_attendance: bool  # no late, early leave or absence (personal leave is not known here)


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
    "warning": ("书面警告", "Warning"),
    "full_attendance": ("全勤", "Full attendance"),
}
"""Column labels (zh, en) for files; the order is the file's column order."""


def summarise(
    punches: Iterable[PunchRecord],
    verdicts: Iterable[VerdictRecord],
    period: tuple[dt.date, dt.date],
    *,
    team_of: Mapping[str, str] | None = None,
    names: Mapping[str, str] | None = None,
    people: Iterable[str] = (),
) -> list[SummaryRow]:
    """Per-person totals for shift dates in ``period`` (inclusive), sorted by team then person.

    ``people`` adds rows for those with no records (a whole month absent still shows up).
    """
    first, last = period
    team_of = team_of or {}
    names = names or {}
    worked: dict[str, set[dt.date]] = defaultdict(set)
    for p in punches:
        if first <= p.shift_date <= last and PunchKind(p.kind) is PunchKind.CLOCK_IN:
            worked[p.person_id].add(p.shift_date)
    tally: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in verdicts:
        if not first <= r.shift_date <= last:
            continue
        t = tally[r.person_id]
        v = r.verdict
        if r.punch is PunchKind.CLOCK_IN and not v.missed:
            worked[r.person_id].add(r.shift_date)
        t["missed_punches"] += int(v.missed)
        t["grace_uses"] += int(v.uses_grace)
        t["absent_half_days"] += v.absent_half_days
        t["overtime_units"] += v.overtime_units
        if v.kind is VerdictKind.ON_TIME and r.punch is PunchKind.CLOCK_IN:
            t["on_time"] += 1
        elif v.kind is VerdictKind.LATE:
            t["late_count"] += 1
            t["late_minutes"] += v.minutes_late
        elif v.kind is VerdictKind.SERIOUSLY_LATE:
            t["seriously_late_count"] += 1
            t["late_minutes"] += v.minutes_late
        elif v.kind is VerdictKind.EARLY_LEAVE:
            t["early_leave_count"] += 1
            t["early_leave_minutes"] += v.minutes_early
    rows = []
    for pid in sorted(set(worked) | set(tally) | set(people), key=lambda p: (team_of.get(p, ""), p)):
        t = tally[pid]
        lates = t["late_count"] + t["seriously_late_count"]
        rows.append(
            SummaryRow(
                person_id=pid,
                name=names.get(pid, ""),
                team=team_of.get(pid, ""),
                days_worked=len(worked[pid]),
                on_time=t["on_time"],
                grace_uses=t["grace_uses"],
                late_count=t["late_count"],
                late_minutes=t["late_minutes"],
                seriously_late_count=t["seriously_late_count"],
                early_leave_count=t["early_leave_count"],
                early_leave_minutes=t["early_leave_minutes"],
                absent_half_days=t["absent_half_days"],
                missed_punches=t["missed_punches"],
                overtime_units=t["overtime_units"],
                warning=lates + t["early_leave_count"] >= 4,
                full_attendance=lates + t["early_leave_count"] + t["absent_half_days"] == 0,
            )
        )
    return rows


def _header(lang: Lang) -> list[str]:
    return [COLUMNS[f.name][0 if lang == "zh" else 1] for f in fields(SummaryRow)]


def _values(row: SummaryRow, lang: Lang) -> list[str | int]:
    yes, no = ("是", "") if lang == "zh" else ("yes", "")
    return [(yes if v else no) if isinstance(v, bool) else v for v in asdict(row).values()]


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


def write_xlsx(
    rows: Sequence[SummaryRow],
    target: str | Path | IO[bytes],
    *,
    lang: Lang = "zh",
    title: str = "attendance",
) -> None:
    """One sheet with a bold frozen header and sensible column widths."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title[:31]
    ws.append(_header(lang))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        xlsx_append(ws, _values(row, lang))
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
