"""Roster import from CSV and XLSX: grid and long forms, and every problem named by row and column."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from pathlib import Path

import pytest
from openpyxl import Workbook

from schedules.policy import Policy, policy_from_mapping
from schedules.roster.importing import parse_roster
from schedules.roster.model import RosterEntry, RosterError, RosterProblem

PEOPLE = ["wangfang", "liuyang", "chenjing"]
NAMES = {"wangfang": "王芳", "liuyang": ["刘洋", "Liu Yang"], "chenjing": "陈静"}
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def csv_bytes(text: str, encoding: str = "utf-8") -> bytes:
    return text.replace("\n", "\r\n").encode(encoding)


def problems(
    source: bytes, policy: Policy, filename: str = "roster.csv", **kw: object
) -> list[RosterProblem]:
    with pytest.raises(RosterError) as info:
        parse_roster(source, filename, PEOPLE, policy, names=NAMES, **kw)  # type: ignore[arg-type]
    return list(info.value.problems)


def only(found: Sequence[RosterProblem]) -> RosterProblem:
    assert len(found) == 1, found
    return found[0]


def test_grid_csv_with_every_header_form(policy: Policy) -> None:
    data = csv_bytes(
        "工号,2026-12-01,12/02,12月3日,12-04 周五,12.05(Sat),2026年12月6日\n"
        "wangfang,白班,晚,D,evening,休,off\n"
        "刘洋,9-18,14:00-23:00,day,E,rest,-\n"
    )
    entries = parse_roster(data, "roster.csv", PEOPLE, policy, names=NAMES)
    days = [dt.date(2026, 12, d) for d in range(1, 7)]
    assert entries[:6] == [
        RosterEntry("wangfang", d, c)
        for d, c in zip(days, ["day", "evening", "day", "evening", None, None], strict=True)
    ]
    assert entries[6:] == [
        RosterEntry("liuyang", d, c)
        for d, c in zip(days, ["day", "evening", "day", "evening", None, None], strict=True)
    ]


def test_year_from_reference_and_year_wrap(policy: Policy) -> None:
    data = csv_bytes("person,12-31,1-1\nwangfang,白,晚\n")
    entries = parse_roster(data, "r.csv", PEOPLE, policy, reference=dt.date(2026, 12, 20))
    assert [e.date for e in entries] == [dt.date(2026, 12, 31), dt.date(2027, 1, 1)]


def test_year_less_headers_without_reference(policy: Policy) -> None:
    found = problems(csv_bytes("person,12-01\nwangfang,白\n"), policy)
    p = only(found)
    assert (p.code, p.row, p.column, p.cell) == ("date_needs_year", 1, 2, "B1")


def test_bad_date_header(policy: Policy) -> None:
    p = only(problems(csv_bytes("person,2026-12-01,下周一,2026-02-30\nwangfang,白,白,白\n"), policy)[:1])
    assert (p.code, p.row, p.column, p.params["value"]) == ("bad_date_header", 1, 3, "下周一")
    found = problems(csv_bytes("person,2026-12-01,2026-02-30\nwangfang,白,白\n"), policy)
    assert [(x.code, x.cell) for x in found] == [("bad_date_header", "C1")]


def test_weekday_in_header_is_checked(policy: Policy) -> None:
    p = only(problems(csv_bytes("person,2026-12-01 周三\nwangfang,白\n"), policy))
    assert p.code == "weekday_mismatch" and p.cell == "B1" and "Tue" in p.message


def test_unknown_person(policy: Policy) -> None:
    p = only(problems(csv_bytes("person,2026-12-01\nwangfang,白\nzhangsan,晚\n"), policy))
    assert (p.code, p.row, p.column, p.params["value"]) == ("unknown_person", 3, 1, "zhangsan")
    assert p.message == "A3: 'zhangsan' is not a known person id or name"


def test_ambiguous_name(policy: Policy) -> None:
    with pytest.raises(RosterError) as info:
        parse_roster(
            csv_bytes("person,2026-12-01\n王芳,白\n"),
            "r.csv",
            PEOPLE,
            policy,
            names={"wangfang": "王芳", "chenjing": "王芳"},
        )
    p = only(info.value.problems)
    assert p.code == "ambiguous_person" and p.params["ids"] == "chenjing, wangfang"


def test_unknown_shift_code(policy: Policy) -> None:
    p = only(problems(csv_bytes("person,2026-12-01,2026-12-02\nwangfang,白,夜班\n"), policy))
    assert (p.code, p.cell, p.params["value"]) == ("unknown_shift", "C2", "夜班")
    assert "白班/day" in p.params["known"]


def test_duplicate_person_row(policy: Policy) -> None:
    p = only(problems(csv_bytes("person,2026-12-01\nwangfang,白\nliuyang,晚\n王芳,休\n"), policy))
    assert (p.code, p.row, p.column, p.params["first"]) == ("duplicate_person", 4, 1, "2")


def test_duplicate_date_column(policy: Policy) -> None:
    p = only(problems(csv_bytes("person,2026-12-01,12月1日\nwangfang,白,晚\n"), policy))
    assert (p.code, p.cell, p.params["first"]) == ("duplicate_date", "C1", "B")


def test_empty_file(policy: Policy) -> None:
    assert only(problems(b"", policy)).code == "empty_file"
    assert only(problems(csv_bytes(",,\n,,\n"), policy)).code == "empty_file"
    p = only(problems(csv_bytes("person,2026-12-01\n"), policy))
    assert (p.code, p.row) == ("no_people", 2)


def test_blank_cell_is_a_problem_unless_policy_says_rest(policy: Policy) -> None:
    data = csv_bytes("person,2026-12-01,2026-12-02\nwangfang,白,\n")
    p = only(problems(data, policy))
    assert (p.code, p.cell) == ("blank_cell", "C2")
    lenient = policy_from_mapping({"roster": {"blank_cell_is_rest": True}})
    entries = parse_roster(data, "r.csv", PEOPLE, lenient)
    assert entries[-1] == RosterEntry("wangfang", dt.date(2026, 12, 2), None)


def test_every_problem_reported_and_nothing_returned(policy: Policy) -> None:
    data = csv_bytes("person,2026-12-01,bad\nwangfang,白,白\nnobody,白,白\nliuyang,X,白\n")
    found = problems(data, policy)
    assert [(p.code, p.cell) for p in found] == [
        ("bad_date_header", "C1"),
        ("unknown_person", "A3"),
        ("unknown_shift", "B4"),
    ]


def test_ignored_info_columns(policy: Policy) -> None:
    data = csv_bytes("工号,姓名,2026-12-01,备注\nwangfang,王芳,白,新人\n")
    assert parse_roster(data, "r.csv", PEOPLE, policy) == [
        RosterEntry("wangfang", dt.date(2026, 12, 1), "day")
    ]


def test_gbk_csv_from_chinese_excel(policy: Policy) -> None:
    data = csv_bytes("人员,2026-12-01\n陈静,晚班\n", encoding="gbk")
    assert parse_roster(data, "r.csv", PEOPLE, policy, names=NAMES) == [
        RosterEntry("chenjing", dt.date(2026, 12, 1), "evening")
    ]


def test_bom_and_tab_separated(policy: Policy) -> None:
    data = "\ufeffperson\t2026-12-01\nwangfang\t白\n".encode()
    assert parse_roster(data, "r.tsv", PEOPLE, policy)[0].shift_code == "day"


def test_long_form(policy: Policy) -> None:
    data = csv_bytes("person,date,shift\nwangfang,2026-12-01,白班\nLiu Yang,2026/12/02,休\n")
    assert parse_roster(data, "r.csv", PEOPLE, policy, names=NAMES) == [
        RosterEntry("wangfang", dt.date(2026, 12, 1), "day"),
        RosterEntry("liuyang", dt.date(2026, 12, 2), None),
    ]


def test_long_form_problems(policy: Policy) -> None:
    data = csv_bytes(
        "日期,班次,人员\n2026-12-01,白,wangfang\n2026-12-01,晚,wangfang\n2026-13-01,白,liuyang\n"
        "2026-12-02,夜,chenjing\n2026-12-02,白,ghost\n"
    )
    found = problems(data, policy)
    assert [(p.code, p.row, p.column) for p in found] == [
        ("duplicate_entry", 3, None),
        ("bad_date", 4, 1),
        ("unknown_shift", 5, 2),
        ("unknown_person", 6, 3),
    ]
    assert found[0].params == {"person": "wangfang", "date": "2026-12-01", "first": "2"}


def test_long_form_without_person_column(policy: Policy) -> None:
    p = only(problems(csv_bytes("date,shift\n2026-12-01,白\n"), policy))
    assert (p.code, p.params["name"]) == ("missing_column", "person")


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xlsx_grid_with_date_cells_and_numeric_ids(policy: Policy) -> None:
    data = xlsx_bytes(
        [
            # Excel stores date cells without a zone: openpyxl reads them back as naive datetimes.
            ["工号", dt.datetime(2026, 12, 1), dt.date(2026, 12, 2), "12月3日"],  # noqa: DTZ001
            [1001, "白班", "晚班", "休"],
            ["王芳", "白", None, "D"],
        ]
    )
    with pytest.raises(RosterError) as info:
        parse_roster(data, "排班.xlsx", ["1001", *PEOPLE], policy, names=NAMES)
    assert [(p.code, p.cell) for p in info.value.problems] == [("blank_cell", "C3")]

    data = xlsx_bytes(
        [
            # Excel stores date cells without a zone: openpyxl reads them back as naive datetimes.
            ["工号", dt.datetime(2026, 12, 1), dt.date(2026, 12, 2), "12月3日"],  # noqa: DTZ001
            [1001, "白班", "晚班", "休"],
        ]
    )
    entries = parse_roster(data, "排班.xlsx", ["1001"], policy)
    assert entries == [
        RosterEntry("1001", dt.date(2026, 12, 1), "day"),
        RosterEntry("1001", dt.date(2026, 12, 2), "evening"),
        RosterEntry("1001", dt.date(2026, 12, 3), None),
    ]


def test_xlsx_problems_name_cells(tmp_path: Path, policy: Policy) -> None:
    path = tmp_path / "roster.xlsx"
    path.write_bytes(
        xlsx_bytes(
            [
                ["person", "2026-12-01", "someday"],
                ["wangfang", "白", "白"],
                ["ghost", "白", "晚"],
                ["liuyang", "白", "夜"],
                ["wangfang", "晚", "晚"],
            ]
        )
    )
    with pytest.raises(RosterError) as info:
        parse_roster(path, None, PEOPLE, policy)
    assert [(p.code, p.row, p.column) for p in info.value.problems] == [
        ("bad_date_header", 1, 3),
        ("unknown_person", 3, 1),
        ("duplicate_person", 5, 1),
    ]


def test_xlsx_empty_and_garbage(policy: Policy) -> None:
    assert only(problems(xlsx_bytes([]), policy, "r.xlsx")).code == "empty_file"
    p = only(problems(b"PK\x03\x04 not really a zip", policy, "r.xlsx"))
    assert p.code == "unreadable"
    assert only(problems(b"\xd0\xcf\x11\xe0", policy, "old.xls")).code == "unsupported_format"


def test_progress_callback_for_big_files(policy: Policy) -> None:
    people = [f"p{i:04d}" for i in range(2500)]
    text = "person,2026-12-01,2026-12-02\n" + "".join(f"{p},白,晚\n" for p in people)
    calls: list[tuple[int, int]] = []
    entries = parse_roster(
        text.encode(), "big.csv", people, policy, progress=lambda d, t: calls.append((d, t))
    )
    assert len(entries) == 5000
    assert calls[0] == (1000, 2500) and calls[-1] == (2501, 2501)


def test_example_roster_parses(policy: Policy) -> None:
    ids = [line.split(",")[0] for line in (EXAMPLES / "roster.csv").read_text("utf-8-sig").splitlines()[1:]]
    entries = parse_roster(EXAMPLES / "roster.csv", None, ids, policy)
    assert len(entries) == 17 * 14
    assert {e.date for e in entries} == {dt.date(2026, 11, 30) + dt.timedelta(days=i) for i in range(14)}


def test_error_message_is_readable(policy: Policy) -> None:
    with pytest.raises(RosterError, match=r"1 problem\(s\) in roster: A2: 'x' is not a known person"):
        parse_roster(csv_bytes("person,2026-12-01\nx,白\n"), "r.csv", PEOPLE, policy)
