"""Report cells are data, never code: one place that makes user text safe for CSV and XLSX writers.

A spreadsheet program runs a cell that starts with ``=`` (or ``+ - @``, or a tab or carriage return
before them) as a formula; a person named ``=HYPERLINK(…)`` must read back exactly as typed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Characters XML 1.0 cannot carry (openpyxl refuses them): a name with one must not break the report.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def csv_field(value: Any) -> Any:
    """A text field that a spreadsheet would read as a formula gets the single-quote prefix (OWASP)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_row(values: Iterable[Any]) -> list[Any]:
    return [csv_field(v) for v in values]


def xlsx_append(ws: Worksheet, values: Iterable[Any]) -> None:
    """Append a row where every text is a string cell (openpyxl would store ``=…`` as a formula)."""
    ws.append([_XML_ILLEGAL.sub("", v) if isinstance(v, str) else v for v in values])
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"
