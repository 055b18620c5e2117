"""Bounded readers for files people send us: roster CSV/XLSX, handbook Markdown/text/DOCX.

A spreadsheet or a Word file is a zip of XML, and neither the zip directory nor the sheet's declared
dimension says what reading it will cost: a 5 KB file can ask for gigabytes. So every reader here checks
the limits *before* the expensive step where it can (file bytes, each zip member's uncompressed size from
the zip directory; Python's zipfile never inflates a member past the size the directory declares) and
*while* reading otherwise (rows, columns, cells, characters per cell, counted as they are read; the sheet's
declared size is thrown away with ``reset_dimensions()``). Going over any limit raises
:class:`FileLimitError`, which names the limit, and nothing big has been built by then.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from xml.etree import ElementTree

MB = 1024 * 1024

Cell = str | int | float | dt.date | dt.datetime | dt.time | bool | None
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class FileLimits:
    """How much of a file we are willing to read. The defaults fit a department's roster with room to
    spare (300 people x a month is ~9,300 cells; a year for 100 people ~37,000) and keep refusing any
    file under ~1 s of CPU and ~100 MB on a slow machine."""

    max_bytes: int = 10 * MB
    max_member_bytes: int = 8 * MB  # one zip member, uncompressed
    max_total_bytes: int = 24 * MB  # all zip members together, uncompressed
    max_members: int = 500
    # XML elements (every '<'), counted in a streaming pass before any XML parser sees the part: the
    # parsers' cost is per element, whatever the part is called or wherever its relationships point.
    max_part_tags: int = 200_000
    max_tags: int = 600_000
    max_rows: int = 100_001  # lines or paragraphs for handbooks; the header counts as a row
    max_columns: int = 1_000
    max_cells: int = 200_000
    max_cell_chars: int = 10_000  # characters in one cell or one handbook line


ROSTER_LIMITS = FileLimits()
HANDBOOK_LIMITS = FileLimits(max_rows=200_000, max_cell_chars=100_000)

# English wording per limit; the bot's catalogs hold the same under roster.problem.limit_<kind>.
LIMIT_TEXT: dict[str, str] = {
    "bytes": "the file is larger than the limit of {limit}",
    "member_bytes": "part {member} of the file unpacks to more than the limit of {limit}",
    "total_bytes": "the file unpacks to more than the limit of {limit}",
    "members": "the file has more than the limit of {limit} parts",
    "part_tags": "part {member} of the file has more than the limit of {limit} XML elements",
    "tags": "the file has more than the limit of {limit} XML elements",
    "doctype": "part {member} of the file declares a DOCTYPE, which Office files never need",
    "rows": "the file has more than the limit of {limit} rows",
    "columns": "row {row} has more than the limit of {limit} columns",
    "cells": "the file has more than the limit of {limit} cells",
    "cell_chars": "row {row} has a cell longer than the limit of {limit} characters",
}


def _size(value: int) -> str:
    return f"{value // MB} MB" if value >= MB and value % MB == 0 else f"{value} bytes"


class FileLimitError(ValueError):
    """A file over one of the limits; ``kind`` is a key of :data:`LIMIT_TEXT`, ``params`` fill it."""

    def __init__(self, kind: str, limit: int, **params: str) -> None:
        self.kind = kind
        self.limit = limit
        shown = _size(limit) if kind.endswith("bytes") else str(limit)
        self.params: dict[str, str] = {"limit": shown, **params}
        super().__init__(LIMIT_TEXT[kind].format_map(self.params))


# ------------------------------------------------------------------------------------------------ bytes


def read_bytes(path: str | Path, limits: FileLimits) -> bytes:
    """The file's bytes, refusing before reading when it is larger than ``max_bytes``."""
    with Path(path).open("rb") as fh:
        data = fh.read(limits.max_bytes + 1)
    check_bytes(data, limits)
    return data


def check_bytes(data: bytes, limits: FileLimits) -> None:
    if len(data) > limits.max_bytes:
        raise FileLimitError("bytes", limits.max_bytes)


