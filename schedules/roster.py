"""Rosters (排班表): the entry model, import from CSV/XLSX, checks, and a six_on_one_off generator.

A roster is a flat list of :class:`RosterEntry` (person, local date, shift code or ``None`` for rest 休).
Import is all-or-nothing: a file with any problem raises :class:`RosterError` listing every problem with its
row and column, so a supervisor can fix the file in one go and nothing half-imported becomes the basis for
attendance (第二十一条).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import random
import re
import unicodedata
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from schedules.policy import Article, Policy, ShiftType, normalise_word
from schedules.timeutil import shift_window

__all__ = [
    "Progress",
    "RosterEntry",
    "RosterError",
    "RosterGenerationError",
    "RosterProblem",
    "RosterViolation",
    "column_letter",
    "generate_roster",
    "parse_roster",
    "roster_grid",
    "validate_roster",
    "write_roster_csv",
]

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
    "too_many_rows": "the file has more than {limit} rows",
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


# ---------------------------------------------------------------------------------------------- reading

Cell = str | int | float | dt.date | dt.datetime | dt.time | bool | None
MAX_PROBLEMS = 200


def _read_csv(data: bytes) -> list[list[Cell]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes almost anything
        raise ValueError("not UTF-8 or GB18030 text")
    first = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";"), key=first.count)
    return [list(row) for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]


def _read_xlsx(data: bytes, progress: Progress | None) -> list[list[Cell]]:
    import openpyxl  # imported here: only XLSX imports pay for it

    with warnings.catch_warnings():
        # openpyxl warns about spreadsheet features it ignores (data validation, styles): not our concern
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            ws = wb.worksheets[0]
            total = ws.max_row or 0
            rows: list[list[Cell]] = []
            for i, values in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1):
                rows.append(list(values))  # type: ignore[arg-type]
                if progress is not None and i % 1000 == 0:
                    progress(i, total)
        finally:
            wb.close()
    return rows


def _cell_text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return unicodedata.normalize("NFKC", str(value)).strip()


# ------------------------------------------------------------------------------------------------ dates

_WEEKDAYS_ZH = "一二三四五六日"
_WEEKDAY_RE = re.compile(
    r"[\s(\[]*(?:(?:周|星期|礼拜)([一二三四五六日天])|(mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?)[)\]]?\s*",
    re.IGNORECASE,
)
_EN_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DATE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?(?:[ T]0?0:00(?::00)?)?$"
)
_SHORT_DATE = re.compile(r"^(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?$")


@dataclass(frozen=True, slots=True)
class _DateText:
    year: int | None
    month: int
    day: int
    weekday: int | None  # 0=Monday, as written in the header, if any


def _parse_date_text(text: str) -> _DateText | None:
    weekday: int | None = None
    m = _WEEKDAY_RE.search(text)
    if m:
        if m.group(1):
            weekday = 6 if m.group(1) == "天" else _WEEKDAYS_ZH.index(m.group(1))
        else:
            weekday = _EN_DAYS.index(m.group(2).lower())
        text = (text[: m.start()] + " " + text[m.end() :]).strip()
    full = _FULL_DATE.match(text)
    if full:
        return _DateText(int(full.group(1)), int(full.group(2)), int(full.group(3)), weekday)
    short = _SHORT_DATE.match(text)
    if short:
        return _DateText(None, int(short.group(1)), int(short.group(2)), weekday)
    return None


def _date_from_cell(value: Cell) -> _DateText | None:
    if isinstance(value, dt.datetime):
        return _DateText(value.year, value.month, value.day, None)
    if isinstance(value, dt.date):
        return _DateText(value.year, value.month, value.day, None)
    if value is None or isinstance(value, bool | dt.time):
        return None
    return _parse_date_text(_cell_text(value))


def _resolve_years(texts: Sequence[_DateText], reference: dt.date | None) -> tuple[list[int | None], bool]:
    """Give year-less headers a year: from a header that has one, else the year nearest ``reference``.

    Headers run forward in time, so a month that goes down (12 → 1) means the next year.
    Returns (years, ok); not ok when no year can be found.
    """
    wraps: list[int] = []
    w = 0
    prev: tuple[int, int] | None = None
    for t in texts:
        if t.year is None and prev is not None and (t.month, t.day) < prev:
            w += 1
        wraps.append(w)
        prev = (t.month, t.day)
    base: int | None = None
    for t, wi in zip(texts, wraps, strict=True):
        if t.year is not None:
            base = t.year - wi
            break
    if base is None and reference is not None and texts:
        first = texts[0]

        def distance(year: int) -> int:
            try:
                return abs((dt.date(year, first.month, min(first.day, 28)) - reference).days)
            except ValueError:
                return 10**6

        base = min((reference.year - 1, reference.year, reference.year + 1), key=distance)
    if base is None:
        return [t.year for t in texts], all(t.year is not None for t in texts)
    return [t.year if t.year is not None else base + wi for t, wi in zip(texts, wraps, strict=True)], True


# ----------------------------------------------------------------------------------------------- people


class _People:
    """Resolve a cell to a person id: by id (case-insensitive) or by display name."""

    def __init__(self, known_ids: Collection[str], names: Mapping[str, str | Sequence[str]] | None) -> None:
        self.by_id = {normalise_word(p): p for p in known_ids}
        by_name: dict[str, set[str]] = defaultdict(set)
        for pid, value in (names or {}).items():
            for name in [value] if isinstance(value, str) else value:
                if name.strip():
                    by_name[normalise_word(name)].add(pid)
        self.by_name = by_name

    def resolve(self, text: str) -> tuple[str | None, list[str]]:
        key = normalise_word(text)
        if key in self.by_id:
            return self.by_id[key], []
        ids = sorted(self.by_name.get(key, ()))
        if len(ids) == 1:
            return ids[0], []
        return None, ids


# ------------------------------------------------------------------------------------------------ shifts

_TIME_RANGE = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*[-~至到]\s*(\d{1,2})(?::(\d{2}))?$")


def _resolve_shift(text: str, policy: Policy) -> tuple[bool, str | None]:
    known, code = policy.resolve_shift_word(text)
    if known:
        return known, code
    m = _TIME_RANGE.match(text)
    if m:
        start = (int(m.group(1)), int(m.group(2) or 0))
        end = (int(m.group(3)), int(m.group(4) or 0))
        for shift in policy.shifts:
            if (shift.start.hour, shift.start.minute) == start and (shift.end.hour, shift.end.minute) == end:
                return True, shift.code
    return False, None


def _known_shift_words(policy: Policy) -> str:
    return ", ".join(f"{s.name_zh}/{s.code}" for s in policy.shifts)


# ------------------------------------------------------------------------------------------------ parse

_IGNORED_HEADERS = {
    normalise_word(w)
    for w in (
        "姓名",
        "名字",
        "name",
        "names",
        "team",
        "小组",
        "组",
        "组别",
        "备注",
        "note",
        "notes",
        "remark",
        "remarks",
        "工号",
        "id",
        "岗位",
        "role",
    )
}
_LONG_PERSON = {
    normalise_word(w)
    for w in ("person", "person_id", "id", "工号", "人员", "员工", "姓名", "name", "agent", "people")
}
_LONG_DATE = {normalise_word(w) for w in ("date", "日期", "day")}
_LONG_SHIFT = {normalise_word(w) for w in ("shift", "shift_code", "班次", "班", "班别")}


class _Collector:
    def __init__(self) -> None:
        self.problems: list[RosterProblem] = []

    def add(self, code: str, row: int | None = None, column: int | None = None, **params: object) -> None:
        if len(self.problems) == MAX_PROBLEMS:
            self.problems.append(RosterProblem("too_many_problems"))
        if len(self.problems) > MAX_PROBLEMS:
            return
        self.problems.append(RosterProblem(code, row, column, {k: str(v) for k, v in params.items()}))


def parse_roster(
    source: bytes | str | Path,
    filename: str | None,
    known_person_ids: Collection[str],
    policy: Policy,
    *,
    names: Mapping[str, str | Sequence[str]] | None = None,
    reference: dt.date | None = None,
    progress: Progress | None = None,
    max_rows: int = 100_000,
) -> list[RosterEntry]:
    """Read a roster from CSV or XLSX bytes (or a path) in grid or long form; all or nothing.

    Grid form: first column a person id or name, one column per date (``2026-12-01``, ``12-01``,
    ``12月1日``, optionally with a weekday such as ``周二``, which is checked), cells a shift code, name or
    alias (白班/白/day/D, or a time range like 9-18) or a rest word (休/off/rest). Columns headed 姓名, 备注,
    team… are ignored. Long form: a header with person, date and shift columns, one row per entry.

    ``names`` maps person id → display name(s) so a file may use names; ``reference`` (e.g. today's local
    date) picks the year for headers without one. Raises :class:`RosterError` with every problem.
    """
    if isinstance(source, Path) or (isinstance(source, str) and not filename):
        path = Path(source)
        filename = filename or path.name
        data = path.read_bytes()
    elif isinstance(source, str):
        data = Path(source).read_bytes()
    else:
        data = source
    name = (filename or "").lower()
    out = _Collector()
    ext = name.rsplit(".", 1)[-1] if "." in name else ""
    if ext in ("xls", "et", "numbers", "ods"):
        raise RosterError([RosterProblem("unsupported_format", params={"ext": f".{ext}"})])
    if not data.strip():
        raise RosterError([RosterProblem("empty_file")])
    try:
        if ext in ("xlsx", "xlsm") or (ext not in ("csv", "txt", "tsv") and data[:2] == b"PK"):
            rows = _read_xlsx(data, progress)
        else:
            rows = _read_csv(data)
    except Exception as exc:  # any reader failure is a problem with the file, reported like the others
        raise RosterError([RosterProblem("unreadable", params={"reason": type(exc).__name__})]) from None
    if len(rows) > max_rows + 1:
        raise RosterError([RosterProblem("too_many_rows", params={"limit": str(max_rows)})])

    numbered = [(i, row) for i, row in enumerate(rows, start=1) if any(_cell_text(c) for c in row)]
    if not numbered:
        raise RosterError([RosterProblem("empty_file")])
    header_row, header = numbered[0]
    body = numbered[1:]
    people = _People(known_person_ids, names)
    header_words = [normalise_word(_cell_text(c)) for c in header]
    if any(w in _LONG_DATE for w in header_words) and any(w in _LONG_SHIFT for w in header_words):
        entries = _parse_long(header_row, header_words, body, people, policy, reference, out, progress)
    else:
        entries = _parse_grid(header_row, header, body, people, policy, reference, out, progress)
    if not out.problems and not entries:
        out.add("no_people", header_row + 1)
    if out.problems:
        raise RosterError(out.problems)
    if progress is not None:
        progress(len(rows), len(rows))
    return entries


def _parse_grid(
    header_row: int,
    header: Sequence[Cell],
    body: Sequence[tuple[int, Sequence[Cell]]],
    people: _People,
    policy: Policy,
    reference: dt.date | None,
    out: _Collector,
    progress: Progress | None,
) -> list[RosterEntry]:
    date_cols: list[int] = []  # 0-based indexes
    texts: list[_DateText] = []
    for j, value in enumerate(header):
        if j == 0:
            continue
        text = _cell_text(value)
        if not text:
            continue
        if normalise_word(text) in _IGNORED_HEADERS:
            continue
        parsed = _date_from_cell(value)
        if parsed is None:
            out.add("bad_date_header", header_row, j + 1, value=text)
            continue
        date_cols.append(j)
        texts.append(parsed)
    years, _ = _resolve_years(texts, reference)
    dates: dict[int, dt.date] = {}
    first_col: dict[dt.date, int] = {}
    for j, t, year in zip(date_cols, texts, years, strict=True):
        raw = _cell_text(header[j])
        if year is None:
            out.add("date_needs_year", header_row, j + 1, value=raw)
            continue
        try:
            day = dt.date(year, t.month, t.day)
        except ValueError:
            out.add("bad_date_header", header_row, j + 1, value=raw)
            continue
        if t.weekday is not None and t.weekday != day.weekday():
            out.add(
                "weekday_mismatch",
                header_row,
                j + 1,
                value=raw,
                date=day.isoformat(),
                weekday=_EN_DAYS[t.weekday].title(),
                actual=_EN_DAYS[day.weekday()].title(),
            )
            continue
        if day in first_col:
            out.add(
                "duplicate_date",
                header_row,
                j + 1,
                date=day.isoformat(),
                first=column_letter(first_col[day] + 1),
            )
            continue
        first_col[day] = j
        dates[j] = day
    if not date_cols and not out.problems:
        out.add("no_dates", header_row)
        return []

    entries: list[RosterEntry] = []
    seen_rows: dict[str, int] = {}
    for k, (i, row) in enumerate(body, start=1):
        if progress is not None and k % 1000 == 0:
            progress(k, len(body))
        who = _cell_text(row[0]) if row else ""
        if not who:
            out.add("unknown_person", i, 1, value="")
            continue
        pid, ambiguous = people.resolve(who)
        if pid is None:
            if ambiguous:
                out.add("ambiguous_person", i, 1, value=who, ids=", ".join(ambiguous))
            else:
                out.add("unknown_person", i, 1, value=who)
            continue
        if pid in seen_rows:
            out.add("duplicate_person", i, 1, person=pid, first=seen_rows[pid])
            continue
        seen_rows[pid] = i
        for j, day in dates.items():
            value = row[j] if j < len(row) else None
            text = _cell_text(value)
            if not text:
                if policy.roster.blank_cell_is_rest:
                    entries.append(RosterEntry(pid, day, None))
                else:
                    out.add("blank_cell", i, j + 1)
                continue
            known, code = _resolve_shift(text, policy)
            if not known:
                out.add("unknown_shift", i, j + 1, value=text, known=_known_shift_words(policy))
                continue
            entries.append(RosterEntry(pid, day, code))
    return entries


def _parse_long(
    header_row: int,
    words: Sequence[str],
    body: Sequence[tuple[int, Sequence[Cell]]],
    people: _People,
    policy: Policy,
    reference: dt.date | None,
    out: _Collector,
    progress: Progress | None,
) -> list[RosterEntry]:
    def find(options: set[str]) -> int | None:
        return next((j for j, w in enumerate(words) if w in options), None)

    c_person, c_date, c_shift = find(_LONG_PERSON), find(_LONG_DATE), find(_LONG_SHIFT)
    if c_person is None:
        out.add("missing_column", header_row, None, name="person")
        return []
    assert c_date is not None and c_shift is not None  # how the long form was detected
    entries: list[RosterEntry] = []
    first_row: dict[tuple[str, dt.date], int] = {}
    for k, (i, row) in enumerate(body, start=1):
        if progress is not None and k % 1000 == 0:
            progress(k, len(body))

        def cell(j: int, row: Sequence[Cell] = row) -> Cell:
            return row[j] if j < len(row) else None

        who = _cell_text(cell(c_person))
        pid, ambiguous = people.resolve(who) if who else (None, [])
        if pid is None:
            if ambiguous:
                out.add("ambiguous_person", i, c_person + 1, value=who, ids=", ".join(ambiguous))
            else:
                out.add("unknown_person", i, c_person + 1, value=who)
        raw_date = cell(c_date)
        parsed = _date_from_cell(raw_date)
        day: dt.date | None = None
        if parsed is None:
            out.add("bad_date", i, c_date + 1, value=_cell_text(raw_date))
        else:
            (year,), _ = _resolve_years([parsed], reference)
            if year is None:
                out.add("date_needs_year", i, c_date + 1, value=_cell_text(raw_date))
            else:
                try:
                    day = dt.date(year, parsed.month, parsed.day)
                except ValueError:
                    out.add("bad_date", i, c_date + 1, value=_cell_text(raw_date))
        text = _cell_text(cell(c_shift))
        code: str | None = None
        shift_ok = True
        if not text:
            if not policy.roster.blank_cell_is_rest:
                out.add("blank_cell", i, c_shift + 1)
                shift_ok = False
        else:
            shift_ok, code = _resolve_shift(text, policy)
            if not shift_ok:
                out.add("unknown_shift", i, c_shift + 1, value=text, known=_known_shift_words(policy))
        if pid is None or day is None or not shift_ok:
            continue
        if (pid, day) in first_row:
            out.add("duplicate_entry", i, None, person=pid, date=day.isoformat(), first=first_row[(pid, day)])
            continue
        first_row[(pid, day)] = i
        entries.append(RosterEntry(pid, day, code))
    return entries


# --------------------------------------------------------------------------------------------- validate

_VIOLATION_TEXT: dict[str, str] = {
    "consecutive_days": "{person} works {days} days in a row from {date} (at most {limit})",
    "short_rest": "{person} has only {hours}h rest before {date} (at least {limit}h)",
    "understaffed": "team {team} has {have} on {shift} on {date} (at least {need})",
    "evening_streak": "{person} is on late shifts for {days} days from {date} (at most {limit} weeks)",
    "no_weekend_rest": "{person} has no Saturday or Sunday off in {month}",
    "duplicate_entry": "{person} has more than one entry on {date}",
    "unknown_shift": "{person} has unknown shift {shift} on {date}",
}


@dataclass(frozen=True, slots=True)
class RosterViolation:
    """A rule a roster breaks, with the article to quote and params for the message."""

    code: str
    article: Article
    date: dt.date
    person_id: str | None = None
    team: str | None = None
    shift_code: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def message(self) -> str:
        """English text for logs and the English catalog's default."""
        return _VIOLATION_TEXT.get(self.code, self.code).format_map(defaultdict(str, self.params))


