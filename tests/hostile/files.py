"""Hostile files made on the spot: each is small on disk and expensive for a naive reader."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="xl/workbook.xml" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="roster" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="worksheets/sheet1.xml" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"/>'
    '<Relationship Id="rId2" Target="sharedStrings.xml" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"/>'
    "</Relationships>"
)
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _cell(ref: str, text: str) -> str:
    if text.isdigit():
        return f'<c r="{ref}"><v>{text}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def sheet_xml(rows: dict[int, list[tuple[str, str]]], dimension: str = "A1:XFD1048576") -> str:
    body = "".join(
        f'<row r="{r}">' + "".join(_cell(ref, text) for ref, text in cells) + "</row>"
        for r, cells in sorted(rows.items())
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_MAIN}">'
        f'<dimension ref="{dimension}"/><sheetData>{body}</sheetData></worksheet>'
    )


def xlsx(sheet: str | bytes, shared: str | bytes | None = None) -> bytes:
    """A minimal workbook around the given sheet XML (and shared strings XML)."""
    shared = shared if shared is not None else f'<sst xmlns="{_MAIN}" count="0" uniqueCount="0"/>'
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
        archive.writestr("xl/sharedStrings.xml", shared)
    return out.getvalue()


def far_cells_xlsx() -> bytes:
    """The issue's file: three cells at the corners, a declared size of the whole sheet."""
    return xlsx(sheet_xml({1: [("A1", "person"), ("XFD1", "x")], 1048576: [("A1048576", "x")]}))


def far_row_xlsx() -> bytes:
    """A reasonable header and one cell a million rows down (no wide row to refuse early)."""
    return xlsx(sheet_xml({1: [("A1", "person"), ("B1", "2026-12-01")], 1048576: [("A1048576", "x")]}))


def wide_rows_xlsx(rows: int = 300, columns: int = 900) -> bytes:
    """Every row nearly as wide as allowed: only the number of cells is too much."""
    from openpyxl.utils import get_column_letter

    letters = [get_column_letter(c) for c in range(1, columns + 1)]
    body = {r: [(f"{letters[c]}{r}", "1") for c in range(columns)] for r in range(1, rows + 1)}
    return xlsx(sheet_xml(body, dimension=f"A1:{letters[-1]}{rows}"))


def many_shared_strings_xlsx(count: int = 100_000) -> bytes:
    """Many tiny shared strings in few bytes (each one a Python object when loaded)."""
    strings = "".join(f"<si><t>{i}</t></si>" for i in range(count))
    shared = f'<sst xmlns="{_MAIN}" count="{count}" uniqueCount="{count}">{strings}</sst>'
    sheet = sheet_xml({1: [("A1", "person")]}, dimension="A1")
    return xlsx(sheet, shared)


def busiest_xlsx(strings: int = 49_000, width: int = 900) -> bytes:
    """Just under the XML element limits in both the shared strings and the sheet, every cell a
    shared string: the most work a file can ask for and still be read to the end."""
    from openpyxl.utils import get_column_letter

    shared = "".join(f"<si><t>s{i}</t></si>" for i in range(strings))
    letters = [get_column_letter(c) for c in range(1, width + 1)]
    cells = []
    for i in range(strings):
        row, column = divmod(i, width)
        if column == 0:
            cells.append(("</row>" if row else "") + f'<row r="{row + 1}">')
        cells.append(f'<c r="{letters[column]}{row + 1}" t="s"><v>{i}</v></c>')
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_MAIN}"><sheetData>'
        + "".join(cells)
        + "</row></sheetData></worksheet>"
    )
    return xlsx(sheet, f'<sst xmlns="{_MAIN}" count="{strings}" uniqueCount="{strings}">{shared}</sst>')


def huge_shared_string_xlsx(size: int = 64 * 1024 * 1024) -> bytes:
    """One shared string of ``size`` characters: a few hundred KB compressed."""
    head = f'<sst xmlns="{_MAIN}" count="1" uniqueCount="1"><si><t>'.encode()
    return _with_member(
        far_cells_xlsx(), "xl/sharedStrings.xml", _deflated(head, b"A", size, b"</t></si></sst>")
    )


