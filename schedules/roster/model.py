"""Rosters (排班表): the entry model and the structured import problems every other part reports.

A roster is a flat list of :class:`RosterEntry` (person, local date, shift code or ``None`` for rest 休).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from schedules.filelimits import LIMIT_TEXT

Progress = Callable[[int, int], None]
"""Called as ``progress(rows_done, rows_total)`` while a big file is read; total may be 0 if unknown."""


@dataclass(frozen=True, slots=True, order=True)
class RosterEntry:
    """One person on one local date: a shift code, or ``None`` for a rest day (休)."""

    person_id: str
    date: dt.date
    shift_code: str | None

    @property
    def is_rest(self) -> bool:
        """True on a rest day."""
        return self.shift_code is None


# --------------------------------------------------------------------------------------------- problems

_PROBLEM_TEXT: dict[str, str] = {
    "empty_file": "the file is empty",
    "unreadable": "the file cannot be read ({reason})",
    "unsupported_format": "unsupported file type {ext}; save it as .xlsx or .csv",
    "no_people": "there are no rows of people under the header",
    "no_dates": "the header has no date columns",
    "bad_date_header": "column header {value!r} is not a date (write 2026-12-01, 12-01 or 12月1日)",
    "date_needs_year": "column header {value!r} has no year and no other header gives one",
    "weekday_mismatch": "header {value!r} says {weekday} but {date} is a {actual}",
    "duplicate_date": "date {date} already has column {first}",
    "missing_column": "the header needs a {name} column",
    "unknown_person": "{value!r} is not a known person id or name",
    "ambiguous_person": "{value!r} is the name of several people ({ids}); use the person id",
    "duplicate_person": "{person} already has a row (row {first})",
    "duplicate_entry": "{person} already has an entry for {date} (row {first})",
    "bad_date": "{value!r} is not a date",
    "unknown_shift": "{value!r} is not a shift; use one of {known} or 休 for rest",
    "blank_cell": "the cell is empty; write a shift or 休 for a rest day",
    **{f"limit_{kind}": text for kind, text in LIMIT_TEXT.items()},
    "too_many_problems": "more problems not listed; fix these first",
}


def column_letter(column: int) -> str:
    """Spreadsheet letters for a 1-based column number (1 → A, 27 → AA)."""
    letters = ""
    while column > 0:
        column, rem = divmod(column - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


@dataclass(frozen=True, slots=True)
class RosterProblem:
    """One problem in an imported roster, structured so the bot can translate it.

    ``row`` and ``column`` are 1-based as a spreadsheet shows them (the header is row 1 when it is the
    first line); either may be ``None`` when the problem concerns a whole row, column or file. ``code`` is a
    stable key for message catalogs; ``params`` fill the message.
    """

    code: str
    row: int | None = None
    column: int | None = None
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def cell(self) -> str:
        """'C5', 'row 5', 'column C' or '' for the whole file."""
        if self.row is not None and self.column is not None:
            return f"{column_letter(self.column)}{self.row}"
        if self.row is not None:
            return f"row {self.row}"
        if self.column is not None:
            return f"column {column_letter(self.column)}"
        return ""

    @property
    def message(self) -> str:
        """English text for logs and the English catalog's default."""
        text = _PROBLEM_TEXT.get(self.code, self.code).format_map(defaultdict(str, self.params))
        return f"{self.cell}: {text}" if self.cell else text


class RosterError(ValueError):
    """A roster that was not imported; ``problems`` lists all that is wrong, in file order."""

    def __init__(self, problems: Sequence[RosterProblem]) -> None:
        self.problems = tuple(problems)
        shown = "; ".join(p.message for p in self.problems[:5])
        more = f" (+{len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        super().__init__(f"{len(self.problems)} problem(s) in roster: {shown}{more}")