def _late_codes(policy: Policy) -> set[str]:
    """Shifts that count as 'evening' for the two-week limit: every rotation shift after the first."""
    return set(policy.roster.rotation[1:])


def validate_roster(
    entries: Iterable[RosterEntry],
    policy: Policy,
    *,
    teams: Mapping[str, Collection[str]] | None = None,
    tz: ZoneInfo | None = None,
) -> list[RosterViolation]:
    """Check a roster against 第二十条 and 第四十三条: runs of work days, rest between shifts, minimum staff.

    Pass the days before the period too (e.g. the previous week) to catch runs that cross into it. A date
    with no entry breaks a run (unknown is not counted as work). Staffing is checked only when ``teams``
    (team → person ids) is given, for the dates the team has entries on. Weekend rest is checked for
    months a person has an entry on every day of.
    """
    tz = tz or policy.tz
    rules = policy.roster
    by_person: dict[str, dict[dt.date, str | None]] = defaultdict(dict)
    found: list[RosterViolation] = []
    codes = {s.code for s in policy.shifts}
    for e in entries:
        days = by_person[e.person_id]
        if e.date in days:
            found.append(
                RosterViolation(
                    "duplicate_entry",
                    rules.article_limits,
                    e.date,
                    e.person_id,
                    params={"person": e.person_id, "date": e.date.isoformat()},
                )
            )
            continue
        if e.shift_code is not None and e.shift_code not in codes:
            found.append(
                RosterViolation(
                    "unknown_shift",
                    rules.article_pattern,
                    e.date,
                    e.person_id,
                    shift_code=e.shift_code,
                    params={"person": e.person_id, "date": e.date.isoformat(), "shift": e.shift_code},
                )
            )
            continue
        days[e.date] = e.shift_code

    windows: dict[tuple[dt.date, str], tuple[dt.datetime, dt.datetime]] = {}

    def window(day: dt.date, code: str) -> tuple[dt.datetime, dt.datetime]:
        key = (day, code)
        if key not in windows:
            windows[key] = shift_window(day, policy.shift(code), tz)
        return windows[key]

    late = _late_codes(policy)
    for person, days in by_person.items():
        ordered = sorted(days)
        found.extend(_runs(person, ordered, days, rules.max_consecutive_days, rules.article_limits))
        prev: tuple[dt.date, str] | None = None
        for day in ordered:
            code = days[day]
            if code is None:
                continue
            if prev is not None:
                rest = window(day, code)[0] - window(*prev)[1]
                if rest < dt.timedelta(hours=rules.min_rest_hours):
                    hours = f"{rest.total_seconds() / 3600:g}"
                    found.append(
                        RosterViolation(
                            "short_rest",
                            rules.article_limits,
                            day,
                            person,
                            shift_code=code,
                            params={
                                "person": person,
                                "date": day.isoformat(),
                                "hours": hours,
                                "limit": str(rules.min_rest_hours),
                            },
                        )
                    )
            prev = (day, code)
        found.extend(
            _evening_runs(person, ordered, days, late, rules.max_evening_weeks, rules.article_pattern)
        )
        found.extend(
            _weekend_rest(person, ordered, days, rules.weekend_rest_per_month, rules.article_pattern)
        )

    if teams:
        for team, members in teams.items():
            team_days = sorted({d for p in members for d in by_person.get(p, {})})
            for day in team_days:
                counts = Counter(by_person[p].get(day) for p in members if p in by_person)
                for shift in policy.shifts:
                    need = policy.staffing.minimum(team, shift.code)
                    if need and counts[shift.code] < need:
                        found.append(
                            RosterViolation(
                                "understaffed",
                                policy.staffing.article,
                                day,
                                team=team,
                                shift_code=shift.code,
                                params={
                                    "team": team,
                                    "shift": shift.code,
                                    "date": day.isoformat(),
                                    "have": str(counts[shift.code]),
                                    "need": str(need),
                                },
                            )
                        )
    found.sort(key=lambda v: (v.date, v.code, v.team or "", v.person_id or ""))
    return found


