"""Roster import from CSV/XLSX, grid or long form; all or nothing.

A file with any problem raises :class:`RosterError` listing every problem with its row and column, so a
supervisor can fix the file in one go and nothing half-imported becomes the basis for attendance (第二十一条).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from schedules.filelimits import (
    ROSTER_LIMITS,
    Cell,
    FileLimitError,
    read_bytes,
    read_csv_rows,
    read_xlsx_rows,
)
from schedules.policy import Policy, normalise_word
from schedules.roster.model import Progress, RosterEntry, RosterError, RosterProblem, column_letter

# ---------------------------------------------------------------------------------------------- reading

MAX_PROBLEMS = 200


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
    limits = replace(ROSTER_LIMITS, max_rows=max_rows + 1)
    if isinstance(source, bytes):
        data = source
    else:
        filename = filename or Path(source).name
        try:
            data = read_bytes(source, limits)
        except FileLimitError as exc:
            raise RosterError([RosterProblem(f"limit_{exc.kind}", params=exc.params)]) from None
    name = (filename or "").lower()
    out = _Collector()
    ext = name.rsplit(".", 1)[-1] if "." in name else ""
    if ext in ("xls", "et", "numbers", "ods"):
        raise RosterError([RosterProblem("unsupported_format", params={"ext": f".{ext}"})])
    if not data.strip():
        raise RosterError([RosterProblem("empty_file")])
    try:
        if ext in ("xlsx", "xlsm") or (ext not in ("csv", "txt", "tsv") and data[:2] == b"PK"):
            rows = read_xlsx_rows(data, limits, progress)
        else:
            rows = read_csv_rows(data, limits)
    except FileLimitError as exc:  # over a limit: refused before the rest of the file is read
        raise RosterError([RosterProblem(f"limit_{exc.kind}", params=exc.params)]) from None
    except Exception as exc:  # any reader failure is a problem with the file, reported like the others
        raise RosterError([RosterProblem("unreadable", params={"reason": type(exc).__name__})]) from None

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
