"""Hostile roster and handbook files: each is refused within 2 s of CPU and 200 MB more memory, with a
line naming the limit, from the library, the command line and the chat."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.app import App
from bot.clock import FakeClock
from bot.messages import FileIn, Incoming
from schedules.filelimits import ROSTER_LIMITS, FileLimitError, read_csv_rows
from tests.conftest import REPO
from tests.helpers import Chat, deskmate
from tests.hostile import files

# (file name, maker, words the refusal must contain)
Cases = list[tuple[str, Callable[[], bytes], str]]
ROSTERS: Cases = [
    ("far-cells.xlsx", files.far_cells_xlsx, "limit of 1000 columns"),
    ("far-row.xlsx", files.far_row_xlsx, "limit of 100000 rows"),
    ("wide-rows.xlsx", files.wide_rows_xlsx, "limit of 200000 XML elements"),
    (
        "many-strings.xlsx",
        files.many_shared_strings_xlsx,
        "sharedStrings.xml of the file has more than the limit",
    ),
    (
        "huge-string.xlsx",
        files.huge_shared_string_xlsx,
        "sharedStrings.xml of the file unpacks to more than the limit of 8 MB",
    ),
    ("bomb.xlsx", files.zip_bomb_xlsx, "sheet1.xml of the file unpacks to more than the limit of 8 MB"),
    ("lying-bomb.xlsx", files.lying_zip_bomb_xlsx, "cannot be read (BadZipFile)"),
    ("busiest.xlsx", files.busiest_xlsx, "is not a date"),
    (
        "big.csv",
        lambda: b"person,2026-12-01\n" + b"x,\xe7\x99\xbd\n" * 2_000_000,
        "larger than the limit of 10 MB",
    ),
    (
        "wide.csv",
        lambda: b"person" + b",12-01" * 1500 + b"\n",
        "row 1 has more than the limit of 1000 columns",
    ),
    ("long.csv", lambda: b"person\n" + b"a\n" * 150_000, "limit of 100000 rows"),
    ("cells.csv", lambda: (b"a," * 900 + b"a\n") * 300, "limit of 200000 cells"),
    ("cell.csv", lambda: b"person," + b"x" * 20_000 + b"\n", "longer than the limit of 10000 characters"),
]
HANDBOOKS: Cases = [
    ("bomb.docx", files.docx_bomb, "document.xml of the file unpacks to more than the limit of 8 MB"),
    ("paragraphs.docx", files.many_paragraphs_docx, "limit of 200000 XML elements"),
    ("entities.docx", files.entity_bomb_docx, "declares a DOCTYPE"),
    ("big.md", lambda: b"# x\n" + b"a" * (11 * 1024 * 1024), "larger than the limit of 10 MB"),
    ("lines.txt", lambda: b"a\n" * 300_000, "limit of 200000 rows"),
]


def _measure(kind: str, folder: Path, cases: Cases) -> dict[str, dict[str, object]]:
    paths = []
    for name, make, _ in cases:
        path = folder / name
        path.write_bytes(make())
        paths.append(str(path))
    run = subprocess.run(
        [sys.executable, "-m", "tests.hostile.bounded_child", kind, *paths],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    results = [json.loads(line) for line in run.stdout.splitlines()]
    return {r["file"]: r for r in results}


@pytest.mark.slow  # every hostile file in a child process under a memory limit
@pytest.mark.parametrize(("kind", "cases"), [("roster", ROSTERS), ("handbook", HANDBOOKS)])
def test_hostile_files_are_refused_within_bounds(kind: str, cases: Cases, tmp_path: Path) -> None:
    measured = _measure(kind, tmp_path, cases)
    for name, _, words in cases:
        result = measured[name]
        assert result["outcome"] == "refused", result
        assert words in str(result["message"]), result
        # CPU time, not wall time: the bound is about the work a file can cause, not about machine load.
        assert float(result["cpu"]) < 2.0, result  # type: ignore[arg-type]
        assert float(result["rss_mb"]) < 200, result  # type: ignore[arg-type]


def test_csv_limits_are_checked_as_rows_are_read() -> None:
    with pytest.raises(FileLimitError) as info:
        read_csv_rows(b"a,b\n" * 10 + b"a" + b",b" * 1200 + b"\n" + b"a,b\n" * 10, ROSTER_LIMITS)
    assert info.value.kind == "columns" and info.value.params["row"] == "11"
    rows = read_csv_rows(b"person,12-01,,,\nwangfang,D,,,\n", ROSTER_LIMITS)
    assert rows == [["person", "12-01"], ["wangfang", "D"]]  # trailing blanks cost nothing


def test_cli_refuses_a_far_cell_roster_naming_the_limit(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "org.yaml").write_text((REPO / "examples/org.yaml").read_text("utf-8"), "utf-8")
    far = tmp_path / "far.xlsx"
    far.write_bytes(files.far_cells_xlsx())
    big = tmp_path / "big.csv"
    big.write_bytes(b"person,2026-12-01\n" + b"wangfang,D\n" * 1_000_000)
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}", "PATH": "/usr/bin:/bin", "KB_SEMANTIC": "false"}
    for path, words in ((far, "row 1 has more than the limit of 1000 columns"), (big, "limit of 10 MB")):
        result = deskmate("roster", "import", str(path), env=env, cwd=tmp_path, check=False)
        assert result.returncode == 2, result.stderr
        assert words in result.stderr and "Traceback" not in result.stderr
        assert "nothing was imported" in result.stderr


async def test_chat_refuses_a_far_cell_roster_naming_the_limit(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    lead = await app.person("zhanglei")
    await app.handle(
        Incoming(
            "console",
            "zhanglei",
            "zhanglei",
            lead,
            clock.now(),
            file=FileIn("far.xlsx", files.far_cells_xlsx()),
        )
    )
    await app.deliver()
    assert chat.sent[-1]["text"] == "排班表有 1 处问题，没有导入任何内容：\n第 1 行超过列数上限 1000 列"
    await app.handle(
        Incoming(
            "console",
            "zhanglei",
            "zhanglei",
            lead,
            clock.now(),
            file=FileIn("bomb.xlsx", files.zip_bomb_xlsx()),
        )
    )
    await app.deliver()
    assert chat.sent[-1]["text"].endswith("文件中的 xl/worksheets/sheet1.xml 解压后超过上限 8 MB")