def _runs(
    person: str, ordered: Sequence[dt.date], days: Mapping[dt.date, str | None], limit: int, article: Article
) -> Iterator[RosterViolation]:
    start: dt.date | None = None
    length = 0
    prev: dt.date | None = None
    for day in [*ordered, None]:
        working = day is not None and days[day] is not None
        contiguous = day is not None and prev is not None and (day - prev).days == 1
        if working and contiguous and length:
            length += 1
        else:
            if length > limit and start is not None:
                yield RosterViolation(
                    "consecutive_days",
                    article,
                    start,
                    person,
                    params={
                        "person": person,
                        "date": start.isoformat(),
                        "days": str(length),
                        "limit": str(limit),
                    },
                )
            start, length = (day, 1) if working else (None, 0)
        prev = day


def _evening_runs(
    person: str,
    ordered: Sequence[dt.date],
    days: Mapping[dt.date, str | None],
    late: set[str],
    weeks: int,
    article: Article,
) -> Iterator[RosterViolation]:
    """A run of late shifts not interrupted by an early shift; rest days inside it do not end it."""
    first: dt.date | None = None
    last: dt.date | None = None
    for day in [*ordered, None]:
        code = days[day] if day is not None else None
        if day is not None and code in late:
            first = first or day
            last = day
            continue
        if day is not None and code is None:
            continue
        if first is not None and last is not None and (last - first).days + 1 > weeks * 7:
            yield RosterViolation(
                "evening_streak",
                article,
                first,
                person,
                params={
                    "person": person,
                    "date": first.isoformat(),
                    "days": str((last - first).days + 1),
                    "limit": str(weeks),
                },
            )
        first = last = None