def _deflated(head: bytes, fill: bytes, size: int, tail: bytes) -> tuple[bytes, int, int]:
    """(raw deflate stream, crc, uncompressed size) without holding the uncompressed bytes."""
    squash = zlib.compressobj(1, zlib.DEFLATED, -15)
    crc = zlib.crc32(head)
    parts = [squash.compress(head)]
    chunk = fill * (1024 * 1024)
    left = size
    while left > 0:
        piece = chunk[:left]
        crc = zlib.crc32(piece, crc)
        parts.append(squash.compress(piece))
        left -= len(piece)
    crc = zlib.crc32(tail, crc)
    parts.append(squash.compress(tail))
    parts.append(squash.flush())
    return b"".join(parts), crc, len(head) + size + len(tail)


def _with_member(
    base: bytes, name: str, member: tuple[bytes, int, int], declared: int | None = None
) -> bytes:
    """``base`` with part ``name`` replaced by a pre-deflated member; ``declared`` overrides the size
    the zip directory states (a lying directory)."""
    parts: list[tuple[str, bytes, int, int]] = []
    with zipfile.ZipFile(io.BytesIO(base)) as source:
        for info in source.infolist():
            if info.filename != name:
                raw = source.read(info.filename)
                squash = zlib.compressobj(6, zlib.DEFLATED, -15)
                parts.append(
                    (info.filename, squash.compress(raw) + squash.flush(), zlib.crc32(raw), len(raw))
                )
    data, crc, size = member
    parts.append((name, data, crc, size if declared is None else declared))
    body = b""
    directory = b""
    for filename, deflated, checksum, stated in parts:
        encoded = filename.encode()
        offset = len(body)
        sizes = (checksum, len(deflated), stated, len(encoded), 0)
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, *sizes) + encoded + deflated
        directory += (
            struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, *sizes, 0, 0, 0, 0, offset)
            + encoded
        )
    count = len(parts)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(directory), len(body), 0)
    return body + directory + end


def zip_bomb_xlsx(size: int = 128 * 1024 * 1024) -> bytes:
    """The sheet inflates to ``size`` bytes (spaces inside the XML), honestly declared."""
    head = f'<?xml version="1.0"?><worksheet xmlns="{_MAIN}"><sheetData>'.encode()
    return _with_member(
        far_cells_xlsx(), "xl/worksheets/sheet1.xml", _deflated(head, b" ", size, b"</sheetData></worksheet>")
    )


def lying_zip_bomb_xlsx(size: int = 128 * 1024 * 1024) -> bytes:
    """As :func:`zip_bomb_xlsx` but the zip directory claims the sheet is 2 KB."""
    head = f'<?xml version="1.0"?><worksheet xmlns="{_MAIN}"><sheetData>'.encode()
    member = _deflated(head, b" ", size, b"</sheetData></worksheet>")
    return _with_member(far_cells_xlsx(), "xl/worksheets/sheet1.xml", member, declared=2048)


_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def docx(document: str | bytes) -> bytes:
    """A minimal Word package around the given ``word/document.xml``."""
    types = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/word/document.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Target="word/document.xml" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
        "</Relationships>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", types)
        archive.writestr("_rels/.rels", rels)
        archive.writestr("word/document.xml", document)
    return out.getvalue()


def many_paragraphs_docx(count: int = 100_000) -> bytes:
    paragraphs = "<w:p><w:r><w:t>x</w:t></w:r></w:p>" * count
    return docx(f'<?xml version="1.0"?><w:document xmlns:w="{_W}"><w:body>{paragraphs}</w:body></w:document>')


def docx_bomb(size: int = 128 * 1024 * 1024) -> bytes:
    head = f'<?xml version="1.0"?><w:document xmlns:w="{_W}"><w:body><w:p><w:r><w:t>'.encode()
    return _with_member(
        docx("<x/>"),
        "word/document.xml",
        _deflated(head, b"A", size, b"</w:t></w:r></w:p></w:body></w:document>"),
    )


def entity_bomb_docx() -> bytes:
    """Billion laughs inside the document part."""
    entities = '<!ENTITY a0 "haha">' + "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
    return docx(
        f'<?xml version="1.0"?><!DOCTYPE w:document [{entities}]>'
        f'<w:document xmlns:w="{_W}"><w:body><w:p><w:r><w:t>&a9;</w:t></w:r></w:p></w:body></w:document>'
    )
