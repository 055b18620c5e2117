"""The grid form supervisors use, as rows or a CSV file; ``parse_roster`` reads it back unchanged."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

from schedules.cellsafe import csv_row
from schedules.policy import Policy
from schedules.private_files import open_private
from schedules.roster.model import RosterEntry


def roster_grid(
    entries: Iterable[RosterEntry], policy: Policy, *, lang: str = "zh", people: Sequence[str] | None = None
) -> list[list[str]]:
    """The grid form supervisors use: header (person, dates…) then one row per person, cells 白/晚/休.

    ``parse_roster`` reads this back unchanged.
    """
    listed = list(entries)
    dates = sorted({e.date for e in listed})
    order = list(people) if people is not None else list(dict.fromkeys(e.person_id for e in listed))
    cells = {(e.person_id, e.date): e.shift_code for e in listed}
    rest = "休" if lang == "zh" else "rest"

    def word(code: str | None) -> str:
        if code is None:
            return rest
        shift = policy.shift(code)
        return shift.name_zh if lang == "zh" else shift.code

    rows = [["person", *(d.isoformat() for d in dates)]]
    for pid in order:
        rows.append([pid, *(word(cells[(pid, d)]) if (pid, d) in cells else "" for d in dates)])
    return rows


def write_roster_csv(
    entries: Iterable[RosterEntry],
    target: str | Path | io.TextIOBase,
    policy: Policy,
    *,
    lang: str = "zh",
    people: Sequence[str] | None = None,
) -> None:
    """Write the grid form as UTF-8 CSV (with a BOM for a path, so Excel shows Chinese)."""
    rows = roster_grid(entries, policy, lang=lang, people=people)
    if isinstance(target, str | Path):
        with open_private(target, "w", encoding="utf-8-sig", newline="") as fh:
            csv.writer(fh, lineterminator="\n").writerows(map(csv_row, rows))
        return
    csv.writer(target, lineterminator="\n").writerows(map(csv_row, rows))