def open_zip(source: bytes | Path, limits: FileLimits) -> zipfile.ZipFile:
    """Open a zip after checking its directory: member count, each member's and the total unpacked size.

    The sizes are the ones the directory declares; zipfile stops inflating a member at its declared size
    (a member that inflates further fails its CRC check), so a lying directory cannot make us read more.
    """
    archive = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    try:
        members = archive.infolist()
        if len(members) > limits.max_members:
            raise FileLimitError("members", limits.max_members)
        total = 0
        for info in members:
            if info.file_size > limits.max_member_bytes:
                raise FileLimitError("member_bytes", limits.max_member_bytes, member=info.filename[:80])
            total += info.file_size
        if total > limits.max_total_bytes:
            raise FileLimitError("total_bytes", limits.max_total_bytes)
        _scan_members(archive, members, limits)
    except BaseException:
        archive.close()
        raise
    return archive


def _scan_members(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], limits: FileLimits) -> None:
    """Count XML elements in every member and refuse DOCTYPEs (entity expansion), one chunk at a time."""
    total = 0
    for info in members:
        tags = 0
        tail = b""
        with archive.open(info) as source:
            while chunk := source.read(1024 * 1024):
                tags += chunk.count(b"<")
                if b"<!DOCTYPE" in tail + chunk[:16] or b"<!DOCTYPE" in chunk:
                    raise FileLimitError("doctype", 0, member=info.filename[:80])
                tail = chunk[-16:]
                if tags > limits.max_part_tags:
                    raise FileLimitError("part_tags", limits.max_part_tags, member=info.filename[:80])
        total += tags
        if total > limits.max_tags:
            raise FileLimitError("tags", limits.max_tags)


# ---------------------------------------------------------------------------------------------- tables


class _Counter:
    """Counts rows, columns and cells as they are read, raising at the first one over its limit."""

    def __init__(self, limits: FileLimits) -> None:
        self.limits = limits
        self.rows = 0
        self.cells = 0

    def row(self, values: list[Cell]) -> list[Cell]:
        limits = self.limits
        self.rows += 1
        if self.rows > limits.max_rows:
            raise FileLimitError("rows", limits.max_rows - 1)  # the header is not counted in the message
        while values and (values[-1] is None or values[-1] == ""):
            values.pop()  # trailing blanks (a far-away formatted cell) cost nothing and mean nothing
        if len(values) > limits.max_columns:
            raise FileLimitError("columns", limits.max_columns, row=str(self.rows))
        self.cells += len(values)
        if self.cells > limits.max_cells:
            raise FileLimitError("cells", limits.max_cells)
        for value in values:
            if isinstance(value, str) and len(value) > limits.max_cell_chars:
                raise FileLimitError("cell_chars", limits.max_cell_chars, row=str(self.rows))
        return values


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030 as Chinese Excel saves CSV."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def read_csv_rows(data: bytes, limits: FileLimits = ROSTER_LIMITS) -> list[list[Cell]]:
    """Rows of a CSV (comma, tab or semicolon, whichever the first line uses most), within ``limits``."""
    check_bytes(data, limits)
    text = decode_text(data)
    first = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";"), key=first.count)
    counter = _Counter(limits)
    previous = csv.field_size_limit(limits.max_cell_chars + 1)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        return [counter.row(list(row)) for row in _guard_csv(reader, limits)]
    finally:
        csv.field_size_limit(previous)


def _guard_csv(reader: Iterator[list[str]], limits: FileLimits) -> Iterator[list[str]]:
    try:
        yield from reader
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise FileLimitError("cell_chars", limits.max_cell_chars, row=str(reader.line_num)) from None  # type: ignore[attr-defined]
        raise


def read_xlsx_rows(
    data: bytes, limits: FileLimits = ROSTER_LIMITS, progress: Progress | None = None
) -> list[list[Cell]]:
    """Rows of the first sheet as stored (never padded to the declared size), within ``limits``."""
    check_bytes(data, limits)
    open_zip(data, limits).close()
    import openpyxl  # imported here: only XLSX imports pay for it

    with warnings.catch_warnings():
        # openpyxl warns about spreadsheet features it ignores (data validation, styles): not our concern
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            ws = wb.worksheets[0]
            total = ws.max_row or 0  # declared; only for the progress bar, capped below
            ws.reset_dimensions()
            counter = _Counter(limits)
            rows: list[list[Cell]] = []
            for values in ws.iter_rows(values_only=True):
                rows.append(counter.row(list(values)))  # type: ignore[arg-type]
                if progress is not None and counter.rows % 1000 == 0:
                    progress(counter.rows, min(max(total, counter.rows), limits.max_rows))
        finally:
            wb.close()
    return rows


