"""Roster files (CLI and sent to the bot), the week picture, reports, and missed-punch requests."""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from bot import roster_store
from bot.app import App
from bot.clock import FakeClock
from bot.messages import FileIn, Incoming
from tests.conftest import REPO, local
from tests.helpers import Chat, deskmate, roster


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
        "PATH": "/usr/bin:/bin",
        "KB_SEMANTIC": "false",
        "ORG_FILE": "examples/org.yaml",  # the demo department; settings load no org by default
    }
    return deskmate(*args, env=env, cwd=tmp_path, check=False)


def test_cli_import_names_row_and_column_and_imports_nothing(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "org.yaml").write_text((REPO / "examples/org.yaml").read_text("utf-8"), "utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("person,2026-12-01,2026-12-02\nwangfang,白班,夜班\nnobody,白,晚\n", encoding="utf-8")
    result = cli(tmp_path, "roster", "import", str(bad))
    assert result.returncode == 2
    assert "C2:" in result.stderr and "'夜班' is not a shift" in result.stderr.replace('"', "'")
    assert "A3:" in result.stderr and "nothing was imported" in result.stderr
    good = tmp_path / "good.csv"
    good.write_text("person,date,shift\nwangfang,2026-12-01,白班\nliuyang,2026-12-01,休\n", encoding="utf-8")
    ok = cli(tmp_path, "roster", "import", str(good))
    assert ok.returncode == 0 and "imported 2 entries for 2 people" in ok.stdout


def test_cli_generate_and_report(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "org.yaml").write_text((REPO / "examples/org.yaml").read_text("utf-8"), "utf-8")
    generated = cli(
        tmp_path,
        "roster",
        "generate",
        "--from",
        "2026-12-07",
        "--to",
        "2026-12-20",
        "--team",
        "service",
        "--apply",
    )
    assert generated.returncode == 0, generated.stderr
    header, *rows = generated.stdout.strip().splitlines()
    assert header.startswith("person,2026-12-07") and len(rows) == 6
    for fmt in ("csv", "xlsx", "png"):
        out = tmp_path / f"report.{fmt}"
        made = cli(
            tmp_path,
            "report",
            "attendance",
            "--from",
            "2026-12-01",
            "--to",
            "2026-12-31",
            "--format",
            fmt,
            "--output",
            str(out),
        )
        assert made.returncode == 0, made.stderr
        assert out.stat().st_size > 100
    assert out.read_bytes()[:4] == b"\x89PNG"


async def test_roster_sent_to_the_bot(app: App, clock: FakeClock, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["姓名", "12月1日", "12月2日"])
    sheet.append(["王芳", "白", "晚"])
    sheet.append(["liuyang", "休", "白班"])
    path = tmp_path / "week.xlsx"
    book.save(path)
    chat = Chat(app, clock)
    lead = await app.person("zhanglei")
    await app.handle(
        Incoming(
            "console", "zhanglei", "zhanglei", lead, clock.now(), file=FileIn("week.xlsx", path.read_bytes())
        )
    )
    await app.deliver()
    assert chat.sent[-1]["text"].startswith("排班表已导入：2 人，4 条，12-01 至 12-02")
    async with app.db.read() as conn:
        assert (await roster_store.entry(conn, "wangfang", date(2026, 12, 2))).shift_code == "evening"  # type: ignore[union-attr]
    agent = await app.person("wangfang")
    await app.handle(
        Incoming("console", "wangfang", "wangfang", agent, clock.now(), file=FileIn("x.csv", b"a,b\n"))
    )
    await app.deliver()
    assert chat.sent[-1]["text"] == "只有组长及以上可以上传排班表。"
    await app.handle(
        Incoming(
            "console",
            "zhanglei",
            "zhanglei",
            lead,
            clock.now(),
            file=FileIn("bad.csv", "person,12-01\nwangfang,夜\n".encode()),
        )
    )
    await app.deliver()
    assert chat.sent[-1]["text"].startswith("排班表有 1 处问题，没有导入任何内容：\nB2: “夜”不是班次")


async def test_roster_picture_and_report_file(app: App, clock: FakeClock) -> None:
    await roster(app, {"wangfang": "DDDDD", "liuyang": "EEEEE"}, start=date(2026, 11, 30))
    chat = Chat(app, clock)
    picture = await chat.say("wangfang", "/roster")
    assert picture[0]["file"] == "roster-2026-11-30.png"
    report = await chat.say("liujun", "考勤报表")
    assert report[0]["file"].endswith(".xlsx")


@pytest.fixture
async def rostered(app: App) -> App:
    await roster(app, {"wangfang": "DDDDDDDDD"}, start=date(2026, 11, 27))
    return app


async def test_missed_punch_approved_records_the_punch(rostered: App, clock: FakeClock) -> None:
    chat = Chat(rostered, clock)
    sent = await chat.say("wangfang", "/missed 11-30 in 08:58 手机没电")
    assert any(m["to"] == "zhanglei" and "王芳 补 11-30 上班卡 08:58" in m["text"] for m in sent)
    assert any(m["to"] == "wangfang" and "本月还可申请 2 次" in m["text"] for m in sent)
    await chat.say("zhanglei", "press 批准")
    clock.set(local("2026-11-30 20:00"))
    again = await chat.say("wangfang", "/missed 11-30 in 08:58 x")
    assert again[0]["text"] == "11-30 的这张卡已经有记录，不需要补卡。"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/missed 11-26 in 08:58 忘了", "您 11-26 没有排班"),
        (
            "/missed 11-27 in 08:58 忘了",
            "补卡须在漏打之日起2个工作日内申请，这次的期限是 12-01，已经过了（第三十四条）。",
        ),
        ("/missed 11-30 maybe 08:58 忘了", "用法：/missed"),
    ],
)
async def test_missed_punch_refusals(rostered: App, clock: FakeClock, line: str, expected: str) -> None:
    clock.set(local("2026-12-02 12:00"))
    chat = Chat(rostered, clock)
    sent = await chat.say("wangfang", line)
    assert expected in sent[0]["text"], sent


async def test_missed_punch_monthly_limit(rostered: App, clock: FakeClock) -> None:
    clock.set(local("2026-12-03 20:00"))
    chat = Chat(rostered, clock)
    for day in ("12-01", "12-02", "12-03"):
        await chat.say("wangfang", f"/missed {day} out 18:01 忘了")
    sent = await chat.say("wangfang", "/missed 12-03 in 08:59 忘了")
    assert sent[0]["text"] == "每人每月补卡不超过 3 次，本月已用完（第三十四条）。"


async def test_holidays_move_the_missed_punch_deadline(
    rostered: App, clock: FakeClock, tmp_path: Path
) -> None:
    holidays = tmp_path / "holidays.yaml"
    holidays.write_text("holidays:\n  - 2026-11-30\n", encoding="utf-8")
    rostered.settings.holidays_file = holidays
    rostered.shared.calendar_loaded = False  # loaded at start; this test changes the file afterwards
    clock.set(local("2026-12-02 12:00"))
    chat = Chat(rostered, clock)
    sent = await chat.say("wangfang", "/missed 11-27 in 08:58 忘了")
    assert any(m["to"] == "zhanglei" for m in sent), sent