def _weekend_rest(
    person: str, ordered: Sequence[dt.date], days: Mapping[dt.date, str | None], need: int, article: Article
) -> Iterator[RosterViolation]:
    if not need:
        return
    months: dict[tuple[int, int], list[dt.date]] = defaultdict(list)
    for day in ordered:
        months[(day.year, day.month)].append(day)
    for (year, month), listed in months.items():
        length = ((dt.date(year + month // 12, month % 12 + 1, 1)) - dt.date(year, month, 1)).days
        if len(listed) < length:
            continue
        rests = sum(1 for d in listed if d.weekday() >= 5 and days[d] is None)
        if rests < need:
            yield RosterViolation(
                "no_weekend_rest",
                article,
                dt.date(year, month, 1),
                person,
                params={"person": person, "month": f"{year}-{month:02d}"},
            )


# --------------------------------------------------------------------------------------------- generate


class RosterGenerationError(ValueError):
    """The generator cannot meet the rules for this team (too few people for the minimum staff)."""


def _rest_gap_ok(prev: ShiftType | None, nxt: ShiftType, min_rest_hours: int) -> bool:
    """Whether ``nxt`` may follow ``prev`` on the next day with enough rest (wall-clock, 第四十三条)."""
    if prev is None:
        return True
    prev_end = prev.end.hour * 60 + prev.end.minute + (1440 if prev.overnight else 0)
    gap = 1440 + nxt.start.hour * 60 + nxt.start.minute - prev_end
    return gap >= min_rest_hours * 60


@dataclass(slots=True)
class _Person:
    pid: str
    streak: int
    block: str | None = None  # shift of the current run of work days
    last_block: str | None = None  # shift of the previous run
    yesterday: str | None = None
    late_since: dt.date | None = None  # first day of the current late streak (rest days do not end it)
    late_ok: bool = False  # may start a new late run today and stay within the evening limit
    weekend_months: set[tuple[int, int]] = field(default_factory=set)


def generate_roster(
    team_members: Mapping[str, Sequence[str]],
    start: dt.date,
    end: dt.date,
    policy: Policy,
    *,
    seed: int = 0,
    previous: Iterable[RosterEntry] = (),
    attempts: int = 60,
) -> list[RosterEntry]:
    """Plan ``start``..``end`` (inclusive) as six_on_one_off for every team (第二十条, 第四十三条).

    Rest days rotate (each person rests at most every seventh day, with rests spread over the week), shifts
    rotate by runs of work days between rests (a late run is always followed by a day run, so nobody has
    evening shifts for two weeks and nobody gets less than the minimum rest), everyone gets a weekend day
    off in every month the period covers whole, and every day each team has the policy's minimum staff per
    shift. ``previous`` (e.g. last week's roster) continues runs instead of starting fresh. Same inputs and
    seed give the same roster.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    prev_entries = list(previous)
    out: list[RosterEntry] = []
    for team in sorted(team_members):
        members = list(dict.fromkeys(team_members[team]))
        if not members:
            continue
        _check_feasible(team, members, policy)
        for attempt in range(attempts):
            rng = random.Random(f"{seed}:{team}:{attempt}")
            planned = _plan_team(team, members, start, end, policy, rng, prev_entries)
            if planned is not None and not _team_violations(
                team, members, planned, prev_entries, start, policy
            ):
                out.extend(planned)
                break
        else:
            raise RosterGenerationError(
                f"team {team}: no roster found that keeps the minimum staff with {len(members)} people; "
                "add people or lower staffing minimums"
            )
    out.sort(key=lambda e: (e.date, e.person_id))
    return out


def _check_feasible(team: str, members: Sequence[str], policy: Policy) -> None:
    need = sum(policy.staffing.minimum(team, c) for c in policy.roster.rotation)
    n = len(members)
    capacity = n - need
    if capacity < 1 or capacity * (policy.roster.max_consecutive_days + 1) < n:
        raise RosterGenerationError(
            f"team {team}: {n} people cannot cover minimum staff {need} a day while each rests "
            f"at least one day in {policy.roster.max_consecutive_days + 1}"
        )


def _team_violations(
    team: str,
    members: Sequence[str],
    planned: Sequence[RosterEntry],
    previous: Sequence[RosterEntry],
    start: dt.date,
    policy: Policy,
) -> list[RosterViolation]:
    keep = set(members)
    context = [e for e in previous if e.person_id in keep and start - dt.timedelta(days=14) <= e.date < start]
    found = validate_roster([*context, *planned], policy, teams={team: members})
    return [v for v in found if v.date >= start or v.code in ("consecutive_days", "evening_streak")]


def _initial_state(
    members: Sequence[str],
    start: dt.date,
    policy: Policy,
    rng: random.Random,
    previous: Sequence[RosterEntry],
) -> list[_Person]:
    limit = policy.roster.max_consecutive_days
    history: dict[str, dict[dt.date, str | None]] = defaultdict(dict)
    for e in previous:
        if e.date < start:
            history[e.person_id][e.date] = e.shift_code
    order = list(range(len(members)))
    rng.shuffle(order)
    people: list[_Person] = []
    for pid, k in zip(members, order, strict=True):
        days = history.get(pid)
        if not days:
            # stagger first rests evenly over the first week
            people.append(_Person(pid, streak=limit - (k % (limit + 1))))
            continue
        p = _Person(pid, streak=0)
        day = start - dt.timedelta(days=1)
        p.yesterday = days.get(day)
        while days.get(day, None) is not None and day in days:
            p.streak += 1
            day -= dt.timedelta(days=1)
        p.block = p.yesterday
        # the run before the current one, for alternation
        while day in days and days[day] is None:
            day -= dt.timedelta(days=1)
        p.last_block = days.get(day)
        late = set(policy.roster.rotation[1:])
        back = start - dt.timedelta(days=1)
        while back in days and days[back] != policy.roster.rotation[0]:
            if days[back] in late:
                p.late_since = back
            back -= dt.timedelta(days=1)
        for d, code in days.items():
            if code is None and d.weekday() >= 5 and (d.year, d.month) == (start.year, start.month):
                p.weekend_months.add((d.year, d.month))
        people.append(p)
    return people


def _plan_team(
    team: str,
    members: Sequence[str],
    start: dt.date,
    end: dt.date,
    policy: Policy,
    rng: random.Random,
    previous: Sequence[RosterEntry],
) -> list[RosterEntry] | None:
    rules = policy.roster
    limit = rules.max_consecutive_days
    rotation = list(rules.rotation)
    shifts = {c: policy.shift(c) for c in rotation}
    mins = {c: policy.staffing.minimum(team, c) for c in rotation}
    n = len(members)
    capacity = n - sum(mins.values())
    max_span = rules.max_evening_weeks * 7
    people = _initial_state(members, start, policy, rng, previous)
    noise = {p.pid: rng.random() for p in people}
    entries: list[RosterEntry] = []
    day = start
    while day <= end:
        for p in people:
            noise[p.pid] = rng.random()
        weekend = day.weekday() >= 5
        ym = (day.year, day.month)
        for p in people:
            p.late_ok = p.late_since is None or (day - p.late_since).days + limit <= max_span

        def needs_weekend(p: _Person, ym: tuple[int, int] = ym) -> bool:
            return ym not in p.weekend_months

        # 1. earliest-deadline-first: the fewest rests today that keep every later day feasible
        slack = {p.pid: max(0, limit - p.streak) for p in people}
        r_min = 0
        for k in range(limit + 1):
            due = sum(1 for p in people if slack[p.pid] <= k)
            r_min = max(r_min, due - capacity * k)
        if r_min > capacity:
            return None
        late_set = set(rotation[1:])
        order = sorted(
            people,
            key=lambda p: (
                slack[p.pid],
                not (weekend and needs_weekend(p)),
                p.yesterday not in late_set,  # resting a late worker keeps early-capable people at work
                noise[p.pid],
            ),
        )
        resting = {p.pid for p in order[:r_min]}
        if not _coverable(people, resting, rotation, shifts, mins, rules.min_rest_hours):
            return None

        def optional_rest_ok(
            candidate: set[str], slack: Mapping[str, int] = slack, late_set: set[str] = late_set
        ) -> bool:
            # resting someone early moves their next rest; keep the busiest future day coverable for
            # the people already on late shifts (they cannot switch to the early shift mid-run)
            if not _coverable(people, candidate, rotation, shifts, mins, rules.min_rest_hours):
                return False
            after = [limit if p.pid in candidate else slack[p.pid] - 1 for p in people]
            peak = min(capacity, max(Counter(after).values()))
            on_late = sum(1 for p in people if p.pid not in candidate and p.yesterday in late_set)
            return n - peak - mins[rotation[0]] >= on_late

        # weekend rest for those who have none this month yet, when staffing allows. On a weekday, if the
        # weekends left this month are taken by people who already had one, rest some of them a little
        # earlier instead: their rest day moves off the weekend and frees it (the rotation of 第二十条).
        if not weekend:
            _free_weekends(
                day,
                end,
                people,
                slack,
                resting,
                limit,
                capacity,
                needs_weekend,
                optional_rest_ok,
            )
        else:
            wanting = sorted(
                (
                    p
                    for p in people
                    if p.pid not in resting
                    and needs_weekend(p)
                    and not _natural_weekend(day, slack[p.pid], limit, end)
                ),
                key=lambda p: (slack[p.pid], noise[p.pid]),
            )
            target = _weekend_target(day, end, people, slack, limit, capacity, len(wanting))
            for p in wanting:
                if target <= 0 or len(resting) >= capacity:
                    break
                if optional_rest_ok(resting | {p.pid}):
                    resting.add(p.pid)
                    target -= 1

        # 2. shifts for the people working today. Someone on a late shift cannot take the early shift
        # tomorrow, so late shifts are capped to what still leaves enough early-capable people on the
        # busiest day of rests ahead.
        after = [limit if p.pid in resting else slack[p.pid] - 1 for p in people]
        peak = min(capacity, max(Counter(after).values()))
        late_cap = max(sum(mins[c] for c in rotation[1:]), n - peak - mins[rotation[0]])
        assigned: dict[str, str] = {}
        counts: Counter[str] = Counter()
        fresh: list[_Person] = []
        for p in people:
            if p.pid in resting:
                continue
            if p.block is not None and p.yesterday is not None:
                assigned[p.pid] = p.block
                counts[p.block] += 1
            else:
                fresh.append(p)
        # those who last had an early run go first, so late runs pass around the team week by week
        fresh.sort(key=lambda p: (p.last_block != rotation[0], noise[p.pid]))
        for p in fresh:
            allowed = _next_blocks(p, rotation)
            allowed = [
                c
                for c in allowed
                if _rest_gap_ok(shifts.get(p.yesterday or ""), shifts[c], rules.min_rest_hours)
            ] or allowed
            late_now = sum(counts[c] for c in rotation[1:])
            allowed = [c for c in allowed if c == rotation[0] or late_now < late_cap] or allowed
            wanted = _rotate_from(p.last_block, rotation)
            choice = min(allowed, key=lambda c: (counts[c] >= mins[c], c != wanted, counts[c]))
            assigned[p.pid] = choice
            counts[choice] += 1
        # 3. fill shortages by moving people whose rest allows it (day → evening mid-run is fine)
        for code in rotation:
            while counts[code] < mins[code]:
                movable = [
                    p
                    for p in people
                    if p.pid in assigned
                    and assigned[p.pid] != code
                    and counts[assigned[p.pid]] > mins[assigned[p.pid]]
                    and (
                        code in _next_blocks(p, rotation)
                        if p.yesterday is None
                        else _rest_gap_ok(shifts.get(p.yesterday), shifts[code], rules.min_rest_hours)
                    )
                ]
                if not movable:
                    return None
                pick = min(movable, key=lambda p: (slack[p.pid], noise[p.pid]))
                counts[assigned[pick.pid]] -= 1
                assigned[pick.pid] = code
                counts[code] += 1
        # 4. record and advance
        for p in people:
            if p.pid in resting:
                entries.append(RosterEntry(p.pid, day, None))
                if p.block is not None:
                    p.last_block = p.block
                p.block = None
                p.yesterday = None
                p.streak = 0
                if weekend:
                    p.weekend_months.add(ym)
            else:
                code = assigned[p.pid]
                entries.append(RosterEntry(p.pid, day, code))
                p.block = code
                p.yesterday = code
                p.streak += 1
                if code in late_set:
                    p.late_since = p.late_since or day
                else:
                    p.late_since = None
        day += dt.timedelta(days=1)
    return entries


def _coverable(
    people: Sequence[_Person],
    resting: Collection[str],
    rotation: Sequence[str],
    shifts: Mapping[str, ShiftType],
    mins: Mapping[str, int],
    min_rest_hours: int,
) -> bool:
    """Whether the people not resting can still cover the minimum of the early and the late shifts."""
    early, late_codes = rotation[0], rotation[1:]
    must_early = must_late = flexible = 0
    for p in people:
        if p.pid in resting:
            continue
        can_early = (
            early in _next_blocks(p, rotation)
            if p.yesterday is None
            else (p.block == early or _rest_gap_ok(shifts.get(p.yesterday), shifts[early], min_rest_hours))
        )
        can_late = (
            any(c in _next_blocks(p, rotation) for c in late_codes)
            if p.yesterday is None
            else any(_rest_gap_ok(shifts.get(p.yesterday), shifts[c], min_rest_hours) for c in late_codes)
        )
        if can_early and can_late:
            flexible += 1
        elif can_early:
            must_early += 1
        elif can_late:
            must_late += 1
    need_early = mins[early]
    need_late = sum(mins[c] for c in late_codes)
    return (
        must_early + flexible >= need_early
        and must_late + flexible >= need_late
        and must_early + must_late + flexible >= need_early + need_late
    )


def _next_blocks(p: _Person, rotation: Sequence[str]) -> list[str]:
    """After an early run, any shift; after a late run, the next in the rotation, unless another late run
    still fits in the evening limit (a short late run, e.g. one day moved to cover a gap)."""
    if p.last_block is None or p.last_block not in rotation:
        return list(rotation)
    i = rotation.index(p.last_block)
    if i == 0 or p.late_ok:
        return list(rotation)
    return [rotation[(i + 1) % len(rotation)]]


def _rotate_from(last: str | None, rotation: Sequence[str]) -> str:
    """The shift a new run should take: the one after the last run's (early after late, late after early)."""
    if last is None or last not in rotation:
        return rotation[0]
    return rotation[(rotation.index(last) + 1) % len(rotation)]


def _month_end(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1) - dt.timedelta(days=1)


def _natural_weekend(day: dt.date, slack: int, limit: int, end: dt.date) -> bool:
    """Whether resting only when due (every ``limit + 1`` days) still gives a weekend rest this month."""
    last = min(_month_end(day), end)
    rest = day + dt.timedelta(days=slack)
    while rest <= last:
        if rest.weekday() >= 5:
            return True
        rest += dt.timedelta(days=limit + 1)
    return False


def _free_weekends(
    day: dt.date,
    end: dt.date,
    people: Sequence[_Person],
    slack: Mapping[str, int],
    resting: set[str],
    limit: int,
    capacity: int,
    needs_weekend: Callable[[_Person], bool],
    coverable: Callable[[set[str]], bool],
) -> None:
    last = min(_month_end(day), end)
    wanting = [
        p
        for p in people
        if p.pid not in resting and needs_weekend(p) and not _natural_weekend(day, slack[p.pid], limit, end)
    ]
    if not wanting:
        return
    due: dict[dt.date, list[_Person]] = defaultdict(list)
    for p in people:
        if p.pid in resting:
            continue
        rest = day + dt.timedelta(days=slack[p.pid])
        while rest <= last:
            due[rest].append(p)
            rest += dt.timedelta(days=limit + 1)
    weekends = [d for d in sorted(due.keys() | _weekend_dates(day, last)) if d > day and d.weekday() >= 5]
    free = sum(max(0, capacity - len(due[d])) for d in weekends)
    if free >= len(wanting):
        return
    movable = [p for d in weekends for p in due[d] if not needs_weekend(p) and slack[p.pid] == (d - day).days]
    for p in sorted(movable, key=lambda p: slack[p.pid]):
        if free >= len(wanting) or len(resting) >= capacity:
            break
        if coverable(resting | {p.pid}):
            resting.add(p.pid)
            free += 1


def _weekend_dates(first: dt.date, last: dt.date) -> set[dt.date]:
    return {
        first + dt.timedelta(days=i)
        for i in range((last - first).days + 1)
        if (first + dt.timedelta(days=i)).weekday() >= 5
    }


def _weekend_target(
    day: dt.date,
    end: dt.date,
    people: Sequence[_Person],
    slack: Mapping[str, int],
    limit: int,
    capacity: int,
    wanting: int,
) -> int:
    """How many early weekend rests to give today: an even share, or more if later weekends are full."""
    last = min(_month_end(day), end)
    later = [day + dt.timedelta(days=i) for i in range(1, (last - day).days + 1)]
    later = [d for d in later if d.weekday() >= 5]
    due: Counter[dt.date] = Counter()
    for p in people:
        rest = day + dt.timedelta(days=slack[p.pid])
        while rest <= last:
            due[rest] += 1
            rest += dt.timedelta(days=limit + 1)
    free_later = sum(max(0, capacity - due[d]) for d in later)
    return max(math.ceil(wanting / (len(later) + 1)), wanting - free_later)


def _weekend_days_left(day: dt.date, end: dt.date) -> int:
    """Saturdays and Sundays from ``day`` to the end of its month (or the period), inclusive."""
    month_end = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1) - dt.timedelta(days=1)
    last = min(month_end, end)
    return sum(1 for i in range((last - day).days + 1) if (day + dt.timedelta(days=i)).weekday() >= 5)


# ----------------------------------------------------------------------------------------------- export


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
        with Path(target).open("w", encoding="utf-8-sig", newline="") as fh:
            csv.writer(fh, lineterminator="\n").writerows(rows)
        return
    csv.writer(target, lineterminator="\n").writerows(rows)