# ------------------------------------------------------------------------------------------- documents


def read_text_lines(path: str | Path, limits: FileLimits = HANDBOOK_LIMITS) -> list[str]:
    """Lines of a UTF-8 text file within the byte, line and line-length limits.

    Raises UnicodeDecodeError for text that is not UTF-8 (the caller names the line)."""
    data = read_bytes(path, limits)
    lines = data.decode("utf-8-sig").splitlines()
    if len(lines) > limits.max_rows:
        raise FileLimitError("rows", limits.max_rows)
    for number, line in enumerate(lines, start=1):
        if len(line) > limits.max_cell_chars:
            raise FileLimitError("cell_chars", limits.max_cell_chars, row=str(number))
    return lines


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


@dataclass(frozen=True, slots=True)
class Paragraph:
    """A top-level paragraph of a Word document: its text and its style's name ('' for the default)."""

    text: str
    style: str


def read_docx_paragraphs(path: str | Path, limits: FileLimits = HANDBOOK_LIMITS) -> list[Paragraph]:
    """The body's paragraphs (as python-docx's ``Document.paragraphs``), read streaming within limits."""
    data = read_bytes(path, limits)
    with open_zip(data, limits) as archive:
        names = set(archive.namelist())
        styles = _docx_style_names(archive) if "word/styles.xml" in names else {}
        if "word/document.xml" not in names:
            raise ValueError("not a Word document (no word/document.xml)")
        with archive.open("word/document.xml") as source:
            return _docx_body(source, styles, limits)


def _docx_style_names(archive: zipfile.ZipFile) -> dict[str, str]:
    names: dict[str, str] = {}
    with archive.open("word/styles.xml") as source:
        for _event, element in ElementTree.iterparse(source, events=("end",)):
            if element.tag == f"{_W}style":
                style_id = element.get(f"{_W}styleId")
                name = element.find(f"{_W}name")
                if style_id and name is not None:
                    names[style_id] = name.get(f"{_W}val") or ""
                element.clear()
    return names


def _docx_body(source: IO[bytes], styles: dict[str, str], limits: FileLimits) -> list[Paragraph]:
    paragraphs: list[Paragraph] = []
    depth = 0
    body: ElementTree.Element | None = None
    body_depth = -1
    in_paragraph = False
    parts: list[str] = []
    length = 0
    style = ""
    for event, element in ElementTree.iterparse(source, events=("start", "end")):
        tag = element.tag
        if event == "start":
            depth += 1
            if tag == f"{_W}body":
                body, body_depth = element, depth
            elif tag == f"{_W}p" and depth == body_depth + 1:
                in_paragraph, parts, length, style = True, [], 0, ""
            continue
        level, depth = depth, depth - 1
        if in_paragraph:
            text = ""
            if tag == f"{_W}t":
                text = element.text or ""
            elif tag == f"{_W}tab":
                text = "\t"
            elif tag in (f"{_W}br", f"{_W}cr"):
                text = "\n"
            elif tag == f"{_W}pStyle":
                value = element.get(f"{_W}val") or ""
                style = styles.get(value, value)
            if text:
                parts.append(text)
                length += len(text)
                if length > limits.max_cell_chars:
                    row = str(len(paragraphs) + 1)
                    raise FileLimitError("cell_chars", limits.max_cell_chars, row=row)
            if tag == f"{_W}p" and level == body_depth + 1:
                in_paragraph = False
                paragraphs.append(Paragraph("".join(parts), style))
                if len(paragraphs) > limits.max_rows:
                    raise FileLimitError("rows", limits.max_rows)
        if body is not None and level == body_depth + 1:
            body.clear()  # a finished top-level block (paragraph, table) is not kept
    return paragraphs
